//! Poison records: an operator that panics on one record dead-letters that record
//! and goes on, whatever the operator is (a window's aggregate, a key function
//! inside a keyed operator, a custom [`Operator`]).
//!
//! A panic inside `Operator::process` leaves the operator's state half-updated,
//! and the batch is gone, so neither the state nor the culprit can be recovered
//! in place. The runtime therefore goes through the pipeline's checkpoint:
//!
//! 1. The panic fails the actor with [`PoisonBatch`]. The supervisor restarts the
//!    pipeline from the last checkpoint at once (this is not counted as a failure)
//!    and marks the node as *hunting*.
//! 2. A hunting operator notes the origins of every batch before processing it
//!    (which costs nothing while no node is hunting). When the panic recurs, its
//!    batch's origins go back to the supervisor, which restarts again with them as
//!    *suspects*.
//! 3. A batch holding a suspect is processed here one record at a time, after a
//!    snapshot of the operator. The record that panics is dead-lettered
//!    (`user_function_panic`, with the panic message); the operator is restored
//!    from the snapshot and the records before it are processed again, so the
//!    state holds exactly the other records.
//!
//! If every record of a batch of several panics alone, the operator is broken, not
//! the records: that is an ordinary failure, counted by the restart policy. An
//! `Err` returned by an operator is always an operator failure (record problems
//! are reported with `Output::dead_letter`). Operators that do not implement
//! `snapshot`/`restore` but keep state get that state replayed twice for the
//! records before a poison one; stateless operators are unaffected.

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use serde::Serialize;

use crate::dead_letter::ReasonCode;
use crate::functions::panic_message;
use crate::operator::{Operator, OperatorError, Output};
use crate::record::{Batch, Origin};

/// An operator panicked while processing a batch: the actor fails with this, and
/// the supervisor restarts to isolate the record (see the module docs).
#[derive(Debug, thiserror::Error)]
#[error("panicked while processing a batch: {message}")]
pub(crate) struct PoisonBatch {
    /// The panic message.
    pub(crate) message: String,
    /// The origins of the batch, when the operator was hunting for it.
    pub(crate) origins: Option<Vec<Origin>>,
}

/// Every record of a batch of several panicked on its own.
#[derive(Debug, thiserror::Error)]
#[error("panicked on every one of the {records} records of a batch, processed one by one: the operator fails, not the records ({message})")]
pub(crate) struct EveryRecordPanicked {
    records: usize,
    message: String,
}

/// What a node knows about poison records from earlier pipelines.
pub(crate) struct Hunt {
    suspects: Arc<HashSet<Origin>>,
}

impl Hunt {
    pub(crate) fn new(suspects: Arc<HashSet<Origin>>) -> Self {
        Hunt { suspects }
    }

    /// Whether the batch holds a record that made the operator panic before.
    pub(crate) fn is_suspect<T>(&self, batch: &Batch<T>) -> bool {
        !self.suspects.is_empty() && batch.iter().any(|r| self.suspects.contains(&r.origin))
    }
}

/// Runs `process` on a batch, turning a panic into a [`PoisonBatch`] error; while
/// hunting, the error names the batch's origins.
pub(crate) fn process_guarded<O: Operator>(
    operator: &mut O,
    batch: Batch<O::In>,
    out: &mut Output<O::Out>,
    hunting: bool,
) -> Result<(), ProcessError> {
    let origins = hunting.then(|| batch.iter().map(|r| r.origin).collect::<Vec<_>>());
    match catch_unwind(AssertUnwindSafe(|| operator.process(batch, out))) {
        Ok(result) => result.map_err(ProcessError::Operator),
        Err(panic) => Err(ProcessError::Poison(PoisonBatch { message: panic_message(panic.as_ref()), origins })),
    }
}

