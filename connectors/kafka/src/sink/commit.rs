//! Opening the sink's clients, buffering, and the commit of one epoch: the
//! transaction, and what a failure in it means.

use std::future::Future;

use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use tidemill_runtime::{Batch, Epoch, StagedOutput};

use super::config::KafkaSinkConfig;
use super::error::{classify, KafkaSinkError, Severity, StagedMismatch};
use super::marker::CommitMarker;
use super::producer::{ProduceError, TxnProducer};
use super::record::RecordEncoder;
use super::staged::StagedEpoch;
use super::{Clients, KafkaSink};
use crate::metadata::{self, ProbeError};
use crate::sink::context::SinkClientContext;

const COMMIT_STEP: &str = "commit_transaction";

/// Why a step of the transaction failed.
enum Cause {
    Kafka(KafkaError),
    Sink(KafkaSinkError),
}

impl<T: Send + 'static, E: RecordEncoder<T>> KafkaSink<T, E> {
    /// Creates the clients, fences older instances and reads the commit marker.
    pub(super) async fn open_clients(&mut self) -> Result<(), KafkaSinkError> {
        if self.clients.is_some() {
            return Ok(());
        }
        let context = SinkClientContext { name: self.name.clone() };
        let marker = CommitMarker::new(&self.config, &self.ids, context.clone())?;
        check_topic(&self.config, &marker).await?;
        let producer = TxnProducer::new(
            &self.config.producer_config(&self.ids).map_err(|e| KafkaSinkError::Config(e.into()))?,
            context,
            &self.config.topic,
            self.config.request_timeout,
        )
        .map_err(|source| KafkaSinkError::Client { what: "producer", source })?;
        producer.init().await.map_err(|source| KafkaSinkError::Transaction { step: "init_transactions", source })?;
        let mut clients = Clients { producer, marker };
        let committed = clients.marker.read(self.config.request_timeout).await?;
        let run = RunView {
            resumed: self.resumed,
            existing_output: self.existing_output,
            prefix: self.ids.marker_prefix.clone(),
            topic: self.config.topic.clone(),
            timeout: self.config.request_timeout,
            name: self.name.clone(),
        };
        run.reconcile(&clients.marker, committed).await?;
        tracing::info!(
            sink = &*self.name,
            topic = %self.config.topic,
            transactional_id = %self.ids.transactional_id,
            marker_group = %self.ids.marker_group,
            committed_epoch = ?committed.map(Epoch::get),
            "kafka sink opened"
        );
        self.clients = Some(clients);
        Ok(())
    }

    /// Encodes a batch into the epoch's buffer.
    pub(super) fn buffer_records(&mut self, batch: Batch<T>) -> Result<(), KafkaSinkError> {
        let limit = self.config.max_epoch_bytes;
        for record in batch {
            self.buffer.push(&self.encoder.encode(record.value))?;
            let bytes = self.buffer.bytes() as u64;
            if bytes > limit {
                return Err(KafkaSinkError::EpochTooLarge { bytes, limit });
            }
        }
        Ok(())
    }

    /// Commits one epoch's staged records (see [`KafkaSink`]).
    pub(super) async fn commit_epoch<F>(
        &mut self,
        epoch: Epoch,
        staged: &StagedOutput,
        before_commit: F,
    ) -> Result<(), KafkaSinkError>
    where
        F: Future<Output = ()> + Send,
    {
        let Some(doc) = StagedEpoch::parse(staged)? else {
            return Ok(()); // nothing was written in this epoch
        };
        self.check_belongs(epoch, &doc)?;
        if let Some(reason) = &self.broken {
            return Err(KafkaSinkError::Broken(reason.clone()));
        }
        let clients = self.clients.as_ref().ok_or(KafkaSinkError::NotOpen("commit"))?;
        if let Some(committed) = clients.marker.committed().filter(|&c| c >= epoch) {
            if committed > epoch {
                // Not after a crash (the newest manifest is never older than the
                // newest commit): the ids were used by another run of the job.
                tracing::warn!(sink = &*self.name, %epoch, %committed, transactional_id = %self.ids.transactional_id,
                    "the commit marker is past this epoch: were these ids used by another run of the job? skipped");
            } else {
                tracing::info!(sink = &*self.name, %epoch, "kafka epoch already committed; skipped");
            }
            return Ok(());
        }
        tracing::debug!(sink = &*self.name, %epoch, records = doc.records, "kafka transaction begins");
        if let Err(e) = clients.producer.begin() {
            return Err(self.after_failure(epoch, "begin_transaction", Cause::Kafka(e), false).await);
        }
        match run_transaction(clients, epoch, &doc, before_commit).await {
            Ok(records) => {
                if let Some(clients) = self.clients.as_mut() {
                    clients.marker.set_committed(epoch);
                }
                tracing::info!(sink = &*self.name, topic = %self.config.topic, %epoch, records, "kafka transaction committed");
                Ok(())
            }
            Err((step, cause)) => Err(self.after_failure(epoch, step, cause, true).await),
        }
    }

    fn check_belongs(&self, epoch: Epoch, doc: &StagedEpoch<'_>) -> Result<(), KafkaSinkError> {
        let source = if doc.epoch != epoch {
            StagedMismatch::Epoch(doc.epoch)
        } else if doc.transactional_id != self.ids.transactional_id {
            StagedMismatch::TransactionalId {
                staged: doc.transactional_id.to_string(),
                ours: self.ids.transactional_id.clone(),
            }
        } else if doc.topic != self.config.topic {
            StagedMismatch::Topic(doc.topic.to_string())
        } else {
            return Ok(());
        };
        Err(KafkaSinkError::Mismatch { epoch, source })
    }

    /// Turns a failed step into the error to report, aborting the transaction when
    /// that is possible and marking the producer unusable when it is not.
    async fn after_failure(&mut self, epoch: Epoch, step: &'static str, cause: Cause, in_txn: bool) -> KafkaSinkError {
        let Some(clients) = self.clients.as_ref() else { return KafkaSinkError::NotOpen("commit") };
        let fatal = clients.producer.fatal_error();
        let severity = match &cause {
            Cause::Kafka(e) => classify(e, fatal.as_ref().map(|f| f.0)),
            Cause::Sink(_) => {
                fatal.as_ref().map_or(Severity::Abortable, |f| classify(&KafkaError::Canceled, Some(f.0)))
            }
        };
        let described = match &cause {
            Cause::Kafka(e) => e.to_string(),
            Cause::Sink(e) => e.to_string(),
        };
        let reason = fatal.map(|f| f.1).unwrap_or_else(|| described.clone());
        let error = match severity {
            Severity::Fenced => {
                let id = self.ids.transactional_id.clone();
                KafkaSinkError::Fenced { transactional_id: id, step, reason }
            }
            Severity::Fatal => KafkaSinkError::Fatal { step, reason },
            // The commit may or may not have happened: only the next
            // init_transactions settles it, so this producer is done.
            Severity::Retriable if step == COMMIT_STEP => match cause {
                Cause::Kafka(source) => KafkaSinkError::Transaction { step, source },
                Cause::Sink(e) => e,
            },
            Severity::Retriable | Severity::Abortable => {
                let mut error = match cause {
                    Cause::Kafka(source) => KafkaSinkError::Aborted { epoch, step, source },
                    Cause::Sink(e) => e,
                };
                if in_txn {
                    if let Err(e) = clients.producer.abort().await {
                        tracing::warn!(sink = &*self.name, %epoch, "abort_transaction failed: {e}");
                        self.broken = Some(format!("abort_transaction failed after {step} failed: {e}"));
                        error = KafkaSinkError::Transaction { step: "abort_transaction", source: e };
                    }
                }
                tracing::warn!(sink = &*self.name, %epoch, step, "kafka transaction aborted: {described}");
                return error;
            }
        };
        tracing::error!(sink = &*self.name, %epoch, step, "kafka producer unusable: {error}");
        self.broken = Some(error.to_string());
        error
    }
}

