//! [`KeyedProcessOperator`]: runs a keyed process function as an operator, with
//! its state and timers in every checkpoint.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use chrono::Utc;
use serde::{Deserialize, Serialize};
use tidemill_runtime::{
    panic_message, Batch, BoxError, EventTime, Operator, OperatorError, Origin, Output, ReasonCode, Record,
    StateSnapshot,
};

use super::context::KeyContext;
use super::timers::{TimeDomain, TimerQueue};
use super::traces::KeyTraces;
use super::{KeyedProcessFunction, Timer};
use crate::window::KeyFn;

/// One shard of a keyed process function: the states and timers of its keys.
///
/// Built by `keyed.process(name, factory)` ([`KeyedStreamExt::process`](crate::KeyedStreamExt::process));
/// build it directly to test a function with the
/// [`OperatorHarness`](tidemill_runtime::OperatorHarness).
pub struct KeyedProcessOperator<F: KeyedProcessFunction> {
    function: F,
    key_fn: KeyFn<F::In, F::Key>,
    states: HashMap<F::Key, F::State>,
    event_timers: TimerQueue<F::Key>,
    processing_timers: TimerQueue<F::Key>,
    watermark: Option<EventTime>,
    /// Sampled trace contexts per key (not checkpointed).
    traces: KeyTraces<F::Key>,
}

/// What a checkpoint holds: the state of every key seen and not cleared, and the
/// pending timers.
#[derive(Serialize, Deserialize)]
#[serde(bound(
    serialize = "K: Serialize, S: Serialize",
    deserialize = "K: crate::window::WindowKey, S: serde::de::DeserializeOwned"
))]
struct Snapshot<K: crate::window::WindowKey, S> {
    states: Vec<(K, S)>,
    event_timers: TimerQueue<K>,
    processing_timers: TimerQueue<K>,
    watermark: Option<EventTime>,
}

/// What a call of the user function left behind.
struct CallOutcome {
    cleared: bool,
    rejected: Option<(ReasonCode, String)>,
    failure: Option<(ReasonCode, String)>,
}

impl<F: KeyedProcessFunction> KeyedProcessOperator<F> {
    /// Runs `function` on records grouped by `key_fn`.
    pub fn new(function: F, key_fn: KeyFn<F::In, F::Key>) -> Self {
        KeyedProcessOperator {
            function,
            key_fn,
            states: HashMap::new(),
            event_timers: TimerQueue::default(),
            processing_timers: TimerQueue::default(),
            watermark: None,
            traces: KeyTraces::default(),
        }
    }

    /// Keys holding state.
    pub fn keys_with_state(&self) -> usize {
        self.states.len()
    }

    /// Timers not yet fired, of both clocks.
    pub fn pending_timers(&self) -> usize {
        self.event_timers.len() + self.processing_timers.len()
    }

    /// Calls the function for `key` with a context over its state; `call` is either
    /// `process_element` or `on_timer`.
    fn call(
        &mut self,
        key: &F::Key,
        time: EventTime,
        origin: Origin,
        out: &mut Output<F::Out>,
        call: impl FnOnce(&mut F, &mut KeyContext<'_, F>) -> Result<(), BoxError>,
    ) -> CallOutcome {
        let state = self.states.entry(key.clone()).or_default();
        let mut ctx = KeyContext {
            key,
            state,
            event_timers: &mut self.event_timers,
            processing_timers: &mut self.processing_timers,
            out,
            watermark: self.watermark,
            time,
            origin,
            traces: self.traces.of(key),
            emit_span: None,
            cleared: false,
            rejected: None,
        };
        let function = &mut self.function;
        let failure = match catch_unwind(AssertUnwindSafe(|| call(function, &mut ctx))) {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some((ReasonCode::UserFunctionError, tidemill_runtime::ErrorChain(&*e).to_string())),
            Err(p) => Some((ReasonCode::UserFunctionPanic, panic_message(p.as_ref()))),
        };
        CallOutcome { cleared: ctx.cleared, rejected: ctx.rejected, failure }
    }

    fn fire(&mut self, domain: TimeDomain, now: EventTime, out: &mut Output<F::Out>) {
        loop {
            let queue = match domain {
                TimeDomain::EventTime => &mut self.event_timers,
                TimeDomain::ProcessingTime => &mut self.processing_timers,
            };
            let Some((time, key)) = queue.pop_due(now) else { return };
            let timer = Timer { time, domain };
            let outcome = self.call(&key, time, Origin::INTERNAL, out, |f, ctx| f.on_timer(timer, ctx));
            if let Some((reason, detail)) = outcome.failure {
                let payload = serde_json::to_vec(&(&key, timer)).unwrap_or_default();
                out.dead_letter(payload, reason, format!("in on_timer: {detail}"), Origin::INTERNAL);
            }
            self.settle(&key, outcome.cleared);
        }
    }

    /// Drops a key's state if the call cleared it.
    fn settle(&mut self, key: &F::Key, cleared: bool) {
        if cleared {
            self.states.remove(key);
            self.traces.forget(key);
        }
    }

    fn fire_processing_timers(&mut self, out: &mut Output<F::Out>) {
        if self.processing_timers.len() > 0 {
            self.fire(TimeDomain::ProcessingTime, EventTime::from(Utc::now()), out);
        }
    }
}

impl<F: KeyedProcessFunction> Operator for KeyedProcessOperator<F> {
    type In = F::In;
    type Out = F::Out;

