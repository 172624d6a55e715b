//! Pushing metrics over OTLP (HTTP with protobuf) when the standard environment
//! variables ask for it.
//!
//! The exporter reads `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` (used as is) or
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (with `/v1/metrics` appended), the matching
//! `*_HEADERS` and `*_TIMEOUT`; the periodic reader exports every
//! `OTEL_METRIC_EXPORT_INTERVAL` ms (60 s by default) from a thread of its own, so
//! a slow or absent collector never blocks the job. `OTEL_METRICS_EXPORTER=none`
//! turns the push off.

use opentelemetry_otlp::MetricExporter;
use opentelemetry_sdk::metrics::PeriodicReader;

use crate::metrics::MetricsError;

fn set(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.trim().is_empty())
}

/// The periodic OTLP reader the environment asks for, if it asks for one.
pub(crate) fn reader_from_env() -> Result<Option<PeriodicReader<MetricExporter>>, MetricsError> {
    if std::env::var("OTEL_METRICS_EXPORTER").is_ok_and(|v| v.trim() == "none") {
        return Ok(None);
    }
    if !set("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") && !set("OTEL_EXPORTER_OTLP_ENDPOINT") {
        return Ok(None);
    }
    for var in ["OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"] {
        if let Ok(p) = std::env::var(var) {
            if p.trim() != "http/protobuf" {
                tracing::warn!(variable = var, protocol = %p, "only http/protobuf is built in: exporting metrics with it");
            }
        }
    }
    let exporter = MetricExporter::builder().with_http().build().map_err(|e| MetricsError::Otlp(e.to_string()))?;
    Ok(Some(PeriodicReader::builder(exporter).build()))
}
