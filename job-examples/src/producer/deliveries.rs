//! [`DeliveryCounter`]: the producer context of the example producers, counting
//! failed deliveries; [`send_when_room`]: enqueue a record without waiting for
//! its delivery.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use std::time::Duration;
use tidemill_kafka::rdkafka::client::ClientContext;
use tidemill_kafka::rdkafka::config::RDKafkaLogLevel;

use tidemill_kafka::rdkafka::error::{KafkaError, RDKafkaErrorCode};
use tidemill_kafka::rdkafka::producer::{BaseRecord, DeliveryResult, ProducerContext, ThreadedProducer};

/// Counts failed deliveries and keeps the first one's error; logs librdkafka
/// through `tracing`. With `delivery.report.only.error` librdkafka reports only
/// failures, so after a successful flush every other record was delivered.
#[derive(Default)]
pub struct DeliveryCounter {
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl DeliveryCounter {
    /// Deliveries that failed so far.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// The error of the first failed delivery, if any.
    pub fn first_error(&self) -> Option<String> {
        self.first_error.lock().ok().and_then(|e| e.clone())
    }
}

impl ClientContext for DeliveryCounter {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical | RDKafkaLogLevel::Error => {
                tracing::error!(facility = fac, "librdkafka: {message}")
            }
            RDKafkaLogLevel::Warning => tracing::warn!(facility = fac, "librdkafka: {message}"),
            _ => tracing::debug!(facility = fac, "librdkafka: {message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!("kafka client error: {error}: {reason}");
    }
}

impl ProducerContext for DeliveryCounter {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.failed.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut first) = self.first_error.lock() {
                first.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

/// Enqueues `record`, never waiting for a delivery: when librdkafka's queue is
/// full, waits for some delivery reports to make room, then tries again.
pub fn send_when_room<C: ProducerContext<DeliveryOpaque = ()>>(
    producer: &ThreadedProducer<C>,
    mut record: BaseRecord<'_, [u8], [u8]>,
) -> Result<(), KafkaError> {
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                producer.poll(Duration::from_millis(10));
            }
            Err((e, _)) => return Err(e),
        }
    }
}
