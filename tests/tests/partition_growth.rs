//! The reference topic (keyed by `order_id`) grows from 6 to 12 partitions while
//! three processes run the order job on it through the repartition topic.
//!
//! The producer paces 60,000 orders (duplicates, malformed and out-of-order
//! records among them) over 30 s and is told of the new partitions within a
//! second, so after the growth most `order_id`s go to another partition than
//! before, and duplicates of orders sent before the growth land on new
//! partitions. The processes pick the new partitions up without a restart
//! (stage-1 tasks for partitions 6..11), the stage-2 tasks wait for the new
//! upstream tasks before their watermark moves on, and dedup sits behind the
//! exchange by `user_id`, whose partition count does not change. At the end the
//! processes stop with SIGTERM, a fourth process started after the growth finishes
//! the bounded input, and the three tables equal the batch oracle.
//!
//! Needs the broker `scripts/kafka start` runs (or `KAFKA_BOOTSTRAP_SERVERS`).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use tidemill_delta::TableLocation;
use tidemill_testkit::kafka::{brokers, grow_topic, partitions_of, TopicGuard};
use tidemill_testkit::metrics::poll_until;
use tidemill_testkit::process::LoggedChild;
use tidemill_tests::binary::{order_aggregates, order_producer};
use tidemill_tests::group::{assert_members_wrote_the_oracle, generator, partition_list, WAIT};

/// librdkafka reads a topic's partition count every 5 minutes by default; the
/// test's clients every second.
const REFRESH: &str = "topic.metadata.refresh.interval.ms=1000";

fn member(name: &str, topic: &str, dir: &Path, bounded: bool) -> LoggedChild {
    let mut c = Command::new(order_aggregates());
    c.args(["--brokers", &brokers(), "--topic", topic, "--group", "--group-id", topic, "--repartition"])
        .args(["--session-timeout", "6s", "--checkpoint-interval", "500ms", "--shards", "1"])
        .args(["--kafka-consumers", "1", "--kafka-property", REFRESH, "--metrics-addr", "off"])
        .args(["--log", "warn,tidemill_kafka::group=info"])
        .arg("--output")
        .arg(dir.join("out"))
        .arg("--checkpoint-dir")
        .arg(dir.join("checkpoints"))
        .env_remove("TIDEMILL_FAILPOINT");
    if bounded {
        c.arg("--bounded");
    }
    LoggedChild::spawn(name, c)
}

#[test]
fn a_topic_grown_from_6_to_12_partitions_under_three_processes_gives_the_oracle_tables() {
    let dir = tempfile::tempdir().unwrap();
    let guard = TopicGuard::unique("orders-growth");
    let topic = guard.name.clone();
    let _repartition = TopicGuard { name: format!("{topic}-repartition") };
    let config = generator(29, 60_000);
    let mut producer = Command::new(order_producer());
    producer
        .args(["--brokers", &brokers(), "--topic", &topic, "--create-partitions", "6", "--key", "order-id"])
        .args(["--generate", &config.count.to_string(), "--seed", &config.seed.to_string(), "--rate", "2000"])
        .args(["--users", &config.users.to_string(), "--jitter", "120s"])
        .args(["--duplicate-share", "0.02", "--malformed-share", "0.02", "--kafka-property", REFRESH]);
    let mut producer = LoggedChild::spawn("producer", producer);
    poll_until(WAIT, || partitions_of(&topic).map(drop).ok_or_else(|| "no topic yet".to_string())).unwrap();

    let mut members: Vec<LoggedChild> = ["A", "B", "C"].iter().map(|n| member(n, &topic, dir.path(), false)).collect();
    for m in &mut members {
        m.await_line(WAIT, &["partitions assigned"]);
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(grow_topic(&topic, 12));
    eprintln!("{topic} grown to 12 partitions");

    // Stage 1 picks the new partitions up (stage 2 has partitions 0..5 only).
    let new: BTreeSet<i32> = (6..12).collect();
    poll_until(WAIT, || {
        let assigned: BTreeSet<i32> = members
            .iter()
            .flat_map(|m| m.lines_with("partitions assigned"))
            .flat_map(|l| partition_list(&l))
            .filter(|p| *p >= 6)
            .collect();
        (assigned == new).then_some(()).ok_or_else(|| format!("new partitions assigned so far: {assigned:?}"))
    })
    .unwrap();
    producer.wait_success(WAIT);
    let ends = tidemill_testkit::kafka::high_watermarks(&topic);
    assert!(ends[6..].iter().all(|e| *e > 0), "the producer wrote into every new partition: {ends:?}");

    for m in &mut members {
        m.signal("TERM");
        m.wait_success(WAIT);
    }
    // Started after the growth: 12 upstream tasks, the repartition topic's 6
    // partitions adopted.
    let mut finisher = [member("F", &topic, dir.path(), true)];
    assert_members_wrote_the_oracle(&mut finisher, 3 * WAIT, &TableLocation::from(dir.path().join("out")), &config);
}

/// Without the repartition topic each task's windows are partitioned like the
/// input: a running process refuses a new partition and the job stops, rather
/// than split users' windows between tasks.
#[test]
fn without_repartition_a_process_refuses_a_new_partition_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let guard = TopicGuard::unique("orders-growth-by-user");
    let topic = guard.name.clone();
    tidemill_tests::group::produce_into(&topic, 2, &generator(31, 2_000));
    let mut c = Command::new(order_aggregates());
    c.args(["--brokers", &brokers(), "--topic", &topic, "--group", "--group-id", &topic])
        .args(["--session-timeout", "6s", "--kafka-property", REFRESH, "--metrics-addr", "off"])
        .args(["--log", "warn,tidemill_kafka::group=info"])
        .arg("--output")
        .arg(dir.path().join("out"))
        .arg("--checkpoint-dir")
        .arg(dir.path().join("checkpoints"));
    let mut process = LoggedChild::spawn("A", c);
    process.await_line(WAIT, &["partitions assigned"]);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(grow_topic(&topic, 4));
    let status = process.wait_timeout(WAIT);
    assert!(!status.success(), "the process went on with a new partition");
    let log = process.tail(20);
    assert!(log.contains("gained partitions") && log.contains("--repartition"), "{log}");
}
