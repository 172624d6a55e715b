//! The order job scaled out through its Kafka consumer group: every process runs
//! one task per partition it is assigned (see `PartitionTasks` and
//! docs/scale-out.md).
//!
//! A task is the whole order job over one partition, named
//! `order-aggregates.p<partition>`: its checkpoints are under
//! `<checkpoint dir>/p<partition>` (a folder every process of the job must see),
//! and its Delta commits carry the transaction id
//! `tidemill-order-aggregates.p<partition>-<sink>[-<shard>]`, so every (sink,
//! source partition) has its own version sequence, continued by whichever
//! process owns the partition.
//!
//! Exact only when the topic is keyed so that one user's orders share a
//! partition (`order-producer --key user-id`): windows count per `user_id`
//! inside one task.

use std::time::Duration;

use tidemill_delta::TableLocation;
use tidemill_kafka::{GroupConfig, GroupHandle, KafkaSourceConfig};
use tidemill_runtime::metrics::MetricsAddr;
use tidemill_runtime::Job;

use super::{build_named, OrderInput, OrderJobError, OrderJobSettings, JOB_NAME};

/// How the processes of the job meet in the consumer group.
#[derive(Clone, Debug)]
pub struct GroupOptions {
    /// The consumer group (default: the job's name).
    pub group_id: Option<String>,
    /// How long the group waits for a silent (killed) process.
    pub session_timeout: Duration,
    /// The input topic's partitions when the process started. A task whose state
    /// is partitioned like the topic refuses a partition beyond them (the topic
    /// grew: keys moved); `None` does not check.
    pub input_partitions: Option<u32>,
}

impl GroupOptions {
    /// The group member's configuration for the job reading `source`.
    pub fn group_config(&self, source: &KafkaSourceConfig) -> GroupConfig {
        let mut config = GroupConfig::new(&source.brokers, &source.topic, self.group_id());
        config.session_timeout = self.session_timeout;
        // The member reaches the same (maybe secured) cluster as the sources.
        config.properties = source.properties.clone();
        config
    }

    /// The consumer group id.
    pub fn group_id(&self) -> String {
        self.group_id.clone().unwrap_or_else(|| JOB_NAME.to_string())
    }
}

/// Where one task of a group-scaled job runs: its partition, the group member
/// it commits offsets through (this process's member), and the job's output and
/// settings.
#[derive(Clone, Copy, Debug)]
pub struct TaskPlace<'a> {
    /// The partition the task reads.
    pub partition: i32,
    /// This process's member of the task's consumer group.
    pub member: &'a GroupHandle,
    /// Where the tables go.
    pub output: &'a TableLocation,
    /// The job's settings (each task checkpoints in a folder of its own).
    pub settings: &'a OrderJobSettings,
}

impl TaskPlace<'_> {
    /// `config` reading only this task's partition, committing through its member.
    pub(crate) fn source(&self, config: &KafkaSourceConfig) -> KafkaSourceConfig {
        let mut config = config.clone().in_group(self.member.clone());
        config.partitions = Some(vec![self.partition]);
        config
    }

    /// The task's name, `order-aggregates.<stage><partition>`, and its settings:
    /// checkpoints under `<checkpoint dir>/<stage><partition>`.
    pub(crate) fn named(&self, stage: char) -> Result<(String, OrderJobSettings), OrderJobError> {
        let folder = format!("{stage}{}", self.partition);
        Ok((format!("{JOB_NAME}.{folder}"), task_settings(self.settings, &folder)?))
    }
}

/// Builds the task at `place`: the order job reading only its partition of
/// `source` (after the [`KeyedByUser`](super::KeyedByUser) check), named
/// `order-aggregates.p<partition>`, checkpointing under
/// `<checkpoint_dir>/p<partition>`, with no metrics endpoint of its own (the
/// tasks of a process would compete for its address). A partition beyond
/// `group.input_partitions` is refused ([`OrderJobError::InputTopicGrew`]).
pub fn build_task(
    source: &KafkaSourceConfig,
    group: &GroupOptions,
    place: TaskPlace<'_>,
) -> Result<Job, OrderJobError> {
    debug_assert_eq!(place.member.group_id(), group.group_id());
    if let Some(partitions) = group.input_partitions.filter(|n| i64::from(place.partition) >= i64::from(*n)) {
        return Err(OrderJobError::InputTopicGrew { partition: place.partition, partitions });
    }
    let (name, task) = place.named('p')?;
    let input = OrderInput::Kafka(place.source(source));
    build_named(&name, &input, place.output, &task, true, Default::default())
}

/// The settings of one task: checkpoints in the folder `folder` under the job's
/// checkpoint location, no metrics endpoint of its own (the tasks of a process
/// would compete for its address; the process serves theirs).
pub(crate) fn task_settings(settings: &OrderJobSettings, folder: &str) -> Result<OrderJobSettings, OrderJobError> {
    let Some(dir) = &settings.checkpoint_dir else {
        return Err(OrderJobError::GroupNeedsCheckpointDir);
    };
    let mut task = settings.clone();
    task.checkpoint_dir = Some(dir.join(folder));
    task.metrics.addr = MetricsAddr::OFF;
    Ok(task)
}
