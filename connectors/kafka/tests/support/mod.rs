//! What the Kafka tests of this crate share: the broker, unique names, topics.

#![allow(dead_code)] // Each test file uses its own subset.

use std::time::Duration;

use tidemill_kafka::partition_count;
use tidemill_kafka::rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use tidemill_kafka::rdkafka::client::DefaultClientContext;
use tidemill_kafka::rdkafka::ClientConfig;
use tokio::time::Instant;

/// An order event as the tests write them: the order job's schema, checked the
/// same way (all four fields required, `event_time` in RFC 3339).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Order {
    /// Unique id of the order.
    pub order_id: String,
    /// The user who placed it.
    pub user_id: String,
    /// Its amount.
    pub amount: i64,
    /// When it happened.
    #[serde(with = "tidemill_operators::decode::rfc3339")]
    pub event_time: chrono::DateTime<chrono::Utc>,
}

/// The longest a test waits for the broker.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// The broker: `KAFKA_BOOTSTRAP_SERVERS`, or the one `scripts/kafka start` runs.
pub fn brokers() -> String {
    std::env::var("KAFKA_BOOTSTRAP_SERVERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

/// A name no other test run uses (topics, groups, jobs).
pub fn unique(name: &str) -> String {
    format!("tidemill-test-{name}-{}", uuid::Uuid::new_v4().simple())
}

/// An admin client of the broker.
pub fn admin() -> AdminClient<DefaultClientContext> {
    ClientConfig::new().set("bootstrap.servers", brokers()).create().expect("admin client")
}

/// Creates `topic` and waits until the broker's metadata shows all its partitions.
pub async fn create_topic(topic: &str, partitions: i32) {
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let opts = AdminOptions::new().operation_timeout(Some(TIMEOUT));
    for result in admin().create_topics([&new], &opts).await.expect("create topic") {
        result.expect("topic created");
    }
    let deadline = Instant::now() + TIMEOUT;
    while partition_count(&brokers(), topic, TIMEOUT).ok() != Some(partitions as usize) {
        assert!(Instant::now() < deadline, "topic {topic} did not show up in the metadata");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Deletes `topic` (best effort: tests clean up after themselves).
pub async fn delete_topic(topic: &str) {
    let opts = AdminOptions::new().operation_timeout(Some(TIMEOUT));
    let _ = admin().delete_topics(&[topic], &opts).await;
}
