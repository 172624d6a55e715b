//! [`RepartitionTopic`]: the Kafka topic between the two stages of a re-keyed
//! job, created once with the partition count the job asks for.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::ClientConfig;

use crate::properties::{ClientProperties, PropertyError};
use crate::reach::{topic_partition_count, TopicMetadataError};

/// How long creating the topic and reading its metadata may take.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(15);

/// The repartition topic could not be created or is not usable.
#[derive(Debug, thiserror::Error)]
pub enum RepartitionTopicError {
    /// The partition count is zero or above what Kafka allows.
    #[error("a repartition topic needs 1 to {max} partitions, not {0}", max = i32::MAX)]
    Partitions(u32),
    /// The client properties cannot be used.
    #[error("kafka client properties")]
    Properties(#[source] PropertyError),
    /// The admin client could not be made or the creation request failed.
    #[error("cannot create repartition topic {topic}")]
    Create {
        /// The topic.
        topic: String,
        /// Why.
        #[source]
        source: KafkaError,
    },
    /// The topic's metadata could not be read.
    #[error("repartition topic")]
    Metadata(#[source] TopicMetadataError),
    /// The topic exists with another partition count: its records are spread by
    /// the other count, and reading them with this one would split keys' state.
    #[error(
        "repartition topic {topic} has {found} partitions, the job asks for {wanted}: keys written with one count \
         cannot be read with another; run with --repartition-partitions {found}, or, with every process of the job \
         stopped and the topic drained, delete the topic and its stage-2 checkpoints (see docs/scale-out.md)"
    )]
    PartitionCount {
        /// The topic.
        topic: String,
        /// Partitions it has.
        found: usize,
        /// Partitions the job asks for.
        wanted: u32,
    },
}

/// The repartition topic of a job: its name, partition count and the brokers
/// (with the job's client properties) it lives on.
///
/// ```no_run
/// # async fn f() -> Result<(), tidemill_kafka::repartition::RepartitionTopicError> {
/// use tidemill_kafka::repartition::RepartitionTopic;
/// use tidemill_kafka::ClientProperties;
/// let topic = RepartitionTopic::new("127.0.0.1:9092", "order-aggregates-repartition", 12, ClientProperties::new());
/// topic.ensure().await?; // created, or there already with 12 partitions
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RepartitionTopic {
    /// Bootstrap servers.
    pub brokers: String,
    /// The topic's name (conventionally `<job>-repartition`).
    pub name: String,
    /// Its partition count: how many stage-2 tasks there are.
    pub partitions: u32,
    /// The job's client properties (TLS, SASL).
    pub properties: ClientProperties,
}

impl RepartitionTopic {
    /// The topic `name` of `partitions` partitions on `brokers`.
    pub fn new(
        brokers: impl Into<String>,
        name: impl Into<String>,
        partitions: u32,
        properties: ClientProperties,
    ) -> Self {
        RepartitionTopic { brokers: brokers.into(), name: name.into(), partitions, properties }
    }

    /// Creates the topic if it is missing (the broker's default replication,
    /// infinite retention: records leave by [`RepartitionSource`](super::RepartitionSource)'s
    /// trimming, never by age, so a job stopped for a week loses nothing), and
    /// checks an existing one has the same partition count. Processes of the
    /// job may call it at once: the one that loses the race finds the topic.
    pub async fn ensure(&self) -> Result<(), RepartitionTopicError> {
        let found = self.create_if_missing().await?;
        if found != self.partitions as usize {
            return Err(RepartitionTopicError::PartitionCount {
                topic: self.name.clone(),
                found,
                wanted: self.partitions,
            });
        }
        Ok(())
    }

    /// Like [`ensure`](Self::ensure), but an existing topic's partition count
    /// wins over `partitions` (which only says how many to create): for a job
    /// whose count is a default (the input topic's partitions), so that a
    /// process started after the input topic grew reads the repartition topic
    /// its peers write.
    pub async fn ensure_or_adopt(&mut self) -> Result<(), RepartitionTopicError> {
        let found = self.create_if_missing().await?;
        if found != self.partitions as usize {
            tracing::info!(topic = %self.name, partitions = found, asked = self.partitions, "the repartition topic keeps its partition count");
            self.partitions = u32::try_from(found).map_err(|_| RepartitionTopicError::Partitions(u32::MAX))?;
        }
        Ok(())
    }

    /// Creates the topic with `partitions` partitions if it is missing; returns
    /// the partition count it has.
    async fn create_if_missing(&self) -> Result<usize, RepartitionTopicError> {
        let count = i32::try_from(self.partitions)
            .ok()
            .filter(|c| *c > 0)
            .ok_or(RepartitionTopicError::Partitions(self.partitions))?;
        let create = |source| RepartitionTopicError::Create { topic: self.name.clone(), source };
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers);
        self.properties.apply_to(&mut config).map_err(RepartitionTopicError::Properties)?;
        let admin: AdminClient<DefaultClientContext> = config.create().map_err(create)?;
        let topic = NewTopic::new(&self.name, count, TopicReplication::Fixed(-1)).set("retention.ms", "-1");
        let options = AdminOptions::new().operation_timeout(Some(ADMIN_TIMEOUT));
        let results = admin.create_topics([&topic], &options).await.map_err(create)?;
        for result in results {
            match result {
                Ok(_) => tracing::info!(topic = %self.name, partitions = count, "repartition topic created"),
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((_, code)) => return Err(create(KafkaError::AdminOp(code))),
            }
        }
        self.partition_count().await
    }

    /// Reads the partition count (blocking: called once, before the tasks start).
    async fn partition_count(&self) -> Result<usize, RepartitionTopicError> {
        // A new topic's metadata may take a moment to reach every broker.
        let deadline = std::time::Instant::now() + ADMIN_TIMEOUT;
        loop {
            match topic_partition_count(&self.brokers, &self.name, ADMIN_TIMEOUT, &self.properties) {
                Err(e) if e.is_missing_topic() && std::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                other => return other.map_err(RepartitionTopicError::Metadata),
            }
        }
    }
}
