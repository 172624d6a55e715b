//! What one actor records besides its counters: checkpoint phase times, commit
//! times, its watermark and its latency recorders. Attribute sets are built once,
//! when the actor starts.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::KeyValue;

use crate::metrics::instruments::{keys, Instruments};
use crate::metrics::latency::EpochLatency;
use crate::metrics::registry::NodeStats;
use crate::metrics::JobMetrics;
use crate::plan::{NodeId, NodeKind};
use crate::time::EventTime;

pub(crate) struct ShardMetrics {
    attributes: Vec<KeyValue>,
    instruments: Instruments,
    node: Arc<NodeStats>,
    shard: usize,
}

impl ShardMetrics {
    pub(crate) fn new(metrics: &JobMetrics, node: NodeId, shard: usize) -> Self {
        let stats = metrics.registry.nodes.get(node.0).cloned().unwrap_or_else(|| {
            // Only a plan-less registry (never used to spawn actors) lacks the node.
            Arc::new(NodeStats::new(Arc::from("?"), NodeKind::Operator, false, 1))
        });
        ShardMetrics {
            attributes: vec![KeyValue::new(keys::NODE, stats.name.to_string())],
            instruments: metrics.instruments.clone(),
            node: stats,
            shard,
        }
    }

    /// The node's live counters (shared by its shards).
    pub(crate) fn stats(&self) -> Arc<NodeStats> {
        self.node.clone()
    }

    /// A barrier aligned after `waited`; shards with one input never wait.
    pub(crate) fn aligned(&self, inputs: usize, waited: Duration) {
        if inputs > 1 {
            self.instruments.alignment.record(waited.as_secs_f64(), &self.attributes);
        }
    }

    /// An operator snapshot or a sink stage took `took`.
    pub(crate) fn snapshot(&self, took: Duration) {
        self.instruments.snapshot.record(took.as_secs_f64(), &self.attributes);
    }

    /// A sink committed one epoch in `took`.
    pub(crate) fn commit(&self, took: Duration) {
        self.instruments.sink_commit.record(took.as_secs_f64(), &self.attributes);
    }

    /// The watermark this shard forwarded.
    pub(crate) fn watermark(&self, t: EventTime) {
        self.node.set_watermark(self.shard, t);
    }

    /// Event time to visibility, for a sink shard.
    pub(crate) fn sink_latency(&self) -> EpochLatency {
        EpochLatency::new(self.instruments.sink_latency.clone(), self.attributes.clone())
    }

    /// Source time to visibility, for a source partition.
    pub(crate) fn source_latency(&self) -> EpochLatency {
        EpochLatency::new(self.instruments.source_latency.clone(), self.attributes.clone())
    }
}
