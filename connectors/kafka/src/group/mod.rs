//! Scale-out through a Kafka consumer group: every process of a job joins the
//! job's group and runs one task per partition it is assigned
//! ([`PartitionTasks`]); partitions move between processes with cooperative
//! rebalancing, and a task's state moves with its partition through the shared
//! checkpoint store.
//!
//! ```no_run
//! # use tidemill_kafka::{GroupConfig, GroupHandle, KafkaSource, KafkaSourceConfig, PartitionTasks};
//! # use tidemill_runtime::{checkpoint::LocalCheckpointStore, Job};
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let group = GroupConfig::new("127.0.0.1:9092", "orders", "order-aggregates");
//! let tasks = PartitionTasks::new(group, |partition, member: &GroupHandle| {
//!     // Offsets are committed to the group through this process's member.
//!     let mut config = KafkaSourceConfig::new("127.0.0.1:9092", "orders").in_group(member.clone());
//!     config.partitions = Some(vec![partition]);
//!     let job = Job::builder(&format!("order-aggregates.p{partition}"))
//!         .checkpoint_store(LocalCheckpointStore::new(format!("/shared/checkpoints/p{partition}")));
//!     let raw = job.source("orders", 1, move |ctx| KafkaSource::new(config.clone(), ctx));
//!     // ... the job's operators and sinks on `raw` ...
//!     # let _ = raw;
//!     job.build()
//! });
//! let summary = tasks.run(async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # let _ = summary; Ok(()) }
//! ```

mod config;
mod context;
mod handle;
mod member;
mod scaling;
mod tasks;

pub use config::{GroupConfig, GroupConfigError};
pub use handle::GroupHandle;
pub use member::MembershipError;
pub use tasks::{GroupError, GroupSummary, PartitionTasks};
