//! Reaching the brokers before a job starts: the topic's partition count, asked
//! with the job's client properties, and when that fails, what the client said
//! about why (a failed SASL login, a TLS handshake, a refused connection).
//!
//! librdkafka reports such causes only through its error and log callbacks; the
//! metadata request itself just times out. Without them a wrong password and a
//! broker that is down look the same: "timed out".

use std::sync::Mutex;
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::ClientConfig;

use crate::config::validate_topic;
use crate::metadata::{is_missing, topic_partitions};
use crate::properties::{ClientProperties, PropertyError};

/// The partition count of a topic could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TopicMetadataError {
    /// The client properties cannot be used.
    #[error("kafka client properties")]
    Properties(#[source] PropertyError),
    /// The brokers answered, or did not, without the topic's partitions.
    #[error("topic {topic} at {brokers}{}", cause.as_ref().map(|c| format!(": {c}")).unwrap_or_default())]
    Metadata {
        /// The topic.
        topic: String,
        /// The brokers asked.
        brokers: String,
        /// What the client reported meanwhile (authentication, TLS, connection
        /// errors), the likely cause of a timeout.
        cause: Option<String>,
        /// The metadata request's own error (boxed: it is large).
        #[source]
        source: Box<KafkaError>,
    },
}

impl TopicMetadataError {
    /// Whether the brokers say the topic does not exist.
    pub fn is_missing_topic(&self) -> bool {
        matches!(self, TopicMetadataError::Metadata { source, .. } if is_missing(source))
    }
}

/// The number of partitions of `topic`, asked of `brokers` with `properties`
/// (TLS, SASL, ...) within `timeout`; blocks the calling thread meanwhile.
///
/// ```no_run
/// # use std::time::Duration;
/// use tidemill_kafka::{topic_partition_count, ClientProperties};
/// let props: ClientProperties = [("security.protocol", "SASL_SSL")].into_iter().collect();
/// match topic_partition_count("kafka:9094", "orders", Duration::from_secs(10), &props) {
///     Ok(n) => println!("{n} partitions"),
///     // e.g. "topic orders at kafka:9094: SASL authentication error: ..."
///     Err(e) => eprintln!("{e}"),
/// }
/// ```
pub fn topic_partition_count(
    brokers: &str,
    topic: &str,
    timeout: Duration,
    properties: &ClientProperties,
) -> Result<usize, TopicMetadataError> {
    let failed = |cause, source| TopicMetadataError::Metadata {
        topic: topic.to_string(),
        brokers: brokers.to_string(),
        cause,
        source: Box::new(source),
    };
    if validate_topic(topic).is_err() {
        return Err(failed(None, KafkaError::MetadataFetch(RDKafkaErrorCode::InvalidTopic)));
    }
    let mut config = ClientConfig::new();
    properties.apply_to(&mut config).map_err(TopicMetadataError::Properties)?;
    // No group.id: a plain metadata client (a consumer cannot auto-create topics).
    config.set("bootstrap.servers", brokers);
    // Connection failures are logged at info level; this client is short-lived,
    // so it can afford to hear them (they go to debug lines, and to the error).
    config.set_log_level(RDKafkaLogLevel::Info);
    let consumer: BaseConsumer<ClientErrors> =
        config.create_with_context(ClientErrors::default()).map_err(|e| failed(None, e))?;
    topic_partitions(consumer.client(), topic, timeout).map_err(|e| {
        // Logs and errors wait on the client's main queue (rdkafka sets
        // `log.queue`): serve them, then ask what they said.
        for _ in 0..10 {
            if consumer.poll(Duration::from_millis(10)).is_none() && consumer.context().cause().is_some() {
                break;
            }
        }
        let cause = consumer.context().cause().map(|c| with_hint(c, properties));
        failed(cause, e)
    })
}

/// `cause`, with a hint when it looks like a plaintext client on a TLS listener:
/// the broker closes the connection at the first request, and librdkafka only
/// says so.
fn with_hint(cause: String, properties: &ClientProperties) -> String {
    let protocol = properties.get("security.protocol").unwrap_or("plaintext").to_ascii_lowercase();
    let plaintext = protocol == "plaintext" || protocol == "sasl_plaintext";
    if plaintext && cause.contains("APIVERSION_QUERY") {
        format!("{cause} (the listener may expect TLS: set security.protocol to SSL or SASL_SSL)")
    } else {
        cause
    }
}

/// Client context remembering the errors a short-lived client reported.
#[derive(Default)]
pub(crate) struct ClientErrors {
    reported: Mutex<Vec<String>>,
}

impl ClientErrors {
    /// The most telling error reported: the first that is not just "all brokers
    /// are down" (which follows every other cause), else that one.
    pub(crate) fn cause(&self) -> Option<String> {
        let reported = self.reported.lock().unwrap_or_else(|p| p.into_inner());
        reported.iter().find(|r| !r.contains("brokers are down")).or(reported.last()).cloned()
    }

    fn record(&self, message: String) {
        let mut reported = self.reported.lock().unwrap_or_else(|p| p.into_inner());
        if reported.len() < 16 && !reported.contains(&message) {
            reported.push(message);
        }
    }
}

impl ConsumerContext for ClientErrors {}

impl ClientContext for ClientErrors {
    /// Connection failures (facility `FAIL`: a refused connection, a failed TLS
    /// handshake or SASL login) name their cause.
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        tracing::debug!(facility = fac, ?level, "librdkafka: {message}");
        let severe = matches!(
            level,
            RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical | RDKafkaLogLevel::Error
        );
        if fac == "FAIL" || severe {
            self.record(message.to_string());
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!(%error, "kafka client error: {reason}");
        self.record(reason.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_connection_at_the_first_request_hints_at_tls_for_plaintext_clients() {
        let cause = "Disconnected (after 2ms in state APIVERSION_QUERY)".to_string();
        assert!(with_hint(cause.clone(), &ClientProperties::new()).contains("security.protocol"));
        let tls: ClientProperties = [("security.protocol", "SSL")].into_iter().collect();
        assert_eq!(with_hint(cause.clone(), &tls), cause);
    }

    #[test]
    fn the_cause_is_the_first_error_that_is_not_all_brokers_down() {
        let errors = ClientErrors::default();
        assert_eq!(errors.cause(), None);
        errors.record("1/1 brokers are down".into());
        assert_eq!(errors.cause().as_deref(), Some("1/1 brokers are down"));
        errors.record("SASL authentication error: invalid credentials".into());
        errors.record("1/1 brokers are down".into());
        assert_eq!(errors.cause().as_deref(), Some("SASL authentication error: invalid credentials"));
    }
}
