//! The Kafka broker stops for 30 s while the order job reads, and starts again:
//! the job waits (one warning naming the brokers and topic, `/readyz` not ready
//! with the reason, `/metrics` still serving the lag of every partition as last
//! known, no restart), reads on when the broker is back (an info line, ready
//! again), finishes, and its three Delta tables equal the batch oracle: every
//! window once with the right count, every distinct order, every malformed
//! record once in the DLQ.
//!
//! The broker is the test's own ([`PrivateBroker`]): stopping the shared one
//! would break the other tests. 100,000 generated orders (duplicates, malformed
//! and out-of-order ones) go into 6 partitions before the job starts; the job is
//! bounded, so that it ends by itself at the end offsets of its first start. It
//! reads at most 500 records per partition per 1 s checkpoint and prefetches
//! only 256 KB per partition (the default 16 MB would hold the whole topic in
//! the client before the broker stops), so it is still reading when the broker
//! stops after its first checkpoint.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use tidemill_job_examples::orders::{GeneratorConfig, OrderGenerator};
use tidemill_testkit::broker::PrivateBroker;
use tidemill_testkit::metrics::{free_local_addr, http_get, poll_until, scrape, Scrape};
use tidemill_testkit::process::LoggedChild;
use tidemill_tests::binary::order_aggregates;
use tidemill_tests::checkpoints::latest_epoch;
use tidemill_tests::kafka::produce_generated;
use tidemill_tests::order_oracle::OrderOracle;
use tidemill_tests::order_tables::assert_kafka_tables_equal;

const TOPIC: &str = "orders-outage";
const PARTITIONS: u32 = 6;
const ORDERS: u64 = 100_000;
/// How long the broker stays stopped.
const OUTAGE: Duration = Duration::from_secs(30);
/// How long each awaited step may take (debug build, 2 shared cores).
const STEP: Duration = Duration::from_secs(180);
/// How long the job may take to finish after the broker is back.
const FINISH: Duration = Duration::from_secs(600);

fn generator() -> GeneratorConfig {
    GeneratorConfig {
        seed: 30,
        count: ORDERS,
        users: 500,
        max_jitter: Duration::from_secs(120),
        duplicate_share: 0.02,
        malformed_share: 0.02,
        ..GeneratorConfig::default()
    }
}

/// The bounded order job on the private broker, with its metrics endpoint at
/// `metrics` and its default log filter (the lines asserted below are logged
/// with it).
fn start_job(bootstrap: &str, dir: &Path, metrics: SocketAddr) -> LoggedChild {
    let mut command = Command::new(order_aggregates());
    command
        .args(["--brokers", bootstrap, "--topic", TOPIC, "--bounded", "--group-id", TOPIC])
        .arg("--output")
        .arg(dir.join("out"))
        .arg("--checkpoint-dir")
        .arg(dir.join("checkpoints"))
        .args(["--checkpoint-interval", "1s", "--max-records-per-checkpoint", "500", "--shards", "2"])
        .args(["--kafka-property", "queued.max.messages.kbytes=256"])
        .args(["--kafka-property", "queued.min.messages=1000"])
        .args(["--kafka-property", "max.partition.fetch.bytes=65536"])
        .args(["--metrics-addr", &metrics.to_string()])
        .env_remove("RUST_LOG")
        .env_remove("TIDEMILL_FAILPOINT")
        .env_remove("TIDEMILL_METRICS_ADDR")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT");
    LoggedChild::spawn("order-aggregates", command)
}

/// `/readyz`: status and body.
fn readyz(addr: SocketAddr) -> Result<(u16, String), String> {
    http_get(addr, "/readyz").map_err(|e| format!("GET /readyz: {e}"))
}

/// Per-partition lag series of the topic.
fn lag_partitions(s: &Scrape) -> usize {
    s.sum_by("tidemill_source_lag", "messaging_destination_partition_id", &[("messaging_destination_name", TOPIC)])
        .len()
}

/// One look at the job while the broker is stopped: not ready for `reason`, the
/// metrics served with the lag as last known, the pipeline not restarted.
fn check_waiting(job: &mut LoggedChild, metrics: SocketAddr, reason: &str) -> Result<Scrape, String> {
    job.alive().unwrap_or_else(|e| panic!("{e}"));
    match readyz(metrics)? {
        (503, body) if body.contains(reason) => {}
        other => return Err(format!("/readyz answered {other:?}, expected 503 with `{reason}`")),
    }
    let s = scrape(metrics)?;
    if lag_partitions(&s) != PARTITIONS as usize {
        return Err(format!("lag series of {} partitions, expected {PARTITIONS}", lag_partitions(&s)));
    }
    let lag = s.value("tidemill_job_lag", &[]).unwrap_or(0.0);
    if lag <= 0.0 {
        return Err(format!("job lag {lag}: the job had read everything, the outage was not mid-run"));
    }
    let gauges = (
        s.value("tidemill_job_ready", &[]),
        s.value("tidemill_node_not_ready", &[("tidemill_node", "kafka"), ("tidemill_condition", "brokers")]),
        s.sum("tidemill_restarts_total", &[]),
    );
    if gauges != (Some(0.0), Some(1.0), 0.0) {
        return Err(format!("(job ready, kafka brokers not ready, restarts) = {gauges:?}, expected (0, 1, 0)"));
    }
    Ok(s)
}

