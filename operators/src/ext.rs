//! Extension methods that put this crate's keyed operators on the runtime's
//! stream types: `keyed.window(...)`, `keyed.dedup(...)`, `stream.decode_json(...)`.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tidemill_runtime::{KeyedStream, NodeContext, Stream};

use crate::decode::{JsonDecoder, RawRecord};
use crate::dedup::{DedupByKey, DedupThroughTable, Deduped};
use crate::process::{KeyedProcessFunction, KeyedProcessOperator};
use crate::window::{Aggregate, WindowError, WindowKey, WindowOperator, WindowResult, WindowSettings};

/// Windows and deduplication on a keyed stream.
pub trait KeyedStreamExt<T, K> {
    /// Event-time windows per key, computing `aggregate`; each window is emitted
    /// once, when the watermark passes its end plus the allowed lateness of
    /// `settings` (a window kind, or [`WindowSettings`] naming a lateness). Late
    /// records go to the dead letters (`late_event`). The settings are checked
    /// here, once.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tidemill_operators::window::{Count, SlidingWindow};
    /// use tidemill_operators::KeyedStreamExt;
    /// use tidemill_runtime::testing::VecSource;
    /// use tidemill_runtime::{EventTime, Job, NodeContext};
    ///
    /// let job = Job::builder("clicks");
    /// let clicks = std::sync::Arc::new(vec![("u-1".to_string(), 1_000_i64)]);
    /// let clicks = job
    ///     .source("clicks", 1, move |ctx: &NodeContext| Ok(VecSource::new(clicks.clone(), ctx)))
    ///     .assign_timestamps("click_time", |c: &(String, i64)| EventTime::from_millis(c.1), Duration::from_secs(5));
    /// // Clicks per user over the last minute, every 10 s; records up to 30 s late still count.
    /// let per_user = clicks.key_by(|c: &(String, i64)| c.0.clone(), 2).window(
    ///     "per_minute",
    ///     SlidingWindow::of_size(Duration::from_secs(60))
    ///         .every(Duration::from_secs(10))?
    ///         .with_allowed_lateness(Duration::from_secs(30)),
    ///     Count,
    /// )?;
    /// # let _ = per_user;
    /// # Ok::<(), tidemill_operators::window::WindowError>(())
    /// ```
    fn window<A>(
        &self,
        name: &str,
        settings: impl Into<WindowSettings>,
        aggregate: A,
    ) -> Result<Stream<WindowResult<K, A::Out>>, WindowError>
    where
        A: Aggregate<T> + Clone;

    /// Forwards each key's first record only, remembering keys for `retention` of
    /// event time behind the watermark; older records go to the dead letters as
    /// `late_event` ([`DedupByKey`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tidemill_operators::KeyedStreamExt;
    /// use tidemill_runtime::testing::run_collect;
    /// use tidemill_runtime::EventTime;
    ///
    /// // (order id, event time in ms): order 1 arrives twice.
    /// let run = run_collect(vec![(1, 1_000_i64), (2, 2_000), (1, 1_000)], |orders| {
    ///     orders
    ///         .assign_timestamps("time", |o: &(u32, i64)| EventTime::from_millis(o.1), Duration::from_secs(60))
    ///         .key_by(|o: &(u32, i64)| o.0, 2)
    ///         .dedup("dedup", Duration::from_secs(3600))
    /// })?;
    /// let mut ids: Vec<u32> = run.values.iter().map(|o| o.0).collect();
    /// ids.sort();
    /// assert_eq!(ids, vec![1, 2]);
    /// # Ok::<(), tidemill_runtime::JobError>(())
    /// ```
    fn dedup(&self, name: &str, retention: Duration) -> Stream<T>;

    /// Like [`dedup`](KeyedStreamExt::dedup), but records behind the horizon go on
    /// as [`Deduped::Unverified`] for a sink that checks its table for the key
    /// (`tidemill_delta::DeltaDistinctSink`), so that every
    /// distinct record reaches the table however late ([`DedupThroughTable`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tidemill_operators::dedup::Deduped;
    /// use tidemill_operators::KeyedStreamExt;
    /// use tidemill_runtime::testing::run_collect;
    /// use tidemill_runtime::EventTime;
    ///
    /// // Within the horizon, duplicates are dropped and the rest is `Unique`; a record
    /// // that arrives once the watermark is more than 10 minutes past it would come
    /// // out `Unverified`, for the sink to check against its table.
    /// let run = run_collect(vec![(1, 1_000_i64), (1, 1_000), (3, 2_000)], |orders| {
    ///     orders
    ///         .assign_timestamps("time", |o: &(u32, i64)| EventTime::from_millis(o.1), Duration::ZERO)
    ///         .key_by(|o: &(u32, i64)| o.0, 1)
    ///         .dedup_through_table("dedup", Duration::from_secs(600))
    /// })?;
    /// assert_eq!(run.values, vec![Deduped::Unique((1, 1_000)), Deduped::Unique((3, 2_000))]);
    /// # Ok::<(), tidemill_runtime::JobError>(())
    /// ```
    fn dedup_through_table(&self, name: &str, retention: Duration) -> Stream<Deduped<T>>;

