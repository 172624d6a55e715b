//! The tests' Kafka broker: its address, unique names, topics made and removed.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;

/// The longest a helper waits for the broker.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// The broker: `KAFKA_BOOTSTRAP_SERVERS`, or the one `scripts/kafka start` runs.
pub fn brokers() -> String {
    std::env::var("KAFKA_BOOTSTRAP_SERVERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

/// A name no other test run uses (topics, groups, jobs).
pub fn unique(name: &str) -> String {
    format!("tidemill-test-{name}-{}", uuid::Uuid::new_v4().simple())
}

/// An admin client of `brokers`.
pub fn admin_of(brokers: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new().set("bootstrap.servers", brokers).create().expect("admin client")
}

/// An admin client of the shared broker.
pub fn admin() -> AdminClient<DefaultClientContext> {
    admin_of(&brokers())
}

/// How many partitions `topic` has in the shared broker's metadata (`None` while
/// the broker does not know it).
pub fn partitions_of(topic: &str) -> Option<usize> {
    let consumer: BaseConsumer = ClientConfig::new().set("bootstrap.servers", brokers()).create().ok()?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(5)).ok()?;
    let topic = metadata.topics().first()?;
    (topic.error().is_none() && !topic.partitions().is_empty()).then(|| topic.partitions().len())
}

/// Whether `topic` has `partitions` partitions in the metadata and each one's
/// leader answers a watermark request: a topic just created shows in the
/// metadata before its leaders serve offsets, and a source probing it then is
/// told to retry (which a test asserting on the first poll would take for a bug).
fn readable(topic: &str, partitions: usize) -> bool {
    if partitions_of(topic) != Some(partitions) {
        return false;
    }
    let Ok(consumer) = ClientConfig::new().set("bootstrap.servers", brokers()).create::<BaseConsumer>() else {
        return false;
    };
    (0..partitions as i32).all(|p| consumer.fetch_watermarks(topic, p, Duration::from_secs(5)).is_ok())
}

/// The low watermark (the oldest offset still held) of every partition of
/// `topic`, in partition order: above 0 where records were deleted.
pub fn low_watermarks(topic: &str) -> Vec<i64> {
    watermarks(topic).into_iter().map(|(low, _)| low).collect()
}

/// The log-end offset of every partition of `topic`, in partition order.
pub fn high_watermarks(topic: &str) -> Vec<i64> {
    watermarks(topic).into_iter().map(|(_, high)| high).collect()
}

/// `(low, high)` watermarks of every partition of `topic`, in partition order.
fn watermarks(topic: &str) -> Vec<(i64, i64)> {
    let consumer: BaseConsumer = ClientConfig::new().set("bootstrap.servers", brokers()).create().expect("consumer");
    let partitions = partitions_of(topic).unwrap_or(0);
    (0..partitions as i32)
        .map(|p| consumer.fetch_watermarks(topic, p, Duration::from_secs(10)).expect("watermarks"))
        .collect()
}

/// Creates `topic` in the shared broker and waits until every partition is
/// readable (its metadata shows it and its leader answers for its offsets).
pub async fn create_topic(topic: &str, partitions: i32) {
    create_topic_with(topic, partitions, &[]).await;
}

/// [`create_topic`] with topic configs, e.g. `[("cleanup.policy", "compact")]`.
pub async fn create_topic_with(topic: &str, partitions: i32, configs: &[(&str, &str)]) {
    let new = configs
        .iter()
        .fold(NewTopic::new(topic, partitions, TopicReplication::Fixed(1)), |new, (key, value)| new.set(key, value));
    let opts = AdminOptions::new().operation_timeout(Some(TIMEOUT));
    for result in admin().create_topics([&new], &opts).await.expect("create topic") {
        result.expect("topic created");
    }
    let deadline = Instant::now() + TIMEOUT;
    let topic_name = topic.to_string();
    loop {
        let name = topic_name.clone();
        let ready =
            tokio::task::spawn_blocking(move || readable(&name, partitions as usize)).await.expect("metadata task");
        if ready {
            return;
        }
        assert!(Instant::now() < deadline, "topic {topic} did not become readable");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Raises `topic` to `partitions` partitions (Kafka's CreatePartitions) and
/// waits until the metadata shows them.
pub async fn grow_topic(topic: &str, partitions: usize) {
    let opts = AdminOptions::new().operation_timeout(Some(TIMEOUT));
    let grown = NewPartitions::new(topic, partitions);
    for result in admin().create_partitions([&grown], &opts).await.expect("create partitions") {
        result.expect("partitions created");
    }
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let name = topic.to_string();
        if tokio::task::spawn_blocking(move || readable(&name, partitions)).await.expect("metadata task") {
            return;
        }
        assert!(Instant::now() < deadline, "topic {topic} did not show {partitions} partitions");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Deletes `topic` from the shared broker (best effort: tests clean up after
/// themselves).
pub async fn delete_topic(topic: &str) {
    let opts = AdminOptions::new().operation_timeout(Some(TIMEOUT));
    let _ = admin().delete_topics(&[topic], &opts).await;
}

/// Deletes its topic when dropped, so that repeated test runs on one broker do not
/// pile up data (the broker's state outlives the runs).
pub struct TopicGuard {
    /// The topic's name.
    pub name: String,
}

impl TopicGuard {
    /// A unique topic name starting with `prefix`.
    pub fn unique(prefix: &str) -> Self {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        TopicGuard { name: format!("{prefix}-{}-{nanos}", std::process::id()) }
    }
}

impl Drop for TopicGuard {
    fn drop(&mut self) {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        runtime.block_on(delete_topic(&self.name));
    }
}
