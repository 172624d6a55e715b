//! Typed stream handles: the methods a job is written with.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::actors::spawn::{operator_spawner, sink_spawner, Spawner};
use crate::collector::{KeyRoute, Route};
use crate::context::NodeContext;
use crate::functions::{FnOperator, TimestampAssigner};
use crate::graph::builder::GraphInner;
use crate::graph::keyed::KeyedStream;
use crate::graph::{EdgeSpec, NodeSpec};
use crate::operator::Operator;
use crate::plan::{NodeId, NodeKind, Port};
use crate::record::SourceId;
use crate::routing::{routing_hash, RoutingKey};
use crate::sink::{Sink, SinkError};
use crate::time::EventTime;

/// A typed stream of records leaving one node of the graph. Cloning a stream and
/// attaching two consumers fans it out: each consumer gets every record.
pub struct Stream<T> {
    pub(super) graph: Rc<RefCell<GraphInner>>,
    pub(super) node: NodeId,
    pub(super) port: Port,
    pub(super) parallelism: usize,
    pub(super) route: Route<T>,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for Stream<T> {
    fn clone(&self) -> Self {
        Stream {
            graph: self.graph.clone(),
            node: self.node,
            port: self.port,
            parallelism: self.parallelism,
            route: self.route.clone(),
            _type: PhantomData,
        }
    }
}

impl<T: Clone + Send + 'static> Stream<T> {
    pub(crate) fn new(graph: Rc<RefCell<GraphInner>>, node: NodeId, port: Port, parallelism: usize) -> Self {
        Stream { graph, node, port, parallelism, route: Route::Forward, _type: PhantomData }
    }

    /// How many shards produce this stream.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tidemill_runtime::testing::VecSource;
    /// use tidemill_runtime::{Job, NodeContext};
    ///
    /// let job = Job::builder("lines");
    /// let lines = job.source("files", 3, |ctx: &NodeContext| Ok(VecSource::new(Arc::new(vec!["a"]), ctx)));
    /// assert_eq!(lines.parallelism(), 3); // one shard per source partition
    /// assert_eq!(lines.key_by(|l: &&str| l.to_string(), 8).shards(), 8);
    /// ```
    pub fn parallelism(&self) -> usize {
        self.parallelism
    }

    pub(super) fn edge(&self, downstream_parallelism: usize) -> EdgeSpec {
        let one_to_one = matches!(self.route, Route::Forward) && downstream_parallelism == self.parallelism;
        let route = match &self.route {
            Route::Forward if !one_to_one => Route::RoundRobin,
            r => r.clone(),
        };
        EdgeSpec { from: self.node, port: self.port, route: Arc::new(route), one_to_one }
    }

    fn add_node(
        &self,
        name: &str,
        kind: NodeKind,
        parallelism: usize,
        spawner: Spawner,
        emits_dead_letters: bool,
    ) -> NodeId {
        let edge = self.edge(parallelism);
        self.graph.borrow_mut().add(NodeSpec {
            name: Arc::from(name),
            kind,
            parallelism,
            inputs: vec![edge],
            spawner,
            source_id: SourceId(0),
            consumed: false,
            dead_letter_path: false,
            emits_dead_letters,
        })
    }

    /// Writes the stream to a sink with one shard.
    ///
    /// `factory` builds the sink (again after every restart); an `Err` from it
    /// stops the job at start-up with the error.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use tidemill_runtime::testing::{CollectSink, Collected, VecSource};
    /// use tidemill_runtime::{Job, NodeContext};
    ///
    /// let committed: Arc<Mutex<Collected<u32>>> = Arc::default();
    /// let job = Job::builder("copy");
    /// let numbers = job.source("numbers", 1, |ctx: &NodeContext| Ok(VecSource::new(Arc::new(vec![7, 8]), ctx)));
    /// let into = committed.clone();
    /// numbers.sink("copy", move |_: &NodeContext| Ok(CollectSink::new(into.clone())));
    /// // Nothing in this job can reject a record, so it has no dead-letter sink.
    /// let summary = tokio::runtime::Runtime::new()?.block_on(job.build()?.run())?;
    /// assert_eq!(summary.committed_by_sink["copy"], 2);
    /// assert_eq!(committed.lock().unwrap().committed.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sink<S, F>(&self, name: &str, factory: F)
    where
        S: Sink<In = T>,
        F: Fn(&NodeContext) -> Result<S, SinkError> + Send + Sync + 'static,
    {
        self.sink_sharded(name, 1, factory)
    }

