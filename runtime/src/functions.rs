//! Built-in operators behind `map`, `filter`, `flat_map`, `try_map`,
//! `assign_timestamps` and the dead-letter union.

use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::context::NodeContext;
use crate::dead_letter::ReasonCode;
use crate::event_time_board::EventTimeBoard;
use crate::operator::{Operator, OperatorError, Output, StateSnapshot};
use crate::record::Batch;
use crate::time::EventTime;

/// Runs a user function on every record. The function writes its outputs into a
/// buffer and may fail; an error or a panic sends the record (serialised as JSON)
/// to the dead letters and processing continues with the next record.
pub(crate) struct FnOperator<T, U, F> {
    f: F,
    buffer: Vec<U>,
    _types: PhantomData<fn(T)>,
}

impl<T, U, F> FnOperator<T, U, F> {
    pub(crate) fn new(f: F) -> Self {
        FnOperator { f, buffer: Vec::new(), _types: PhantomData }
    }
}

/// The text of a panic payload (what `panic!` was given), for dead letters of
/// records whose user code panicked.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

impl<T, U, F> Operator for FnOperator<T, U, F>
where
    T: Serialize + Send + 'static,
    U: Send + 'static,
    F: Fn(&T, &mut Vec<U>) -> Result<(), String> + Send + 'static,
{
    type In = T;
    type Out = U;

    fn process(&mut self, batch: Batch<T>, out: &mut Output<U>) -> Result<(), OperatorError> {
        for r in batch {
            self.buffer.clear();
            let f = &self.f;
            let buffer = &mut self.buffer;
            let outcome = catch_unwind(AssertUnwindSafe(|| f(&r.value, buffer)));
            let (reason, detail) = match outcome {
                Ok(Ok(())) => {
                    for value in self.buffer.drain(..) {
                        out.emit(r.with_value(value));
                    }
                    continue;
                }
                Ok(Err(e)) => (ReasonCode::UserFunctionError, e),
                Err(p) => (ReasonCode::UserFunctionPanic, panic_message(p.as_ref())),
            };
            let payload = serde_json::to_vec(&r.value).unwrap_or_default();
            out.dead_letter(payload, reason, detail, r.origin);
        }
        Ok(())
    }
}

/// Sets event time from the record and emits bounded-out-of-orderness watermarks:
/// `max time seen - delay - 1 ms`, so a record exactly `delay` behind the newest one
/// is still on time.
pub(crate) struct TimestampAssigner<T, F> {
    time: F,
    delay: Duration,
    max_seen: EventTime,
    /// Where the newest event time of this shard's source partition is published
    /// (watermark alignment), when the shards match the source's partitions.
    board: Option<(EventTimeBoard, usize)>,
    _types: PhantomData<fn(T)>,
}

#[derive(Serialize, Deserialize)]
struct AssignerState {
    max_seen: EventTime,
}

impl<T, F> TimestampAssigner<T, F> {
    pub(crate) fn new(time: F, delay: Duration) -> Self {
        TimestampAssigner { time, delay, max_seen: EventTime::MIN, board: None, _types: PhantomData }
    }

    /// Publishes this shard's newest event time on `ctx`'s board, if the board
    /// follows as many source partitions as this assigner has shards.
    pub(crate) fn aligned(mut self, ctx: &NodeContext) -> Self {
        if ctx.event_time.partitions() == ctx.shards {
            self.board = Some((ctx.event_time.clone(), ctx.shard));
        }
        self
    }
}

