//! The job supervisor: spawns the pipeline, coordinates checkpoints, restarts on
//! failure and reports the end of the job.
//!
//! Every source, operator and sink actor is spawned linked to this actor, so a
//! failure anywhere (an `Err` from a handler or a panic outside user functions)
//! arrives here as a supervision event. The supervisor then kills the whole local
//! pipeline and builds it again from the newest checkpoint after a backoff: a
//! partial restart could not say which in-flight records were lost.
//!
//! Checkpoint N: barriers are injected at the sources, every actor acknowledges
//! (with its state, or a sink's staged output), the manifest is written to the
//! store, the sinks commit epoch N, and once they all have, the sources hear that
//! N is complete (a Kafka source then commits its offsets to the group).
//! `checkpoints.rs` holds that cycle, `failures.rs` what a failure leads to.

mod checkpoints;
mod failures;
mod ticks;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::sync::{oneshot, watch};

use crate::actors::messages::{SourceMsg, SupervisorMsg};
use crate::actors::pipeline::Pipeline;
use crate::actors::spawn::JobPlan;
use crate::actors::RunShared;
use crate::checkpoint::{select, CheckpointStore, Coordinator, FromCheckpoint, LineageId, Manifest};
use crate::config::JobConfig;
use crate::context::RunInfo;
use crate::counters::{JobCounters, JobSummary};
use crate::dead_letter::SourceCatalog;
use crate::error::JobError;
use crate::event_time_board::EventTimeBoard;
use crate::metrics::{JobMetrics, JobStatus};
use crate::plan::{NodeId, NodeKind};
use crate::time::Epoch;

pub(crate) use failures::Suspects;

use checkpoints::Committing;

pub(crate) struct JobSupervisor;

pub(crate) struct SupervisorArgs {
    pub(crate) plan: Arc<JobPlan>,
    pub(crate) config: Arc<JobConfig>,
    pub(crate) counters: Arc<JobCounters>,
    pub(crate) metrics: Arc<JobMetrics>,
    pub(crate) catalog: SourceCatalog,
    pub(crate) store: Option<Arc<dyn CheckpointStore>>,
    pub(crate) from: FromCheckpoint,
    pub(crate) done: oneshot::Sender<Result<JobSummary, JobError>>,
    pub(crate) committed: watch::Sender<Option<Epoch>>,
}

pub(crate) struct SupervisorState {
    plan: Arc<JobPlan>,
    config: Arc<JobConfig>,
    counters: Arc<JobCounters>,
    metrics: Arc<JobMetrics>,
    catalog: SourceCatalog,
    store: Option<Arc<dyn CheckpointStore>>,
    done: Option<oneshot::Sender<Result<JobSummary, JobError>>>,
    committed_tx: watch::Sender<Option<Epoch>>,
    generation: u64,
    pipeline: Pipeline,
    restarts: u32,
    /// Processing failures within the restart policy's window.
    failures: VecDeque<Instant>,
    /// Storage failures since the last committed checkpoint (for the backoff).
    storage_failures: u32,
    started: Instant,
    stopping: bool,
    /// Suspending: the next committed checkpoint ends the job.
    suspending: bool,
    coordinator: Coordinator,
    /// The line of checkpoints of this run.
    lineage: LineageId,
    /// The newest durable checkpoint: where a restart starts from.
    restored: Option<Manifest>,
    /// The highest epoch known to exist in the store: new epochs go above it.
    highest: Epoch,
    /// The final epoch, once every source is exhausted.
    final_epoch: Option<Epoch>,
    exhausted: HashSet<(NodeId, usize)>,
    /// Sink shards that committed each epoch.
    committed: HashMap<Epoch, usize>,
    /// Checkpoints durable and being committed.
    triggered_at: HashMap<Epoch, Committing>,
    /// Rows each sink node has committed: its shards' counts in the newest
    /// manifest whose commit every sink shard confirmed.
    committed_rows: BTreeMap<String, u64>,
    /// Records whose processing panicked, per node, isolated on replay.
    suspects: Suspects,
    /// A consequential failure (see `Failure::consequence`) waiting for its
    /// cause, with its pipeline generation.
    held: Option<(u64, failures::Failure)>,
    sink_shards: usize,
    source_shards: usize,
}

