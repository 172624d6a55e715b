//! The metric handles a source, operator or sink factory gets in its
//! [`NodeContext`](crate::NodeContext).

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use opentelemetry::metrics::Meter;
use opentelemetry::KeyValue;

use crate::metrics::instruments::keys;
use crate::metrics::latency::EpochLatency;
use crate::metrics::readiness::ReadinessCondition;
use crate::metrics::registry::{PartitionSlot, Registry};
use crate::metrics::JobMetrics;

/// What a node's shard may record beyond what the runtime records for it.
///
/// ```
/// use tidemill_runtime::metrics::PartitionLabels;
/// use tidemill_runtime::NodeContext;
/// let ctx = NodeContext::for_tests("orders");
/// // In a Kafka source's factory, once per assigned partition:
/// let labels = PartitionLabels::messaging("kafka", "orders", 3, "order-aggregates");
/// let lag = ctx.metrics.source_partition(labels);
/// // In `poll`, whenever the position or the log-end offset is known:
/// lag.record(1_000, 1_250);
/// assert_eq!(lag.lag(), Some(250));
/// ```
#[derive(Clone)]
pub struct NodeMetrics {
    job: Option<Arc<JobMetrics>>,
    node: Arc<str>,
    shard: usize,
}

impl fmt::Debug for NodeMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeMetrics")
            .field("job", &self.job.as_ref().map(|j| j.job()))
            .field("node", &self.node)
            .field("shard", &self.shard)
            .finish()
    }
}

impl NodeMetrics {
    pub(crate) fn new(job: Option<Arc<JobMetrics>>, node: Arc<str>, shard: usize) -> Self {
        NodeMetrics { job, node, shard }
    }

    /// Handles that record nowhere (for contexts built outside a job, in tests).
    pub fn detached(node: &str) -> Self {
        NodeMetrics { job: None, node: Arc::from(node), shard: 0 }
    }

    /// The job's metrics, unless detached.
    pub fn job(&self) -> Option<&Arc<JobMetrics>> {
        self.job.as_ref()
    }

    /// The attributes that name this node: `tidemill.node`.
    pub fn attributes(&self) -> Vec<KeyValue> {
        vec![KeyValue::new(keys::NODE, self.node.to_string())]
    }

    /// The job's meter, for instruments of the node's own (exported with the job's
    /// metrics); the global meter when detached (a no-op unless one is installed).
    pub fn meter(&self) -> Meter {
        match &self.job {
            Some(j) => j.meter().clone(),
            None => opentelemetry::global::meter("tidemill"),
        }
    }

    /// The handle of one source partition's position, log-end offset and lag
    /// (`tidemill.source.lag`, `.position`, `.end_offset`, and the job's
    /// `tidemill.job.lag`). Asking again for the same partition (after a restart)
    /// returns the same series.
    pub fn source_partition(&self, partition: PartitionLabels) -> PartitionMetrics {
        let registry = self.job.as_ref().map(|j| j.registry.clone());
        let slot = match &registry {
            Some(r) => r.partition(&self.node, partition.key.clone(), partition.attributes),
            None => Arc::new(PartitionSlot::detached(partition.attributes)),
        };
        PartitionMetrics { slot, owner: registry.map(|r| (r, self.node.clone(), partition.key)) }
    }

    /// A readiness condition of this node named `name` (e.g. `brokers`), not set:
    /// while the node [sets](ReadinessCondition::set) it, the job is not ready.
    /// Ask once (in the factory, or for a resource the node's shards share) and
    /// keep the handle: dropping every clone forgets the condition.
    pub fn readiness_condition(&self, name: &str) -> ReadinessCondition {
        match &self.job {
            Some(j) => j.registry.conditions.register(&self.node, name),
            None => ReadinessCondition::detached(&self.node, name),
        }
    }

    /// A latency-to-visibility recorder of the sink's own: a histogram `name` (in
    /// seconds) that a sink feeds with times it knows about its records (a Kafka
    /// append time in the payload, say) and that observes at commit.
    pub fn visibility_latency(&self, name: &'static str, description: &'static str) -> EpochLatency {
        let histogram = self
            .meter()
            .f64_histogram(name)
            .with_unit("s")
            .with_description(description)
            .with_boundaries(super::instruments::LATENCY_BUCKETS.to_vec())
            .build();
        EpochLatency::new(histogram, self.attributes())
    }
}

