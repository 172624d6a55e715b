//! Kafka: [`KafkaSource`] reads one partition of a topic per source actor.
//!
//! ```no_run
//! # use std::time::Duration;
//! # use tidemill_operators::kafka::{partition_count, KafkaSource, KafkaSourceConfig};
//! # use tidemill_runtime::Job;
//! # fn build() -> Result<(), Box<dyn std::error::Error>> {
//! let config = KafkaSourceConfig::new("127.0.0.1:9092", "orders");
//! let partitions = partition_count(&config.brokers, &config.topic, Duration::from_secs(10))?;
//! let job = Job::builder("order-aggregates");
//! let raw = job.source("orders", partitions, move |ctx| KafkaSource::new(config.clone(), ctx));
//! # let _ = raw; Ok(()) }
//! ```
//!
//! Each source actor owns one `BaseConsumer` assigned exactly its partition
//! (`assign`, no `subscribe`): there is no group membership and no rebalancing, and
//! the consumer group (the job's name unless `group_id` says otherwise) only
//! receives the checkpointed offsets, for lag tooling. Scale-out across processes
//! by consumer-group assignment comes later (design decision 5).
//!
//! Backpressure: a source that cannot send does not poll; librdkafka stops
//! fetching once its prefetch queue is full (`queued.max.messages.kbytes`, 16 MB
//! per partition by default here). Without group membership there is no
//! `max.poll.interval.ms` eviction to fear.
//!
//! [`rdkafka`] is re-exported so that jobs and tools use the same client version.

mod config;
mod context;
mod metadata;
mod position;
mod record;
mod source;

pub use config::{EndOffsets, KafkaSourceConfig, StartOffsets};
pub use metadata::partition_count;
pub use record::KafkaRecord;
pub use source::KafkaSource;

pub use rdkafka;
