//! [`GroupMember`]: this process's membership in a job's consumer group.
//!
//! The member subscribes to the topic with cooperative rebalancing and learns
//! which partitions this process owns; it never reads records itself (every
//! partition it is given is paused at once). Each owned partition is run as a
//! *task* by [`PartitionTasks`](super::PartitionTasks), whose Kafka source reads
//! the partition through a consumer of its own. The member is also the one client
//! allowed to commit offsets to the group (the broker refuses commits from
//! non-members while the group has members), so task sources commit through it:
//! each task's build function gets a [`GroupHandle`](super::GroupHandle) to it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::config::FromClientConfigAndContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::{Offset as KafkaOffset, TopicPartitionList};
use tokio::sync::mpsc;

use super::config::{GroupConfig, GroupConfigError};
use super::context::{GroupContext, GroupEvent};

/// How long the driver waits on the main queue per round.
const DRIVER_POLL: Duration = Duration::from_millis(100);
/// The longest the driver waits for its revocation to be served when leaving.
const LEAVE_WAIT: Duration = Duration::from_secs(5);

/// Why this process could not join the consumer group.
#[derive(Debug, thiserror::Error)]
pub enum MembershipError {
    /// The group settings are invalid.
    #[error("invalid group settings")]
    Config(#[from] GroupConfigError),
    /// librdkafka refused the member's configuration.
    #[error("cannot create the group consumer")]
    CreateConsumer(#[source] KafkaError),
    /// The subscription to the topic failed.
    #[error("cannot subscribe to {topic}")]
    Subscribe {
        /// The topic.
        topic: String,
        /// Why.
        #[source]
        source: KafkaError,
    },
    /// The thread that serves the member cannot be started.
    #[error("cannot start the group thread")]
    Thread(#[source] std::io::Error),
}

/// This process's member of a consumer group, and the thread serving it.
pub struct GroupMember {
    consumer: Arc<BaseConsumer<GroupContext>>,
    group: String,
    stop: Arc<AtomicBool>,
    driver: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for GroupMember {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupMember").field("group", &self.group).finish_non_exhaustive()
    }
}

impl GroupMember {
    /// Joins `config.group_id`, subscribed to `config.topic`; rebalance events go to
    /// the returned receiver. The driver thread polls the consumer from now on, so
    /// heartbeats and rebalances are served whatever the tasks do.
    pub(crate) fn join(
        config: &GroupConfig,
    ) -> Result<(Arc<Self>, mpsc::UnboundedReceiver<GroupEvent>), MembershipError> {
        config.validate()?;
        let (events, receiver) = mpsc::unbounded_channel();
        let context = GroupContext::new(config, events);
        let consumer =
            BaseConsumer::from_config_and_context(&config.client_config().map_err(GroupConfigError::from)?, context)
                .map_err(MembershipError::CreateConsumer)?;
        consumer
            .subscribe(&[&config.topic])
            .map_err(|source| MembershipError::Subscribe { topic: config.topic.clone(), source })?;
        let consumer = Arc::new(consumer);
        let stop = Arc::new(AtomicBool::new(false));
        let driver = {
            let (consumer, stop) = (consumer.clone(), stop.clone());
            std::thread::Builder::new()
                .name(format!("kafka-group-{}", config.group_id))
                .spawn(move || drive(consumer, &stop))
                .map_err(MembershipError::Thread)?
        };
        let member =
            Arc::new(GroupMember { consumer, group: config.group_id.clone(), stop, driver: Mutex::new(Some(driver)) });
        Ok((member, receiver))
    }

    /// The member's consumer (for reads of the group's offsets and members).
    pub(crate) fn consumer(&self) -> &BaseConsumer<GroupContext> {
        &self.consumer
    }

    /// The consumer group's id.
    pub(crate) fn group(&self) -> &str {
        &self.group
    }

    /// Commits `offset` of `topic`/`partition` to the group, asynchronously (the
    /// result is logged by the client context).
    pub(crate) fn commit(&self, topic: &str, partition: i32, offset: i64) -> KafkaResult<()> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, partition, KafkaOffset::Offset(offset))?;
        self.consumer.commit(&tpl, CommitMode::Async)
    }

    /// Leaves the group: the driver thread closes the consumer (serving the last
    /// revocation, which the closing context no longer forwards) and ends. Waits
    /// for that, on a blocking thread.
    pub(crate) async fn leave(&self) {
        self.consumer.context().close();
        self.stop.store(true, Ordering::Release);
        let driver = self.driver.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(driver) = driver {
            let _ = tokio::task::spawn_blocking(move || driver.join()).await;
        }
    }
}

impl Drop for GroupMember {
    fn drop(&mut self) {
        self.consumer.context().close();
        self.stop.store(true, Ordering::Release);
    }
}

/// Polls the member's queue (heartbeats run on librdkafka's own threads; polling
/// serves rebalances, commits results and errors) until told to stop, then leaves
/// the group by unsubscribing and dropping the consumer.
fn drive(consumer: Arc<BaseConsumer<GroupContext>>, stop: &AtomicBool) {
    while !stop.load(Ordering::Acquire) {
        match consumer.poll(DRIVER_POLL) {
            None => {}
            // Partitions are paused as soon as they are assigned, but a fetch
            // already under way may still deliver: the task reads the same records
            // through its own consumer, so these are dropped, not lost.
            Some(Ok(_)) => {}
            Some(Err(e)) => tracing::warn!(group = consumer.context().group(), "kafka group consumer error: {e}"),
        }
    }
    // Leave now instead of after the session timeout: unsubscribing revokes the
    // assignment (served by polling) and sends the group a leave request.
    consumer.unsubscribe();
    let deadline = std::time::Instant::now() + LEAVE_WAIT;
    while std::time::Instant::now() < deadline && consumer.assignment().is_ok_and(|a| a.count() > 0) {
        let _ = consumer.poll(DRIVER_POLL);
    }
}
