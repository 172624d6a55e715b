//! The order job's metrics, end to end against the real Kafka broker: the job
//! runs unbounded as a process with its Prometheus endpoint on; a known file of
//! orders (malformed lines included, each with its reason) is produced into the
//! topic while it runs, faster than the job may read (it is capped at 1,000
//! records per partition per 1 s checkpoint), so every partition's lag rises and
//! the lag-growth detector raises its alarm; `/metrics` is scraped until the job
//! has caught up. Then: lag is zero on every partition and in total, the alarm
//! is off again, the records read equal the records produced, the dead-letter
//! counters equal the oracle's malformed lines by reason, checkpoint and commit
//! histograms have observations, the latency histograms hold plausible values,
//! `/healthz` and `/readyz` answer 200, and SIGTERM stops the job cleanly. The
//! Grafana dashboard and the suggested alerts of docs/operations.md are checked
//! to query only metrics the job exports.
//!
//! Needs the broker `scripts/kafka start` runs (or `KAFKA_BOOTSTRAP_SERVERS`).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::Value;
use tidemill_job_examples::orders::{write_jsonl, GeneratorConfig, OrderGenerator};
use tidemill_kafka::rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use tidemill_kafka::rdkafka::client::DefaultClientContext;
use tidemill_kafka::rdkafka::error::RDKafkaErrorCode;
use tidemill_kafka::rdkafka::ClientConfig;
use tidemill_testkit::kafka::{brokers, TopicGuard};
use tidemill_testkit::metrics::{free_local_addr, http_get, poll_until, promql_metric_names, scrape, Scrape};
use tidemill_tests::binary::{order_aggregates, order_producer};
use tidemill_tests::order_oracle::OrderOracle;
use tidemill_tests::order_tables::dead_letter_payloads;

const PARTITIONS: i32 = 6;
const EVENTS: u64 = 30_000;
/// Event time covered by the file: EVENTS / EVENTS_PER_SECOND seconds, ending
/// before the file is written, so that every event time lies in the past.
const EVENTS_PER_SECOND: f64 = 2_000.0;
/// Upper bound of a plausible latency to visibility in this test: the events are
/// at most ~20 s old when produced and the job checkpoints every second.
const LATENCY_BOUND_S: f64 = 120.0;
/// How long the job may take for each step (debug build, 2 shared cores).
const STEP_TIMEOUT: Duration = Duration::from_secs(180);
/// Caps the job's reading at this many records per partition per checkpoint (1 s),
/// so that catching up takes several seconds and the lag is seen to rise.
const MAX_RECORDS_PER_CHECKPOINT: u64 = 1_000;
/// The order job's default watermark delay.
const WATERMARK_DELAY_S: f64 = 600.0;

/// Counters that have no series until their first event (a healthy run has
/// none); documented in docs/operations.md and allowed in queries.
const EVENT_ONLY: [&str; 2] = ["tidemill_restarts_total", "tidemill_checkpoint_failures_total"];

fn generator() -> GeneratorConfig {
    let span = Duration::from_secs_f64(EVENTS as f64 / EVENTS_PER_SECOND);
    GeneratorConfig {
        seed: 2026,
        count: EVENTS,
        users: 300,
        start: chrono::Utc::now() - span - Duration::from_secs(5),
        events_per_second_event_time: EVENTS_PER_SECOND,
        max_jitter: Duration::from_secs(2),
        duplicate_share: 0.02,
        malformed_share: 0.03,
        ..GeneratorConfig::default()
    }
}

/// Creates `topic` with `partitions` (outside any tokio runtime).
fn create_topic(topic: &str, partitions: i32) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    runtime.block_on(async {
        let admin: AdminClient<DefaultClientContext> =
            ClientConfig::new().set("bootstrap.servers", brokers()).create().expect("Kafka admin client");
        let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let results = admin.create_topics([&new], &opts).await.unwrap_or_else(|e| {
            panic!("creating {topic} at {} failed: is the broker running (scripts/kafka start)? {e}", brokers())
        });
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => panic!("cannot create topic {name}: {code}"),
            }
        }
    });
}

/// The job process; killed if the test fails before it stopped it.
struct RunningJob {
    child: Child,
    log: PathBuf,
    addr: SocketAddr,
}

