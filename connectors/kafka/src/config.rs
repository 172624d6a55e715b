//! [`KafkaSourceConfig`]: what a [`KafkaSource`](super::KafkaSource) reads and how.

use std::time::Duration;

use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};
use tidemill_runtime::NodeContext;

use crate::group::GroupHandle;
use crate::properties::{ClientProperties, PropertyError};
use crate::source::KafkaSourceError;

/// Where a partition is read from when no checkpoint says otherwise.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartOffsets {
    /// The oldest record still in the partition (the low watermark).
    #[default]
    Earliest,
    /// Only records written after the source first reached the partition (the high
    /// watermark at its first poll).
    Latest,
}

/// Where a bounded source stops.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndOffsets {
    /// The high watermark found when the partition was first reached (the source's
    /// first poll). It is stored in every snapshot, so a restored source stops at the
    /// same offset; records written after the first start are never read.
    #[default]
    Latest,
}

/// Configuration of a Kafka source: one topic, one source actor per partition.
///
/// Deserialises from TOML/JSON; only `brokers` and `topic` are required, and
/// `metadata_timeout` is written like `"10s"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSourceConfig {
    /// Bootstrap servers, `host:port[,host:port...]`.
    pub brokers: String,
    /// The topic to read.
    pub topic: String,
    /// Consumer group the checkpointed offsets are committed to (for lag tooling);
    /// the job's name when absent.
    #[serde(default)]
    pub group_id: Option<String>,
    /// Where to start without a checkpoint.
    #[serde(default)]
    pub start: StartOffsets,
    /// `Some`: bounded mode, the source ends at this offset; `None`: unbounded.
    #[serde(default)]
    pub end: Option<EndOffsets>,
    /// `true` (default): an offset that is no longer in the partition (deleted by
    /// retention, topic re-created) or a topic deleted while it is read fails the
    /// source. `false`: log a warning and go on from the earliest offset available
    /// (for a deleted topic: wait for it to come back). A topic missing when the
    /// source is created is a configuration error either way.
    #[serde(default = "default_true")]
    pub fail_on_data_loss: bool,
    /// How long to wait for topic metadata and partition watermarks.
    #[serde(default = "default_metadata_timeout", with = "humantime_serde")]
    pub metadata_timeout: Duration,
    /// Extra librdkafka client properties (`fetch.max.bytes`, `security.protocol`,
    /// `isolation.level`, ...). They override Tidemill's defaults, except the ones the
    /// source relies on: `bootstrap.servers`, `group.id`, `enable.auto.commit`,
    /// `enable.auto.offset.store` and `auto.offset.reset`. The same properties go
    /// to every client the source creates (consumers, metadata probes, the group
    /// member in group mode): set TLS and SASL here. Secrets are redacted when
    /// the config is printed or serialised (see [`ClientProperties`]).
    #[serde(default)]
    pub properties: ClientProperties,
    /// How many librdkafka consumers the partitions of this source share in one
    /// process (partition `p` uses consumer `p % consumers`); the number of CPUs
    /// when absent. Each consumer has its own network and decompression thread, so
    /// fewer than the CPUs leaves fetching single-threaded; one per partition
    /// multiplies threads and connections for nothing.
    #[serde(default)]
    pub consumers: Option<usize>,
    /// Only these partitions, source shard `i` reading `partitions[i]`; when absent,
    /// shard `i` reads partition `i` (one shard per partition of the topic). A
    /// consumer-group task reads the one partition it was assigned
    /// ([`PartitionTasks`](super::PartitionTasks)).
    #[serde(default)]
    pub partitions: Option<Vec<i32>>,
    /// The consumer-group member to commit offsets through, for a task of
    /// [`PartitionTasks`](super::PartitionTasks) (the broker refuses commits of a
    /// non-member to a group with members); set with
    /// [`in_group`](Self::in_group). Without it the source commits with its own
    /// consumer.
    #[serde(skip)]
    pub member: Option<GroupHandle>,
}

fn default_true() -> bool {
    true
}

fn default_metadata_timeout() -> Duration {
    Duration::from_secs(5)
}

/// Properties the source sets itself; `properties` cannot change them.
const FIXED_PROPERTIES: [&str; 5] =
    ["bootstrap.servers", "group.id", "enable.auto.commit", "enable.auto.offset.store", "auto.offset.reset"];

