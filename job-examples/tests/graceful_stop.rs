//! SIGTERM stops `order-aggregates` gracefully: the sources stop, a final
//! checkpoint commits everything read so far, and the process exits 0 with tables
//! that hold exactly the prefix of the input it read.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use tidemill_job_examples::order_aggregates::preview_table;
use tidemill_job_examples::orders::{EventKind, GeneratorConfig, OrderGenerator};

fn rows(table: &std::path::Path) -> usize {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(preview_table(table, usize::MAX)).unwrap().rows.len()
}

#[test]
fn sigterm_commits_what_was_read_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let (output, summary) = (dir.path().join("out"), dir.path().join("summary.json"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_order-aggregates"))
        .args(["--generate", "10000000", "--rate", "20000", "--checkpoint-interval", "200ms"])
        .arg("--checkpoint-dir")
        .arg(dir.path().join("checkpoints"))
        .arg("--output")
        .arg(&output)
        .arg("--summary-json")
        .arg(&summary)
        .args(["--log", "tidemill_runtime=info"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait (on the log, not on a timer) until a checkpoint has completed: data flowed.
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut lines = stderr.lines();
    for line in lines.by_ref() {
        if line.unwrap().contains("checkpoint complete") {
            break;
        }
    }
    let killed = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    assert!(killed.success());
    // Keep draining stderr so the child never blocks on a full pipe.
    let drain = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    let status = child.wait().unwrap();
    let log = drain.join().unwrap();
    assert!(status.success(), "exit status {status}; log tail: {:?}", &log[log.len().saturating_sub(10)..]);

    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    let read = summary["records_in"].as_u64().unwrap();
    assert!(read > 0 && read < 10_000_000, "stopped part-way: {read}");

    // The prefix of the (deterministic) input that was read, recomputed.
    let config = GeneratorConfig { count: 10_000_000, ..GeneratorConfig::default() };
    let (mut orders, mut malformed) = (HashSet::new(), 0usize);
    for event in OrderGenerator::events(&config).take(read as usize) {
        match event.kind {
            EventKind::Valid(o) | EventKind::Duplicate(o) => {
                orders.insert((o.order_id, o.event_time));
            }
            EventKind::Malformed(_) => malformed += 1,
        }
    }
    assert_eq!(rows(&output.join("orders")), orders.len(), "every distinct order read is committed, once");
    assert_eq!(rows(&output.join("dlq")), malformed, "every malformed record read is in the DLQ");
    assert_eq!(summary["written_by_sink"]["orders"].as_u64().unwrap() as usize, orders.len());
}
