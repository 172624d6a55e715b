//! Checkpoints: what every actor reported at one barrier, made durable.
//!
//! When every actor has acknowledged barrier N, the supervisor writes a
//! [`Manifest`] (source positions, operator state, sinks' staged output) to the
//! job's [`CheckpointStore`] *before* any sink commits epoch N. A restarted job
//! loads the newest manifest, lets each sink finish the commit of what it staged
//! (sinks commit idempotently), restores every operator and seeks every source.

mod coordinator;
mod file_format;
mod local;

pub(crate) use coordinator::{Completed, Coordinator};
pub use local::LocalCheckpointStore;

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::counters::ShardCounts;
use crate::time::Epoch;

/// A checkpoint could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The store failed.
    #[error("checkpoint store {location}: {reason}")]
    Store {
        /// Where (a path or URL).
        location: String,
        /// Why.
        reason: String,
    },
    /// A manifest does not fit the job (another job, other parallelism).
    #[error("checkpoint epoch {epoch} does not fit this job: {reason}")]
    Mismatch {
        /// The manifest's epoch.
        epoch: Epoch,
        /// Why.
        reason: String,
    },
}

/// What one shard reported at the barrier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardCheckpoint {
    /// The node's name.
    pub node: String,
    /// The shard index.
    pub shard: usize,
    /// The node's parallelism when the checkpoint was taken.
    pub shards: usize,
    /// Source position or operator state (`StateSnapshot` bytes), or a sink's
    /// staged output (`StagedOutput` bytes).
    #[serde(with = "base64_bytes")]
    pub state: Vec<u8>,
    /// The shard's counters at the barrier.
    pub counts: ShardCounts,
}

/// A complete checkpoint of a job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The job's name.
    pub job: String,
    /// The checkpoint's epoch.
    pub epoch: Epoch,
    /// Whether this is the final checkpoint after the end of every input.
    pub finished: bool,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// One entry per shard of every node.
    pub shards: Vec<ShardCheckpoint>,
}

impl Manifest {
    /// The entry of `node`'s shard `shard`.
    pub fn shard(&self, node: &str, shard: usize) -> Option<&ShardCheckpoint> {
        self.shards.iter().find(|s| s.node == node && s.shard == shard)
    }
}

/// A boxed future, so that stores can be used as trait objects.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, CheckpointError>> + Send + 'a>>;

/// Where manifests are kept: a local folder by default; object storage implements
/// the same three calls.
pub trait CheckpointStore: Send + Sync + 'static {
    /// Writes a manifest atomically: after a crash either all of it or none of it
    /// is there.
    fn save<'a>(&'a self, manifest: &'a Manifest) -> StoreFuture<'a, ()>;
    /// The manifest with the highest epoch, if any.
    fn latest(&self) -> StoreFuture<'_, Option<Manifest>>;
    /// Deletes all but the newest `keep` manifests.
    fn prune(&self, keep: usize) -> StoreFuture<'_, ()>;
}

mod base64_bytes {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}