#[test]
fn a_broker_outage_mid_run_is_waited_out_and_the_tables_are_exactly_once() {
    let started = Instant::now();
    let at = || format!("{:.1}s", started.elapsed().as_secs_f64());
    let mut broker = PrivateBroker::start().expect("start a private Kafka broker");
    let bootstrap = broker.bootstrap();
    let config = generator();
    produce_generated(&bootstrap, TOPIC, PARTITIONS, "order-id", &config);
    eprintln!("{}: private broker {bootstrap} up, {ORDERS} orders produced", at());

    let dir = tempfile::tempdir().unwrap();
    let metrics = free_local_addr();
    let mut job = start_job(&bootstrap, dir.path(), metrics);
    let checkpoints = dir.path().join("checkpoints");
    // Reading: ready, a first checkpoint committed, a lag series per partition.
    poll_until(STEP, || {
        job.alive().unwrap_or_else(|e| panic!("{e}"));
        if latest_epoch(&checkpoints) < 1 {
            return Err("no checkpoint yet".into());
        }
        match readyz(metrics)? {
            (200, _) if lag_partitions(&scrape(metrics)?) == PARTITIONS as usize => Ok(()),
            other => Err(format!("/readyz {other:?}, or not every partition has a lag series")),
        }
    })
    .unwrap_or_else(|e| panic!("the job never got going: {e}"));

    broker.stop().expect("stop the broker");
    let stopped = Instant::now();
    eprintln!("{}: broker stopped", at());

    let reason = format!("waiting for kafka brokers {bootstrap}");
    poll_until(STEP, || check_waiting(&mut job, metrics, &reason))
        .unwrap_or_else(|e| panic!("the job did not say it waits for its brokers: {e}\nlog:\n{}", job.tail(40)));
    eprintln!("{}: not ready {:?} after the stop", at(), stopped.elapsed());
    // The rest of the outage: a look every second (the outage's length is the
    // fault itself, not something to await).
    let mut looks = 0;
    let last = loop {
        let s = check_waiting(&mut job, metrics, &reason)
            .unwrap_or_else(|e| panic!("while the broker is stopped: {e}\nlog:\n{}", job.tail(40)));
        looks += 1;
        if stopped.elapsed() >= OUTAGE {
            break s;
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    let lag_left = last.value("tidemill_job_lag", &[]).unwrap_or(0.0);
    eprintln!("{}: {looks} looks while stopped, lag {lag_left}; starting the broker again", at());

    broker.start_again().expect("start the broker again");
    eprintln!("{}: broker back after {:?}", at(), stopped.elapsed());
    poll_until(STEP, || {
        job.alive().unwrap_or_else(|e| panic!("{e}"));
        match readyz(metrics)? {
            (200, body) if body == "ready\n" => Ok(()),
            other => Err(format!("/readyz {other:?}")),
        }
    })
    .unwrap_or_else(|e| panic!("the job did not become ready again: {e}\nlog:\n{}", job.tail(40)));
    eprintln!("{}: ready again", at());
    job.wait_success(FINISH);
    eprintln!("{}: the job finished", at());

    // Once per outage, not per poll or connection attempt.
    let unreachable = job.lines_with("kafka brokers unreachable");
    assert_eq!(unreachable.len(), 1, "one warning for the outage: {:#?}", job.lines_with("kafka brokers"));
    let line = &unreachable[0];
    assert!(line.contains(" WARN ") && line.contains(&bootstrap) && line.contains(TOPIC), "{line}");
    let back = job.lines_with("kafka brokers reachable again");
    assert_eq!(back.len(), 1, "one line when the brokers are back: {:#?}", job.lines_with("kafka brokers"));
    assert!(back[0].contains(" INFO ") && back[0].contains(&bootstrap), "{}", back[0]);
    let repeated: Vec<String> = job
        .lines_with("AllBrokersDown")
        .into_iter()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .collect();
    assert!(repeated.is_empty(), "no warning per poll: {} lines like {:?}", repeated.len(), repeated.first());

    let oracle = OrderOracle::compute(OrderGenerator::events(&config), 300_000, 60_000);
    assert_kafka_tables_equal(&dir.path().join("out"), &oracle);
    eprintln!("{}: tables equal the oracle", at());
}
