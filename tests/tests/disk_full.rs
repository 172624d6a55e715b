//! The output file system fills up while the order job runs: checkpoints fail
//! visibly, nothing half-committed is visible in any table, and once space is
//! back the job goes on and ends exactly once.
//!
//! 1. A 32 MiB tmpfs holds both the tables (`--output`) and the checkpoints
//!    (`--checkpoint-dir`). The job reads 20,000 generated orders at 1,500 per
//!    second (about 13 s of input), checkpointing every 300 ms.
//! 2. Once the job has committed some windows, a filler file takes every free
//!    byte and keeps taking what is freed, so the job cannot write anything.
//! 3. The job must say so (a `pipeline failed` line with "No space left on
//!    device", `storage failed: retrying until it works again`; on `/metrics`
//!    the failed checkpoint and the restarts; `/readyz` not ready) and keep
//!    retrying: more often than the restart policy lets processing failures
//!    recur (5), without giving up. No checkpoint completes while the disk is
//!    full. (Before the fix in `open_or_create`, the restarts failed at the
//!    Delta sinks' write probe, which counted as processing failures, and the
//!    job ended with exit 1 after about 3 s of a full disk.)
//! 4. Meanwhile every table, read by both independent readers, holds whole
//!    epochs: exactly the oracle of the records read before the barrier of one
//!    of the two newest manifests (see [`assert_whole_epochs`]).
//! 5. The filler is deleted: the job resumes from its newest checkpoint, runs to
//!    the end (exit 0), and the three tables equal the oracle of the whole input.
//!
//! Needs root (for the tmpfs mount).

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use tidemill_job_examples::orders::GeneratorConfig;
use tidemill_testkit::metrics::{http_get, scrape, scrape_until, Scrape};
use tidemill_testkit::process::{field, LoggedChild};
use tidemill_testkit::tmpfs::{DiskFiller, Tmpfs};
use tidemill_tests::binary::order_aggregates;
use tidemill_tests::checkpoints::latest_epoch;
use tidemill_tests::order_prefix::{assert_whole_epochs, PrefixOracle};
use tidemill_tests::order_tables::{assert_orders_equal, assert_windows_equal, generated_dead_letters};

const WAIT: Duration = Duration::from_secs(90);
/// Storage failures the job must survive: more than the 5 failures within 5
/// minutes after which a processing failure ends the job.
const RETRIES: u32 = 6;

fn generator() -> GeneratorConfig {
    GeneratorConfig {
        seed: 5,
        count: 20_000,
        users: 200,
        // Out of order by at most 2 s plus a duplicate's 64 events (0.64 s): far
        // inside the 30 s watermark delay, so nothing is late.
        max_jitter: Duration::from_secs(2),
        duplicate_share: 0.02,
        malformed_share: 0.02,
        rate_limit: Some(1_500),
        ..GeneratorConfig::default()
    }
}

/// The job on `config`'s events. One shard per keyed operator: every table then
/// has one writer, whose commits are whole epochs of the whole table. Windows of
/// one minute every 20 s with a 30 s watermark delay are emitted all along the
/// input, not only at its end.
fn job(config: &GeneratorConfig, disk: &Tmpfs) -> LoggedChild {
    let mut c = Command::new(order_aggregates());
    c.args(["--generate", &config.count.to_string(), "--seed", &config.seed.to_string()])
        .args(["--users", &config.users.to_string(), "--jitter", "2s", "--duplicate-share", "0.02"])
        .args(["--malformed-share", "0.02", "--rate", &config.rate_limit.unwrap_or_default().to_string()])
        .args(["--shards", "1", "--window-size", "1m", "--window-slide", "20s", "--watermark-delay", "30s"])
        .arg("--output")
        .arg(disk.path().join("out"))
        .arg("--checkpoint-dir")
        .arg(disk.path().join("checkpoints"))
        .args(["--checkpoint-interval", "300ms", "--metrics-addr", "127.0.0.1:0"])
        .args(["--log", "info,buoyant_kernel=warn,deltalake_core=error,deltalake=error"])
        .env_remove("TIDEMILL_FAILPOINT")
        .env_remove("TIDEMILL_CONFIG");
    LoggedChild::spawn("order-aggregates", c)
}

/// The metrics endpoint the job bound (`--metrics-addr 127.0.0.1:0`: it logs the port).
fn metrics_addr(job: &mut LoggedChild) -> SocketAddr {
    let line = job.await_line(WAIT, &["metrics endpoint:"]);
    field(&line, "addr").and_then(|a| a.parse().ok()).unwrap_or_else(|| panic!("no addr in {line}"))
}

fn count(lines: &[String], needle: &str) -> usize {
    lines.iter().filter(|l| l.contains(needle)).count()
}

