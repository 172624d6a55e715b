//! Why a [`JsonLinesFileSource`](super::JsonLinesFileSource) cannot go on where the
//! file system itself reported no error: the cause inside its
//! [`SourceError`](tidemill_runtime::SourceError).

use std::path::PathBuf;

/// A file source's input does not fit what it was asked to read.
#[derive(Debug, thiserror::Error)]
pub enum FileSourceError {
    /// A folder holds more files than a partition id can number.
    #[error("more than {} files", u32::MAX)]
    TooManyFiles,
    /// The file was truncated after the checkpoint that points into it.
    #[error("file is {len} bytes, shorter than the checkpointed offset {offset}")]
    ShorterThanCheckpoint {
        /// The file's length now.
        len: u64,
        /// The byte offset the checkpoint resumes at.
        offset: u64,
    },
    /// The folder's files changed between the checkpoint and the restore.
    #[error("checkpoint is at file {checkpointed:?} (#{index}), but the input now lists {listed:?} there")]
    InputChanged {
        /// The position of the file in the folder's listing.
        index: usize,
        /// The file the checkpoint was reading.
        checkpointed: Option<PathBuf>,
        /// The file the folder lists at that position now.
        listed: Option<PathBuf>,
    },
}
