//! The shape of a job graph: its nodes, their kinds and parallelism, and the
//! edges between them, as plain data.
//!
//! Kept apart from what runs a node (the spawners, in `actors/spawn.rs`) so that
//! everything that only needs to know the graph's shape (metrics, the checkpoint
//! coordinator, the supervisor's bookkeeping) depends on this leaf module and not
//! on the actors.

use std::sync::Arc;

use crate::record::SourceId;

/// Identifies a node of the job graph: its index in [`Topology::nodes`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct NodeId(pub(crate) usize);

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

/// An edge into a node.
#[derive(Clone, Debug)]
pub(crate) struct InputEdge {
    pub(crate) from: NodeId,
    pub(crate) port: Port,
    /// Whether upstream shard `i` feeds only downstream shard `i`.
    pub(crate) one_to_one: bool,
}

/// One node of the graph.
#[derive(Clone, Debug)]
pub(crate) struct NodeShape {
    pub(crate) name: Arc<str>,
    pub(crate) kind: NodeKind,
    pub(crate) parallelism: usize,
    pub(crate) inputs: Vec<InputEdge>,
    /// For sources: the id their records carry.
    pub(crate) source_id: SourceId,
    /// Whether the node lies on the dead-letter path (its own dead letters cannot be routed).
    pub(crate) dead_letter_path: bool,
}

/// A validated graph's shape: the job's name and its nodes, upstream first.
#[derive(Clone, Debug)]
pub(crate) struct Topology {
    pub(crate) name: Arc<str>,
    pub(crate) nodes: Vec<NodeShape>,
}

impl Topology {
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
    /// (as many slots as [`Topology::slot`] numbers).
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

    /// Shards of every node of `kind`.
    pub(crate) fn shards_of(&self, kind: NodeKind) -> usize {
        self.nodes.iter().filter(|n| n.kind == kind).map(|n| n.parallelism).sum()
    }
}