impl RunningJob {
    fn start(topic: &str, dir: &Path) -> Self {
        let addr = free_local_addr();
        let log = dir.join("job.log");
        // A lag-growth detector that samples every second and counts lags from
        // 1,000 (the defaults are 5 s and 10,000).
        let config = dir.join("job.toml");
        std::fs::write(&config, "[metrics.lag_growth]\nmin_lag = 1000\nsample_interval = \"1s\"\n")
            .expect("job config");
        let out = File::create(&log).expect("job log");
        let child = Command::new(order_aggregates())
            .args(["--brokers", &brokers(), "--topic", topic, "--group-id", topic])
            .arg("--output")
            .arg(dir.join("out"))
            .arg("--checkpoint-dir")
            .arg(dir.join("checkpoints"))
            .args(["--checkpoint-interval", "1s", "--shards", "2", "--log", "info"])
            .args(["--max-records-per-checkpoint", &MAX_RECORDS_PER_CHECKPOINT.to_string()])
            .arg("--config")
            .arg(&config)
            .args(["--metrics-addr", &addr.to_string()])
            .env_remove("TIDEMILL_FAILPOINT")
            .env_remove("TIDEMILL_METRICS_ADDR")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
            .stdout(out.try_clone().expect("log handle"))
            .stderr(out)
            .spawn()
            .expect("start order-aggregates");
        RunningJob { child, log, addr }
    }

    /// `Err` if the process has exited (with the end of its log).
    fn alive(&mut self) -> Result<(), String> {
        match self.child.try_wait().expect("poll the job") {
            None => Ok(()),
            Some(status) => Err(format!("order-aggregates exited ({status}):\n{}", self.log_tail())),
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Scrapes until `done` holds, failing early if the job exits.
    fn scrape_until(&mut self, what: &str, mut done: impl FnMut(&Scrape) -> Result<(), String>) -> Scrape {
        let addr = self.addr;
        poll_until(STEP_TIMEOUT, || {
            self.alive().map_err(|e| format!("FATAL {e}"))?;
            let s = scrape(addr)?;
            done(&s)?;
            Ok(s)
        })
        .unwrap_or_else(|e| panic!("waiting for {what}: {e}\njob log:\n{}", self.log_tail()))
    }

    fn get(&self, path: &str) -> (u16, String) {
        let (status, body) = http_get(self.addr, path).unwrap_or_else(|e| panic!("GET {path}: {e}"));
        (status, body.trim().to_string())
    }

    /// SIGTERM, then the exit status (within STEP_TIMEOUT).
    fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("run kill");
        assert!(sent.success(), "kill -TERM {pid}");
        poll_until(STEP_TIMEOUT, || self.child.try_wait().expect("poll the job").ok_or_else(|| "still running".into()))
            .unwrap_or_else(|e| panic!("order-aggregates did not stop after SIGTERM: {e}\n{}", self.log_tail()))
    }
}

impl Drop for RunningJob {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Starts `order-producer` replaying `file` into `topic`; its output goes to `log`.
fn produce(topic: &str, file: &Path, log: &Path) -> Child {
    let out = File::create(log).expect("producer log");
    Command::new(order_producer())
        .args(["--brokers", &brokers(), "--topic", topic, "--replay"])
        .arg(file)
        .stdout(out.try_clone().expect("log handle"))
        .stderr(out)
        .spawn()
        .expect("run order-producer")
}

const SOURCE: &[(&str, &str)] = &[("tidemill_node", "kafka")];

/// Per-partition values of a source gauge of `topic`.
fn per_partition(s: &Scrape, name: &str, topic: &str) -> BTreeMap<String, f64> {
    s.sum_by(name, "messaging_destination_partition_id", &[("messaging_destination_name", topic)])
}

fn expect_eq(what: &str, actual: f64, expected: f64) -> Result<(), String> {
    if actual == expected {
        Ok(())
    } else {
        Err(format!("{what} is {actual}, expected {expected}"))
    }
}

#[test]
fn metrics_of_the_order_job_on_kafka() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let guard = TopicGuard::unique("orders-metrics");
    let topic = guard.name.clone();
    create_topic(&topic, PARTITIONS);

    let config = generator();
    let file = dir.path().join("orders.jsonl");
    assert_eq!(write_jsonl(&config, &file).expect("write the orders"), EVENTS);
    let oracle = OrderOracle::compute(OrderGenerator::events(&config), 300_000, 60_000);
    let mut malformed_by_reason: BTreeMap<String, f64> = BTreeMap::new();
    for reason in oracle.dead_letters.values() {
        *malformed_by_reason.entry(reason.clone()).or_default() += 1.0;
    }
    let malformed: f64 = malformed_by_reason.values().sum();
    assert!(malformed_by_reason.len() >= 5, "the input exercises most reasons: {malformed_by_reason:?}");

