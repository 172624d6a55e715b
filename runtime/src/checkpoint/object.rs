//! Manifests as objects in an object store: S3 and S3-compatible servers, or any
//! other [`object_store`] backend (format: [`super::file_format`]).

use std::sync::{Arc, Mutex};

use futures::TryStreamExt as _;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt as _, PutMode, PutOptions, PutPayload};

use crate::checkpoint::{file_format, CheckpointError, CheckpointStore, Manifest, ManifestMismatch, StoreFuture};
use crate::time::Epoch;

/// Keeps manifests as `<prefix>/epoch-<n>.ckpt` objects.
///
/// The same contract as [`LocalCheckpointStore`](super::LocalCheckpointStore),
/// with the store's conditional write in place of the hard link: a manifest is
/// put with [`PutMode::Create`] (S3's `If-None-Match: *`), which one writer of an
/// epoch wins and every other gets `412 Precondition Failed` for, so two owners of
/// a job can never both publish an epoch, and a put is atomic. A put that wins
/// below a newer epoch (the other owner's fence of this epoch was pruned
/// meanwhile) is withdrawn and refused the same way. The newest epoch this handle
/// wrote or read must still be there before the next write
/// ([`CheckpointError::Lost`] otherwise).
///
/// ```no_run
/// use tidemill_runtime::checkpoint::ObjectCheckpointStore;
/// # fn main() -> Result<(), tidemill_runtime::checkpoint::CheckpointError> {
/// // Endpoint and credentials from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...
/// let store = ObjectCheckpointStore::from_url("s3://tidemill/jobs/orders/checkpoints")?;
/// # let _ = store; Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct ObjectCheckpointStore {
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    /// The URL, for messages.
    location: String,
    /// The newest epoch written or read through this handle (and its clones).
    anchor: Arc<Mutex<Option<u64>>>,
}

