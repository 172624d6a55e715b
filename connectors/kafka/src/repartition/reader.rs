//! [`RepartitionReader`]: the operator behind a repartition topic's source. It
//! decodes the data records and makes the stage's watermark from the control
//! records of every upstream task.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use tidemill_runtime::{
    Batch, ErrorChain, EventTime, Operator, OperatorError, Output, ReasonCode, Record, StateSnapshot,
};

use super::clocks::UpstreamClocks;
use super::control::Control;
use super::envelope;
use super::growth::UpstreamCount;
use crate::KafkaRecord;

/// Reads one partition of a repartition topic written by `upstreams` tasks
/// (each with a [`RepartitionWriter`](super::RepartitionWriter)).
///
/// Data records come out as the values and event times they were written with;
/// the origin is their place in the repartition topic. The reader generates the
/// watermark: the minimum over the upstream tasks ([`UpstreamClocks`]), emitted
/// after the batch that moved it, so a record is late here only if it was late
/// against its own upstream task's watermark, however far another upstream task
/// lags. A record that cannot be decoded goes to the dead letters
/// (`wrong_type`, with why), and so does a control record this version does not
/// understand. When the input topic gains partitions, the new upstream tasks are
/// expected from the moment the shared [`UpstreamCount`] says so (or one of them
/// speaks), and the watermark holds until each has spoken; a checkpoint taken
/// with fewer upstream tasks is restored and grown. A control record naming an
/// impossible task fails the task ([`UnknownUpstream`](super::UnknownUpstream)).
///
/// ```
/// use tidemill_kafka::repartition::RepartitionReader;
/// use tidemill_runtime::{Operator, OperatorHarness};
///
/// let reader = RepartitionReader::<String>::new(2);
/// assert!(reader.generates_watermarks());
/// // Sharing the count with the task's source, which watches the input topic:
/// let count = tidemill_kafka::repartition::UpstreamCount::new(2);
/// let reader = RepartitionReader::<String>::with_count(count);
/// assert!(reader.generates_watermarks());
/// ```
pub struct RepartitionReader<T> {
    clocks: UpstreamClocks,
    count: Option<UpstreamCount>,
    emitted: EventTime,
    _records: PhantomData<fn() -> T>,
}

impl<T> RepartitionReader<T> {
    /// A reader of a topic written by `upstreams` tasks, numbered from 0.
    pub fn new(upstreams: u32) -> Self {
        RepartitionReader {
            clocks: UpstreamClocks::new(upstreams),
            count: None,
            emitted: EventTime::MIN,
            _records: PhantomData,
        }
    }

    /// A reader of a topic written by `count` tasks, a count that may grow while
    /// the task runs (see [`UpstreamCount`]).
    pub fn with_count(count: UpstreamCount) -> Self {
        RepartitionReader { count: Some(count.clone()), ..Self::new(count.get()) }
    }

    /// Expects the tasks the shared count names.
    fn follow_count(&mut self) {
        if let Some(n) = self.count.as_ref().map(UpstreamCount::get).filter(|n| *n as usize > self.clocks.expected()) {
            tracing::info!(upstreams = n, "more upstream tasks: the watermark waits for the new ones");
            self.clocks.grow(n);
        }
    }
}

impl<T: DeserializeOwned + Send + 'static> Operator for RepartitionReader<T> {
    type In = KafkaRecord;
    type Out = T;

    fn process(&mut self, batch: Batch<KafkaRecord>, out: &mut Output<T>) -> Result<(), OperatorError> {
        self.follow_count();
        for record in batch {
            match Control::of(&record.value) {
                Some(Ok((upstream, control))) => self.clocks.hear(upstream, control).map_err(OperatorError::failed)?,
                Some(Err(bad)) => {
                    let origin = record.origin;
                    out.dead_letter(record.value.payload, ReasonCode::WrongType, bad.to_string(), origin)
                }
                None => match envelope::decode::<T>(&record.value.payload) {
                    Ok((value, time)) => {
                        let (_, decoded) = record.replace_value(value);
                        out.emit(Record { time, ..decoded });
                    }
                    Err(e) => {
                        let (origin, detail) = (record.origin, ErrorChain(&e).to_string());
                        out.dead_letter(record.value.payload, ReasonCode::WrongType, detail, origin)
                    }
                },
            }
        }
        if let Some(w) = self.clocks.watermark().filter(|w| *w > self.emitted) {
            self.emitted = w;
            out.emit_watermark(w);
        }
        Ok(())
    }

    fn generates_watermarks(&self) -> bool {
        true
    }

    fn snapshot(&self) -> Result<StateSnapshot, OperatorError> {
        StateSnapshot::encode(&(&self.clocks, self.emitted))
    }

    fn restore(&mut self, snapshot: &StateSnapshot) -> Result<(), OperatorError> {
        let (mut clocks, emitted): (UpstreamClocks, EventTime) = snapshot.decode()?;
        // Taken before the input topic grew: the new tasks are expected too.
        clocks.grow(self.clocks.expected() as u32);
        (self.clocks, self.emitted) = (clocks, emitted);
        self.follow_count();
        Ok(())
    }
}
