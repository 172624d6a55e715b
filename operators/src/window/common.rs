//! Pieces shared by the window operators: key functions, the key bound, late-record
//! routing and snapshot headers.

use std::hash::Hash;
use std::sync::Arc;

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use tidemill_runtime::{EventTime, OperatorError, Origin, Output, ReasonCode};

use super::spec::WindowSpec;

/// Computes a record's key. Shared (`Arc`) so a job graph can hand the same
/// function to every shard.
pub type KeyFn<T, K> = Arc<dyn Fn(&T) -> K + Send + Sync>;

/// What a window key must be: hashable for the per-record lookup, ordered so that
/// results of one window are emitted in a deterministic order (by key), and
/// serialisable for checkpoints. Implemented for every type that qualifies
/// (`String`, integers, tuples of them, ...).
pub trait WindowKey: Clone + Eq + Hash + Ord + Send + Serialize + DeserializeOwned + 'static {}

impl<K: Clone + Eq + Hash + Ord + Send + Serialize + DeserializeOwned + 'static> WindowKey for K {}

/// Clamps an exact (`i128`) time to the representable event-time range.
pub(crate) fn clamp_time(t: i128) -> EventTime {
    EventTime::from_millis(t.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
}

/// Sends a late record to the dead-letter output. The payload is the record's value
/// as JSON; if it cannot be serialised the payload is empty and the detail says why,
/// so the record is still counted and visible.
pub(crate) fn dead_letter_late<T: Serialize, O>(value: &T, origin: Origin, detail: String, out: &mut Output<O>) {
    match serde_json::to_vec(value) {
        Ok(payload) => out.dead_letter(payload, ReasonCode::LateEvent, detail, origin),
        Err(e) => out.dead_letter(
            Vec::new(),
            ReasonCode::LateEvent,
            format!("{detail} (payload not serialisable: {e})"),
            origin,
        ),
    }
}

/// Identifies the configuration a snapshot was taken with, so that a snapshot is
/// never restored into an operator with another window or lateness.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SnapshotHeader {
    pub(crate) spec: String,
    pub(crate) allowed_lateness_ms: i64,
}

impl SnapshotHeader {
    pub(crate) fn new(spec: &WindowSpec, allowed_lateness_ms: i64) -> Self {
        SnapshotHeader { spec: spec.to_string(), allowed_lateness_ms }
    }

    /// Fails when the snapshot's configuration differs from `self` (the operator's).
    pub(crate) fn check(&self, snapshot: &SnapshotHeader) -> Result<(), OperatorError> {
        if self == snapshot {
            Ok(())
        } else {
            Err(OperatorError::state(WindowSettingsChanged { snapshot: snapshot.clone(), operator: self.clone() }))
        }
    }
}

/// A window snapshot is restored into an operator with other window settings,
/// whose windows would not line up with the snapshot's.
#[derive(Debug, thiserror::Error)]
#[error(
    "window snapshot was taken with {} and allowed lateness {} ms; this operator has {} and {} ms",
    snapshot.spec, snapshot.allowed_lateness_ms, operator.spec, operator.allowed_lateness_ms
)]
pub(crate) struct WindowSettingsChanged {
    snapshot: SnapshotHeader,
    operator: SnapshotHeader,
}
