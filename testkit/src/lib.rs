//! # tidemill-testkit
//!
//! What Tidemill's tests share across crates, and nothing of Tidemill itself (so
//! that every crate, the runtime included, can use it as a dev-dependency):
//!
//! - [`kafka`]: the shared test broker's address, unique names, topics;
//! - [`secured_kafka`]: that broker's SASL_SSL listener;
//! - [`s3`]: the S3-compatible object store `scripts/s3` runs;
//! - [`broker`]: a private broker for faults that must not touch the shared one;
//! - [`browser`]: pages in real headless Chromium;
//! - [`delta_reader`], [`delta_log`]: Delta tables read back by independent readers;
//! - [`metrics`]: Prometheus scrapes of a job's `/metrics`, HTTP probes;
//! - [`process`]: job binaries as child processes with their logs kept;
//! - [`tmpfs`]: a small file system that the tests fill up.

pub mod broker;
pub mod browser;
pub mod delta_log;
pub mod delta_reader;
pub mod kafka;
pub mod metrics;
pub mod process;
pub mod s3;
pub mod secured_kafka;
pub mod tmpfs;

/// The `export NAME=value` lines `scripts/<script> <command>` prints, as pairs
/// (quotes removed). Panics with the script's message, and `hint`, if it fails:
/// a test that needs the service must not pass without it.
pub fn script_exports(script: &str, command: &str, hint: &str) -> Vec<(String, String)> {
    let out = std::process::Command::new(repo_root().join("scripts").join(script))
        .arg(command)
        // scripts/test exports it for the shared broker; scripts/kafka would
        // then describe an external one.
        .env_remove("KAFKA_BOOTSTRAP_SERVERS")
        .output()
        .unwrap_or_else(|e| panic!("run scripts/{script} {command}: {e}"));
    assert!(
        out.status.success(),
        "scripts/{script} {command} failed: {} ({hint})",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.strip_prefix("export ")?.split_once('='))
        .map(|(name, value)| (name.to_string(), value.trim_matches(['\'', '"']).to_string()))
        .collect()
}

/// The workspace's root folder (where `scripts/` and `tests/python/` are).
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("testkit/ has a parent").to_path_buf()
}
