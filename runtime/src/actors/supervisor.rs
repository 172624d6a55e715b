//! The job supervisor: spawns the pipeline, coordinates barriers, restarts on
//! failure and reports the end of the job.
//!
//! Every source, operator and sink actor is spawned linked to this actor, so a
//! failure anywhere (an `Err` from a handler or a panic outside user functions)
//! arrives here as a supervision event. The supervisor then kills the whole local
//! pipeline and builds it again after a backoff: a partial restart could not
//! guarantee that in-flight records are neither lost nor duplicated.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::sync::oneshot;

use crate::actors::pipeline::Pipeline;
use crate::actors::source::SourceMsg;
use crate::actors::{CheckpointAck, NodeId, RunShared};
use crate::config::JobConfig;
use crate::counters::{JobCounters, JobSummary};
use crate::dead_letter::SourceCatalog;
use crate::graph::JobPlan;
use crate::job::JobError;
use crate::time::Epoch;

/// Messages to the job supervisor.
#[derive(Debug)]
pub enum SupervisorMsg {
    /// An actor passed a checkpoint barrier.
    #[allow(private_interfaces)]
    Ack(CheckpointAck),
    /// A sink shard committed its final epoch.
    #[allow(private_interfaces)]
    SinkFinished {
        /// Pipeline generation of the sender.
        generation: u64,
        /// The sink node.
        node: NodeId,
        /// The shard.
        shard: usize,
    },
    /// Build the pipeline again after a failure.
    Restart,
    /// Inject the next checkpoint barrier.
    TriggerCheckpoint,
    /// Stop gracefully.
    Stop,
}

pub(crate) struct JobSupervisor;

pub(crate) struct SupervisorArgs {
    pub(crate) plan: Arc<JobPlan>,
    pub(crate) config: Arc<JobConfig>,
    pub(crate) counters: Arc<JobCounters>,
    pub(crate) catalog: SourceCatalog,
    pub(crate) done: oneshot::Sender<Result<JobSummary, JobError>>,
}

pub(crate) struct SupervisorState {
    plan: Arc<JobPlan>,
    config: Arc<JobConfig>,
    counters: Arc<JobCounters>,
    catalog: SourceCatalog,
    done: Option<oneshot::Sender<Result<JobSummary, JobError>>>,
    generation: u64,
    pipeline: Pipeline,
    sinks_total: usize,
    restarts: u32,
    failures: VecDeque<Instant>,
    started: Instant,
    stopping: bool,
    epoch: Epoch,
    in_flight: Option<(Epoch, usize, Instant)>,
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
        let sinks_total =
            args.plan.nodes.iter().filter(|n| n.kind == crate::graph::NodeKind::Sink).map(|n| n.parallelism).sum();
        let mut state = SupervisorState {
            plan: args.plan,
            config: args.config,
            counters: args.counters,
            catalog: args.catalog,
            done: Some(args.done),
            generation: 0,
            pipeline: Pipeline::default(),
            sinks_total,
            restarts: 0,
            failures: VecDeque::new(),
            started: Instant::now(),
            stopping: false,
            epoch: Epoch::ZERO,
            in_flight: None,
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
            SupervisorMsg::Ack(ack) => state.on_ack(ack),
            SupervisorMsg::SinkFinished { generation, node, shard } if generation == state.generation => {
                state.pipeline.sinks_finished.insert((node, shard));
                if state.pipeline.sinks_finished.len() == state.sinks_total {
                    let summary = state.counters.summary(state.restarts, state.started.elapsed());
                    tracing::info!(job = %state.plan.name, records_in = summary.records_in, records_out = summary.records_out,
                        dead_letters = summary.dead_letters, late = summary.late, "job finished");
                    state.finish(&myself, Ok(summary));
                }
            }
            SupervisorMsg::SinkFinished { .. } => {}
            SupervisorMsg::Restart => {
                state.counters.reset();
                if let Err(e) = state.spawn_pipeline(&myself).await {
                    state.on_failure(&myself, e.to_string());
                }
            }
            SupervisorMsg::TriggerCheckpoint => state.trigger_checkpoint(),
            SupervisorMsg::Stop => {
                state.stopping = true;
                for s in &state.pipeline.sources {
                    let _ = s.cast(SourceMsg::Stop);
                }
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
        let (cell, cause) = match evt {
            SupervisionEvent::ActorFailed(cell, err) => (cell, err.to_string()),
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                (cell, format!("stopped unexpectedly ({})", reason.unwrap_or_default()))
            }
            _ => return Ok(()),
        };
        // Events from actors of an earlier generation (killed on purpose) are expected.
        if let Some(name) = state.pipeline.names.get(&cell.get_id()) {
            let cause = format!("{name}: {cause}");
            state.on_failure(&myself, cause);
        }
        Ok(())
    }
}

impl SupervisorState {
    async fn spawn_pipeline(&mut self, myself: &ActorRef<SupervisorMsg>) -> Result<(), JobError> {
        self.generation += 1;
        self.in_flight = None;
        let shared = RunShared {
            counters: self.counters.clone(),
            config: self.config.clone(),
            supervisor: myself.clone(),
            generation: self.generation,
        };
        self.pipeline = Pipeline::spawn(&self.plan, &self.catalog, shared, myself.get_cell()).await?;
        tracing::info!(job = %self.plan.name, generation = self.generation, actors = self.pipeline.cells.len(), "pipeline started");
        Ok(())
    }

    fn kill_pipeline(&mut self) {
        std::mem::take(&mut self.pipeline).kill();
    }

    fn on_failure(&mut self, myself: &ActorRef<SupervisorMsg>, cause: String) {
        tracing::error!(job = %self.plan.name, generation = self.generation, %cause, "pipeline failed");
        self.kill_pipeline();
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
        let delay = policy.backoff(self.restarts);
        tracing::warn!(job = %self.plan.name, restart = self.restarts, delay_ms = delay.as_millis() as u64, "restarting pipeline");
        myself.send_after(delay, || SupervisorMsg::Restart);
    }

    fn trigger_checkpoint(&mut self) {
        if self.in_flight.is_some() || self.stopping || self.pipeline.sources.is_empty() {
            return;
        }
        self.epoch = self.epoch.next();
        self.in_flight = Some((self.epoch, 0, Instant::now()));
        for s in &self.pipeline.sources {
            let _ = s.cast(SourceMsg::Barrier(self.epoch));
        }
    }

    fn on_ack(&mut self, ack: CheckpointAck) {
        let Some((epoch, acks, started)) = self.in_flight.as_mut() else { return };
        if ack.generation != self.generation || ack.epoch != *epoch {
            return;
        }
        *acks += 1;
        if *acks == self.plan.actor_count() {
            let (epoch, started) = (*epoch, *started);
            self.in_flight = None;
            for commit in &self.pipeline.sink_commits {
                commit(epoch);
            }
            tracing::info!(job = %self.plan.name, %epoch, duration_ms = started.elapsed().as_millis() as u64, "checkpoint complete");
        }
    }

    fn finish(&mut self, myself: &ActorRef<SupervisorMsg>, result: Result<JobSummary, JobError>) {
        self.kill_pipeline();
        if let Some(done) = self.done.take() {
            let _ = done.send(result);
        }
        myself.stop(None);
    }
}
