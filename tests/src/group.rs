//! Group mode (`order-aggregates --group`) as the tests run it: a generated topic
//! keyed by user, member processes sharing the output and checkpoint folders,
//! what their logs say about partitions, each partition task's checkpoints, and
//! the comparison of the tables with the oracle.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use tidemill_delta::TableLocation;
use tidemill_job_examples::orders::{GeneratorConfig, OrderGenerator};

use tidemill_testkit::kafka::brokers;
use tidemill_testkit::metrics::poll_until;
use tidemill_testkit::process::LoggedChild;

use crate::binary::{order_aggregates, order_producer};
use crate::checkpoints::latest_epoch;
use crate::order_oracle::OrderOracle;
use crate::order_tables::{assert_orders_equal, assert_windows_equal, dead_letter_payloads};

/// Partitions of the tests' topics.
pub const PARTITIONS: u32 = 6;
/// How long a test waits for one step of a group.
pub const WAIT: Duration = Duration::from_secs(120);

/// `count` generated orders of 300 users with `seed`, out of order by up to two
/// minutes (inside the job's 10-minute watermark delay), 2% duplicates and 2%
/// malformed: what [`produce`] writes.
pub fn generator(seed: u64, count: u64) -> GeneratorConfig {
    GeneratorConfig {
        seed,
        count,
        users: 300,
        events_per_second_event_time: 100.0,
        max_jitter: Duration::from_secs(120),
        duplicate_share: 0.02,
        malformed_share: 0.02,
        ..GeneratorConfig::default()
    }
}

/// Creates `topic` with [`PARTITIONS`] partitions and produces `config`'s events
/// (made by [`generator`]) keyed by `user_id`.
pub fn produce(topic: &str, config: &GeneratorConfig) {
    produce_into(topic, PARTITIONS, config);
}

/// [`produce`] into a topic of `partitions` partitions.
pub fn produce_into(topic: &str, partitions: u32, config: &GeneratorConfig) {
    produce_keyed(topic, partitions, config, "user-id");
}

/// [`produce_into`], keyed by `order_id` as the reference job's producer keys:
/// one user's orders are spread over every partition.
pub fn produce_by_order_id(topic: &str, partitions: u32, config: &GeneratorConfig) {
    produce_keyed(topic, partitions, config, "order-id");
}

fn produce_keyed(topic: &str, partitions: u32, config: &GeneratorConfig, key: &str) {
    let status = Command::new(order_producer())
        .args(["--brokers", &brokers(), "--topic", topic, "--create-partitions", &partitions.to_string()])
        .args(["--key", key, "--generate", &config.count.to_string(), "--seed", &config.seed.to_string()])
        .args(["--users", &config.users.to_string(), "--jitter", "120s"])
        .args(["--duplicate-share", "0.02", "--malformed-share", "0.02"])
        .stdout(Stdio::null())
        .status()
        .expect("run order-producer");
    assert!(status.success(), "producing into {topic} at {} failed: is the broker running?", brokers());
}

/// Waits for every member to exit 0 (each within `timeout`), then checks that
/// the three tables under `output` equal the batch oracle of `config`'s events:
/// every window once with its count, every distinct order once, every malformed
/// record once.
pub fn assert_members_wrote_the_oracle(
    members: &mut [LoggedChild],
    timeout: Duration,
    output: &TableLocation,
    config: &GeneratorConfig,
) {
    for member in members {
        member.wait_success(timeout);
    }
    assert_tables_equal_the_oracle(output, config);
}

/// The three tables under `output` equal the batch oracle of `config`'s events.
pub fn assert_tables_equal_the_oracle(output: &TableLocation, config: &GeneratorConfig) {
    let oracle = OrderOracle::compute(OrderGenerator::events(config), 300_000, 60_000);
    assert_windows_equal(&output.join("order_aggregates"), &oracle);
    assert_orders_equal(&output.join("orders"), &oracle);
    assert_eq!(dead_letter_payloads(&output.join("dlq")), oracle.malformed, "every malformed record once");
}

/// What every member of one test's group shares.
pub struct Group<'a> {
    /// The topic, also the consumer group's id.
    pub topic: &'a str,
    /// `--output`.
    pub output: &'a Path,
    /// `--checkpoint-dir`.
    pub checkpoints: &'a Path,
    /// `--session-timeout`, e.g. `6s`.
    pub session_timeout: &'a str,
    /// `--log`.
    pub log: &'a str,
}

