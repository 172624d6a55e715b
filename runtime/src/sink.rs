//! The sink trait: where records leave a job, with a two-phase commit.

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::dead_letter::DeadLetter;
use crate::record::Batch;
use crate::time::Epoch;
use crate::BoxError;

/// A sink could not write or commit.
///
/// The first three variants name the destination and carry the cause as their
/// source, typed by the sink (an `std::io::Error`, a Delta or Kafka error), so that
/// a caller can downcast it and [`ErrorChain`](crate::ErrorChain) prints it after
/// the destination.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Writing or staging output failed.
    #[error("sink write failed: {destination}")]
    Write {
        /// The table, topic or path.
        destination: String,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// Committing staged output failed.
    #[error("sink commit failed: {destination}")]
    Commit {
        /// The table, topic or path.
        destination: String,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// The sink's destination cannot be used (unwritable path, bad table).
    #[error("sink unavailable: {destination}")]
    Unavailable {
        /// The table, topic or path.
        destination: String,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// A run that starts without a checkpoint found output of an earlier run of
    /// the same job at the destination, and the job's
    /// [`ExistingOutput`](crate::ExistingOutput) setting is `refuse`.
    #[error(
        "{destination} already holds output of an earlier run of this job ({evidence}); refusing to add this run's \
         output to it, which would count its input twice if it is the same: resume that run with its checkpoints, \
         write to another place, or set existing_output = \"append\" to add this run's output under a new lineage"
    )]
    ExistingOutput {
        /// The table, topic or path.
        destination: String,
        /// What shows the earlier run (a transaction id found in the table's log).
        evidence: String,
    },
}

impl SinkError {
    /// Writing to `destination` failed because of `source`.
    pub fn write(destination: impl Into<String>, source: impl Into<BoxError>) -> Self {
        SinkError::Write { destination: destination.into(), source: source.into() }
    }

    /// Committing to `destination` failed because of `source`.
    pub fn commit(destination: impl Into<String>, source: impl Into<BoxError>) -> Self {
        SinkError::Commit { destination: destination.into(), source: source.into() }
    }

    /// `destination` cannot be used because of `source`.
    pub fn unavailable(destination: impl Into<String>, source: impl Into<BoxError>) -> Self {
        SinkError::Unavailable { destination: destination.into(), source: source.into() }
    }

    /// Whether waiting and trying again may help: writing or committing failed
    /// (storage full or unreachable), as opposed to a destination that cannot be
    /// used as configured.
    pub fn is_transient(&self) -> bool {
        matches!(self, SinkError::Write { .. } | SinkError::Commit { .. })
    }
}

/// A description of output a sink staged at a barrier and has not yet made visible
/// (for Delta: the Parquet files written and their add actions). It goes into the
/// checkpoint manifest so that a restarted sink can finish the commit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagedOutput(pub Vec<u8>);

/// Where records leave the job.
///
/// The runtime calls `write` with each batch, `stage` when a checkpoint barrier
/// has arrived on every input (make the epoch's output durable but invisible), and
/// `commit` once the checkpoint is complete (make it visible, idempotently: commit
/// may be called again with the same staged output after a crash). At the end of a
/// bounded input the runtime stages and commits a final epoch.
pub trait Sink: Send + 'static {
    /// Input record type.
    type In: Send + 'static;

    /// Whether the sink may refuse single records (see
    /// [`take_dead_letters`](Sink::take_dead_letters)); a job with such a sink must
    /// give its dead letters a sink.
    const EMITS_DEAD_LETTERS: bool = false;

    /// Records the destination refused since the last call (a row that cannot be
    /// converted to the table's format), as dead letters with
    /// [`ReasonCode::SinkReject`](crate::ReasonCode::SinkReject). The rest of the
    /// batch is written and committed as usual. The runtime calls it after every
    /// `write` and `stage`, so a refused record travels in the epoch it was written
    /// in. A sink that receives dead letters itself must not refuse any: there is
    /// nowhere to send them, so it fails instead.
    fn take_dead_letters(&mut self) -> Vec<DeadLetter> {
        Vec::new()
    }

    /// Prepares the destination (creates the table, checks it is writable). Called
    /// once before the first write; an error here is a clear start-up failure.
    fn open(&mut self) -> impl Future<Output = Result<(), SinkError>> + Send {
        async { Ok(()) }
    }

    /// Writes (or buffers) a batch.
    fn write(&mut self, batch: Batch<Self::In>) -> impl Future<Output = Result<(), SinkError>> + Send;

    /// Makes everything written since the last stage durable but not yet visible.
    fn stage(&mut self, epoch: Epoch) -> impl Future<Output = Result<StagedOutput, SinkError>> + Send;

    /// Makes staged output visible. Must be idempotent.
    fn commit(&mut self, epoch: Epoch, staged: StagedOutput) -> impl Future<Output = Result<(), SinkError>> + Send;
}