/// Why [`process_guarded`] or [`process_isolated`] failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProcessError {
    #[error(transparent)]
    Operator(#[from] OperatorError),
    #[error(transparent)]
    Poison(#[from] PoisonBatch),
    #[error(transparent)]
    EveryRecord(#[from] EveryRecordPanicked),
}

/// Processes a suspect batch one record at a time (see the module docs).
pub(crate) fn process_isolated<O>(
    operator: &mut O,
    batch: Batch<O::In>,
    out: &mut Output<O::Out>,
) -> Result<(), ProcessError>
where
    O: Operator,
    O::In: Clone + Serialize,
{
    let stage = out.stage().clone();
    let snapshot = operator.snapshot()?;
    let records = batch.len();
    let mut done = Vec::with_capacity(records);
    let mut pending = Output::new(stage.clone());
    let mut last_panic = None;
    for record in batch {
        let mut single = Output::new(stage.clone());
        let one = vec![record.clone()];
        match catch_unwind(AssertUnwindSafe(|| operator.process(one, &mut single))) {
            Ok(result) => {
                result?;
                pending.append(single);
                done.push(record);
            }
            Err(panic) => {
                let message = panic_message(panic.as_ref());
                let payload = serde_json::to_vec(&record.value).unwrap_or_default();
                let detail = format!("{stage} panicked on this record: {message}");
                out.dead_letter(payload, ReasonCode::UserFunctionPanic, detail, record.origin);
                // Back to the state before the batch, then the records that went
                // through once more: the state now holds exactly them.
                operator.restore(&snapshot)?;
                pending = Output::new(stage.clone());
                for r in &done {
                    operator.process(vec![r.clone()], &mut pending)?;
                }
                last_panic = Some(message);
            }
        }
    }
    if done.is_empty() && records > 1 {
        let message = last_panic.unwrap_or_default();
        return Err(EveryRecordPanicked { records, message }.into());
    }
    out.append(pending);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::StateSnapshot;
    use crate::record::{Offset, PartitionId, Record, SourceId};
    use crate::time::EventTime;

    /// Sums its input, panicking on 13 after adding it (a half-done update).
    #[derive(Default)]
    struct Sum {
        total: i64,
    }

    impl Operator for Sum {
        type In = i64;
        type Out = i64;
        fn process(&mut self, batch: Batch<i64>, out: &mut Output<i64>) -> Result<(), OperatorError> {
            for r in batch {
                self.total += r.value;
                assert!(r.value != 13, "thirteen");
                out.emit(r.with_value(self.total));
            }
            Ok(())
        }
        fn snapshot(&self) -> Result<StateSnapshot, OperatorError> {
            StateSnapshot::encode(&self.total)
        }
        fn restore(&mut self, s: &StateSnapshot) -> Result<(), OperatorError> {
            self.total = s.decode()?;
            Ok(())
        }
    }

    fn batch(values: &[i64]) -> Batch<i64> {
        let origin = |i: usize| Origin { source: SourceId(0), partition: PartitionId(0), offset: Offset(i as u64) };
        values.iter().enumerate().map(|(i, v)| Record::new(*v, EventTime::MIN, origin(i))).collect()
    }

    #[test]
    fn the_panicking_record_is_dead_lettered_and_the_state_holds_the_others() {
        let mut op = Sum { total: 100 };
        let mut out = Output::new(Arc::from("sum"));
        process_isolated(&mut op, batch(&[1, 13, 2, 13, 3]), &mut out).unwrap();
        assert_eq!(op.total, 106, "13 left no trace in the state");
        let (records, dead, _) = out.take();
        assert_eq!(records.iter().map(|r| r.value).collect::<Vec<_>>(), vec![101, 103, 106]);
        assert_eq!(dead.len(), 2);
        assert!(dead.iter().all(|d| d.reason == ReasonCode::UserFunctionPanic && d.payload == b"13"));
        assert_eq!(dead[0].origin.offset, Offset(1));
        assert!(dead[0].detail.contains("thirteen"), "{}", dead[0].detail);
    }

    #[test]
    fn an_operator_that_panics_on_everything_is_a_failure_not_a_dead_letter_flood() {
        let mut op = Sum::default();
        let mut out = Output::new(Arc::from("sum"));
        let err = process_isolated(&mut op, batch(&[13, 13]), &mut out).unwrap_err();
        assert!(matches!(err, ProcessError::EveryRecord(_)), "{err}");
    }

    #[test]
    fn a_guarded_panic_names_the_batch_only_while_hunting() {
        let mut out = Output::new(Arc::from("sum"));
        let err = process_guarded(&mut Sum::default(), batch(&[13]), &mut out, false).unwrap_err();
        assert!(matches!(err, ProcessError::Poison(PoisonBatch { origins: None, .. })), "{err}");
        let err = process_guarded(&mut Sum::default(), batch(&[1, 13]), &mut out, true).unwrap_err();
        match err {
            ProcessError::Poison(PoisonBatch { origins: Some(o), .. }) => assert_eq!(o.len(), 2),
            other => panic!("{other}"),
        }
    }
}
