//! Job metrics over HTTP: a running job's `/metrics` against the counts the
//! input implies, `/healthz`, `/readyz`, and jobs in one process kept apart.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tidemill_runtime::metrics::{JobStatus, MetricsAddr, MetricsConfig, PartitionLabels, PartitionMetrics};
use tidemill_runtime::testing::{CollectSink, Collected, VecSource};
use tidemill_runtime::{
    Batch, DeadLetter, EventTime, Job, JobBuilder, JobConfig, JobError, NodeContext, Operator, OperatorError, Origin,
    Output, Record, Source, SourceError, SourcePoll, StateSnapshot,
};
use tidemill_testkit::metrics::{http_get_async, Scrape};
use tokio::sync::watch;

/// (key, value, event time in ms).
type Value = (u32, i64, i64);

/// Records every partition holds beyond what it reads: the lag it reports.
const UNREAD: i64 = 5;

/// A [`VecSource`] that, once drained, stays idle (the job keeps running) until
/// `gate` opens, says so on `drained`, and reports its lag.
struct Gated {
    inner: VecSource<Value>,
    len: i64,
    read: i64,
    gate: watch::Receiver<bool>,
    drained: watch::Sender<usize>,
    said_drained: bool,
    lag: PartitionMetrics,
}

impl Source for Gated {
    type Out = Value;

    async fn poll(&mut self, max_records: usize) -> Result<SourcePoll<Value>, SourceError> {
        let polled = self.inner.poll(max_records).await?;
        if let SourcePoll::Data(batch) = &polled {
            self.read += batch.len() as i64;
        }
        self.lag.record(self.read, self.len + UNREAD);
        match polled {
            SourcePoll::End if !*self.gate.borrow() => {
                if !std::mem::replace(&mut self.said_drained, true) {
                    self.drained.send_modify(|n| *n += 1);
                }
                Ok(SourcePoll::Idle)
            }
            other => Ok(other),
        }
    }

    fn snapshot(&self) -> Result<StateSnapshot, SourceError> {
        self.inner.snapshot()
    }
}

/// Counts records per key; emits the counts at the end of input.
struct CountPerKey(BTreeMap<u32, i64>);

impl Operator for CountPerKey {
    type In = Value;
    type Out = (u32, i64);

    fn process(&mut self, batch: Batch<Value>, _out: &mut Output<(u32, i64)>) -> Result<(), OperatorError> {
        batch.iter().for_each(|r| *self.0.entry(r.value.0).or_default() += 1);
        Ok(())
    }

    fn on_watermark(&mut self, watermark: EventTime, out: &mut Output<(u32, i64)>) -> Result<(), OperatorError> {
        if watermark == EventTime::MAX {
            for (k, n) in std::mem::take(&mut self.0) {
                out.emit(Record::new((k, n), EventTime::MAX, Origin::INTERNAL));
            }
        }
        Ok(())
    }

    fn snapshot(&self) -> Result<StateSnapshot, OperatorError> {
        StateSnapshot::encode(&self.0)
    }
}

fn input(n: usize, partition: u32) -> Arc<Vec<Value>> {
    // Event times a minute ago, so that the watermark lags by about a minute.
    let base = EventTime::from(chrono::Utc::now()).as_millis() - 60_000;
    Arc::new((0..n).map(|i| ((i % 13) as u32, (i as i64) * 3 + i64::from(partition), base + i as i64)).collect())
}

fn bad_value(v: &Value) -> bool {
    v.1 % 10 == 0
}

fn cursed(v: &Value) -> bool {
    v.0 == 7 && v.1 % 50 == 1
}

struct Running {
    job: Job,
    gate: watch::Sender<bool>,
    drained: watch::Receiver<usize>,
    all: Arc<Mutex<Collected<Value>>>,
}

