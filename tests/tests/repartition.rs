//! The reference job's own deployment: a topic keyed by `order_id` (one user's
//! orders in every partition), scaled out over processes that share no disk,
//! through the repartition topic (`order-aggregates --group --repartition`).
//! Kafka and the S3 server are the only shared parts.
//!
//! Needs the broker (`scripts/kafka start`) and the S3 server (`scripts/s3 start`).
//! The first test produces 1,000,000 events and kills 30 times (about 6 minutes);
//! `TIDEMILL_REPARTITION_EVENTS` and `TIDEMILL_REPARTITION_KILLS` change that.

use std::path::Path;
use std::process::Command;

use tidemill_delta::TableLocation;
use tidemill_testkit::kafka::{brokers, TopicGuard};
use tidemill_testkit::process::LoggedChild;
use tidemill_testkit::s3::S3Store;
use tidemill_tests::binary::order_aggregates;
use tidemill_tests::churn::{churn, NodeFolders};
use tidemill_tests::group::{assert_members_wrote_the_oracle, generator, produce_by_order_id, Group, WAIT};
use tidemill_tests::order_tables::dead_letter_payloads;
use tidemill_tests::table_rows::{order_rows, window_rows};

const PARTITIONS: u32 = 12;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// One job: the input topic, where its tables and checkpoints go, and the group.
struct Cluster {
    topic: String,
    group: String,
    output: TableLocation,
    checkpoints: String,
    s3: S3Store,
}

impl Cluster {
    fn new(topic: &str, name: &str) -> Self {
        let s3 = S3Store::get();
        let prefix = tidemill_testkit::kafka::unique(name);
        Cluster {
            topic: topic.to_string(),
            group: prefix.clone(),
            output: TableLocation::parse(&s3.url(&format!("{prefix}/out"))).unwrap(),
            checkpoints: s3.url(&format!("{prefix}/chk")),
            s3,
        }
    }

    /// Starts a member in `folder` (its working directory, holding nothing shared).
    fn member(&self, name: &str, folder: &Path) -> LoggedChild {
        let mut c = Command::new(order_aggregates());
        c.current_dir(folder)
            .args(["--brokers", &brokers(), "--topic", &self.topic, "--group", "--repartition"])
            .args(["--group-id", &self.group, "--bounded", "--session-timeout", "6s"])
            .args(["--checkpoint-interval", "300ms", "--max-records-per-checkpoint", "2000"])
            .args(["--shards", "1", "--kafka-consumers", "1", "--metrics-addr", "off", "--log", Group::GROUP_LOG])
            .arg("--output")
            .arg(&self.output)
            .args(["--checkpoint-dir", &self.checkpoints])
            .envs(self.s3.env.iter().map(|(k, v)| (k, v)))
            .env_remove("TIDEMILL_FAILPOINT");
        LoggedChild::spawn(name, c)
    }

    fn repartition_topic(&self) -> String {
        format!("{}-repartition", self.group)
    }
}

#[test]
fn the_reference_topic_keyed_by_order_id_runs_across_processes_through_sigkills_joins_and_leaves() {
    let (events, kills) =
        (env_or("TIDEMILL_REPARTITION_EVENTS", 1_000_000), env_or("TIDEMILL_REPARTITION_KILLS", 30) as usize);
    let guard = TopicGuard::unique("orders-by-order-id");
    let config = generator(61, events);
    produce_by_order_id(&guard.name, PARTITIONS, &config);
    let cluster = Cluster::new(&guard.name, "repartition");
    let _cleanup = TopicGuard { name: cluster.repartition_topic() };
    let folders = NodeFolders::new();
    let mut members = churn(&folders, kills, 5, |name, folder| cluster.member(name, folder));
    // A million events through a debug build on two cores take minutes.
    assert_members_wrote_the_oracle(&mut members, 8 * WAIT, &cluster.output, &config);
    folders.assert_empty(4);
    let low = tidemill_testkit::kafka::low_watermarks(&cluster.repartition_topic());
    assert!(low.iter().any(|l| *l > 0), "consumed repartition records were deleted: low watermarks {low:?}");
}

#[test]
fn one_process_and_three_processes_through_the_repartition_topic_write_identical_tables() {
    let guard = TopicGuard::unique("orders-identical");
    let config = generator(62, 40_000);
    produce_by_order_id(&guard.name, 6, &config);

    let single = Cluster::new(&guard.name, "single");
    let status = Command::new(order_aggregates())
        .args(["--brokers", &brokers(), "--topic", &guard.name, "--group-id", &single.group, "--bounded"])
        .args(["--checkpoint-interval", "300ms", "--metrics-addr", "off", "--log", "warn"])
        .arg("--output")
        .arg(&single.output)
        .args(["--checkpoint-dir", &single.checkpoints])
        .envs(single.s3.env.iter().map(|(k, v)| (k, v)))
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "the single-process run");

    let cluster = Cluster::new(&guard.name, "three");
    let _cleanup = TopicGuard { name: cluster.repartition_topic() };
    let folders = NodeFolders::new();
    let mut members: Vec<LoggedChild> = (0..3).map(|i| cluster.member(&format!("m{i}"), &folders.node(i))).collect();
    for member in &mut members {
        member.wait_success(3 * WAIT);
    }

    let (one, three) = (&single.output, &cluster.output);
    let windows = window_rows(&one.join("order_aggregates"));
    assert!(!windows.is_empty());
    assert_eq!(window_rows(&three.join("order_aggregates")), windows, "order_aggregates");
    assert_eq!(order_rows(&three.join("orders")), order_rows(&one.join("orders")), "orders");
    assert_eq!(dead_letter_payloads(&three.join("dlq")), dead_letter_payloads(&one.join("dlq")), "dlq");
}
