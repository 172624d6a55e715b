//! What a failure of the pipeline leads to: a restart after a backoff, an
//! immediate restart that isolates a poison record, or the end of the job.
//!
//! Failures fall into four classes:
//! - **processing** (an operator or source error, a panic outside user code):
//!   restarted with backoff; more than the restart policy allows ends the job;
//! - **storage** (a checkpoint or a sink's output could not be written: a full
//!   disk, an unreachable store): restarted with backoff as long as it takes,
//!   since only time helps, and never counted against the policy;
//! - **poison** (an operator panicked on a batch): restarted at once with the
//!   batch's records marked as suspects, which the operator then processes one by
//!   one, dead-lettering the one that panics (see `actors/isolation.rs`);
//! - **fatal** (going on would break exactly-once: the checkpoint store was
//!   deleted under the job, or another owner took the job over): the job ends.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use ractor::{ActorProcessingErr, ActorRef};

use super::SupervisorState;
use crate::actors::isolation::ProcessError;
use crate::actors::messages::SupervisorMsg;
use crate::checkpoint::CheckpointError;
use crate::edge::EdgeClosed;
use crate::error::{ErrorChain, JobError, PipelineFailure, StartupError};
use crate::record::Origin;
use crate::sink::SinkError;
use crate::time::Epoch;

/// Records that made an operator panic, by node name: processed one at a time in
/// the next pipelines. Shared (read-only) with every actor of a pipeline.
#[derive(Clone, Debug, Default)]
pub(crate) struct Suspects(Arc<HashMap<String, Arc<HashSet<Origin>>>>);

impl Suspects {
    /// The suspects of `node` (none for most).
    pub(crate) fn of(&self, node: &str) -> Option<Arc<HashSet<Origin>>> {
        self.0.get(node).cloned()
    }

    /// Marks `node` as hunting and adds `origins` to its suspects; false when that
    /// changes nothing (isolation did not help, so the failure is not a poison
    /// record's).
    fn add(&mut self, node: &str, origins: Option<&[Origin]>) -> bool {
        let map = Arc::make_mut(&mut self.0);
        let hunting = map.contains_key(node);
        let set = Arc::make_mut(map.entry(node.to_string()).or_default());
        let before = set.len();
        set.extend(origins.unwrap_or_default().iter().copied());
        !hunting || set.len() > before
    }
}

enum Class {
    /// Restarted with backoff; ends the job with this cause past the policy.
    Processing(PipelineFailure),
    Storage,
    /// Restarted at once to isolate the record; past that, as `Processing`.
    Poison {
        node: String,
        origins: Option<Vec<Origin>>,
        failure: PipelineFailure,
    },
    Fatal(JobError),
}

/// How long a consequential failure waits for the failure that caused it.
pub(super) const CONSEQUENCE_GRACE: std::time::Duration = std::time::Duration::from_millis(200);

/// A failure of the pipeline, classified.
pub(super) struct Failure {
    /// Caused by another actor's end (its upstream could not send to it): the
    /// restart's cause should be that actor's own failure, which is reported
    /// separately and usually a moment later.
    pub(super) consequence: bool,
    /// What happened, with its sources, for the log.
    cause: String,
    /// The node it happened in (`node` of `node[shard]`), for the restart metric.
    node: Option<String>,
    /// `error.type` of the restart metric.
    kind: &'static str,
    class: Class,
}

