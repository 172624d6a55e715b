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

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::sync::{oneshot, watch};

use crate::actors::pipeline::Pipeline;
use crate::actors::source::SourceMsg;
use crate::actors::{CheckpointAck, NodeId, RunShared};
use crate::checkpoint::{CheckpointStore, Completed, Coordinator, Manifest};
use crate::config::JobConfig;
use crate::counters::{JobCounters, JobSummary};
use crate::dead_letter::SourceCatalog;
use crate::graph::{JobPlan, NodeKind};
use crate::job::JobError;
use crate::metrics::{JobMetrics, JobStatus};
use crate::time::Epoch;

/// Messages to the job supervisor.
#[derive(Debug)]
pub enum SupervisorMsg {
    /// An actor passed a checkpoint barrier.
    #[allow(private_interfaces)]
    Ack(CheckpointAck),
    /// A source shard has read all it will read.
    #[allow(private_interfaces)]
    SourceExhausted {
        /// Pipeline generation of the sender.
        generation: u64,
        /// The source node.
        node: NodeId,
        /// The shard.
        shard: usize,
    },
    /// A sink shard committed everything up to an epoch.
    #[allow(private_interfaces)]
    SinkCommitted {
        /// Pipeline generation of the sender.
        generation: u64,
        /// The sink node.
        node: NodeId,
        /// The shard.
        shard: usize,
        /// The epoch.
        epoch: Epoch,
    },
    /// Build the pipeline again after a failure.
    Restart,
    /// Inject the next checkpoint barrier.
    TriggerCheckpoint,
    /// Stop gracefully.
    Stop,
    /// Checkpoint now and stop once that checkpoint is committed, without ending
    /// the streams: windows stay open in the checkpoint, for whoever resumes it.
    Suspend,
    /// End at once, without a final checkpoint (a simulated crash).
    Abort,
}

pub(crate) struct JobSupervisor;

pub(crate) struct SupervisorArgs {
    pub(crate) plan: Arc<JobPlan>,
    pub(crate) config: Arc<JobConfig>,
    pub(crate) counters: Arc<JobCounters>,
    pub(crate) metrics: Arc<JobMetrics>,
    pub(crate) catalog: SourceCatalog,
    pub(crate) store: Option<Arc<dyn CheckpointStore>>,
    pub(crate) done: oneshot::Sender<Result<JobSummary, JobError>>,
    pub(crate) committed: watch::Sender<Option<Epoch>>,
}

/// A checkpoint whose manifest is durable, waiting for the sinks' commits.
struct Committing {
    triggered: Instant,
    saved: Instant,
    size: u64,
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
    failures: VecDeque<Instant>,
    started: Instant,
    stopping: bool,
    /// Suspending: the next committed checkpoint ends the job.
    suspending: bool,
    coordinator: Coordinator,
    /// The newest durable checkpoint: where a restart starts from.
    restored: Option<Manifest>,
    /// The final epoch, once every source is exhausted.
    final_epoch: Option<Epoch>,
    exhausted: HashSet<(NodeId, usize)>,
    /// Sink shards that committed each epoch.
    committed: HashMap<Epoch, usize>,
    /// Checkpoints durable and being committed.
    triggered_at: HashMap<Epoch, Committing>,
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
        let count = |kind: NodeKind| args.plan.nodes.iter().filter(|n| n.kind == kind).map(|n| n.parallelism).sum();
        let restored = match &args.store {
            Some(store) => store.latest().await.map_err(|e| JobError::Startup(e.to_string()))?,
            None => None,
        };
        if let Some(m) = &restored {
            if m.job != *args.plan.name {
                return Err(Box::new(JobError::Startup(format!(
                    "the checkpoint store holds job `{}`, not `{}`",
                    m.job, args.plan.name
                ))));
            }
            tracing::info!(job = %args.plan.name, epoch = %m.epoch, finished = m.finished, "restoring from checkpoint");
        }
        let last = restored.as_ref().map_or(Epoch::ZERO, |m| m.epoch);
        let mut state = SupervisorState {
            sink_shards: count(NodeKind::Sink),
            source_shards: count(NodeKind::Source),
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
            started: Instant::now(),
            stopping: false,
            suspending: false,
            coordinator: Coordinator::new(last),
            restored,
            final_epoch: None,
            exhausted: HashSet::new(),
            committed: HashMap::new(),
            triggered_at: HashMap::new(),
        };
        // A failure to build the first pipeline is a configuration problem (a
        // missing input, an unwritable output): report it instead of retrying.
        state.spawn_pipeline(&myself).await.map_err(Box::new)?;
        Ok(state)
    }

    async fn post_start(&self, myself: ActorRef<Self::Msg>, state: &mut Self::State) -> Result<(), ActorProcessingErr> {
        if let Some(every) = state.config.checkpoint_interval {
            myself.send_interval(every, || SupervisorMsg::TriggerCheckpoint);
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
            SupervisorMsg::Ack(ack) if ack.generation == state.generation => {
                if let Some(completed) = state.coordinator.on_ack(ack, &state.plan) {
                    state.on_complete(&myself, completed).await;
                }
            }
            SupervisorMsg::SourceExhausted { generation, node, shard } if generation == state.generation => {
                state.exhausted.insert((node, shard));
                state.maybe_finish();
            }
            SupervisorMsg::SinkCommitted { generation, epoch, .. } if generation == state.generation => {
                state.on_sink_committed(&myself, epoch);
            }
            SupervisorMsg::Ack(_) | SupervisorMsg::SourceExhausted { .. } | SupervisorMsg::SinkCommitted { .. } => {}
            SupervisorMsg::Restart => {
                if let Err(e) = state.spawn_pipeline(&myself).await {
                    state.on_failure(&myself, e.to_string(), None, "restart_failed");
                }
            }
            SupervisorMsg::TriggerCheckpoint => {
                if !state.stopping {
                    state.start_checkpoint();
                }
            }
            SupervisorMsg::Abort => {
                tracing::warn!(job = %state.plan.name, "job aborted");
                state.finish(&myself, Err(JobError::Aborted));
            }
            SupervisorMsg::Suspend => {
                tracing::info!(job = %state.plan.name, "suspending: checkpoint, commit, stop without draining");
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
        let (cell, cause, kind) = match evt {
            SupervisionEvent::ActorFailed(cell, err) => (cell, err.to_string(), "actor_failed"),
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                (cell, format!("stopped unexpectedly ({})", reason.unwrap_or_default()), "actor_stopped")
            }
            _ => return Ok(()),
        };
        // Events from actors of an earlier generation (killed on purpose) are expected.
        if let Some(name) = state.pipeline.names.get(&cell.get_id()).cloned() {
            let cause = format!("{name}: {cause}");
            // `node[shard]`: the node names the restart cause (shards would not
            // keep the label set small).
            let node = name.split('[').next().unwrap_or(&name).to_string();
            state.on_failure(&myself, cause, Some(&node), kind);
        }
        Ok(())
    }
}