    fn process(&mut self, batch: Batch<F::In>, out: &mut Output<F::Out>) -> Result<(), OperatorError> {
        for record in batch {
            let key = catch_unwind(AssertUnwindSafe(|| (self.key_fn)(&record.value)));
            let key = match key {
                Ok(key) => key,
                Err(p) => {
                    dead_letter(&record, ReasonCode::UserFunctionPanic, panic_message(p.as_ref()), out);
                    continue;
                }
            };
            if let Some(cx) = record.trace_context() {
                self.traces.note(&key, cx);
            }
            let outcome = self.call(&key, record.time, record.origin, out, |f, ctx| f.process_element(&record, ctx));
            if let Some((reason, detail)) = outcome.failure.or(outcome.rejected) {
                dead_letter(&record, reason, detail, out);
            }
            self.settle(&key, outcome.cleared);
        }
        self.fire_processing_timers(out);
        Ok(())
    }

    fn on_watermark(&mut self, watermark: EventTime, out: &mut Output<F::Out>) -> Result<(), OperatorError> {
        self.watermark = Some(watermark);
        self.fire(TimeDomain::EventTime, watermark, out);
        if watermark == EventTime::MAX {
            // The end of a bounded input: every clock has run out.
            self.fire(TimeDomain::ProcessingTime, EventTime::MAX, out);
        } else {
            self.fire_processing_timers(out);
        }
        Ok(())
    }

    fn on_idle(&mut self, out: &mut Output<F::Out>) -> Result<(), OperatorError> {
        self.fire_processing_timers(out);
        Ok(())
    }

    fn snapshot(&self) -> Result<StateSnapshot, OperatorError> {
        #[derive(Serialize)]
        struct Borrowed<'a, K: crate::window::WindowKey, S: Serialize> {
            states: Vec<(&'a K, &'a S)>,
            event_timers: &'a TimerQueue<K>,
            processing_timers: &'a TimerQueue<K>,
            watermark: Option<EventTime>,
        }
        StateSnapshot::encode(&Borrowed {
            states: self.states.iter().collect(),
            event_timers: &self.event_timers,
            processing_timers: &self.processing_timers,
            watermark: self.watermark,
        })
    }

    fn restore(&mut self, snapshot: &StateSnapshot) -> Result<(), OperatorError> {
        let s: Snapshot<F::Key, F::State> = snapshot.decode()?;
        self.states = s.states.into_iter().collect();
        self.event_timers = s.event_timers;
        self.processing_timers = s.processing_timers;
        self.watermark = s.watermark;
        self.traces.clear();
        Ok(())
    }
}

fn dead_letter<T: Serialize, O>(record: &Record<T>, reason: ReasonCode, detail: String, out: &mut Output<O>) {
    let payload = serde_json::to_vec(&record.value).unwrap_or_default();
    out.dead_letter(payload, reason, detail, record.origin);
}
