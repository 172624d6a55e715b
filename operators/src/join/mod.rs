//! Joins of two keyed streams: within event-time windows ([`WindowJoin`]: tumbling,
//! sliding, session), within an interval of each other's times
//! ([`IntervalJoin`]), and of a stream with a table kept as keyed state from a
//! changelog ([`TemporalJoin`]).
//!
//! Each is a [`KeyedProcessFunction`] over the two inputs connected
//! ([`ConnectExt::connect`](crate::process::ConnectExt::connect)) and keyed by the
//! join key, so it inherits what keyed process functions have: state and timers in
//! every checkpoint, a watermark that is the minimum over both inputs, barriers
//! aligned over both, failures and late records to the dead letters, and results
//! that continue the traces of the sampled records on both sides. Build one with
//! [`JoinExt::join_on`]:
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use tidemill_operators::join::{IntervalBounds, JoinExt};
//! use tidemill_runtime::testing::{CollectSink, Collected, DiscardSink, VecSource};
//! use tidemill_runtime::{EventTime, Job, NodeContext};
//!
//! // Clicks joined with the ad impression they followed by at most 10 s.
//! let job = Job::builder("clicks");
//! let views = vec![(7u32, 1_000i64), (8, 2_000)];
//! let clicks = vec![(7u32, 5_000i64), (8, 30_000)];
//! let source = |rows: Vec<(u32, i64)>| move |ctx: &NodeContext| Ok(VecSource::new(Arc::new(rows.clone()), ctx));
//! let time = |r: &(u32, i64)| EventTime::from_millis(r.1);
//! let views = job.source("views", 1, source(views)).assign_timestamps("view_time", time, Duration::ZERO);
//! let clicks = job.source("clicks", 1, source(clicks)).assign_timestamps("click_time", time, Duration::ZERO);
//! let bounds = IntervalBounds::new(Duration::ZERO, Duration::from_secs(10))?;
//! let joined = views
//!     .join_on("view_click", &clicks, |v: &(u32, i64)| v.0, |c: &(u32, i64)| c.0, 2)
//!     .interval(bounds, |v: &(u32, i64), c: &(u32, i64)| (v.0, c.1 - v.1));
//! let out: Arc<std::sync::Mutex<Collected<(u32, i64)>>> = Arc::default();
//! let into = out.clone();
//! joined.sink("out", move |_: &NodeContext| Ok(CollectSink::new(into.clone())));
//! job.dead_letters().sink("dlq", |_: &NodeContext| Ok(DiscardSink::new(Arc::default())));
//! tokio::runtime::Runtime::new()?.block_on(job.build()?.run())?;
//! let pairs: Vec<(u32, i64)> = out.lock().unwrap().committed.iter().map(|r| r.value).collect();
//! assert_eq!(pairs, vec![(7, 4_000)], "ad 8's click came 28 s later");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod interval;
mod temporal;
mod window;

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tidemill_runtime::{KeyedStream, Stream};

pub use interval::{IntervalBounds, IntervalJoin, IntervalState};
pub use temporal::{TableUpdate, TemporalJoin, TemporalState};
pub use window::{JoinWindow, WindowJoin, WindowJoinState};

use crate::process::{ConnectExt, Either};
use crate::window::{WindowKey, WindowSpec};
use crate::KeyedStreamExt;

/// The function an interval join makes a result of a pair with.
pub type PairFn<L, R, O> = Arc<dyn Fn(&L, &R) -> O + Send + Sync>;
/// The function a window join makes a result of a pair and their window with.
pub type WindowPairFn<L, R, O> = Arc<dyn Fn(&L, &R, JoinWindow) -> O + Send + Sync>;
/// The function a temporal join makes a result of a record and the table's value
/// with (`None`: drop the record).
pub type LookupFn<T, V, O> = Arc<dyn Fn(&T, Option<&V>) -> Option<O> + Send + Sync>;

/// What a joined record must be: kept in checkpointed state, so serde both ways.
pub trait JoinSide: Clone + Send + Serialize + DeserializeOwned + 'static {}

