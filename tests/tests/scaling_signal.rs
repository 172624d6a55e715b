//! The scaling signal (`tidemill_desired_processes`) on a live group with a real
//! broker: a producer outpaces the one process that reads the topic, the signal
//! rises within a bounded time, two more processes join and read the same group
//! figures, the backlog drains, the signal falls back to one process once there
//! is nothing left to do, and the tables still equal the batch oracle. A second
//! test holds a steady load for five minutes and checks the signal never moves.
//!
//! One process's capacity is made small and known by capping each partition at
//! 200 records per 300 ms checkpoint (at most 4,000 records/s over 6 partitions),
//! so a producer pacing 5,000 records/s outpaces it on any machine. Needs the
//! broker `scripts/kafka start` runs (or `KAFKA_BOOTSTRAP_SERVERS`).

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use tidemill_job_examples::orders::GeneratorConfig;
use tidemill_testkit::kafka::{brokers, TopicGuard};
use tidemill_testkit::metrics::{free_local_addr, poll_until, scrape, scrape_until};
use tidemill_testkit::process::LoggedChild;
use tidemill_tests::binary::{order_aggregates, order_producer};
use tidemill_tests::group::{generator, Group, PARTITIONS, WAIT};

/// The signal's settings for a test that runs in minutes, not hours.
const SCALING: &str = r#"
[metrics.scaling]
sample_interval = "1s"
window = "10s"
raise_after = "5s"
lower_after = "15s"
min_change_interval = "10s"
catch_up = "60s"
"#;

/// An unbounded member with the metrics endpoint at `metrics`.
fn member(name: &str, group: &Group<'_>, config: &Path, metrics: SocketAddr) -> LoggedChild {
    let mut c = Command::new(order_aggregates());
    c.args(["--brokers", &brokers(), "--topic", group.topic, "--group", "--group-id", group.topic])
        .args(["--session-timeout", group.session_timeout, "--checkpoint-interval", "300ms"])
        .args(["--max-records-per-checkpoint", "200", "--shards", "1", "--kafka-consumers", "1"])
        .args(["--metrics-addr", &metrics.to_string(), "--log", group.log])
        .arg("--config")
        .arg(config)
        .arg("--output")
        .arg(group.output)
        .arg("--checkpoint-dir")
        .arg(group.checkpoints)
        .env_remove("TIDEMILL_FAILPOINT");
    LoggedChild::spawn(name, c)
}

/// Starts `order-producer` pacing `config`'s orders (keyed by user) at `rate`
/// records/s into a new topic of [`PARTITIONS`] partitions, with the tests' 2%
/// duplicate and malformed shares when `faulty` (else the producer's defaults);
/// returns once the topic exists.
fn paced_producer(topic: &str, config: &GeneratorConfig, rate: u64, faulty: bool) -> LoggedChild {
    let mut producer = Command::new(order_producer());
    producer
        .args(["--brokers", &brokers(), "--topic", topic, "--create-partitions", &PARTITIONS.to_string()])
        .args(["--key", "user-id", "--generate", &config.count.to_string(), "--seed", &config.seed.to_string()])
        .args(["--users", &config.users.to_string(), "--jitter", "120s", "--rate", &rate.to_string()]);
    if faulty {
        producer.args(["--duplicate-share", "0.02", "--malformed-share", "0.02"]);
    }
    let producer = LoggedChild::spawn("producer", producer);
    poll_until(WAIT, || {
        tidemill_kafka::partition_count(&brokers(), topic, Duration::from_secs(2))
            .map_err(|e| e.to_string())
            .and_then(|n| (n == PARTITIONS as usize).then_some(()).ok_or_else(|| format!("{n} partitions")))
    })
    .unwrap();
    producer
}

fn gauge(addr: SocketAddr, name: &str) -> Result<f64, String> {
    scrape(addr)?.value(name, &[]).ok_or_else(|| format!("no {name} yet"))
}

