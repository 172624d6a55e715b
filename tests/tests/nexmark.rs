//! The Nexmark queries against DuckDB: each query runs on generated events into a
//! Delta table, DuckDB runs the query's SQL on the same events (dumped as JSON
//! lines), and the two results must be equal row for row. A join with state and
//! timers is also killed mid-run and resumed from its checkpoint.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tidemill_delta::TableLocation;
use tidemill_job_examples::nexmark::{self, dump_events, NexmarkConfig, NexmarkJobSettings, Query, QueryOutput};
use tidemill_testkit::process::LoggedChild;
use tidemill_tests::binary;
use tidemill_tests::nexmark_oracle::assert_equals_duckdb;

/// 300 s of event time with events shuffled in groups of 50 (skew well inside
/// the 1 s watermark delay): every window, join and session sees many events.
fn generator() -> NexmarkConfig {
    NexmarkConfig { events: 60_000, events_per_second: 200, out_of_order_group: 50, ..NexmarkConfig::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_equals_duckdb_on_the_same_events() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events");
    dump_events(&generator(), &events).unwrap();
    // q13's side table: every third key, so that some bids find no row.
    let side: String = (0..10_000).step_by(3).map(|k| format!("{{\"key\":{k},\"value\":\"side-{k}\"}}\n")).collect();
    let side_input = events.join("side_input.jsonl");
    std::fs::write(&side_input, side).unwrap();
    for query in Query::ALL {
        let output = dir.path().join(query.name());
        let settings = NexmarkJobSettings {
            partitions: 3,
            shards: 3,
            output: QueryOutput::Delta(TableLocation::from(output.clone())),
            side_input: Some(side_input.clone()),
            ..NexmarkJobSettings::new(query, generator())
        };
        let summary = nexmark::build(&settings).unwrap().run().await.unwrap();
        assert_eq!(summary.records_in, 60_000, "{query}");
        assert_eq!(summary.dead_letters, 0, "{query}: nothing is late or bad");
        let rows = assert_equals_duckdb(query.name(), &events, &output.join(query.name()));
        assert!(rows > 0, "{query}: an empty result proves nothing");
        if query != Query::Q4 {
            // q4's table is a changelog; DuckDB compares its newest row per category.
            assert_eq!(summary.committed_by_sink[query.name()], rows, "{query}: the report states what was committed");
        }
    }
}

fn nexmark_command(query: &str, events: u64, output: &Path, checkpoints: &Path) -> Command {
    let mut c = Command::new(binary::nexmark());
    c.args(["--query", query, "--events", &events.to_string(), "--rate", "1000", "--out-of-order-group", "20"])
        .args(["--checkpoint-interval", "300ms", "--log", "tidemill_runtime=info"])
        .arg("--output")
        .arg(output)
        .arg("--checkpoint-dir")
        .arg(checkpoints);
    c
}

/// q8's window join holds per-person state and timers: killed (SIGKILL) after a
/// checkpoint and started again, it resumes from the checkpoint and its table
/// still equals DuckDB's result, nothing lost and nothing twice.
#[test]
fn a_join_killed_mid_run_resumes_to_the_duckdb_result() {
    let dir = tempfile::tempdir().unwrap();
    let (output, checkpoints, events) = (dir.path().join("out"), dir.path().join("ckpt"), dir.path().join("events"));
    let total = 400_000;
    let mut first = LoggedChild::spawn("nexmark q8", nexmark_command("q8", total, &output, &checkpoints));
    first.await_line(Duration::from_secs(120), &["checkpoint committed"]);
    first.kill();
    assert!(
        !first.lines().iter().any(|l| l.contains("all sources exhausted")),
        "the run ended before the kill; the test needs a larger input"
    );
    let mut command = nexmark_command("q8", total, &output, &checkpoints);
    command.arg("--dump-events").arg(&events);
    let mut second = LoggedChild::spawn("nexmark q8 again", command);
    second.await_line(Duration::from_secs(60), &["fence checkpoint written", "resumed"]);
    second.wait_success(Duration::from_secs(300));
    assert_equals_duckdb("q8", &events, &output.join("q8"));
}

/// Settings are checked before anything starts: a clear message and exit
/// status 2, and no table written.
#[test]
fn bad_settings_are_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out");
    let cases: [(&[&str], &str); 6] = [
        (&["--query", "q5", "--rate", "0"], "events_per_second must be at least 1"),
        (&["--query", "q5", "--partitions", "0"], "partitions must be at least 1"),
        (&["--produce-to", "t", "--partitions", "0"], "partitions must be at least 1"),
        (&["--query", "q5", "--bounded"], "--bounded applies to --topic or --side-topic"),
        (&["--query", "q13"], "q13 joins with a side table"),
        (&["--query", "q42"], "unknown query `q42`"),
    ];
    for (args, message) in cases {
        let out = Command::new(binary::nexmark()).args(args).arg("--output").arg(&output).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: expected {message:?} in {stderr}");
        assert!(!output.exists(), "{args:?} wrote {}", output.display());
    }
}

