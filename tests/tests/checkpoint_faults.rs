//! Faults of the checkpoint store, with the order job as a process on a paced
//! generator: a damaged newest checkpoint, and the checkpoint folder deleted
//! under a running job. Both end either exactly once or with a loud stop; never
//! with rows skipped or written twice without a word.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tidemill_job_examples::order_aggregates::OrderTables;
use tidemill_job_examples::orders::{GeneratorConfig, OrderGenerator};
use tidemill_testkit::delta_log::lineage_txn_version;
use tidemill_tests::binary::order_aggregates;
use tidemill_tests::checkpoints::latest_epoch;
use tidemill_tests::order_oracle::OrderOracle;
use tidemill_tests::order_tables::{assert_orders_equal, assert_windows_equal};
use tidemill_tests::table_rows::order_rows;

const EVENTS: u64 = 120_000;

struct Run {
    output: PathBuf,
    checkpoints: PathBuf,
}

impl Run {
    fn new(dir: &Path) -> Self {
        Run { output: dir.join("out"), checkpoints: dir.join("chk") }
    }

    /// The job on a generator paced at 20,000 events/s (about 6 s), checkpointing
    /// every 200 ms.
    fn command(&self, extra: &[&str]) -> Command {
        let mut command = Command::new(order_aggregates());
        command
            .args(["--generate", &EVENTS.to_string(), "--rate", "20000", "--metrics-addr", "off"])
            .args(["--checkpoint-interval", "200ms", "--output"])
            .arg(&self.output)
            .arg("--checkpoint-dir")
            .arg(&self.checkpoints)
            .args(extra);
        command
    }

    fn spawn(&self) -> Child {
        self.command(&[]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("order-aggregates starts")
    }

    fn run(&self, extra: &[&str]) -> Output {
        self.command(extra).output().expect("order-aggregates runs")
    }
}

/// Waits (polling, with a deadline) until `ready` holds.
fn wait_for(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn oracle() -> OrderOracle {
    let config = GeneratorConfig { count: EVENTS, ..GeneratorConfig::default() };
    OrderOracle::compute(OrderGenerator::events(&config), 300_000, 60_000)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The newest checkpoint is damaged after a crash that came after its output was
/// committed. The job refuses it, naming the file; resumed from the one before, it
/// first undoes what the sinks committed for the damaged epoch (its input is read
/// again), and the tables end exactly once.
#[test]
fn a_damaged_newest_checkpoint_is_refused_and_the_one_before_resumes_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let run = Run::new(dir.path());
    let tables = OrderTables::under(&run.output);
    let mut child = run.spawn();
    // Several checkpoints, the newest of them committed to `orders`.
    wait_for("committed checkpoints", Duration::from_secs(60), || {
        let newest = latest_epoch(&run.checkpoints);
        newest >= 5 && lineage_txn_version(&tables.orders) == Some(newest as i64)
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let newest = latest_epoch(&run.checkpoints);
    let file = run.checkpoints.join(format!("epoch-{newest:020}.ckpt"));
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    let committed = lineage_txn_version(&tables.orders).unwrap();

    let refused = run.run(&[]);
    let err = stderr(&refused);
    assert_eq!(refused.status.code(), Some(2), "refused: {err}");
    assert!(err.contains(&file.display().to_string()), "the error names the file: {err}");
    assert!(err.contains("--from-checkpoint previous"), "the error says how to go on: {err}");

    let resumed = run.run(&["--from-checkpoint", "previous"]);
    let err = stderr(&resumed);
    assert!(resumed.status.success(), "resumed from the previous checkpoint: {err}");
    if committed >= newest as i64 {
        assert!(err.contains("undid commits of epochs after the resumed checkpoint"), "{err}");
    }
    let oracle = oracle();
    assert_windows_equal(&tables.order_aggregates, &oracle);
    assert_orders_equal(&tables.orders, &oracle);
    let dlq = dead_letter_count(&tables.dlq);
    assert_eq!(dlq, oracle.dead_letters.len(), "each malformed record once");
}

/// The number of DLQ rows, each generator offset at most once.
fn dead_letter_count(table: &tidemill_delta::TableLocation) -> usize {
    let rows = tidemill_testkit::delta_reader::read_rows(table, tidemill_testkit::delta_reader::Engine::DeltaRs);
    let mut offsets: Vec<i64> = rows.iter().map(|r| r["offset"].as_i64().unwrap()).collect();
    offsets.sort_unstable();
    let before = offsets.len();
    offsets.dedup();
    assert_eq!(offsets.len(), before, "a dead letter was written twice");
    before
}

/// The checkpoint folder is deleted while the job runs: the next checkpoint fails
/// loudly and the job stops (it must not start a new line of checkpoints that a
/// restart would then resume without the tables' history). What was committed
/// stays as it was; a new run against those tables is refused.
#[test]
fn a_checkpoint_folder_deleted_under_a_running_job_stops_it_loudly() {
    let dir = tempfile::tempdir().unwrap();
    let run = Run::new(dir.path());
    let tables = OrderTables::under(&run.output);
    let child = run.spawn();
    wait_for("checkpoints", Duration::from_secs(60), || latest_epoch(&run.checkpoints) >= 3);
    std::fs::remove_dir_all(&run.checkpoints).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "the job stops with an error: {err}");
    assert!(err.contains("deleted or replaced while the job ran"), "{err}");
    assert!(!run.checkpoints.exists(), "no new checkpoint folder was started");

    // What was committed is whole and distinct; nothing after the loss.
    let committed = order_rows(&tables.orders);
    let mut distinct = committed.clone();
    distinct.dedup();
    assert_eq!(distinct, committed, "orders are distinct");
    let oracle = oracle();
    assert!(committed.iter().all(|r| oracle.orders.contains(r)));

    // Started again, it has no checkpoint: a new run, refused against these tables.
    let again = run.run(&[]);
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    assert!(stderr(&again).contains("already holds output of an earlier run"), "{}", stderr(&again));
    assert_eq!(order_rows(&tables.orders), committed, "the refused run wrote nothing");
}