impl KafkaSourceConfig {
    /// An unbounded source of `topic` from the earliest offset, failing on data loss.
    pub fn new(brokers: impl Into<String>, topic: impl Into<String>) -> Self {
        KafkaSourceConfig {
            brokers: brokers.into(),
            topic: topic.into(),
            group_id: None,
            start: StartOffsets::Earliest,
            end: None,
            fail_on_data_loss: true,
            metadata_timeout: default_metadata_timeout(),
            properties: ClientProperties::new(),
            consumers: None,
            partitions: None,
            member: None,
        }
    }

    /// The same configuration for a task of the consumer group `member` belongs
    /// to: offsets are committed to that group, through the member.
    pub fn in_group(mut self, member: GroupHandle) -> Self {
        self.group_id = Some(member.group_id().to_owned());
        self.member = Some(member);
        self
    }

    /// The same configuration in bounded mode: it ends at the high watermark found
    /// at the first start.
    pub fn bounded(mut self) -> Self {
        self.end = Some(EndOffsets::Latest);
        self
    }

    /// The same configuration with an extra client property.
    pub fn property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.insert(key.into(), value.into());
        self
    }

    /// Checks what librdkafka would only report later, or by panicking (a topic
    /// name with a NUL byte).
    pub fn validate(&self) -> Result<(), KafkaSourceConfigError> {
        if self.brokers.trim().is_empty() {
            return Err(KafkaSourceConfigError::NoBrokers);
        }
        validate_topic(&self.topic)?;
        if self.group_id.as_deref().is_some_and(|g| g.trim().is_empty()) {
            return Err(KafkaSourceConfigError::EmptyGroupId);
        }
        if let Some(p) = self.partitions.iter().flatten().find(|p| **p < 0) {
            return Err(KafkaSourceConfigError::NegativePartition(*p));
        }
        if self.metadata_timeout.is_zero() {
            return Err(KafkaSourceConfigError::ZeroMetadataTimeout);
        }
        self.properties.check(&FIXED_PROPERTIES, "source")?;
        Ok(())
    }

    /// The Kafka partition source shard `shard` reads (see `partitions`).
    pub fn partition_of(&self, shard: usize) -> Result<i32, KafkaSourceError> {
        match &self.partitions {
            Some(list) => {
                list.get(shard).copied().ok_or(KafkaSourceError::ShardNotListed { shard, listed: list.len() })
            }
            None => i32::try_from(shard).map_err(|_| KafkaSourceError::ShardTooLarge(shard)),
        }
    }

    /// How many source actors read the topic: one per listed partition, else one
    /// per partition the brokers report (a missing topic or unreachable brokers
    /// fail here, before anything starts).
    pub fn source_partitions(&self) -> Result<usize, crate::TopicMetadataError> {
        match &self.partitions {
            Some(list) => Ok(list.len()),
            None => self.partition_count(),
        }
    }

    /// The topic's partition count, asked with the source's client properties;
    /// a failure says what the client reported (authentication, TLS, connection).
    pub fn partition_count(&self) -> Result<usize, crate::TopicMetadataError> {
        crate::topic_partition_count(&self.brokers, &self.topic, self.metadata_timeout, &self.properties)
    }

    /// How many consumers the partitions are spread over (see `consumers`).
    pub fn consumer_count(&self) -> usize {
        self.consumers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1)
    }

    /// The consumer group: `group_id`, or the job's name.
    pub fn group_for(&self, ctx: &NodeContext) -> String {
        self.group_id.clone().unwrap_or_else(|| ctx.job.to_string())
    }

    /// The librdkafka configuration of the consumer a source node shares among its
    /// partitions in one process.
    pub(crate) fn client_config(&self, ctx: &NodeContext, consumer: usize) -> Result<ClientConfig, PropertyError> {
        let mut c = ClientConfig::new();
        c.set("client.id", format!("tidemill-{}-{}-{consumer}", ctx.job, ctx.node))
            // Each partition has its own queue, and this bound applies to each:
            // keep the prefetch modest (the librdkafka default is 64 MB).
            .set("queued.max.messages.kbytes", "16384")
            .set("max.partition.fetch.bytes", "8388608")
            // The log end of each partition, for the lag metrics.
            .set("statistics.interval.ms", "1000");
        if self.end.is_some() {
            // How long the broker holds a fetch it has no data for. librdkafka's
            // 500 ms default is a fixed cost of every bounded run: its partitions
            // reached their ends 0.5 s apart (10,000 orders over 12 partitions took
            // 3.4 to 4.5 s, 0.8 s at 50 ms). Unbounded sources keep the default: with
            // 50 ms for them too, the scaling-signal tests' processes (a consumer
            // pair per task, many tasks, 2 cores) fell behind their paced input
            // (9 s checkpoints), likely from the tenfold empty fetches. Properties
            // given by the user override either.
            c.set("fetch.wait.max.ms", "50");
        }
        self.properties.apply_to(&mut c)?;
        c.set("bootstrap.servers", &self.brokers)
            .set("group.id", self.group_for(ctx))
            // Offsets are committed explicitly, only for checkpointed positions.
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            // An out-of-range offset is reported to the source, which decides
            // (fail_on_data_loss) instead of librdkafka silently jumping.
            .set("auto.offset.reset", "error");
        Ok(c)
    }
}

