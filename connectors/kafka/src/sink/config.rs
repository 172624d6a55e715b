//! [`KafkaSinkConfig`]: where a [`KafkaSink`](super::KafkaSink) writes and how, and
//! the ids ([`KafkaSinkIds`]) that make its commits exactly-once.

use std::time::Duration;

use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};
use tidemill_runtime::NodeContext;

use crate::config::{validate_topic, InvalidTopic};
use crate::properties::{ClientProperties, PropertyError};

/// Configuration of a transactional Kafka sink.
///
/// Deserialises from TOML/JSON; only `brokers` and `topic` are required, durations
/// are written like `"60s"`:
///
/// ```toml
/// [sinks.enriched]
/// brokers = "kafka-1:9092,kafka-2:9092"
/// topic = "orders-enriched"
/// transaction_timeout = "2m"
/// properties = { "security.protocol" = "SASL_SSL" }
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSinkConfig {
    /// Bootstrap servers, `host:port[,host:port...]`.
    pub brokers: String,
    /// The topic to write; it must exist.
    pub topic: String,
    /// The `transactional.id` of the producer. Default: `tidemill-<job>-<node>`;
    /// either way `-<shard>` is appended when the sink has several shards (each
    /// shard needs its own: a second producer with the same id fences the first).
    /// Set it when the job's name is not unique among the jobs writing to the same
    /// Kafka cluster.
    #[serde(default)]
    pub transactional_id: Option<String>,
    /// `transaction.timeout.ms`: a transaction left open longer (a process that died
    /// in the middle of a commit) is aborted by the broker. Capped by the broker's
    /// `transaction.max.timeout.ms` (15 minutes by default).
    #[serde(default = "default_transaction_timeout", with = "humantime_serde")]
    pub transaction_timeout: Duration,
    /// How long one blocking client call may take: `init_transactions`, reading the
    /// commit marker, sending it, committing or aborting.
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    pub request_timeout: Duration,
    /// The most encoded bytes one epoch may hold. The sink keeps an epoch's records
    /// in memory and in the checkpoint manifest until the epoch commits; beyond this
    /// it fails (shorten the checkpoint interval, or set
    /// `max_records_per_checkpoint`, rather than raise it far).
    #[serde(default = "default_max_epoch_bytes")]
    pub max_epoch_bytes: u64,
    /// Extra librdkafka properties for both clients of the sink (the producer and
    /// the consumer that reads the commit marker): security settings and the like.
    /// Secrets are redacted when the config is printed or serialised.
    #[serde(default)]
    pub properties: ClientProperties,
    /// Extra librdkafka properties for the producer only (`linger.ms`,
    /// `compression.type`, `message.max.bytes`, ...). They override `properties`.
    #[serde(default)]
    pub producer_properties: ClientProperties,
}

fn default_transaction_timeout() -> Duration {
    Duration::from_secs(60)
}

fn default_request_timeout() -> Duration {
    Duration::from_secs(30)
}

fn default_max_epoch_bytes() -> u64 {
    KafkaSinkConfig::DEFAULT_MAX_EPOCH_BYTES
}

/// Producer properties the sink sets itself: exactly-once depends on them.
const PRODUCER_FIXED: [&str; 5] =
    ["bootstrap.servers", "transactional.id", "enable.idempotence", "acks", "transaction.timeout.ms"];
/// Marker-consumer properties the sink sets itself.
const MARKER_FIXED: [&str; 4] = ["bootstrap.servers", "group.id", "enable.auto.commit", "isolation.level"];

impl KafkaSinkConfig {
    /// Default for [`KafkaSinkConfig::max_epoch_bytes`]: 256 MiB.
    pub const DEFAULT_MAX_EPOCH_BYTES: u64 = 256 << 20;

    /// A sink writing to `topic` with default settings.
    pub fn new(brokers: impl Into<String>, topic: impl Into<String>) -> Self {
        KafkaSinkConfig {
            brokers: brokers.into(),
            topic: topic.into(),
            transactional_id: None,
            transaction_timeout: default_transaction_timeout(),
            request_timeout: default_request_timeout(),
            max_epoch_bytes: Self::DEFAULT_MAX_EPOCH_BYTES,
            properties: ClientProperties::new(),
            producer_properties: ClientProperties::new(),
        }
    }

