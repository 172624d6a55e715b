//! The status page in a real browser (headless Chromium) and its JSON API on the
//! order job reading a real broker: the graph is the job's plan with a rate on
//! every node, the figures agree with `/metrics`, payloads are hidden by default,
//! and a blocked sink shows as the bottleneck. Screenshots go to the test output
//! folder (`target/test-output/`).
//!
//! Needs the broker (`scripts/kafka start`) and Chromium (`scripts/test` installs it).

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value as Json;
use tidemill_runtime::metrics::{MetricsAddr, MetricsConfig};
use tidemill_runtime::testing::{Collected, VecSource};
use tidemill_runtime::{Batch, DeadLetter, Epoch, Job, JobConfig, NodeContext, Sink, SinkError, StagedOutput};
use tidemill_testkit::browser;
use tidemill_testkit::kafka::{brokers, TopicGuard};
use tidemill_testkit::metrics::{free_local_addr, http_get, poll_until, Scrape};
use tidemill_testkit::process::LoggedChild;
use tidemill_tests::binary::{order_aggregates, order_producer};
use tidemill_tests::group::WAIT;

fn get_json(addr: std::net::SocketAddr, path: &str) -> Result<Json, String> {
    let (status, body) = http_get(addr, path).map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("{path}: {status} {body}"));
    }
    serde_json::from_str(&body).map_err(|e| format!("{path}: {e}: {body}"))
}

fn node_names(job: &Json) -> BTreeSet<String> {
    job["nodes"].as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap().to_string()).collect()
}

/// Every plan node is drawn with a number as its input rate.
fn assert_every_node_drawn_with_a_rate(dom: &str, nodes: &BTreeSet<String>) {
    for node in nodes {
        let rate = browser::attribute(dom, &format!("data-node=\"{node}\""), "data-rate-in");
        assert!(rate.is_some_and(|r| r.parse::<f64>().is_ok()), "node {node} drawn with a rate ({rate:?}) in\n{dom}");
    }
}

