//! A test harness for operators: push records, watermarks and barriers, take the
//! output, snapshot and restore. It drives an [`Operator`] the way the runtime's
//! actor does (watermark tracking, end of input), without actors or channels, so job
//! authors can unit-test their own operators.

use std::sync::Arc;

use crate::dead_letter::DeadLetter;
use crate::operator::{Operator, OperatorError, Output, StateSnapshot};
use crate::record::{Batch, Origin, Record};
use crate::time::{EventTime, Watermark};
use crate::watermark::WatermarkTracker;

/// Drives one operator shard by hand.
///
/// ```
/// use tidemill_runtime::{EventTime, Operator, OperatorError, OperatorHarness, Output, Batch};
///
/// struct Double;
/// impl Operator for Double {
///     type In = i64;
///     type Out = i64;
///     fn process(&mut self, batch: Batch<i64>, out: &mut Output<i64>) -> Result<(), OperatorError> {
///         for r in batch {
///             let v = r.value * 2;
///             out.emit(r.with_value(v));
///         }
///         Ok(())
///     }
/// }
///
/// let mut h = OperatorHarness::new(Double);
/// h.push_values([1, 2, 3]).unwrap();
/// assert_eq!(h.take_values(), vec![2, 4, 6]);
/// ```
pub struct OperatorHarness<O: Operator> {
    operator: O,
    watermarks: WatermarkTracker,
    output: Vec<Record<O::Out>>,
    dead_letters: Vec<DeadLetter>,
    emitted_watermarks: Vec<EventTime>,
    stage: Arc<str>,
}

impl<O: Operator> OperatorHarness<O> {
    /// A harness with one input.
    pub fn new(operator: O) -> Self {
        Self::with_inputs(operator, 1)
    }

    /// A harness with `inputs` inputs (for watermark tests).
    pub fn with_inputs(operator: O, inputs: usize) -> Self {
        OperatorHarness {
            operator,
            watermarks: WatermarkTracker::new(inputs),
            output: Vec::new(),
            dead_letters: Vec::new(),
            emitted_watermarks: Vec::new(),
            stage: Arc::from("harness"),
        }
    }

    /// The operator under test.
    pub fn operator(&self) -> &O {
        &self.operator
    }

    /// Pushes a batch of records on input 0.
    pub fn push(&mut self, batch: Batch<O::In>) -> Result<(), OperatorError> {
        let mut out = Output::new(self.stage.clone());
        self.operator.process(batch, &mut out)?;
        self.collect(out);
        Ok(())
    }

    /// Pushes values with event time `-inf` and an internal origin.
    pub fn push_values(&mut self, values: impl IntoIterator<Item = O::In>) -> Result<(), OperatorError> {
        let batch = values.into_iter().map(|v| Record::new(v, EventTime::MIN, Origin::INTERNAL)).collect();
        self.push(batch)
    }

    /// Pushes records with the given event times (milliseconds).
    pub fn push_timed(&mut self, values: impl IntoIterator<Item = (O::In, i64)>) -> Result<(), OperatorError> {
        let batch =
            values.into_iter().map(|(v, t)| Record::new(v, EventTime::from_millis(t), Origin::INTERNAL)).collect();
        self.push(batch)
    }

    /// Pushes a watermark on input `input`, as the runtime would.
    pub fn push_watermark_on(&mut self, input: usize, watermark: Watermark) -> Result<(), OperatorError> {
        if let Some(t) = self.watermarks.update(input, watermark) {
            self.advance(t)?;
        } else if watermark == Watermark::Idle && self.watermarks.all_idle() && !self.operator.generates_watermarks() {
            let mut out = Output::new(self.stage.clone());
            self.operator.on_idle(&mut out)?;
            self.collect(out);
        }
        Ok(())
    }

    /// Pushes a watermark (milliseconds) on input 0.
    pub fn push_watermark(&mut self, millis: i64) -> Result<(), OperatorError> {
        self.push_watermark_on(0, Watermark::At(EventTime::from_millis(millis)))
    }

    /// Ends every input: the watermark goes to `+inf` and everything open fires.
    pub fn push_end(&mut self) -> Result<(), OperatorError> {
        let mut last = None;
        for i in 0..self.watermarks.inputs() {
            if let Some(t) = self.watermarks.end(i) {
                last = Some(t);
            }
        }
        if let Some(t) = last {
            self.advance(t)?;
        }
        Ok(())
    }

    /// A barrier on every input: returns the operator's snapshot, as the runtime takes it.
    pub fn push_barrier(&mut self) -> Result<StateSnapshot, OperatorError> {
        self.operator.snapshot()
    }

    /// Restores the operator from a snapshot.
    pub fn restore(&mut self, snapshot: &StateSnapshot) -> Result<(), OperatorError> {
        self.operator.restore(snapshot)
    }

    /// Takes the records emitted so far.
    pub fn take_output(&mut self) -> Vec<Record<O::Out>> {
        std::mem::take(&mut self.output)
    }

    /// Takes the values emitted so far.
    pub fn take_values(&mut self) -> Vec<O::Out> {
        self.take_output().into_iter().map(|r| r.value).collect()
    }

    /// Takes the dead letters emitted so far.
    pub fn take_dead_letters(&mut self) -> Vec<DeadLetter> {
        std::mem::take(&mut self.dead_letters)
    }

    /// Watermarks the operator itself emitted (timestamp assigners) or forwarded.
    pub fn take_watermarks(&mut self) -> Vec<EventTime> {
        std::mem::take(&mut self.emitted_watermarks)
    }

    /// The combined input watermark.
    pub fn watermark(&self) -> EventTime {
        self.watermarks.current()
    }

    fn advance(&mut self, t: EventTime) -> Result<(), OperatorError> {
        let mut out = Output::new(self.stage.clone());
        self.operator.on_watermark(t, &mut out)?;
        if !self.operator.generates_watermarks() {
            self.emitted_watermarks.push(t);
        }
        self.collect(out);
        Ok(())
    }

    fn collect(&mut self, mut out: Output<O::Out>) {
        let (records, dead, wm) = out.take();
        self.output.extend(records);
        self.dead_letters.extend(dead);
        if let Some(w) = wm {
            self.emitted_watermarks.push(w);
        }
    }
}
