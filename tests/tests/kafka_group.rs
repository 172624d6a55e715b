//! Scale-out through the consumer group (`order-aggregates --group`): processes
//! join and die while the job runs, partitions move between them with their
//! state, and the Delta tables still equal the batch oracle exactly.
//!
//! 1. Process A joins alone and owns all 6 partitions.
//! 2. Process B joins: cooperative rebalancing moves some partitions from A to B.
//!    A suspends those tasks (checkpoint and commit, windows kept open) before the
//!    partitions move, and B resumes them from A's checkpoints.
//! 3. B is killed with SIGKILL once it has checkpointed its own progress; after
//!    the session timeout the group gives B's partitions to the live members,
//!    which resume them from B's checkpoints and replay the rest.
//!    Process C joins right after the kill; B's partitions go to A or C.
//! 4. A and C finish (bounded); a process whose tasks are done leaves once the
//!    group is quiet.
//!
//! Needs the broker `scripts/kafka start` runs (or `KAFKA_BOOTSTRAP_SERVERS`).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use tidemill_operators::source::{GeneratorConfig, OrderGenerator};
use tidemill_tests::binary::{order_aggregates, order_producer};
use tidemill_tests::checkpoints::latest_epoch;
use tidemill_tests::job_process::JobProcess;
use tidemill_tests::kafka::{brokers, produce_generated, TopicGuard};
use tidemill_tests::metrics::{free_local_addr, http_get, poll_until, scrape_until};
use tidemill_tests::order_oracle::OrderOracle;
use tidemill_tests::order_tables::assert_kafka_tables_equal;

const PARTITIONS: u32 = 6;
const WAIT: Duration = Duration::from_secs(120);

fn generator(count: u64) -> GeneratorConfig {
    GeneratorConfig {
        seed: 91,
        count,
        users: 300,
        events_per_second_event_time: 100.0,
        max_jitter: Duration::from_secs(120),
        duplicate_share: 0.02,
        malformed_share: 0.02,
        ..GeneratorConfig::default()
    }
}

/// A running `order-aggregates --group` process and the lines of its log.
struct Member {
    name: &'static str,
    process: JobProcess,
}

impl Member {
    fn start(name: &'static str, topic: &str, output: &Path, checkpoints: &Path) -> Self {
        Self::start_with_metrics(name, topic, output, checkpoints, None)
    }

    fn start_with_metrics(
        name: &'static str,
        topic: &str,
        output: &Path,
        checkpoints: &Path,
        metrics: Option<SocketAddr>,
    ) -> Self {
        Self::spawn(name, topic, output, checkpoints, metrics, "6s")
    }

    fn spawn(
        name: &'static str,
        topic: &str,
        output: &Path,
        checkpoints: &Path,
        metrics: Option<SocketAddr>,
        session_timeout: &str,
    ) -> Self {
        let metrics = metrics.map_or_else(|| "off".to_string(), |a| a.to_string());
        let mut command = Command::new(order_aggregates());
        command
            .args(["--brokers", &brokers(), "--topic", topic, "--group", "--group-id", topic, "--bounded"])
            .args(["--session-timeout", session_timeout, "--checkpoint-interval", "300ms"])
            // Slow enough that partitions move while there is work left.
            .args(["--max-records-per-checkpoint", "500", "--shards", "1", "--kafka-consumers", "1"])
            .args(["--metrics-addr", &metrics])
            .arg("--output")
            .arg(output)
            .arg("--checkpoint-dir")
            .arg(checkpoints)
            .args(["--log", "warn,tidemill_operators::kafka::group=info"]);
        Member { name, process: JobProcess::spawn(name, command) }
    }

    fn lines(&self) -> Vec<String> {
        self.process.lines()
    }

    /// Every partition named in this member's log lines containing `what`.
    fn partitions(&self, what: &str) -> BTreeSet<i32> {
        self.lines().iter().filter(|l| l.contains(what)).flat_map(|l| partition_list(l)).collect()
    }