impl Actor for JobSupervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let routing = crate::routing::ROUTING_SCHEME_VERSION;
        let (restored, highest) = match &args.store {
            Some(store) => {
                let selected = select(store.as_ref(), args.from, &args.plan.topology.name, routing)
                    .await
                    .map_err(JobError::Checkpoint)?;
                (selected.manifest, selected.highest)
            }
            None => (None, Epoch::ZERO),
        };
        let lineage = match &restored {
            Some(m) => {
                tracing::info!(job = %args.plan.topology.name, epoch = %m.epoch, lineage = %m.lineage, finished = m.finished,
                    "restoring from checkpoint");
                m.lineage.clone()
            }
            None => {
                let lineage = LineageId::new();
                tracing::info!(job = %args.plan.topology.name, %lineage, "no checkpoint: starting a new lineage");
                lineage
            }
        };
        let mut state = SupervisorState {
            sink_shards: args.plan.topology.shards_of(NodeKind::Sink),
            source_shards: args.plan.topology.shards_of(NodeKind::Source),
            coordinator: Coordinator::new(Epoch::ZERO, lineage.clone(), routing),
            lineage,
            plan: args.plan,
            config: args.config,
            counters: args.counters,
            metrics: args.metrics,
            catalog: args.catalog,
            store: args.store,
            done: Some(args.done),
            committed_tx: args.committed,
            generation: 0,
            pipeline: Pipeline::default(),
            restarts: 0,
            failures: VecDeque::new(),
            storage_failures: 0,
            started: Instant::now(),
            stopping: false,
            suspending: false,
            restored,
            highest,
            final_epoch: None,
            exhausted: HashSet::new(),
            committed: HashMap::new(),
            triggered_at: HashMap::new(),
            committed_rows: BTreeMap::new(),
            suspects: Suspects::default(),
            held: None,
        };
        // A failure to build the first pipeline is a configuration problem (a
        // missing input, an unwritable output): report it instead of retrying.
        state.spawn_pipeline(&myself).await?;
        Ok(state)
    }

    async fn post_start(&self, myself: ActorRef<Self::Msg>, state: &mut Self::State) -> Result<(), ActorProcessingErr> {
        if let Some(every) = state.config.checkpoint_interval {
            ticks::start(myself.clone(), every);
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SupervisorMsg::Ack { generation, ack } if generation == state.generation => {
                if let Some(completed) = state.coordinator.on_ack(ack, &state.plan.topology) {
                    state.on_complete(&myself, completed).await;
                }
            }
            SupervisorMsg::SourceExhausted { generation, node, shard } if generation == state.generation => {
                state.exhausted.insert((node, shard));
                state.maybe_finish();
            }
            SupervisorMsg::SinkCommitted { generation, epoch } if generation == state.generation => {
                state.on_sink_committed(&myself, epoch);
            }
            SupervisorMsg::Ack { .. } | SupervisorMsg::SourceExhausted { .. } | SupervisorMsg::SinkCommitted { .. } => {
            }
            SupervisorMsg::HeldFailure { generation } => {
                if let Some((held, failure)) = state.held.take() {
                    if held == generation && generation == state.generation {
                        state.on_failure(&myself, failure);
                    }
                }
            }
            SupervisorMsg::Restart => {
                if let Err(e) = state.spawn_pipeline(&myself).await {
                    state.on_failure(&myself, failures::Failure::from_restart(e));
                }
            }
            SupervisorMsg::TriggerCheckpoint => {
                if !state.stopping {
                    state.start_checkpoint();
                }
            }
            SupervisorMsg::Abort => {
                tracing::warn!(job = %state.plan.topology.name, "job aborted");
                state.finish(&myself, Err(JobError::Aborted));
            }
            SupervisorMsg::Suspend => {
                tracing::info!(job = %state.plan.topology.name, "suspending: checkpoint, commit, stop without draining");
                state.suspending = true;
                state.metrics.set_status(JobStatus::Stopping);
                // A checkpoint in flight will do; otherwise start one now.
                state.start_checkpoint();
            }
            SupervisorMsg::Stop => {
                state.stopping = true;
                state.metrics.set_status(JobStatus::Stopping);
                state.pipeline.sources.iter().for_each(|s| drop(s.cast(SourceMsg::Stop)));
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        evt: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // Events from actors of an earlier generation (killed on purpose) are expected.
        let failure = match evt {
            SupervisionEvent::ActorFailed(cell, err) => {
                let Some(name) = state.pipeline.names.get(&cell.get_id()).cloned() else { return Ok(()) };
                failures::Failure::from_actor(name, err)
            }
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                let Some(name) = state.pipeline.names.get(&cell.get_id()).cloned() else { return Ok(()) };
                failures::Failure::stopped(name, reason)
            }
            _ => return Ok(()),
        };
        if failure.consequence {
            // Wait a moment for the failure that caused it, the restart's real
            // cause; one held failure is enough.
            if state.held.is_none() {
                let generation = state.generation;
                state.held = Some((generation, failure));
                myself.send_after(failures::CONSEQUENCE_GRACE, move || SupervisorMsg::HeldFailure { generation });
            }
            return Ok(());
        }
        state.on_failure(&myself, failure);
        Ok(())
    }
}