/// A [`KafkaSourceConfig`] breaks one of its rules.
#[derive(Debug, thiserror::Error)]
pub enum KafkaSourceConfigError {
    /// `brokers` is empty.
    #[error("brokers must not be empty")]
    NoBrokers,
    /// The topic name is not one Kafka accepts.
    #[error(transparent)]
    Topic(#[from] InvalidTopic),
    /// `group_id` is given but empty.
    #[error("group_id must not be empty (leave it out to use the job name)")]
    EmptyGroupId,
    /// A listed partition is negative.
    #[error("partition {0} is negative")]
    NegativePartition(i32),
    /// `metadata_timeout` is zero.
    #[error("metadata_timeout must be positive")]
    ZeroMetadataTimeout,
    /// A client property is one the source sets itself, or cannot be read.
    #[error(transparent)]
    Property(#[from] PropertyError),
}

/// A topic name that breaks Kafka's rules (librdkafka would report it late, or
/// panic on a NUL byte).
#[derive(Debug, thiserror::Error)]
#[error("{topic:?} is not a valid topic name (1-249 characters of a-z A-Z 0-9 . _ -)")]
pub struct InvalidTopic {
    /// The name.
    pub topic: String,
}

/// Kafka's rules for topic names: 1 to 249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub(crate) fn validate_topic(topic: &str) -> Result<(), InvalidTopic> {
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if topic.is_empty() || topic.len() > 249 || topic == "." || topic == ".." || !topic.chars().all(legal) {
        return Err(InvalidTopic { topic: topic.to_owned() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_toml() {
        let c: KafkaSourceConfig = serde_json::from_str(r#"{"brokers":"b:9092","topic":"orders"}"#).unwrap();
        assert_eq!(c, KafkaSourceConfig::new("b:9092", "orders"));
        assert!(c.fail_on_data_loss);
        let c: KafkaSourceConfig = serde_json::from_str(
            r#"{"brokers":"b","topic":"t","start":"latest","end":"latest","metadata_timeout":"2s",
                "fail_on_data_loss":false,"properties":{"fetch.max.bytes":"1000000"}}"#,
        )
        .unwrap();
        assert_eq!(c.start, StartOffsets::Latest);
        assert_eq!(c.end, Some(EndOffsets::Latest));
        assert_eq!(c.metadata_timeout, Duration::from_secs(2));
        assert!(c.validate().is_ok());
    }

    #[test]
    fn validation() {
        let ok = KafkaSourceConfig::new("b:9092", "orders.v1_x-y");
        assert!(ok.validate().is_ok());
        for topic in ["", ".", "..", "a b", "a\0b", &"x".repeat(250)] {
            assert!(KafkaSourceConfig::new("b", topic).validate().is_err(), "{topic:?}");
        }
        assert!(KafkaSourceConfig::new(" ", "t").validate().is_err());
        let fixed = ok.clone().property("enable.auto.commit", "true");
        assert!(fixed.validate().unwrap_err().to_string().contains("enable.auto.commit"));
        let group = KafkaSourceConfig { group_id: Some(String::new()), ..ok };
        assert!(group.validate().is_err());
    }

    #[test]
    fn client_config_fixes_what_the_source_relies_on() {
        let ctx = NodeContext::for_tests("orders");
        let c = KafkaSourceConfig::new("b:1", "t").property("queued.max.messages.kbytes", "1024");
        let cc = c.client_config(&ctx, 1).unwrap();
        assert_eq!(cc.get("group.id"), Some("test"));
        assert_eq!(cc.get("enable.auto.commit"), Some("false"));
        assert_eq!(cc.get("auto.offset.reset"), Some("error"));
        assert_eq!(cc.get("queued.max.messages.kbytes"), Some("1024"));
        assert_eq!(cc.get("client.id"), Some("tidemill-test-orders-1"));
        let c = KafkaSourceConfig { group_id: Some("lag".into()), ..c };
        assert_eq!(c.client_config(&ctx, 0).unwrap().get("group.id"), Some("lag"));
    }
}
