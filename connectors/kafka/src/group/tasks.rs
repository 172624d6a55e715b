//! [`PartitionTasks`]: runs one task (a whole job over one input partition) per
//! partition the consumer group gives this process.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::time::Duration;

use tidemill_runtime::metrics::{MetricsHub, ScalingConfig};
use tidemill_runtime::{BoxError, Job, JobControl, JobError, JobSummary};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::config::GroupConfig;
use super::context::GroupEvent;
use super::handle::GroupHandle;
use super::member::{GroupMember, MembershipError};
use super::scaling::{self, OwnJobs};

/// Bounded mode: the shortest time the group must be quiet, with every task of
/// this process finished, before the process leaves. The wait is at least the
/// session timeout: a joining process first gets an empty assignment, and its
/// partitions only in a second round, once their old owner has given them up.
const SETTLE: Duration = Duration::from_secs(2);

/// Why a process of a group-scaled job ended with an error.
#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    /// The group member could not be created or subscribed.
    #[error("kafka consumer group")]
    Membership(#[source] MembershipError),
    /// The task of a partition could not be built (the build function's error)
    /// or started (a [`JobError`]).
    #[error("the task of partition {partition} could not start")]
    Start {
        /// The partition.
        partition: i32,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// The task of a partition failed (past its restart policy).
    #[error("the task of partition {partition} failed")]
    Task {
        /// The partition.
        partition: i32,
        /// The task's error.
        #[source]
        source: JobError,
    },
}

/// What one process of a group-scaled job did.
#[derive(Debug, Default)]
pub struct GroupSummary {
    /// The tasks' summaries added up (`None` if no task ran here).
    pub summary: Option<JobSummary>,
    /// Partitions whose bounded task finished in this process.
    pub finished: BTreeSet<i32>,
    /// Partitions this process ran a task for, at some point.
    pub owned: BTreeSet<i32>,
    /// Tasks suspended because their partition was revoked (handed over).
    pub handed_over: u32,
    /// Tasks aborted because the assignment was lost (membership expired).
    pub lost: u32,
}

/// Scale-out through Kafka: every process of a job joins one
/// consumer group and runs a **task** for each partition the group assigns it. A
/// task is a complete job over that one partition, built by
/// `build(partition, &member)` with its own checkpoint store (`<store>/p<partition>`), so its state and staged
/// output are stored per source partition and move with it.
///
/// - Assigned partition: `build` the task's job and start it; it restores its
///   newest checkpoint, wherever that was written.
/// - Revoked partition (cooperative rebalancing: only the moving partitions are
///   touched): the task is [suspended](JobControl::suspend): it checkpoints and
///   commits without firing open windows, and the revocation waits for that, so
///   the next owner resumes exactly there.
/// - Lost assignment (this process was too slow to heartbeat): the task is aborted
///   without committing; the new owner replays from the last checkpoint.
/// - Bounded mode: the process leaves when every task it owns has finished and
///   the group has been quiet for the session timeout.
///
/// Correct only when the job's keyed state is co-partitioned with the topic
/// (records of one key are always in one partition): see docs/scale-out.md.
pub struct PartitionTasks<F> {
    config: GroupConfig,
    build: F,
    bounded: bool,
    hub: Option<MetricsHub>,
    scaling: Option<ScalingConfig>,
}

struct Running {
    control: JobControl,
    id: u64,
    suspended: bool,
    /// The task's job name (its metrics in the hub).
    job: String,
}

type TaskResult = (i32, u64, Result<JobSummary, JobError>);

impl<F, E> PartitionTasks<F>
where
    F: FnMut(i32, &GroupHandle) -> Result<Job, E>,
    E: Into<BoxError>,
{
    /// Tasks built by `build(partition, &member)`, in the group `config`
    /// describes. The task's Kafka source must commit its offsets through
    /// `member`: build its configuration with
    /// [`KafkaSourceConfig::in_group`](crate::KafkaSourceConfig::in_group).
    pub fn new(config: GroupConfig, build: F) -> Self {
        PartitionTasks { config, build, bounded: false, hub: None, scaling: None }
    }

    /// Registers every running task's metrics in `hub` (one endpoint for the
    /// process; see [`MetricsHub`]).
    pub fn metrics_hub(mut self, hub: MetricsHub) -> Self {
        self.hub = Some(hub);
        self
    }

    /// Computes the group's scaling signal (`tidemill_desired_processes`) with
    /// `config` and serves it through the [metrics hub](Self::metrics_hub); see
    /// [`ScalingSignal`](tidemill_runtime::metrics::ScalingSignal).
    pub fn scaling(mut self, config: ScalingConfig) -> Self {
        self.scaling = Some(config);
        self
    }

    /// Bounded tasks: leave the group once every owned task has finished.
    pub fn bounded(mut self, bounded: bool) -> Self {
        self.bounded = bounded;
        self
    }

    /// Joins the group and runs tasks until `shutdown` completes (then suspends
    /// every task and leaves), a task fails, or (bounded) all owned tasks finished.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<GroupSummary, GroupError> {
        let (member, mut events) = GroupMember::join(&self.config).map_err(GroupError::Membership)?;
        let handle = GroupHandle::new(member.clone());
        tracing::info!(group = %self.config.group_id, topic = %self.config.topic, "joined the consumer group");
        let (results_tx, mut results) = mpsc::unbounded_channel::<TaskResult>();
        let mut state = RunState {
            running: HashMap::new(),
            next_id: 0,
            out: GroupSummary::default(),
            error: None,
            hub: self.hub.clone(),
            own: OwnJobs::default(),
        };
        let signal = match (&self.hub, &self.scaling) {
            (Some(hub), Some(config)) => Some(tokio::spawn(scaling::run(
                member.clone(),
                self.config.topic.clone(),
                config.clone(),
                hub.clone(),
                state.own.clone(),
            ))),
            _ => None,
        };
        let mut quiet_since = Instant::now();
        let mut rebalanced = false;
        let settle = self.config.session_timeout.max(SETTLE);
        tokio::pin!(shutdown);
        loop {
            let settled = self.bounded && rebalanced && state.running.is_empty();
            tokio::select! {
                () = &mut shutdown => {
                    tracing::info!(group = %self.config.group_id, "shutdown: suspending every task");
                    state.suspend_all(&mut results).await;
                    break;
                }
                Some(event) = events.recv() => {
                    quiet_since = Instant::now();
                    rebalanced = true;
                    match event {
                        GroupEvent::Assigned(partitions) => {
                            for p in partitions {
                                if let Err(e) = state.start(p, &handle, &mut self.build, &results_tx).await {
                                    state.error.get_or_insert(e);
                                }
                            }
                        }
                        GroupEvent::Revoked { partitions, lost, done } => {
                            state.stop(&partitions, lost, &mut results).await;
                            let _ = done.send(());
                        }
                    }
                }
                Some(result) = results.recv() => state.on_result(result),
                () = tokio::time::sleep_until(quiet_since + settle), if settled => {
                    tracing::info!(group = %self.config.group_id, finished = ?state.out.finished, "every task of this process finished");
                    break;
                }
            }
            if state.error.is_some() {
                state.suspend_all(&mut results).await;
                break;
            }
        }
        if let Some(signal) = signal {
            signal.abort();
        }
        drop(handle);
        member.leave().await;
        match state.error {
            Some(e) => Err(e),
            None => Ok(state.out),
        }
    }
}

