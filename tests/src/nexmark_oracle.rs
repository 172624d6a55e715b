//! DuckDB as the oracle of the Nexmark queries: `tests/python/nexmark_oracle.py`
//! runs a query's SQL on the dumped events and compares the result with the
//! query's Delta table, row by row.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use tidemill_testkit::delta_reader::python;
use tidemill_testkit::repo_root;

/// Runs the comparison for `query` (`q0`, `q5`, ...) on the events under `events`
/// and the table `table`; panics with the differences unless they are equal.
/// Returns the row count.
pub fn assert_equals_duckdb(query: &str, events: &Path, table: &Path) -> u64 {
    let out = Command::new(python())
        .arg(repo_root().join("tests/python/nexmark_oracle.py"))
        .arg(query)
        .arg(events)
        .arg(table)
        .output()
        .expect("run nexmark_oracle.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{query}: the table differs from DuckDB's result ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(stdout.trim()).expect("one JSON report");
    report["actual"].as_u64().expect("row count")
}
