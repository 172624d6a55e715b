//! Readiness: whether a job can do its work, as `/readyz` and
//! `tidemill.job.ready` report it.
//!
//! The job's status says whether its pipeline runs (every actor started, not
//! restarting or stopping). A pipeline can run and still not get anywhere: a
//! source whose brokers cannot be reached idles in every poll, and nothing in
//! the runtime can tell that apart from a quiet input. So a node may report a
//! named [`ReadinessCondition`] with the reason; while any is set, the job is not
//! ready. The runtime knows nothing of what a condition means (Kafka, a database,
//! a file share): the node sets it and clears it.

use std::fmt;
use std::sync::{Arc, Mutex, Weak};

use super::registry::JobStatus;

/// Whether a job (or every job behind a [`MetricsHub`](super::MetricsHub)) is ready.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// The pipeline runs and no node reports a condition.
    Ready,
    /// Not ready, and why (one line each in the `/readyz` answer): the job's
    /// status unless it is `running` (`starting`, `restarting`, ...), then every
    /// condition set, as `<node>: <reason>`; an ended job (`finished`, `failed`)
    /// only its status.
    NotReady(Vec<String>),
}

impl Readiness {
    /// Whether this is [`Readiness::Ready`].
    pub fn is_ready(&self) -> bool {
        matches!(self, Readiness::Ready)
    }

    /// The readiness of a job with `status` and `conditions`.
    pub(crate) fn of(status: JobStatus, conditions: &Conditions) -> Self {
        if matches!(status, JobStatus::Finished | JobStatus::Failed) {
            // No pipeline is left: its nodes' conditions no longer say anything,
            // even while the last actors are still being dropped (which is when
            // their conditions are forgotten, a moment after the job ends).
            return Readiness::NotReady(vec![status.as_str().to_string()]);
        }
        let mut reasons = Vec::new();
        if status != JobStatus::Running {
            reasons.push(status.as_str().to_string());
        }
        reasons.extend(conditions.reasons());
        if reasons.is_empty() {
            Readiness::Ready
        } else {
            Readiness::NotReady(reasons)
        }
    }
}

/// One condition: shared by the handles of the node that reports it, and known
/// to its job's [`Conditions`] only weakly (it goes away with the node).
struct ConditionSlot {
    node: Arc<str>,
    name: String,
    reason: Mutex<Option<String>>,
}

impl ConditionSlot {
    fn reason(&self) -> Option<String> {
        self.reason.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A named condition a node sets while it cannot do its work, with the reason,
/// and clears when it can again: while it is set, the job is not ready
/// (`/readyz` answers 503 with `<node>: <reason>`, `tidemill.job.ready` is 0,
/// `tidemill.node.not_ready` is 1 for it).
///
/// Get one from [`NodeMetrics::readiness_condition`](super::NodeMetrics::readiness_condition)
/// (once, in the factory; clones share it). When every clone is dropped (the
/// pipeline is gone: restarted, finished), the job forgets the condition, set
/// or not, so that a node of a dead pipeline never keeps the job unready.
///
/// ```
/// use tidemill_runtime::NodeContext;
/// let ctx = NodeContext::for_tests("orders");
/// let brokers = ctx.metrics.readiness_condition("brokers");
/// brokers.set("waiting for kafka brokers 10.0.0.1:9092");
/// assert_eq!(brokers.reason().as_deref(), Some("waiting for kafka brokers 10.0.0.1:9092"));
/// brokers.clear();
/// assert_eq!(brokers.reason(), None);
/// ```
#[derive(Clone)]
pub struct ReadinessCondition {
    slot: Arc<ConditionSlot>,
}

impl fmt::Debug for ReadinessCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadinessCondition")
            .field("node", &self.slot.node)
            .field("name", &self.slot.name)
            .field("reason", &self.slot.reason())
            .finish()
    }
}

impl ReadinessCondition {
    /// A condition no job knows of (a detached context's).
    pub(crate) fn detached(node: &Arc<str>, name: &str) -> Self {
        ReadinessCondition {
            slot: Arc::new(ConditionSlot { node: node.clone(), name: name.to_string(), reason: Mutex::new(None) }),
        }
    }

