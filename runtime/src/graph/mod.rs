//! The typed job-graph builder and the plan it produces.
//!
//! A job is written as Rust code: [`crate::JobBuilder::source`] gives a typed
//! [`Stream`], whose methods add operators, keying and sinks. Types line up at
//! compile time; structural mistakes (a stream nobody consumes, no dead-letter
//! sink, duplicate names) are collected and reported by `build()`.

mod builder;
pub(crate) mod error;
mod keyed;
mod stream;
mod union;

use std::any::Any;
use std::sync::Arc;

pub use builder::JobBuilder;
pub use error::{BuildError, GraphError};
pub use keyed::KeyedStream;
pub use stream::Stream;

use crate::actors::spawn::{JobPlan, NodeSpawner, Spawner};
use crate::plan::{InputEdge, NodeId, NodeKind, NodeShape, Port, Topology};
use crate::record::SourceId;

/// An edge into a node, as declared by the builder.
pub(crate) struct EdgeSpec {
    pub(crate) from: NodeId,
    pub(crate) port: Port,
    /// A `collector::Route<T>` for the edge's record type.
    pub(crate) route: Arc<dyn Any + Send + Sync>,
    /// Whether upstream shard `i` feeds only downstream shard `i`.
    pub(crate) one_to_one: bool,
}

/// A node as the builder collects it: its shape, how to spawn it, and whether
/// anything consumes its output yet.
pub(crate) struct NodeSpec {
    pub(crate) name: Arc<str>,
    pub(crate) kind: NodeKind,
    pub(crate) parallelism: usize,
    pub(crate) inputs: Vec<EdgeSpec>,
    pub(crate) spawner: Spawner,
    pub(crate) source_id: SourceId,
    pub(crate) consumed: bool,
    /// Whether the node lies on the dead-letter path (its own dead letters cannot be routed).
    pub(crate) dead_letter_path: bool,
    /// Whether the node may emit dead letters: every operator; sources and sinks
    /// that say so (`Source::EMITS_DEAD_LETTERS`, `Sink::EMITS_DEAD_LETTERS`).
    pub(crate) emits_dead_letters: bool,
}

/// The runnable plan of a validated graph named `name`: its shape, and per node
/// the spawner and the routes of its input edges.
pub(crate) fn job_plan(name: Arc<str>, nodes: Vec<NodeSpec>) -> JobPlan {
    let mut shapes = Vec::with_capacity(nodes.len());
    let mut spawners = Vec::with_capacity(nodes.len());
    for node in nodes {
        let (inputs, routes) = node
            .inputs
            .into_iter()
            .map(|e| (InputEdge { from: e.from, port: e.port, one_to_one: e.one_to_one }, e.route))
            .unzip();
        shapes.push(NodeShape {
            name: node.name,
            kind: node.kind,
            parallelism: node.parallelism,
            inputs,
            source_id: node.source_id,
            dead_letter_path: node.dead_letter_path,
        });
        spawners.push(NodeSpawner { spawn: node.spawner, input_routes: routes });
    }
    JobPlan { topology: Topology { name, nodes: shapes }, spawners }
}
