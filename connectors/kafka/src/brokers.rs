//! [`BrokerHealth`]: whether the consumers of a Kafka source node can reach their
//! brokers, told to the log (once per outage) and to the job's readiness.
//!
//! While no broker can be reached, a Kafka source reads nothing and every poll
//! answers `Idle`: to the runtime that looks like a quiet topic. librdkafka
//! retries by itself (and the source goes on from its own position afterwards),
//! so nothing fails; the operator must still learn that the job is stuck.
//!
//! The signal: librdkafka's statistics, which the consumer already emits every
//! second for the lag metrics. They keep arriving during an outage (the client's
//! own main thread emits them on a timer and the consumer's driver thread serves
//! them; no connection is involved), and they list every broker with its
//! connection `state` and every partition with its leader. A consumer can fetch
//! when some broker connection is `UP` and so is the connection to the leader of
//! every partition it reads. One that cannot in [`DOWN_AFTER`] statistics in a
//! row is cut off; the first statistics in which it can again end that. This is
//! a level, sampled every second, so it both starts and ends an outage.
//!
//! Why the leaders and not just any broker: when every broker is down,
//! librdkafka (2.10 and later) re-bootstraps, and once the brokers are back the
//! bootstrap connection comes up first, fetches metadata and is dropped again
//! while the leader's connection still waits out its reconnect backoff (up to
//! `reconnect.backoff.max.ms`, 10 s): "any broker up" would end the outage and
//! start another one seconds later, while nothing can be read in between.
//!
//! The alternatives are edges: the error callback's `AllBrokersDown` comes when
//! every known broker went down (and librdkafka repeats it while they stay
//! down), but nothing says when they are back, and single
//! `BrokerTransportFailure`s also come from a broker closing one idle
//! connection. Statistics that stop arriving would say nothing either: they do
//! not stop.
//!
//! The leader's connection stays open while the brokers can be reached: fetch
//! requests long-poll, and metadata is refreshed over it every few minutes even
//! when every partition is paused (brokers close connections idle for 10
//! minutes). The signal depends on the statistics interval
//! (`statistics.interval.ms`, 1 s unless a source's `properties` change it; 0
//! turns detection off with the lag metrics).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::Instant;

use rdkafka::statistics::{Broker, Statistics};
use tidemill_runtime::metrics::ReadinessCondition;
use tidemill_runtime::{NodeContext, PipelineId};

use super::config::KafkaSourceConfig;

/// Statistics in a row in which a consumer cannot fetch before it counts as cut
/// off: one more than needed, so that a connection that drops and comes back
/// between two statistics (a leader moving, an idle connection closed, the
/// first connection to a partition's leader after an assignment) is no outage.
const DOWN_AFTER: u32 = 2;

/// The readiness condition's name (`tidemill_condition` in metrics).
pub(crate) const CONDITION: &str = "brokers";

/// The health trackers in use, by (pipeline, node): the consumers of one node in
/// one pipeline share one, so an outage is logged once per node, not per consumer.
type Registry = Mutex<HashMap<(PipelineId, Arc<str>), Weak<BrokerHealth>>>;
static HEALTH: LazyLock<Registry> = LazyLock::new(Registry::default);

/// Whether the consumers of one source node (in one pipeline) reach their brokers.
#[derive(Debug)]
pub(crate) struct BrokerHealth {
    node: Arc<str>,
    brokers: String,
    topic: String,
    condition: ReadinessCondition,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Per consumer index: statistics in a row in which it could not fetch.
    misses: HashMap<usize, u32>,
    /// Since when the node is cut off, while it is.
    down_since: Option<Instant>,
    /// The last connection failure librdkafka logged, for the outage's warning.
    last_failure: Option<String>,
}

impl BrokerHealth {
    /// The tracker of `ctx.node` in `ctx.pipeline`, created by the first consumer.
    pub(crate) fn for_node(config: &KafkaSourceConfig, ctx: &NodeContext) -> Arc<Self> {
        let mut all = HEALTH.lock().unwrap_or_else(|p| p.into_inner());
        let key = (ctx.pipeline, ctx.node.clone());
        if let Some(health) = all.get(&key).and_then(Weak::upgrade) {
            return health;
        }
        all.retain(|_, h| h.strong_count() > 0);
        let health = Arc::new(BrokerHealth {
            node: ctx.node.clone(),
            brokers: config.brokers.clone(),
            topic: config.topic.clone(),
            condition: ctx.metrics.readiness_condition(CONDITION),
            state: Mutex::default(),
        });
        all.insert(key, Arc::downgrade(&health));
        health
    }

    /// What consumer `consumer`'s statistics say about its brokers; it reads
    /// `partitions` of the node's topic.
    pub(crate) fn observe(&self, consumer: usize, statistics: &Statistics, partitions: &[i32]) {
        self.record(consumer, can_fetch(statistics, &self.topic, partitions));
    }

