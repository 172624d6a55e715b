//! The documents of the JSON API (`/api/v1/...`), built from a job's live
//! values ([`Registry`](crate::metrics::registry::Registry)) and its
//! [`History`](super::History). Counters are totals since the process started
//! (as on `/metrics`); rates are over the last second or more ([`RateWindow`](super::RateWindow)).

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::Serialize;

use super::history::{millis, CheckpointRecord, DeadLetterRecord, RestartRecord};
use super::rates::Totals;
use crate::dead_letter::ReasonCode;
use crate::metrics::JobMetrics;

/// An edge of the job's plan.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct PlanEdge {
    pub(crate) from: String,
    pub(crate) to: String,
    /// Whether it carries dead letters (drawn apart).
    pub(crate) dead_letters: bool,
}

/// `/api/v1/job`, per job.
#[derive(Debug, Serialize)]
pub(crate) struct JobDocument {
    job: String,
    status: &'static str,
    /// When it was read (ms since the Unix epoch): rates are differences over it.
    time_ms: u64,
    nodes: Vec<NodeDocument>,
    edges: Vec<EdgeDocument>,
    restarts: Vec<RestartRecord>,
}

#[derive(Debug, Serialize)]
struct NodeDocument {
    name: String,
    kind: &'static str,
    shards: usize,
    dead_letter_path: bool,
    records_in: u64,
    records_out: u64,
    /// Records per second in and out, over the last second or more (absent on
    /// the first reading).
    rate_in: Option<f64>,
    rate_out: Option<f64>,
    dead_letters: u64,
    /// The node's watermark (the minimum over its shards), RFC 3339.
    watermark: Option<String>,
}

#[derive(Debug, Serialize)]
struct EdgeDocument {
    from: String,
    to: String,
    dead_letters: bool,
    /// Batches queued on the edge now, and how many it holds.
    in_flight: u64,
    capacity: u64,
    /// Total time senders waited for room (backpressure), all shard pairs.
    blocked_seconds: f64,
    /// The share of the last second or more that senders waited (0 to 1).
    blocked_share: Option<f64>,
}

/// `/api/v1/partitions`, per job.
#[derive(Debug, Serialize)]
pub(crate) struct PartitionsDocument {
    job: String,
    time_ms: u64,
    partitions: Vec<PartitionDocument>,
}

#[derive(Debug, Serialize)]
struct PartitionDocument {
    node: String,
    /// The partition's labels (topic, partition, consumer group for Kafka).
    labels: BTreeMap<String, String>,
    position: Option<i64>,
    end: Option<i64>,
    lag: Option<i64>,
    /// Paused by backpressure (the source stopped fetching it for now).
    paused: bool,
    /// Nothing left to read (the lag is 0): the partition is idle unless new
    /// records come.
    caught_up: bool,
    /// The job's event-time watermark (the lowest of its operators'), RFC 3339:
    /// how far event time has come for what this partition feeds.
    watermark: Option<String>,
}

/// `/api/v1/checkpoints`, per job.
#[derive(Debug, Serialize)]
pub(crate) struct CheckpointsDocument {
    job: String,
    /// Newest first, at most 50.
    checkpoints: Vec<CheckpointRecord>,
    /// The newest committed epoch (every sink committed it).
    committed_epoch: Option<u64>,
}

/// `/api/v1/dead-letters`, per job.
#[derive(Debug, Serialize)]
pub(crate) struct DeadLettersDocument {
    job: String,
    time_ms: u64,
    /// Totals by `(stage, reason)`.
    counts: Vec<DeadLetterCount>,
    /// Whether `latest` carries payload bytes (the job allows showing them).
    payloads_shown: bool,
    /// The newest dead letters, newest first.
    latest: Vec<DeadLetterRecord>,
}

#[derive(Debug, Serialize)]
struct DeadLetterCount {
    stage: String,
    reason: &'static str,
    count: u64,
}

