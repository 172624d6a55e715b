//! The typed job-graph builder and the plan it produces.
//!
//! A job is written as Rust code: [`crate::JobBuilder::source`] gives a typed
//! [`Stream`], whose methods add operators, keying and sinks. Types line up at
//! compile time; structural mistakes (a stream nobody consumes, no dead-letter
//! sink, duplicate names) are collected and reported by `build()`.

mod builder;
pub(crate) mod spawn;
mod stream;

use std::any::Any;
use std::sync::Arc;

pub use builder::JobBuilder;
pub use stream::{KeyedStream, Stream};

use crate::actors::NodeId;
use crate::record::SourceId;

/// A job graph that cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// The job reads nothing.
    #[error("the job has no source")]
    NoSource,
    /// The job writes nothing.
    #[error("the job has no sink")]
    NoSink,
    /// A stream's records would go nowhere.
    #[error("the output of `{node}` is never consumed: give it a sink or an operator")]
    Unconsumed {
        /// The node whose output dangles.
        node: String,
    },
    /// Dead letters would go nowhere.
    #[error("dead letters are not routed: call `dead_letters()` and give the stream a sink")]
    NoDeadLetterSink,
    /// `dead_letters()` has a sink, but no operator could ever send it anything.
    #[error("the job has no operator, so nothing can produce dead letters: remove the sink of `dead_letters()`")]
    DeadLettersWithoutProducers,
    /// Two nodes share a name.
    #[error("two nodes are named `{name}`: node names must be unique")]
    DuplicateName {
        /// The name.
        name: String,
    },
    /// A node was given no shards or partitions.
    #[error("`{node}` has parallelism 0")]
    ZeroParallelism {
        /// The node.
        node: String,
    },
}

/// A job that cannot be built: its graph or its configuration is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The graph is invalid.
    #[error("invalid job graph: {0}")]
    Graph(#[from] GraphError),
    /// A setting of the job's [`JobConfig`](crate::JobConfig) is invalid.
    #[error("invalid job setting: {0}")]
    Config(#[from] crate::config::ConfigError),
}

/// What kind of actor runs a node.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum NodeKind {
    Source,
    Operator,
    Sink,
}

/// Which output of a node an edge leaves from.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Port {
    Main,
    DeadLetters,
}

/// An edge into a node, as declared by the builder.
pub(crate) struct EdgeSpec {
    pub(crate) from: NodeId,
    pub(crate) port: Port,
    /// A `collector::Route<T>` for the edge's record type.
    pub(crate) route: Arc<dyn Any + Send + Sync>,
    /// Whether upstream shard `i` feeds only downstream shard `i`.
    pub(crate) one_to_one: bool,
}

pub(crate) struct NodeSpec {
    pub(crate) name: Arc<str>,
    pub(crate) kind: NodeKind,
    pub(crate) parallelism: usize,
    pub(crate) inputs: Vec<EdgeSpec>,
    pub(crate) spawner: spawn::Spawner,
    pub(crate) source_id: SourceId,
    pub(crate) consumed: bool,
    /// Whether the node lies on the dead-letter path (its own dead letters cannot be routed).
    pub(crate) dead_letter_path: bool,
    /// Whether the node may emit dead letters: every operator; sources and sinks
    /// that say so (`Source::EMITS_DEAD_LETTERS`, `Sink::EMITS_DEAD_LETTERS`).
    pub(crate) emits_dead_letters: bool,
}

/// A validated graph, ready to be spawned (and spawned again after a restart).
pub(crate) struct JobPlan {
    pub(crate) name: Arc<str>,
    pub(crate) nodes: Vec<NodeSpec>,
}

impl JobPlan {
    /// The input slot of `(edge, up_shard)` on every shard of `node`.
    pub(crate) fn slot(&self, node: NodeId, edge: usize, up_shard: usize) -> usize {
        let spec = &self.nodes[node.0];
        let mut base = 0;
        for (i, e) in spec.inputs.iter().enumerate() {
            if i == edge {
                return base + if e.one_to_one { 0 } else { up_shard };
            }
            base += if e.one_to_one { 1 } else { self.nodes[e.from.0].parallelism };
        }
        unreachable!("edge index out of range")
    }

    /// The upstream node of each input slot of a shard of `node`, in slot order
    /// (as many slots as [`JobPlan::slot`] numbers).
    pub(crate) fn input_sources(&self, node: NodeId) -> Vec<NodeId> {
        let mut out = Vec::new();
        for e in &self.nodes[node.0].inputs {
            let n = if e.one_to_one { 1 } else { self.nodes[e.from.0].parallelism };
            out.extend(std::iter::repeat_n(e.from, n));
        }
        out
    }

    /// The edges leaving `node` on `port`: (downstream node, edge index there).
    pub(crate) fn consumers(&self, node: NodeId, port: Port) -> Vec<(NodeId, usize)> {
        let mut out = Vec::new();
        for (d, spec) in self.nodes.iter().enumerate() {
            for (i, e) in spec.inputs.iter().enumerate() {
                if e.from == node && e.port == port {
                    out.push((NodeId(d), i));
                }
            }
        }
        out
    }

    /// Total number of actors in one generation of the pipeline.
    pub(crate) fn actor_count(&self) -> usize {
        self.nodes.iter().map(|n| n.parallelism).sum()
    }
}
