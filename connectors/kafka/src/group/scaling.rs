//! The scaling signal of one consumer group, computed in every process: the
//! group's figures read from the broker, this process's source activity from its
//! tasks' metrics, the rule from
//! [`ScalingSignal`](tidemill_runtime::metrics::ScalingSignal).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaResult;
use rdkafka::{Offset as KafkaOffset, TopicPartitionList};
use tidemill_runtime::metrics::{
    ActivityMeter, GroupReading, MetricsHub, ScalingConfig, ScalingReading, ScalingSignal,
};

use super::member::GroupMember;
use crate::metadata::topic_partitions;

/// The longest one reading of the group may take.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The jobs (partition tasks) of one [`PartitionTasks`](super::PartitionTasks),
/// by name: the hub may also serve another group's tasks.
pub(crate) type OwnJobs = Arc<Mutex<BTreeSet<String>>>;

/// Computes the signal every `config.sample_interval` and serves it through
/// `hub`, logging each change, until aborted.
pub(crate) async fn run(member: Arc<GroupMember>, topic: String, config: ScalingConfig, hub: MetricsHub, own: OwnJobs) {
    let group = member.group().to_string();
    let mut signal = ScalingSignal::new(config.clone());
    let mut meter = ActivityMeter::default();
    let mut every = tokio::time::interval(config.sample_interval);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let read = {
            let (member, topic) = (member.clone(), topic.clone());
            tokio::task::spawn_blocking(move || read_group(&member, &topic, READ_TIMEOUT)).await
        };
        let group_reading = match read {
            Ok(Ok(reading)) => reading,
            Ok(Err(e)) => {
                tracing::debug!(group, error = %e, "cannot read the group for the scaling signal");
                continue;
            }
            Err(_) => return,
        };
        let at = Instant::now();
        let jobs = own.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let activity = hub.source_activity().into_iter().filter(|(job, _)| jobs.contains(job));
        let process = meter.observe(at, activity);
        if let Some(change) = signal.observe(ScalingReading { at, group: group_reading, process }) {
            let s = &change.status;
            tracing::info!(
                target: "tidemill::progress",
                group,
                from = change.from,
                to = change.to,
                members = s.members,
                partitions = s.partitions,
                input_rps = s.input_rate.round() as u64,
                lag = s.lag,
                capacity_rps = s.capacity.map(|c| c.round() as u64),
                busy = s.busy.map(|b| format!("{b:.2}")),
                cpu = s.cpu.map(|c| format!("{c:.2}")),
                "desired processes changed"
            );
        }
        if let Some(status) = signal.status() {
            hub.set_scaling(&group, status.clone());
        }
    }
}

/// The group's figures: partitions, members, log-end offsets and committed lag.
/// Blocks for up to a few `timeout`s.
fn read_group(member: &GroupMember, topic: &str, timeout: Duration) -> KafkaResult<GroupReading> {
    let consumer = member.consumer();
    let partitions = topic_partitions(consumer.client(), topic, timeout)? as i32;
    let mut all = TopicPartitionList::new();
    for p in 0..partitions {
        all.add_partition_offset(topic, p, KafkaOffset::End)?;
    }
    // A timestamp of -1 (`End`) asks for the log-end offsets, one request per leader.
    let ends = consumer.offsets_for_times(all.clone(), timeout)?;
    let committed = consumer.committed_offsets(all, timeout)?;
    let offset = |list: &TopicPartitionList, p: i32| match list.find_partition(topic, p).map(|e| e.offset()) {
        Some(KafkaOffset::Offset(o)) => Some(o.max(0) as u64),
        _ => None,
    };
    let (mut log_end, mut lag) = (0u64, 0u64);
    for p in 0..partitions {
        let end = offset(&ends, p).unwrap_or(0);
        log_end += end;
        // Nothing committed yet: the whole partition is behind.
        lag += end.saturating_sub(offset(&committed, p).unwrap_or(0));
    }
    let groups = consumer.fetch_group_list(Some(member.group()), timeout)?;
    let members = groups.groups().first().map_or(0, |g| g.members().len()) as u32;
    Ok(GroupReading { partitions: partitions as u32, members, log_end, lag })
}