    /// The same configuration with a property for both clients.
    pub fn property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.insert(key, value);
        self
    }

    /// The same configuration with a producer property.
    pub fn producer_property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.producer_properties.insert(key, value);
        self
    }

    /// Checks what librdkafka would only report later (or by panicking).
    pub fn validate(&self) -> Result<(), KafkaSinkConfigError> {
        if self.brokers.trim().is_empty() {
            return Err(KafkaSinkConfigError::NoBrokers);
        }
        validate_topic(&self.topic)?;
        if let Some(id) = &self.transactional_id {
            if id.trim().is_empty() || id.contains('\0') {
                return Err(KafkaSinkConfigError::EmptyTransactionalId);
            }
        }
        let ms = self.transaction_timeout.as_millis();
        if !(1_000..=i32::MAX as u128).contains(&ms) {
            return Err(KafkaSinkConfigError::TransactionTimeout);
        }
        if self.request_timeout.is_zero() {
            return Err(KafkaSinkConfigError::ZeroRequestTimeout);
        }
        if self.max_epoch_bytes == 0 {
            return Err(KafkaSinkConfigError::ZeroMaxEpochBytes);
        }
        let both: Vec<&str> = PRODUCER_FIXED.iter().chain(&MARKER_FIXED).copied().collect();
        self.properties.check(&both, "Kafka sink")?;
        self.producer_properties.check(&PRODUCER_FIXED, "Kafka sink")?;
        Ok(())
    }

    /// The ids a sink built with `ctx` uses.
    pub fn ids_for(&self, ctx: &NodeContext) -> KafkaSinkIds {
        let transactional_id = match &self.transactional_id {
            Some(id) if ctx.shards > 1 => format!("{id}-{}", ctx.shard),
            Some(id) => id.clone(),
            None => ctx.sink_app_id(),
        };
        KafkaSinkIds {
            marker_group: format!("{transactional_id}-commits@{}", ctx.run.lineage),
            marker_prefix: format!("{transactional_id}-commits"),
            client_id: format!("tidemill-{}-{}-{}", ctx.job, ctx.node, ctx.shard),
            transactional_id,
        }
    }

    /// The transactional producer's librdkafka configuration.
    pub(crate) fn producer_config(&self, ids: &KafkaSinkIds) -> Result<ClientConfig, PropertyError> {
        let mut c = ClientConfig::new();
        c.set("client.id", &ids.client_id);
        self.properties.apply_to(&mut c)?;
        self.producer_properties.apply_to(&mut c)?;
        c.set("bootstrap.servers", &self.brokers)
            .set("transactional.id", &ids.transactional_id)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("transaction.timeout.ms", self.transaction_timeout.as_millis().to_string());
        Ok(c)
    }

    /// The configuration of the consumer that reads and sends the commit marker. It
    /// never subscribes (no group membership): it only names the marker group.
    pub(crate) fn marker_config(&self, ids: &KafkaSinkIds) -> Result<ClientConfig, PropertyError> {
        let mut c = ClientConfig::new();
        c.set("client.id", format!("{}-marker", ids.client_id));
        self.properties.apply_to(&mut c)?;
        c.set("bootstrap.servers", &self.brokers)
            .set("group.id", &ids.marker_group)
            .set("enable.auto.commit", "false")
            // Reading committed offsets with read_committed asks the broker for
            // stable offsets: a marker inside a transaction still open is waited for,
            // never reported as committed or as absent.
            .set("isolation.level", "read_committed");
        Ok(c)
    }
}

/// The ids of one sink shard. They are stable across restarts of the job: that is
/// what fences an older instance and finds its commits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaSinkIds {
    /// The producer's `transactional.id`.
    pub transactional_id: String,
    /// The consumer group whose committed offset is the commit marker: the newest
    /// epoch committed in the run's lineage (`<transactional id>-commits@<lineage>`).
    /// A new run (a new lineage) starts its epochs at 1 again under a marker of its
    /// own, so they are never mistaken for epochs an earlier run committed.
    pub marker_group: String,
    /// What the marker groups of every run of this shard start with
    /// (`<transactional id>-commits`): a new run finds earlier runs' output by it.
    pub marker_prefix: String,
    /// The `client.id` of the producer (`tidemill-<job>-<node>-<shard>`).
    pub client_id: String,
}

