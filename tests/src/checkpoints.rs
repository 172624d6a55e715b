//! Checkpoint folders as the tests look at them.

use std::path::Path;

/// The newest checkpoint's epoch in a checkpoint store folder (0 if none yet).
pub fn latest_epoch(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| {
                    e.ok()?.file_name().to_str()?.strip_prefix("epoch-")?.strip_suffix(".ckpt")?.parse().ok()
                })
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
}
