//! What every example binary's `main` does: logging to stderr, then the job, then
//! a clear `error: …` and a non-zero exit status if it failed.

use std::process::ExitCode;

/// Sets up `tracing` with `log` (EnvFilter syntax; `warn` if it does not parse),
/// runs `run`, and turns its error into `error: <message>` on stderr and exit 1.
pub fn run_main(log: &str, run: impl FnOnce() -> Result<(), String>) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(log).unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
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
