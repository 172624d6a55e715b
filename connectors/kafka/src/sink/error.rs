//! [`KafkaSinkError`], and how the sink tells a fenced or fatally failed producer
//! from a transaction that can be aborted or a call that can be retried.

use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use tidemill_runtime::Epoch;

use super::config::KafkaSinkConfigError;
use super::staged::StagedError;
use crate::metadata::ProbeError;

/// Why the commit marker (the sink's consumer group offset that records its last
/// committed epoch) could not be used.
#[derive(Debug, thiserror::Error)]
pub enum MarkerError {
    /// The blocking call to the broker did not finish (its task panicked or was
    /// cancelled).
    #[error("the call to the broker did not finish")]
    Interrupted(#[source] tokio::task::JoinError),
    /// The broker refused or failed the call.
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    /// The broker's answer has no entry for the marker partition.
    #[error("the broker's answer has no entry for the marker partition")]
    NoEntry,
    /// A committed offset that is neither an epoch nor "none".
    #[error("unexpected committed offset {0}")]
    UnexpectedOffset(String),
    /// An epoch beyond the range of Kafka offsets.
    #[error("epoch {0} does not fit an offset")]
    EpochTooLarge(Epoch),
    /// The marker consumer has no group metadata to send offsets with.
    #[error("the marker consumer has no group metadata")]
    NoGroupMetadata,
}

/// How staged output differs from what this sink would have staged.
#[derive(Debug, thiserror::Error)]
pub enum StagedMismatch {
    /// It was staged for another epoch.
    #[error("it was staged for epoch {0}")]
    Epoch(Epoch),
    /// It was staged by another sink shard.
    #[error("it was staged by transactional id {staged}, this is {ours}")]
    TransactionalId {
        /// The id in the staged output.
        staged: String,
        /// This sink's id.
        ours: String,
    },
    /// It was staged for another topic.
    #[error("it was staged for topic {0}")]
    Topic(String),
}

/// What went wrong in a [`KafkaSink`](super::KafkaSink). The sink reports it to the
/// runtime as a [`SinkError`](tidemill_runtime::SinkError); the supervisor then
/// rebuilds the pipeline from the newest checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum KafkaSinkError {
    /// The configuration is invalid.
    #[error("invalid configuration")]
    Config(#[source] KafkaSinkConfigError),
    /// A librdkafka client could not be created.
    #[error("cannot create the Kafka {what}")]
    Client {
        /// Which client (`producer`, `marker consumer`).
        what: &'static str,
        /// Why.
        source: KafkaError,
    },
    /// The topic does not exist, or its metadata could not be read.
    #[error("topic {topic} (brokers {brokers})")]
    Topic {
        /// The topic.
        topic: String,
        /// The configured brokers.
        brokers: String,
        /// Why (boxed: the other variants are small).
        #[source]
        source: Box<ProbeError>,
    },
    /// A newer instance of the same sink shard (same `transactional.id`) has
    /// initialised its producer: this one is a zombie and may not commit.
    #[error("producer {transactional_id} was fenced by a newer instance of the same sink shard ({step}: {reason})")]
    Fenced {
        /// The transactional id.
        transactional_id: String,
        /// The call that found out.
        step: &'static str,
        /// librdkafka's description.
        reason: String,
    },
    /// The producer failed fatally (not fenced); it cannot be used any more.
    #[error("fatal producer error ({step}): {reason}")]
    Fatal {
        /// The call that found out.
        step: &'static str,
        /// librdkafka's description.
        reason: String,
    },
    /// A step of the commit failed and the transaction was aborted: nothing of the
    /// epoch became visible.
    #[error("epoch {epoch}: {step} failed, transaction aborted")]
    Aborted {
        /// The epoch being committed.
        epoch: Epoch,
        /// The step that failed.
        step: &'static str,
        /// Why.
        source: KafkaError,
    },
    /// A transactional call failed and its outcome is not known (a timeout, say);
    /// the next instance's `init_transactions` settles it and its marker tells.
    #[error("{step} failed")]
    Transaction {
        /// The call.
        step: &'static str,
        /// Why.
        source: KafkaError,
    },
    /// The commit marker could not be read or written.
    #[error("commit marker (consumer group {group})")]
    Marker {
        /// The marker group.
        group: String,
        /// Why.
        #[source]
        source: MarkerError,
    },
    /// Staged output that cannot be encoded or decoded.
    #[error(transparent)]
    Staged(#[from] StagedError),
    /// Staged output of another sink, topic or epoch.
    #[error("staged output for epoch {epoch} does not belong to this sink")]
    Mismatch {
        /// The epoch asked to commit.
        epoch: Epoch,
        /// What differs.
        #[source]
        source: StagedMismatch,
    },
    /// A call that needs the clients came before `open`.
    #[error("cannot {0} before open()")]
    NotOpen(&'static str),
    /// An earlier failure left the producer unusable (fenced, fatal, or a commit of
    /// unknown outcome); the runtime must build a new sink.
    #[error("the producer is unusable after an earlier failure: {0}")]
    Broken(String),
    /// The epoch's records exceed [`max_epoch_bytes`](super::KafkaSinkConfig::max_epoch_bytes).
    #[error(
        "the epoch holds more than max_epoch_bytes = {limit} bytes of records ({bytes}); checkpoint more often \
         (checkpoint_interval, max_records_per_checkpoint)"
    )]
    EpochTooLarge {
        /// Bytes the epoch would hold with the rejected batch.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// A run that starts without a checkpoint found the marker of an earlier run
    /// of this sink shard, and the job may not append.
    #[error(
        "topic {topic} already holds output of an earlier run of this job (commit marker group {group}); \
         refusing to add this run's records to it: resume that run with its checkpoints, write to another \
         topic, or set existing_output = \"append\""
    )]
    EarlierRun {
        /// The output topic.
        topic: String,
        /// The earlier run's marker group.
        group: String,
    },
    /// The job resumes a checkpoint older than what this sink already committed:
    /// records in Kafka cannot be taken back, so the replay would write them twice.
    #[error(
        "cannot resume checkpoint epoch {resumed}: epochs up to {committed} are already committed to topic {topic} \
         and Kafka records cannot be taken back; resume the newest checkpoint instead"
    )]
    AheadOfCheckpoint {
        /// The output topic.
        topic: String,
        /// The checkpoint the job resumes.
        resumed: Epoch,
        /// The newest epoch committed to the topic.
        committed: Epoch,
    },
}