/// What identifies a source partition in metrics.
#[derive(Clone, Debug, PartialEq)]
pub struct PartitionLabels {
    key: String,
    attributes: Vec<KeyValue>,
}

impl PartitionLabels {
    /// A partition known by its index only (`tidemill.partition`).
    pub fn new(partition: u32) -> Self {
        PartitionLabels {
            key: partition.to_string(),
            attributes: vec![KeyValue::new(keys::PARTITION, i64::from(partition))],
        }
    }

    /// A partition of a messaging system's topic read by a consumer group, with
    /// the messaging semantic-convention attributes: `messaging.system` (`system`,
    /// e.g. `kafka`), `messaging.destination.name` (the topic),
    /// `messaging.destination.partition.id`, `messaging.consumer.group.name`.
    pub fn messaging(system: &'static str, topic: &str, partition: i32, group: &str) -> Self {
        PartitionLabels {
            key: format!("{topic}/{partition}"),
            attributes: vec![
                KeyValue::new("messaging.system", system),
                KeyValue::new("messaging.destination.name", topic.to_string()),
                KeyValue::new("messaging.destination.partition.id", partition.to_string()),
                KeyValue::new("messaging.consumer.group.name", group.to_string()),
            ],
        }
    }

    /// Adds an attribute.
    pub fn with(mut self, attribute: KeyValue) -> Self {
        self.attributes.push(attribute);
        self
    }
}

/// One source partition's position, log-end offset and lag. Cheap to clone and
/// to update (three relaxed stores): call it per poll or per batch.
#[derive(Clone)]
pub struct PartitionMetrics {
    slot: Arc<PartitionSlot>,
    owner: Option<(Arc<Registry>, Arc<str>, String)>,
}

impl fmt::Debug for PartitionMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartitionMetrics").field("labels", &self.slot.labels).field("lag", &self.lag()).finish()
    }
}

impl PartitionMetrics {
    /// The next offset to read and the log-end offset (high watermark); the lag is
    /// their difference (never below 0).
    pub fn record(&self, position: i64, log_end: i64) {
        self.slot.position.store(position, Ordering::Relaxed);
        self.slot.end.store(log_end, Ordering::Relaxed);
        self.slot.lag.store(log_end.saturating_sub(position).max(0), Ordering::Relaxed);
    }

    /// The next offset to read; the lag follows if a log-end offset is known.
    pub fn record_position(&self, position: i64) {
        self.slot.position.store(position, Ordering::Relaxed);
        if let Some(end) = self.slot.end() {
            self.slot.lag.store(end.saturating_sub(position).max(0), Ordering::Relaxed);
        }
    }

    /// The log-end offset; the lag follows if a position is known.
    pub fn record_end_offset(&self, log_end: i64) {
        self.slot.end.store(log_end, Ordering::Relaxed);
        if let Some(position) = self.slot.position() {
            self.slot.lag.store(log_end.saturating_sub(position).max(0), Ordering::Relaxed);
        }
    }

    /// A lag computed elsewhere (librdkafka's `consumer_lag` statistic, say).
    pub fn record_lag(&self, lag: u64) {
        self.slot.lag.store(i64::try_from(lag).unwrap_or(i64::MAX), Ordering::Relaxed);
    }

    /// Whether the partition is paused (its downstream is full: backpressure);
    /// shown on the status page.
    pub fn set_paused(&self, paused: bool) {
        self.slot.paused.store(paused, Ordering::Relaxed);
    }

    /// The lag last recorded.
    pub fn lag(&self) -> Option<u64> {
        self.slot.lag().map(|l| l.max(0) as u64)
    }

    /// The partition left this process (revoked): its series disappear.
    pub fn unregister(self) {
        if let Some((registry, node, key)) = &self.owner {
            registry.remove_partition(node, key);
        }
    }
}