/// source (2 partitions) -> parse (errors) -> event_time -> double (panics) -+-> all
///                                                                         +-> key_by -> count -> counts
fn build(name: &str, parts: [Arc<Vec<Value>>; 2], metrics: MetricsConfig) -> Running {
    let config =
        JobConfig { batch_size: 64, checkpoint_interval: Some(Duration::from_millis(20)), ..JobConfig::default() };
    let job: JobBuilder = Job::builder(name).config(config).metrics(metrics);
    let (gate, gate_rx) = watch::channel(false);
    let (drained_tx, drained) = watch::channel(0usize);
    let src = job.source("numbers", 2, move |ctx: &NodeContext| {
        let values = parts[ctx.shard].clone();
        Ok(Gated {
            len: values.len() as i64,
            inner: VecSource::new(values, ctx),
            read: 0,
            gate: gate_rx.clone(),
            drained: drained_tx.clone(),
            said_drained: false,
            lag: ctx.metrics.source_partition(PartitionLabels::new(ctx.shard as u32)),
        })
    });
    let doubled = src
        .try_map("parse", |v: &Value| if bad_value(v) { Err(format!("bad value {}", v.1)) } else { Ok(*v) })
        .assign_timestamps("event_time", |v: &Value| EventTime::from_millis(v.2), Duration::from_secs(1))
        .map("double", |v: &Value| {
            if cursed(v) {
                panic!("cursed value {}", v.1);
            }
            (v.0, v.1 * 2, v.2)
        });
    let all: Arc<Mutex<Collected<Value>>> = Arc::default();
    let a = all.clone();
    doubled.sink("all", move |_| Ok(CollectSink::new(a.clone())));
    let counts: Arc<Mutex<Collected<(u32, i64)>>> = Arc::default();
    doubled
        .key_by(|v: &Value| v.0, 2)
        .operator("count", |_, _| CountPerKey(BTreeMap::new()))
        .sink("counts", move |_| Ok(CollectSink::new(counts.clone())));
    let dead: Arc<Mutex<Collected<DeadLetter>>> = Arc::default();
    job.dead_letters().sink("dlq", move |_| Ok(CollectSink::new(dead.clone())));
    Running { job: job.build().unwrap(), gate, drained, all }
}

fn on_port_0() -> MetricsConfig {
    MetricsConfig { addr: MetricsAddr(Some("127.0.0.1:0".parse().unwrap())), ..MetricsConfig::default() }
}

/// The values of the series `name` whose labels include `labels`.
fn values(text: &str, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
    Scrape::parse(text).expect("Prometheus text").series(name, labels).map(|s| s.value).collect()
}

fn one(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    match values(text, name, labels).as_slice() {
        [v] => *v,
        other => panic!("expected one series {name} {labels:?}, found {other:?} in\n{text}"),
    }
}

