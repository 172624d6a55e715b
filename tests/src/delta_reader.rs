//! Reads Delta tables back with an independent reader: the Python `deltalake`
//! package (or a from-scratch reader of the Delta log), through
//! `tests/python/read_delta.py`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::repo_root;

/// Which reader `read_delta.py` uses.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Engine {
    /// The Python `deltalake` package.
    DeltaRs,
    /// A replay of `_delta_log` with pyarrow, sharing no code with delta-rs.
    Log,
}

/// The venv's python: `TIDEMILL_PYTHON_BIN` (set by scripts/test), else what
/// `scripts/python-env` prints (creating the venv if needed).
pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("TIDEMILL_PYTHON_BIN") {
        return PathBuf::from(p);
    }
    let out = Command::new(repo_root().join("scripts/python-env")).output().expect("run scripts/python-env");
    assert!(out.status.success(), "scripts/python-env failed: {}", String::from_utf8_lossy(&out.stderr));
    PathBuf::from(String::from_utf8(out.stdout).expect("utf-8 path").trim())
}

fn run(table: &Path, args: &[&str]) -> String {
    let out = Command::new(python())
        .arg(repo_root().join("tests/python/read_delta.py"))
        .arg(table)
        .args(args)
        .output()
        .expect("run read_delta.py");
    assert!(out.status.success(), "read_delta.py {} failed: {}", table.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Every row of the table, as JSON objects (timestamps as RFC 3339 strings,
/// binary as base64).
pub fn read_rows(table: &Path, engine: Engine) -> Vec<Value> {
    let engine = match engine {
        Engine::DeltaRs => "deltalake",
        Engine::Log => "log",
    };
    run(table, &["--engine", engine])
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

/// The table summary: version, rows, files, txn versions, columns.
pub fn summary(table: &Path) -> Value {
    serde_json::from_str(run(table, &["--summary"]).trim()).expect("summary JSON")
}
