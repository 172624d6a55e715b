//! [`KeyedStream`]: a stream partitioned by key, and the keyed operators on it.

use std::sync::Arc;

use serde::Serialize;

use crate::actors::spawn::operator_spawner;
use crate::context::NodeContext;
use crate::graph::stream::Stream;
use crate::graph::{EdgeSpec, NodeSpec};
use crate::operator::Operator;
use crate::plan::{NodeKind, Port};
use crate::record::SourceId;

/// A stream partitioned by key into shards: every record with the same key goes to
/// the same shard, so keyed state (windows, dedup) lives in exactly one place.
pub struct KeyedStream<T, K> {
    pub(super) stream: Stream<T>,
    pub(super) key: Arc<dyn Fn(&T) -> K + Send + Sync>,
}

impl<T, K> Clone for KeyedStream<T, K> {
    fn clone(&self) -> Self {
        KeyedStream { stream: self.stream.clone(), key: self.key.clone() }
    }
}

impl<T: Clone + Send + Serialize + 'static, K: 'static> KeyedStream<T, K> {
    /// Number of shards.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use tidemill_runtime::testing::VecSource;
    /// # use tidemill_runtime::{Job, NodeContext};
    /// let job = Job::builder("keys");
    /// let words = job.source("words", 1, |ctx: &NodeContext| Ok(VecSource::new(Arc::new(vec!["a"]), ctx)));
    /// assert_eq!(words.key_by(|w: &&str| w.to_string(), 6).shards(), 6);
    /// ```
    pub fn shards(&self) -> usize {
        self.stream.parallelism
    }

    /// The key function.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use tidemill_runtime::testing::VecSource;
    /// # use tidemill_runtime::{Job, NodeContext};
    /// let job = Job::builder("keys");
    /// let words = job.source("words", 1, |ctx: &NodeContext| Ok(VecSource::new(Arc::new(vec!["ab"]), ctx)));
    /// let by_length = words.key_by(|w: &&str| w.len() as u64, 2);
    /// assert_eq!(by_length.key_fn()(&"abc"), 3);
    /// ```
    pub fn key_fn(&self) -> Arc<dyn Fn(&T) -> K + Send + Sync> {
        self.key.clone()
    }

    /// Adds a keyed operator: one instance per shard, each seeing only its keys.
    /// `factory` receives the key function so the operator can group by it.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use std::sync::Arc;
    /// use tidemill_runtime::testing::run_collect;
    /// use tidemill_runtime::{Batch, NodeContext, Operator, OperatorError, Output, Record};
    ///
    /// /// A running count per key; sees only the keys of its shard.
    /// struct CountPerKey(Arc<dyn Fn(&u32) -> u32 + Send + Sync>, BTreeMap<u32, u32>);
    /// impl Operator for CountPerKey {
    ///     type In = u32;
    ///     type Out = (u32, u32);
    ///     fn process(&mut self, batch: Batch<u32>, out: &mut Output<(u32, u32)>) -> Result<(), OperatorError> {
    ///         for record in batch {
    ///             let key = (self.0)(&record.value);
    ///             let count = self.1.entry(key).or_default();
    ///             *count += 1;
    ///             out.emit(Record::new((key, *count), record.time, record.origin));
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// let run = run_collect(vec![7, 9, 7], |s| {
    ///     s.key_by(|n: &u32| *n, 2).operator("count", |_: &NodeContext, key| CountPerKey(key, BTreeMap::new()))
    /// })?;
    /// let mut counts = run.values;
    /// counts.sort();
    /// assert_eq!(counts, vec![(7, 1), (7, 2), (9, 1)]);
    /// # Ok::<(), tidemill_runtime::JobError>(())
    /// ```
    pub fn operator<O, F>(&self, name: &str, factory: F) -> Stream<O::Out>
    where
        O: Operator<In = T>,
        O::Out: Clone,
        F: Fn(&NodeContext, Arc<dyn Fn(&T) -> K + Send + Sync>) -> O + Send + Sync + 'static,
    {
        let key = self.key.clone();
        let s = &self.stream;
        let edge = EdgeSpec { from: s.node, port: s.port, route: Arc::new(s.route.clone()), one_to_one: false };
        let id = s.graph.borrow_mut().add(NodeSpec {
            name: Arc::from(name),
            kind: NodeKind::Operator,
            parallelism: s.parallelism,
            inputs: vec![edge],
            spawner: operator_spawner(move |ctx: &NodeContext| factory(ctx, key.clone())),
            source_id: SourceId(0),
            consumed: false,
            dead_letter_path: false,
            emits_dead_letters: true,
        });
        let parallelism = s.graph.borrow().nodes[id.0].parallelism;
        Stream::new(s.graph.clone(), id, Port::Main, parallelism)
    }
}
