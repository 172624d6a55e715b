//! Why a checkpoint could not be written, read or used.

use crate::time::Epoch;

/// A checkpoint could not be written, read or used.
///
/// [`CheckpointError::is_transient`] tells the supervisor what to do: a transient
/// error (the disk is full, the object store does not answer) is retried until the
/// storage works again; any other means that going on could break exactly-once,
/// and the job stops with the error.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Reading or writing the store failed.
    #[error("checkpoint store {location}: {action}")]
    Io {
        /// Where (a path or URL).
        location: String,
        /// What was being done.
        action: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A manifest file exists but cannot be used.
    #[error("checkpoint {file} cannot be used")]
    Corrupt {
        /// The file (path or URL).
        file: String,
        /// What is wrong with it.
        #[source]
        source: FormatError,
    },
    /// Another writer already wrote this epoch: this job instance lost its
    /// partition or was taken over, and must not commit anything for the epoch.
    #[error("checkpoint store {location}: epoch {epoch} was already written by another owner of this job (it was taken over); nothing is committed for it here")]
    Fenced {
        /// Where.
        location: String,
        /// The epoch.
        epoch: Epoch,
    },
    /// The manifest this job last wrote or read is gone: the store was deleted or
    /// replaced while the job ran.
    #[error("checkpoint store {location}: epoch {epoch}, which this job wrote or resumed, is gone: the checkpoint store was deleted or replaced while the job ran; refusing to start a new line of checkpoints there")]
    Lost {
        /// Where.
        location: String,
        /// The missing epoch.
        epoch: Epoch,
    },
    /// The selected checkpoint does not exist.
    #[error("checkpoint store {location} has no checkpoint {wanted} (epochs there: {available})")]
    Missing {
        /// Where.
        location: String,
        /// What was asked for (`previous`, `epoch 7`).
        wanted: String,
        /// The epochs in the store, as a list.
        available: String,
    },
    /// A manifest does not fit the job (another job, another graph, another routing).
    #[error("checkpoint epoch {epoch} does not fit this job")]
    Mismatch {
        /// The manifest's epoch.
        epoch: Epoch,
        /// Why.
        #[source]
        reason: ManifestMismatch,
    },
    /// An object store request failed (the server does not answer, refuses the
    /// credentials, ...).
    #[error("checkpoint store {location}: {action}")]
    Object {
        /// The store's URL.
        location: String,
        /// What was being done.
        action: String,
        /// The object store's error.
        #[source]
        source: object_store::Error,
    },
    /// A checkpoint location with a scheme no store handles.
    #[error("checkpoint location {url}: unsupported scheme (use s3://bucket/prefix, file:///path or a path)")]
    UnsupportedUrl {
        /// The location.
        url: String,
    },
    /// A store implementation failed in a way none of the above describes.
    #[error("checkpoint store {location}: {reason}")]
    Store {
        /// Where (a path or URL).
        location: String,
        /// Why.
        reason: String,
    },
}

impl CheckpointError {
    /// Whether waiting and trying again may help (storage I/O), as opposed to a
    /// state in which going on would be wrong.
    pub fn is_transient(&self) -> bool {
        matches!(self, CheckpointError::Io { .. } | CheckpointError::Object { .. } | CheckpointError::Store { .. })
    }
}

/// How a manifest does not fit the job that would resume it.
#[derive(Debug, thiserror::Error)]
pub enum ManifestMismatch {
    /// The file's name says another epoch than its content.
    #[error("it is stored as {file} (renamed?)")]
    StoredAs {
        /// The file.
        file: String,
    },
    /// The store holds checkpoints of another job.
    #[error("the checkpoint store {location} holds job `{found}`, not `{expected}`")]
    OtherJob {
        /// Where.
        location: String,
        /// The job the manifest belongs to.
        found: String,
        /// The job that would resume it.
        expected: String,
    },
    /// Keyed state was sharded with another routing scheme.
    #[error("its keyed state was routed with scheme {found}, this version routes with scheme {expected}: restoring it would put state into the wrong shards")]
    Routing {
        /// The manifest's routing scheme.
        found: u32,
        /// This version's.
        expected: u32,
    },
    /// A shard of the job has no state in the manifest: the job graph changed.
    #[error("it has no state for {node}[{shard}]: the job graph changed")]
    NoShard {
        /// The node.
        node: String,
        /// The shard.
        shard: usize,
    },
    /// A node has another shard count than when the manifest was written.
    #[error("it has {checkpointed} shards of {node}, the job has {planned}: changing parallelism needs a fresh start")]
    Parallelism {
        /// The node.
        node: String,
        /// Its shards in the manifest.
        checkpointed: usize,
        /// Its shards in the job.
        planned: usize,
    },
}

/// What is wrong with the bytes of a manifest file.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// The file does not start with the checkpoint magic line.
    #[error("not a Tidemill checkpoint (bad magic line)")]
    BadMagic,
    /// The file is in a format of another Tidemill version.
    #[error("it is in checkpoint format {found}, written by another Tidemill version; this version reads format {expected} (resume it with the version that wrote it, or start with an empty checkpoint folder)")]
    Version {
        /// The format found.
        found: String,
        /// The format this version reads.
        expected: u32,
    },
    /// The JSON header line has no end.
    #[error("the header is not terminated (the file is truncated)")]
    Unterminated,
    /// The JSON header does not parse.
    #[error("the header is not valid")]
    Header(#[source] serde_json::Error),
    /// The header lists as many state lengths as shards, or the file is damaged.
    #[error("{lengths} state lengths for {shards} shards")]
    StateCount {
        /// State lengths in the header.
        lengths: usize,
        /// Shards in the header.
        shards: usize,
    },
    /// The file ends inside a shard's state.
    #[error("truncated in the state of {node}[{shard}]")]
    Truncated {
        /// The node.
        node: String,
        /// The shard.
        shard: usize,
    },
    /// Bytes follow the last state.
    #[error("{0} bytes after the last state")]
    Trailing(usize),
    /// The header could not be encoded (a bug).
    #[error("the header could not be encoded")]
    Encode(#[source] serde_json::Error),
}