    /// librdkafka logged a connection failure (facility `FAIL`); whether the node
    /// is cut off (its warning stands for such lines then).
    pub(crate) fn connection_failed(&self, message: &str) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.last_failure = Some(message.to_string());
        state.down_since.is_some()
    }

    /// Consumer `consumer` could fetch (`up`) or not; logs and sets or clears the
    /// readiness condition when the node's state changes.
    fn record(&self, consumer: usize, up: bool) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let misses = state.misses.entry(consumer).or_default();
        *misses = if up { 0 } else { misses.saturating_add(1) };
        let cut_off = state.misses.values().any(|m| *m >= DOWN_AFTER);
        match (cut_off, state.down_since) {
            (true, None) => {
                state.down_since = Some(Instant::now());
                tracing::warn!(
                    source = &*self.node,
                    topic = %self.topic,
                    brokers = %self.brokers,
                    last_error = state.last_failure.as_deref().unwrap_or("-"),
                    "kafka brokers unreachable: the source waits for them, and reads on from its own offsets when \
                     they are back (/readyz: not ready meanwhile)"
                );
                self.condition.set(format!("waiting for kafka brokers {} (topic {})", self.brokers, self.topic));
            }
            (false, Some(since)) => {
                state.down_since = None;
                state.last_failure = None;
                let down_ms = u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX);
                tracing::info!(
                    source = &*self.node,
                    topic = %self.topic,
                    brokers = %self.brokers,
                    down_ms,
                    "kafka brokers reachable again: the source reads on"
                );
                self.condition.clear();
            }
            _ => {}
        }
    }

    /// Whether the node is cut off from its brokers now.
    #[cfg(test)]
    fn cut_off(&self) -> bool {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).down_since.is_some()
    }
}

/// Whether the statistics show a broker connection up, and the connection to the
/// leader of each of `partitions` of `topic` (those the statistics know of) up.
/// Only real brokers count: `configured` (bootstrap) and `learned` ones, not
/// librdkafka's internal broker or the logical ones (a group coordinator), which
/// stand for another.
fn can_fetch(statistics: &Statistics, topic: &str, partitions: &[i32]) -> bool {
    let up = |b: &&Broker| b.state == "UP" && matches!(b.source.as_str(), "configured" | "learned");
    if !statistics.brokers.values().any(|b| up(&b)) {
        return false;
    }
    let Some(topic) = statistics.topics.get(topic) else { return true };
    partitions
        .iter()
        .filter_map(|p| topic.partitions.get(p))
        .all(|p| statistics.brokers.values().filter(up).any(|b| b.source == "learned" && b.nodeid == p.leader))
}

#[cfg(test)]
mod tests {
    use rdkafka::statistics::{Partition, Topic};

    use super::*;

    /// Statistics with `brokers` as (source, node id, state) and partitions 0 and
    /// 1 of topic `t` led by broker 1.
    fn statistics(brokers: &[(&str, i32, &str)]) -> Statistics {
        let brokers = brokers.iter().enumerate().map(|(i, (source, nodeid, state))| {
            let broker =
                Broker { source: source.to_string(), nodeid: *nodeid, state: state.to_string(), ..Broker::default() };
            (format!("b{i}"), broker)
        });
        let partitions = (0..2).map(|p| (p, Partition { partition: p, leader: 1, ..Partition::default() }));
        let topic = Topic { topic: "t".into(), partitions: partitions.collect(), ..Topic::default() };
        Statistics {
            brokers: brokers.collect(),
            topics: [("t".to_string(), topic)].into_iter().collect(),
            ..Statistics::default()
        }
    }

    #[test]
    fn a_consumer_can_fetch_when_the_leaders_of_its_partitions_are_up() {
        let can = |brokers: &[(&str, i32, &str)], partitions: &[i32]| can_fetch(&statistics(brokers), "t", partitions);
        assert!(can(&[("configured", -1, "DOWN"), ("learned", 1, "UP")], &[0, 1]));
        assert!(can(&[("configured", -1, "UP"), ("learned", 1, "INIT")], &[]), "nothing to fetch yet");
        assert!(can(&[("configured", -1, "UP")], &[7]), "a partition the statistics do not know of yet");
        // Back from an outage: the bootstrap connection is up, the leader's not yet.
        assert!(!can(&[("configured", -1, "UP"), ("learned", 1, "TRY_CONNECT")], &[0]));
        assert!(!can(&[("learned", 2, "UP"), ("learned", 1, "CONNECT")], &[1]));
        assert!(!can(&[("internal", -1, "UP"), ("logical", 1, "UP"), ("learned", 1, "CONNECT")], &[0]));
        assert!(!can(&[], &[]));
    }

    #[test]
    fn an_outage_starts_after_two_statistics_and_ends_when_every_consumer_can_fetch() {
        let ctx = NodeContext::for_tests("orders");
        let health = BrokerHealth::for_node(&KafkaSourceConfig::new("b:9092", "t"), &ctx);
        assert!(Arc::ptr_eq(&health, &BrokerHealth::for_node(&KafkaSourceConfig::new("b:9092", "t"), &ctx)));
        health.record(0, true);
        health.record(0, false);
        assert!(!health.cut_off(), "one statistics without a broker is no outage yet");
        health.record(1, true);
        health.record(0, false);
        assert!(health.cut_off(), "consumer 0 is cut off: its partitions are not read");
        assert_eq!(health.condition.reason().as_deref(), Some("waiting for kafka brokers b:9092 (topic t)"));
        health.record(1, false);
        health.record(1, false);
        health.record(0, true);
        assert!(health.cut_off(), "consumer 1 is cut off now");
        assert!(health.connection_failed("Connect to b:9092 failed"), "said by the outage's warning");
        health.record(1, true);
        assert!(!health.cut_off());
        assert_eq!(health.condition.reason(), None);
        assert!(!health.connection_failed("Connect to b:9092 failed"), "logged as it comes");
    }
}
