//! Reads Delta tables back with independent readers, through
//! `tests/python/read_delta.py` run in the project's venv (made by
//! `scripts/python-env`): the Python `deltalake` package, and a replay of
//! `_delta_log` with pyarrow that shares no code with delta-rs.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

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

impl Engine {
    /// Both readers.
    pub const ALL: [Engine; 2] = [Engine::DeltaRs, Engine::Log];

    /// The reader's name on `read_delta.py`'s command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::DeltaRs => "deltalake",
            Engine::Log => "log",
        }
    }
}

/// The venv's python: `TIDEMILL_PYTHON_BIN` (set by `scripts/test`), else what
/// `scripts/python-env` prints (it creates the venv on first use and is fast
/// afterwards).
pub fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        if let Some(path) = std::env::var_os("TIDEMILL_PYTHON_BIN") {
            return PathBuf::from(path);
        }
        let out =
            Command::new("bash").arg(repo_root().join("scripts/python-env")).output().expect("run scripts/python-env");
        assert!(
            out.status.success(),
            "scripts/python-env failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let path = PathBuf::from(String::from_utf8(out.stdout).expect("utf-8 path").trim());
        assert!(path.exists(), "scripts/python-env printed {path:?}, which does not exist");
        path
    })
}

/// Runs the reader on `table` (a folder or an `s3://` URL on the tests' store)
/// with `args`; panics with its stderr unless it exits 0.
pub fn read_delta(table: &(impl AsRef<OsStr> + ?Sized), args: &[&str]) -> String {
    let script = repo_root().join("tests/python/read_delta.py");
    let mut reader = Command::new(python());
    reader.arg(script).arg(table).args(args);
    if table.as_ref().to_string_lossy().starts_with("s3") {
        // The store's variables, also when this process found them through `scripts/s3 env`.
        reader.envs(crate::s3::S3Store::get().env);
    }
    let out = reader.output().expect("run read_delta.py");
    assert!(
        out.status.success(),
        "read_delta.py {} {args:?} failed ({}):\n{}",
        Path::new(table).display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("bad JSON line {line:?}: {e}")))
        .collect()
}

/// Every row of the table as JSON objects (timestamps as RFC 3339 strings, binary
/// as base64), in the reader's order.
pub fn read_rows(table: &(impl AsRef<OsStr> + ?Sized), engine: Engine) -> Vec<Value> {
    json_lines(&read_delta(table, &["--engine", engine.as_str()]))
}

/// The rows sorted by the column `order_by`, read by both engines, which must agree.
pub fn rows(table: &(impl AsRef<OsStr> + ?Sized), order_by: &str) -> Vec<Value> {
    let [by_deltalake, by_log] = Engine::ALL
        .map(|engine| json_lines(&read_delta(table, &["--engine", engine.as_str(), "--order-by", order_by])));
    assert_eq!(by_deltalake, by_log, "the two reader engines disagree on {}", Path::new(table).display());
    by_deltalake
}

/// The table summary (version, rows, files, txn versions, columns), from both
/// engines, which must agree.
pub fn summary(table: &(impl AsRef<OsStr> + ?Sized)) -> Value {
    let [deltalake, log] = Engine::ALL.map(|engine| summary_of(table, engine));
    assert_eq!(deltalake, log, "the two reader engines disagree on {}", Path::new(table).display());
    deltalake
}

/// The table summary from one engine (large tables: the log replay reads every
/// data file's row count, which both engines need not repeat).
pub fn summary_of(table: &(impl AsRef<OsStr> + ?Sized), engine: Engine) -> Value {
    let mut v: Value = serde_json::from_str(read_delta(table, &["--engine", engine.as_str(), "--summary"]).trim())
        .expect("summary JSON");
    v.as_object_mut().expect("summary object").remove("engine");
    v
}