    let mut job = RunningJob::start(&topic, dir.path());
    poll_until(STEP_TIMEOUT, || {
        job.alive().map_err(|e| format!("FATAL {e}"))?;
        match http_get(job.addr, "/readyz") {
            Ok((200, body)) if body.trim() == "ready" => Ok(()),
            Ok((status, body)) => Err(format!("/readyz: {status} {body}")),
            Err(e) => Err(format!("/readyz: {e}")),
        }
    })
    .unwrap_or_else(|e| panic!("the job never became ready: {e}\n{}", job.log_tail()));
    assert_eq!(job.get("/healthz"), (200, "ok".to_string()));

    // A lag series for every partition as soon as the source has its assignment.
    let partitions: BTreeSet<String> = (0..PARTITIONS).map(|p| p.to_string()).collect();
    job.scrape_until("a lag series per partition", |s| {
        let seen: BTreeSet<String> = per_partition(s, "tidemill_source_lag", &topic).into_keys().collect();
        (seen == partitions).then_some(()).ok_or_else(|| format!("lag series for partitions {seen:?}"))
    });

    // The producer finishes long before the job, held back by its cap, has read
    // everything: every partition's lag rises above zero, and so much that the
    // lag-growth detector raises its alarm.
    let producer_log = dir.path().join("producer.log");
    let mut producer = produce(&topic, &file, &producer_log);
    let (mut producer_done, mut produced_at) = (false, Instant::now());
    let mut lag_seen: BTreeMap<String, f64> = BTreeMap::new();
    let (mut max_lag, mut growing_seen) = (0.0f64, false);
    job.scrape_until("the producer to finish and lag on every partition", |s| {
        for (p, v) in per_partition(s, "tidemill_source_lag", &topic) {
            let seen = lag_seen.entry(p).or_default();
            *seen = seen.max(v);
        }
        max_lag = max_lag.max(s.value("tidemill_job_lag", &[]).unwrap_or(0.0));
        growing_seen |= s.value("tidemill_job_lag_growing", &[]) == Some(1.0);
        if !producer_done {
            producer_done = producer.try_wait().expect("poll order-producer").is_some();
            produced_at = Instant::now();
        }
        producer_done.then_some(()).ok_or("order-producer still running")?;
        let lagging = lag_seen.values().filter(|v| **v > 0.0).count();
        if lagging < partitions.len() || !growing_seen {
            return Err(format!("lag seen per partition {lag_seen:?}, growing alarm seen: {growing_seen}"));
        }
        Ok(())
    });
    let status = producer.wait().expect("reap order-producer");
    let report = std::fs::read_to_string(&producer_log).unwrap_or_default();
    assert!(status.success(), "producing into {topic} failed ({status}): {report}");

    // Caught up: everything read, decoded and written, no lag left anywhere.
    let s = job.scrape_until("the job to catch up", |s| {
        expect_eq("records read by the source", s.sum("tidemill_records_in_total", SOURCE), EVENTS as f64)?;
        let lag = per_partition(s, "tidemill_source_lag", &topic);
        if lag.len() != partitions.len() || lag.values().any(|v| *v != 0.0) {
            return Err(format!("lag per partition {lag:?}"));
        }
        expect_eq("tidemill_job_lag", s.value("tidemill_job_lag", &[]).unwrap_or(f64::NAN), 0.0)?;
        let end = per_partition(s, "tidemill_source_end_offset", &topic);
        expect_eq("sum of the end offsets", end.values().sum(), EVENTS as f64)?;
        let position = per_partition(s, "tidemill_source_position", &topic);
        (position == end).then_some(()).ok_or_else(|| format!("positions {position:?} vs end offsets {end:?}"))?;
        expect_eq("dead letters written", s.sum("tidemill_records_in_total", &[("tidemill_node", "dlq")]), malformed)?;
        let orders = s.sum("tidemill_records_in_total", &[("tidemill_node", "orders")]);
        expect_eq("orders written", orders, oracle.orders.len() as f64)?;
        expect_eq("tidemill_job_lag_growing", s.value("tidemill_job_lag_growing", &[]).unwrap_or(f64::NAN), 0.0)
    });
    let caught_up = produced_at.elapsed();
    let epoch = s.value("tidemill_checkpoint_last_committed_epoch", &[]).unwrap_or(0.0);

    // Two more checkpoints: everything read so far is in a committed one, so the
    // source latency has observed every batch and the sinks have committed.
    let s = job.scrape_until("two more checkpoints", |s| {
        let now = s.value("tidemill_checkpoint_last_committed_epoch", &[]).unwrap_or(0.0);
        (now >= epoch + 2.0)
            .then_some(())
            .ok_or_else(|| format!("last committed epoch {now}, waiting for {}", epoch + 2.0))
    });