/// How bad a failed transactional call is.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Severity {
    /// Another producer with our transactional id took over.
    Fenced,
    /// The producer is unusable.
    Fatal,
    /// The call may be repeated (librdkafka's `is_retriable`).
    Retriable,
    /// The current transaction must be aborted; the producer stays usable.
    Abortable,
}

/// Error codes that mean "a newer producer with the same transactional id exists".
fn is_fencing(code: RDKafkaErrorCode) -> bool {
    matches!(code, RDKafkaErrorCode::Fenced | RDKafkaErrorCode::ProducerFenced | RDKafkaErrorCode::InvalidProducerEpoch)
}

/// Classifies `error`, given the client's fatal error state
/// (`client.fatal_error()`), which is the most reliable sign: once librdkafka has
/// raised a fatal error every transactional call fails.
pub(crate) fn classify(error: &KafkaError, fatal: Option<RDKafkaErrorCode>) -> Severity {
    let code = error.rdkafka_error_code();
    if let Some(fatal) = fatal {
        return if is_fencing(fatal) || code.is_some_and(is_fencing) { Severity::Fenced } else { Severity::Fatal };
    }
    match error {
        KafkaError::Transaction(e) if e.is_fatal() => {
            if is_fencing(e.code()) {
                Severity::Fenced
            } else {
                Severity::Fatal
            }
        }
        KafkaError::Transaction(e) if e.txn_requires_abort() => Severity::Abortable,
        KafkaError::Transaction(e) if e.is_retriable() => Severity::Retriable,
        _ if code.is_some_and(is_fencing) => Severity::Fenced,
        // A failed delivery, or a call refused in the current state: the
        // transaction cannot commit, abort it.
        _ => Severity::Abortable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fatal_state_and_fencing_codes_decide_first() {
        let delivery = KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge);
        assert_eq!(classify(&delivery, None), Severity::Abortable);
        assert_eq!(classify(&delivery, Some(RDKafkaErrorCode::Fenced)), Severity::Fenced);
        assert_eq!(classify(&delivery, Some(RDKafkaErrorCode::OutOfOrderSequenceNumber)), Severity::Fatal);
        let fenced = KafkaError::MessageProduction(RDKafkaErrorCode::ProducerFenced);
        assert_eq!(classify(&fenced, None), Severity::Fenced);
    }
}
