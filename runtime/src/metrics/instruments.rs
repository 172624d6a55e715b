//! The job's OpenTelemetry instruments: synchronous ones for rare events
//! (checkpoints, commits, restarts), observable ones that read the
//! [`Registry`]'s atomics when a reader collects (everything per batch).
//!
//! Names follow the OpenTelemetry conventions (dotted, lower case, unit apart from
//! the name); `error.type` is the semantic-convention attribute for a failure's
//! class. docs/operations.md lists every metric with its Prometheus name.

use std::sync::Arc;
use std::time::SystemTime;

use opentelemetry::metrics::{Counter, Histogram, Meter};
use opentelemetry::KeyValue;

use crate::dead_letter::ReasonCode;
use crate::metrics::registry::Registry;
use crate::time::EventTime;

/// Attribute keys.
pub mod keys {
    /// The node (source, operator or sink) a value is about.
    pub const NODE: &str = "tidemill.node";
    /// `source`, `operator` or `sink`.
    pub const NODE_KIND: &str = "tidemill.node.kind";
    /// A dead letter's reason code.
    pub const REASON: &str = "tidemill.dead_letter.reason";
    /// The upstream node of an edge.
    pub const EDGE_FROM: &str = "tidemill.edge.from";
    /// The downstream node of an edge.
    pub const EDGE_TO: &str = "tidemill.edge.to";
    /// The phase of a checkpoint a duration is about.
    pub const PHASE: &str = "tidemill.checkpoint.phase";
    /// A source partition (the runtime's partition index).
    pub const PARTITION: &str = "tidemill.partition";
    /// A failure's class (semantic conventions).
    pub const ERROR_TYPE: &str = "error.type";
    /// The name of a node's readiness condition.
    pub const CONDITION: &str = "tidemill.condition";
}

/// Buckets (seconds) for checkpoint phases and commits: 1 ms to 10 min.
const DURATION_BUCKETS: [f64; 16] =
    [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 600.0];
/// Buckets (seconds) for latency to visibility: 10 ms to 2 h (windows wait for the
/// watermark, which trails event time by minutes).
pub(crate) const LATENCY_BUCKETS: [f64; 18] =
    [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0];
/// Buckets (bytes) for checkpoint sizes: 1 KiB to 4 GiB.
const SIZE_BUCKETS: [f64; 12] = [
    1024.0,
    16384.0,
    65536.0,
    262144.0,
    1048576.0,
    4194304.0,
    16777216.0,
    67108864.0,
    268435456.0,
    1073741824.0,
    2147483648.0,
    4294967296.0,
];

/// The synchronous instruments, recorded where things happen.
#[derive(Clone)]
pub(crate) struct Instruments {
    pub(crate) checkpoint_duration: Histogram<f64>,
    pub(crate) checkpoint_size: Histogram<u64>,
    pub(crate) checkpoint_failures: Counter<u64>,
    pub(crate) checkpoints_committed: Counter<u64>,
    pub(crate) alignment: Histogram<f64>,
    pub(crate) snapshot: Histogram<f64>,
    pub(crate) sink_commit: Histogram<f64>,
    pub(crate) sink_latency: Histogram<f64>,
    pub(crate) source_latency: Histogram<f64>,
    pub(crate) restarts: Counter<u64>,
}

fn seconds(meter: &Meter, name: &'static str, help: &'static str, buckets: &[f64]) -> Histogram<f64> {
    meter.f64_histogram(name).with_unit("s").with_description(help).with_boundaries(buckets.to_vec()).build()
}

impl Instruments {
    pub(crate) fn new(meter: &Meter) -> Self {
        Instruments {
            checkpoint_duration: seconds(
                meter,
                "tidemill.checkpoint.duration",
                "Checkpoint phases: barrier (injection to the last acknowledgement: alignment and snapshots), manifest (store write), commit (manifest to every sink committed), total.",
                &DURATION_BUCKETS,
            ),
            checkpoint_size: meter
                .u64_histogram("tidemill.checkpoint.size")
                .with_unit("By")
                .with_description("Bytes of state and staged output in a completed checkpoint's manifest.")
                .with_boundaries(SIZE_BUCKETS.to_vec())
                .build(),
            checkpoint_failures: meter
                .u64_counter("tidemill.checkpoint.failures")
                .with_unit("{checkpoint}")
                .with_description("Checkpoints that did not complete, by error.type (store_write, pipeline_failed).")
                .build(),
            checkpoints_committed: meter
                .u64_counter("tidemill.checkpoint.committed")
                .with_unit("{checkpoint}")
                .with_description("Checkpoints every sink has committed.")
                .build(),
            alignment: seconds(
                meter,
                "tidemill.checkpoint.alignment.duration",
                "Per shard: from the first barrier of a checkpoint on one input to the barrier on every input.",
                &DURATION_BUCKETS,
            ),
            snapshot: seconds(
                meter,
                "tidemill.checkpoint.snapshot.duration",
                "Per shard: time to snapshot an operator's state or to stage a sink's output.",
                &DURATION_BUCKETS,
            ),
            sink_commit: seconds(
                meter,
                "tidemill.sink.commit.duration",
                "Time of one sink shard's commit of one epoch (a Delta transaction for Delta sinks).",
                &DURATION_BUCKETS,
            ),
            sink_latency: seconds(
                meter,
                "tidemill.sink.visibility.latency",
                "Event time to visibility: commit time minus the event time of the oldest record of each batch a sink wrote (one observation per batch).",
                &LATENCY_BUCKETS,
            ),
            source_latency: seconds(
                meter,
                "tidemill.source.visibility.latency",
                "Source time (the Kafka message timestamp; ingestion time for files and generators) to the commit of the checkpoint holding the record, for the oldest record of each batch read.",
                &LATENCY_BUCKETS,
            ),
            restarts: meter
                .u64_counter("tidemill.restarts")
                .with_unit("{restart}")
                .with_description("Pipeline restarts, by the failing node and error.type.")
                .build(),
        }
    }
}