    /// Writes the stream to a sink with `shards` shards.
    /// Each shard gets the records of the shards feeding it (round robin, or by
    /// key after [`Stream::key_by`]) and commits its own epochs.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tidemill_runtime::testing::{DiscardSink, VecSource};
    /// use tidemill_runtime::{Job, NodeContext};
    ///
    /// let job = Job::builder("spread");
    /// let written = Arc::new(std::sync::atomic::AtomicU64::new(0));
    /// let numbers = job.source("numbers", 1, |ctx: &NodeContext| Ok(VecSource::new(Arc::new((0..100).collect()), ctx)));
    /// let count = written.clone();
    /// numbers.sink_sharded("out", 4, move |_: &NodeContext| Ok(DiscardSink::<u32>::new(count.clone())));
    /// tokio::runtime::Runtime::new()?.block_on(job.build()?.run())?;
    /// assert_eq!(written.load(std::sync::atomic::Ordering::Relaxed), 100);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sink_sharded<S, F>(&self, name: &str, shards: usize, factory: F)
    where
        S: Sink<In = T>,
        F: Fn(&NodeContext) -> Result<S, SinkError> + Send + Sync + 'static,
    {
        let dead_letters = self.graph.borrow().nodes[self.node.0].dead_letter_path;
        self.add_node(name, NodeKind::Sink, shards, sink_spawner(factory, dead_letters), S::EMITS_DEAD_LETTERS);
    }
}