#[test]
fn a_full_disk_fails_checkpoints_visibly_shows_only_whole_epochs_and_the_job_ends_exactly_once() {
    let started = Instant::now();
    let config = generator();
    let oracle = PrefixOracle::compute(&config, 60_000, 20_000);
    // Declared before the job: dropped after it, so the job is gone before the unmount.
    let disk = Tmpfs::mount(32);
    let (output, checkpoints) = (disk.path().join("out"), disk.path().join("checkpoints"));
    let mut job = job(&config, &disk);
    let metrics = metrics_addr(&mut job);
    // Windows of two different ends are committed (the first windows end at the
    // start of the input, as the jitter puts some orders before it; the watermark
    // passes that after 3,000 records and the next end after 5,000), so that every
    // table has several whole epochs in it when the disk fills.
    let window_commits =
        |l: &[String]| l.iter().filter(|l| l.contains("Delta commit") && l.contains("order_aggregates@")).count();
    job.await_lines(WAIT, "2 commits of windows", |l| (window_commits(l) >= 2).then_some(()));
    job.await_lines(WAIT, "3 committed checkpoints", |l| (count(l, "checkpoint committed") >= 3).then_some(()));
    let before = scrape(metrics).expect("scrape before the disk is full");
    let restarts_before = before.sum("tidemill_restarts_total", &[]);
    eprintln!("{:?}: {} checkpoints committed; filling the disk", started.elapsed(), latest_epoch(&checkpoints));

    let filler = DiskFiller::start(&disk.path().join("filler"));
    filler.await_full(WAIT);
    assert!(disk.available() < 64 * 1024, "the tmpfs is full: {} bytes free", disk.available());

    // Visible: the failure and its cause in the log, then retries.
    let failed = job.await_line(WAIT, &["pipeline failed", "No space left on device"]);
    job.await_line(WAIT, &["storage failed: retrying until it works again", "attempt=1"]);
    let failed_at = job.lines().iter().position(|l| *l == failed).expect("the failure line");
    let newest = latest_epoch(&checkpoints);
    scrape_until(metrics, WAIT, |s| {
        let restarts = s.sum("tidemill_restarts_total", &[]);
        (restarts > restarts_before).then_some(()).ok_or_else(|| format!("restarts: {restarts}"))
    })
    .expect("restarts on /metrics");
    let ready = http_get(metrics, "/readyz").expect("GET /readyz");
    assert_eq!(ready.0, 503, "not ready while the disk is full: {ready:?}");

    // Nothing half-committed: every table holds whole epochs, read while full.
    let covered = assert_whole_epochs(&output, &checkpoints, "generator", &oracle);
    eprintln!("{:?}: while full, newest checkpoint {newest}, (table, epoch, rows): {covered:?}", started.elapsed());

    // Still retrying past what the restart policy allows other failures.
    let retried = format!("attempt={RETRIES}");
    job.await_line(WAIT, &["storage failed: retrying until it works again", &retried]);
    assert!(job.exited().is_none(), "the job is still running");
    let lines = job.lines();
    let committed_while_full = count(&lines[failed_at..], "checkpoint committed");
    assert_eq!(committed_while_full, 0, "no checkpoint is committed while the disk is full");
    assert_eq!(latest_epoch(&checkpoints), newest, "no manifest is written while the disk is full");
    let retrying = scrape(metrics).expect("scrape while full");
    let restarts = retrying.sum("tidemill_restarts_total", &[]) - restarts_before;
    assert!(restarts >= f64::from(RETRIES), "every retry is a restart on /metrics: {restarts}");
    // The checkpoint in flight when the disk filled failed (its Parquet files or
    // its manifest could not be written). Only if the disk filled while the
    // sinks committed a durable checkpoint, between two checkpoints, was there
    // none to fail; every later attempt fails before a checkpoint starts.
    let failures = |s: &Scrape| s.sum("tidemill_checkpoint_failures_total", &[]);
    let (failed_before, failed_now) = (failures(&before), failures(&retrying));
    let between_checkpoints = failed.contains("sink commit failed");
    assert!(
        failed_now > failed_before || between_checkpoints,
        "the failed checkpoint is counted ({failed_before} -> {failed_now}) after {failed}"
    );
    eprintln!(
        "{:?}: {RETRIES} storage failures, {restarts} restarts, checkpoint failures {failed_before} -> {failed_now}",
        started.elapsed()
    );

    // Space is back: the job resumes from its newest checkpoint and ends.
    let released_at = job.lines().len();
    filler.release();
    job.wait_success(WAIT);
    let after = &job.lines()[released_at..];
    assert!(count(after, "fence checkpoint written") >= 1, "resumed from a checkpoint after the disk had space");
    eprintln!("{:?}: the job finished", started.elapsed());

    assert_windows_equal(&output.join("order_aggregates"), &oracle.whole);
    assert_orders_equal(&output.join("orders"), &oracle.whole);
    let dead = generated_dead_letters(&output.join("dlq"));
    assert_eq!(dead, oracle.dead_letters_before(config.count), "every malformed record once, with its bytes");
}