/// Registers the observable instruments over `registry`. The returned handles
/// are kept for the job's lifetime.
pub(crate) fn observe(meter: &Meter, registry: &Arc<Registry>) -> Vec<Box<dyn std::any::Any + Send + Sync>> {
    let node_attrs: Vec<Vec<KeyValue>> = registry
        .nodes
        .iter()
        .map(|n| vec![KeyValue::new(keys::NODE, n.name.to_string()), KeyValue::new(keys::NODE_KIND, n.kind_str())])
        .collect();
    let node_attrs = Arc::new(node_attrs);
    let mut kept: Vec<Box<dyn std::any::Any + Send + Sync>> = Vec::new();

    let (r, a) = (registry.clone(), node_attrs.clone());
    kept.push(Box::new(
        meter
            .u64_observable_counter("tidemill.records.in")
            .with_unit("{record}")
            .with_description("Records into each node: read by a source, received by an operator, written by a sink.")
            .with_callback(move |o| r.nodes.iter().zip(a.iter()).for_each(|(n, a)| o.observe(n.records_in(), a)))
            .build(),
    ));
    let (r, a) = (registry.clone(), node_attrs.clone());
    kept.push(Box::new(
        meter
            .u64_observable_counter("tidemill.records.out")
            .with_unit("{record}")
            .with_description(
                "Records out of each node: emitted by a source or operator (dead letters apart), written by a sink.",
            )
            .with_callback(move |o| r.nodes.iter().zip(a.iter()).for_each(|(n, a)| o.observe(n.records_out(), a)))
            .build(),
    ));
    let r = registry.clone();
    let reasons: Arc<Vec<Vec<Vec<KeyValue>>>> = Arc::new(
        registry
            .nodes
            .iter()
            .map(|n| {
                ReasonCode::ALL
                    .iter()
                    .map(|c| {
                        vec![KeyValue::new(keys::NODE, n.name.to_string()), KeyValue::new(keys::REASON, c.as_str())]
                    })
                    .collect()
            })
            .collect(),
    );
    kept.push(Box::new(
        meter
            .u64_observable_counter("tidemill.dead_letters")
            .with_unit("{record}")
            .with_description("Records sent to the dead-letter queue, by the rejecting node and reason code.")
            .with_callback(move |o| {
                for (n, attrs) in r.nodes.iter().zip(reasons.iter()) {
                    for (code, a) in ReasonCode::ALL.iter().zip(attrs) {
                        let v = n.dead_letters(*code);
                        // Reasons a node never raised stay out of the exposition.
                        if v > 0 {
                            o.observe(v, a);
                        }
                    }
                }
            })
            .build(),
    ));
    let (r, a) = (registry.clone(), node_attrs.clone());
    kept.push(Box::new(
        meter
            .u64_observable_counter("tidemill.records.late")
            .with_unit("{record}")
            .with_description("Records rejected as late (reason late_event), by node.")
            .with_callback(move |o| {
                for (n, a) in r.nodes.iter().zip(a.iter()) {
                    if n.kind == crate::plan::NodeKind::Operator && !n.dead_letter_path {
                        o.observe(n.dead_letters(ReasonCode::LateEvent), a);
                    }
                }
            })
            .build(),
    ));
    let (r, a) = (registry.clone(), node_attrs);
    kept.push(Box::new(
        meter
            .f64_observable_gauge("tidemill.watermark.lag")
            .with_unit("s")
            .with_description("Wall-clock time minus the watermark each operator forwarded (minimum over its shards).")
            .with_callback(move |o| {
                let now = EventTime::from(chrono::Utc::now()).as_millis();
                for (n, a) in r.nodes.iter().zip(a.iter()) {
                    if let Some(w) = n.watermark() {
                        o.observe((now.saturating_sub(w.as_millis())) as f64 / 1000.0, a);
                    }
                }
            })
            .build(),
    ));
    kept.extend(super::gauges::register(meter, registry));
    kept
}

/// Seconds since the Unix epoch, for timestamp gauges.
pub(crate) fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}
