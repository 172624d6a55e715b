//! The client context of a [`GroupMember`](super::GroupMember): rebalance events
//! go to the task runner; a revocation waits until the runner has checkpointed and
//! stopped the revoked tasks, so that the next owner starts where they ended.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender};
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::TopicPartitionList;
use tokio::sync::mpsc::UnboundedSender;

use super::config::GroupConfig;

/// What the group told this process.
#[derive(Debug)]
pub(crate) enum GroupEvent {
    /// These partitions are now this process's (incrementally, with cooperative
    /// rebalancing).
    Assigned(Vec<i32>),
    /// These partitions are taken away. `lost`: the membership expired (another
    /// process may own them already), so nothing may be committed for them. The
    /// runner answers on `done` once their tasks stopped.
    Revoked {
        /// The partitions.
        partitions: Vec<i32>,
        /// Whether the assignment was lost rather than handed over.
        lost: bool,
        /// Answered when the tasks are stopped.
        done: SyncSender<()>,
    },
}

/// Client context of the group member.
pub(crate) struct GroupContext {
    group: String,
    topic: String,
    events: UnboundedSender<GroupEvent>,
    revoke_timeout: Duration,
    /// Set when the member leaves: the last revocation is not forwarded.
    closing: AtomicBool,
}

impl GroupContext {
    pub(crate) fn new(config: &GroupConfig, events: UnboundedSender<GroupEvent>) -> Self {
        GroupContext {
            group: config.group_id.clone(),
            topic: config.topic.clone(),
            events,
            revoke_timeout: config.revoke_timeout,
            closing: AtomicBool::new(false),
        }
    }

    pub(crate) fn group(&self) -> &str {
        &self.group
    }

    pub(crate) fn close(&self) {
        self.closing.store(true, Ordering::Release);
    }

    fn partitions(&self, tpl: &TopicPartitionList) -> Vec<i32> {
        let mut partitions: Vec<i32> =
            tpl.elements().iter().filter(|e| e.topic() == self.topic).map(|e| e.partition()).collect();
        partitions.sort_unstable();
        partitions
    }
}

impl ClientContext for GroupContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        let group = &*self.group;
        match level {
            RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical | RDKafkaLogLevel::Error => {
                tracing::error!(group, facility = fac, "librdkafka: {message}")
            }
            RDKafkaLogLevel::Warning => tracing::warn!(group, facility = fac, "librdkafka: {message}"),
            _ => tracing::debug!(group, facility = fac, "librdkafka: {message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(group = &*self.group, "kafka group client error: {error}: {reason}");
    }
}

impl ConsumerContext for GroupContext {
    /// A revocation blocks this callback (and so the rebalance) until the revoked
    /// tasks took their last checkpoint and committed it, at most `revoke_timeout`:
    /// the partitions then move with nothing left to replay.
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let tpl = match rebalance {
            Rebalance::Revoke(tpl) => tpl,
            Rebalance::Error(e) => {
                tracing::warn!(group = &*self.group, "rebalance error: {e}");
                return;
            }
            Rebalance::Assign(_) => return,
        };
        let partitions = self.partitions(tpl);
        if partitions.is_empty() || self.closing.load(Ordering::Acquire) {
            return;
        }
        let lost = consumer.assignment_lost();
        tracing::info!(group = &*self.group, ?partitions, lost, "partitions revoked");
        let (done, answered) = sync_channel(1);
        if self.events.send(GroupEvent::Revoked { partitions: partitions.clone(), lost, done }).is_err() {
            return;
        }
        match answered.recv_timeout(self.revoke_timeout) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => {}
            Err(RecvTimeoutError::Timeout) => tracing::warn!(
                group = &*self.group,
                ?partitions,
                timeout_ms = self.revoke_timeout.as_millis() as u64,
                "revoked tasks did not stop in time; handing the partitions over anyway (the next owner replays from their last checkpoint)"
            ),
        }
    }

    /// New partitions are paused in the member at once (their tasks read them) and
    /// handed to the runner.
    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Assign(tpl) = rebalance else { return };
        let partitions = self.partitions(tpl);
        if !partitions.is_empty() {
            if let Err(e) = consumer.pause(tpl) {
                tracing::warn!(group = &*self.group, "cannot pause the member's partitions: {e}");
            }
            tracing::info!(group = &*self.group, ?partitions, "partitions assigned");
        }
        // Sent also when empty: the runner learns that the group answered.
        let _ = self.events.send(GroupEvent::Assigned(partitions));
    }

    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        match result {
            Ok(()) => tracing::debug!(group = &*self.group, ?offsets, "offsets committed"),
            // For lag tooling only: the truth is each task's checkpoint.
            Err(e) => tracing::warn!(group = &*self.group, ?offsets, "offset commit failed: {e}"),
        }
    }
}