impl SupervisorState {
    /// Builds the pipeline from the newest durable checkpoint (or from scratch),
    /// and, when it resumes a checkpoint of a store, writes the fence epoch (see
    /// [`SupervisorState::write_fence`]).
    async fn spawn_pipeline(&mut self, myself: &ActorRef<SupervisorMsg>) -> Result<(), JobError> {
        self.generation += 1;
        let resumed = self.restored.as_ref().map(|m| m.epoch);
        // With a store, a resumed pipeline first claims the epoch after every one in
        // the store (the fence); without one, epochs of a checkpoint that never
        // completed were never committed anywhere and can be used again.
        let fence = match (&self.store, resumed) {
            (Some(_), Some(_)) => Some(self.highest.next()),
            _ => None,
        };
        let base = fence.or(resumed).unwrap_or(Epoch::ZERO);
        self.coordinator = Coordinator::new(base, self.lineage.clone(), self.coordinator_routing());
        self.final_epoch = None;
        self.exhausted.clear();
        self.committed.clear();
        self.triggered_at.clear();
        // Totals restart from the checkpoint's counts, which the actors restore.
        self.counters.reset();
        self.metrics.registry.new_generation();
        let run = RunInfo {
            lineage: self.lineage.clone(),
            resumed,
            first_epoch: base.next(),
            existing_output: self.config.existing_output,
            max_record_bytes: self.config.max_record_bytes,
        };
        let shared = RunShared {
            counters: self.counters.clone(),
            metrics: self.metrics.clone(),
            config: self.config.clone(),
            supervisor: myself.clone(),
            generation: self.generation,
            event_time: self.event_time_board(),
            run,
            suspects: self.suspects.clone(),
        };
        self.pipeline =
            Pipeline::spawn(&self.plan, &self.catalog, self.restored.as_ref(), shared, myself.get_cell()).await?;
        if let Some(fence) = fence {
            // Sinks have finished committing the restored checkpoint (in their start):
            // only now may a manifest without their staged output stand above it.
            if let Err(e) = self.write_fence(fence).await {
                self.kill_pipeline();
                return Err(JobError::Checkpoint(e));
            }
        }
        tracing::info!(job = %self.plan.topology.name, generation = self.generation, actors = self.pipeline.cells.len(),
            first_epoch = %base.next(), "pipeline started");
        self.metrics.set_status(if self.stopping { JobStatus::Stopping } else { JobStatus::Running });
        if self.stopping {
            self.pipeline.sources.iter().for_each(|s| drop(s.cast(SourceMsg::Stop)));
        }
        Ok(())
    }

    fn coordinator_routing(&self) -> u32 {
        crate::routing::ROUTING_SCHEME_VERSION
    }

    /// A fresh board for watermark alignment: one slot per partition of the job's
    /// only source node; detached when alignment is off or there are several
    /// source nodes (which partition a timestamp assigner follows is then unclear).
    fn event_time_board(&self) -> EventTimeBoard {
        let mut sources = self.plan.topology.nodes.iter().filter(|n| n.kind == NodeKind::Source);
        match (self.config.max_event_time_drift, sources.next(), sources.next()) {
            (Some(_), Some(source), None) => EventTimeBoard::new(source.parallelism),
            _ => EventTimeBoard::detached(),
        }
    }

    fn kill_pipeline(&mut self) {
        std::mem::take(&mut self.pipeline).kill();
    }

    /// The summary of what the job did, with the rows every sink committed.
    fn summary(&self) -> JobSummary {
        let mut summary = self.counters.summary(self.restarts, self.started.elapsed());
        summary.committed_by_sink = self.committed_rows.clone();
        summary.lineage = Some(self.lineage.to_string());
        summary
    }

    fn finish(&mut self, myself: &ActorRef<SupervisorMsg>, result: Result<JobSummary, JobError>) {
        self.kill_pipeline();
        self.metrics.set_status(if result.is_ok() { JobStatus::Finished } else { JobStatus::Failed });
        if let Some(done) = self.done.take() {
            let _ = done.send(result);
        }
        myself.stop(None);
    }
}
