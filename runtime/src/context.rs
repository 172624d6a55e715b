//! What a source, operator or sink factory is told about the shard it builds.

use std::sync::Arc;

use crate::dead_letter::SourceCatalog;
use crate::record::SourceId;

/// Context handed to node factories when the runtime (re)builds a pipeline.
///
/// Factories are called again after every restart, so they must build a fresh
/// instance each time (state comes back through `restore`, not through the factory).
#[derive(Clone, Debug)]
pub struct NodeContext {
    /// The job's name.
    pub job: Arc<str>,
    /// The node's name, unique in the job.
    pub node: Arc<str>,
    /// This shard's index, `0..shards`.
    pub shard: usize,
    /// How many shards the node has.
    pub shards: usize,
    /// Names of source partitions, for dead letters. Sources register theirs.
    pub catalog: SourceCatalog,
    /// For sources: the id their records carry in [`crate::Origin::source`].
    pub source_id: SourceId,
}

impl NodeContext {
    /// A context for tests and harnesses: job `test`, shard 0 of 1.
    pub fn for_tests(node: &str) -> Self {
        NodeContext {
            job: Arc::from("test"),
            node: Arc::from(node),
            shard: 0,
            shards: 1,
            catalog: SourceCatalog::new(),
            source_id: SourceId(0),
        }
    }
}
