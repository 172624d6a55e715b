//! Topics of the tests' Kafka broker.

use std::time::Duration;

use tidemill_operators::kafka::rdkafka::admin::{AdminClient, AdminOptions};
use tidemill_operators::kafka::rdkafka::client::DefaultClientContext;
use tidemill_operators::kafka::rdkafka::ClientConfig;

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