impl SupervisorState {
    async fn spawn_pipeline(&mut self, myself: &ActorRef<SupervisorMsg>) -> Result<(), JobError> {
        self.generation += 1;
        // Epochs restart after the restored checkpoint: a number whose checkpoint was
        // never completed was never committed anywhere, so it can be used again.
        self.coordinator = Coordinator::new(self.restored.as_ref().map_or(Epoch::ZERO, |m| m.epoch));
        self.final_epoch = None;
        self.exhausted.clear();
        self.committed.clear();
        self.triggered_at.clear();
        // Totals restart from the checkpoint's counts, which the actors restore.
        self.counters.reset();
        self.metrics.registry.new_generation();
        let shared = RunShared {
            counters: self.counters.clone(),
            metrics: self.metrics.clone(),
            config: self.config.clone(),
            supervisor: myself.clone(),
            generation: self.generation,
            event_time: self.event_time_board(),
        };
        self.pipeline =
            Pipeline::spawn(&self.plan, &self.catalog, self.restored.as_ref(), shared, myself.get_cell()).await?;
        tracing::info!(job = %self.plan.name, generation = self.generation, actors = self.pipeline.cells.len(), "pipeline started");
        self.metrics.set_status(if self.stopping { JobStatus::Stopping } else { JobStatus::Running });
        if self.stopping {
            self.pipeline.sources.iter().for_each(|s| drop(s.cast(SourceMsg::Stop)));
        }
        Ok(())
    }

    /// Starts a periodic checkpoint: barriers into every source. Nothing happens
    /// while one is in flight or once the final checkpoint was started.
    fn start_checkpoint(&mut self) {
        if self.final_epoch.is_some() {
            return;
        }
        if let Some(epoch) = self.coordinator.trigger(false) {
            self.pipeline.sources.iter().for_each(|s| drop(s.cast(SourceMsg::Barrier(epoch))));
        }
    }

    /// A fresh board for watermark alignment: one slot per partition of the job's
    /// only source node; detached when alignment is off or there are several
    /// source nodes (which partition a timestamp assigner follows is then unclear).
    fn event_time_board(&self) -> crate::EventTimeBoard {
        let mut sources = self.plan.nodes.iter().filter(|n| n.kind == NodeKind::Source);
        match (self.config.max_event_time_drift, sources.next(), sources.next()) {
            (Some(_), Some(source), None) => crate::EventTimeBoard::new(source.parallelism),
            _ => crate::EventTimeBoard::detached(),
        }
    }

