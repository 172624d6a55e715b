//! The `ractor` actors that run a job: one per source partition, operator shard and
//! sink shard, all linked to one job supervisor.
//!
//! | file | role |
//! |---|---|
//! | `messages.rs` | what the supervisor and the sources are sent |
//! | `spawn.rs` | the runnable plan: a type-erased spawner per node |
//! | `pipeline.rs` | one generation of actors, spawned from the plan |
//! | `source.rs`, `operator.rs`, `sink.rs` | the actors; `input.rs` their aligned inputs |
//! | `isolation.rs` | finding the record an operator panics on |
//! | `supervisor/` | checkpoints, failures and restarts, the end of the job |

pub(crate) mod input;
pub(crate) mod isolation;
pub(crate) mod messages;
pub(crate) mod operator;
pub(crate) mod pipeline;
pub(crate) mod sink;
pub(crate) mod source;
pub(crate) mod spawn;
pub(crate) mod supervisor;

use std::sync::Arc;

use ractor::ActorRef;

use crate::actors::messages::SupervisorMsg;
use crate::checkpoint::ShardAck;
use crate::config::JobConfig;
use crate::context::RunInfo;
use crate::counters::{JobCounters, ShardCounter, ShardCounts};
use crate::event_time_board::EventTimeBoard;
use crate::metrics::shard::ShardMetrics;
use crate::metrics::JobMetrics;
use crate::operator::StateSnapshot;
use crate::plan::NodeId;
use crate::sink::StagedOutput;
use crate::time::Epoch;

/// What every actor of a run shares.
#[derive(Clone)]
pub(crate) struct RunShared {
    pub(crate) counters: Arc<JobCounters>,
    pub(crate) metrics: Arc<JobMetrics>,
    pub(crate) config: Arc<JobConfig>,
    pub(crate) supervisor: ActorRef<SupervisorMsg>,
    pub(crate) generation: u64,
    /// Event time per source partition, for watermark alignment; new per pipeline.
    pub(crate) event_time: EventTimeBoard,
    /// The run: lineage, resumed epoch, first epoch, limits.
    pub(crate) run: RunInfo,
    /// Records operators panicked on in earlier pipelines.
    pub(crate) suspects: supervisor::Suspects,
}

/// What a shard starts from after a restore: the epoch of the checkpoint, its
/// state (source position, operator state, or a sink's staged output) and counts.
#[derive(Clone, Debug)]
pub(crate) struct Restore {
    pub(crate) epoch: Epoch,
    pub(crate) state: Vec<u8>,
    pub(crate) counts: ShardCounts,
}

/// What an actor reports when it has passed a checkpoint barrier.
#[derive(Debug)]
pub(crate) enum AckPayload {
    /// Source offsets or operator state.
    State(StateSnapshot),
    /// What a sink staged.
    Staged(StagedOutput),
}

impl RunShared {
    /// The epoch before this pipeline's first barrier: what an actor's "last
    /// epoch" starts at.
    pub(crate) fn epoch_before_first(&self) -> Epoch {
        Epoch::new(self.run.first_epoch.get().saturating_sub(1))
    }

    /// The counters and metrics of one shard of `node` (`sink`: the sink's name,
    /// for its per-sink total).
    pub(crate) fn shard(&self, node: NodeId, shard: usize, sink: Option<&str>) -> (ShardCounter, ShardMetrics) {
        let metrics = ShardMetrics::new(&self.metrics, node, shard);
        (ShardCounter::new(self.counters.clone(), sink, metrics.stats()), metrics)
    }

    pub(crate) fn ack(&self, epoch: Epoch, node: NodeId, shard: usize, payload: AckPayload, counts: ShardCounts) {
        let state = match payload {
            AckPayload::State(s) => s.0,
            AckPayload::Staged(s) => s.0,
        };
        let ack = ShardAck { epoch, node, shard, state, counts };
        // The supervisor being gone means the job is ending; nothing to report to.
        let _ = self.supervisor.cast(SupervisorMsg::Ack { generation: self.generation, ack });
    }
}
