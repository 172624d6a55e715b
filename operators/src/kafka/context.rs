//! The librdkafka client context of a Kafka source: logs and errors go to `tracing`,
//! failed offset commits are logged, statistics feed the partitions' lag metrics.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::statistics::Statistics;
use rdkafka::TopicPartitionList;
use tidemill_runtime::metrics::PartitionMetrics;

/// Client context naming the consumer (`orders`) in every log line.
#[derive(Clone, Debug)]
pub(crate) struct SourceContext {
    pub(crate) name: Arc<str>,
    pub(crate) topic: String,
    /// The lag metrics of the partitions this consumer reads, by partition.
    pub(crate) partitions: Arc<Mutex<HashMap<i32, PartitionMetrics>>>,
}

impl ClientContext for SourceContext {
    /// librdkafka's statistics (every `statistics.interval.ms`) give each
    /// partition's log end: the last stable offset under `read_committed` (the
    /// default), the high watermark otherwise.
    fn stats(&self, statistics: Statistics) {
        let Some(topic) = statistics.topics.get(&self.topic) else { return };
        let partitions = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
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
    /// a warning, not an error, unless it is fatal.
    fn error(&self, error: KafkaError, reason: &str) {
        let name = &*self.name;
        if error.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::Fatal) {
            tracing::error!(source = name, "kafka client fatal error: {error}: {reason}");
        } else {
            tracing::warn!(source = name, "kafka client error (retrying): {error}: {reason}");
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