impl Group<'_> {
    /// The log filter that shows the members' group events.
    pub const GROUP_LOG: &'static str = "warn,tidemill_kafka::group=info";

    /// Starts a member (`--bounded`), serving metrics at `metrics` if given. Each
    /// task reads at most 500 records per partition between checkpoints, so that
    /// partitions move while there is work left.
    pub fn member(&self, name: &str, metrics: Option<SocketAddr>) -> Member {
        let metrics = metrics.map_or_else(|| "off".to_string(), |a| a.to_string());
        let mut c = Command::new(order_aggregates());
        c.args(["--brokers", &brokers(), "--topic", self.topic, "--group", "--group-id", self.topic, "--bounded"])
            .args(["--session-timeout", self.session_timeout, "--checkpoint-interval", "300ms"])
            .args(["--max-records-per-checkpoint", "500", "--shards", "1", "--kafka-consumers", "1"])
            .args(["--metrics-addr", &metrics])
            .arg("--output")
            .arg(self.output)
            .arg("--checkpoint-dir")
            .arg(self.checkpoints)
            .args(["--log", self.log])
            .env_remove("TIDEMILL_FAILPOINT");
        Member(LoggedChild::spawn(name, c))
    }

    /// The newest epoch checkpointed for `partition`'s task (0 if none).
    pub fn task_epoch(&self, partition: i32) -> u64 {
        latest_epoch(&self.checkpoints.join(format!("p{partition}")))
    }

    /// Waits until every task of `partitions` has checkpointed again (a newer
    /// epoch than now): their new owner has made progress of its own.
    pub fn await_new_checkpoints(&self, partitions: &BTreeSet<i32>, owner: &str) {
        let before: Vec<(i32, u64)> = partitions.iter().map(|p| (*p, self.task_epoch(*p))).collect();
        poll_until(WAIT, || match before.iter().all(|(p, e)| self.task_epoch(*p) > *e) {
            true => Ok(()),
            false => Err(format!("{owner} has not checkpointed its partitions {partitions:?} yet")),
        })
        .unwrap();
    }

    /// The three tables equal the batch oracle of `config`'s events
    /// ([`assert_tables_equal_the_oracle`]).
    pub fn assert_tables_equal_the_oracle(&self, config: &GeneratorConfig) {
        assert_tables_equal_the_oracle(&TableLocation::from(self.output), config);
    }
}

/// A running member process (a [`LoggedChild`]).
pub struct Member(LoggedChild);

impl Member {
    /// Every partition named in this member's log lines containing `what`.
    pub fn partitions(&self, what: &str) -> BTreeSet<i32> {
        self.lines_with(what).iter().flat_map(|l| partition_list(l)).collect()
    }

    /// Waits until the log holds `what` naming at least one partition.
    pub fn await_partitions(&mut self, what: &str) -> BTreeSet<i32> {
        self.0.await_lines(WAIT, &format!("`{what}` naming a partition"), |lines| {
            let got: BTreeSet<i32> =
                lines.iter().filter(|l| l.contains(what)).flat_map(|l| partition_list(l)).collect();
            (!got.is_empty()).then_some(got)
        })
    }

    /// Waits for the end of the process and fails unless it exited with 0.
    pub fn wait_success(&mut self) {
        self.0.wait_success(3 * WAIT);
    }
}

impl Deref for Member {
    type Target = LoggedChild;

    fn deref(&self) -> &LoggedChild {
        &self.0
    }
}

impl DerefMut for Member {
    fn deref_mut(&mut self) -> &mut LoggedChild {
        &mut self.0
    }
}

/// The `partitions=[1, 2]` list of a log line.
pub fn partition_list(line: &str) -> Vec<i32> {
    let Some(start) = line.find("partitions=[") else { return Vec::new() };
    let rest = &line[start + "partitions=[".len()..];
    let list = &rest[..rest.find(']').unwrap_or(0)];
    list.split(',').filter_map(|p| p.trim().parse().ok()).collect()
}

/// The partition of a task's log line: the `N` of `order-aggregates.pN` in its
/// `job=` field, or in the sink transaction id of its `app_id=` field.
pub fn task_partition(line: &str) -> Option<i32> {
    let name =
        tidemill_testkit::process::field(line, "job").or_else(|| tidemill_testkit::process::field(line, "app_id"))?;
    let rest = &name[name.find("order-aggregates.p")? + "order-aggregates.p".len()..];
    rest[..rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len())].parse().ok()
}
