//! The operator trait job authors implement, and the output it writes to.
//!
//! Operators are plain synchronous code: the runtime owns the actor, the edges,
//! watermark tracking and barrier alignment, and calls the operator with one input
//! batch at a time. That keeps operators easy to test (see [`crate::OperatorHarness`])
//! and keeps `await` points, where backpressure applies, in one place.

use std::sync::Arc;

use chrono::Utc;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::dead_letter::{DeadLetter, ReasonCode};
use crate::record::{Batch, Origin, Record};
use crate::time::EventTime;
use crate::BoxError;

/// An operator failed in a way that is not about one record (its state is broken).
/// The supervisor restarts the pipeline from the last checkpoint. Problems with one
/// record are not errors: send the record to the dead-letter output instead.
///
/// Each variant carries the cause as its source, typed by the operator that
/// failed, so that callers can downcast it; the runtime prints the whole chain
/// (see [`ErrorChain`](crate::ErrorChain)) and names the operator's node itself,
/// so the variants hold no text of their own.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// The operator cannot go on.
    #[error("operator failed")]
    Failed(#[source] BoxError),
    /// A snapshot could not be taken or restored.
    #[error("operator state")]
    State(#[source] BoxError),
}

impl OperatorError {
    /// The operator cannot go on because of `cause`.
    pub fn failed(cause: impl Into<BoxError>) -> Self {
        OperatorError::Failed(cause.into())
    }

    /// The operator's snapshot could not be taken or restored because of `cause`.
    pub fn state(cause: impl Into<BoxError>) -> Self {
        OperatorError::State(cause.into())
    }
}

/// A [`StateSnapshot`] could not be encoded or decoded: the source of the
/// [`OperatorError::State`] that [`StateSnapshot::encode`] and
/// [`StateSnapshot::decode`] return.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The state cannot be serialised (a type that needs `deserialize_any`).
    #[error("cannot encode the state snapshot")]
    Encode(#[source] postcard::Error),
    /// The bytes are not a snapshot of the expected type (another version of the
    /// operator, or a snapshot of another node).
    #[error("cannot decode the state snapshot")]
    Decode(#[source] postcard::Error),
}

impl From<SnapshotError> for OperatorError {
    fn from(e: SnapshotError) -> Self {
        OperatorError::State(Box::new(e))
    }
}

/// The serialised state of one operator shard at a checkpoint barrier.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateSnapshot(pub Vec<u8>);

impl StateSnapshot {
    /// A snapshot of an operator without state.
    pub fn empty() -> Self {
        StateSnapshot(Vec::new())
    }

    /// Serialises any serde value as a snapshot, in postcard's compact binary
    /// format: a full snapshot of a large keyed state at every checkpoint is the
    /// cost that matters here, and JSON (string escaping, decimal numbers) was
    /// several times slower and larger. Types that need `deserialize_any`
    /// (`#[serde(untagged)]`, `flatten`, `serde_json::Value`) cannot be encoded.
    pub fn encode<S: Serialize>(state: &S) -> Result<Self, OperatorError> {
        Ok(postcard::to_stdvec(state).map(StateSnapshot).map_err(SnapshotError::Encode)?)
    }

    /// Deserialises a snapshot made by [`StateSnapshot::encode`].
    pub fn decode<S: DeserializeOwned>(&self) -> Result<S, OperatorError> {
        Ok(postcard::from_bytes(&self.0).map_err(SnapshotError::Decode)?)
    }

    /// Size of the snapshot in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the snapshot is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Where an operator writes what it produces while handling one input.
pub struct Output<T> {
    records: Vec<Record<T>>,
    dead_letters: Vec<DeadLetter>,
    watermark: Option<EventTime>,
    stage: Arc<str>,
}

impl<T> Output<T> {
    /// An empty output for the operator named `stage`.
    pub fn new(stage: Arc<str>) -> Self {
        Output { records: Vec::new(), dead_letters: Vec::new(), watermark: None, stage }
    }

    /// Emits one record downstream.
    #[inline]
    pub fn emit(&mut self, record: Record<T>) {
        self.records.push(record);
    }

    /// Emits many records downstream.
    pub fn emit_all(&mut self, records: impl IntoIterator<Item = Record<T>>) {
        self.records.extend(records);
    }

    /// Sends a record to the dead-letter queue with a reason.
    pub fn dead_letter(&mut self, payload: Vec<u8>, reason: ReasonCode, detail: impl Into<String>, origin: Origin) {
        self.dead_letters.push(DeadLetter {
            payload,
            reason,
            detail: detail.into(),
            origin,
            stage: self.stage.clone(),
            rejected_at: Utc::now(),
        });
    }

    /// Announces event-time progress. Only operators whose
    /// [`Operator::generates_watermarks`] is true may call this; for others the runtime
    /// forwards the minimum of the input watermarks.
    pub fn emit_watermark(&mut self, watermark: EventTime) {
        self.watermark = Some(self.watermark.map_or(watermark, |w| w.max(watermark)));
    }

    /// The name of the operator this output belongs to.
    pub fn stage(&self) -> &Arc<str> {
        &self.stage
    }

    /// Records emitted so far.
    pub fn records(&self) -> &[Record<T>] {
        &self.records
    }

    /// Moves everything `other` holds into this output, after what is here.
    pub fn append(&mut self, mut other: Output<T>) {
        let (records, dead, watermark) = other.take();
        self.records.extend(records);
        self.dead_letters.extend(dead);
        if let Some(w) = watermark {
            self.emit_watermark(w);
        }
    }

    /// Takes what was written, leaving the output empty.
    pub fn take(&mut self) -> (Batch<T>, Vec<DeadLetter>, Option<EventTime>) {
        (std::mem::take(&mut self.records), std::mem::take(&mut self.dead_letters), self.watermark.take())
    }
}

/// A stream transformation run by one shard of an operator node.
///
/// Every method gets the [`Output`] to write to. The runtime guarantees the
/// order: batches and watermarks arrive as sent by each input; `on_watermark` is
/// called only when the minimum over the inputs advances; `snapshot` is called once
/// all inputs delivered the same barrier (aligned), so the state it returns holds
/// exactly the records before that barrier. When every input has ended,
/// `on_watermark(EventTime::MAX)` fires whatever is still open.
pub trait Operator: Send + 'static {
    /// Input record type.
    type In: Send + 'static;
    /// Output record type.
    type Out: Send + 'static;

    /// Handles one batch of input records.
    fn process(&mut self, batch: Batch<Self::In>, out: &mut Output<Self::Out>) -> Result<(), OperatorError>;

    /// Event time has advanced to `watermark` on every input.
    fn on_watermark(&mut self, watermark: EventTime, out: &mut Output<Self::Out>) -> Result<(), OperatorError> {
        let _ = (watermark, out);
        Ok(())
    }

    /// Every input of the operator went idle (no records for the source's idle
    /// timeout): its watermark holds still, and downstream leaves this input out
    /// of its minimum until a watermark comes again. Operators that carry event
    /// time further themselves (a repartition writer telling the next stage
    /// through Kafka) say so here; most do nothing. Not called for operators that
    /// generate watermarks.
    fn on_idle(&mut self, out: &mut Output<Self::Out>) -> Result<(), OperatorError> {
        let _ = out;
        Ok(())
    }

    /// Whether this operator makes its own watermarks (a timestamp assigner) instead
    /// of forwarding the minimum of its inputs'.
    fn generates_watermarks(&self) -> bool {
        false
    }

    /// The operator's state at an aligned barrier.
    fn snapshot(&self) -> Result<StateSnapshot, OperatorError> {
        Ok(StateSnapshot::empty())
    }

    /// Replaces the operator's state with a snapshot taken earlier.
    fn restore(&mut self, snapshot: &StateSnapshot) -> Result<(), OperatorError> {
        let _ = snapshot;
        Ok(())
    }
}
