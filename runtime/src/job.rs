//! A built job: start it, wait for it, stop it.

use std::sync::Arc;

use ractor::{Actor, ActorRef};
use tokio::sync::{oneshot, watch};

use crate::actors::messages::SupervisorMsg;
use crate::actors::spawn::JobPlan;
use crate::actors::supervisor::{JobSupervisor, SupervisorArgs};
use crate::checkpoint::{CheckpointStore, FromCheckpoint};
use crate::config::JobConfig;
use crate::counters::{JobCounters, JobSummary};
use crate::dead_letter::SourceCatalog;
use crate::error::{InternalError, JobError};
use crate::metrics::{JobMetrics, MetricsConfig, MetricsServices};
use crate::time::Epoch;

/// A validated job graph with its configuration.
pub struct Job {
    plan: Arc<JobPlan>,
    config: Arc<JobConfig>,
    catalog: SourceCatalog,
    store: Option<Arc<dyn CheckpointStore>>,
    from: FromCheckpoint,
    metrics: MetricsConfig,
}

impl Job {
    pub(crate) fn new(
        plan: JobPlan,
        config: JobConfig,
        store: Option<(Arc<dyn CheckpointStore>, FromCheckpoint)>,
        metrics: MetricsConfig,
    ) -> Self {
        let (store, from) = match store {
            Some((store, from)) => (Some(store), from),
            None => (None, FromCheckpoint::Latest),
        };
        Job { plan: Arc::new(plan), config: Arc::new(config), catalog: SourceCatalog::new(), store, from, metrics }
    }

    /// The catalog sources register their partitions in (for dead-letter origins).
    pub fn catalog(&self) -> &SourceCatalog {
        &self.catalog
    }

    /// Starts the job and returns a handle to watch or stop it. With a metrics
    /// address, the endpoint listens before the first pipeline is built (so that
    /// `/healthz` answers and `/readyz` says `starting` meanwhile).
    pub async fn start(self) -> Result<JobHandle, JobError> {
        let startup = |e: crate::metrics::MetricsError| JobError::Startup { node: "job".into(), source: e.into() };
        let metrics = Arc::new(
            JobMetrics::new(&self.plan.topology.name, Some(&self.plan.topology), &self.metrics).map_err(startup)?,
        );
        let services = MetricsServices::start(metrics.clone(), &self.metrics).await.map_err(startup)?;
        let counters = Arc::new(JobCounters::default());
        let (done_tx, done_rx) = oneshot::channel();
        let (committed_tx, committed_rx) = watch::channel(None);
        let args = SupervisorArgs {
            plan: self.plan.clone(),
            config: self.config.clone(),
            counters: counters.clone(),
            metrics: metrics.clone(),
            catalog: self.catalog.clone(),
            store: self.store.clone(),
            from: self.from,
            done: done_tx,
            committed: committed_tx,
        };
        let (supervisor, _) = Actor::spawn(None, JobSupervisor, args).await.map_err(|e| match e {
            // The supervisor's start fails with a `JobError` of its own.
            ractor::SpawnErr::StartupFailed(cause) => match cause.downcast::<JobError>() {
                Ok(e) => *e,
                Err(other) => InternalError::SupervisorStart(other).into(),
            },
            other => InternalError::SupervisorSpawn(other).into(),
        })?;
        Ok(JobHandle {
            supervisor,
            done: done_rx,
            counters,
            committed: committed_rx,
            metrics,
            services: Some(services),
        })
    }

    /// Runs the job to completion (bounded inputs) and returns its summary.
    pub async fn run(self) -> Result<JobSummary, JobError> {
        self.start().await?.wait().await
    }
}

/// A running job.
pub struct JobHandle {
    supervisor: ActorRef<SupervisorMsg>,
    done: oneshot::Receiver<Result<JobSummary, JobError>>,
    counters: Arc<JobCounters>,
    committed: watch::Receiver<Option<Epoch>>,
    metrics: Arc<JobMetrics>,
    services: Option<MetricsServices>,
}

impl JobHandle {
    /// Records read by sources so far (live; after a restart, counted from the
    /// checkpoint the pipeline resumed).
    pub fn records_in(&self) -> u64 {
        self.counters.records_in()
    }

    /// Records written to sinks other than the dead-letter sinks so far (live).
    pub fn records_out(&self) -> u64 {
        self.counters.records_out()
    }

