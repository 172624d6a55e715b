//! Topic metadata and partition watermarks: blocking calls with a timeout.
//!
//! A broker that does not answer is not an error here (librdkafka keeps retrying):
//! only a topic or partition the brokers say does not exist is.

use std::time::Duration;

use rdkafka::client::{Client, ClientContext};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::ClientConfig;

use super::config::validate_topic;

/// The number of partitions of `topic`, asked of `brokers` within `timeout`.
///
/// Blocks the calling thread for up to `timeout`; a job calls it once, before it
/// builds its graph, to give the source one actor per partition. A topic that does
/// not exist is `Err(KafkaError::MetadataFetch(RDKafkaErrorCode::UnknownTopicOrPartition))`;
/// brokers that do not answer give a timeout or transport error.
pub fn partition_count(brokers: &str, topic: &str, timeout: Duration) -> Result<usize, KafkaError> {
    if validate_topic(topic).is_err() {
        return Err(KafkaError::MetadataFetch(RDKafkaErrorCode::InvalidTopic));
    }
    // No group.id: a plain metadata client (a consumer cannot auto-create topics).
    let consumer: BaseConsumer = ClientConfig::new().set("bootstrap.servers", brokers).create()?;
    topic_partitions(consumer.client(), topic, timeout)
}

/// The partition count of `topic`; `UnknownTopicOrPartition` if the brokers say it
/// does not exist.
pub(crate) fn topic_partitions<C: ClientContext>(
    client: &Client<C>,
    topic: &str,
    timeout: Duration,
) -> Result<usize, KafkaError> {
    let metadata = client.fetch_metadata(Some(topic), timeout)?;
    let Some(t) = metadata.topics().iter().find(|t| t.name() == topic) else {
        return Err(KafkaError::MetadataFetch(RDKafkaErrorCode::UnknownTopicOrPartition));
    };
    if let Some(err) = t.error() {
        return Err(KafkaError::MetadataFetch(err.into()));
    }
    Ok(t.partitions().len())
}

/// Whether an error says the topic or partition does not exist (as opposed to
/// brokers that cannot be reached or are not ready).
pub(crate) fn is_missing(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::UnknownTopicOrPartition
                | RDKafkaErrorCode::UnknownTopic
                | RDKafkaErrorCode::UnknownPartition
                | RDKafkaErrorCode::UnknownTopicId
                | RDKafkaErrorCode::InvalidTopic
        )
    )
}

/// Why a partition could not be probed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The topic does not exist: a configuration error.
    #[error("the topic does not exist")]
    NoTopic(#[source] KafkaError),
    /// The topic has fewer partitions: a configuration error.
    #[error("partition {partition} does not exist: the topic has {count} partition{}", if *count == 1 { "" } else { "s" })]
    NoPartition {
        /// The partition asked for.
        partition: i32,
        /// The topic's partition count.
        count: usize,
    },
    /// The brokers did not answer in time, or the partition has no leader yet.
    #[error("cannot read the partition's metadata")]
    Unavailable(#[source] KafkaError),
    /// The blocking task that probed did not finish (it panicked or was cancelled).
    #[error("the probe did not finish")]
    Interrupted(#[source] tokio::task::JoinError),
    /// The broker's watermarks make no sense.
    #[error("the broker gave invalid watermarks {low}..{high}")]
    BadWatermarks {
        /// The low watermark.
        low: i64,
        /// The high watermark.
        high: i64,
    },
}

impl ProbeError {
    /// Whether the topic or partition does not exist (a configuration error, or a
    /// deletion), as opposed to brokers that cannot answer now.
    pub fn is_missing(&self) -> bool {
        matches!(self, ProbeError::NoTopic(_) | ProbeError::NoPartition { .. })
    }
}

/// The offsets a partition holds: `low..high`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Watermarks {
    /// The oldest offset still in the partition.
    pub(crate) low: u64,
    /// The offset the next record written will get.
    pub(crate) high: u64,
}

/// Checks that `topic` has `partition`.
pub(crate) fn check_partition<C: ClientContext>(
    client: &Client<C>,
    topic: &str,
    partition: i32,
    timeout: Duration,
) -> Result<(), ProbeError> {
    match topic_partitions(client, topic, timeout) {
        Ok(count) if usize::try_from(partition).is_ok_and(|p| p < count) => Ok(()),
        Ok(count) => Err(ProbeError::NoPartition { partition, count }),
        Err(e) if is_missing(&e) => Err(ProbeError::NoTopic(e)),
        Err(e) => Err(ProbeError::Unavailable(e)),
    }
}

/// Checks the partition and reads its watermarks.
pub(crate) fn probe<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    partition: i32,
    timeout: Duration,
) -> Result<Watermarks, ProbeError> {
    check_partition(consumer.client(), topic, partition, timeout)?;
    let (low, high) = match consumer.fetch_watermarks(topic, partition, timeout) {
        Ok(w) => w,
        Err(e) if is_missing(&e) => return Err(ProbeError::NoTopic(e)),
        Err(e) => return Err(ProbeError::Unavailable(e)),
    };
    match (u64::try_from(low), u64::try_from(high)) {
        (Ok(l), Ok(h)) if l <= h => Ok(Watermarks { low: l, high: h }),
        _ => Err(ProbeError::BadWatermarks { low, high }),
    }
}
