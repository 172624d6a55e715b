//! What a source, operator or sink factory is told about the shard it builds.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::checkpoint::LineageId;
use crate::config::{ExistingOutput, JobConfig};
use crate::dead_letter::SourceCatalog;
use crate::event_time_board::EventTimeBoard;
use crate::metrics::NodeMetrics;
use crate::record::SourceId;
use crate::time::Epoch;

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
    /// The pipeline being built: unique in the process, new after every restart.
    /// Shards of one node that share a resource (one Kafka consumer for all the
    /// partitions a process reads) share it within one pipeline only.
    pub pipeline: PipelineId,
    /// The job's metrics, for what the node records itself (a Kafka source's lag
    /// per partition, a sink's own instruments).
    pub metrics: NodeMetrics,
    /// How far each source partition has got in event time, for watermark
    /// alignment ([`JobConfig::max_event_time_drift`](crate::JobConfig::max_event_time_drift)).
    pub event_time: EventTimeBoard,
    /// The run this pipeline belongs to: lineage, resumed checkpoint, limits.
    pub run: RunInfo,
}

/// What every node of one pipeline is told about the run.
///
/// Sinks build their transaction identity from `lineage`; a sink whose
/// `resumed` is `None` starts a new lineage and checks its destination for output
/// of an earlier run (see [`ExistingOutput`]); a resumed sink undoes what it
/// committed for epochs after `resumed`, because those epochs are replayed.
#[derive(Clone, Debug, PartialEq)]
pub struct RunInfo {
    /// The line of checkpoints this run continues or starts.
    pub lineage: LineageId,
    /// The epoch of the checkpoint this pipeline resumes; `None` when nothing was
    /// checkpointed yet in this lineage.
    pub resumed: Option<Epoch>,
    /// The epoch of the first barrier this pipeline sees: what a node emits before
    /// it is committed with this epoch.
    pub first_epoch: Epoch,
    /// What to do with output an earlier run left at a sink's destination.
    pub existing_output: ExistingOutput,
    /// The largest record a source passes on ([`JobConfig::max_record_bytes`]).
    pub max_record_bytes: usize,
}

impl RunInfo {
    /// A fresh run with a new lineage and `config`'s settings.
    pub fn fresh(config: &JobConfig) -> Self {
        RunInfo {
            lineage: LineageId::new(),
            resumed: None,
            first_epoch: Epoch::new(1),
            existing_output: config.existing_output,
            max_record_bytes: config.max_record_bytes,
        }
    }
}

/// One spawn of a job's actors: unique in the process, across jobs and restarts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PipelineId(pub u64);

impl PipelineId {
    /// A fresh id, never handed out before in this process.
    pub fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        PipelineId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

impl fmt::Display for PipelineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pipeline-{}", self.0)
    }
}

impl NodeContext {
    /// `tidemill-<job>-<node>`, plus `-<shard>` when the node has more than one
    /// shard: the name under which an exactly-once sink records its commits (a
    /// Delta `txn` app id, a Kafka transactional id). Every shard commits its own
    /// epochs, so each needs its own sequence; the name is stable across restarts.
    ///
    /// ```
    /// let ctx = tidemill_runtime::NodeContext::for_tests("revenue");
    /// assert_eq!(ctx.sink_app_id(), "tidemill-test-revenue");
    /// ```
    pub fn sink_app_id(&self) -> String {
        if self.shards > 1 {
            format!("tidemill-{}-{}-{}", self.job, self.node, self.shard)
        } else {
            format!("tidemill-{}-{}", self.job, self.node)
        }
    }

    /// A context for tests and harnesses: job `test`, shard 0 of 1.
    pub fn for_tests(node: &str) -> Self {
        NodeContext {
            job: Arc::from("test"),
            node: Arc::from(node),
            shard: 0,
            shards: 1,
            catalog: SourceCatalog::new(),
            source_id: SourceId(0),
            pipeline: PipelineId::next(),
            metrics: NodeMetrics::detached(node),
            event_time: EventTimeBoard::detached(),
            run: RunInfo::fresh(&JobConfig::default()),
        }
    }
}
