//! [`GroupConfig`]: how a process joins its job's consumer group.

use std::time::Duration;

use rdkafka::ClientConfig;

use crate::config::{validate_topic, InvalidTopic};
use crate::properties::{ClientProperties, PropertyError};

/// How a process joins a job's consumer group (see [`PartitionTasks`](super::PartitionTasks)).
#[derive(Clone, Debug, PartialEq)]
pub struct GroupConfig {
    /// Bootstrap servers, `host:port[,host:port...]`.
    pub brokers: String,
    /// The topic whose partitions are shared out.
    pub topic: String,
    /// The consumer group: every process of the job uses the same one.
    pub group_id: String,
    /// How long the group waits for a silent member (a killed process) before
    /// giving its partitions to the others: `session.timeout.ms` (Kafka's default
    /// is 45 s; the broker accepts 6 s to 300 s by default).
    pub session_timeout: Duration,
    /// How long a revocation waits for the revoked tasks' last checkpoint.
    pub revoke_timeout: Duration,
    /// Extra librdkafka properties of the member (`security.protocol`, ...): the
    /// same as the job's sources, so that it reaches a secured cluster too.
    pub properties: ClientProperties,
}

/// Properties the member sets itself.
const FIXED_PROPERTIES: [&str; 5] =
    ["bootstrap.servers", "group.id", "enable.auto.commit", "partition.assignment.strategy", "session.timeout.ms"];

impl GroupConfig {
    /// Group `group_id` sharing out the partitions of `topic`, with Kafka's default
    /// session timeout (45 s) and a revocation timeout of 60 s.
    pub fn new(brokers: impl Into<String>, topic: impl Into<String>, group_id: impl Into<String>) -> Self {
        GroupConfig {
            brokers: brokers.into(),
            topic: topic.into(),
            group_id: group_id.into(),
            session_timeout: Duration::from_secs(45),
            revoke_timeout: Duration::from_secs(60),
            properties: ClientProperties::new(),
        }
    }

    /// Checks the settings before anything connects.
    pub fn validate(&self) -> Result<(), GroupConfigError> {
        if self.brokers.trim().is_empty() {
            return Err(GroupConfigError::NoBrokers);
        }
        validate_topic(&self.topic)?;
        if self.group_id.trim().is_empty() {
            return Err(GroupConfigError::EmptyGroupId);
        }
        if self.session_timeout < Duration::from_secs(1) {
            return Err(GroupConfigError::SessionTimeout);
        }
        self.properties.check(&FIXED_PROPERTIES, "group member")?;
        Ok(())
    }

    /// The member's client configuration: cooperative-sticky assignment, manual
    /// commits, and almost no prefetch (it never reads records).
    pub(crate) fn client_config(&self) -> Result<ClientConfig, PropertyError> {
        let mut c = ClientConfig::new();
        c.set("client.id", format!("tidemill-{}-member", self.group_id)).set("queued.max.messages.kbytes", "64");
        self.properties.apply_to(&mut c)?;
        c.set("bootstrap.servers", &self.brokers)
            .set("group.id", &self.group_id)
            .set("partition.assignment.strategy", "cooperative-sticky")
            .set("session.timeout.ms", self.session_timeout.as_millis().to_string())
            .set("enable.auto.commit", "false");
        Ok(c)
    }
}

/// A [`GroupConfig`] breaks one of its rules.
#[derive(Debug, thiserror::Error)]
pub enum GroupConfigError {
    /// `brokers` is empty.
    #[error("brokers must not be empty")]
    NoBrokers,
    /// The topic name is not one Kafka accepts.
    #[error(transparent)]
    Topic(#[from] InvalidTopic),
    /// The group id is empty.
    #[error("the consumer group id must not be empty")]
    EmptyGroupId,
    /// The session timeout is shorter than a second.
    #[error("the session timeout must be at least 1 s")]
    SessionTimeout,
    /// A client property is one the member sets itself, or cannot be read.
    #[error(transparent)]
    Property(#[from] PropertyError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_config_is_cooperative_and_validated() {
        let c = GroupConfig::new("b:1", "orders", "job");
        assert!(c.validate().is_ok());
        let cc = c.client_config().unwrap();
        assert_eq!(cc.get("partition.assignment.strategy"), Some("cooperative-sticky"));
        assert_eq!(cc.get("session.timeout.ms"), Some("45000"));
        assert_eq!(cc.get("enable.auto.commit"), Some("false"));
        assert!(GroupConfig::new("b:1", "orders", " ").validate().is_err());
        assert!(GroupConfig::new("b:1", "a b", "job").validate().is_err());
        let mut fixed = c.clone();
        fixed.properties.insert("group.id", "other");
        assert!(fixed.validate().unwrap_err().to_string().contains("group.id"));
        let short = GroupConfig { session_timeout: Duration::from_millis(10), ..c };
        assert!(short.validate().is_err());
    }
}
