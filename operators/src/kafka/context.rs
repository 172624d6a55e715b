//! The librdkafka client context of a Kafka source: logs and errors go to `tracing`,
//! failed offset commits are logged.

use std::sync::Arc;

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::TopicPartitionList;

/// Client context naming the consumer (`orders[3]`) in every log line.
#[derive(Clone, Debug)]
pub(crate) struct SourceContext {
    pub(crate) name: Arc<str>,
}

impl ClientContext for SourceContext {
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
