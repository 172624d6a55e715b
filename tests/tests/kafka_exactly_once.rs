//! The order job on a real Kafka topic (12 partitions, 1,000,000 events with
//! out-of-order, duplicate and malformed ones), killed with SIGKILL ten times at
//! random moments and at the failure points between a checkpoint's manifest, the
//! Delta commits and the Kafka offset commit; started again each time with the
//! same checkpoint folder. At the end the Delta tables equal the batch oracle.
//!
//! Needs the broker `scripts/kafka start` runs (or `KAFKA_BOOTSTRAP_SERVERS`).

use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use tidemill_job_examples::orders::{GeneratorConfig, OrderGenerator};
use tidemill_testkit::kafka::{brokers, TopicGuard};
use tidemill_tests::binary::order_aggregates;
use tidemill_tests::checkpoints::latest_epoch;
use tidemill_tests::kafka::produce_generated;
use tidemill_tests::order_oracle::OrderOracle;
use tidemill_tests::order_tables::assert_kafka_tables_equal;

fn generator(count: u64) -> GeneratorConfig {
    GeneratorConfig {
        seed: 77,
        count,
        users: 500,
        events_per_second_event_time: 100.0,
        max_jitter: Duration::from_secs(120),
        duplicate_share: 0.02,
        malformed_share: 0.02,
        ..GeneratorConfig::default()
    }
}

struct Job<'a> {
    topic: &'a str,
    output: &'a Path,
    checkpoints: &'a Path,
}

impl Job<'_> {
    fn command(&self, failpoint: Option<&str>) -> Command {
        let mut c = Command::new(order_aggregates());
        c.args(["--brokers", &brokers(), "--topic", self.topic, "--bounded", "--group-id", self.topic])
            .arg("--output")
            .arg(self.output)
            .arg("--checkpoint-dir")
            .arg(self.checkpoints)
            .args(["--checkpoint-interval", "300ms", "--shards", "2", "--log", "error"])
            .env_remove("TIDEMILL_FAILPOINT")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(f) = failpoint {
            c.env("TIDEMILL_FAILPOINT", f);
        }
        c
    }

    fn to_the_end(&self, failpoint: Option<&str>) -> ExitStatus {
        self.command(failpoint).status().expect("run order-aggregates")
    }

    /// SIGKILL after `after`; whether the process was still running then.
    fn killed_after(&self, after: Duration) -> bool {
        let mut child = self.command(None).spawn().expect("start order-aggregates");
        // The kill moment is the random variable of this test, not a synchronisation.
        std::thread::sleep(after);
        let running = child.try_wait().expect("poll child").is_none();
        child.kill().expect("SIGKILL");
        child.wait().expect("reap child");
        running
    }
}

#[test]
fn exactly_once_into_delta_from_kafka_across_sigkills_and_failure_points() {
    let dir = tempfile::tempdir().unwrap();
    let guard = TopicGuard::unique("orders-eo");
    let topic = guard.name.clone();
    let config = generator(1_000_000);
    produce_generated(&brokers(), &topic, 12, "order-id", &config);
    let (output, checkpoints) = (dir.path().join("out"), dir.path().join("checkpoints"));
    let job = Job { topic: &topic, output: &output, checkpoints: &checkpoints };

    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let mut kills = 0;
    for _ in 0..10 {
        if job.killed_after(Duration::from_millis(rng.random_range(300..2_500))) {
            kills += 1;
        }
    }
    assert!(kills >= 8, "most runs were killed mid-way ({kills} of 10)");
    // Between a durable manifest and the Delta commits, and between the Delta
    // commits and the Kafka offset commit. Epochs continue from the restored
    // checkpoint, so a failpoint a few epochs ahead is reached in its run.
    for point in ["after_manifest", "after_sink_commit"] {
        let next = latest_epoch(&checkpoints) + 2;
        let status = job.to_the_end(Some(&format!("{point}:{next}")));
        assert!(!status.success(), "the {point} failpoint at epoch {next} aborted the process");
    }
    let status = job.to_the_end(None);
    assert!(status.success(), "{status}");

    let oracle = OrderOracle::compute(OrderGenerator::events(&config), 300_000, 60_000);
    assert_kafka_tables_equal(&output, &oracle);
}
