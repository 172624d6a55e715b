//! Shared helpers for Tidemill's end-to-end tests: the independent Delta reader
//! and batch oracles of the order job, the job as a process, Kafka brokers.

pub mod binary;
pub mod broker;
pub mod checkpoints;
pub mod delta_reader;
pub mod job_process;
pub mod kafka;
pub mod metrics;
pub mod order_oracle;
pub mod order_tables;

/// The workspace's root folder (where `scripts/` and `tests/python/` are).
pub(crate) fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}
