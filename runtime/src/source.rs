//! The source trait: where records enter a job.

use std::future::Future;

use crate::dead_letter::DeadLetter;
use crate::operator::StateSnapshot;
use crate::record::Batch;
use crate::time::Epoch;
use crate::BoxError;

/// A source failed and the pipeline must restart.
///
/// The cause is the variant's source, typed by the source (an `std::io::Error`, a
/// Kafka error), so that a caller can downcast it and
/// [`ErrorChain`](crate::ErrorChain) prints it after this error's own text.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The input cannot be read (missing file, permission, broker gone).
    #[error("source cannot read {what}")]
    Unreadable {
        /// What could not be read.
        what: String,
        /// Why.
        #[source]
        reason: BoxError,
    },
    /// Taking or restoring a snapshot failed (the source's node is named by the
    /// runtime).
    #[error("source state")]
    State(#[source] BoxError),
}

impl SourceError {
    /// `what` cannot be read because of `reason`.
    pub fn unreadable(what: impl Into<String>, reason: impl Into<BoxError>) -> Self {
        SourceError::Unreadable { what: what.into(), reason: reason.into() }
    }

    /// The source's position could not be saved or restored because of `cause`.
    pub fn state(cause: impl Into<BoxError>) -> Self {
        SourceError::State(cause.into())
    }
}

/// What one poll of a source produced.
#[derive(Debug)]
pub enum SourcePoll<T> {
    /// Some records.
    Data(Batch<T>),
    /// Nothing right now; poll again later.
    Idle,
    /// The (bounded) input is exhausted.
    End,
}

/// One partition of a source, run by one source actor.
///
/// `poll` should return within a short time (a Kafka source polls with a timeout);
/// the runtime interleaves polls with checkpoint barrier injection and stop requests.
pub trait Source: Send + 'static {
    /// Record type produced.
    type Out: Send + 'static;

    /// Whether the source may reject records it reads (see
    /// [`take_dead_letters`](Source::take_dead_letters)); a job with such a source
    /// must give its dead letters a sink.
    const EMITS_DEAD_LETTERS: bool = false;

    /// Records the source read but could not pass on (a line longer than the
    /// job's `max_record_bytes`), as dead letters, since the last call. The runtime
    /// calls it after every `poll`, so they travel in the same epoch as the records
    /// around them.
    fn take_dead_letters(&mut self) -> Vec<DeadLetter> {
        Vec::new()
    }

    /// Produces up to `max_records` records.
    fn poll(&mut self, max_records: usize) -> impl Future<Output = Result<SourcePoll<Self::Out>, SourceError>> + Send;

    /// The source's position at a barrier (offsets).
    fn snapshot(&self) -> Result<StateSnapshot, SourceError> {
        Ok(StateSnapshot::empty())
    }

    /// The checkpoint whose snapshot included this source's position is durable.
    /// A Kafka source commits that position to its consumer group here (for lag
    /// tooling: the truth is the checkpoint).
    fn checkpoint_complete(&mut self, epoch: Epoch) -> impl Future<Output = Result<(), SourceError>> + Send {
        let _ = epoch;
        async { Ok(()) }
    }

    /// The source's downstream has been full for a while: stop fetching ahead.
    /// `poll` is not called again before [`resume`](Source::resume). A Kafka source
    /// pauses its partition here, while its consumer keeps serving the client, so
    /// that memory stays bounded and the broker keeps the consumer.
    fn pause(&mut self) {}

    /// The downstream took the batch that was waiting after [`pause`](Source::pause).
    fn resume(&mut self) {}

    /// Seeks to a position taken by `snapshot`.
    fn restore(&mut self, snapshot: &StateSnapshot) -> Result<(), SourceError> {
        let _ = snapshot;
        Ok(())
    }
}
