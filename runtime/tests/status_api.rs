//! The status page's JSON API on a running job: the graph is the job's plan, its
//! figures are the ones `/metrics` reports, a failed checkpoint appears with its
//! error, a restart with its cause, and dead letters without their payload
//! unless the job allows showing it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value as Json;
use tidemill_runtime::checkpoint::{CheckpointError, CheckpointStore, Manifest, StoreFuture};
use tidemill_runtime::metrics::{MetricsAddr, MetricsConfig};
use tidemill_runtime::testing::{CollectSink, Collected, VecSource};
use tidemill_runtime::{
    Batch, DeadLetter, Epoch, Job, JobConfig, NodeContext, Operator, OperatorError, Output, RestartPolicy, Source,
    SourceError, SourcePoll, StateSnapshot,
};
use tidemill_testkit::metrics::{http_get_async, Scrape};
use tokio::sync::watch;

/// A [`VecSource`] that stays idle once drained (the job keeps running) and
/// says so on `drained`.
struct Gated {
    inner: VecSource<i64>,
    drained: watch::Sender<bool>,
}

impl Source for Gated {
    type Out = i64;

    async fn poll(&mut self, max_records: usize) -> Result<SourcePoll<i64>, SourceError> {
        match self.inner.poll(max_records).await? {
            SourcePoll::End => {
                self.drained.send_replace(true);
                Ok(SourcePoll::Idle)
            }
            other => Ok(other),
        }
    }

    fn snapshot(&self) -> Result<StateSnapshot, SourceError> {
        self.inner.snapshot()
    }

    fn restore(&mut self, snapshot: &StateSnapshot) -> Result<(), SourceError> {
        self.inner.restore(snapshot)
    }
}

/// Fails (the whole operator) once, after `after` records.
struct FailOnce {
    seen: usize,
    after: usize,
    armed: Arc<AtomicBool>,
}

impl Operator for FailOnce {
    type In = i64;
    type Out = i64;

    fn process(&mut self, batch: Batch<i64>, out: &mut Output<i64>) -> Result<(), OperatorError> {
        self.seen += batch.len();
        if self.seen > self.after && self.armed.swap(false, Ordering::SeqCst) {
            return Err(OperatorError::failed("injected failure"));
        }
        out.emit_all(batch);
        Ok(())
    }
}

/// A store whose first write fails ("disk full"); then it keeps manifests in memory.
#[derive(Default)]
struct FlakyStore {
    failed: AtomicBool,
    latest: Mutex<Option<Manifest>>,
}

impl CheckpointStore for FlakyStore {
    fn location(&self) -> String {
        "memory".into()
    }

    fn epochs(&self) -> StoreFuture<'_, Vec<Epoch>> {
        Box::pin(async move { Ok(self.latest.lock().unwrap().iter().map(|m| m.epoch).collect()) })
    }

    fn load(&self, _epoch: Epoch) -> StoreFuture<'_, Manifest> {
        Box::pin(async move { Ok(self.latest.lock().unwrap().clone().expect("a manifest")) })
    }

    fn save<'a>(&'a self, manifest: &'a Manifest) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            if !self.failed.swap(true, Ordering::SeqCst) {
                return Err(CheckpointError::Store { location: "memory".into(), reason: "disk full".into() });
            }
            *self.latest.lock().unwrap() = Some(manifest.clone());
            Ok(())
        })
    }

    fn prune(&self, _keep: usize) -> StoreFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
}

/// numbers -> parse (every 10th is a dead letter) -> flaky (fails once) -> out; dead letters -> dlq.
fn build(name: &str, show_payloads: bool) -> (Job, watch::Receiver<bool>) {
    let metrics = MetricsConfig {
        addr: MetricsAddr(Some("127.0.0.1:0".parse().unwrap())),
        show_payloads,
        ..MetricsConfig::default()
    };
    let config = JobConfig {
        batch_size: 50,
        checkpoint_interval: Some(Duration::from_millis(20)),
        restart: RestartPolicy { initial_backoff: Duration::from_millis(1), ..Default::default() },
        ..JobConfig::default()
    };
    let job = Job::builder(name).config(config).metrics(metrics).checkpoint_store(FlakyStore::default());
    let values: Arc<Vec<i64>> = Arc::new((0..1_000).collect());
    let (drained_tx, drained) = watch::channel(false);
    let armed = Arc::new(AtomicBool::new(true));
    let out: Arc<Mutex<Collected<i64>>> = Arc::default();
    job.source("numbers", 1, move |ctx: &NodeContext| {
        Ok(Gated { inner: VecSource::new(values.clone(), ctx), drained: drained_tx.clone() })
    })
    .try_map("parse", |v: &i64| if v % 10 == 0 { Err(format!("secret {v}")) } else { Ok(*v) })
    .operator("flaky", move |_: &NodeContext| FailOnce { seen: 0, after: 300, armed: armed.clone() })
    .sink("out", move |_: &NodeContext| Ok(CollectSink::new(out.clone())));
    let dead: Arc<Mutex<Collected<DeadLetter>>> = Arc::default();
    job.dead_letters().sink("dlq", move |_: &NodeContext| Ok(CollectSink::new(dead.clone())));
    (job.build().unwrap(), drained)
}

