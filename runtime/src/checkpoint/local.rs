//! Manifests as files in a local folder (format: [`super::file_format`]).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::checkpoint::{file_format, CheckpointError, CheckpointStore, Manifest, ManifestMismatch, StoreFuture};
use crate::time::Epoch;

/// Keeps manifests as `epoch-<n>.ckpt` in one folder.
///
/// A manifest is written to a temporary file of its own (a unique name per
/// writer), flushed to disk, and published with a hard link, which fails if the
/// epoch's file exists: two writers of one epoch (a task that lost its partition
/// and the process that took it over) can never both publish it, and neither can
/// truncate the other's bytes. A link that succeeds below a newer epoch (the
/// other writer's fence of this epoch was pruned meanwhile) is withdrawn and
/// refused the same way. The folder is flushed after the link so the
/// publication survives a crash.
///
/// The store remembers the newest epoch this handle wrote or read; if that file
/// disappears (the folder was deleted or replaced while the job ran) the next
/// write is refused with [`CheckpointError::Lost`] instead of silently starting a
/// new line of checkpoints.
#[derive(Clone, Debug)]
pub struct LocalCheckpointStore {
    dir: PathBuf,
    /// The newest epoch written or read through this handle (and its clones).
    anchor: Arc<Mutex<Option<u64>>>,
}

impl LocalCheckpointStore {
    /// A store in `dir` (created when the first manifest is saved).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        LocalCheckpointStore { dir: dir.into(), anchor: Arc::default() }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of the manifest of `epoch`.
    pub fn file_of(&self, epoch: Epoch) -> PathBuf {
        self.dir.join(Self::file_name(epoch.get()))
    }

    fn io(&self, action: impl Into<String>, source: std::io::Error) -> CheckpointError {
        CheckpointError::Io { location: self.dir.display().to_string(), action: action.into(), source }
    }

    fn file_name(epoch: u64) -> String {
        // Zero-padded so that file-name order is epoch order.
        format!("epoch-{epoch:020}.ckpt")
    }

    fn anchor(&self) -> Option<u64> {
        *self.anchor.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_anchor(&self, epoch: u64) {
        let mut anchor = self.anchor.lock().unwrap_or_else(|p| p.into_inner());
        *anchor = Some(anchor.map_or(epoch, |a| a.max(epoch)));
    }

    /// Epochs of the manifests in the folder, ascending.
    fn epochs_blocking(&self) -> Result<Vec<u64>, CheckpointError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io("list the folder", e)),
        };
        let mut epochs = Vec::new();
        for entry in entries {
            let name = entry.map_err(|e| self.io("list the folder", e))?.file_name();
            let name = name.to_string_lossy();
            if name.starts_with("epoch-") && name.ends_with(".json") {
                // Ignoring it would start the job from scratch under epochs its
                // sinks already committed: refuse instead.
                let file = self.dir.join(&*name).display().to_string();
                return Err(CheckpointError::Corrupt {
                    file,
                    source: crate::checkpoint::FormatError::Version {
                        found: "json".into(),
                        expected: file_format::FORMAT,
                    },
                });
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
        let location = self.dir.display().to_string();
        if let Some(anchor) = self.anchor() {
            // The folder or the manifest this job stands on vanished: the folder was
            // deleted or replaced. Writing on would begin an unrelated history.
            if !self.dir.join(Self::file_name(anchor)).exists() {
                return Err(CheckpointError::Lost { location, epoch: Epoch::new(anchor) });
            }
        } else {
            std::fs::create_dir_all(&self.dir).map_err(|e| self.io("create the folder", e))?;
        }
        let name = Self::file_name(epoch);
        // A temporary file of this writer alone: two writers of the same epoch
        // never write into one file.
        let mut tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .tempfile_in(&self.dir)
            .map_err(|e| self.io(format!("create a temporary file for {name}"), e))?;
        tmp.write_all(bytes).map_err(|e| self.io(format!("write {name}"), e))?;
        tmp.as_file().sync_all().map_err(|e| self.io(format!("flush {name}"), e))?;
        // A hard link, not a rename: it fails if the epoch exists (no clobbering).
        // The temporary file is removed when `tmp` is dropped, linked or not.
        match std::fs::hard_link(tmp.path(), self.dir.join(&name)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(CheckpointError::Fenced { location, epoch: Epoch::new(epoch) });
            }
            Err(e) => return Err(self.io(format!("publish {name}"), e)),
        }
        drop(tmp);
        // The epoch was free, yet newer ones may stand above it: this writer
        // stalled (a frozen process) between the anchor check and the link while
        // another owner resumed the job, wrote this epoch as its fence, went on and
        // pruned it. Publishing it would let a zombie commit next to the new owner:
        // undo it and refuse, as the fence itself would have.
        if self.epochs_blocking()?.last().is_some_and(|&newest| newest > epoch) {
            std::fs::remove_file(self.dir.join(&name)).map_err(|e| self.io(format!("withdraw {name}"), e))?;
            return Err(CheckpointError::Fenced { location, epoch: Epoch::new(epoch) });
        }
        std::fs::File::open(&self.dir).and_then(|d| d.sync_all()).map_err(|e| self.io("flush the folder", e))?;
        self.set_anchor(epoch);
        Ok(())
    }

    fn load_blocking(&self, epoch: u64) -> Result<Manifest, CheckpointError> {
        let path = self.dir.join(Self::file_name(epoch));
        let bytes = std::fs::read(&path).map_err(|e| self.io(format!("read {}", path.display()), e))?;
        let manifest = file_format::decode(&bytes)
            .map_err(|source| CheckpointError::Corrupt { file: path.display().to_string(), source })?;
        if manifest.epoch.get() != epoch {
            return Err(CheckpointError::Mismatch {
                epoch: manifest.epoch,
                reason: ManifestMismatch::StoredAs { file: path.display().to_string() },
            });
        }
        self.set_anchor(epoch);
        Ok(manifest)
    }

    fn prune_blocking(&self, keep: usize) -> Result<(), CheckpointError> {
        let epochs = self.epochs_blocking()?;
        let drop = epochs.len().saturating_sub(keep.max(1));
        for epoch in &epochs[..drop] {
            let path = self.dir.join(Self::file_name(*epoch));
            std::fs::remove_file(&path).map_err(|e| self.io(format!("remove {}", path.display()), e))?;
        }
        Ok(())
    }
}

impl CheckpointStore for LocalCheckpointStore {
    fn location(&self) -> String {
        self.dir.display().to_string()
    }

    fn epochs(&self) -> StoreFuture<'_, Vec<Epoch>> {
        let store = self.clone();
        Box::pin(async move {
            let epochs = spawn_blocking(move || store.epochs_blocking()).await?;
            Ok(epochs.into_iter().map(Epoch::new).collect())
        })
    }

    fn load(&self, epoch: Epoch) -> StoreFuture<'_, Manifest> {
        let store = self.clone();
        Box::pin(async move { spawn_blocking(move || store.load_blocking(epoch.get())).await })
    }

    fn save<'a>(&'a self, manifest: &'a Manifest) -> StoreFuture<'a, ()> {
        let store = self.clone();
        Box::pin(async move {
            // Encoding copies the states once, instead of cloning the manifest.
            let file = store.file_of(manifest.epoch).display().to_string();
            let bytes = file_format::encode(manifest).map_err(|source| CheckpointError::Corrupt { file, source })?;
            let epoch = manifest.epoch.get();
            spawn_blocking(move || store.save_blocking(epoch, &bytes)).await
        })
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
#[path = "local_tests.rs"]
mod tests;