    /// Waits until the log holds `what` naming at least one partition.
    fn await_partitions(&self, what: &str) -> BTreeSet<i32> {
        poll_until(WAIT, || {
            let got = self.partitions(what);
            if got.is_empty() {
                Err(format!("{} has not logged `{what}` yet; log: {:?}", self.name, self.lines()))
            } else {
                Ok(got)
            }
        })
        .unwrap()
    }

    fn wait_success(&mut self) {
        self.process.wait_success(Duration::from_secs(600));
    }
}

/// The `partitions=[1, 2]` list of a log line.
fn partition_list(line: &str) -> Vec<i32> {
    let Some(start) = line.find("partitions=[") else { return Vec::new() };
    let rest = &line[start + "partitions=[".len()..];
    let list = &rest[..rest.find(']').unwrap_or(0)];
    list.split(',').filter_map(|p| p.trim().parse().ok()).collect()
}

/// The newest epoch checkpointed for `partition`'s task (0 if none).
fn task_epoch(checkpoints: &Path, partition: i32) -> u64 {
    latest_epoch(&checkpoints.join(format!("p{partition}")))
}

/// Waits until every task of `partitions` has checkpointed again (a newer epoch
/// than now): their new owner has made progress of its own.
fn await_new_checkpoints(checkpoints: &Path, partitions: &BTreeSet<i32>, owner: &str) {
    let before: Vec<(i32, u64)> = partitions.iter().map(|p| (*p, task_epoch(checkpoints, *p))).collect();
    poll_until(WAIT, || match before.iter().all(|(p, e)| task_epoch(checkpoints, *p) > *e) {
        true => Ok(()),
        false => Err(format!("{owner} has not checkpointed its partitions {partitions:?} yet")),
    })
    .unwrap();
}

/// The three tables equal the batch oracle of the generated input.
fn assert_tables_equal_the_oracle(output: &Path, config: &GeneratorConfig) {
    assert_kafka_tables_equal(output, &OrderOracle::compute(OrderGenerator::events(config), 300_000, 60_000));
}

#[test]
fn partitions_move_between_processes_with_their_state_and_results_equal_the_oracle() {
    let dir = tempfile::tempdir().unwrap();
    let guard = TopicGuard::unique("orders-group");
    let topic = guard.name.clone();
    let config = generator(60_000);
    produce_generated(&brokers(), &topic, PARTITIONS, "user-id", &config);
    let (output, checkpoints) = (dir.path().join("out"), dir.path().join("checkpoints"));

    let started = std::time::Instant::now();
    let a_metrics = free_local_addr();
    let mut a = Member::start_with_metrics("A", &topic, &output, &checkpoints, Some(a_metrics));
    let first = a.await_partitions("partitions assigned");
    assert_eq!(first.len(), PARTITIONS as usize, "A alone owns every partition: {first:?}");
    poll_until(WAIT, || match (0..PARTITIONS as i32).all(|p| task_epoch(&checkpoints, p) > 0) {
        true => Ok(()),
        false => Err("A has not checkpointed every partition yet".into()),
    })
    .unwrap();
    // One endpoint for the process: a lag series per partition, each labelled with
    // the task (job) that reads it.
    scrape_until(a_metrics, WAIT, |s| {
        let tasks = s.sum_by("tidemill_source_lag", "tidemill_job", &[("messaging_destination_name", &topic)]);
        let want: BTreeSet<String> = (0..PARTITIONS).map(|p| format!("order-aggregates.p{p}")).collect();
        let got: BTreeSet<String> = tasks.into_keys().collect();
        (got == want).then_some(()).ok_or_else(|| format!("lag series of tasks {got:?}"))
    })
    .unwrap();
    assert_eq!(http_get(a_metrics, "/readyz").map(|r| r.0).ok(), Some(200), "every task of A is running");

    // B joins: the group hands some partitions from A to B.
    let mut b = Member::start("B", &topic, &output, &checkpoints);
    let moved = b.await_partitions("partitions assigned");
    let revoked = a.await_partitions("partitions revoked");
    assert!(moved.is_subset(&revoked), "B got only partitions A gave up: moved {moved:?}, revoked {revoked:?}");
    // B checkpoints its own progress on them before it dies.
    await_new_checkpoints(&checkpoints, &moved, "B");
    eprintln!("{:?}: B checkpointed {moved:?}; SIGKILL", started.elapsed());
    b.process.kill();

    // C joins at once. After the session timeout the group gives B's partitions
    // to the live members, A or C, which resume them from B's checkpoints.
    let mut c = Member::start("C", &topic, &output, &checkpoints);
    a.wait_success();
    c.wait_success();
    eprintln!("{:?}: A and C finished", started.elapsed());
    let a_later: BTreeSet<i32> = a
        .lines()
        .iter()
        .filter(|l| l.contains("partitions assigned"))
        .skip(1)
        .flat_map(|l| partition_list(l))
        .collect();
    let c_got = c.partitions("partitions assigned");
    let resumed: BTreeSet<i32> = a_later.union(&c_got).copied().collect();
    assert!(moved.is_subset(&resumed), "B's partitions {moved:?} went to A ({a_later:?}) or C ({c_got:?})");

    assert_tables_equal_the_oracle(&output, &config);
}