#[test]
fn the_order_jobs_page_draws_its_plan_with_rates_and_the_api_agrees_with_metrics() {
    let topic = TopicGuard::unique("orders-status");
    let status = Command::new(order_producer())
        .args(["--brokers", &brokers(), "--topic", &topic.name, "--create-partitions", "3", "--generate", "30000"])
        .args(["--malformed-share", "0.02"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let dir = tempfile::tempdir().unwrap();
    let addr = free_local_addr();
    let mut job = Command::new(order_aggregates());
    // Unbounded and throttled (300 records per partition per checkpoint): it is
    // still reading while the page is looked at.
    job.args(["--brokers", &brokers(), "--topic", &topic.name, "--group-id", &topic.name])
        .args(["--checkpoint-interval", "200ms", "--max-records-per-checkpoint", "300"])
        .args(["--metrics-addr", &addr.to_string(), "--log", "warn"])
        .arg("--output")
        .arg(dir.path().join("out"))
        .arg("--checkpoint-dir")
        .arg(dir.path().join("chk"));
    let mut child = LoggedChild::spawn("status", job);

    let job = poll_until(WAIT, || {
        let doc = get_json(addr, "/api/v1/job")?;
        let job = doc["jobs"][0].clone();
        let read =
            job["nodes"].as_array().unwrap().iter().find(|n| n["kind"] == "source").unwrap()["records_in"].clone();
        let dead = get_json(addr, "/api/v1/dead-letters")?;
        match (
            job["status"] == "running",
            read.as_u64().unwrap_or(0) > 0,
            !dead["jobs"][0]["latest"].as_array().unwrap().is_empty(),
        ) {
            (true, true, true) => Ok(job),
            _ => Err(format!("not reading yet: {job}")),
        }
    })
    .unwrap();

    // The graph is the plan: the nodes /metrics reports, joined as the order job is.
    let nodes = node_names(&job);
    let (_, text) = http_get(addr, "/metrics").unwrap();
    let metric_nodes: BTreeSet<String> = Scrape::parse(&text)
        .unwrap()
        .series("tidemill_records_in_total", &[])
        .filter_map(|s| s.labels.get("tidemill_node").cloned())
        .collect();
    assert_eq!(nodes, metric_nodes, "the API's nodes are the job's");
    let edges: BTreeSet<(String, String)> = job["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["from"].as_str().unwrap().to_string(), e["to"].as_str().unwrap().to_string()))
        .collect();
    for (from, to) in [
        ("kafka", "decode"),
        ("decode", "event_time"),
        ("windows", "aggregate_rows"),
        ("aggregate_rows", "order_aggregates"),
    ] {
        assert!(edges.contains(&(from.into(), to.into())), "{from} -> {to} in {edges:?}");
    }

    // The figures are /metrics': the API's reading lies between two scrapes.
    let source_in = |text: &str| -> f64 {
        Scrape::parse(text)
            .unwrap()
            .series("tidemill_records_in_total", &[("tidemill_node", "kafka")])
            .map(|s| s.value)
            .sum()
    };
    let before = source_in(&http_get(addr, "/metrics").unwrap().1);
    let api = get_json(addr, "/api/v1/job").unwrap()["jobs"][0]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "kafka")
        .unwrap()["records_in"]
        .as_f64()
        .unwrap();
    let after = source_in(&http_get(addr, "/metrics").unwrap().1);
    assert!(before <= api && api <= after, "{before} <= {api} <= {after}");

    // Every partition of the topic, with its place, lag and state.
    let parts = get_json(addr, "/api/v1/partitions").unwrap();
    let parts = parts["jobs"][0]["partitions"].as_array().unwrap().clone();
    let ids: BTreeSet<&str> =
        parts.iter().map(|p| p["labels"]["messaging.destination.partition.id"].as_str().unwrap()).collect();
    assert_eq!(ids, BTreeSet::from(["0", "1", "2"]), "{parts:?}");
    let known = |v: &Json| v.is_i64() || v.is_null();
    assert!(
        parts.iter().all(|p| known(&p["lag"]) && p["paused"].is_boolean() && p["caught_up"].is_boolean()),
        "{parts:?}"
    );

    // Payloads are hidden unless the job allows them.
    let dead = get_json(addr, "/api/v1/dead-letters").unwrap();
    assert_eq!(dead["jobs"][0]["payloads_shown"], false);
    let latest = dead["jobs"][0]["latest"].as_array().unwrap();
    assert!(latest.iter().all(|d| d["payload_prefix"].is_null() && d["source"] == "kafka"), "{latest:?}");

    let url = format!("http://{addr}/");
    let dom = browser::dom(&url);
    assert!(dom.contains("data-status=\"running\""), "the status at the top:\n{dom}");
    assert_every_node_drawn_with_a_rate(&dom, &nodes);
    browser::screenshot(&url, &browser::test_output().join("status-page-order-job.png"));
    child.signal("TERM");
    assert!(child.wait_timeout(WAIT).success(), "{}", child.tail(20));
}

/// Takes a batch every 50 ms: the job's bottleneck.
struct SlowSink;

impl Sink for SlowSink {
    type In = u64;

    async fn write(&mut self, _batch: Batch<u64>) -> Result<(), SinkError> {
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok(())
    }

    async fn stage(&mut self, _epoch: Epoch) -> Result<StagedOutput, SinkError> {
        Ok(StagedOutput::default())
    }

    async fn commit(&mut self, _epoch: Epoch, _staged: StagedOutput) -> Result<(), SinkError> {
        Ok(())
    }
}

#[test]
fn a_blocked_sink_is_drawn_as_the_bottleneck() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let metrics = MetricsConfig { addr: MetricsAddr(Some("127.0.0.1:0".parse().unwrap())), ..MetricsConfig::default() };
    let job = Job::builder("bottleneck").config(JobConfig { batch_size: 64, ..JobConfig::default() }).metrics(metrics);
    let values: Arc<Vec<u64>> = Arc::new((0..5_000_000).collect());
    job.source("numbers", 1, move |ctx: &NodeContext| Ok(VecSource::new(values.clone(), ctx)))
        .map("double", |v: &u64| v * 2)
        .sink("slow", |_: &NodeContext| Ok(SlowSink));
    let dead: Arc<Mutex<Collected<DeadLetter>>> = Arc::default();
    job.dead_letters()
        .sink("dlq", move |_: &NodeContext| Ok(tidemill_runtime::testing::CollectSink::new(dead.clone())));
    let handle = runtime.block_on(job.build().unwrap().start()).unwrap();
    let addr = handle.metrics().http_addr().unwrap();
    // The edge into the sink fills up and its sender waits: wait for that to show.
    poll_until(WAIT, || {
        let job = get_json(addr, "/api/v1/job")?;
        let edge = job["jobs"][0]["edges"].as_array().unwrap().iter().find(|e| e["to"] == "slow").cloned().unwrap();
        (edge["blocked_seconds"].as_f64().unwrap() > 1.0).then_some(()).ok_or(format!("not blocked yet: {edge}"))
    })
    .unwrap();
    let url = format!("http://{addr}/");
    let dom = browser::dom(&url);
    assert_eq!(browser::attribute(&dom, "data-node=\"slow\"", "data-bottleneck"), Some("true"), "{dom}");
    assert_eq!(browser::attribute(&dom, "data-node=\"double\"", "data-bottleneck"), Some("false"), "{dom}");
    browser::screenshot(&url, &browser::test_output().join("status-page-bottleneck.png"));
    runtime.block_on(handle.abort());
}