    // Records.
    assert_eq!(s.sum("tidemill_records_out_total", SOURCE), EVENTS as f64, "records emitted by the source");
    assert_eq!(s.sum("tidemill_records_in_total", &[("tidemill_node", "decode")]), EVENTS as f64);
    assert_eq!(
        s.sum("tidemill_records_out_total", &[("tidemill_node", "decode")]),
        EVENTS as f64 - malformed,
        "decode emits the well-formed records"
    );
    assert_eq!(s.sum("tidemill_records_late_total", &[]), 0.0, "no late records in this input");

    // Dead letters by reason, exactly the oracle's malformed lines.
    let dlq = s.sum_by("tidemill_dead_letters_total", "tidemill_dead_letter_reason", &[]);
    assert_eq!(dlq, malformed_by_reason, "dead-letter counters by reason");
    let rejecting: BTreeSet<&str> = s
        .series("tidemill_dead_letters_total", &[])
        .filter_map(|x| x.labels.get("tidemill_node").map(String::as_str))
        .collect();
    assert_eq!(rejecting, BTreeSet::from(["decode"]), "only decode rejects records of this input");

    // Lag gauges, and the lag-growth detector quiet.
    assert_eq!(s.value("tidemill_job_lag", &[]), Some(0.0));
    assert_eq!(s.value("tidemill_job_lag_growing", &[]), Some(0.0));
    for x in s.series("tidemill_source_lag", &[("messaging_destination_name", &topic)]) {
        assert_eq!(x.labels.get("messaging_system").map(String::as_str), Some("kafka"), "{x:?}");
        assert_eq!(x.labels.get("messaging_consumer_group_name"), Some(&topic), "{x:?}");
        assert_eq!(x.labels.get("tidemill_node").map(String::as_str), Some("kafka"), "{x:?}");
    }

    // Checkpoints.
    for phase in ["barrier", "manifest", "commit", "total"] {
        let h = s
            .histogram("tidemill_checkpoint_duration_seconds", &[("tidemill_checkpoint_phase", phase)])
            .unwrap_or_else(|| panic!("no checkpoint duration histogram for phase {phase}"));
        assert!(h.count >= 2.0 && h.sum > 0.0, "checkpoint phase {phase}: {h:?}");
        assert_eq!(h.buckets.last().map(|b| b.1), Some(h.count), "+Inf bucket equals _count: {h:?}");
    }
    assert!(s.value("tidemill_checkpoint_committed_total", &[]).unwrap_or(0.0) >= 2.0);
    assert_eq!(s.sum("tidemill_checkpoint_failures_total", &[]), 0.0, "no failed checkpoint");
    assert_eq!(s.sum("tidemill_restarts_total", &[]), 0.0, "no restart");
    let size = s.histogram("tidemill_checkpoint_size_bytes", &[]).expect("checkpoint size histogram");
    assert!(size.count >= 2.0 && size.sum > 0.0, "{size:?}");
    for sink in ["orders", "dlq", "order_aggregates"] {
        let h = s.histogram("tidemill_sink_commit_duration_seconds", &[("tidemill_node", sink)]);
        assert!(h.as_ref().is_some_and(|h| h.count > 0.0), "commit durations of {sink}: {h:?}");
        let h = s.histogram("tidemill_checkpoint_snapshot_duration_seconds", &[("tidemill_node", sink)]);
        assert!(h.as_ref().is_some_and(|h| h.count > 0.0), "staging durations of {sink}: {h:?}");
    }
    let last = s.value("tidemill_checkpoint_last_committed_time_seconds", &[]).expect("last committed time");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    assert!((now - 60.0..=now + 1.0).contains(&last), "last checkpoint at {last}, now {now}");

    // Latency to visibility: observed, positive, all below the bound.
    for (name, node) in [
        ("tidemill_sink_visibility_latency_seconds", "orders"),
        ("tidemill_source_visibility_latency_seconds", "kafka"),
    ] {
        let h = s.histogram(name, &[("tidemill_node", node)]).unwrap_or_else(|| panic!("no {name} for {node}"));
        assert!(h.count > 0.0 && h.sum > 0.0, "{name}{{{node}}} has observations: {h:?}");
        assert_eq!(h.at_or_below(LATENCY_BOUND_S), h.count, "{name}{{{node}}} all below {LATENCY_BOUND_S} s: {h:?}");
        assert!(h.sum / h.count < LATENCY_BOUND_S, "{name}{{{node}}} mean: {h:?}");
    }
    // Every read batch is observed once its checkpoint committed: at least one
    // observation per partition, at most one per record.
    let source = s.histogram("tidemill_source_visibility_latency_seconds", SOURCE).unwrap();
    assert!((PARTITIONS as f64..=EVENTS as f64).contains(&source.count), "{source:?}");

