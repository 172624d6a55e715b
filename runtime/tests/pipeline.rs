//! Whole jobs on the actor runtime, checked against batch recomputation.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use tidemill_runtime::routing::routing_shard;
use tidemill_runtime::testing::{CollectSink, Collected, VecSource};
use tidemill_runtime::{
    Batch, BuildError, DeadLetter, EventTime, GraphError, Job, JobConfig, JobError, NodeContext, Operator,
    OperatorError, Output, ReasonCode, Record, RestartPolicy, StateSnapshot,
};

/// Sums values per key; emits (key, sum) at the end of input.
struct SumPerKey {
    sums: BTreeMap<u32, i64>,
}

impl Operator for SumPerKey {
    type In = (u32, i64);
    type Out = (u32, i64);

    fn process(&mut self, batch: Batch<(u32, i64)>, _out: &mut Output<(u32, i64)>) -> Result<(), OperatorError> {
        for r in batch {
            *self.sums.entry(r.value.0).or_default() += r.value.1;
        }
        Ok(())
    }

    fn on_watermark(&mut self, watermark: EventTime, out: &mut Output<(u32, i64)>) -> Result<(), OperatorError> {
        if watermark == EventTime::MAX {
            for (k, v) in std::mem::take(&mut self.sums) {
                out.emit(Record::new((k, v), EventTime::MAX, tidemill_runtime::Origin::INTERNAL));
            }
        }
        Ok(())
    }

    fn snapshot(&self) -> Result<StateSnapshot, OperatorError> {
        StateSnapshot::encode(&self.sums)
    }
}

fn input(n: usize, seed: u64) -> Arc<Vec<(u32, i64)>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    Arc::new((0..n).map(|_| (rng.random_range(0..50u32), rng.random_range(-1000..1000i64))).collect())
}

fn oracle(values: &[(u32, i64)]) -> BTreeMap<u32, i64> {
    let mut m = BTreeMap::new();
    for (k, v) in values {
        *m.entry(*k).or_default() += v;
    }
    m
}

/// Where a test's collecting sink commits.
type Out = Arc<Mutex<Collected<(u32, i64)>>>;

fn sums(out: &Mutex<Collected<(u32, i64)>>) -> BTreeMap<u32, i64> {
    let out = out.lock().unwrap();
    let mut m = BTreeMap::new();
    for r in &out.committed {
        assert!(m.insert(r.value.0, r.value.1).is_none(), "key {} emitted twice", r.value.0);
    }
    m
}

type Dead = Arc<Mutex<Collected<DeadLetter>>>;

