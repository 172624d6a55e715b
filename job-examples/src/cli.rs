//! What every example binary's `main` does: logging to stderr, then the job, then
//! a clear `error: …` and a non-zero exit status if it failed.

use std::process::ExitCode;

use tidemill_runtime::trace::{self, SampleRatio, TracingGuard};

/// Why a binary stopped, and so its exit status.
#[derive(Debug, thiserror::Error)]
pub enum ExitError {
    /// The command line, a setting, or the state it would start from is wrong:
    /// nothing was started. Exit status 2, as for clap's usage errors.
    #[error("{0}")]
    Usage(String),
    /// The job ran and failed. Exit status 1.
    #[error("{0}")]
    Failed(String),
}

impl From<String> for ExitError {
    fn from(message: String) -> Self {
        ExitError::Failed(message)
    }
}

/// Sets up `tracing` with `log` (EnvFilter syntax; `warn` if it does not parse),
/// starts exporting spans if the environment asks for it (see [`start_tracing`]),
/// runs `run`, and turns its error into `error: <message>` on stderr and exit
/// status 2 ([`ExitError::Usage`]) or 1.
pub fn run_main(log: &str, run: impl FnOnce() -> Result<(), ExitError>) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(log).unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // Flushed and shut down when `run` is over, before the process exits.
    let _tracing = match start_tracing(false) {
        Ok(guard) => guard,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(ExitError::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(ExitError::Failed(message)) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Starts exporting spans over OTLP (HTTP/protobuf) when
/// `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set, or
/// when `force` is true (a producer asked to sample; the exporter then defaults to
/// `http://localhost:4318`). Spans continuing an incoming context follow its
/// sampled flag; traces that start here are sampled at `OTEL_TRACES_SAMPLER_ARG`
/// (default 1: callers such as the order producer decide themselves which records
/// to trace). `None` if tracing stays off or is already on.
pub fn start_tracing(force: bool) -> Result<Option<TracingGuard>, String> {
    if trace::enabled() || !(force || trace::otlp_requested()) {
        return Ok(None);
    }
    let ratio = match std::env::var("OTEL_TRACES_SAMPLER_ARG") {
        Ok(v) => v.parse::<SampleRatio>().map_err(|e| format!("OTEL_TRACES_SAMPLER_ARG: {e}"))?,
        Err(_) => SampleRatio::new(1.0).map_err(|e| e.to_string())?,
    };
    let service = std::env::var("OTEL_SERVICE_NAME").ok().filter(|s| !s.trim().is_empty()).unwrap_or_else(|| {
        std::env::args()
            .next()
            .and_then(|a| std::path::Path::new(&a).file_name().map(|f| f.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "tidemill".to_string())
    });
    trace::install_otlp(&service, ratio).map(Some).map_err(|e| e.to_string())
}

/// Parses `--metrics-addr`: `host:port` (port 0 picks a free port) or `off`.
pub fn parse_metrics_addr(s: &str) -> Result<tidemill_runtime::metrics::MetricsAddr, String> {
    s.parse().map_err(|e: tidemill_runtime::metrics::MetricsError| e.to_string())
}

/// A client property that is not `KEY=VALUE`.
#[derive(Debug, thiserror::Error)]
#[error("expected KEY=VALUE, got {0:?}")]
pub struct PropertyError(pub String);

/// Parses a `KEY=VALUE` client property (`--property`, `--kafka-property`).
pub fn parse_property(s: &str) -> Result<(String, String), PropertyError> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(PropertyError(s.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_are_key_equals_value() {
        assert_eq!(parse_property(" linger.ms=20").unwrap(), ("linger.ms".into(), "20".into()));
        assert_eq!(parse_property("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert!(parse_property("=1").is_err());
        assert!(parse_property("nothing").is_err());
    }

    #[test]
    fn metrics_addr_is_an_address_or_off() {
        assert_eq!(parse_metrics_addr("127.0.0.1:9464").unwrap().to_string(), "127.0.0.1:9464");
        assert_eq!(parse_metrics_addr("off").unwrap().0, None);
        assert!(parse_metrics_addr("localhost").unwrap_err().contains("host:port"));
    }
}
