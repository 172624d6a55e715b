//! Delta tables on the S3 server `scripts/s3` runs, written by several processes
//! at once: every writer's commits land once, none is lost to a concurrent one,
//! and a repeated commit (a restarted writer finishing its epoch again) adds
//! nothing. Read back by both independent readers straight from S3.
//!
//! The writers are this test binary run again as child processes (the ignored
//! test `writer_process`), so that they share nothing but the store: no lock, no
//! memory, no HTTP client.

use std::process::{Command, Stdio};

use serde_json::Value;
use tidemill_delta::{delta_record, DeltaAppendSink, DeltaSinkConfig, TableLocation};
use tidemill_runtime::{Batch, Epoch, EventTime, NodeContext, Origin, Record, Sink};
use tidemill_testkit::delta_reader::{read_rows, summary, Engine};
use tidemill_testkit::kafka::unique;
use tidemill_testkit::s3::S3Store;

/// Concurrent writer processes.
const WRITERS: i64 = 4;
/// Epochs each writer commits.
const EPOCHS: i64 = 8;
/// Rows each writer writes per epoch.
const ROWS: i64 = 25;
/// Set in a writer process: its number and the table's URL, `<writer> <url>`.
const WRITER_ENV: &str = "TIDEMILL_TEST_DELTA_WRITER";

delta_record! {
    /// One row: which writer wrote it in which epoch.
    #[derive(Clone, Debug, serde::Serialize)]
    pub struct Tick {
        /// The writer process.
        pub writer: i64,
        /// The epoch it was committed in.
        pub epoch: i64,
        /// Its number within the epoch.
        pub seq: i64,
    }
}

fn ticks(writer: i64, epoch: i64) -> Batch<Tick> {
    (0..ROWS).map(|seq| Record::new(Tick { writer, epoch, seq }, EventTime::from_millis(0), Origin::INTERNAL)).collect()
}

#[test]
fn writers_in_several_processes_commit_to_one_s3_table_without_losing_or_repeating_a_commit() {
    let s3 = S3Store::get();
    let table = s3.url(&format!("{}/ticks", unique("delta-on-s3")));
    let exe = std::env::current_exe().expect("the test binary");
    // All writers start before any is awaited: they open, create and commit together.
    let children: Vec<_> = (0..WRITERS)
        .map(|writer| {
            Command::new(&exe)
                .args(["writer_process", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
                .env(WRITER_ENV, format!("{writer} {table}"))
                .envs(s3.env.iter().map(|(k, v)| (k, v)))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start a writer process")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("wait for a writer");
        assert!(
            out.status.success(),
            "a writer failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"), "the writer test ran");
    }

    // Both readers agree (`summary` checks), straight from S3.
    let summary = summary(table.as_str());
    // Version 0 creates the table (one creator wins, the others load it); then
    // exactly one version per writer and epoch: none lost, none written twice.
    assert_eq!(summary["version"], Value::from(WRITERS * EPOCHS), "{summary}");
    assert_eq!(summary["rows"], Value::from(WRITERS * EPOCHS * ROWS));
    for writer in 0..WRITERS {
        assert_eq!(summary["txn"][format!("tidemill-test-w{writer}")], Value::from(EPOCHS), "{summary}");
    }
    for engine in Engine::ALL {
        let mut rows: Vec<(i64, i64, i64)> = read_rows(table.as_str(), engine)
            .iter()
            .map(|r| (r["writer"].as_i64().unwrap(), r["epoch"].as_i64().unwrap(), r["seq"].as_i64().unwrap()))
            .collect();
        rows.sort_unstable();
        let expected: Vec<(i64, i64, i64)> =
            (0..WRITERS).flat_map(|w| (1..=EPOCHS).flat_map(move |e| (0..ROWS).map(move |s| (w, e, s)))).collect();
        assert_eq!(rows, expected, "{engine:?}: every row once");
    }
}

/// One writer: commits `EPOCHS` epochs to the table, each twice (the second time
/// as a restarted writer would, with the same staged output).
#[test]
#[ignore = "a child process of the test above"]
fn writer_process() {
    let Ok(spec) = std::env::var(WRITER_ENV) else { return };
    let (writer, table) = spec.split_once(' ').expect("<writer> <url>");
    let writer: i64 = writer.parse().expect("a writer number");
    let location = TableLocation::parse(table).expect("an s3:// URL");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let ctx = NodeContext::for_tests(&format!("w{writer}"));
        let mut sink = DeltaAppendSink::<Tick>::with_config(DeltaSinkConfig::new(location), &ctx);
        sink.open().await.expect("open the table on S3");
        for epoch in 1..=EPOCHS {
            sink.write(ticks(writer, epoch)).await.expect("write");
            let staged = sink.stage(Epoch::new(epoch as u64)).await.expect("stage");
            sink.commit(Epoch::new(epoch as u64), staged.clone()).await.expect("commit");
            sink.commit(Epoch::new(epoch as u64), staged).await.expect("commit again: a no-op");
        }
    });
}

#[test]
fn a_refused_secret_fails_the_job_at_start_naming_the_table_and_hiding_the_secret() {
    let s3 = S3Store::get();
    let secret = "not-the-secret-4f1c9e";
    let output = s3.url(&unique("delta-on-s3-refused"));
    let out = Command::new(tidemill_tests::binary::order_aggregates())
        .args(["--generate", "100", "--output", &output])
        .envs(s3.env.iter().map(|(k, v)| (k, v)))
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .output()
        .expect("run order-aggregates");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "refused credentials fail the job:\n{stderr}");
    assert!(stderr.contains(&format!("Delta table {output}/")), "the error names the table:\n{stderr}");
    assert!(stderr.contains("403 Forbidden"), "and what the store said:\n{stderr}");
    assert!(!stderr.contains(secret), "the secret is not printed:\n{stderr}");
}
