//! Manifests as files in a local folder (format: [`super::file_format`]).

use std::path::{Path, PathBuf};

use crate::checkpoint::{file_format, CheckpointError, CheckpointStore, Manifest, StoreFuture};

/// Keeps manifests as `epoch-<n>.ckpt` in one folder. A manifest is written to a
/// temporary file, flushed to disk, and renamed into place (rename is atomic on
/// POSIX file systems), then the folder is flushed so the rename survives a crash.
#[derive(Clone, Debug)]
pub struct LocalCheckpointStore {
    dir: PathBuf,
}

impl LocalCheckpointStore {
    /// A store in `dir` (created when the first manifest is saved).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        LocalCheckpointStore { dir: dir.into() }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn error(&self, e: impl std::fmt::Display) -> CheckpointError {
        CheckpointError::Store { location: self.dir.display().to_string(), reason: e.to_string() }
    }

    fn file_name(epoch: u64) -> String {
        // Zero-padded so that file-name order is epoch order.
        format!("epoch-{epoch:020}.ckpt")
    }

    /// Epochs of the manifests in the folder, ascending.
    fn epochs(&self) -> Result<Vec<u64>, CheckpointError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.error(e)),
        };
        let mut epochs = Vec::new();
        for entry in entries {
            let name = entry.map_err(|e| self.error(e))?.file_name();
            let name = name.to_string_lossy();
            if name.starts_with("epoch-") && name.ends_with(".json") {
                // Ignoring it would start the job from scratch under epochs its
                // sinks already committed: refuse instead.
                return Err(self.error(format!(
                    "{name} is a checkpoint in the JSON format of earlier Tidemill versions, which this version \
                     does not read; restore with the version that wrote it or start with an empty folder"
                )));
            }
            if let Some(n) = name.strip_prefix("epoch-").and_then(|r| r.strip_suffix(".ckpt")) {
                if let Ok(n) = n.parse::<u64>() {
                    epochs.push(n);
                }
            }
        }
        epochs.sort_unstable();
        Ok(epochs)
    }

    fn save_blocking(&self, epoch: u64, bytes: &[u8]) -> Result<(), CheckpointError> {
        use std::io::Write as _;
        std::fs::create_dir_all(&self.dir).map_err(|e| self.error(e))?;
        let name = Self::file_name(epoch);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let mut file = std::fs::File::create(&tmp).map_err(|e| self.error(e))?;
        file.write_all(bytes).map_err(|e| self.error(e))?;
        file.sync_all().map_err(|e| self.error(e))?;
        // A hard link, not a rename: it fails if the epoch exists. Two writers of one
        // store (a task that lost its partition and the process that took it over)
        // can then never both write epoch N; the loser fails its checkpoint and never
        // commits sink output for it (see docs/scale-out.md, fencing).
        let linked = std::fs::hard_link(&tmp, self.dir.join(&name));
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(self.error(format!(
                    "checkpoint {name} already exists: another process wrote this epoch (the task was taken over)"
                )));
            }
            Err(e) => return Err(self.error(e)),
        }
        std::fs::File::open(&self.dir).and_then(|d| d.sync_all()).map_err(|e| self.error(e))?;
        Ok(())
    }

    fn latest_blocking(&self) -> Result<Option<Manifest>, CheckpointError> {
        let Some(epoch) = self.epochs()?.pop() else { return Ok(None) };
        let path = self.dir.join(Self::file_name(epoch));
        let bytes = std::fs::read(&path).map_err(|e| self.error(format!("{}: {e}", path.display())))?;
        let manifest = file_format::decode(&bytes).map_err(|e| self.error(format!("{}: {e}", path.display())))?;
        Ok(Some(manifest))
    }

    fn prune_blocking(&self, keep: usize) -> Result<(), CheckpointError> {
        let epochs = self.epochs()?;
        let drop = epochs.len().saturating_sub(keep.max(1));
        for epoch in &epochs[..drop] {
            std::fs::remove_file(self.dir.join(Self::file_name(*epoch))).map_err(|e| self.error(e))?;
        }
        Ok(())
    }
}

impl CheckpointStore for LocalCheckpointStore {
    fn save<'a>(&'a self, manifest: &'a Manifest) -> StoreFuture<'a, ()> {
        let store = self.clone();
        Box::pin(async move {
            // Encoding copies the states once, instead of cloning the manifest.
            let bytes = file_format::encode(manifest).map_err(|e| store.error(e))?;
            let epoch = manifest.epoch.get();
            spawn_blocking(move || store.save_blocking(epoch, &bytes)).await
        })
    }

    fn latest(&self) -> StoreFuture<'_, Option<Manifest>> {
        let store = self.clone();
        Box::pin(async move { spawn_blocking(move || store.latest_blocking()).await })
    }

    fn prune(&self, keep: usize) -> StoreFuture<'_, ()> {
        let store = self.clone();
        Box::pin(async move { spawn_blocking(move || store.prune_blocking(keep)).await })
    }
}

/// File I/O off the async worker threads.
async fn spawn_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, CheckpointError> + Send + 'static,
) -> Result<T, CheckpointError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CheckpointError::Store { location: "blocking task".into(), reason: e.to_string() })?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::ShardCheckpoint;
    use crate::counters::ShardCounts;
    use crate::time::Epoch;

    fn manifest(epoch: u64) -> Manifest {
        Manifest {
            job: "j".into(),
            epoch: Epoch::new(epoch),
            finished: false,
            created_at: chrono::Utc::now(),
            shards: vec![ShardCheckpoint {
                node: "n".into(),
                shard: 0,
                shards: 1,
                state: vec![0, 159, 255],
                counts: ShardCounts::default(),
            }],
        }
    }

    #[tokio::test]
    async fn saves_reads_the_newest_and_prunes() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalCheckpointStore::new(dir.path().join("chk"));
        assert_eq!(store.latest().await.unwrap(), None);
        for e in [1, 2, 10] {
            store.save(&manifest(e)).await.unwrap();
        }
        assert_eq!(
            store.latest().await.unwrap(),
            Some(manifest(10))
                .map(|m| Manifest { created_at: store.latest_blocking().unwrap().unwrap().created_at, ..m })
        );
        store.prune(2).await.unwrap();
        assert_eq!(store.epochs().unwrap(), vec![2, 10]);
        let names: Vec<String> = std::fs::read_dir(store.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "no temporary files left: {names:?}");
    }

    #[tokio::test]
    async fn a_corrupt_newest_manifest_is_an_error_not_a_silent_fallback() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalCheckpointStore::new(dir.path());
        store.save(&manifest(1)).await.unwrap();
        std::fs::write(dir.path().join(LocalCheckpointStore::file_name(2)), b"{not json").unwrap();
        let err = store.latest().await.unwrap_err().to_string();
        assert!(err.contains("epoch-00000000000000000002.ckpt"), "{err}");
    }

    #[tokio::test]
    async fn an_epoch_is_written_once_so_a_second_writer_is_fenced() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalCheckpointStore::new(dir.path());
        store.save(&manifest(4)).await.unwrap();
        let other = LocalCheckpointStore::new(dir.path());
        let err = other.save(&manifest(4)).await.expect_err("epoch 4 exists");
        assert!(err.to_string().contains("already exists"), "{err}");
        assert_eq!(store.latest().await.unwrap().map(|m| m.epoch.get()), Some(4));
        other.save(&manifest(5)).await.expect("a new epoch is fine");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str().map(str::to_string))
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "no temporary files left: {leftovers:?}");
    }
}
