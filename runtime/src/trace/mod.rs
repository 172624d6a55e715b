//! Tracing single records through a job with OpenTelemetry.
//!
//! A producer writes a W3C `traceparent` into the headers of a sampled share of
//! its records. A source reads it into [`Record::trace`](crate::Record::trace)
//! (sampled contexts only; everything else carries `None`). Each actor that gets a
//! batch with sampled records starts one span for the batch
//! ([`LinkedSpan::for_batch`]), parented to the first sampled record's context
//! and linked to all of them, and hands the new span's context on in those
//! records. Operators that keep records in state (windows) remember a bounded
//! number of contexts and link their results to them; a sink links its commit
//! span to the contexts of the epoch it makes visible.
//!
//! Tracing is off until a provider is installed ([`install`], [`install_otlp`]);
//! while off, sources skip header parsing and actors check one atomic flag per
//! batch, so untraced jobs pay nothing per record.

pub(crate) mod context;
mod propagation;
mod provider;
mod span;

use std::sync::atomic::{AtomicBool, Ordering};

use crate::record::Record;

pub use context::{TraceContext, TraceparentError, TRACEPARENT};
pub use propagation::{extract, inject, HeaderList, HeaderListMut};
pub use provider::{install, install_otlp, otlp_requested, SampleRatio, TraceSetupError, TracingGuard};
pub use span::{LinkedSpan, MAX_LINKS, TRACER_NAME};

/// Re-exported so operator crates name span kinds and attributes without their
/// own `opentelemetry` dependency.
pub use opentelemetry::{trace::SpanKind, KeyValue};

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether record tracing is on (a tracer provider was installed).
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// The span an actor starts for a batch of records: `"{kind} {node}"` with the
/// node's name as attribute, linked to the batch's sampled records.
pub(crate) fn node_batch_span<T>(
    kind: &'static str,
    node: &str,
    shard: usize,
    span_kind: SpanKind,
    batch: &mut [Record<T>],
) -> Option<LinkedSpan> {
    if !enabled() {
        return None;
    }
    LinkedSpan::for_batch(
        format!("{kind} {node}"),
        span_kind,
        vec![KeyValue::new("tidemill.node", node.to_string()), KeyValue::new("tidemill.shard", shard as i64)],
        batch,
    )
}