/// Checks that the topic exists (with the marker consumer: a consumer never
/// creates topics, a producer's metadata request might).
async fn check_topic(config: &KafkaSinkConfig, marker: &CommitMarker) -> Result<(), KafkaSinkError> {
    let consumer = marker.consumer_handle();
    let (topic, timeout) = (config.topic.clone(), config.request_timeout);
    let checked = tokio::task::spawn_blocking(move || metadata::check_partition(consumer.client(), &topic, 0, timeout))
        .await
        .map_err(ProbeError::Interrupted);
    match checked.and_then(|r| r) {
        Ok(()) => Ok(()),
        Err(source) => Err(KafkaSinkError::Topic {
            topic: config.topic.clone(),
            brokers: config.brokers.clone(),
            source: Box::new(source),
        }),
    }
}

/// Produces the staged records and the marker into the open transaction and
/// commits it; returns how many records it produced, or the failed step.
async fn run_transaction<F>(
    clients: &Clients,
    epoch: Epoch,
    doc: &StagedEpoch<'_>,
    before_commit: F,
) -> Result<u64, (&'static str, Cause)>
where
    F: Future<Output = ()> + Send,
{
    let produced = clients.producer.produce(doc.iter()).await.map_err(|e| match e {
        ProduceError::Kafka(e) => ("produce", Cause::Kafka(e)),
        ProduceError::Staged(e) => ("produce", Cause::Sink(e.into())),
    })?;
    let offsets = clients.marker.offsets_for(epoch, produced).map_err(|e| ("marker offsets", Cause::Sink(e)))?;
    let group = clients.marker.group_metadata().map_err(|e| ("group_metadata", Cause::Sink(e)))?;
    clients.producer.send_marker(offsets, group).await.map_err(|e| ("send_offsets_to_transaction", Cause::Kafka(e)))?;
    before_commit.await;
    clients.producer.commit().await.map_err(|e| (COMMIT_STEP, Cause::Kafka(e)))?;
    Ok(produced)
}

/// What `open` needs to know about the run, apart from the sink (whose encoder
/// need not be `Sync`).
struct RunView {
    resumed: Option<Epoch>,
    existing_output: tidemill_runtime::ExistingOutput,
    prefix: String,
    topic: String,
    timeout: std::time::Duration,
    name: std::sync::Arc<str>,
}

impl RunView {
    /// A new run refuses (or accepts) a topic earlier runs of this sink wrote to; a
    /// resumed run refuses a checkpoint older than what it committed, since records
    /// in Kafka cannot be taken back.
    async fn reconcile(&self, marker: &CommitMarker, committed: Option<Epoch>) -> Result<(), KafkaSinkError> {
        match self.resumed {
            None => {
                let earlier = marker.earlier_runs(&self.prefix, self.timeout).await?;
                if let Some(group) = earlier.first() {
                    if self.existing_output == tidemill_runtime::ExistingOutput::Refuse {
                        return Err(KafkaSinkError::EarlierRun { topic: self.topic.clone(), group: group.clone() });
                    }
                    tracing::warn!(sink = &*self.name, topic = %self.topic, %group,
                        "appending to a topic an earlier run of this job wrote (existing_output = append)");
                }
                Ok(())
            }
            Some(resumed) => match committed {
                Some(done) if done > resumed => {
                    Err(KafkaSinkError::AheadOfCheckpoint { topic: self.topic.clone(), resumed, committed: done })
                }
                _ => Ok(()),
            },
        }
    }
}