impl JobMetrics {
    pub(crate) fn job_document(&self) -> JobDocument {
        let r = &self.registry;
        let live: BTreeMap<(String, String), _> =
            r.edges().into_iter().map(|e| ((e.from.to_string(), e.to.to_string()), e)).collect();
        let totals = Totals {
            nodes: r.nodes.iter().map(|n| (n.name.to_string(), (n.records_in(), n.records_out()))).collect(),
            edges: live.iter().map(|(k, e)| (k.clone(), e.blocked.as_secs_f64())).collect(),
        };
        let rates = r.rates.rates(totals);
        let nodes = r
            .nodes
            .iter()
            .map(|n| {
                let rate = rates.nodes.get(&*n.name);
                NodeDocument {
                    name: n.name.to_string(),
                    kind: n.kind_str(),
                    shards: n.shards(),
                    dead_letter_path: n.dead_letter_path,
                    records_in: n.records_in(),
                    records_out: n.records_out(),
                    rate_in: rate.map(|r| r.0),
                    rate_out: rate.map(|r| r.1),
                    dead_letters: ReasonCode::ALL.iter().map(|c| n.dead_letters(*c)).sum(),
                    watermark: n.watermark().map(|w| w.to_string()),
                }
            })
            .collect();
        let edges = r
            .plan_edges
            .iter()
            .map(|p| {
                let key = (p.from.clone(), p.to.clone());
                let e = live.get(&key);
                EdgeDocument {
                    from: p.from.clone(),
                    to: p.to.clone(),
                    dead_letters: p.dead_letters,
                    in_flight: e.map_or(0, |e| e.in_flight),
                    capacity: e.map_or(0, |e| e.capacity),
                    blocked_seconds: e.map_or(0.0, |e| e.blocked.as_secs_f64()),
                    blocked_share: rates.edges.get(&key).copied(),
                }
            })
            .collect();
        JobDocument {
            job: self.job.to_string(),
            status: r.status().as_str(),
            time_ms: millis(SystemTime::now()),
            nodes,
            edges,
            restarts: self.registry.history.restarts(),
        }
    }

    pub(crate) fn partitions_document(&self) -> PartitionsDocument {
        let watermark = self.registry.job_watermark().map(|w| w.to_string());
        let partitions = self
            .registry
            .partitions()
            .into_iter()
            .map(|(node, slot)| PartitionDocument {
                node: node.to_string(),
                labels: slot.labels.iter().map(|kv| (kv.key.to_string(), kv.value.to_string())).collect(),
                position: slot.position(),
                end: slot.end(),
                lag: slot.lag(),
                paused: slot.paused.load(std::sync::atomic::Ordering::Relaxed),
                caught_up: slot.lag() == Some(0),
                watermark: watermark.clone(),
            })
            .collect();
        PartitionsDocument { job: self.job.to_string(), time_ms: millis(SystemTime::now()), partitions }
    }

    pub(crate) fn checkpoints_document(&self) -> CheckpointsDocument {
        CheckpointsDocument {
            job: self.job.to_string(),
            checkpoints: self.registry.history.checkpoints(),
            committed_epoch: self.registry.checkpoint().map(|c| c.epoch.get()),
        }
    }

    pub(crate) fn dead_letters_document(&self) -> DeadLettersDocument {
        let mut counts = Vec::new();
        for node in &self.registry.nodes {
            for reason in ReasonCode::ALL {
                let count = node.dead_letters(reason);
                if count > 0 {
                    counts.push(DeadLetterCount { stage: node.name.to_string(), reason: reason.as_str(), count });
                }
            }
        }
        DeadLettersDocument {
            job: self.job.to_string(),
            time_ms: millis(SystemTime::now()),
            counts,
            payloads_shown: self.registry.history.shows_payloads(),
            latest: self.registry.history.latest_dead_letters(),
        }
    }
}
