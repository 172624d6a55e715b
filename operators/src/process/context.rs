//! [`KeyContext`]: what a keyed process function sees of its key while it runs.

use tidemill_runtime::trace::{KeyValue, LinkedSpan, SpanKind, TraceContext};
use tidemill_runtime::{EventTime, Origin, Output, ReasonCode, Record};

use super::timers::TimerQueue;
use super::KeyedProcessFunction;

/// The key being processed, its state, its timers and the operator's output.
/// Records emitted here carry the time and origin of what is being handled (the
/// input record, or the timer's time with origin `internal`) unless
/// [`KeyContext::emit_at`] names a time. When sampled (traced) records of the key
/// came before, what is emitted carries the context of a `process.emit` span
/// linked to each of them: a join's result continues the traces of both sides.
pub struct KeyContext<'a, F: KeyedProcessFunction> {
    pub(super) key: &'a F::Key,
    pub(super) state: &'a mut F::State,
    pub(super) event_timers: &'a mut TimerQueue<F::Key>,
    pub(super) processing_timers: &'a mut TimerQueue<F::Key>,
    pub(super) out: &'a mut Output<F::Out>,
    pub(super) watermark: Option<EventTime>,
    pub(super) time: EventTime,
    pub(super) origin: Origin,
    /// The sampled contexts of the key's records (see `traces.rs`).
    pub(super) traces: &'a [TraceContext],
    /// The emit span, started at the first emit of a call with `traces`.
    pub(super) emit_span: Option<Option<LinkedSpan>>,
    pub(super) cleared: bool,
    pub(super) rejected: Option<(ReasonCode, String)>,
}

impl<F: KeyedProcessFunction> KeyContext<'_, F> {
    /// The key being handled.
    pub fn key(&self) -> &F::Key {
        self.key
    }

    /// The key's state (its `Default` the first time the key is seen or after
    /// [`KeyContext::clear_state`]).
    pub fn state(&mut self) -> &mut F::State {
        self.cleared = false;
        self.state
    }

    /// Drops the key's state once this call returns (unless [`KeyContext::state`]
    /// is called again after this). Timers are not touched.
    pub fn clear_state(&mut self) {
        *self.state = F::State::default();
        self.cleared = true;
    }

    /// The operator's watermark: every record at or before it has arrived. `None`
    /// before the first watermark.
    pub fn watermark(&self) -> Option<EventTime> {
        self.watermark
    }

    /// The event time of the input record, or the time of the timer that fired.
    pub fn time(&self) -> EventTime {
        self.time
    }

    /// Emits a record with the time of what is being handled.
    pub fn emit(&mut self, value: F::Out) {
        let time = self.time;
        self.emit_at(value, time);
    }

    /// Emits a record with event time `time`. Downstream, a record behind the
    /// watermark may be late: emit at or after [`KeyContext::watermark`].
    pub fn emit_at(&mut self, value: F::Out, time: EventTime) {
        let trace = self.emit_trace(time);
        self.out.emit(Record::new(value, time, self.origin).traced(trace));
    }

    /// The context of this call's emit span, started on first use: one span per
    /// call, however many records it emits.
    fn emit_trace(&mut self, time: EventTime) -> Option<TraceContext> {
        if self.traces.is_empty() {
            return None;
        }
        let traces = self.traces;
        let span = self.emit_span.get_or_insert_with(|| {
            let attributes = vec![KeyValue::new("tidemill.process.result_time_ms", time.as_millis())];
            LinkedSpan::start("process.emit", SpanKind::Internal, attributes, traces.iter().copied())
        });
        span.as_ref().map(LinkedSpan::context)
    }

    /// Calls [`KeyedProcessFunction::on_timer`] for this key once the watermark
    /// reaches `time`.
    pub fn register_event_timer(&mut self, time: EventTime) {
        self.event_timers.register(time, self.key);
    }

    /// Cancels an event-time timer of this key (nothing if there is none).
    pub fn delete_event_timer(&mut self, time: EventTime) {
        self.event_timers.delete(time, self.key);
    }

    /// Calls [`KeyedProcessFunction::on_timer`] for this key once the wall clock
    /// (milliseconds since the Unix epoch) passes `time`.
    pub fn register_processing_timer(&mut self, time: EventTime) {
        self.processing_timers.register(time, self.key);
    }

    /// Cancels a processing-time timer of this key.
    pub fn delete_processing_timer(&mut self, time: EventTime) {
        self.processing_timers.delete(time, self.key);
    }

    /// Sends the input record to the dead letters as `late_event` if the watermark
    /// has reached `needed`, the last instant of the state it would need (its own
    /// time when any state it could meet may already be gone, or the last instant of
    /// its window or group): then that state was emitted and dropped. Returns
    /// whether it did; the caller then leaves the record alone.
    pub fn reject_if_late(&mut self, needed: EventTime) -> bool {
        let Some(watermark) = self.watermark.filter(|w| *w >= needed) else { return false };
        self.reject(ReasonCode::LateEvent, format!("needs state up to {needed}, and the watermark is at {watermark}"));
        true
    }

    /// Sends the input record to the dead letters with `reason` (for example
    /// [`ReasonCode::LateEvent`] when the state it needed has expired) once this
    /// call returns. Ignored in `on_timer`, which has no input record.
    pub fn reject(&mut self, reason: ReasonCode, detail: impl Into<String>) {
        self.rejected = Some((reason, detail.into()));
    }
}