    /// The job is not ready because of `reason` (replacing an earlier reason).
    pub fn set(&self, reason: impl Into<String>) {
        *self.slot.reason.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason.into());
    }

    /// This condition no longer holds the job back.
    pub fn clear(&self) {
        *self.slot.reason.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// The reason, while the condition is set.
    pub fn reason(&self) -> Option<String> {
        self.slot.reason()
    }

    /// The condition's name (the `tidemill.condition` attribute).
    pub fn name(&self) -> &str {
        &self.slot.name
    }
}

/// One condition as collected.
#[derive(Clone, Debug)]
pub(crate) struct ConditionState {
    pub(crate) node: Arc<str>,
    pub(crate) name: String,
    pub(crate) reason: Option<String>,
}

/// The conditions of one job's nodes.
#[derive(Default)]
pub(crate) struct Conditions(Mutex<Vec<Weak<ConditionSlot>>>);

impl Conditions {
    /// A new condition of `node`, not set.
    pub(crate) fn register(&self, node: &Arc<str>, name: &str) -> ReadinessCondition {
        let condition = ReadinessCondition::detached(node, name);
        let mut slots = self.0.lock().unwrap_or_else(|p| p.into_inner());
        // Forget the conditions of nodes that are gone.
        slots.retain(|s| s.strong_count() > 0);
        slots.push(Arc::downgrade(&condition.slot));
        condition
    }

    /// Every live condition, set or not, ordered by node and name.
    pub(crate) fn states(&self) -> Vec<ConditionState> {
        let slots = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let mut states: Vec<ConditionState> = slots
            .iter()
            .filter_map(Weak::upgrade)
            .map(|s| ConditionState { node: s.node.clone(), name: s.name.clone(), reason: s.reason() })
            .collect();
        states.sort_by(|a, b| (&a.node, &a.name).cmp(&(&b.node, &b.name)));
        states
    }

    /// `<node>: <reason>` of every condition set. The same reason of several
    /// shards (or several pipelines for a moment after a restart) is listed once.
    pub(crate) fn reasons(&self) -> Vec<String> {
        let mut reasons: Vec<String> =
            self.states().into_iter().filter_map(|s| Some(format!("{}: {}", s.node, s.reason?))).collect();
        reasons.sort();
        reasons.dedup();
        reasons
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_condition_makes_a_running_job_not_ready_until_cleared_or_dropped() {
        let conditions = Conditions::default();
        assert_eq!(Readiness::of(JobStatus::Running, &conditions), Readiness::Ready);
        let node: Arc<str> = Arc::from("kafka");
        let brokers = conditions.register(&node, "brokers");
        assert!(Readiness::of(JobStatus::Running, &conditions).is_ready(), "registered, not set");
        brokers.set("waiting for kafka brokers b:9092");
        let twin = conditions.register(&node, "brokers");
        twin.set("waiting for kafka brokers b:9092");
        assert_eq!(
            Readiness::of(JobStatus::Running, &conditions),
            Readiness::NotReady(vec!["kafka: waiting for kafka brokers b:9092".into()]),
            "one line for the same reason twice"
        );
        assert_eq!(
            Readiness::of(JobStatus::Restarting, &conditions),
            Readiness::NotReady(vec!["restarting".into(), "kafka: waiting for kafka brokers b:9092".into()])
        );
        drop(twin);
        brokers.clear();
        assert_eq!(Readiness::of(JobStatus::Running, &conditions), Readiness::Ready);
        brokers.set("again");
        assert!(!Readiness::of(JobStatus::Running, &conditions).is_ready());
        drop(brokers);
        assert_eq!(Readiness::of(JobStatus::Running, &conditions), Readiness::Ready, "gone with its node");
        assert!(conditions.states().is_empty());
        assert_eq!(Readiness::of(JobStatus::Starting, &conditions), Readiness::NotReady(vec!["starting".into()]));
    }

    #[test]
    fn an_ended_job_reports_only_its_end_even_before_its_nodes_are_dropped() {
        let conditions = Conditions::default();
        let lingering = conditions.register(&Arc::from("feed"), "upstream");
        lingering.set("still waiting");
        for (status, name) in [(JobStatus::Finished, "finished"), (JobStatus::Failed, "failed")] {
            assert_eq!(Readiness::of(status, &conditions), Readiness::NotReady(vec![name.into()]));
        }
        assert_eq!(
            Readiness::of(JobStatus::Stopping, &conditions),
            Readiness::NotReady(vec!["stopping".into(), "feed: still waiting".into()]),
            "a stopping job still has its pipeline"
        );
    }
}