struct RunState {
    running: HashMap<i32, Running>,
    next_id: u64,
    out: GroupSummary,
    error: Option<GroupError>,
    hub: Option<MetricsHub>,
    /// The names of the running tasks' jobs (for the scaling signal).
    own: OwnJobs,
}

impl RunState {
    async fn start<F, E>(
        &mut self,
        partition: i32,
        member: &GroupHandle,
        build: &mut F,
        results: &mpsc::UnboundedSender<TaskResult>,
    ) -> Result<(), GroupError>
    where
        F: FnMut(i32, &GroupHandle) -> Result<Job, E>,
        E: Into<BoxError>,
    {
        if self.running.contains_key(&partition) {
            return Ok(());
        }
        let start = |source: BoxError| GroupError::Start { partition, source };
        let job = build(partition, member).map_err(|e| start(e.into()))?;
        let handle = job.start().await.map_err(|e| start(e.into()))?;
        self.next_id += 1;
        let id = self.next_id;
        let job = handle.metrics().job().to_string();
        if let Some(hub) = &self.hub {
            hub.add(handle.metrics().clone());
        }
        self.own.lock().unwrap_or_else(|p| p.into_inner()).insert(job.clone());
        self.running.insert(partition, Running { control: handle.control(), id, suspended: false, job });
        self.out.owned.insert(partition);
        tracing::info!(partition, "task started");
        let results = results.clone();
        tokio::spawn(async move {
            let _ = results.send((partition, id, handle.wait().await));
        });
        Ok(())
    }

    /// Suspends every running task and waits until each has ended.
    async fn suspend_all(&mut self, results: &mut mpsc::UnboundedReceiver<TaskResult>) {
        let all: Vec<i32> = self.running.keys().copied().collect();
        self.stop(&all, false, results).await;
    }

    /// Suspends (or, when `lost`, aborts) the tasks of `partitions` and waits until
    /// each has ended.
    async fn stop(&mut self, partitions: &[i32], lost: bool, results: &mut mpsc::UnboundedReceiver<TaskResult>) {
        let mut waiting = BTreeSet::new();
        for p in partitions {
            if let Some(task) = self.running.get_mut(p) {
                task.suspended = true;
                if lost {
                    task.control.abort();
                } else {
                    task.control.suspend();
                }
                waiting.insert(*p);
            }
        }
        while !waiting.is_empty() {
            let Some(result) = results.recv().await else { return };
            let partition = result.0;
            let ended = self.running.get(&partition).is_some_and(|t| t.id == result.1);
            self.on_result(result);
            if ended {
                waiting.remove(&partition);
            }
        }
    }

    fn on_result(&mut self, (partition, id, result): TaskResult) {
        let Some(task) = self.running.get(&partition).filter(|t| t.id == id) else { return };
        let suspended = task.suspended;
        if let Some(hub) = &self.hub {
            hub.remove(&task.job);
        }
        self.own.lock().unwrap_or_else(|p| p.into_inner()).remove(&task.job);
        self.running.remove(&partition);
        match result {
            Ok(summary) => {
                match &mut self.out.summary {
                    Some(total) => total.absorb(&summary),
                    None => self.out.summary = Some(summary),
                }
                if suspended {
                    self.out.handed_over += 1;
                    tracing::info!(partition, "task suspended and committed: partition handed over");
                } else {
                    self.out.finished.insert(partition);
                    tracing::info!(partition, "task finished");
                }
            }
            Err(JobError::Aborted) if suspended => {
                self.out.lost += 1;
                tracing::warn!(partition, "task aborted: the partition's assignment was lost");
            }
            Err(source) => {
                self.error.get_or_insert(GroupError::Task { partition, source });
            }
        }
    }
}
