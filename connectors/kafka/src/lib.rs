//! Kafka: [`KafkaSource`] reads one partition of a topic per source actor;
//! [`KafkaSink`] writes a topic in Kafka transactions, exactly once.
//!
//! ```no_run
//! # use std::time::Duration;
//! # use tidemill_kafka::{partition_count, KafkaSource, KafkaSourceConfig};
//! # use tidemill_runtime::Job;
//! # fn build() -> Result<(), Box<dyn std::error::Error>> {
//! let config = KafkaSourceConfig::new("127.0.0.1:9092", "orders");
//! let partitions = partition_count(&config.brokers, &config.topic, Duration::from_secs(10))?;
//! let job = Job::builder("order-aggregates");
//! let raw = job.source("orders", partitions, move |ctx| KafkaSource::new(config.clone(), ctx));
//! # let _ = raw; Ok(()) }
//! ```
//!
//! The partitions of a source node in one process share a few `BaseConsumer`s
//! (one per CPU by default), each partition reading its own queue split off its
//! consumer. Within one job, partitions are assigned explicitly (no `subscribe`),
//! and the consumer group (the job's name unless `group_id` says otherwise)
//! receives the checkpointed offsets, for lag tooling. Scale-out across processes
//! (`docs/design-decisions.md`, decision 5) is [`PartitionTasks`]: each process joins the group with
//! cooperative rebalancing and runs one task (a job over one partition, with its
//! own checkpoints) per partition it is assigned.
//!
//! Backpressure: a source whose downstream stays full is paused by the runtime;
//! it pauses its partition in the consumer and resumes it when there is room.
//! librdkafka's prefetch queue (`queued.max.messages.kbytes`, 16 MB per
//! partition here) bounds what is buffered meanwhile.
//!
//! [`KafkaSink`] writes a stream to a topic exactly once (see docs/kafka-sink.md).
//!
//! [`rdkafka`] is re-exported so that jobs and tools use the same client version.

mod brokers;
mod config;
mod consumer;
mod context;
mod group;
mod labels;
mod metadata;
mod position;
pub mod properties;
mod reach;
mod record;
pub mod repartition;
mod sink;
mod source;

pub use config::{EndOffsets, InvalidTopic, KafkaSourceConfig, KafkaSourceConfigError, StartOffsets};
pub use group::{
    GroupConfig, GroupConfigError, GroupError, GroupHandle, GroupSummary, MembershipError, PartitionTasks,
};
pub use labels::{kafka_partition_labels, KAFKA_SOURCE_KIND};
pub use metadata::{partition_count, ProbeError};
pub use position::DataLoss;
pub use properties::ClientProperties;
pub use reach::{topic_partition_count, TopicMetadataError};
pub use record::KafkaRecord;
pub use sink::{
    KafkaSink, KafkaSinkConfig, KafkaSinkConfigError, KafkaSinkError, KafkaSinkIds, MarkerError, OutgoingRecord,
    RecordEncoder, StagedError, StagedMismatch, KAFKA_STAGED_FORMAT,
};
pub use source::{KafkaSource, KafkaSourceError};

pub use rdkafka;