impl<T: Clone + Send + Serialize + 'static> Stream<T> {
    /// Adds an operator; `factory` builds one instance per shard (again after restarts).
    /// The operator gets as many shards as this stream has, or the key's shard count
    /// after [`Stream::key_by`].
    ///
    /// ```
    /// use tidemill_runtime::testing::run_collect;
    /// use tidemill_runtime::{Batch, NodeContext, Operator, OperatorError, Output, Record};
    ///
    /// /// Numbers each record within its shard.
    /// struct Numbered(u64);
    /// impl Operator for Numbered {
    ///     type In = char;
    ///     type Out = (u64, char);
    ///     fn process(&mut self, batch: Batch<char>, out: &mut Output<(u64, char)>) -> Result<(), OperatorError> {
    ///         for record in batch {
    ///             self.0 += 1;
    ///             out.emit(Record::new((self.0, record.value), record.time, record.origin));
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// let run = run_collect(vec!['a', 'b'], |s| s.operator("number", |_: &NodeContext| Numbered(0)))?;
    /// assert_eq!(run.values, vec![(1, 'a'), (2, 'b')]);
    /// # Ok::<(), tidemill_runtime::JobError>(())
    /// ```
    pub fn operator<O, F>(&self, name: &str, factory: F) -> Stream<O::Out>
    where
        O: Operator<In = T>,
        O::Out: Clone,
        F: Fn(&NodeContext) -> O + Send + Sync + 'static,
    {
        let id = self.add_node(name, NodeKind::Operator, self.parallelism, operator_spawner(factory), true);
        let parallelism = self.graph.borrow().nodes[id.0].parallelism;
        Stream::new(self.graph.clone(), id, Port::Main, parallelism)
    }

    /// Partitions the stream by a key into `shards` shards: each record goes to
    /// shard [`routing_shard`](crate::routing::routing_shard)`(key, shards)`, computed
    /// from the key's documented byte encoding ([`RoutingKey`], routing scheme
    /// [`ROUTING_SCHEME_VERSION`](crate::routing::ROUTING_SCHEME_VERSION)), so a key
    /// lands in the same shard in every process and every build. A record whose key
    /// function panics goes to the dead letters (`user_function_panic`, stage: the
    /// keyed operator) instead of any shard.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tidemill_runtime::routing::routing_shard;
    /// use tidemill_runtime::testing::VecSource;
    /// use tidemill_runtime::{Job, NodeContext};
    ///
    /// let orders = Arc::new(vec![("u-1".to_string(), 30i64), ("u-2".to_string(), 5)]);
    /// let job = Job::builder("by_user");
    /// let by_user = job
    ///     .source("orders", 1, move |ctx: &NodeContext| Ok(VecSource::new(orders.clone(), ctx)))
    ///     .key_by(|order: &(String, i64)| order.0.clone(), 4);
    /// assert_eq!(by_user.shards(), 4);
    /// // The orders of "u-1" all go to this shard:
    /// assert!(routing_shard("u-1", 4) < 4);
    /// ```
    pub fn key_by<K, F>(&self, key: F, shards: usize) -> KeyedStream<T, K>
    where
        K: RoutingKey + 'static,
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        let key: Arc<dyn Fn(&T) -> K + Send + Sync> = Arc::new(key);
        let hash_key = key.clone();
        let mut stream = self.clone();
        stream.route = Route::Hash(KeyRoute {
            hash: Arc::new(move |t: &T| routing_hash(&hash_key(t))),
            payload: Arc::new(|t: &T| serde_json::to_vec(t).unwrap_or_default()),
        });
        stream.parallelism = shards;
        // `parallelism` now names the downstream shard count; the edge keeps the
        // upstream's through `node`.
        KeyedStream { stream, key }
    }

    /// Applies `f` to every record. A panic in `f` sends the record to the dead
    /// letters (`user_function_panic`) and the job goes on.
    ///
    /// ```
    /// use tidemill_runtime::testing::run_collect;
    /// use tidemill_runtime::ReasonCode;
    ///
    /// let run = run_collect(vec![4, 0, 2], |s| s.map("invert", |n: &i32| 100 / n))?;
    /// assert_eq!(run.values, vec![25, 50]);
    /// assert_eq!(run.dead_letters[0].reason, ReasonCode::UserFunctionPanic); // 100 / 0
    /// # Ok::<(), tidemill_runtime::JobError>(())
    /// ```
    pub fn map<U, F>(&self, name: &str, f: F) -> Stream<U>
    where
        U: Clone + Send + 'static,
        F: Fn(&T) -> U + Clone + Send + Sync + 'static,
    {
        self.flat_map_fallible(name, move |t: &T, out: &mut Vec<U>| {
            out.push(f(t));
            Ok(())
        })
    }

    /// Applies a fallible `f`; an `Err` sends the record to the dead letters
    /// (`user_function_error`, with the error text).
    ///
    /// ```
    /// use tidemill_runtime::testing::run_collect;
    /// use tidemill_runtime::ReasonCode;
    ///
    /// let run = run_collect(vec!["7", "x"], |s| s.try_map("parse", |t: &&str| t.parse::<u32>()))?;
    /// assert_eq!(run.values, vec![7]);
    /// assert_eq!(run.dead_letters[0].reason, ReasonCode::UserFunctionError);
    /// assert_eq!(run.dead_letters[0].detail, "invalid digit found in string");
    /// # Ok::<(), tidemill_runtime::JobError>(())
    /// ```
    pub fn try_map<U, E, F>(&self, name: &str, f: F) -> Stream<U>
    where
        U: Clone + Send + 'static,
        E: std::fmt::Display,
        F: Fn(&T) -> Result<U, E> + Clone + Send + Sync + 'static,
    {
        self.flat_map_fallible(name, move |t: &T, out: &mut Vec<U>| {
            out.push(f(t).map_err(|e| e.to_string())?);
            Ok(())
        })
    }

    /// Keeps the records for which `f` is true.
    ///
    /// ```
    /// use tidemill_runtime::testing::run_collect;
    ///
    /// let run = run_collect(vec![1, 2, 3, 4], |s| s.filter("even", |n: &u8| n % 2 == 0))?;
    /// assert_eq!(run.values, vec![2, 4]);
    /// # Ok::<(), tidemill_runtime::JobError>(())
    /// ```
    pub fn filter<F>(&self, name: &str, f: F) -> Stream<T>
    where
        F: Fn(&T) -> bool + Clone + Send + Sync + 'static,
    {
        self.flat_map_fallible(name, move |t: &T, out: &mut Vec<T>| {
            if f(t) {
                out.push(t.clone());
            }
            Ok(())
        })
    }

    /// Maps each record to zero or more records.
    ///
    /// ```
    /// use tidemill_runtime::testing::run_collect;
    ///
    /// let run = run_collect(vec!["a b", "", "c"], |s| {
    ///     s.flat_map("words", |line: &&str| line.split_whitespace().map(str::to_string).collect::<Vec<_>>())
    /// })?;
    /// assert_eq!(run.values, vec!["a", "b", "c"]);
    /// # Ok::<(), tidemill_runtime::JobError>(())
    /// ```
    pub fn flat_map<U, I, F>(&self, name: &str, f: F) -> Stream<U>
    where
        U: Clone + Send + 'static,
        I: IntoIterator<Item = U>,
        F: Fn(&T) -> I + Clone + Send + Sync + 'static,
    {
        self.flat_map_fallible(name, move |t: &T, out: &mut Vec<U>| {
            out.extend(f(t));
            Ok(())
        })
    }

    fn flat_map_fallible<U, F>(&self, name: &str, f: F) -> Stream<U>
    where
        U: Clone + Send + 'static,
        F: Fn(&T, &mut Vec<U>) -> Result<(), String> + Clone + Send + Sync + 'static,
    {
        self.operator(name, move |_: &NodeContext| FnOperator::new(f.clone()))
    }

    /// Sets each record's event time from `time` and emits watermarks that trail the
    /// largest time seen by `max_out_of_orderness` (bounded out-of-orderness).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tidemill_runtime::testing::run_collect;
    /// use tidemill_runtime::EventTime;
    ///
    /// // (id, milliseconds since the epoch); watermarks trail the newest time by 5 s.
    /// let run = run_collect(vec![(1, 1_000_i64), (2, 3_000)], |s| {
    ///     s.assign_timestamps("event_time", |e: &(u32, i64)| EventTime::from_millis(e.1), Duration::from_secs(5))
    ///         .map("ids", |e: &(u32, i64)| e.0)
    /// })?;
    /// assert_eq!(run.values, vec![1, 2]);
    /// # Ok::<(), tidemill_runtime::JobError>(())
    /// ```
    pub fn assign_timestamps<F>(&self, name: &str, time: F, max_out_of_orderness: Duration) -> Stream<T>
    where
        F: Fn(&T) -> EventTime + Clone + Send + Sync + 'static,
    {
        self.operator(name, move |ctx: &NodeContext| {
            TimestampAssigner::new(time.clone(), max_out_of_orderness).aligned(ctx)
        })
    }
}