#[test]
fn the_signal_rises_when_the_input_outpaces_the_group_and_falls_when_it_has_caught_up() {
    let dir = tempfile::tempdir().unwrap();
    let guard = TopicGuard::unique("orders-scaling");
    let topic = guard.name.clone();
    let config = generator(17, 100_000);
    let scaling = dir.path().join("scaling.toml");
    std::fs::write(&scaling, SCALING).unwrap();
    let (output, checkpoints) = (dir.path().join("out"), dir.path().join("checkpoints"));
    let log = "warn,tidemill_kafka::group=info,tidemill::progress=info";
    let group = Group { topic: &topic, output: &output, checkpoints: &checkpoints, session_timeout: "6s", log };

    // 100,000 orders paced at 5,000 records/s: 20 s of input.
    let mut producer = paced_producer(&topic, &config, 5_000, true);

    let (a_addr, b_addr, c_addr) = (free_local_addr(), free_local_addr(), free_local_addr());
    let mut a = member("A", &group, &scaling, a_addr);
    a.await_line(WAIT, &["partitions assigned"]);
    let assigned = Instant::now();
    let first = scrape_until(a_addr, Duration::from_secs(60), |s| match s.value("tidemill_desired_processes", &[]) {
        Some(d) if d >= 2.0 => Ok(()),
        d => Err(format!("A's signal is {d:?}")),
    })
    .unwrap_or_else(|e| panic!("the signal did not rise: {e}\n{}", a.tail(30)));
    eprintln!(
        "signal {:?} after {:?}: input {:?} records/s, capacity {:?}",
        first.value("tidemill_desired_processes", &[]),
        assigned.elapsed(),
        first.value("tidemill_group_input_rate", &[]),
        first.value("tidemill_process_capacity", &[]),
    );
    assert_eq!(first.value("tidemill_group_members", &[]), Some(1.0));
    assert!(
        first.value("tidemill_desired_processes", &[]).unwrap() <= f64::from(PARTITIONS),
        "never above the partitions"
    );
    assert!(!a.lines_with("desired processes changed").is_empty(), "the change is logged:\n{}", a.tail(20));

    // B and C join, as an autoscaler would start them: all read the same group figures.
    let (mut b, mut c) = (member("B", &group, &scaling, b_addr), member("C", &group, &scaling, c_addr));
    poll_until(WAIT, || {
        let members = [a_addr, b_addr, c_addr].map(|addr| gauge(addr, "tidemill_group_members"));
        let members: Vec<f64> = members.into_iter().collect::<Result<_, _>>()?;
        (members == [3.0; 3]).then_some(()).ok_or_else(|| format!("members seen by A, B, C: {members:?}"))
    })
    .unwrap();
    producer.wait_success(WAIT);

    // The backlog drains; with nothing produced and nothing behind, one process.
    // 360 s: on the 2-core CI machine the three members drained it in just over
    // 240 s (lag 384 and falling when a 240 s limit ran out).
    poll_until(Duration::from_secs(360), || {
        let (lag, desired) = (gauge(a_addr, "tidemill_group_lag")?, gauge(a_addr, "tidemill_desired_processes")?);
        (lag == 0.0 && desired == 1.0).then_some(()).ok_or_else(|| format!("lag {lag}, signal {desired}"))
    })
    .unwrap_or_else(|e| panic!("the signal did not fall back: {e}\n{}", a.tail(30)));

    for m in [&mut a, &mut b, &mut c] {
        m.signal("TERM");
        m.wait_success(WAIT);
    }
    // A bounded member fires the windows still open and ends.
    let mut finisher = group.member("F", None);
    finisher.wait_success();
    group.assert_tables_equal_the_oracle(&config);
}

/// Under a steady load (a producer pacing 2,000 records/s, well within one
/// process) the signal, with the default settings, stays where it started for
/// five minutes: real noise in the input rate, the busy share and the lag does
/// not make it flap.
#[test]
fn under_a_steady_load_the_signal_does_not_change_for_five_minutes() {
    let dir = tempfile::tempdir().unwrap();
    let guard = TopicGuard::unique("orders-steady");
    let topic = guard.name.clone();
    let config = generator(19, 2_000 * 400);
    let defaults = dir.path().join("scaling.toml");
    std::fs::write(&defaults, "[metrics.scaling]\n").unwrap();
    let (output, checkpoints) = (dir.path().join("out"), dir.path().join("checkpoints"));
    let log = "warn,tidemill_kafka::group=info,tidemill::progress=info";
    let group = Group { topic: &topic, output: &output, checkpoints: &checkpoints, session_timeout: "6s", log };
    let producer = paced_producer(&topic, &config, 2_000, false);
    let addr = free_local_addr();
    // Uncapped: the process reads as fast as it can.
    let mut c = Command::new(order_aggregates());
    c.args(["--brokers", &brokers(), "--topic", &topic, "--group", "--group-id", &topic])
        .args(["--session-timeout", group.session_timeout, "--checkpoint-interval", "1s", "--shards", "1"])
        .args(["--metrics-addr", &addr.to_string(), "--log", group.log])
        .arg("--config")
        .arg(&defaults)
        .arg("--output")
        .arg(group.output)
        .arg("--checkpoint-dir")
        .arg(group.checkpoints);
    let mut a = LoggedChild::spawn("A", c);
    let first = scrape_until(addr, WAIT, |s| {
        s.value("tidemill_process_capacity", &[]).map(drop).ok_or_else(|| "no capacity estimate yet".into())
    })
    .unwrap();
    let start = first.value("tidemill_desired_processes", &[]).unwrap();
    let began = Instant::now();
    let mut seen = Vec::new();
    while began.elapsed() < Duration::from_secs(300) {
        a.alive().unwrap();
        let s = scrape(addr).unwrap();
        let figures = ["tidemill_desired_processes", "tidemill_group_input_rate", "tidemill_process_capacity"]
            .map(|name| s.value(name, &[]));
        assert_eq!(figures[0], Some(start), "the signal changed after {:?}; seen: {seen:?}", began.elapsed());
        seen.push(figures);
        std::thread::sleep(Duration::from_secs(5)); // a sampling period, not a wait for an event
    }
    assert!(a.lines_with("desired processes changed").is_empty(), "{}", a.tail(20));
    let rates: Vec<f64> = seen.iter().filter_map(|f| f[1]).collect();
    assert!(rates.iter().any(|r| (1_500.0..2_500.0).contains(r)), "the load was measured: {rates:?}");
    eprintln!("signal {start} for 5 min; input rates {:?}", &rates[rates.len() - 5..]);
    producer.signal("TERM");
}