impl ObjectCheckpointStore {
    /// Manifests under `prefix` in `store`; `location` names them in messages.
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str, location: impl Into<String>) -> Self {
        ObjectCheckpointStore {
            store,
            prefix: ObjectPath::from(prefix),
            location: location.into(),
            anchor: Arc::default(),
        }
    }

    /// The store an `s3://bucket/prefix` URL names, configured from the standard
    /// variables (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_REGION`, `AWS_ALLOW_HTTP`, ...).
    pub fn from_url(url: &str) -> Result<Self, CheckpointError> {
        Self::from_url_with(url, std::iter::empty::<(String, String)>())
    }

    /// [`from_url`](Self::from_url) with more `object_store` S3 settings, by
    /// key (`aws_endpoint_url`, `aws_access_key_id`, `aws_allow_http`, ...); they
    /// override the variables.
    pub fn from_url_with(
        url: &str,
        options: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, CheckpointError> {
        let location = url.trim_end_matches('/').to_string();
        let Some(rest) = location.strip_prefix("s3://").or_else(|| location.strip_prefix("s3a://")) else {
            return Err(CheckpointError::UnsupportedUrl { url: location });
        };
        let prefix = rest.split_once('/').map_or("", |(_, p)| p).to_string();
        let configure =
            |source| CheckpointError::Object { location: location.clone(), action: "configure".into(), source };
        let mut builder = object_store::aws::AmazonS3Builder::from_env().with_url(&location);
        for (key, value) in options {
            builder = builder.with_config(key.parse().map_err(configure)?, value);
        }
        let store = builder.build().map_err(configure)?;
        Ok(ObjectCheckpointStore::new(Arc::new(store), &prefix, location))
    }

    fn key(&self, epoch: u64) -> ObjectPath {
        // Zero-padded so that listing order is epoch order.
        self.prefix.clone().join(format!("epoch-{epoch:020}.ckpt"))
    }

    fn url_of(&self, epoch: u64) -> String {
        format!("{}/epoch-{epoch:020}.ckpt", self.location)
    }

    fn failed(&self, action: impl Into<String>) -> impl FnOnce(object_store::Error) -> CheckpointError + '_ {
        let action = action.into();
        move |source| CheckpointError::Object { location: self.location.clone(), action, source }
    }

    fn anchor(&self) -> Option<u64> {
        *self.anchor.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_anchor(&self, epoch: u64) {
        let mut anchor = self.anchor.lock().unwrap_or_else(|p| p.into_inner());
        *anchor = Some(anchor.map_or(epoch, |a| a.max(epoch)));
    }

    async fn list_epochs(&self) -> Result<Vec<u64>, CheckpointError> {
        let objects: Vec<_> =
            self.store.list(Some(&self.prefix)).try_collect().await.map_err(self.failed("list the manifests"))?;
        let mut epochs = Vec::new();
        for object in objects {
            let Some(name) = object.location.filename() else { continue };
            // Only this prefix's own manifests, not those of a nested prefix.
            if object.location.prefix_match(&self.prefix).map(|parts| parts.count()) != Some(1) {
                continue;
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

    async fn save_bytes(&self, epoch: u64, bytes: Vec<u8>) -> Result<(), CheckpointError> {
        if let Some(anchor) = self.anchor() {
            match self.store.head(&self.key(anchor)).await {
                Ok(_) => {}
                Err(object_store::Error::NotFound { .. }) => {
                    return Err(CheckpointError::Lost { location: self.location.clone(), epoch: Epoch::new(anchor) })
                }
                Err(e) => return Err(self.failed(format!("check epoch {anchor}"))(e)),
            }
        }
        let key = self.key(epoch);
        let options = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
        match self.store.put_opts(&key, PutPayload::from(bytes), options).await {
            Ok(_) => {}
            Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
                return Err(CheckpointError::Fenced { location: self.location.clone(), epoch: Epoch::new(epoch) });
            }
            Err(e) => return Err(self.failed(format!("write epoch {epoch}"))(e)),
        }
        // As in the local store: a stalled writer whose epoch was free only
        // because the new owner pruned its fence must not publish it.
        if self.list_epochs().await?.last().is_some_and(|&newest| newest > epoch) {
            self.store.delete(&key).await.map_err(self.failed(format!("withdraw epoch {epoch}")))?;
            return Err(CheckpointError::Fenced { location: self.location.clone(), epoch: Epoch::new(epoch) });
        }
        self.set_anchor(epoch);
        Ok(())
    }

    async fn load_epoch(&self, epoch: u64) -> Result<Manifest, CheckpointError> {
        let url = self.url_of(epoch);
        let get = self.store.get(&self.key(epoch)).await.map_err(self.failed(format!("read epoch {epoch}")))?;
        let bytes = get.bytes().await.map_err(self.failed(format!("read epoch {epoch}")))?;
        let manifest =
            file_format::decode(&bytes).map_err(|source| CheckpointError::Corrupt { file: url.clone(), source })?;
        if manifest.epoch.get() != epoch {
            return Err(CheckpointError::Mismatch {
                epoch: manifest.epoch,
                reason: ManifestMismatch::StoredAs { file: url },
            });
        }
        self.set_anchor(epoch);
        Ok(manifest)
    }

    async fn prune_to(&self, keep: usize) -> Result<(), CheckpointError> {
        let epochs = self.list_epochs().await?;
        let drop = epochs.len().saturating_sub(keep.max(1));
        for epoch in &epochs[..drop] {
            self.store.delete(&self.key(*epoch)).await.map_err(self.failed(format!("remove epoch {epoch}")))?;
        }
        Ok(())
    }
}

impl CheckpointStore for ObjectCheckpointStore {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn epochs(&self) -> StoreFuture<'_, Vec<Epoch>> {
        Box::pin(async move { Ok(self.list_epochs().await?.into_iter().map(Epoch::new).collect()) })
    }

    fn load(&self, epoch: Epoch) -> StoreFuture<'_, Manifest> {
        Box::pin(self.load_epoch(epoch.get()))
    }

    fn save<'a>(&'a self, manifest: &'a Manifest) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let file = self.url_of(manifest.epoch.get());
            let bytes = file_format::encode(manifest).map_err(|source| CheckpointError::Corrupt { file, source })?;
            self.save_bytes(manifest.epoch.get(), bytes).await
        })
    }

    fn prune(&self, keep: usize) -> StoreFuture<'_, ()> {
        Box::pin(self.prune_to(keep))
    }
}

/// The store a checkpoint location names: `s3://bucket/prefix` (or `s3a://`) an
/// [`ObjectCheckpointStore`], `file:///path` or a plain path a
/// [`LocalCheckpointStore`](super::LocalCheckpointStore).
///
/// ```
/// use tidemill_runtime::checkpoint::{store_for, CheckpointStore};
/// assert_eq!(store_for("/var/lib/orders/checkpoints").unwrap().location(), "/var/lib/orders/checkpoints");
/// assert_eq!(store_for("file:///tmp/chk").unwrap().location(), "/tmp/chk");
/// assert!(store_for("gs://bucket/chk").is_err());
/// ```
pub fn store_for(location: &str) -> Result<Arc<dyn CheckpointStore>, CheckpointError> {
    if location.starts_with("s3://") || location.starts_with("s3a://") {
        return Ok(Arc::new(ObjectCheckpointStore::from_url(location)?));
    }
    if let Some(path) = location.strip_prefix("file://") {
        return Ok(Arc::new(super::LocalCheckpointStore::new(path)));
    }
    if location.contains("://") {
        return Err(CheckpointError::UnsupportedUrl { url: location.to_string() });
    }
    Ok(Arc::new(super::LocalCheckpointStore::new(location)))
}

#[cfg(test)]
#[path = "object_tests.rs"]
mod tests;