impl<T: Clone + Send + Serialize + DeserializeOwned + 'static> JoinSide for T {}

/// Two streams connected and keyed by a join key, ready to join: see
/// [`JoinExt::join_on`].
pub struct JoinInputs<L, R, K> {
    name: String,
    keyed: KeyedStream<Either<L, R>, K>,
}

impl<L: JoinSide, R: JoinSide, K: WindowKey> JoinInputs<L, R, K> {
    /// Pairs whose right record's time is within `bounds` of the left's, each
    /// emitted once when its second record arrives. See [`IntervalJoin`].
    pub fn interval<O>(self, bounds: IntervalBounds, join: impl Fn(&L, &R) -> O + Send + Sync + 'static) -> Stream<O>
    where
        O: Clone + Send + 'static,
    {
        let join: PairFn<L, R, O> = Arc::new(join);
        self.keyed.process(&format!("{}.join", self.name), move || IntervalJoin::new(bounds, join.clone()))
    }

    /// Pairs in the same window of `spec`, emitted when the window ends. See
    /// [`WindowJoin`].
    pub fn window<O>(
        self,
        spec: impl Into<WindowSpec>,
        join: impl Fn(&L, &R, JoinWindow) -> O + Send + Sync + 'static,
    ) -> Stream<O>
    where
        O: Clone + Send + 'static,
    {
        let spec = spec.into();
        let join: WindowPairFn<L, R, O> = Arc::new(join);
        self.keyed.process(&format!("{}.join", self.name), move || WindowJoin::new(spec, join.clone()))
    }
}

impl<V: JoinSide, T: JoinSide, K: WindowKey + JoinSide> JoinInputs<TableUpdate<K, V>, T, K> {
    /// Each record of the right stream with the table's value for its key as of
    /// its time, once the watermark passes it. See [`TemporalJoin`].
    pub fn temporal<O>(self, join: impl Fn(&T, Option<&V>) -> Option<O> + Send + Sync + 'static) -> Stream<O>
    where
        O: Clone + Send + 'static,
    {
        let join: LookupFn<T, V, O> = Arc::new(join);
        self.keyed.process(&format!("{}.join", self.name), move || TemporalJoin::new(join.clone()))
    }
}

/// Joins of a stream with another.
pub trait JoinExt<L> {
    /// Connects this stream (left) with `other` (right) and keys both by the join
    /// key, through nodes named `name`, `name.left`, `name.right` (the connection)
    /// and `name.join` (the join, with `shards` shards). Choose the join on the
    /// result: [`interval`](JoinInputs::interval), [`window`](JoinInputs::window),
    /// or, when this stream is a table's changelog of [`TableUpdate`]s,
    /// [`temporal`](JoinInputs::temporal).
    fn join_on<R, K>(
        &self,
        name: &str,
        other: &Stream<R>,
        left_key: impl Fn(&L) -> K + Send + Sync + 'static,
        right_key: impl Fn(&R) -> K + Send + Sync + 'static,
        shards: usize,
    ) -> JoinInputs<L, R, K>
    where
        R: JoinSide,
        K: WindowKey + tidemill_runtime::RoutingKey;
}

impl<L: JoinSide> JoinExt<L> for Stream<L> {
    fn join_on<R, K>(
        &self,
        name: &str,
        other: &Stream<R>,
        left_key: impl Fn(&L) -> K + Send + Sync + 'static,
        right_key: impl Fn(&R) -> K + Send + Sync + 'static,
        shards: usize,
    ) -> JoinInputs<L, R, K>
    where
        R: JoinSide,
        K: WindowKey + tidemill_runtime::RoutingKey,
    {
        let keyed = self.connect(name, other).key_by(
            move |e: &Either<L, R>| match e {
                Either::Left(l) => left_key(l),
                Either::Right(r) => right_key(r),
            },
            shards,
        );
        JoinInputs { name: name.to_string(), keyed }
    }
}