async fn get_json(addr: std::net::SocketAddr, path: &str) -> Json {
    let (status, body) = http_get_async(addr, path).await.expect("GET");
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path} is not JSON ({e}): {body}"))
}

fn names(list: &Json, field: &str) -> Vec<String> {
    list.as_array().unwrap().iter().map(|v| v[field].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_shows_the_plan_the_metrics_figures_failed_checkpoints_restarts_and_hidden_payloads() {
    let (job, mut drained) = build("status-api", false);
    let handle = job.start().await.unwrap();
    let addr = handle.metrics().http_addr().expect("the endpoint listens");
    drained.wait_for(|d| *d).await.unwrap();
    // A checkpoint after the end of the input: every record has passed every node.
    let mut committed = handle.committed_checkpoints();
    let after = committed.borrow_and_update().map_or(0, |e| e.get()) + 2;
    committed.wait_for(|e| e.is_some_and(|e| e.get() >= after)).await.unwrap();

    let doc = get_json(addr, "/api/v1/job").await;
    let job = &doc["jobs"][0];
    assert_eq!(job["job"], "status-api");
    assert_eq!(job["status"], "running");
    let mut nodes = names(&job["nodes"], "name");
    nodes.sort();
    assert_eq!(nodes, ["dead_letters", "dlq", "flaky", "numbers", "out", "parse"].map(String::from), "{doc}");
    let edges: Vec<(String, String, bool)> = job["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["from"].as_str().unwrap().into(), e["to"].as_str().unwrap().into(), e["dead_letters"] == true))
        .collect();
    for (from, to) in [("numbers", "parse"), ("parse", "flaky"), ("flaky", "out")] {
        assert!(edges.contains(&(from.into(), to.into(), false)), "edge {from} -> {to} in {edges:?}");
    }
    assert!(edges.iter().any(|(f, _, dead)| f == "parse" && *dead), "parse's dead letters are an edge: {edges:?}");

    // The same totals as /metrics (nothing moves any more).
    let (_, text) = http_get_async(addr, "/metrics").await.unwrap();
    let scrape = Scrape::parse(&text).unwrap();
    for node in job["nodes"].as_array().unwrap() {
        let name = node["name"].as_str().unwrap();
        for (field, series) in
            [("records_in", "tidemill_records_in_total"), ("records_out", "tidemill_records_out_total")]
        {
            let metric: f64 = scrape.series(series, &[("tidemill_node", name)]).map(|s| s.value).sum();
            assert_eq!(node[field].as_f64().unwrap(), metric, "{name} {field}");
        }
    }

    let restarts = job["restarts"].as_array().unwrap();
    let causes: Vec<&str> = restarts.iter().map(|r| r["cause"].as_str().unwrap()).collect();
    assert!(causes.iter().any(|c| c.contains("injected failure")), "{causes:?}");
    assert!(restarts.iter().any(|r| r["node"] == "flaky"), "{restarts:?}");
    assert!(causes.iter().any(|c| c.contains("disk full")), "{causes:?}");

    let checkpoints = get_json(addr, "/api/v1/checkpoints").await;
    let list = checkpoints["jobs"][0]["checkpoints"].as_array().unwrap().clone();
    let failed: Vec<&Json> = list.iter().filter(|c| c["outcome"] == "failed").collect();
    assert!(failed.iter().any(|c| c["error"].as_str().unwrap().contains("disk full")), "{list:?}");
    let ok = list.iter().find(|c| c["outcome"] == "committed").expect("a committed checkpoint");
    assert!(ok["barrier_ms"].is_u64() && ok["manifest_ms"].is_u64() && ok["commit_ms"].is_u64(), "{ok}");
    assert!(checkpoints["jobs"][0]["committed_epoch"].as_u64().unwrap() >= after);

    let dead = get_json(addr, "/api/v1/dead-letters").await;
    let dead = &dead["jobs"][0];
    assert_eq!(dead["payloads_shown"], false);
    let count = dead["counts"].as_array().unwrap().iter().find(|c| c["stage"] == "parse").expect("parse's count");
    assert!(count["count"].as_u64().unwrap() >= 100, "{count}");
    let latest = dead["latest"].as_array().unwrap();
    assert!(!latest.is_empty());
    assert!(latest.iter().all(|d| d["payload_prefix"].is_null() && d["source"] == "numbers"), "{latest:?}");
    assert!(!dead.to_string().contains("secret") || latest.iter().all(|d| !d["payload_prefix"].is_string()));

    let (status, page) = http_get_async(addr, "/").await.unwrap();
    assert_eq!(status, 200);
    assert!(page.contains("/api/v1/") && !page.contains("://"), "the page reads the API and loads no outside asset");
    handle.stop();
    handle.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payloads_are_shown_only_when_the_job_allows_it() {
    let (job, mut drained) = build("status-payloads", true);
    let handle = job.start().await.unwrap();
    let addr = handle.metrics().http_addr().unwrap();
    drained.wait_for(|d| *d).await.unwrap();
    let dead = get_json(addr, "/api/v1/dead-letters").await;
    assert_eq!(dead["jobs"][0]["payloads_shown"], true);
    let latest = dead["jobs"][0]["latest"].as_array().unwrap();
    assert!(latest.iter().all(|d| d["payload_prefix"].is_string()), "{latest:?}");
    handle.stop();
    handle.wait().await.unwrap();
}
