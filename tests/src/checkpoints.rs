//! Checkpoint folders as the tests look at them.

use std::path::Path;

use tidemill_runtime::checkpoint::Manifest;

/// The epochs of the checkpoint files in a checkpoint store folder, ascending
/// (none if the folder does not exist yet).
pub fn epochs(dir: &Path) -> Vec<u64> {
    let mut epochs: Vec<u64> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| {
                    e.ok()?.file_name().to_str()?.strip_prefix("epoch-")?.strip_suffix(".ckpt")?.parse().ok()
                })
                .collect()
        })
        .unwrap_or_default();
    epochs.sort_unstable();
    epochs
}

/// The newest checkpoint's epoch in a checkpoint store folder (0 if none yet).
pub fn latest_epoch(dir: &Path) -> u64 {
    epochs(dir).last().copied().unwrap_or(0)
}

/// The manifest of `epoch` in `dir` without the shards' state: the JSON header
/// of the file (its second line), which names each shard's counters at the
/// barrier. Read independently of the runtime's checkpoint reader.
pub fn manifest_header(dir: &Path, epoch: u64) -> Manifest {
    let path = dir.join(format!("epoch-{epoch:020}.ckpt"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let header = bytes.split(|b| *b == b'\n').nth(1).unwrap_or_else(|| panic!("{} has no header", path.display()));
    serde_json::from_slice(header).unwrap_or_else(|e| panic!("header of {}: {e}", path.display()))
}

/// Records the shards of source node `node` had read at the manifest's barrier.
pub fn records_read(manifest: &Manifest, node: &str) -> u64 {
    manifest.shards.iter().filter(|s| s.node == node).map(|s| s.records_in()).sum()
}

/// Rows the shards of sink node `node` had written at the manifest's barrier:
/// what the table holds once the epoch is committed (output rows, or dead
/// letters for a dead-letter sink).
pub fn rows_written(manifest: &Manifest, node: &str) -> u64 {
    manifest.shards.iter().filter(|s| s.node == node).map(|s| s.records_out() + s.dead_letters_written()).sum()
}