    /// Every source is exhausted and no checkpoint is in flight: start the final one.
    fn maybe_finish(&mut self) {
        if self.final_epoch.is_some() || self.exhausted.len() < self.source_shards || self.coordinator.in_flight() {
            return;
        }
        if let Some(epoch) = self.coordinator.trigger(true) {
            self.final_epoch = Some(epoch);
            tracing::info!(job = %self.plan.name, %epoch, "all sources exhausted: final checkpoint");
            self.pipeline.sources.iter().for_each(|s| drop(s.cast(SourceMsg::Finish(epoch))));
        }
    }

    async fn on_complete(&mut self, myself: &ActorRef<SupervisorMsg>, completed: Completed) {
        let epoch = completed.manifest.epoch;
        let size = self.metrics.checkpoint_acknowledged(completed.duration, &completed.manifest);
        let saving = Instant::now();
        if let Some(store) = &self.store {
            // The manifest must be durable before any sink makes the epoch visible;
            // without it a crash could not tell what was committed.
            if let Err(e) = store.save(&completed.manifest).await {
                self.metrics.checkpoint_failed("store_write");
                self.on_failure(
                    myself,
                    format!("checkpoint {epoch} could not be written: {e}"),
                    None,
                    "checkpoint_store",
                );
                return;
            }
            if let Err(e) = store.prune(self.config.checkpoints_to_keep).await {
                tracing::warn!(job = %self.plan.name, error = %e, "old checkpoints could not be pruned");
            }
        }
        tracing::info!(job = %self.plan.name, %epoch, duration_ms = completed.duration.as_millis() as u64,
            finished = completed.manifest.finished, "checkpoint complete");
        self.metrics.checkpoint_saved(saving.elapsed());
        self.restored = Some(completed.manifest);
        let triggered = saving.checked_sub(completed.duration).unwrap_or(saving);
        self.triggered_at.insert(epoch, Committing { triggered, saved: Instant::now(), size });
        crate::failpoint::hit("after_manifest", epoch);
        for commit in &self.pipeline.sink_commits {
            commit(epoch);
        }
        self.maybe_finish();
    }

    fn on_sink_committed(&mut self, myself: &ActorRef<SupervisorMsg>, epoch: Epoch) {
        let n = self.committed.entry(epoch).or_default();
        *n += 1;
        if *n < self.sink_shards {
            return;
        }
        self.committed.remove(&epoch);
        if let Some(c) = self.triggered_at.remove(&epoch) {
            let total = c.triggered.elapsed();
            tracing::info!(job = %self.plan.name, %epoch, total_ms = total.as_millis() as u64,
                "checkpoint committed");
            self.metrics.checkpoint_committed(epoch, total, c.saved.elapsed(), c.size);
        }
        crate::failpoint::hit("after_sink_commit", epoch);
        self.committed_tx.send_replace(Some(epoch));
        for s in &self.pipeline.sources {
            let _ = s.cast(SourceMsg::CheckpointComplete(epoch));
        }
        if self.final_epoch == Some(epoch) || self.suspending {
            let summary = self.counters.summary(self.restarts, self.started.elapsed());
            tracing::info!(job = %self.plan.name, records_in = summary.records_in, records_out = summary.records_out,
                dead_letters = summary.dead_letters, late = summary.late, "job finished");
            self.finish(myself, Ok(summary));
        }
    }

    fn kill_pipeline(&mut self) {
        std::mem::take(&mut self.pipeline).kill();
    }

    /// The pipeline failed: restart it after a backoff, or give up. `node` and
    /// `kind` label the restart in metrics (`kind` becomes `error.type`).
    fn on_failure(&mut self, myself: &ActorRef<SupervisorMsg>, cause: String, node: Option<&str>, kind: &'static str) {
        tracing::error!(job = %self.plan.name, generation = self.generation, %cause, "pipeline failed");
        if self.coordinator.in_flight() {
            self.metrics.checkpoint_failed("pipeline_failed");
        }
        self.kill_pipeline();
        // Acknowledgements and commits of the dead generation are ignored from now on.
        self.generation += 1;
        let now = Instant::now();
        let policy = &self.config.restart;
        self.failures.push_back(now);
        while self.failures.front().is_some_and(|t| now.duration_since(*t) > policy.failure_window) {
            self.failures.pop_front();
        }
        if self.failures.len() > policy.max_failures as usize {
            let err = JobError::Failed { cause, restarts: self.restarts };
            self.finish(myself, Err(err));
            return;
        }
        self.restarts += 1;
        self.metrics.restarting(node, kind);
        let delay = policy.backoff(self.restarts);
        tracing::warn!(job = %self.plan.name, restart = self.restarts, delay_ms = delay.as_millis() as u64, "restarting pipeline");
        myself.send_after(delay, || SupervisorMsg::Restart);
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
