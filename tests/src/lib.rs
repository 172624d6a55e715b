//! Shared helpers for Tidemill's end-to-end tests: the independent Delta reader
//! and batch oracles of the order job, the job binaries as child processes,
//! Kafka brokers of their own, and the faults the tests inject (a full file
//! system, a frozen process).

pub mod binary;
pub mod broker;
pub mod checkpoints;
pub mod delta_log;
pub mod delta_reader;
pub mod group;
pub mod kafka;
pub mod metrics;
pub mod order_oracle;
pub mod order_prefix;
pub mod order_tables;
pub mod process;
pub mod table_rows;
pub mod tmpfs;

/// The workspace's root folder (where `scripts/` and `tests/python/` are).
pub(crate) fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}
