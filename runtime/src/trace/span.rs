//! Spans for batches: one span per actor and batch that holds sampled records,
//! linked to every sampled record's context.
//!
//! Why links and not one span per record: a batch of 1024 records is processed in
//! one call, so a span per record would cost the same per-record work tracing is
//! meant to avoid and would not show anything a batch span does not. The span's
//! parent is the first sampled record's context, so that record's trace continues
//! without a break (producer, source, operators, commit in one trace); every
//! sampled record (the first included) is a link, so each other order is reached
//! from its own trace by following links.

use std::borrow::Cow;

use opentelemetry::global::{self, BoxedSpan};
use opentelemetry::trace::{Link, Span, SpanKind, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};

use crate::record::Record;
use crate::trace::context::TraceContext;
use crate::trace::enabled;

/// At most this many links per span: a batch may hold many sampled records when
/// the sampling ratio is high, and collectors reject spans with thousands of links.
pub const MAX_LINKS: usize = 128;

/// The instrumentation scope name of Tidemill's spans.
pub const TRACER_NAME: &str = "tidemill";

/// A span started for a batch (or a window result, or a commit), linked to the
/// sampled contexts it handles. Ended on [`LinkedSpan::end`] or drop.
pub struct LinkedSpan {
    span: BoxedSpan,
    context: TraceContext,
    log: tracing::Span,
}

impl LinkedSpan {
    /// Starts a span named `name` whose parent is the first of `contexts` and
    /// which links to each distinct one (at most [`MAX_LINKS`]). `None` when
    /// tracing is off, `contexts` is empty, or the tracer did not record the span.
    pub fn start(
        name: impl Into<Cow<'static, str>>,
        kind: SpanKind,
        attributes: Vec<KeyValue>,
        contexts: impl IntoIterator<Item = TraceContext>,
    ) -> Option<LinkedSpan> {
        if !enabled() {
            return None;
        }
        let mut distinct: Vec<TraceContext> = Vec::new();
        for cx in contexts {
            if distinct.len() == MAX_LINKS {
                break;
            }
            if !distinct.contains(&cx) {
                distinct.push(cx);
            }
        }
        let parent = *distinct.first()?;
        let links = distinct.iter().map(|cx| Link::with_context(cx.span_context())).collect();
        let tracer = global::tracer(TRACER_NAME);
        let parent_cx = Context::new().with_remote_span_context(parent.span_context());
        let span = tracer
            .span_builder(name)
            .with_kind(kind)
            .with_attributes(attributes)
            .with_links(links)
            .start_with_context(&tracer, &parent_cx);
        let context = TraceContext::from_span_context(span.span_context())?;
        let trace_id = context.trace_id();
        let span_id = context.span_id();
        // Log lines emitted while this span is entered carry its ids.
        let log = tracing::info_span!("otel", trace_id = %trace_id, span_id = %span_id);
        Some(LinkedSpan { span, context, log })
    }

    /// Starts a span for a batch of records, if any of them is sampled, and makes
    /// each sampled record carry the new span's context instead of its own, so
    /// whatever the next actor does with them links to this span.
    ///
    /// With tracing off this is one relaxed atomic load per batch.
    pub fn for_batch<T>(
        name: impl Into<Cow<'static, str>>,
        kind: SpanKind,
        attributes: Vec<KeyValue>,
        batch: &mut [Record<T>],
    ) -> Option<LinkedSpan> {
        if !enabled() {
            return None;
        }
        let mut sampled = batch.iter().filter_map(|r| r.trace.as_deref().copied()).peekable();
        sampled.peek()?;
        let count = batch.iter().filter(|r| r.trace.is_some()).count();
        let mut attributes = attributes;
        attributes.push(KeyValue::new("tidemill.batch.records", batch.len() as i64));
        attributes.push(KeyValue::new("tidemill.batch.sampled", count as i64));
        let span = LinkedSpan::start(name, kind, attributes, sampled)?;
        for r in batch.iter_mut() {
            if let Some(cx) = r.trace.as_deref_mut() {
                *cx = span.context;
            }
        }
        Some(span)
    }

    /// This span's context, for the records it produced.
    pub fn context(&self) -> TraceContext {
        self.context
    }

    /// A `tracing` span carrying this span's trace and span ids as fields; enter
    /// it so log lines name the trace they belong to.
    pub fn log_span(&self) -> &tracing::Span {
        &self.log
    }

    /// Adds an attribute to the span.
    pub fn set_attribute(&mut self, attribute: KeyValue) {
        self.span.set_attribute(attribute);
    }

    /// Records an error on the span.
    pub fn set_error(&mut self, message: impl Into<Cow<'static, str>>) {
        self.span.set_status(opentelemetry::trace::Status::error(message));
    }

    /// Ends the span now.
    pub fn end(mut self) {
        self.span.end();
    }
}