/// A topic keyed by `order_id` (the seed's producer) would split one user's
/// windows over several tasks: group mode refuses it loudly instead of writing
/// partial counts.
#[test]
fn group_mode_on_a_topic_not_keyed_by_user_fails_with_the_fix_in_the_message() {
    let dir = tempfile::tempdir().unwrap();
    let guard = TopicGuard::unique("orders-group-by-order");
    let status = Command::new(order_producer())
        .args(["--brokers", &brokers(), "--topic", &guard.name, "--create-partitions", "2", "--generate", "2000"])
        .stdout(Stdio::null())
        .status()
        .expect("run order-producer");
    assert!(status.success());
    let out = Command::new(order_aggregates())
        .args(["--brokers", &brokers(), "--topic", &guard.name, "--group", "--group-id", &guard.name, "--bounded"])
        .args(["--session-timeout", "6s", "--metrics-addr", "off", "--log", "error"])
        .arg("--output")
        .arg(dir.path().join("out"))
        .arg("--checkpoint-dir")
        .arg(dir.path().join("checkpoints"))
        .output()
        .expect("run order-aggregates");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a topic keyed by order_id was accepted in group mode: {stderr}");
    assert!(stderr.contains("not keyed by user_id") && stderr.contains("--key user-id"), "{stderr}");
}

/// SIGTERM on a group member: its tasks are suspended (checkpoint, commit, open
/// windows kept) and it leaves the group at once, so its partitions move to the
/// other member long before the session timeout (20 s here) would move them.
#[test]
fn a_member_stopped_with_sigterm_hands_its_partitions_over_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let guard = TopicGuard::unique("orders-group-leave");
    let topic = guard.name.clone();
    let config = generator(30_000);
    produce_generated(&brokers(), &topic, PARTITIONS, "user-id", &config);
    let (output, checkpoints) = (dir.path().join("out"), dir.path().join("checkpoints"));

    let mut a = Member::spawn("A", &topic, &output, &checkpoints, None, "20s");
    a.await_partitions("partitions assigned");
    let mut b = Member::spawn("B", &topic, &output, &checkpoints, None, "20s");
    let moved = b.await_partitions("partitions assigned");
    await_new_checkpoints(&checkpoints, &moved, "B");

    let stopped = std::time::Instant::now();
    let status = Command::new("kill").args(["-TERM", &b.process.id().to_string()]).status().expect("kill -TERM");
    assert!(status.success());
    b.wait_success();
    assert!(b.lines().iter().any(|l| l.contains("task suspended and committed")), "B suspended its tasks");
    // A gets them back well before the 20 s session timeout: B left the group.
    poll_until(Duration::from_secs(10), || {
        let back: BTreeSet<i32> = a
            .lines()
            .iter()
            .filter(|l| l.contains("partitions assigned"))
            .skip(1)
            .flat_map(|l| partition_list(l))
            .collect();
        moved.is_subset(&back).then_some(()).ok_or_else(|| format!("A got back only {back:?} of {moved:?}"))
    })
    .unwrap();
    eprintln!("B's partitions {moved:?} back at A {:?} after SIGTERM", stopped.elapsed());
    a.wait_success();

    assert_tables_equal_the_oracle(&output, &config);
}