impl<T, F> Operator for TimestampAssigner<T, F>
where
    T: Serialize + Send + 'static,
    F: Fn(&T) -> EventTime + Send + 'static,
{
    type In = T;
    type Out = T;

    fn process(&mut self, batch: Batch<T>, out: &mut Output<T>) -> Result<(), OperatorError> {
        for mut r in batch {
            // The timestamp function is user code: a panic rejects its record only.
            let time = &self.time;
            match catch_unwind(AssertUnwindSafe(|| time(&r.value))) {
                Ok(t) => r.time = t,
                Err(p) => {
                    let payload = serde_json::to_vec(&r.value).unwrap_or_default();
                    let detail = format!("the timestamp function panicked: {}", panic_message(p.as_ref()));
                    out.dead_letter(payload, ReasonCode::UserFunctionPanic, detail, r.origin);
                    continue;
                }
            }
            self.max_seen = self.max_seen.max(r.time);
            out.emit(r);
        }
        if self.max_seen != EventTime::MIN {
            out.emit_watermark(self.max_seen.saturating_sub(self.delay).saturating_sub(Duration::from_millis(1)));
            if let Some((board, partition)) = &self.board {
                board.publish(*partition, self.max_seen);
            }
        }
        Ok(())
    }

    fn generates_watermarks(&self) -> bool {
        true
    }

    fn snapshot(&self) -> Result<StateSnapshot, OperatorError> {
        StateSnapshot::encode(&AssignerState { max_seen: self.max_seen })
    }

    fn restore(&mut self, snapshot: &StateSnapshot) -> Result<(), OperatorError> {
        self.max_seen = snapshot.decode::<AssignerState>()?.max_seen;
        Ok(())
    }
}

/// Forwards records unchanged (the union of every node's dead letters).
pub(crate) struct Passthrough<T>(PhantomData<fn(T)>);

impl<T> Passthrough<T> {
    pub(crate) fn new() -> Self {
        Passthrough(PhantomData)
    }
}

impl<T: Send + 'static> Operator for Passthrough<T> {
    type In = T;
    type Out = T;

    fn process(&mut self, batch: Batch<T>, out: &mut Output<T>) -> Result<(), OperatorError> {
        out.emit_all(batch);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::OperatorHarness;

    #[test]
    fn user_errors_and_panics_become_dead_letters() {
        let op = FnOperator::new(|v: &i64, out: &mut Vec<i64>| {
            if *v == 3 {
                return Err("three is not allowed".to_string());
            }
            if *v == 4 {
                panic!("four");
            }
            out.push(v * 10);
            Ok(())
        });
        let mut h = OperatorHarness::new(op);
        h.push_values([1, 3, 4, 5]).unwrap();
        assert_eq!(h.take_values(), vec![10, 50]);
        let dead = h.take_dead_letters();
        assert_eq!(dead.len(), 2);
        assert_eq!(dead[0].reason, ReasonCode::UserFunctionError);
        assert_eq!(dead[0].payload, b"3");
        assert_eq!(dead[1].reason, ReasonCode::UserFunctionPanic);
        assert_eq!(dead[1].detail, "four");
    }

    #[test]
    fn a_panicking_timestamp_function_rejects_only_its_record() {
        let op = TimestampAssigner::new(
            |v: &i64| {
                assert!(*v >= 0, "negative");
                EventTime::from_millis(*v)
            },
            Duration::ZERO,
        );
        let mut h = OperatorHarness::new(op);
        h.push_values([5, -1, 7]).unwrap();
        assert_eq!(h.take_values(), vec![5, 7]);
        let dead = h.take_dead_letters();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].reason, ReasonCode::UserFunctionPanic);
        assert_eq!(dead[0].payload, b"-1");
        assert!(dead[0].detail.contains("timestamp function panicked: negative"), "{}", dead[0].detail);
    }

    #[test]
    fn assigner_trails_max_time_by_the_delay() {
        let op = TimestampAssigner::new(|v: &i64| EventTime::from_millis(*v), Duration::from_millis(100));
        let mut h = OperatorHarness::new(op);
        h.push_values([1_000, 1_500, 1_200]).unwrap();
        let times: Vec<i64> = h.take_output().iter().map(|r| r.time.as_millis()).collect();
        assert_eq!(times, vec![1_000, 1_500, 1_200]);
        assert_eq!(h.take_watermarks(), vec![EventTime::from_millis(1_399)]);
        let snap = h.push_barrier().unwrap();
        let mut fresh = OperatorHarness::new(TimestampAssigner::new(
            |v: &i64| EventTime::from_millis(*v),
            Duration::from_millis(100),
        ));
        fresh.restore(&snap).unwrap();
        fresh.push_values([10]).unwrap();
        assert_eq!(fresh.take_watermarks(), vec![EventTime::from_millis(1_399)], "restored max survives");
    }
}
