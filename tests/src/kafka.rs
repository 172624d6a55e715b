//! Generated orders produced into a topic of the tests' Kafka broker (the broker
//! itself and its topics: `tidemill_testkit::kafka`).

use std::process::{Command, Stdio};

use tidemill_job_examples::orders::GeneratorConfig;

use crate::binary::order_producer;

/// Creates `topic` at `brokers` with `partitions` (if it does not exist) and
/// produces `config`'s generated orders into it with `order-producer`, keyed by
/// `key` (`order-id` or `user-id`): the same events as
/// `OrderGenerator::events(config)`, for the oracle.
pub fn produce_generated(brokers: &str, topic: &str, partitions: u32, key: &str, config: &GeneratorConfig) {
    produce_generated_with(brokers, topic, partitions, key, config, &[]);
}

/// [`produce_generated`] with more `order-producer` arguments (client
/// properties for a secured listener, say).
pub fn produce_generated_with(
    brokers: &str,
    topic: &str,
    partitions: u32,
    key: &str,
    config: &GeneratorConfig,
    extra: &[&str],
) {
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
        .args(extra)
        .stdout(Stdio::null())
        .status()
        .expect("run order-producer");
    assert!(
        status.success(),
        "producing into {topic} at {brokers} failed: is the broker running (scripts/kafka start)?"
    );
}
