//! Reading a partition: draining its queue, reacting to consumer errors and to
//! what the consumer's main queue reported.

use std::time::Duration;

use chrono::Utc;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::Message;
use tidemill_runtime::trace;
use tidemill_runtime::{DeadLetter, EventTime, Offset, Origin, PartitionId, Record, SourceError};

use super::{KafkaSource, KafkaSourceError};
use crate::metadata;
use crate::record::KafkaRecord;

impl KafkaSource {
    /// Takes what the consumer has ready, without waiting, into `batch`.
    pub(super) fn drain(&mut self, batch: &mut Vec<Record<KafkaRecord>>, max: usize) -> Result<(), SourceError> {
        let now = EventTime::from(Utc::now());
        while batch.len() < max && self.assigned {
            match self.queue.poll(Duration::ZERO) {
                None => break,
                Some(Ok(m)) => {
                    let offset = u64::try_from(m.offset()).unwrap_or(0);
                    if let Some(end) = self.end.filter(|&end| offset >= end) {
                        // Everything before `end` was read or skipped (transaction markers).
                        self.next = Some(end);
                        return Ok(());
                    }
                    let origin = Origin {
                        source: self.source,
                        partition: PartitionId(self.partition as u32),
                        offset: Offset(offset),
                    };
                    let size = m.payload_len();
                    if size > self.max_record_bytes {
                        // Only its start is copied out of the client.
                        let prefix = m.payload().unwrap_or_default();
                        let stage = self.stage.clone();
                        self.too_large.push(DeadLetter::too_large(
                            prefix,
                            size as u64,
                            self.max_record_bytes,
                            origin,
                            stage,
                        ));
                        self.next = Some(offset + 1);
                        self.position_valid = true;
                        continue;
                    }
                    let value = KafkaRecord::from(&m);
                    let time = value.timestamp.unwrap_or(now);
                    // Headers are parsed only while tracing is on.
                    let trace = if trace::enabled() { value.trace_context() } else { None };
                    batch.push(Record::new(value, time, origin).traced(trace));
                    self.next = Some(offset + 1);
                    self.position_valid = true;
                }
                Some(Err(e)) => self.on_error(e)?,
            }
        }
        Ok(())
    }

    pub(super) fn on_error(&mut self, e: KafkaError) -> Result<(), SourceError> {
        match &e {
            KafkaError::PartitionEOF(_) => {}
            KafkaError::MessageConsumptionFatal(_) => return Err(self.unreadable(KafkaSourceError::Fatal(e))),
            KafkaError::MessageConsumption(RDKafkaErrorCode::AutoOffsetReset | RDKafkaErrorCode::OffsetOutOfRange) => {
                // The next poll probes the partition and applies fail_on_data_loss.
                tracing::debug!(source = &*self.name, next = ?self.next, "offset out of range: {e}");
                self.assigned = false;
            }
            _ if metadata::is_missing(&e) => {
                tracing::debug!(source = &*self.name, "topic or partition missing: {e}");
                self.assigned = false;
            }
            // Transport errors and the like: librdkafka retries by itself.
            _ => tracing::warn!(source = &*self.name, topic = %self.config.topic, "kafka consumer error: {e}"),
        }
        Ok(())
    }

    /// Moves `next` past what the consumer skipped without returning it
    /// (transaction markers, aborted records).
    ///
    /// Lost broker connections change nothing here: librdkafka keeps a
    /// partition's fetch position and its application position (the offset of
    /// the last record handed out, plus one) across reconnects, and what was
    /// fetched before stays in the partition queue, so after an outage the
    /// source reads on at `next`. Only a re-assign (`prepare`, after an
    /// out-of-range or missing-partition report) resets the position, which is
    /// why it is not trusted again before a record arrives.
    pub(super) fn skip_to_position(&mut self) {
        if !self.position_valid {
            return;
        }
        if let (Some(p), Some(next)) = (self.shared.position(self.partition), self.next) {
            if let Ok(p) = u64::try_from(p) {
                self.next = Some(next.max(p));
            }
        }
    }

    /// Acts on what the consumer's main queue reported for every partition.
    pub(super) fn check_events(&mut self) -> Result<(), SourceError> {
        let events = self.shared.events();
        if let Some(fatal) = events.fatal() {
            return Err(self.unreadable(KafkaSourceError::FatalClient { reason: fatal }));
        }
        let missing = events.missing_reports();
        if missing != self.missing_seen {
            // The next poll probes the partition and applies fail_on_data_loss.
            self.missing_seen = missing;
            self.assigned = false;
        }
        Ok(())
    }
}
