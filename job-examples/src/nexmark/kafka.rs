//! Nexmark events in a Kafka topic: [`produce_events`] writes the generator's
//! events into one (`nexmark --produce-to`), and a job reads them back with
//! [`NexmarkJobSettings::kafka`](super::NexmarkJobSettings::kafka).
//!
//! One record per event, its value the event as JSON (`{"Bid": {...}}`,
//! `{"Auction": {...}}`, `{"Person": {...}}`), its timestamp the event time, no
//! key. Generator partition `p` of a topic with `n` partitions goes to Kafka
//! partition `p`, in order, so every Kafka partition is in event-time order up to
//! the generator's own skew, as the in-process source's partitions are: a job
//! reading the topic sees the same per-partition order, and the same watermark
//! delay suffices.

use std::time::{Duration, Instant};

use tidemill_kafka::properties::PropertyError;
use tidemill_kafka::rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use tidemill_kafka::rdkafka::client::DefaultClientContext;
use tidemill_kafka::rdkafka::error::{KafkaError, RDKafkaErrorCode};
use tidemill_kafka::rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use tidemill_kafka::rdkafka::ClientConfig;
use tidemill_kafka::{topic_partition_count, ClientProperties, TopicMetadataError};

use super::source::NexmarkConfig;
use crate::producer::{send_when_room, DeliveryCounter};

/// How long topic metadata, creation and the final flush may take.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Where [`produce_events`] writes.
#[derive(Clone, Debug)]
pub struct NexmarkTopic {
    /// Kafka bootstrap servers.
    pub brokers: String,
    /// The topic.
    pub topic: String,
    /// Partitions to create the topic with when it does not exist (an existing
    /// topic keeps its own, and the events are split over those).
    pub partitions: usize,
    /// Client properties (TLS, SASL, ...).
    pub properties: ClientProperties,
}

/// What [`produce_events`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProducedEvents {
    /// Records delivered.
    pub records: u64,
    /// Bytes of their values.
    pub bytes: u64,
    /// The topic's partitions.
    pub partitions: usize,
}

/// The events could not all be written.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    /// A client property is invalid.
    #[error("invalid Kafka client properties")]
    Properties(#[from] PropertyError),
    /// The topic's metadata could not be read.
    #[error("cannot read the topic's metadata")]
    Metadata(#[from] TopicMetadataError),
    /// The topic could not be created.
    #[error("cannot create topic {topic}")]
    Create {
        /// The topic.
        topic: String,
        /// Why.
        #[source]
        source: KafkaError,
    },
    /// The producer could not be created, a record not enqueued, or the flush
    /// did not finish.
    #[error("cannot produce to Kafka")]
    Producer(#[from] KafkaError),
    /// Some records were not delivered.
    #[error("{failed} of {sent} records were not delivered (first error: {first})")]
    Undelivered {
        /// Records that failed.
        failed: u64,
        /// Records sent.
        sent: u64,
        /// The first failure.
        first: String,
    },
    /// An event could not be encoded (not expected: every event is plain data).
    #[error("cannot encode an event")]
    Encode(#[from] serde_json::Error),
}

/// Writes every event `config` generates into `target` (created if missing) and
/// waits until all are delivered.
pub fn produce_events(config: &NexmarkConfig, target: &NexmarkTopic) -> Result<ProducedEvents, ProduceError> {
    let partitions = ensure_topic(target)?;
    let mut client = ClientConfig::new();
    target.properties.apply_to(&mut client)?;
    client
        .set("bootstrap.servers", &target.brokers)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("compression.type", "lz4")
        .set("batch.size", "262144")
        .set("linger.ms", "5")
        .set("delivery.report.only.error", "true");
    let producer: ThreadedProducer<DeliveryCounter> = client.create_with_context(DeliveryCounter::default())?;
    let (mut sent, mut bytes) = (0u64, 0u64);
    let n = partitions as u64;
    for partition in 0..n {
        let kafka_partition = i32::try_from(partition).unwrap_or(i32::MAX);
        for event in config.partition_events(partition, n) {
            let value = serde_json::to_vec(&event)?;
            let record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&target.topic)
                .payload(value.as_slice())
                .partition(kafka_partition)
                .timestamp(event.time().as_millis());
            send_when_room(&producer, record)?;
            sent += 1;
            bytes += value.len() as u64;
        }
    }
    producer.flush(TIMEOUT)?;
    let context = producer.context();
    if context.failed() > 0 {
        let first = context.first_error().unwrap_or_default();
        return Err(ProduceError::Undelivered { failed: context.failed(), sent, first });
    }
    Ok(ProducedEvents { records: sent, bytes, partitions })
}

/// The topic's partition count, creating it with `target.partitions` if missing.
fn ensure_topic(target: &NexmarkTopic) -> Result<usize, ProduceError> {
    let existing = topic_partition_count(&target.brokers, &target.topic, TIMEOUT, &target.properties);
    match existing {
        Err(e) if e.is_missing_topic() => {}
        other => return Ok(other?),
    }
    let create = |source| ProduceError::Create { topic: target.topic.clone(), source };
    let mut config = ClientConfig::new();
    target.properties.apply_to(&mut config)?;
    let admin: AdminClient<DefaultClientContext> =
        config.set("bootstrap.servers", &target.brokers).create().map_err(create)?;
    let partitions = i32::try_from(target.partitions.max(1)).unwrap_or(i32::MAX);
    let topic = NewTopic::new(&target.topic, partitions, TopicReplication::Fixed(-1));
    let options = AdminOptions::new().operation_timeout(Some(TIMEOUT));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| create(KafkaError::AdminOpCreation(format!("no runtime for the admin client: {e}"))))?;
    for result in runtime.block_on(admin.create_topics([&topic], &options)).map_err(create)? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => return Err(create(KafkaError::AdminOp(code))),
        }
    }
    // The new topic is usable once its metadata shows every partition.
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match topic_partition_count(&target.brokers, &target.topic, TIMEOUT, &target.properties) {
            Ok(n) if n == target.partitions.max(1) => return Ok(n),
            Ok(_) | Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            other => return Ok(other?),
        }
    }
}
