//! Pushing metrics over OTLP (HTTP with protobuf, or gRPC) when the standard
//! environment variables ask for it.
//!
//! `OTEL_EXPORTER_OTLP_METRICS_PROTOCOL` or `OTEL_EXPORTER_OTLP_PROTOCOL` picks
//! the transport (`http/protobuf` by default, or `grpc`; see
//! `crate::otlp_protocol`). The exporter reads
//! `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` (used as is) or
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (with `/v1/metrics` appended for HTTP), the matching
//! `*_HEADERS` and `*_TIMEOUT`; the periodic reader exports every
//! `OTEL_METRIC_EXPORT_INTERVAL` ms (60 s by default) from a thread of its own, so
//! a slow or absent collector never blocks the job. `OTEL_METRICS_EXPORTER=none`
//! turns the push off.

use opentelemetry_otlp::{MetricExporter, Protocol, WithExportConfig};
use opentelemetry_sdk::metrics::PeriodicReader;

use crate::metrics::MetricsError;
use crate::otlp_protocol::{self, OtlpProtocol};

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
    let exporter = match otlp_protocol::from_env("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "metrics") {
        // The protocol is given, not left to the builder: it would read the
        // variables again, its own way, and refuse HTTP if they said gRPC.
        OtlpProtocol::HttpProtobuf => MetricExporter::builder().with_http().with_protocol(Protocol::HttpBinary).build(),
        OtlpProtocol::Grpc => {
            let rt = otlp_protocol::grpc_runtime().map_err(|e| MetricsError::Otlp(e.to_string()))?;
            let _in_runtime = rt.enter();
            MetricExporter::builder().with_tonic().build()
        }
    }
    .map_err(|e| MetricsError::Otlp(e.to_string()))?;
    Ok(Some(PeriodicReader::builder(exporter).build()))
}
