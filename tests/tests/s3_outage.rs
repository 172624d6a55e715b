//! The S3 server stopped for 20 s while the order job keeps its checkpoints and
//! tables on it: the failures show in the log and the status, the job waits the
//! outage out without spending its restart budget, resumes from its last
//! checkpoint, and the tables on S3 equal the batch oracle exactly.
//!
//! This stops the shared server of `scripts/s3`, so it is the only test of its
//! binary (test binaries run one after another); a guard starts the server again
//! even when the test fails.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use tidemill_delta::TableLocation;
use tidemill_job_examples::orders::{GeneratorConfig, OrderGenerator};
use tidemill_runtime::checkpoint::{CheckpointStore, ObjectCheckpointStore};
use tidemill_testkit::kafka::unique;
use tidemill_testkit::process::LoggedChild;
use tidemill_testkit::s3::S3Store;
use tidemill_tests::binary::order_aggregates;
use tidemill_tests::order_oracle::OrderOracle;
use tidemill_tests::order_tables::{assert_orders_equal, assert_windows_equal, generated_dead_letters};

/// How long the store is down.
const OUTAGE: Duration = Duration::from_secs(20);
/// Generated orders, at `RATE` per second: the job runs about 30 s.
const COUNT: u64 = 60_000;
const RATE: u64 = 2_000;
const SEED: u64 = 5;

#[test]
fn the_store_stopped_for_20_s_fails_checkpoints_visibly_and_the_job_resumes_exactly_once() {
    if !S3Store::is_local() {
        eprintln!("skipped: TIDEMILL_S3_ENDPOINT names an external store, which this test cannot stop");
        return;
    }
    let s3 = S3Store::get();
    let prefix = unique("s3-outage");
    let output = TableLocation::parse(&s3.url(&format!("{prefix}/out"))).unwrap();
    let checkpoints = s3.url(&format!("{prefix}/chk"));
    let dir = tempfile::tempdir().unwrap();
    let summary_path = dir.path().join("summary.json");
    let mut command = Command::new(order_aggregates());
    command
        .args(["--generate", &COUNT.to_string(), "--seed", &SEED.to_string(), "--rate", &RATE.to_string()])
        .args(["--checkpoint-interval", "1s", "--metrics-addr", "off"])
        .arg("--output")
        .arg(&output)
        .args(["--checkpoint-dir", &checkpoints])
        .arg("--summary-json")
        .arg(&summary_path)
        .envs(s3.env.iter().map(|(k, v)| (k, v)));
    let mut job = LoggedChild::spawn("order-aggregates", command);

    // The outage starts once a checkpoint is on S3, so that there is one to resume.
    let store = ObjectCheckpointStore::from_url_with(&checkpoints, s3.options()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while runtime.block_on(store.epochs()).map_or(true, |e| e.is_empty()) {
        job.alive().unwrap();
        assert!(Instant::now() < deadline, "no checkpoint on S3 within 60 s:\n{}", job.tail(20));
        std::thread::sleep(Duration::from_millis(100));
    }
    let outage = S3Store::stop_local();
    // The outage's length is what is tested, not a synchronisation.
    std::thread::sleep(OUTAGE);
    job.alive().expect("the job waits the outage out");
    outage.end();
    job.wait_success(Duration::from_secs(180));

    let retried = job.lines_with("storage failed: retrying until it works again");
    assert!(!retried.is_empty(), "the failures are logged as storage trouble:\n{}", job.tail(40));
    let restarting = job.lines_with("status=\"restarting\"");
    assert!(!restarting.is_empty(), "the progress line shows the job restarting:\n{}", job.tail(40));
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(&summary_path).unwrap()).unwrap();
    assert!(summary["restarts"].as_u64().unwrap() >= 1, "{summary}");

    let config = GeneratorConfig { count: COUNT, seed: SEED, ..GeneratorConfig::default() };
    let oracle = OrderOracle::compute(OrderGenerator::events(&config), 300_000, 60_000);
    assert_windows_equal(&output.join("order_aggregates"), &oracle);
    assert_orders_equal(&output.join("orders"), &oracle);
    // The oracle numbers records as lines (from 1), the generator as sequence numbers (from 0).
    let dead: std::collections::BTreeMap<i64, String> =
        generated_dead_letters(&output.join("dlq")).into_iter().map(|(seq, (reason, _))| (seq + 1, reason)).collect();
    assert_eq!(dead, oracle.dead_letters, "every malformed record once");
}
