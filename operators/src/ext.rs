//! Extension methods that put this crate's keyed operators on the runtime's
//! stream types: `keyed.window(...)`, `keyed.dedup(...)`, `stream.decode_json(...)`.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tidemill_runtime::{KeyedStream, NodeContext, Stream};

use crate::decode::{JsonDecoder, RawRecord};
use crate::dedup::{DedupByKey, DedupThroughTable, Deduped};
use crate::window::{Aggregate, WindowError, WindowKey, WindowOperator, WindowResult, WindowSpec};

/// Windows and deduplication on a keyed stream.
pub trait KeyedStreamExt<T, K> {
    /// Event-time windows per key, computing `aggregate`; each window is emitted
    /// once, when the watermark passes its end plus `allowed_lateness`. Late records
    /// go to the dead letters (`late_event`). The spec is checked here, once.
    fn window<A>(
        &self,
        name: &str,
        spec: impl Into<WindowSpec>,
        aggregate: A,
        allowed_lateness: Duration,
    ) -> Result<Stream<WindowResult<K, A::Out>>, WindowError>
    where
        A: Aggregate<T> + Clone;

    /// Forwards each key's first record only, remembering keys for `retention` of
    /// event time behind the watermark; older records go to the dead letters as
    /// `late_event` ([`DedupByKey`]).
    fn dedup(&self, name: &str, retention: Duration) -> Stream<T>;

    /// Like [`dedup`](KeyedStreamExt::dedup), but records behind the horizon go on
    /// as [`Deduped::Unverified`] for a sink that checks its table for the key
    /// ([`DeltaDistinctSink`](crate::sink::DeltaDistinctSink)), so that every
    /// distinct record reaches the table however late ([`DedupThroughTable`]).
    fn dedup_through_table(&self, name: &str, retention: Duration) -> Stream<Deduped<T>>;
}

impl<T, K> KeyedStreamExt<T, K> for KeyedStream<T, K>
where
    T: Clone + Send + Serialize + 'static,
    K: WindowKey,
{
    fn window<A>(
        &self,
        name: &str,
        spec: impl Into<WindowSpec>,
        aggregate: A,
        allowed_lateness: Duration,
    ) -> Result<Stream<WindowResult<K, A::Out>>, WindowError>
    where
        A: Aggregate<T> + Clone,
    {
        let spec = spec.into();
        // Validate once so that the per-shard factory below cannot fail.
        WindowOperator::new(spec, self.key_fn(), aggregate.clone(), allowed_lateness)?;
        Ok(self.operator(name, move |_: &NodeContext, key| {
            match WindowOperator::new(spec, key, aggregate.clone(), allowed_lateness) {
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
}

/// JSON decoding on a stream of raw records: bytes (`Stream<Vec<u8>>`) or Kafka
/// records (`Stream<KafkaRecord>`, whose value is decoded).
pub trait BytesStreamExt {
    /// Decodes each record into `T`; records that do not fit go to the dead letters
    /// with a reason code (see [`crate::decode`]).
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
