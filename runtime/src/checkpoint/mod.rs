//! Checkpoints: what every actor reported at one barrier, made durable.
//!
//! When every actor has acknowledged barrier N, the supervisor writes a
//! [`Manifest`] (source positions, operator state, sinks' staged output) to the
//! job's [`CheckpointStore`] *before* any sink commits epoch N. A restarted job
//! loads a manifest (the newest by default, see [`FromCheckpoint`]), lets each sink
//! finish the commit of what it staged (sinks commit idempotently) and undo what it
//! committed for later epochs, restores every operator and seeks every source.
//!
//! Every manifest carries the job's [`LineageId`] and the routing scheme its keyed
//! state was sharded with, so that output of another run is never taken for this
//! one's, and state is never restored into shards that another routing would pick.

mod coordinator;
mod error;
mod file_format;
mod lineage;
mod local;
mod object;
mod select;
#[cfg(test)]
mod test_manifests;

pub(crate) use coordinator::{Completed, Coordinator, ShardAck};
pub use error::{CheckpointError, FormatError, ManifestMismatch};
pub use lineage::{BadLineageId, LineageId};
pub use local::LocalCheckpointStore;
pub use object::{store_for, ObjectCheckpointStore};
pub(crate) use select::select;
pub use select::FromCheckpoint;

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::counters::ShardCounts;
use crate::time::Epoch;

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
    /// staged output (`StagedOutput` bytes). Stored as raw bytes after the header
    /// in the file format, never inside it.
    #[serde(skip)]
    pub state: Vec<u8>,
    /// The shard's counters at the barrier.
    pub(crate) counts: ShardCounts,
}

impl ShardCheckpoint {
    /// Records a source shard had read at the barrier.
    pub fn records_in(&self) -> u64 {
        self.counts.records_in
    }

    /// Records an output sink shard had written at the barrier.
    pub fn records_out(&self) -> u64 {
        self.counts.records_out
    }

    /// Dead letters a dead-letter sink shard had written at the barrier.
    pub fn dead_letters_written(&self) -> u64 {
        self.counts.dead_letters_written
    }
}

/// A complete checkpoint of a job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The job's name.
    pub job: String,
    /// The line of checkpoints this one belongs to (see [`LineageId`]).
    pub lineage: LineageId,
    /// The routing scheme keyed state was sharded with.
    pub routing: u32,
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

    /// The bytes of every shard's state and staged output together.
    pub fn state_bytes(&self) -> u64 {
        self.shards.iter().map(|s| s.state.len() as u64).sum()
    }
}

/// A boxed future, so that stores can be used as trait objects.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, CheckpointError>> + Send + 'a>>;

/// Where manifests are kept: a local folder ([`LocalCheckpointStore`]) or object
/// storage ([`ObjectCheckpointStore`]); [`store_for`] picks one for a location.
///
/// Contract, which the runtime's exactly-once guarantee rests on:
/// - `save` writes a manifest atomically (after a crash either all of it or none of
///   it is there) and **at most once per epoch**: a second writer of the same epoch
///   gets [`CheckpointError::Fenced`] and must not commit anything for it. So does
///   a writer of an epoch below the newest in the store (the other writer's copy
///   of the epoch was pruned meanwhile).
/// - `save` refuses with [`CheckpointError::Lost`] when the manifest this store
///   handle last saved or loaded is gone (the folder was deleted or replaced while
///   the job ran): writing on would start a new, unrelated line of checkpoints.
/// - `epochs` lists every epoch that has a manifest, readable or not, so that the
///   next epoch never reuses a number.
pub trait CheckpointStore: Send + Sync + 'static {
    /// Where the manifests are (a path or URL), for messages.
    fn location(&self) -> String;
    /// The epochs of the manifests in the store, ascending.
    fn epochs(&self) -> StoreFuture<'_, Vec<Epoch>>;
    /// The manifest of `epoch`; an error names the file and why it cannot be used.
    fn load(&self, epoch: Epoch) -> StoreFuture<'_, Manifest>;
    /// Writes a manifest once (see the trait docs).
    fn save<'a>(&'a self, manifest: &'a Manifest) -> StoreFuture<'a, ()>;
    /// Deletes all but the newest `keep` manifests.
    fn prune(&self, keep: usize) -> StoreFuture<'_, ()>;

    /// The manifest with the highest epoch, if any (an error if it cannot be read).
    fn latest(&self) -> StoreFuture<'_, Option<Manifest>> {
        Box::pin(async move {
            match self.epochs().await?.last() {
                Some(&epoch) => self.load(epoch).await.map(Some),
                None => Ok(None),
            }
        })
    }
}

/// A shared store is a store ([`store_for`] returns one).
impl<S: CheckpointStore + ?Sized> CheckpointStore for std::sync::Arc<S> {
    fn location(&self) -> String {
        (**self).location()
    }

    fn epochs(&self) -> StoreFuture<'_, Vec<Epoch>> {
        (**self).epochs()
    }

    fn load(&self, epoch: Epoch) -> StoreFuture<'_, Manifest> {
        (**self).load(epoch)
    }

    fn save<'a>(&'a self, manifest: &'a Manifest) -> StoreFuture<'a, ()> {
        (**self).save(manifest)
    }

    fn prune(&self, keep: usize) -> StoreFuture<'_, ()> {
        (**self).prune(keep)
    }

    fn latest(&self) -> StoreFuture<'_, Option<Manifest>> {
        (**self).latest()
    }
}
