//! The librdkafka client context of a Kafka source: logs and errors go to `tracing`,
//! failed offset commits are logged, statistics feed the partitions' lag metrics
//! and the node's broker health.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::TopicPartitionList;
use tidemill_runtime::metrics::PartitionMetrics;

use super::brokers::BrokerHealth;

/// Client context naming the consumer (`orders`) in every log line.
#[derive(Clone, Debug)]
pub(crate) struct SourceContext {
    pub(crate) name: Arc<str>,
    pub(crate) topic: String,
    /// The lag metrics of the partitions this consumer reads, by partition.
    pub(crate) partitions: Arc<Mutex<HashMap<i32, PartitionMetrics>>>,
    /// Whether the node's consumers reach their brokers (fed with statistics).
    pub(crate) health: Arc<BrokerHealth>,
    /// This consumer's index among the node's consumers.
    pub(crate) index: usize,
}

impl ClientContext for SourceContext {
    /// librdkafka's statistics (every `statistics.interval.ms`) give each
    /// partition's log end: the last stable offset under `read_committed` (the
    /// default), the high watermark otherwise; and each broker connection's state.
    fn stats(&self, statistics: Statistics) {
        let partitions = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
        let read: Vec<i32> = partitions.keys().copied().collect();
        self.health.observe(self.index, &statistics, &read);
        let Some(topic) = statistics.topics.get(&self.topic) else { return };
        for (partition, metrics) in partitions.iter() {
            let Some(p) = topic.partitions.get(partition) else { continue };
            let end = if p.ls_offset >= 0 { p.ls_offset } else { p.hi_offset };
            if end >= 0 {
                metrics.record_end_offset(end);
            }
        }
    }

    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        let name = &*self.name;
        // Connection failures (facility FAIL) come for every connection and every
        // retry; while the node is cut off from its brokers, its one warning says
        // so (with the last of them), so they are debug lines meanwhile.
        if fac == "FAIL" && self.health.connection_failed(message) {
            tracing::debug!(source = name, facility = fac, "librdkafka: {message}");
            return;
        }
        match level {
            RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical | RDKafkaLogLevel::Error => {
                tracing::error!(source = name, facility = fac, "librdkafka: {message}")
            }
            RDKafkaLogLevel::Warning => tracing::warn!(source = name, facility = fac, "librdkafka: {message}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(source = name, facility = fac, "librdkafka: {message}")
            }
            RDKafkaLogLevel::Debug => tracing::debug!(source = name, facility = fac, "librdkafka: {message}"),
        }
    }

    /// Global errors (a broker down, all brokers down) are retried by librdkafka:
    /// a warning, not an error, unless it is fatal. Lost connections are only
    /// debug lines: they come for every connection and retry, and an outage that
    /// lasts is logged once, by [`BrokerHealth`].
    fn error(&self, error: KafkaError, reason: &str) {
        let name = &*self.name;
        match error.rdkafka_error_code() {
            Some(RDKafkaErrorCode::Fatal) => {
                tracing::error!(source = name, "kafka client fatal error: {error}: {reason}")
            }
            Some(RDKafkaErrorCode::BrokerTransportFailure | RDKafkaErrorCode::AllBrokersDown) => {
                tracing::debug!(source = name, "kafka connection lost (retrying): {error}: {reason}")
            }
            _ => tracing::warn!(source = name, "kafka client error (retrying): {error}: {reason}"),
        }
    }
}

impl ConsumerContext for SourceContext {
    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        let name = &*self.name;
        match result {
            Ok(()) => tracing::debug!(source = name, ?offsets, "offsets committed"),
            // Committed offsets are for lag tooling only: the job goes on.
            Err(e) => tracing::warn!(source = name, ?offsets, "offset commit failed: {e}"),
        }
    }
}
