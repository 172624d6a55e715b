//! Topics of the tests' Kafka broker, and generated orders produced into them.

use std::process::{Command, Stdio};
use std::time::Duration;

use tidemill_job_examples::orders::GeneratorConfig;
use tidemill_kafka::rdkafka::admin::{AdminClient, AdminOptions};
use tidemill_kafka::rdkafka::client::DefaultClientContext;
use tidemill_kafka::rdkafka::ClientConfig;

use crate::binary::order_producer;

/// The broker: `KAFKA_BOOTSTRAP_SERVERS`, or the one `scripts/kafka start` runs.
pub fn brokers() -> String {
    std::env::var("KAFKA_BOOTSTRAP_SERVERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
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
        runtime.block_on(async {
            let admin: Result<AdminClient<DefaultClientContext>, _> =
                ClientConfig::new().set("bootstrap.servers", brokers()).create();
            if let Ok(admin) = admin {
                let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
                let _ = admin.delete_topics(&[&self.name], &opts).await;
            }
        });
    }
}

/// Creates `topic` at `brokers` with `partitions` (if it does not exist) and
/// produces `config`'s generated orders into it with `order-producer`, keyed by
/// `key` (`order-id` or `user-id`): the same events as
/// `OrderGenerator::events(config)`, for the oracle.
pub fn produce_generated(brokers: &str, topic: &str, partitions: u32, key: &str, config: &GeneratorConfig) {
    // What order-producer cannot be told must be its default.
    let default = GeneratorConfig::default();
    assert_eq!(
        (config.start, config.events_per_second_event_time, config.rate_limit),
        (default.start, default.events_per_second_event_time, default.rate_limit),
        "order-producer generates from the default start and event rate"
    );
    let status = Command::new(order_producer())
        .args(["--brokers", brokers, "--topic", topic, "--create-partitions", &partitions.to_string()])
        .args(["--key", key, "--generate", &config.count.to_string(), "--seed", &config.seed.to_string()])
        .args(["--users", &config.users.to_string(), "--jitter", &format!("{}ms", config.max_jitter.as_millis())])
        .args(["--duplicate-share", &config.duplicate_share.to_string()])
        .args(["--malformed-share", &config.malformed_share.to_string()])
        .stdout(Stdio::null())
        .status()
        .expect("run order-producer");
    assert!(
        status.success(),
        "producing into {topic} at {brokers} failed: is the broker running (scripts/kafka start)?"
    );
}
