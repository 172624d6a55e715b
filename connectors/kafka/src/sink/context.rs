//! The librdkafka client context of the Kafka sink's clients: librdkafka's logs and
//! global errors go to `tracing`, naming the sink shard (`enriched[0]`).

use std::sync::Arc;

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

/// Client context naming the sink shard in every log line.
#[derive(Clone, Debug)]
pub(crate) struct SinkClientContext {
    pub(crate) name: Arc<str>,
}

impl ClientContext for SinkClientContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        let sink = &*self.name;
        match level {
            RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical | RDKafkaLogLevel::Error => {
                tracing::error!(sink, facility = fac, "librdkafka: {message}")
            }
            RDKafkaLogLevel::Warning => tracing::warn!(sink, facility = fac, "librdkafka: {message}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(sink, facility = fac, "librdkafka: {message}")
            }
            RDKafkaLogLevel::Debug => tracing::debug!(sink, facility = fac, "librdkafka: {message}"),
        }
    }

    /// Global errors (a broker down) are retried by librdkafka; a fatal one (the
    /// producer was fenced) also fails the next transactional call, which is where
    /// the sink reports it.
    fn error(&self, error: KafkaError, reason: &str) {
        let sink = &*self.name;
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::Fatal) {
            tracing::error!(sink, "kafka client fatal error: {error}: {reason}");
        } else {
            tracing::warn!(sink, "kafka client error (retrying): {error}: {reason}");
        }
    }
}

/// The marker consumer never joins its group, so there is nothing to handle here.
impl ConsumerContext for SinkClientContext {}
