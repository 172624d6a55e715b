//! Runs `tests/python/read_delta.py` in the project's venv (made by `scripts/python-env`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv's python: `TIDEMILL_PYTHON_BIN` if set, else what `scripts/python-env`
/// prints (it creates the venv on first use and is fast afterwards).
fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        if let Some(path) = std::env::var_os("TIDEMILL_PYTHON_BIN") {
            return PathBuf::from(path);
        }
        let script = repo_root().join("scripts/python-env");
        let out = Command::new("bash").arg(&script).output().expect("run scripts/python-env");
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

/// The two reading engines of `read_delta.py`.
pub const ENGINES: [&str; 2] = ["deltalake", "log"];

/// Runs the reader; panics with its stderr unless it exits 0.
pub fn read_delta(table: &Path, args: &[&str]) -> String {
    let script = repo_root().join("tests/python/read_delta.py");
    let out = Command::new(python()).arg(script).arg(table).args(args).output().expect("run read_delta.py");
    assert!(
        out.status.success(),
        "read_delta.py {} {args:?} failed ({}):\n{}",
        table.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// The table's rows as JSON values, sorted by `order_by`, from one engine.
pub fn rows_with(table: &Path, engine: &str, order_by: &str) -> Vec<Value> {
    read_delta(table, &["--engine", engine, "--order-by", order_by])
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("bad JSON line {line:?}: {e}")))
        .collect()
}

/// The rows, read by both engines, which must agree.
pub fn rows(table: &Path, order_by: &str) -> Vec<Value> {
    let by_deltalake = rows_with(table, ENGINES[0], order_by);
    let by_log = rows_with(table, ENGINES[1], order_by);
    assert_eq!(by_deltalake, by_log, "the two reader engines disagree on {}", table.display());
    by_deltalake
}

/// The summary (version, rows, files, txn, columns), from both engines, which must agree.
pub fn summary(table: &Path) -> Value {
    let mut all: Vec<Value> = ENGINES
        .iter()
        .map(|engine| {
            let mut v: Value = serde_json::from_str(&read_delta(table, &["--engine", engine, "--summary"])).unwrap();
            v.as_object_mut().unwrap().remove("engine");
            v
        })
        .collect();
    let log = all.pop().unwrap();
    let deltalake = all.pop().unwrap();
    assert_eq!(deltalake, log, "the two reader engines disagree on {}", table.display());
    deltalake
}