/// A [`KafkaSinkConfig`] breaks one of its rules.
#[derive(Debug, thiserror::Error)]
pub enum KafkaSinkConfigError {
    /// `brokers` is empty.
    #[error("brokers must not be empty")]
    NoBrokers,
    /// The topic name is not one Kafka accepts.
    #[error(transparent)]
    Topic(#[from] InvalidTopic),
    /// `transactional_id` is given but empty (or holds a NUL byte).
    #[error("transactional_id must not be empty (leave it out for the default)")]
    EmptyTransactionalId,
    /// `transaction_timeout` is out of the broker's range.
    #[error("transaction_timeout must be between 1 s and 24 days")]
    TransactionTimeout,
    /// `request_timeout` is zero.
    #[error("request_timeout must be positive")]
    ZeroRequestTimeout,
    /// `max_epoch_bytes` is zero.
    #[error("max_epoch_bytes must be positive")]
    ZeroMaxEpochBytes,
    /// A client property is one the sink sets itself, holds a NUL byte
    /// (librdkafka would panic), or cannot be read.
    #[error(transparent)]
    Property(#[from] PropertyError),
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn ctx(shard: usize, shards: usize) -> NodeContext {
        NodeContext { shard, shards, job: Arc::from("orders"), ..NodeContext::for_tests("out") }
    }

    #[test]
    fn defaults_serde_and_validation() {
        let c: KafkaSinkConfig = serde_json::from_str(r#"{"brokers":"b:9092","topic":"t"}"#).unwrap();
        assert_eq!(c, KafkaSinkConfig::new("b:9092", "t"));
        assert!(c.validate().is_ok());
        let c: KafkaSinkConfig = serde_json::from_str(
            r#"{"brokers":"b","topic":"t","transaction_timeout":"2m","request_timeout":"5s","max_epoch_bytes":10,
                "transactional_id":"x","properties":{"security.protocol":"ssl"},"producer_properties":{"linger.ms":"20"}}"#,
        )
        .unwrap();
        assert_eq!(c.transaction_timeout, Duration::from_secs(120));
        assert!(c.validate().is_ok());
        assert!(KafkaSinkConfig::new("", "t").validate().is_err());
        assert!(KafkaSinkConfig::new("b", "a b").validate().is_err());
        let fixed = KafkaSinkConfig::new("b", "t").producer_property("acks", "1");
        assert!(fixed.validate().unwrap_err().to_string().contains("acks"));
        let fixed = KafkaSinkConfig::new("b", "t").property("isolation.level", "read_uncommitted");
        assert!(fixed.validate().unwrap_err().to_string().contains("isolation.level"));
        let short =
            KafkaSinkConfig { transaction_timeout: Duration::from_millis(10), ..KafkaSinkConfig::new("b", "t") };
        assert!(short.validate().is_err());
    }

    #[test]
    fn ids_are_stable_per_job_node_and_shard() {
        let c = KafkaSinkConfig::new("b", "t");
        let ids = c.ids_for(&ctx(0, 1));
        assert_eq!(ids.transactional_id, "tidemill-orders-out");
        assert_eq!(ids.marker_prefix, "tidemill-orders-out-commits");
        assert!(ids.marker_group.starts_with("tidemill-orders-out-commits@"), "{}", ids.marker_group);
        assert_eq!(c.ids_for(&ctx(2, 3)).transactional_id, "tidemill-orders-out-2");
        let named = KafkaSinkConfig { transactional_id: Some("mine".into()), ..c };
        assert_eq!(named.ids_for(&ctx(0, 1)).transactional_id, "mine");
        assert_eq!(named.ids_for(&ctx(1, 2)).marker_prefix, "mine-1-commits");
    }

    #[test]
    fn client_configs_fix_what_exactly_once_relies_on() {
        let c =
            KafkaSinkConfig::new("b:1", "t").property("security.protocol", "ssl").producer_property("linger.ms", "7");
        let ids = c.ids_for(&ctx(0, 1));
        let p = c.producer_config(&ids).unwrap();
        assert_eq!(p.get("transactional.id"), Some("tidemill-orders-out"));
        assert_eq!((p.get("acks"), p.get("enable.idempotence")), (Some("all"), Some("true")));
        assert_eq!(p.get("transaction.timeout.ms"), Some("60000"));
        assert_eq!((p.get("linger.ms"), p.get("security.protocol")), (Some("7"), Some("ssl")));
        let m = c.marker_config(&ids).unwrap();
        assert_eq!(m.get("group.id"), Some(ids.marker_group.as_str()));
        assert_eq!(m.get("isolation.level"), Some("read_committed"));
        assert_eq!((m.get("linger.ms"), m.get("security.protocol")), (None, Some("ssl")));
    }
}
