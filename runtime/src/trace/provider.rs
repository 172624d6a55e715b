//! Installing the tracer provider: OTLP over HTTP/protobuf or gRPC configured by
//! the standard `OTEL_EXPORTER_OTLP_*` environment variables, or any provider a test
//! or an embedding application builds (an in-memory exporter, say).

use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use opentelemetry_sdk::Resource;

use crate::otlp_protocol::{self, OtlpProtocol};
use crate::trace::set_enabled;

/// Tracing could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TraceSetupError {
    /// The OTLP span exporter could not be built (bad endpoint, bad headers).
    #[error("OTLP span exporter: {0}")]
    Exporter(String),
    /// The sampling ratio is not a number in `[0, 1]`.
    #[error("trace sampling ratio must be within [0, 1], got {0}")]
    Ratio(f64),
}

/// A head-sampling ratio in `[0, 1]`: the share of traces started here (at a
/// producer, or for records that arrive without a context) that are recorded.
#[derive(Copy, Clone, Debug, PartialEq, PartialOrd)]
pub struct SampleRatio(f64);

impl SampleRatio {
    /// Nothing is sampled at the head (contexts that arrive sampled still are).
    pub const NONE: SampleRatio = SampleRatio(0.0);

    /// A ratio; fails outside `[0, 1]` and for NaN.
    pub fn new(ratio: f64) -> Result<Self, TraceSetupError> {
        if (0.0..=1.0).contains(&ratio) {
            Ok(SampleRatio(ratio))
        } else {
            Err(TraceSetupError::Ratio(ratio))
        }
    }

    /// The ratio as a number.
    pub fn get(self) -> f64 {
        self.0
    }
}

impl std::str::FromStr for SampleRatio {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ratio: f64 = s.trim().parse().map_err(|e| format!("not a number: {e}"))?;
        SampleRatio::new(ratio).map_err(|e| e.to_string())
    }
}

fn set(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.trim().is_empty())
}

/// Whether the environment asks for spans over OTLP: `OTEL_EXPORTER_OTLP_ENDPOINT`
/// or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set and `OTEL_TRACES_EXPORTER` is not
/// `none`.
pub fn otlp_requested() -> bool {
    if std::env::var("OTEL_TRACES_EXPORTER").is_ok_and(|v| v.trim() == "none") {
        return false;
    }
    set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") || set("OTEL_EXPORTER_OTLP_ENDPOINT")
}

/// Keeps the installed provider; dropping it flushes what is buffered, shuts the
/// exporter down and turns tracing off.
#[must_use = "dropping the guard turns tracing off"]
pub struct TracingGuard {
    provider: SdkTracerProvider,
}

impl TracingGuard {
    /// The installed provider (to flush it, for example).
    pub fn provider(&self) -> &SdkTracerProvider {
        &self.provider
    }
}

impl Drop for TracingGuard {
    fn drop(&mut self) {
        set_enabled(false);
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!(error = %e, "span exporter did not shut down cleanly");
        }
    }
}

/// Makes `provider` the global tracer provider and turns record tracing on:
/// sources read trace contexts and actors start spans for sampled batches.
pub fn install(provider: SdkTracerProvider) -> TracingGuard {
    opentelemetry::global::set_tracer_provider(provider.clone());
    set_enabled(true);
    TracingGuard { provider }
}

/// Installs a provider exporting over OTLP, configured by the standard variables
/// (`OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` or `OTEL_EXPORTER_OTLP_PROTOCOL`:
/// `http/protobuf` by default, or `grpc`; `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
/// used as is, or `OTEL_EXPORTER_OTLP_ENDPOINT` with `/v1/traces` appended for
/// HTTP and as is for gRPC; `*_HEADERS`, `*_TIMEOUT`, `OTEL_BSP_*` for the batch
/// processor). A gRPC exporter's connection runs on a small runtime of its own,
/// so this needs no tokio runtime of the caller's. Spans are exported from a
/// thread of the batch processor, so a slow or absent collector costs the job
/// nothing but dropped spans and logged errors.
///
/// `head_ratio` samples traces that start here; spans continuing an upstream
/// context follow its sampled flag.
pub fn install_otlp(service_name: &str, head_ratio: SampleRatio) -> Result<TracingGuard, TraceSetupError> {
    let protocol = otlp_protocol::from_env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "spans");
    let exporter = match protocol {
        // The protocol is given, not left to the builder: it would read the
        // variables again, its own way, and refuse HTTP if they said gRPC.
        OtlpProtocol::HttpProtobuf => SpanExporter::builder().with_http().with_protocol(Protocol::HttpBinary).build(),
        OtlpProtocol::Grpc => {
            let rt = otlp_protocol::grpc_runtime().map_err(|e| TraceSetupError::Exporter(e.to_string()))?;
            let _in_runtime = rt.enter();
            SpanExporter::builder().with_tonic().build()
        }
    }
    .map_err(|e| TraceSetupError::Exporter(e.to_string()))?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(head_ratio.get()))))
        .with_resource(Resource::builder().with_service_name(service_name.to_string()).build())
        .build();
    tracing::info!(service = service_name, head_ratio = head_ratio.get(), ?protocol, "exporting spans over OTLP");
    Ok(install(provider))
}
