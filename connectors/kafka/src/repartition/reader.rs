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
use crate::KafkaRecord;

/// The checkpoint of a repartition reader was taken with another number of
/// upstream tasks (the input topic's partitions changed).
#[derive(Debug, thiserror::Error)]
#[error(
    "the checkpoint knows {checkpointed} upstream tasks, the job now has {now}: the input topic's partition count \
     changed, which a running repartitioned job does not support (see docs/scale-out.md)"
)]
pub struct UpstreamsChanged {
    /// Upstream tasks in the checkpoint.
    pub checkpointed: usize,
    /// Upstream tasks now.
    pub now: usize,
}

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
/// understand. A control record of an upstream task beyond the expected count
/// fails the task ([`UnknownUpstream`](super::UnknownUpstream)).
///
/// ```
/// use tidemill_kafka::repartition::RepartitionReader;
/// use tidemill_runtime::{Operator, OperatorHarness};
///
/// let reader = RepartitionReader::<String>::new(2);
/// assert!(reader.generates_watermarks());
/// ```
pub struct RepartitionReader<T> {
    clocks: UpstreamClocks,
    emitted: EventTime,
    _records: PhantomData<fn() -> T>,
}

impl<T> RepartitionReader<T> {
    /// A reader of a topic written by `upstreams` tasks, numbered from 0.
    pub fn new(upstreams: u32) -> Self {
        RepartitionReader { clocks: UpstreamClocks::new(upstreams), emitted: EventTime::MIN, _records: PhantomData }
    }
}

impl<T: DeserializeOwned + Send + 'static> Operator for RepartitionReader<T> {
    type In = KafkaRecord;
    type Out = T;

    fn process(&mut self, batch: Batch<KafkaRecord>, out: &mut Output<T>) -> Result<(), OperatorError> {
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
        let (clocks, emitted): (UpstreamClocks, EventTime) = snapshot.decode()?;
        if clocks.expected() != self.clocks.expected() {
            let (checkpointed, now) = (clocks.expected(), self.clocks.expected());
            return Err(OperatorError::state(UpstreamsChanged { checkpointed, now }));
        }
        (self.clocks, self.emitted) = (clocks, emitted);
        Ok(())
    }
}