impl Failure {
    /// An actor's handler returned an error or panicked.
    pub(super) fn from_actor(name: String, err: ActorProcessingErr) -> Self {
        let node = name.split('[').next().unwrap_or(&name).to_string();
        let cause = format!("{name}: {}", chain(err.as_ref()));
        let poison = match err.downcast_ref::<ProcessError>() {
            Some(ProcessError::Poison(poison)) => Some(poison.origins.clone()),
            _ => None,
        };
        let storage = err.downcast_ref::<SinkError>().is_some_and(SinkError::is_transient);
        let consequence =
            std::iter::successors(Some(err.as_ref() as &(dyn std::error::Error + 'static)), |e| e.source())
                .any(|e| e.is::<EdgeClosed>());
        let failure = PipelineFailure::Actor { actor: name, error: err };
        let class = match poison {
            Some(origins) => Class::Poison { node: node.clone(), origins, failure },
            None if storage => Class::Storage,
            None => Class::Processing(failure),
        };
        let kind = match class {
            Class::Storage => "storage",
            _ => "actor_failed",
        };
        Failure { consequence, cause, node: Some(node), kind, class }
    }

    /// An actor stopped although nobody asked it to.
    pub(super) fn stopped(name: String, reason: Option<String>) -> Self {
        let node = name.split('[').next().unwrap_or(&name).to_string();
        let failure = PipelineFailure::Stopped { actor: name, reason };
        let cause = chain(&failure);
        Failure {
            consequence: false,
            cause,
            node: Some(node),
            kind: "actor_stopped",
            class: Class::Processing(failure),
        }
    }

    /// Checkpoint `epoch` could not be written.
    pub(super) fn checkpoint(epoch: Epoch, e: CheckpointError) -> Self {
        let cause = format!("checkpoint {epoch} could not be written: {}", chain(&e));
        let class = if e.is_transient() { Class::Storage } else { Class::Fatal(JobError::Checkpoint(e)) };
        Failure { consequence: false, cause, node: None, kind: "checkpoint_store", class }
    }

    /// Building the pipeline again failed.
    pub(super) fn from_restart(e: JobError) -> Self {
        let cause = chain(&e);
        let class = match e {
            JobError::Checkpoint(c) if c.is_transient() => Class::Storage,
            JobError::Checkpoint(c) => Class::Fatal(JobError::Checkpoint(c)),
            JobError::Startup { source: StartupError::Sink(ref s), .. } if s.is_transient() => Class::Storage,
            e => Class::Processing(PipelineFailure::Restart(Box::new(e))),
        };
        let kind = if matches!(class, Class::Storage) { "storage" } else { "restart_failed" };
        Failure { consequence: false, cause, node: None, kind, class }
    }
}

/// An error and its sources, `a: b: c`.
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    ErrorChain(e).to_string()
}

impl SupervisorState {
    /// The pipeline failed: restart it (at once, after a backoff, or as long as
    /// storage fails), or end the job. See the module docs for the classes.
    pub(super) fn on_failure(&mut self, myself: &ActorRef<SupervisorMsg>, failure: Failure) {
        // A failure held back as this one's consequence is moot now.
        self.held = None;
        let Failure { cause: described, node, kind, class, .. } = failure;
        tracing::error!(job = %self.plan.topology.name, generation = self.generation, cause = %described, "pipeline failed");
        if let Some((epoch, since)) = self.coordinator.in_flight_epoch() {
            self.metrics.checkpoint_failed(epoch, since, "pipeline_failed", described.clone());
        }
        self.kill_pipeline();
        // Acknowledgements and commits of the dead generation are ignored from now on.
        self.generation += 1;
        let committed = *self.committed_tx.borrow();
        let delay = match class {
            Class::Fatal(err) => {
                tracing::error!(job = %self.plan.topology.name, committed = ?committed.map(Epoch::get),
                    "the job cannot go on without breaking exactly-once: stopping");
                self.finish(myself, Err(err));
                return;
            }
            Class::Poison { node, origins, .. } if self.suspects.add(&node, origins.as_deref()) => {
                match &origins {
                    None => tracing::warn!(job = %self.plan.topology.name, %node,
                        "an operator panicked on a batch: restarting to find the batch again"),
                    Some(o) => tracing::warn!(job = %self.plan.topology.name, %node, records = o.len(),
                        "found the batch an operator panicked on: restarting to process it one record at a time"),
                }
                std::time::Duration::ZERO
            }
            Class::Storage => {
                self.storage_failures += 1;
                tracing::warn!(job = %self.plan.topology.name, attempt = self.storage_failures,
                    "storage failed: retrying until it works again (not counted against the restart policy)");
                self.config.restart.backoff(self.storage_failures)
            }
            Class::Processing(cause) | Class::Poison { failure: cause, .. } => {
                let now = Instant::now();
                let policy = &self.config.restart;
                self.failures.push_back(now);
                while self.failures.front().is_some_and(|t| now.duration_since(*t) > policy.failure_window) {
                    self.failures.pop_front();
                }
                if self.failures.len() > policy.max_failures as usize {
                    let err = JobError::Failed { cause, restarts: self.restarts, committed };
                    self.finish(myself, Err(err));
                    return;
                }
                policy.backoff(self.failures.len() as u32)
            }
        };
        self.restarts += 1;
        self.metrics.restarting(node.as_deref(), kind, described.clone());
        tracing::warn!(job = %self.plan.topology.name, restart = self.restarts, delay_ms = delay.as_millis() as u64, "restarting pipeline");
        myself.send_after(delay, || SupervisorMsg::Restart);
    }
}