    /// The job's metrics: render them, find the endpoint's address
    /// ([`JobMetrics::http_addr`]), read the status.
    pub fn metrics(&self) -> &Arc<JobMetrics> {
        &self.metrics
    }

    /// Stops the metrics endpoint and tasks; with OTLP, pushes the last values.
    async fn close_metrics(&mut self) {
        if let Some(services) = self.services.take() {
            services.close().await;
        }
    }

    /// The newest checkpoint whose output every sink has committed, as it changes.
    pub fn committed_checkpoints(&self) -> watch::Receiver<Option<Epoch>> {
        self.committed.clone()
    }

    /// A handle that stops or aborts the job from elsewhere, while another task
    /// waits on this one.
    pub fn control(&self) -> JobControl {
        JobControl { supervisor: self.supervisor.clone() }
    }

    /// Asks the job to stop gracefully: sources stop reading and end their streams,
    /// every window fires, sinks commit, and [`JobHandle::wait`] returns the summary.
    pub fn stop(&self) {
        let _ = self.supervisor.cast(SupervisorMsg::Stop);
    }

    /// Ends the job at once, as a crash would: no final checkpoint, no commit.
    /// What was checkpointed stays in the checkpoint store; a job started again with
    /// the same store resumes from there. For tests and failure drills.
    pub async fn abort(mut self) {
        let _ = self.supervisor.cast(SupervisorMsg::Abort);
        let _ = (&mut self.done).await;
        self.close_metrics().await;
    }

    /// Waits for the job to finish; on SIGINT or SIGTERM first stops it gracefully
    /// (sources stop, final checkpoint, sinks commit) and then waits. A second
    /// signal aborts the job (what was checkpointed stays; the rest is replayed by
    /// the next start).
    pub async fn wait_or_stop_on_signal(mut self) -> Result<JobSummary, JobError> {
        let result = self.wait_or_stop_inner().await;
        self.close_metrics().await;
        result
    }

    async fn wait_or_stop_inner(&mut self) -> Result<JobSummary, JobError> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut terminate = signal(SignalKind::terminate()).map_err(InternalError::Signal)?;
        let mut interrupt = signal(SignalKind::interrupt()).map_err(InternalError::Signal)?;
        tokio::select! {
            result = &mut self.done => {
                return result.map_err(|_| InternalError::SupervisorGone)?;
            }
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        tracing::info!("shutdown signal: stopping gracefully (final checkpoint, commit); signal again to abort");
        self.stop();
        tokio::select! {
            result = &mut self.done => {
                result.map_err(|_| InternalError::SupervisorGone)?
            }
            _ = terminate.recv() => self.abort_now().await,
            _ = interrupt.recv() => self.abort_now().await,
        }
    }

    async fn abort_now(&mut self) -> Result<JobSummary, JobError> {
        let _ = self.supervisor.cast(SupervisorMsg::Abort);
        let _ = (&mut self.done).await;
        Err(JobError::Aborted)
    }

    /// Waits for the job to finish.
    pub async fn wait(mut self) -> Result<JobSummary, JobError> {
        let result = (&mut self.done).await;
        self.close_metrics().await;
        result.map_err(|_| InternalError::SupervisorGone)?
    }
}

/// Stops or aborts a running job; cheap to clone. See [`JobHandle::control`].
#[derive(Clone, Debug)]
pub struct JobControl {
    supervisor: ActorRef<SupervisorMsg>,
}

impl JobControl {
    /// Asks the job to stop gracefully (as [`JobHandle::stop`]).
    pub fn stop(&self) {
        let _ = self.supervisor.cast(SupervisorMsg::Stop);
    }

    /// Asks the job to take a checkpoint, commit it and stop **without** ending its
    /// streams: open windows are not fired but kept in the checkpoint, so that a job
    /// started again from the same store (here or in another process) goes on as if
    /// never interrupted. [`JobHandle::wait`] then returns the summary. This is
    /// what a consumer-group task does when its partition is revoked.
    pub fn suspend(&self) {
        let _ = self.supervisor.cast(SupervisorMsg::Suspend);
    }

    /// Ends the job at once, as a crash would (as [`JobHandle::abort`]); its
    /// [`JobHandle::wait`] then returns [`JobError::Aborted`] or the summary so far.
    pub fn abort(&self) {
        let _ = self.supervisor.cast(SupervisorMsg::Abort);
    }
}