fn dead_letter_sink(job: &tidemill_runtime::JobBuilder) -> Dead {
    let dead: Dead = Arc::default();
    let d = dead.clone();
    job.dead_letters().sink("dlq", move |_| Ok(CollectSink::new(d.clone())));
    dead
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_pipeline_over_two_partitions_equals_the_oracle() {
    let a = input(20_000, 1);
    let b = input(15_000, 2);
    let job = Job::builder("sum").config(JobConfig { batch_size: 256, edge_capacity: 2, ..JobConfig::default() });
    let (a2, b2) = (a.clone(), b.clone());
    let src = job.source("numbers", 2, move |ctx: &NodeContext| {
        Ok(VecSource::new(if ctx.shard == 0 { a2.clone() } else { b2.clone() }, ctx))
    });
    let out: Out = Arc::default();
    let o = out.clone();
    src.map("identity", |v: &(u32, i64)| *v)
        .key_by(|v: &(u32, i64)| v.0, 4)
        .operator("sum", |_, _| SumPerKey { sums: BTreeMap::new() })
        .sink("collect", move |_| Ok(CollectSink::new(o.clone())));
    let dead = dead_letter_sink(&job);
    let summary = job.build().unwrap().run().await.unwrap();

    let all: Vec<(u32, i64)> = a.iter().chain(b.iter()).copied().collect();
    assert_eq!(sums(&out), oracle(&all));
    assert_eq!(summary.records_in, 35_000);
    assert_eq!(summary.dead_letters, 0);
    assert!(dead.lock().unwrap().committed.is_empty());
}

/// Replaces each record's value with the shard that processed it.
struct TagWithShard {
    shard: usize,
}

impl Operator for TagWithShard {
    type In = (u32, i64);
    type Out = (u32, i64);

    fn process(&mut self, batch: Batch<(u32, i64)>, out: &mut Output<(u32, i64)>) -> Result<(), OperatorError> {
        for r in batch {
            let tagged = (r.value.0, self.shard as i64);
            out.emit(r.with_value(tagged));
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_is_processed_by_the_shard_routing_shard_names() {
    let values = input(5_000, 8);
    let job = Job::builder("routing");
    let v = values.clone();
    let out: Out = Arc::default();
    let o = out.clone();
    job.source("numbers", 1, move |ctx: &NodeContext| Ok(VecSource::new(v.clone(), ctx)))
        .key_by(|v: &(u32, i64)| format!("user-{}", v.0), 4)
        .operator("tag", |ctx, _| TagWithShard { shard: ctx.shard })
        .sink("collect", move |_| Ok(CollectSink::new(o.clone())));
    dead_letter_sink(&job);
    job.build().unwrap().run().await.unwrap();

    let out = out.lock().unwrap();
    assert_eq!(out.committed.len(), values.len());
    let mut used = [false; 4];
    for r in &out.committed {
        let (key, shard) = r.value;
        assert_eq!(shard as usize, routing_shard(&format!("user-{key}"), 4), "key {key}");
        used[shard as usize] = true;
    }
    assert_eq!(used, [true; 4], "50 keys spread over all 4 shards");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_user_function_sends_records_to_the_dead_letters() {
    let values = input(5_000, 3);
    let job = Job::builder("panics");
    let v = values.clone();
    let out: Out = Arc::default();
    let o = out.clone();
    job.source("numbers", 1, move |ctx: &NodeContext| Ok(VecSource::new(v.clone(), ctx)))
        .map("explode_on_7", |v: &(u32, i64)| {
            if v.0 == 7 {
                panic!("key 7 is cursed");
            }
            *v
        })
        .key_by(|v: &(u32, i64)| v.0, 2)
        .operator("sum", |_, _| SumPerKey { sums: BTreeMap::new() })
        .sink("collect", move |_| Ok(CollectSink::new(o.clone())));
    let dead = dead_letter_sink(&job);
    let summary = job.build().unwrap().run().await.unwrap();

    let kept: Vec<(u32, i64)> = values.iter().copied().filter(|v| v.0 != 7).collect();
    let cursed = values.len() - kept.len();
    assert!(cursed > 0);
    assert_eq!(sums(&out), oracle(&kept));
    let dead = dead.lock().unwrap();
    assert_eq!(dead.committed.len(), cursed);
    assert!(dead
        .committed
        .iter()
        .all(|d| d.value.reason == ReasonCode::UserFunctionPanic && d.value.detail == "key 7 is cursed"));
    assert_eq!(summary.dead_letters, cursed as u64);
    assert_eq!(summary.dead_letters_written, cursed as u64);
    assert_eq!(summary.restarts, 0);
}

/// Fails the whole operator (not one record) the first time it sees `trigger`.
struct FailOnce {
    inner: SumPerKey,
    armed: Arc<AtomicBool>,
}

impl Operator for FailOnce {
    type In = (u32, i64);
    type Out = (u32, i64);

    fn process(&mut self, batch: Batch<(u32, i64)>, out: &mut Output<(u32, i64)>) -> Result<(), OperatorError> {
        if self.inner.sums.len() > 10 && self.armed.swap(false, Ordering::SeqCst) {
            return Err(OperatorError::Failed("injected failure".into()));
        }
        self.inner.process(batch, out)
    }

    fn on_watermark(&mut self, w: EventTime, out: &mut Output<(u32, i64)>) -> Result<(), OperatorError> {
        self.inner.on_watermark(w, out)
    }
}

fn fast_restarts(max_failures: u32) -> JobConfig {
    JobConfig {
        restart: RestartPolicy { initial_backoff: Duration::from_millis(5), max_failures, ..RestartPolicy::default() },
        ..JobConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_pipeline_restarts_and_still_equals_the_oracle() {
    let values = input(30_000, 4);
    let armed = Arc::new(AtomicBool::new(true));
    let job = Job::builder("restart").config(fast_restarts(3));
    let v = values.clone();
    let out: Out = Arc::default();
    let o = out.clone();
    let a = armed.clone();
    job.source("numbers", 1, move |ctx: &NodeContext| Ok(VecSource::new(v.clone(), ctx)))
        .key_by(|v: &(u32, i64)| v.0, 2)
        .operator("sum", move |_, _| FailOnce { inner: SumPerKey { sums: BTreeMap::new() }, armed: a.clone() })
        .sink("collect", move |_| Ok(CollectSink::new(o.clone())));
    dead_letter_sink(&job);
    let summary = job.build().unwrap().run().await.unwrap();

    assert!(!armed.load(Ordering::SeqCst), "the failure was injected");
    assert_eq!(summary.restarts, 1);
    assert_eq!(summary.records_in, 30_000, "counters describe the successful run");
    assert_eq!(sums(&out), oracle(&values));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_failures_end_the_job_with_the_cause() {
    let values = input(10_000, 5);
    let job = Job::builder("doomed").config(fast_restarts(2));
    let v = values.clone();
    let attempts = Arc::new(AtomicUsize::new(0));
    let at = attempts.clone();
    job.source("numbers", 1, move |ctx: &NodeContext| Ok(VecSource::new(v.clone(), ctx)))
        .key_by(|v: &(u32, i64)| v.0, 1)
        .operator("sum", move |_, _| {
            at.fetch_add(1, Ordering::SeqCst);
            FailOnce { inner: SumPerKey { sums: BTreeMap::new() }, armed: Arc::new(AtomicBool::new(true)) }
        })
        .sink("collect", |_| Ok(CollectSink::new(Arc::default())));
    dead_letter_sink(&job);
    let err = job.build().unwrap().run().await.unwrap_err();

    match err {
        JobError::Failed { cause, restarts, .. } => {
            let cause = tidemill_runtime::ErrorChain(&cause).to_string();
            assert!(cause.contains("injected failure"), "cause: {cause}");
            assert!(cause.contains("sum[0]"), "cause names the actor: {cause}");
            assert_eq!(restarts, 2);
        }
        other => panic!("unexpected error {other}"),
    }
    assert_eq!(attempts.load(Ordering::SeqCst), 3, "first run plus two restarts");
}

/// Forwards records unchanged.
struct Pass;

impl Operator for Pass {
    type In = (u32, i64);
    type Out = (u32, i64);

    fn process(&mut self, batch: Batch<(u32, i64)>, out: &mut Output<(u32, i64)>) -> Result<(), OperatorError> {
        out.emit_all(batch);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_barriers_align_and_commit_in_epochs() {
    let a = input(40_000, 6);
    let b = input(40_000, 7);
    let config =
        JobConfig { batch_size: 64, checkpoint_interval: Some(Duration::from_millis(5)), ..JobConfig::default() };
    let job = Job::builder("barriers").config(config);
    let (a2, b2) = (a.clone(), b.clone());
    let out: Out = Arc::default();
    let o = out.clone();
    job.source("numbers", 2, move |ctx: &NodeContext| {
        Ok(VecSource::new(if ctx.shard == 0 { a2.clone() } else { b2.clone() }, ctx))
    })
    .map("slow", |v: &(u32, i64)| {
        std::hint::black_box((0..50).fold(0u64, |s, i| s.wrapping_add(i)));
        *v
    })
    .key_by(|v: &(u32, i64)| v.0, 3)
    .operator("pass", |_, _| Pass)
    .sink("collect", move |_| Ok(CollectSink::new(o.clone())));
    dead_letter_sink(&job);
    job.build().unwrap().run().await.unwrap();

    let out = out.lock().unwrap();
    assert!(out.commits.len() >= 2, "at least one periodic epoch besides the final one: {:?}", out.commits);
    assert!(out.commits.windows(2).all(|w| w[0] < w[1]), "epochs commit in order");
    let mut got: Vec<(u32, i64)> = out.committed.iter().map(|r| r.value).collect();
    let mut want: Vec<(u32, i64)> = a.iter().chain(b.iter()).copied().collect();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want, "every record committed exactly once");
}

#[test]
fn invalid_graphs_are_rejected_at_build_time() {
    let job = Job::builder("no-sink");
    job.source("numbers", 1, |ctx: &NodeContext| Ok(VecSource::new(Arc::new(vec![1i64]), ctx)));
    assert_eq!(job.build().err(), Some(BuildError::Graph(GraphError::NoSink)));

    let job = Job::builder("no-dlq");
    job.source("numbers", 1, |ctx: &NodeContext| Ok(VecSource::new(Arc::new(vec![1i64]), ctx)))
        .map("same", |v: &i64| *v)
        .sink("collect", |_| Ok(CollectSink::new(Arc::default())));
    assert_eq!(job.build().err(), Some(BuildError::Graph(GraphError::NoDeadLetterSink)));

    // Without operators nothing can be rejected: no dead-letter sink is needed,
    // and one that could never receive anything (nor a barrier) is refused.
    let job = Job::builder("straight");
    job.source("numbers", 1, |ctx: &NodeContext| Ok(VecSource::new(Arc::new(vec![1i64]), ctx)))
        .sink("collect", |_| Ok(CollectSink::new(Arc::default())));
    assert!(job.build().is_ok());
    let job = Job::builder("idle-dlq");
    job.source("numbers", 1, |ctx: &NodeContext| Ok(VecSource::new(Arc::new(vec![1i64]), ctx)))
        .sink("collect", |_| Ok(CollectSink::new(Arc::default())));
    dead_letter_sink(&job);
    assert_eq!(job.build().err(), Some(BuildError::Graph(GraphError::DeadLettersWithoutProducers)));

    let job = Job::builder("dangling");
    let s = job.source("numbers", 1, |ctx: &NodeContext| Ok(VecSource::new(Arc::new(vec![1i64]), ctx)));
    s.sink("collect", |_| Ok(CollectSink::new(Arc::default())));
    s.map("forgotten", |v: &i64| *v);
    dead_letter_sink(&job);
    assert_eq!(job.build().err(), Some(BuildError::Graph(GraphError::Unconsumed { node: "forgotten".into() })));

    let job = Job::builder("dupes");
    let s = job.source("x", 1, |ctx: &NodeContext| Ok(VecSource::new(Arc::new(vec![1i64]), ctx)));
    s.map("x2", |v: &i64| *v).sink("x", |_| Ok(CollectSink::new(Arc::default())));
    dead_letter_sink(&job);
    assert_eq!(job.build().err(), Some(BuildError::Graph(GraphError::DuplicateName { name: "x".into() })));

    let job = Job::builder("zero");
    job.source("numbers", 0, |ctx: &NodeContext| Ok(VecSource::new(Arc::new(vec![1i64]), ctx)))
        .sink("collect", |_| Ok(CollectSink::new(Arc::default())));
    dead_letter_sink(&job);
    assert_eq!(job.build().err(), Some(BuildError::Graph(GraphError::ZeroParallelism { node: "numbers".into() })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_that_cannot_open_fails_start_up_clearly() {
    let job = Job::builder("bad-source");
    job.source("missing", 1, |_: &NodeContext| -> Result<VecSource<i64>, _> {
        Err(tidemill_runtime::SourceError::Unreadable { what: "/nope.jsonl".into(), reason: "No such file".into() })
    })
    .sink("collect", |_| Ok(CollectSink::new(Arc::default())));
    let err = job.build().unwrap().start().await.err().expect("start fails");
    let text = tidemill_runtime::ErrorChain(&err).to_string();
    assert!(text.contains("/nope.jsonl") && text.contains("missing[0]"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_without_operators_runs_to_the_end() {
    let values = input(5_000, 3);
    let out: Arc<Mutex<Collected<(u32, i64)>>> = Arc::default();
    let o = out.clone();
    let job = Job::builder("straight").config(JobConfig { batch_size: 64, ..JobConfig::default() });
    let v = values.clone();
    job.source("numbers", 1, move |ctx: &NodeContext| Ok(VecSource::new(v.clone(), ctx)))
        .sink("collect", move |_| Ok(CollectSink::new(o.clone())));
    let summary = tokio::time::timeout(Duration::from_secs(60), job.build().unwrap().run())
        .await
        .expect("the job finishes")
        .expect("the job succeeds");
    assert_eq!(summary.records_in, values.len() as u64);
    let got: Vec<(u32, i64)> = out.lock().unwrap().committed.iter().map(|r| r.value).collect();
    assert_eq!(got, *values, "every record committed once, in order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_gives_every_consumer_every_record() {
    let values = input(3_000, 8);
    let job = Job::builder("fanout");
    let v = values.clone();
    let s = job.source("numbers", 1, move |ctx: &NodeContext| Ok(VecSource::new(v.clone(), ctx)));
    let (o1, o2): (Out, Out) = Default::default();
    let (c1, c2) = (o1.clone(), o2.clone());
    s.sink("one", move |_| Ok(CollectSink::new(c1.clone())));
    s.filter("positive", |v: &(u32, i64)| v.1 > 0).sink("two", move |_| Ok(CollectSink::new(c2.clone())));
    dead_letter_sink(&job);
    let summary = job.build().unwrap().run().await.unwrap();
    let got1: Vec<(u32, i64)> = o1.lock().unwrap().committed.iter().map(|r| r.value).collect();
    let got2: Vec<(u32, i64)> = o2.lock().unwrap().committed.iter().map(|r| r.value).collect();
    assert_eq!(got1, *values, "order within one partition is kept");
    assert_eq!(got2, values.iter().copied().filter(|v| v.1 > 0).collect::<Vec<_>>());
    assert_eq!(summary.records_out, (got1.len() + got2.len()) as u64);
}

#[test]
fn settings_that_cannot_work_are_refused_by_build() {
    let bad = [
        JobConfig { batch_size: 0, ..JobConfig::default() },
        JobConfig { checkpoint_interval: Some(Duration::ZERO), ..JobConfig::default() },
        JobConfig { max_records_per_checkpoint: Some(5), ..JobConfig::default() },
    ];
    for config in bad {
        let job = Job::builder("bad").config(config.clone());
        job.source("numbers", 1, |ctx: &NodeContext| Ok(VecSource::new(Arc::new(vec![(1u32, 1i64)]), ctx)))
            .sink("collect", |_| Ok(CollectSink::new(Arc::default())));
        let err = job.build().err().expect("refused");
        assert!(matches!(err, BuildError::Config(_)), "{config:?}: {err}");
    }
}
