//! `--trace-sample` of `order-producer`: a producer span and a W3C `traceparent`
//! header for a sampled share of the records. Kept apart from the sending loop,
//! which only asks [`ProducerTracing::headers_for`] of each record.

use crate::cli;
use opentelemetry::propagation::Injector;
use opentelemetry::trace::{Span, SpanKind, Tracer, TracerProvider};
use opentelemetry::KeyValue;
use tidemill_kafka::rdkafka::message::{Header, OwnedHeaders};
use tidemill_runtime::trace::{self, SampleRatio, TraceContext, TracingGuard};

/// Decides which records are traced and makes their headers.
pub struct ProducerTracing {
    ratio: f64,
    tracer: opentelemetry::global::BoxedTracer,
    /// Keeps the exporter this tool installed (flushed on drop).
    _guard: Option<TracingGuard>,
}

/// An [`Injector`] over Kafka headers.
struct KafkaHeaders(OwnedHeaders);

impl Injector for KafkaHeaders {
    fn set(&mut self, key: &str, value: String) {
        let headers = std::mem::take(&mut self.0);
        self.0 = headers.insert(Header { key, value: Some(value.as_bytes()) });
    }
}

impl ProducerTracing {
    /// `None` unless `--trace-sample` is above 0; installs the OTLP exporter
    /// unless the environment already made `run_main` install it.
    pub fn start(ratio: Option<SampleRatio>) -> Result<Option<Self>, String> {
        let Some(ratio) = ratio.filter(|r| r.get() > 0.0) else { return Ok(None) };
        let guard = cli::start_tracing(true)?;
        let tracer = opentelemetry::global::tracer_provider().tracer("order-producer");
        Ok(Some(ProducerTracing { ratio: ratio.get(), tracer, _guard: guard }))
    }

    /// Headers for record number `n` (0-based) if it is sampled: exactly
    /// `ratio` of the records, spread evenly (no random numbers on the hot path).
    pub fn headers_for(&self, n: u64, topic: &str, key: Option<&str>) -> Option<OwnedHeaders> {
        if ((n + 1) as f64 * self.ratio).floor() <= (n as f64 * self.ratio).floor() {
            return None;
        }
        let mut attributes = vec![
            KeyValue::new("messaging.system", "kafka"),
            KeyValue::new("messaging.destination.name", topic.to_string()),
        ];
        if let Some(key) = key {
            attributes.push(KeyValue::new("messaging.kafka.message.key", key.to_string()));
        }
        let mut span = self
            .tracer
            .span_builder("produce orders")
            .with_kind(SpanKind::Producer)
            .with_attributes(attributes)
            .start(&self.tracer);
        let cx = TraceContext::from_span_context(span.span_context());
        // Ends at enqueueing: delivery is reported only for failures.
        span.end();
        let mut headers = KafkaHeaders(OwnedHeaders::new());
        trace::inject(cx?, &mut headers);
        Some(headers.0)
    }
}