fn node(n: &str) -> (&'static str, &str) {
    ("tidemill_node", n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_job_exposes_its_metrics_over_http() {
    let parts = [input(3_000, 0), input(2_000, 1)];
    let all_values: Vec<Value> = parts.iter().flat_map(|p| p.iter().copied()).collect();
    let n = all_values.len() as f64;
    let errors = all_values.iter().filter(|v| bad_value(v)).count() as f64;
    let panics = all_values.iter().filter(|v| !bad_value(v) && cursed(v)).count() as f64;
    assert!(errors > 0.0 && panics > 0.0);
    let passed = n - errors - panics;

    let mut run = build("metrics-http", parts, on_port_0());
    let handle = run.job.start().await.unwrap();
    let metrics = handle.metrics().clone();
    let addr = metrics.http_addr().expect("the endpoint listens");
    assert_ne!(addr.port(), 0);

    // Every record read; then a checkpoint triggered after that commits, so every
    // record has passed every operator and reached the sinks.
    run.drained.wait_for(|n| *n == 2).await.unwrap();
    let mut committed = handle.committed_checkpoints();
    let after = committed.borrow_and_update().map_or(0, |e| e.get()) + 2;
    committed.wait_for(|e| e.is_some_and(|e| e.get() >= after)).await.unwrap();
    assert_eq!(run.all.lock().unwrap().committed.len() as f64, passed);

    let (status, text) = http_get_async(addr, "/metrics").await.expect("GET");
    assert_eq!(status, 200, "{text}");
    let records = |name: &str, n: &str| one(&text, name, &[node(n)]);
    assert_eq!(records("tidemill_records_in_total", "numbers"), n);
    assert_eq!(records("tidemill_records_out_total", "numbers"), n);
    assert_eq!(records("tidemill_records_in_total", "parse"), n);
    assert_eq!(records("tidemill_records_out_total", "parse"), n - errors);
    assert_eq!(records("tidemill_records_in_total", "double"), n - errors);
    assert_eq!(records("tidemill_records_out_total", "double"), passed);
    assert_eq!(records("tidemill_records_in_total", "count"), passed);
    assert_eq!(records("tidemill_records_out_total", "count"), 0.0, "counts are emitted at the end");
    assert_eq!(records("tidemill_records_in_total", "all"), passed);
    assert_eq!(records("tidemill_records_in_total", "dlq"), errors + panics);
    let dead = |n: &str, reason: &str| {
        one(&text, "tidemill_dead_letters_total", &[node(n), ("tidemill_dead_letter_reason", reason)])
    };
    assert_eq!(dead("parse", "user_function_error"), errors);
    assert_eq!(dead("double", "user_function_panic"), panics);
    assert!(values(
        &text,
        "tidemill_dead_letters_total",
        &[node("parse"), ("tidemill_dead_letter_reason", "not_json")]
    )
    .is_empty());
    assert_eq!(one(&text, "tidemill_records_late_total", &[node("count")]), 0.0);

    // Checkpoints: phases observed, committed, none failed.
    for phase in ["barrier", "manifest", "commit", "total"] {
        let count = one(&text, "tidemill_checkpoint_duration_seconds_count", &[("tidemill_checkpoint_phase", phase)]);
        assert!(count >= after as f64, "phase {phase}: {count} observations");
    }
    assert!(one(&text, "tidemill_checkpoint_committed_total", &[]) >= after as f64);
    assert!(one(&text, "tidemill_checkpoint_last_committed_epoch", &[]) >= after as f64);
    assert!(one(&text, "tidemill_checkpoint_size_bytes_count", &[]) >= after as f64);
    // The failure series exist from the start (so `increase()` sees the first one), at 0.
    let failures = values(&text, "tidemill_checkpoint_failures_total", &[]);
    assert_eq!(failures, vec![0.0, 0.0], "both failure causes, none counted");
    assert!(one(&text, "tidemill_checkpoint_alignment_duration_seconds_count", &[node("count")]) > 0.0);
    assert!(one(&text, "tidemill_sink_commit_duration_seconds_count", &[node("all")]) >= after as f64);

    // Latency: event times are a minute old, so every observation is above 30 s.
    let latency = |le: &str| one(&text, "tidemill_sink_visibility_latency_seconds_bucket", &[node("all"), ("le", le)]);
    assert!(latency("+Inf") > 0.0);
    assert_eq!(latency("30"), 0.0);
    // VecSource records carry no source time: nothing to observe there.
    assert!(values(&text, "tidemill_source_visibility_latency_seconds_count", &[]).is_empty());

    // Watermark about a minute behind; lag as the partitions reported it.
    let wm_lag = one(&text, "tidemill_watermark_lag_seconds", &[node("event_time")]);
    assert!((55.0..600.0).contains(&wm_lag), "watermark lag {wm_lag}");
    assert_eq!(one(&text, "tidemill_source_lag", &[node("numbers"), ("tidemill_partition", "1")]), UNREAD as f64);
    assert_eq!(one(&text, "tidemill_job_lag", &[]), 2.0 * UNREAD as f64);
    assert_eq!(one(&text, "tidemill_job_lag_growing", &[]), 0.0);

    // Edges and the job.
    let edge = [("tidemill_edge_from", "numbers"), ("tidemill_edge_to", "parse")];
    assert_eq!(one(&text, "tidemill_edge_capacity", &edge), 2.0 * 8.0, "two forward shard pairs of 8 batches");
    assert!(one(&text, "tidemill_edge_blocked_time_seconds_total", &edge) >= 0.0);
    assert_eq!(one(&text, "tidemill_job_ready", &[]), 1.0);
    assert_eq!(one(&text, "target_info", &[("service_name", "metrics-http")]), 1.0);
    assert!(text.contains("# TYPE tidemill_records_in_total counter\n"));

    assert_eq!(http_get_async(addr, "/healthz").await.expect("GET"), (200, "ok\n".into()));
    assert_eq!(http_get_async(addr, "/readyz").await.expect("GET"), (200, "ready\n".into()));
    assert_eq!(http_get_async(addr, "/nope").await.expect("GET").0, 404);

    run.gate.send_replace(true);
    let summary = handle.wait().await.unwrap();
    assert_eq!(summary.records_in as f64, n);
    assert_eq!(metrics.status(), JobStatus::Finished);
    // The endpoint closes with the job.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    let text = metrics.prometheus_text().unwrap();
    assert_eq!(one(&text, "tidemill_records_out_total", &[node("count")]), 13.0, "one count per key");
    assert_eq!(one(&text, "tidemill_job_ready", &[]), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_jobs_in_one_process_keep_their_metrics_apart() {
    let small = build("small", [input(100, 0), input(50, 1)], on_port_0());
    let large = build("large", [input(1_000, 0), input(500, 1)], on_port_0());
    let (hs, hl) = (small.job.start().await.unwrap(), large.job.start().await.unwrap());
    let (addr_s, addr_l) = (hs.metrics().http_addr().unwrap(), hl.metrics().http_addr().unwrap());
    assert_ne!(addr_s, addr_l);
    let (mut ds, mut dl) = (small.drained, large.drained);
    ds.wait_for(|n| *n == 2).await.unwrap();
    dl.wait_for(|n| *n == 2).await.unwrap();
    let (_, s) = http_get_async(addr_s, "/metrics").await.expect("GET");
    let (_, l) = http_get_async(addr_l, "/metrics").await.expect("GET");
    assert_eq!(one(&s, "tidemill_records_in_total", &[node("numbers")]), 150.0);
    assert_eq!(one(&l, "tidemill_records_in_total", &[node("numbers")]), 1_500.0);
    assert_eq!(one(&s, "target_info", &[]), 1.0);
    assert!(values(&s, "target_info", &[("service_name", "large")]).is_empty());
    small.gate.send_replace(true);
    large.gate.send_replace(true);
    hs.wait().await.unwrap();
    hl.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_in_use_fails_the_start_and_off_listens_nowhere() {
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = MetricsConfig { addr: MetricsAddr(Some(taken.local_addr().unwrap())), ..MetricsConfig::default() };
    let run = build("clash", [input(10, 0), input(10, 1)], config);
    match run.job.start().await {
        Err(JobError::Startup { source, .. }) => {
            let msg = source.to_string();
            assert!(msg.contains("metrics endpoint"), "{msg}")
        }
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("started on an address in use"),
    }

    // A shared default address may fall back to a free port instead.
    let config = MetricsConfig {
        addr: MetricsAddr(Some(taken.local_addr().unwrap())),
        fallback_to_free_port: true,
        ..MetricsConfig::default()
    };
    let run = build("moved", [input(10, 0), input(10, 1)], config);
    let handle = run.job.start().await.unwrap();
    let moved = handle.metrics().http_addr().unwrap();
    assert_ne!(moved, taken.local_addr().unwrap());
    assert_eq!(http_get_async(moved, "/healthz").await.expect("GET").0, 200);
    run.gate.send_replace(true);
    handle.wait().await.unwrap();

    let run = build("quiet", [input(10, 0), input(10, 1)], MetricsConfig::default());
    let handle = run.job.start().await.unwrap();
    let metrics = handle.metrics().clone();
    assert_eq!(metrics.http_addr(), None);
    run.gate.send_replace(true);
    let summary = handle.wait().await.unwrap();
    assert_eq!(summary.records_in, 20);
    // Still collected in process, for tests and embedders.
    assert_eq!(one(&metrics.prometheus_text().unwrap(), "tidemill_records_in_total", &[node("numbers")]), 20.0);
}

/// Passes records on; fails (the whole operator) once after `after` records.
struct FailOnce {
    seen: usize,
    after: usize,
    armed: Arc<std::sync::atomic::AtomicBool>,
}

impl Operator for FailOnce {
    type In = Value;
    type Out = Value;

    fn process(&mut self, batch: Batch<Value>, out: &mut Output<Value>) -> Result<(), OperatorError> {
        self.seen += batch.len();
        if self.seen > self.after && self.armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
            return Err(OperatorError::Failed("injected failure".into()));
        }
        batch.into_iter().for_each(|r| out.emit(r));
        Ok(())
    }

    fn snapshot(&self) -> Result<StateSnapshot, OperatorError> {
        Ok(StateSnapshot::empty())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_are_counted_by_node_and_cause_and_counters_stay_monotonic() {
    let values = input(2_000, 0);
    let job = Job::builder("restarts").config(JobConfig {
        batch_size: 100,
        restart: tidemill_runtime::RestartPolicy { initial_backoff: Duration::from_millis(1), ..Default::default() },
        ..JobConfig::default()
    });
    let v = values.clone();
    let armed = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let out: Arc<Mutex<Collected<Value>>> = Arc::default();
    let o = out.clone();
    job.source("numbers", 1, move |ctx: &NodeContext| Ok(VecSource::new(v.clone(), ctx)))
        .operator("flaky", move |_| FailOnce { seen: 0, after: 500, armed: armed.clone() })
        .sink("out", move |_| Ok(CollectSink::new(o.clone())));
    let dead: Arc<Mutex<Collected<DeadLetter>>> = Arc::default();
    job.dead_letters().sink("dlq", move |_| Ok(CollectSink::new(dead.clone())));
    let handle = job.build().unwrap().start().await.unwrap();
    let metrics = handle.metrics().clone();
    let summary = handle.wait().await.unwrap();
    assert_eq!(summary.restarts, 1);
    assert_eq!(summary.records_in, 2_000, "the summary counts each record once");
    assert_eq!(out.lock().unwrap().committed.len(), 2_000);

    let text = metrics.prometheus_text().unwrap();
    assert_eq!(one(&text, "tidemill_restarts_total", &[node("flaky"), ("error_type", "actor_failed")]), 1.0);
    // Without a checkpoint the restart replays from the start: the process read
    // more than the input, and its counter says so (it never goes back).
    // Sinks count what they wrote, committed or not (the first pipeline's writes
    // were never committed): work done, not rows visible.
    let read = one(&text, "tidemill_records_in_total", &[node("numbers")]);
    assert!(read > 2_000.0, "read {read}");
    let written = one(&text, "tidemill_records_in_total", &[node("out")]);
    assert!((2_000.0..=read).contains(&written), "written {written}");
}

/// A store whose first write fails; afterwards it keeps manifests in memory.
#[derive(Default)]
struct FlakyStore {
    failed: std::sync::atomic::AtomicBool,
    latest: Mutex<Option<tidemill_runtime::checkpoint::Manifest>>,
}

impl tidemill_runtime::checkpoint::CheckpointStore for FlakyStore {
    fn location(&self) -> String {
        "memory".into()
    }

    fn epochs(&self) -> tidemill_runtime::checkpoint::StoreFuture<'_, Vec<tidemill_runtime::Epoch>> {
        Box::pin(async move { Ok(self.latest.lock().unwrap().iter().map(|m| m.epoch).collect()) })
    }

    fn load(
        &self,
        _epoch: tidemill_runtime::Epoch,
    ) -> tidemill_runtime::checkpoint::StoreFuture<'_, tidemill_runtime::checkpoint::Manifest> {
        Box::pin(async move { Ok(self.latest.lock().unwrap().clone().expect("a manifest")) })
    }

    fn save<'a>(
        &'a self,
        manifest: &'a tidemill_runtime::checkpoint::Manifest,
    ) -> tidemill_runtime::checkpoint::StoreFuture<'a, ()> {
        Box::pin(async move {
            if !self.failed.swap(true, std::sync::atomic::Ordering::SeqCst) {
                return Err(tidemill_runtime::checkpoint::CheckpointError::Store {
                    location: "memory".into(),
                    reason: "disk full".into(),
                });
            }
            *self.latest.lock().unwrap() = Some(manifest.clone());
            Ok(())
        })
    }

    fn prune(&self, _keep: usize) -> tidemill_runtime::checkpoint::StoreFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_that_cannot_be_written_counts_as_a_checkpoint_failure() {
    let values = input(500, 0);
    let job = Job::builder("store-fails")
        .config(JobConfig {
            restart: tidemill_runtime::RestartPolicy {
                initial_backoff: Duration::from_millis(1),
                ..Default::default()
            },
            ..JobConfig::default()
        })
        .checkpoint_store(FlakyStore::default());
    let v = values.clone();
    let out: Arc<Mutex<Collected<Value>>> = Arc::default();
    let o = out.clone();
    job.source("numbers", 1, move |ctx: &NodeContext| Ok(VecSource::new(v.clone(), ctx)))
        .map("copy", |v: &Value| *v)
        .sink("out", move |_| Ok(CollectSink::new(o.clone())));
    let dead: Arc<Mutex<Collected<DeadLetter>>> = Arc::default();
    job.dead_letters().sink("dlq", move |_| Ok(CollectSink::new(dead.clone())));
    let handle = job.build().unwrap().start().await.unwrap();
    let metrics = handle.metrics().clone();
    let summary = handle.wait().await.unwrap();
    assert_eq!(summary.restarts, 1);
    assert_eq!(out.lock().unwrap().committed.len(), 500);
    let text = metrics.prometheus_text().unwrap();
    assert_eq!(one(&text, "tidemill_checkpoint_failures_total", &[("error_type", "store_write")]), 1.0);
    assert_eq!(one(&text, "tidemill_restarts_total", &[("error_type", "checkpoint_store")]), 1.0);
    assert_eq!(one(&text, "tidemill_checkpoint_committed_total", &[]), 1.0);
}

/// Reads nothing and reports a lag that grows with every poll, until `gate` opens.
struct FallingBehind {
    polls: u64,
    gate: watch::Receiver<bool>,
    lag: PartitionMetrics,
}

impl Source for FallingBehind {
    type Out = Value;

    async fn poll(&mut self, _max_records: usize) -> Result<SourcePoll<Value>, SourceError> {
        if *self.gate.borrow() {
            return Ok(SourcePoll::End);
        }
        self.polls += 1;
        self.lag.record(0, (self.polls * 100) as i64);
        Ok(SourcePoll::Idle)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn growing_lag_raises_the_lag_growth_gauge() {
    let config = MetricsConfig {
        lag_growth: tidemill_runtime::metrics::LagGrowthConfig {
            factor: 2.0,
            baseline_window: Duration::from_secs(60),
            min_lag: 500,
            sample_interval: Duration::from_millis(10),
        },
        ..MetricsConfig::default()
    };
    let job = Job::builder("behind").metrics(config);
    let (gate, gate_rx) = watch::channel(false);
    job.source("kafka", 1, move |ctx: &NodeContext| {
        let lag = ctx.metrics.source_partition(PartitionLabels::messaging("kafka", "orders", 0, "behind"));
        Ok(FallingBehind { polls: 0, gate: gate_rx.clone(), lag })
    })
    .map("copy", |v: &Value| *v)
    .sink("out", |_| Ok(CollectSink::new(Arc::default())));
    let dead: Arc<Mutex<Collected<DeadLetter>>> = Arc::default();
    job.dead_letters().sink("dlq", move |_| Ok(CollectSink::new(dead.clone())));
    let handle = job.build().unwrap().start().await.unwrap();

    // The detector samples on its own clock: wait (bounded) for it to notice.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let text = loop {
        let text = handle.metrics().prometheus_text().unwrap();
        if values(&text, "tidemill_job_lag_growing", &[]) == [1.0] {
            break text;
        }
        assert!(tokio::time::Instant::now() < deadline, "lag growth never detected:\n{text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let lag = one(&text, "tidemill_job_lag", &[]);
    let baseline = one(&text, "tidemill_job_lag_baseline", &[]);
    assert!(lag > 2.0 * baseline && lag >= 500.0, "lag {lag}, baseline {baseline}");
    let partition = [("messaging_destination_name", "orders"), ("messaging_destination_partition_id", "0")];
    // (Read by another callback of the same collection: the source may have
    // moved on in between, so no equality with the job's total.)
    assert!(one(&text, "tidemill_source_lag", &partition) >= 500.0);
    gate.send_replace(true);
    handle.wait().await.unwrap();
}
