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
