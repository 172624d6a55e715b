//! The scaling signal as Prometheus families on a hub's `/metrics`.

use std::collections::BTreeMap;

use super::ScalingStatus;
use crate::metrics::prometheus::{Family, Kind, Number, Sample};

/// The consumer-group label of the scaling series (the one the Kafka lag series use).
const GROUP_LABEL: &str = "messaging_consumer_group_name";

/// One gauge family per figure, one series per consumer group.
pub(crate) fn families(statuses: &BTreeMap<String, ScalingStatus>) -> Vec<Family> {
    if statuses.is_empty() {
        return Vec::new();
    }
    type Figure = fn(&ScalingStatus) -> Option<Number>;
    let figures: [(&str, &str, Figure); 7] = [
        ("tidemill_desired_processes", "processes the job needs (never above the partition count)", |s| {
            Some(Number::U64(u64::from(s.desired)))
        }),
        ("tidemill_group_members", "members of the consumer group", |s| Some(Number::U64(u64::from(s.members)))),
        ("tidemill_group_input_rate", "records/s the producers wrote into the topic, over the window", |s| {
            Some(Number::F64(s.input_rate))
        }),
        ("tidemill_group_lag", "the group's committed lag, records", |s| Some(Number::U64(s.lag))),
        ("tidemill_process_capacity", "records/s one process can read, estimated here", |s| {
            s.capacity.map(Number::F64)
        }),
        ("tidemill_process_busy_ratio", "busy share over the window: sources not waiting for input, or CPU", |s| {
            s.busy.map(Number::F64)
        }),
        ("tidemill_process_cpu_ratio", "CPU time over wall time and cores, over the window", |s| {
            s.cpu.map(Number::F64)
        }),
    ];
    figures
        .iter()
        .map(|(name, help, figure)| Family {
            name: (*name).to_string(),
            help: (*help).to_string(),
            kind: Kind::Gauge,
            samples: statuses
                .iter()
                .filter_map(|(group, s)| {
                    figure(s).map(|value| Sample::Value { labels: vec![(GROUP_LABEL.into(), group.clone())], value })
                })
                .collect(),
        })
        .collect()
}
