//! The commit marker: the newest epoch a sink shard committed, kept as the
//! committed offset of a dedicated consumer group and written *inside* the epoch's
//! transaction (`send_offsets_to_transaction`), so it becomes visible atomically
//! with the epoch's records.
//!
//! The group (`<transactional id>-commits`) never has members: the consumer here
//! never subscribes, so its group metadata has generation -1 and no member id, which
//! the broker accepts for a transactional offset commit to a group without members
//! (checked against Kafka 4.4; see `docs/kafka-sink.md`). The offset stored for
//! partition 0 of the output topic is the epoch number; its metadata string says
//! what it is, for people who find the group in their tooling.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::config::FromClientConfigAndContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerGroupMetadata};
use rdkafka::{Offset, TopicPartitionList};
use tidemill_runtime::Epoch;

use super::config::{KafkaSinkConfig, KafkaSinkIds};
use super::context::SinkClientContext;
use super::error::{KafkaSinkError, MarkerError};

/// The partition of the output topic the marker offset is stored under.
const MARKER_PARTITION: i32 = 0;

/// Reads the marker and builds the offsets that set it.
pub(crate) struct CommitMarker {
    consumer: Arc<BaseConsumer<SinkClientContext>>,
    group: String,
    topic: String,
    /// The newest committed epoch as last read or written by this instance.
    committed: Option<Epoch>,
}

impl CommitMarker {
    /// A marker consumer for the sink's group (no subscription, no membership).
    pub(crate) fn new(
        config: &KafkaSinkConfig,
        ids: &KafkaSinkIds,
        context: SinkClientContext,
    ) -> Result<Self, KafkaSinkError> {
        let consumer = BaseConsumer::from_config_and_context(
            &config.marker_config(ids).map_err(|e| KafkaSinkError::Config(e.into()))?,
            context,
        )
        .map_err(|source| KafkaSinkError::Client { what: "marker consumer", source })?;
        Ok(CommitMarker {
            consumer: Arc::new(consumer),
            group: ids.marker_group.clone(),
            topic: config.topic.clone(),
            committed: None,
        })
    }

    /// The consumer, for metadata requests (a consumer never creates topics).
    pub(crate) fn consumer_handle(&self) -> Arc<BaseConsumer<SinkClientContext>> {
        self.consumer.clone()
    }

    /// The newest committed epoch, as last read or committed by this instance.
    pub(crate) fn committed(&self) -> Option<Epoch> {
        self.committed
    }

    /// Records that this instance committed `epoch`: nobody else can have committed
    /// since our `init_transactions` (it fenced every older producer), so the cache
    /// stays true without asking the broker again.
    pub(crate) fn set_committed(&mut self, epoch: Epoch) {
        self.committed = Some(self.committed.map_or(epoch, |c| c.max(epoch)));
    }

    /// Reads the marker from the group coordinator. Call it after
    /// `init_transactions`: a transaction of an older producer that was still open
    /// has then been completed or aborted, and (with read_committed) the broker
    /// answers with stable offsets only.
    pub(crate) async fn read(&mut self, timeout: Duration) -> Result<Option<Epoch>, KafkaSinkError> {
        let consumer = self.consumer.clone();
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&self.topic, MARKER_PARTITION);
        let fail = |source: MarkerError| KafkaSinkError::Marker { group: self.group.clone(), source };
        let offsets = tokio::task::spawn_blocking(move || consumer.committed_offsets(tpl, timeout))
            .await
            .map_err(|e| fail(MarkerError::Interrupted(e)))?
            .map_err(|e| fail(e.into()))?;
        let elem = offsets.find_partition(&self.topic, MARKER_PARTITION).ok_or_else(|| fail(MarkerError::NoEntry))?;
        elem.error().map_err(|e| fail(e.into()))?;
        let committed = match elem.offset() {
            Offset::Offset(n) if n > 0 => Some(Epoch::new(n as u64)),
            Offset::Invalid => None,
            other => return Err(fail(MarkerError::UnexpectedOffset(format!("{other:?}")))),
        };
        self.committed = committed;
        Ok(committed)
    }

    /// The offsets that mark `epoch` as committed.
    pub(crate) fn offsets_for(&self, epoch: Epoch, records: u64) -> Result<TopicPartitionList, KafkaSinkError> {
        let fail = |source: MarkerError| KafkaSinkError::Marker { group: self.group.clone(), source };
        let offset = i64::try_from(epoch.get()).map_err(|_| fail(MarkerError::EpochTooLarge(epoch)))?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&self.topic, MARKER_PARTITION, Offset::Offset(offset)).map_err(|e| fail(e.into()))?;
        if let Some(mut elem) = tpl.find_partition(&self.topic, MARKER_PARTITION) {
            elem.set_metadata(format!("tidemill commit marker: epoch {epoch} committed ({records} records)"));
        }
        Ok(tpl)
    }

    /// Marker groups of other runs of this sink shard (groups named
    /// `<prefix>` or `<prefix>@...` other than this run's), from the broker's list
    /// of groups.
    pub(crate) async fn earlier_runs(&self, prefix: &str, timeout: Duration) -> Result<Vec<String>, KafkaSinkError> {
        let consumer = self.consumer.clone();
        let fail = |source: MarkerError| KafkaSinkError::Marker { group: self.group.clone(), source };
        // The group list is not `Send`: only the names leave the blocking task.
        let names = tokio::task::spawn_blocking(move || {
            consumer
                .fetch_group_list(None, timeout)
                .map(|list| list.groups().iter().map(|g| g.name().to_string()).collect::<Vec<_>>())
        })
        .await
        .map_err(|e| fail(MarkerError::Interrupted(e)))?
        .map_err(|e| fail(e.into()))?;
        let ours = &self.group;
        Ok(names
            .into_iter()
            .filter(|name| name != ours && (name == prefix || name.starts_with(&format!("{prefix}@"))))
            .collect())
    }

    /// The group metadata to send the marker with, read afresh for each transaction.
    pub(crate) fn group_metadata(&self) -> Result<ConsumerGroupMetadata, KafkaSinkError> {
        self.consumer
            .group_metadata()
            .ok_or_else(|| KafkaSinkError::Marker { group: self.group.clone(), source: MarkerError::NoGroupMetadata })
    }
}
