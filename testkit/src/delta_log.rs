//! The transaction versions of a Delta table, read straight from its log (the
//! JSON commits), for tests that wait until an epoch is committed.

use std::ffi::OsStr;
use std::path::Path;

/// The highest version any transaction id containing `@` (a sink's id in a
/// lineage) recorded in the JSON commits of the local table `table`; `None` before any.
pub fn lineage_txn_version(table: &(impl AsRef<OsStr> + ?Sized)) -> Option<i64> {
    let entries = std::fs::read_dir(Path::new(table).join("_delta_log")).ok()?;
    let mut highest = None;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        for line in text.lines() {
            let Ok(action) = serde_json::from_str::<serde_json::Value>(line) else { continue };
            let Some(txn) = action.get("txn") else { continue };
            if txn["appId"].as_str().is_some_and(|id| id.contains('@')) {
                let version = txn["version"].as_i64();
                highest = highest.max(version);
            }
        }
    }
    highest
}
