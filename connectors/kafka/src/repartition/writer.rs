//! [`RepartitionWriter`]: the operator in front of a repartition topic's
//! [`KafkaSink`](crate::KafkaSink). It turns records into Kafka messages for the
//! partition of their key, and its event time into control records for every
//! partition.

use std::marker::PhantomData;

use serde::Serialize;
use tidemill_runtime::{
    routing_shard, Batch, EventTime, Operator, OperatorError, Output, ReasonCode, Record, RoutingKey,
};

use super::control::{Control, UpstreamTask};
use super::envelope;
use crate::OutgoingRecord;

/// Writes the records of one upstream task to a repartition topic of
/// `partitions` partitions.
///
/// - A record goes to the partition of its key (`routing_shard(key, partitions)`,
///   the hash `key_by` routes with, stable across processes and builds), as an
///   [`envelope`](super) of its value and event time, with the key as Kafka key.
/// - Each watermark advance becomes a [`Control::Watermark`] in **every**
///   partition, after the records that preceded it, so that a reader sees every
///   upstream task's progress in order with its data; the end of the input
///   (watermark `+inf`) becomes [`Control::End`], and an idle input
///   [`Control::Idle`].
///
/// The sink behind it makes all of this visible exactly once, epoch by epoch.
///
/// ```
/// use tidemill_kafka::repartition::{RepartitionWriter, UpstreamTask};
/// use tidemill_runtime::OperatorHarness;
///
/// let writer = RepartitionWriter::new(UpstreamTask(0), 4, |order: &(String, u64)| order.0.clone());
/// let mut h = OperatorHarness::new(writer);
/// h.push_timed([(("u-1".to_string(), 5), 1_000)]).unwrap();
/// h.push_watermark(900).unwrap();
/// let written = h.take_values();
/// assert_eq!(written.len(), 1 + 4, "the record, then a watermark for each partition");
/// assert_eq!(written[0].key.as_deref(), Some(&b"u-1"[..]));
/// ```
pub struct RepartitionWriter<T, K> {
    upstream: UpstreamTask,
    partitions: u32,
    key: K,
    /// The newest watermark written.
    written: EventTime,
    _records: PhantomData<fn(T)>,
}

impl<T, K> RepartitionWriter<T, K> {
    /// The writer of upstream task `upstream` into `partitions` partitions,
    /// partitioning by `key`.
    pub fn new(upstream: UpstreamTask, partitions: u32, key: K) -> Self {
        RepartitionWriter {
            upstream,
            partitions: partitions.max(1),
            key,
            written: EventTime::MIN,
            _records: PhantomData,
        }
    }

    fn broadcast(&self, control: Control, out: &mut Output<OutgoingRecord>) {
        for partition in 0..self.partitions {
            let record = control.record(self.upstream, partition as i32);
            out.emit(Record::new(record, EventTime::MIN, tidemill_runtime::Origin::INTERNAL));
        }
    }
}

impl<T, K, R> Operator for RepartitionWriter<T, K>
where
    T: Serialize + Send + 'static,
    K: Fn(&T) -> R + Send + 'static,
    R: RoutingKey + AsRef<[u8]>,
{
    type In = T;
    type Out = OutgoingRecord;

    fn process(&mut self, batch: Batch<T>, out: &mut Output<OutgoingRecord>) -> Result<(), OperatorError> {
        for record in batch {
            let key = (self.key)(&record.value);
            let partition = routing_shard(&key, self.partitions as usize) as i32;
            match envelope::encode(&record.value, record.time) {
                Ok(value) => {
                    // No Kafka timestamp: the broker refuses times too far from its
                    // clock (`log.message.timestamp.*.max.ms`); the envelope has it.
                    let message = OutgoingRecord::value(value).with_key(key.as_ref()).with_partition(partition);
                    out.emit(record.replace_value(message).1);
                }
                Err(e) => {
                    let detail = tidemill_runtime::ErrorChain(&e).to_string();
                    out.dead_letter(Vec::new(), ReasonCode::WrongType, detail, record.origin);
                }
            }
        }
        Ok(())
    }

    fn on_watermark(&mut self, watermark: EventTime, out: &mut Output<OutgoingRecord>) -> Result<(), OperatorError> {
        if watermark == EventTime::MAX {
            self.broadcast(Control::End, out);
        } else if watermark > self.written {
            self.broadcast(Control::Watermark(watermark), out);
        }
        self.written = self.written.max(watermark);
        Ok(())
    }

    fn on_idle(&mut self, out: &mut Output<OutgoingRecord>) -> Result<(), OperatorError> {
        self.broadcast(Control::Idle, out);
        Ok(())
    }
}
