//! The order job as a process, killed again and again: with SIGKILL at random
//! moments, and at injected failure points between a checkpoint's manifest and
//! its commits. Each time it is started again with the same checkpoint folder and
//! tables (or the same `s3://` locations on the S3 server `scripts/s3` runs); in
//! the end the Delta tables equal the batch oracle exactly.

use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use tidemill_delta::TableLocation;
use tidemill_job_examples::orders::{write_jsonl, GeneratorConfig, OrderGenerator};
use tidemill_runtime::checkpoint::{CheckpointStore, ObjectCheckpointStore};
use tidemill_testkit::s3::S3Store;
use tidemill_tests::binary::order_aggregates;
use tidemill_tests::order_oracle::OrderOracle;
use tidemill_tests::order_tables::{assert_orders_equal, assert_windows_equal, dead_letter_rows};

struct Run<'a> {
    input: &'a Path,
    /// A folder or an `s3://` URL.
    output: TableLocation,
    /// A folder or an `s3://` URL.
    checkpoints: String,
    /// Variables of the job process (the S3 server's `AWS_*`).
    env: Vec<(String, String)>,
}

impl Run<'_> {
    fn command(&self) -> Command {
        let mut c = Command::new(order_aggregates());
        c.arg("--input")
            .arg(self.input)
            .arg("--output")
            .arg(&self.output)
            .arg("--checkpoint-dir")
            .arg(&self.checkpoints)
            .args(["--checkpoint-interval", "100ms", "--batch-size", "256", "--log", "error"])
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env_remove("TIDEMILL_FAILPOINT")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    }

    /// Runs until the process ends by itself.
    fn to_the_end(&self, failpoint: Option<&str>) -> ExitStatus {
        let mut c = self.command();
        if let Some(f) = failpoint {
            c.env("TIDEMILL_FAILPOINT", f);
        }
        c.status().expect("run order-aggregates")
    }

    /// Starts the process and kills it with SIGKILL after `after`. Returns whether
    /// it was still running (and so was really killed).
    fn killed_after(&self, after: Duration) -> bool {
        let mut child = self.command().spawn().expect("start order-aggregates");
        // The kill moment is the random variable of this test, not a synchronisation.
        std::thread::sleep(after);
        let running = child.try_wait().expect("poll child").is_none();
        child.kill().expect("SIGKILL");
        child.wait().expect("reap child");
        running
    }
}

fn check_tables(output: &TableLocation, oracle: &OrderOracle) {
    assert_windows_equal(&output.join("order_aggregates"), oracle);
    assert_orders_equal(&output.join("orders"), oracle);
    let lines: std::collections::BTreeMap<i64, String> =
        dead_letter_rows(&output.join("dlq")).into_iter().map(|((_, line), (reason, _))| (line, reason)).collect();
    assert_eq!(lines, oracle.dead_letters);
}

fn input(dir: &Path, count: u64) -> (std::path::PathBuf, OrderOracle) {
    let config = GeneratorConfig {
        seed: 31,
        count,
        users: 200,
        events_per_second_event_time: 40.0,
        max_jitter: Duration::from_secs(240),
        duplicate_share: 0.03,
        malformed_share: 0.03,
        ..GeneratorConfig::default()
    };
    let path = dir.join("orders.jsonl");
    write_jsonl(&config, &path).unwrap();
    (path, OrderOracle::compute(OrderGenerator::events(&config), 300_000, 60_000))
}

#[test]
fn sigkill_at_random_moments_then_restart_gives_the_oracle_tables() {
    let dir = tempfile::tempdir().unwrap();
    let (input, oracle) = input(dir.path(), 300_000);
    let output = TableLocation::from(dir.path().join("out"));
    let checkpoints = dir.path().join("checkpoints").display().to_string();
    let run = Run { input: &input, output: output.clone(), checkpoints, env: Vec::new() };
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut kills = 0;
    for _ in 0..10 {
        if run.killed_after(Duration::from_millis(rng.random_range(150..900))) {
            kills += 1;
        }
    }
    assert!(kills >= 5, "most runs were killed mid-way ({kills} of 10)");
    let status = run.to_the_end(None);
    assert!(status.success(), "{status}");
    check_tables(&output, &oracle);
}

#[test]
fn a_crash_between_manifest_and_commit_and_after_commit_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (input, oracle) = input(dir.path(), 120_000);
    let output = TableLocation::from(dir.path().join("out"));
    let checkpoints = dir.path().join("checkpoints").display().to_string();
    let run = Run { input: &input, output: output.clone(), checkpoints, env: Vec::new() };
    // Epoch numbers continue across runs from the restored checkpoint, so each
    // failpoint epoch below is reached in its run.
    let crashed = run.to_the_end(Some("after_manifest:2"));
    assert!(!crashed.success(), "the failpoint aborted the process");
    let crashed = run.to_the_end(Some("after_sink_commit:4"));
    assert!(!crashed.success(), "the failpoint aborted the process");
    let crashed = run.to_the_end(Some("after_manifest:6"));
    assert!(!crashed.success(), "the failpoint aborted the process");
    assert!(run.to_the_end(None).success());
    check_tables(&output, &oracle);
}

#[test]
fn checkpoints_and_tables_on_s3_survive_sigkills_and_failure_points() {
    let s3 = S3Store::get();
    let dir = tempfile::tempdir().unwrap();
    let (input, oracle) = input(dir.path(), 150_000);
    let prefix = tidemill_testkit::kafka::unique("crash-recovery");
    let output = TableLocation::parse(&s3.url(&format!("{prefix}/out"))).unwrap();
    let url = s3.url(&format!("{prefix}/checkpoints"));
    let run = Run { input: &input, output: output.clone(), checkpoints: url.clone(), env: s3.env.clone() };
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let mut kills = 0;
    for _ in 0..5 {
        if run.killed_after(Duration::from_millis(rng.random_range(300..1200))) {
            kills += 1;
        }
    }
    assert!(kills >= 3, "most runs were killed mid-way ({kills} of 5)");
    // Epochs continue from the restored checkpoint: far enough ahead to be reached.
    let store = ObjectCheckpointStore::from_url_with(&url, s3.options()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let epochs = || runtime.block_on(store.epochs()).expect("list the checkpoints on S3");
    let newest = epochs().last().map_or(0, |e| e.get());
    let crashed = run.to_the_end(Some(&format!("after_manifest:{}", newest + 2)));
    assert!(!crashed.success(), "the failpoint aborted the process");
    let crashed = run.to_the_end(Some(&format!("after_sink_commit:{}", newest + 4)));
    assert!(!crashed.success(), "the failpoint aborted the process");
    assert!(run.to_the_end(None).success());
    // Read back from S3 by both independent readers (see read_delta.py).
    check_tables(&output, &oracle);
    assert!(!epochs().is_empty(), "the checkpoints are on S3");
    let local: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(local, ["orders.jsonl"], "and nothing but the input is local");
    assert!(!Path::new("s3:").exists(), "not even under a folder named like the URL");
}