/// The events through Kafka: `--produce-to` writes them into a 3-partition topic
/// (one generator partition per Kafka partition), a record that is no event is
/// appended, and queries reading the topic (`--topic --bounded`) equal DuckDB on
/// the same events, with the bad record in `dlq` as `not_json`.
#[test]
fn queries_over_events_in_a_kafka_topic_equal_duckdb() {
    use tidemill_kafka::rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
    use tidemill_kafka::rdkafka::ClientConfig;
    use tidemill_testkit::delta_reader::{read_rows, Engine};
    use tidemill_testkit::kafka::{brokers, TopicGuard};

    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events");
    let topic = TopicGuard::unique("nexmark-events");
    let generated = ["--events", "60000", "--rate", "200", "--out-of-order-group", "50"];
    let produced = Command::new(binary::nexmark())
        .args(["--produce-to", &topic.name, "--partitions", "3", "--brokers", &brokers()])
        .args(generated)
        .arg("--dump-events")
        .arg(&events)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&produced.stdout);
    assert!(produced.status.success(), "{stdout}{}", String::from_utf8_lossy(&produced.stderr));
    assert!(stdout.contains("produced 60000 events") && stdout.contains("(3 partitions)"), "{stdout}");
    let producer: ThreadedProducer<_> = ClientConfig::new().set("bootstrap.servers", brokers()).create().unwrap();
    producer.send(BaseRecord::<[u8], [u8]>::to(&topic.name).payload(b"not an event".as_slice()).partition(0)).unwrap();
    producer.flush(Duration::from_secs(30)).unwrap();

    for query in ["q5", "q9"] {
        let output = dir.path().join(query);
        let run = Command::new(binary::nexmark())
            .args(["--query", query, "--topic", &topic.name, "--bounded", "--brokers", &brokers()])
            .arg("--output")
            .arg(&output)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert!(run.status.success(), "{query}: {stdout}{}", String::from_utf8_lossy(&run.stderr));
        assert!(stdout.contains("60001 events") && stdout.contains("; 1 dead letters"), "{query}: {stdout}");
        let rows = assert_equals_duckdb(query, &events, &output.join(query));
        assert!(rows > 0, "{query}: an empty result proves nothing");
        let dlq = read_rows(&output.join("dlq"), Engine::DeltaRs);
        let reasons: Vec<_> = dlq.iter().map(|row| row["reason_code"].as_str().unwrap_or_default()).collect();
        assert_eq!(reasons, ["not_json"], "{query}");
    }
}

/// q13 with its side table kept as keyed state from a changelog in a compacted
/// topic (values, then newer values for some keys and tombstones for others, all
/// timed before the first bid): each bid is joined with the table as of its time,
/// which here is the table's final content, so the result equals DuckDB's join
/// with that final table.
#[test]
fn q13_joins_a_side_table_kept_from_a_compacted_topic() {
    use tidemill_job_examples::nexmark::DEFAULT_BASE_TIME_MS;
    use tidemill_kafka::rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
    use tidemill_kafka::rdkafka::ClientConfig;
    use tidemill_testkit::kafka::{brokers, create_topic_with, TopicGuard};

    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events");
    let topic = TopicGuard::unique("nexmark-side");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(create_topic_with(&topic.name, 2, &[("cleanup.policy", "compact")]));
    let producer: ThreadedProducer<_> = ClientConfig::new().set("bootstrap.servers", brokers()).create().unwrap();
    let first = DEFAULT_BASE_TIME_MS as i64;
    let send = |key: u32, value: Option<String>, at: i64| {
        let key = key.to_string();
        let mut record = BaseRecord::<str, str>::to(&topic.name).key(&key).timestamp(at);
        if let Some(value) = &value {
            record = record.payload(value);
        }
        producer.send(record).map_err(|(e, _)| e).unwrap();
    };
    for k in (0..10_000).step_by(3) {
        send(k, Some(format!("side-{k}")), first - 10_000);
    }
    for k in (0..10_000).step_by(9) {
        send(k, Some(format!("side-{k}-v2")), first - 5_000);
    }
    for k in (0..10_000).step_by(12) {
        send(k, None, first - 5_000);
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    // The table those updates leave, for DuckDB.
    std::fs::create_dir_all(&events).unwrap();
    let table: String = (0..10_000)
        .filter(|k| k % 3 == 0 && k % 12 != 0)
        .map(|k| {
            let value = if k % 9 == 0 { format!("side-{k}-v2") } else { format!("side-{k}") };
            format!("{{\"key\":{k},\"value\":\"{value}\"}}\n")
        })
        .collect();
    std::fs::write(events.join("side_input.jsonl"), table).unwrap();

    let output = dir.path().join("out");
    let run = Command::new(binary::nexmark())
        .args(["--query", "q13", "--events", "60000", "--rate", "200", "--out-of-order-group", "50"])
        .args(["--partitions", "3", "--shards", "3", "--side-topic", &topic.name, "--bounded", "--brokers", &brokers()])
        .arg("--output")
        .arg(&output)
        .arg("--dump-events")
        .arg(&events)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}{}", String::from_utf8_lossy(&run.stderr));
    assert!(stdout.contains("; 0 dead letters"), "{stdout}");
    let rows = assert_equals_duckdb("q13", &events, &output.join("q13"));
    assert!(rows > 0, "an empty result proves nothing");
}
