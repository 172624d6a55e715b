//! What every example binary's `main` does: logging to stderr, then the job, then
//! a clear `error: …` and a non-zero exit status if it failed.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::RwLock;

use tidemill_kafka::properties::Redactor;
use tidemill_runtime::trace::{self, SampleRatio, TracingGuard};

/// The secrets' values this process knows, hidden from its log lines and its
/// final error (see [`redact_output`]).
static REDACTOR: RwLock<Option<Redactor>> = RwLock::new(None);

/// Hides these secrets' values from everything [`run_main`] writes to stderr from
/// now on: log lines (including librdkafka's, which Tidemill does not format) and
/// the final `error: ...`. Configuration is already printed redacted; this is
/// the last line of defence for text that quotes a value.
pub fn redact_output(redactor: Redactor) {
    *REDACTOR.write().unwrap_or_else(|p| p.into_inner()) = Some(redactor);
}

fn redacted(text: &str) -> String {
    match &*REDACTOR.read().unwrap_or_else(|p| p.into_inner()) {
        Some(r) if !r.is_empty() => r.redact(text),
        _ => text.to_string(),
    }
}

/// stderr, one log line at a time, with the secrets of [`redact_output`] hidden:
/// the line is collected and written, redacted, when the writer is dropped
/// (`tracing_subscriber` makes one writer per event).
#[derive(Default)]
struct RedactingStderr(Vec<u8>);

impl std::io::Write for RedactingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for RedactingStderr {
    fn drop(&mut self) {
        let line = redacted(&String::from_utf8_lossy(&self.0));
        // Nowhere to report a failed write to stderr.
        let _ = std::io::stderr().write_all(line.as_bytes());
    }
}

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
        .with_writer(RedactingStderr::default)
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
            eprintln!("error: {}", redacted(&message));
            ExitCode::from(2)
        }
        Err(ExitError::Failed(message)) => {
            eprintln!("error: {}", redacted(&message));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_addr_is_an_address_or_off() {
        assert_eq!(parse_metrics_addr("127.0.0.1:9464").unwrap().to_string(), "127.0.0.1:9464");
        assert_eq!(parse_metrics_addr("off").unwrap().0, None);
        assert!(parse_metrics_addr("localhost").unwrap_err().contains("host:port"));
    }
}