    // Watermark lag: the watermark trails the newest event time by the delay.
    let wm = s.value("tidemill_watermark_lag_seconds", &[("tidemill_node", "event_time")]).expect("watermark lag");
    let bound = WATERMARK_DELAY_S + 40.0 + started.elapsed().as_secs_f64();
    assert!(
        (WATERMARK_DELAY_S..bound).contains(&wm),
        "watermark lag {wm} s, expected in [{WATERMARK_DELAY_S}, {bound})"
    );

    // Backpressure instruments on every edge of the graph.
    let edges: BTreeSet<(String, String)> = s
        .series("tidemill_edge_capacity", &[])
        .map(|x| (x.labels["tidemill_edge_from"].clone(), x.labels["tidemill_edge_to"].clone()))
        .collect();
    assert!(edges.contains(&("kafka".into(), "decode".into())), "{edges:?}");
    for name in ["tidemill_edge_in_flight", "tidemill_edge_fill_ratio", "tidemill_edge_blocked_time_seconds_total"] {
        assert_eq!(s.series(name, &[]).count(), edges.len(), "{name}: one series per edge");
    }

    // Health while running.
    assert_eq!(s.value("tidemill_job_ready", &[]), Some(1.0));
    assert_eq!(job.get("/healthz"), (200, "ok".to_string()));
    assert_eq!(job.get("/readyz"), (200, "ready".to_string()));
    let target = s.series("target_info", &[]).next().expect("target_info");
    assert_eq!(target.labels.get("tidemill_job").map(String::as_str), Some("order-aggregates"));

    // The dashboard and the alerts query what this scrape exports.
    check_queries(&s);

    let log = std::fs::read_to_string(&job.log).unwrap_or_default();
    assert!(log.contains("consumer lag is growing"), "the detector warned in the log:\n{}", job.log_tail());

    let status = job.terminate();
    assert!(status.success(), "SIGTERM stops the job cleanly: {status}\n{}", job.log_tail());

    // The counters agree with the dead-letter table.
    let table = dead_letter_payloads(&dir.path().join("out/dlq"));
    assert_eq!(table, oracle.malformed, "every malformed record once in the DLQ table");
    eprintln!(
        "kafka_metrics: {EVENTS} records; highest total lag scraped {max_lag}; caught up {:.1} s after the producer \
         finished; test took {:.1} s",
        caught_up.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

/// Every `tidemill_*` metric queried by the Grafana dashboard and by the
/// suggested alerts exists in `s` (or is a counter documented to appear with its
/// first event).
fn check_queries(s: &Scrape) {
    let dashboard_path = tidemill_testkit::repo_root().join("docs/grafana/tidemill-dashboard.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(&dashboard_path).expect("read the dashboard"))
        .expect("the dashboard is JSON");
    let mut exprs = Vec::new();
    collect_exprs(&dashboard, &mut exprs);
    assert!(exprs.len() >= 10, "the dashboard has queries: {exprs:?}");

    let ops = std::fs::read_to_string(tidemill_testkit::repo_root().join("docs/operations.md"))
        .expect("read docs/operations.md");
    let alerts = ops.split("## Suggested alerts").nth(1).expect("a Suggested alerts section");
    let alerts = alerts.split("\n## ").next().unwrap_or_default().to_string();
    exprs.push(alerts);

    let mut queried = BTreeSet::new();
    for e in &exprs {
        queried.extend(promql_metric_names(e, "tidemill_"));
    }
    let missing: Vec<&String> =
        queried.iter().filter(|n| !s.has_series_name(n) && !EVENT_ONLY.contains(&n.as_str())).collect();
    assert!(missing.is_empty(), "queried but not exported: {missing:?}\nexported: {:?}", s.families());
    for name in EVENT_ONLY {
        assert!(ops.contains(name), "{name} is documented");
    }
}

/// The `expr` strings of every target (and every templating `query`).
fn collect_exprs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr", Value::String(e)) => out.push(e.clone()),
                    ("query", Value::String(e)) => out.push(e.clone()),
                    ("query", Value::Object(q)) => {
                        if let Some(Value::String(e)) = q.get("query") {
                            out.push(e.clone());
                        }
                    }
                    _ => collect_exprs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_exprs(i, out)),
        _ => {}
    }
}
