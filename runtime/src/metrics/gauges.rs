//! Observable instruments of edges, source partitions and the job as a whole.

use std::sync::Arc;

use opentelemetry::metrics::Meter;
use opentelemetry::KeyValue;

use crate::metrics::instruments::{keys, unix_seconds};
use crate::metrics::registry::{EdgeSnapshot, Registry};

fn edge_attrs(e: &EdgeSnapshot) -> [KeyValue; 2] {
    [KeyValue::new(keys::EDGE_FROM, e.from.to_string()), KeyValue::new(keys::EDGE_TO, e.to.to_string())]
}

type Kept = Box<dyn std::any::Any + Send + Sync>;

pub(crate) fn register(meter: &Meter, registry: &Arc<Registry>) -> Vec<Kept> {
    let mut kept: Vec<Kept> = Vec::new();
    // Edges: attributes are built at collection (a few dozen edges, a few times a
    // minute), never on the path that sends batches.
    let r = registry.clone();
    kept.push(Box::new(
        meter
            .u64_observable_gauge("tidemill.edge.in_flight")
            .with_unit("{batch}")
            .with_description(
                "Batches sent on an edge and not yet handled (the downstream mailbox fill), summed over shard pairs.",
            )
            .with_callback(move |o| r.edges().iter().for_each(|e| o.observe(e.in_flight, &edge_attrs(e))))
            .build(),
    ));
    let r = registry.clone();
    kept.push(Box::new(
        meter
            .u64_observable_gauge("tidemill.edge.capacity")
            .with_unit("{batch}")
            .with_description("Batches an edge may hold (edge_capacity times its shard pairs).")
            .with_callback(move |o| r.edges().iter().for_each(|e| o.observe(e.capacity, &edge_attrs(e))))
            .build(),
    ));
    let r = registry.clone();
    kept.push(Box::new(
        meter
            .f64_observable_gauge("tidemill.edge.fill")
            .with_unit("1")
            .with_description("in_flight / capacity of an edge: 1 means the upstream waits (backpressure).")
            .with_callback(move |o| {
                for e in r.edges().iter().filter(|e| e.capacity > 0) {
                    o.observe(e.in_flight as f64 / e.capacity as f64, &edge_attrs(e));
                }
            })
            .build(),
    ));
    let r = registry.clone();
    kept.push(Box::new(
        meter
            .f64_observable_counter("tidemill.edge.blocked.time")
            .with_unit("s")
            .with_description(
                "Time senders waited for credit on an edge (blocked on backpressure), summed over shard pairs.",
            )
            .with_callback(move |o| r.edges().iter().for_each(|e| o.observe(e.blocked.as_secs_f64(), &edge_attrs(e))))
            .build(),
    ));

    // Source partitions.
    let labels = |node: &Arc<str>, extra: &[KeyValue]| {
        let mut a = vec![KeyValue::new(keys::NODE, node.to_string())];
        a.extend_from_slice(extra);
        a
    };
    let r = registry.clone();
    kept.push(Box::new(
        meter
            .i64_observable_gauge("tidemill.source.lag")
            .with_unit("{message}")
            .with_description(
                "Per source partition: log-end offset minus the position the job has read to (Kafka consumer lag).",
            )
            .with_callback(move |o| {
                for (node, slot) in r.partitions() {
                    if let Some(v) = slot.lag() {
                        o.observe(v, &labels(&node, &slot.labels));
                    }
                }
            })
            .build(),
    ));
    let r = registry.clone();
    kept.push(Box::new(
        meter
            .i64_observable_gauge("tidemill.source.position")
            .with_unit("{offset}")
            .with_description("Per source partition: the next offset the job reads.")
            .with_callback(move |o| {
                for (node, slot) in r.partitions() {
                    if let Some(v) = slot.position() {
                        o.observe(v, &labels(&node, &slot.labels));
                    }
                }
            })
            .build(),
    ));
    let r = registry.clone();
    kept.push(Box::new(
        meter
            .i64_observable_gauge("tidemill.source.end_offset")
            .with_unit("{offset}")
            .with_description("Per source partition: the log-end offset (high watermark) last seen.")
            .with_callback(move |o| {
                for (node, slot) in r.partitions() {
                    if let Some(v) = slot.end() {
                        o.observe(v, &labels(&node, &slot.labels));
                    }
                }
            })
            .build(),
    ));
    let r = registry.clone();
    kept.push(Box::new(
        meter
            .u64_observable_gauge("tidemill.job.lag")
            .with_unit("{message}")
            .with_description("The job's total lag: the sum of tidemill.source.lag over its partitions.")
            .with_callback(move |o| {
                if let Some(v) = r.total_lag() {
                    o.observe(v, &[]);
                }
            })
            .build(),
    ));
    let r = registry.clone();
    kept.push(Box::new(
        meter
            .f64_observable_gauge("tidemill.job.lag.baseline")
            .with_unit("{message}")
            .with_description("The lag-growth detector's baseline: a slow moving average of the total lag.")
            .with_callback(move |o| {
                let v = f64::from_bits(r.lag_baseline.load(std::sync::atomic::Ordering::Relaxed));
                if v.is_finite() {
                    o.observe(v, &[]);
                }
            })
            .build(),
    ));
    let r = registry.clone();
    kept.push(Box::new(
        meter
            .u64_observable_gauge("tidemill.job.lag.growing")
            .with_description("1 while the total lag is above lag_growth.factor times its baseline, else 0.")
            .with_callback(move |o| o.observe(u64::from(r.lag_growing.load(std::sync::atomic::Ordering::Relaxed)), &[]))
            .build(),
    ));

    // The job.
    let r = registry.clone();
    kept.push(Box::new(
        meter
            .u64_observable_gauge("tidemill.job.ready")
            .with_description(
                "1 while the pipeline is running (every actor started, not restarting or stopping) and no node \
                 reports a readiness condition, else 0: what /readyz says.",
            )
            .with_callback(move |o| o.observe(u64::from(r.readiness().is_ready()), &[]))
            .build(),
    ));
    let r = registry.clone();
    kept.push(Box::new(
        meter
            .u64_observable_gauge("tidemill.node.not_ready")
            .with_description(
                "1 while a node reports the readiness condition (e.g. a Kafka source's `brokers`: they cannot be \
                 reached), else 0; a series per condition the nodes of the running pipeline have.",
            )
            .with_callback(move |o| {
                for c in r.conditions.states() {
                    let attrs = [KeyValue::new(keys::NODE, c.node.to_string()), KeyValue::new(keys::CONDITION, c.name)];
                    o.observe(u64::from(c.reason.is_some()), &attrs);
                }
            })
            .build(),
    ));
    let r = registry.clone();
    kept.push(Box::new(
        meter
            .f64_observable_gauge("tidemill.checkpoint.last_committed.time")
            .with_unit("s")
            .with_description("Unix time at which the newest checkpoint was committed by every sink.")
            .with_callback(move |o| {
                if let Some(c) = r.checkpoint() {
                    o.observe(unix_seconds(c.committed_at), &[]);
                }
            })
            .build(),
    ));
    let r = registry.clone();
    kept.push(Box::new(
        meter
            .u64_observable_gauge("tidemill.checkpoint.last_committed.epoch")
            .with_unit("{epoch}")
            .with_description("Epoch of the newest committed checkpoint.")
            .with_callback(move |o| {
                if let Some(c) = r.checkpoint() {
                    o.observe(c.epoch.get(), &[]);
                }
            })
            .build(),
    ));
    kept
}
