//! The transactional producer of a Kafka sink shard: librdkafka's blocking
//! transactional calls run on the blocking thread pool, and producing an epoch
//! waits for deliveries (not for time) when librdkafka's queue is full.

use std::collections::VecDeque;
use std::time::Duration;

use rdkafka::config::FromClientConfigAndContext;
use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::{ClientConfig, TopicPartitionList};

use super::context::SinkClientContext;
use super::staged::{RecordRef, StagedError};

/// How often a call that librdkafka calls retriable (a timeout) is tried in all.
const ATTEMPTS: u32 = 3;
/// Delivery reports kept before the oldest is awaited: bounds the memory of
/// reports that are ready but not looked at yet (librdkafka's own queue limit
/// bounds the records not yet delivered).
const MAX_IN_FLIGHT: usize = 10_000;

/// A failure while producing an epoch's records.
#[derive(Debug)]
pub(crate) enum ProduceError {
    /// The client refused or failed a record.
    Kafka(KafkaError),
    /// A staged record could not be decoded (the document was checked before, so
    /// this means a bug).
    Staged(StagedError),
}

/// A transactional `FutureProducer` (idempotent, `acks=all`).
pub(crate) struct TxnProducer {
    /// `Some` until dropped (`Drop` hands it to a blocking thread).
    producer: Option<FutureProducer<SinkClientContext>>,
    topic: String,
    timeout: Duration,
}

impl TxnProducer {
    /// Creates the producer (no broker contact yet).
    pub(crate) fn new(
        config: &ClientConfig,
        context: SinkClientContext,
        topic: &str,
        timeout: Duration,
    ) -> KafkaResult<Self> {
        let producer = FutureProducer::from_config_and_context(config, context)?;
        Ok(TxnProducer { producer: Some(producer), topic: topic.to_owned(), timeout })
    }

    fn producer(&self) -> &FutureProducer<SinkClientContext> {
        self.producer.as_ref().expect("the producer is there until the TxnProducer is dropped")
    }

    /// The producer's fatal error, if librdkafka has raised one (fenced, for one).
    pub(crate) fn fatal_error(&self) -> Option<(RDKafkaErrorCode, String)> {
        self.producer().client().fatal_error()
    }

    /// Runs a blocking producer call on the blocking pool, repeating it while
    /// librdkafka says it is retriable (the broker or coordinator was slow).
    async fn blocking<F>(&self, call: F) -> KafkaResult<()>
    where
        F: Fn(&FutureProducer<SinkClientContext>, Duration) -> KafkaResult<()> + Clone + Send + 'static,
    {
        let mut attempt = 1;
        loop {
            let (producer, timeout, call) = (self.producer().clone(), self.timeout, call.clone());
            let result = tokio::task::spawn_blocking(move || call(&producer, timeout))
                .await
                .unwrap_or(Err(KafkaError::Canceled));
            match result {
                Err(KafkaError::Transaction(e)) if e.is_retriable() && attempt < ATTEMPTS => {
                    tracing::warn!(topic = %self.topic, attempt, "transactional call failed, retrying: {e}");
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// `init_transactions`: fences every older producer with the same
    /// transactional id and completes or aborts a transaction it left open.
    pub(crate) async fn init(&self) -> KafkaResult<()> {
        self.blocking(|p, t| p.init_transactions(t)).await
    }

    /// `begin_transaction` (local, does not block).
    pub(crate) fn begin(&self) -> KafkaResult<()> {
        self.producer().begin_transaction()
    }

    /// Produces every record into the open transaction and waits until each is
    /// delivered (written to its partition's log, not yet committed). Returns how
    /// many records were produced.
    pub(crate) async fn produce<'a>(
        &self,
        records: impl Iterator<Item = Result<RecordRef<'a>, StagedError>>,
    ) -> Result<u64, ProduceError> {
        let mut in_flight: VecDeque<DeliveryFuture> = VecDeque::new();
        let mut produced = 0;
        for record in records {
            let record = record.map_err(ProduceError::Staged)?;
            if in_flight.len() >= MAX_IN_FLIGHT {
                if let Some(oldest) = in_flight.pop_front() {
                    delivered(oldest).await?;
                }
            }
            let mut next = self.future_record(&record);
            loop {
                match self.producer().send_result(next) {
                    Ok(delivery) => {
                        in_flight.push_back(delivery);
                        break;
                    }
                    // librdkafka's queue is full: wait until the oldest record is
                    // delivered (that frees room), then try again.
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        next = back;
                        let oldest = in_flight
                            .pop_front()
                            .ok_or(ProduceError::Kafka(KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)))?;
                        delivered(oldest).await?;
                    }
                    Err((e, _)) => return Err(ProduceError::Kafka(e)),
                }
            }
            produced += 1;
        }
        while let Some(delivery) = in_flight.pop_front() {
            delivered(delivery).await?;
        }
        Ok(produced)
    }

    fn future_record<'r>(&'r self, r: &RecordRef<'r>) -> FutureRecord<'r, [u8], [u8]> {
        let mut out = FutureRecord::to(&self.topic);
        if let Some(key) = r.key {
            out = out.key(key);
        }
        if let Some(value) = r.value {
            out = out.payload(value);
        }
        if let Some(partition) = r.partition {
            out = out.partition(partition);
        }
        if let Some(timestamp) = r.timestamp {
            out = out.timestamp(timestamp);
        }
        if !r.headers.is_empty() {
            let headers = r.headers.iter().fold(OwnedHeaders::new_with_capacity(r.headers.len()), |h, (key, value)| {
                h.insert(Header { key, value: *value })
            });
            out = out.headers(headers);
        }
        out
    }

    /// Adds the commit marker's offsets to the open transaction.
    pub(crate) async fn send_marker(
        &self,
        offsets: TopicPartitionList,
        group: ConsumerGroupMetadata,
    ) -> KafkaResult<()> {
        let (offsets, group) = (std::sync::Arc::new(offsets), std::sync::Arc::new(group));
        self.blocking(move |p, t| p.send_offsets_to_transaction(&offsets, &group, t)).await
    }

    /// `commit_transaction`: the epoch's records and its marker become visible.
    pub(crate) async fn commit(&self) -> KafkaResult<()> {
        self.blocking(|p, t| p.commit_transaction(t)).await
    }

    /// `abort_transaction`: what the transaction wrote stays invisible.
    pub(crate) async fn abort(&self) -> KafkaResult<()> {
        self.blocking(|p, t| p.abort_transaction(t)).await
    }
}

/// Dropping a producer purges and flushes (up to 500 ms) and joins librdkafka's
/// threads, which must not stall a runtime worker: a blocking thread does it.
impl Drop for TxnProducer {
    fn drop(&mut self) {
        let Some(producer) = self.producer.take() else { return };
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            drop(handle.spawn_blocking(move || drop(producer)));
        }
    }
}

/// Waits for one delivery report.
async fn delivered(delivery: DeliveryFuture) -> Result<(), ProduceError> {
    match delivery.await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err((e, _))) => Err(ProduceError::Kafka(e)),
        Err(_) => Err(ProduceError::Kafka(KafkaError::Canceled)),
    }
}