    /// Runs a [`KeyedProcessFunction`] per key, with its state and timers
    /// checkpointed; `factory` builds the function for each shard (again after a
    /// restart). See [`crate::process`] for an example.
    fn process<F>(&self, name: &str, factory: impl Fn() -> F + Send + Sync + 'static) -> Stream<F::Out>
    where
        F: KeyedProcessFunction<Key = K, In = T>,
        F::Out: Clone;
}

impl<T, K> KeyedStreamExt<T, K> for KeyedStream<T, K>
where
    T: Clone + Send + Serialize + 'static,
    K: WindowKey,
{
    fn window<A>(
        &self,
        name: &str,
        settings: impl Into<WindowSettings>,
        aggregate: A,
    ) -> Result<Stream<WindowResult<K, A::Out>>, WindowError>
    where
        A: Aggregate<T> + Clone,
    {
        let settings = settings.into();
        // Validate once so that the per-shard factory below cannot fail.
        WindowOperator::new(settings, self.key_fn(), aggregate.clone())?;
        Ok(self.operator(name, move |_: &NodeContext, key| {
            match WindowOperator::new(settings, key, aggregate.clone()) {
                Ok(op) => op,
                Err(e) => unreachable!("window spec validated when the graph was built: {e}"),
            }
        }))
    }

    fn dedup(&self, name: &str, retention: Duration) -> Stream<T> {
        self.operator(name, move |_: &NodeContext, key| DedupByKey::new(key, retention))
    }

    fn dedup_through_table(&self, name: &str, retention: Duration) -> Stream<Deduped<T>> {
        self.operator(name, move |_: &NodeContext, key| DedupThroughTable::new(key, retention))
    }

    fn process<F>(&self, name: &str, factory: impl Fn() -> F + Send + Sync + 'static) -> Stream<F::Out>
    where
        F: KeyedProcessFunction<Key = K, In = T>,
        F::Out: Clone,
    {
        self.operator(name, move |_: &NodeContext, key| KeyedProcessOperator::new(factory(), key))
    }
}

/// JSON decoding on a stream of raw records: bytes (`Stream<Vec<u8>>`) or Kafka
/// records (`tidemill_kafka::KafkaRecord`, whose value is decoded).
pub trait BytesStreamExt {
    /// Decodes each record into `T`; records that do not fit go to the dead letters
    /// with a reason code (see [`crate::decode`]).
    ///
    /// ```
    /// use tidemill_operators::BytesStreamExt;
    /// use tidemill_runtime::testing::run_collect;
    /// use tidemill_runtime::ReasonCode;
    ///
    /// #[derive(Clone, Debug, PartialEq, serde::Deserialize)]
    /// struct Click { user: String }
    ///
    /// let lines = vec![br#"{"user":"u-1"}"#.to_vec(), b"{}".to_vec(), b"[1]".to_vec()];
    /// let run = run_collect(lines, |raw| raw.decode_json::<Click>("decode"))?;
    /// assert_eq!(run.values, vec![Click { user: "u-1".into() }]);
    /// let reasons: Vec<_> = run.dead_letters.iter().map(|d| d.reason).collect();
    /// assert_eq!(reasons, vec![ReasonCode::MissingField, ReasonCode::NotObject]);
    /// # Ok::<(), tidemill_runtime::JobError>(())
    /// ```
    fn decode_json<T>(&self, name: &str) -> Stream<T>
    where
        T: DeserializeOwned + Clone + Send + 'static;
}

impl<R: RawRecord + Clone + Serialize> BytesStreamExt for Stream<R> {
    fn decode_json<T>(&self, name: &str) -> Stream<T>
    where
        T: DeserializeOwned + Clone + Send + 'static,
    {
        self.operator(name, |_: &NodeContext| JsonDecoder::<T, R>::new())
    }
}
