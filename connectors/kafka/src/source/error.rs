//! [`KafkaSourceError`]: why a Kafka source cannot read its partition, the cause
//! inside the [`SourceError`](tidemill_runtime::SourceError) it returns.

use rdkafka::error::KafkaError;

use crate::config::KafkaSourceConfigError;
use crate::metadata::ProbeError;
use crate::position::DataLoss;

/// What went wrong in a [`KafkaSource`](super::KafkaSource).
#[derive(Debug, thiserror::Error)]
pub enum KafkaSourceError {
    /// The configuration is invalid.
    #[error("invalid configuration")]
    Config(#[source] KafkaSourceConfigError),
    /// The source has more shards than its `partitions` list.
    #[error("source shard {shard} has no partition: the source lists {listed} partition(s)")]
    ShardNotListed {
        /// The shard.
        shard: usize,
        /// How many partitions the source lists.
        listed: usize,
    },
    /// The shard number is not a Kafka partition number.
    #[error("source shard {0}: partition number too large")]
    ShardTooLarge(usize),
    /// librdkafka refused the consumer's configuration.
    #[error("cannot create the consumer")]
    CreateConsumer(#[source] KafkaError),
    /// The thread that serves the consumer's main queue cannot be started.
    #[error("cannot start the consumer thread")]
    ConsumerThread(#[source] std::io::Error),
    /// librdkafka gave no queue for the partition.
    #[error("cannot split off the partition's queue")]
    NoPartitionQueue,
    /// The brokers say the topic or partition does not exist.
    #[error("not found (brokers {brokers})")]
    NotFound {
        /// The configured brokers.
        brokers: String,
        /// What the brokers said.
        #[source]
        source: ProbeError,
    },
    /// The partition's metadata or watermarks cannot be read.
    #[error("cannot probe the partition")]
    Probe(#[source] ProbeError),
    /// The topic or partition disappeared while the source read it, and
    /// `fail_on_data_loss` is set.
    #[error("data loss: the topic or partition was deleted")]
    Deleted(#[source] ProbeError),
    /// Records the source had not read are gone, and `fail_on_data_loss` is set.
    #[error("data loss: {lost}; set fail_on_data_loss = false to go on from the earliest offset")]
    DataLoss {
        /// What was lost.
        lost: DataLoss,
    },
    /// The position is not a Kafka offset.
    #[error("offset {0} out of range")]
    OffsetOutOfRange(u64),
    /// The consumer refused the assignment.
    #[error("cannot assign the partition")]
    Assign(#[source] KafkaError),
    /// The consumer failed fatally.
    #[error("fatal error")]
    Fatal(#[source] KafkaError),
    /// The client reported a fatal error on its main queue.
    #[error("fatal error: {reason}")]
    FatalClient {
        /// librdkafka's description (its error callback gives no error value).
        reason: String,
    },
    /// A checkpoint of another topic or partition was restored into this source.
    #[error(
        "checkpoint is of topic {found_topic} partition {found_partition}, not topic {topic} partition {partition}"
    )]
    OtherPartition {
        /// The checkpoint's topic.
        found_topic: String,
        /// The checkpoint's partition.
        found_partition: i32,
        /// This source's topic.
        topic: String,
        /// This source's partition.
        partition: i32,
    },
}
