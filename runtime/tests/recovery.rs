//! Checkpoints and recovery: a restarted pipeline, and a job started again after a
//! simulated crash, resume from the newest checkpoint and still produce every
//! result exactly once.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use tidemill_runtime::checkpoint::{CheckpointStore, LocalCheckpointStore};
use tidemill_runtime::testing::{CollectSink, Collected, VecSource};
use tidemill_runtime::{
    Batch, DeadLetter, EventTime, Job, JobBuilder, JobConfig, NodeContext, Operator, OperatorError, Origin, Output,
    Record, RestartPolicy, Source, SourceError, SourcePoll, StateSnapshot, ROUTING_SCHEME_VERSION,
};

type Value = (u32, i64);
type Out = Arc<Mutex<Collected<Value>>>;

/// A [`VecSource`] that reads slowly (1 ms per batch), so that checkpoints fall in
/// the middle of the input.
struct SlowVec(VecSource<Value>);

impl Source for SlowVec {
    type Out = Value;

    async fn poll(&mut self, max_records: usize) -> Result<SourcePoll<Value>, SourceError> {
        tokio::time::sleep(Duration::from_millis(1)).await;
        self.0.poll(max_records).await
    }

    fn snapshot(&self) -> Result<StateSnapshot, SourceError> {
        self.0.snapshot()
    }

    fn restore(&mut self, snapshot: &StateSnapshot) -> Result<(), SourceError> {
        self.0.restore(snapshot)
    }
}

/// Sums per key, emits the sums at the end; can fail once, after `fail_after`
/// records, if `armed`.
struct SumPerKey {
    sums: BTreeMap<u32, i64>,
    seen: usize,
    fail_after: usize,
    armed: Arc<AtomicBool>,
}

impl Operator for SumPerKey {
    type In = Value;
    type Out = Value;

    fn process(&mut self, batch: Batch<Value>, _out: &mut Output<Value>) -> Result<(), OperatorError> {
        self.seen += batch.len();
        if self.seen > self.fail_after && self.armed.swap(false, Ordering::SeqCst) {
            return Err(OperatorError::Failed("injected failure".into()));
        }
        for r in batch {
            *self.sums.entry(r.value.0).or_default() += r.value.1;
        }
        Ok(())
    }

    fn on_watermark(&mut self, watermark: EventTime, out: &mut Output<Value>) -> Result<(), OperatorError> {
        if watermark == EventTime::MAX {
            for (k, v) in std::mem::take(&mut self.sums) {
                out.emit(Record::new((k, v), EventTime::MAX, Origin::INTERNAL));
            }
        }
        Ok(())
    }

    fn snapshot(&self) -> Result<StateSnapshot, OperatorError> {
        StateSnapshot::encode(&(&self.sums, self.seen))
    }

    fn restore(&mut self, snapshot: &StateSnapshot) -> Result<(), OperatorError> {
        (self.sums, self.seen) = snapshot.decode()?;
        Ok(())
    }
}

fn input(n: usize, seed: u64) -> Arc<Vec<Value>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    Arc::new((0..n).map(|_| (rng.random_range(0..40u32), rng.random_range(-1000..1000i64))).collect())
}

struct Outputs {
    sums: Out,
    all: Out,
    dead: Arc<Mutex<Collected<DeadLetter>>>,
}

/// source (2 partitions) -+-> key_by -> SumPerKey -> "sums"
///                        +-> "all" (every record)
fn order_of_the_day(
    job: &JobBuilder,
    parts: [Arc<Vec<Value>>; 2],
    out: &Outputs,
    fail_after: usize,
    armed: Arc<AtomicBool>,
) {
    let src =
        job.source("numbers", 2, move |ctx: &NodeContext| Ok(SlowVec(VecSource::new(parts[ctx.shard].clone(), ctx))));
    let (sums, all, dead) = (out.sums.clone(), out.all.clone(), out.dead.clone());
    src.key_by(|v: &Value| v.0, 2)
        .operator("sum", move |_, _| SumPerKey { sums: BTreeMap::new(), seen: 0, fail_after, armed: armed.clone() })
        .sink("sums", move |_| Ok(CollectSink::new(sums.clone())));
    src.sink("all", move |_| Ok(CollectSink::new(all.clone())));
    job.dead_letters().sink("dlq", move |_| Ok(CollectSink::new(dead.clone())));
}

fn config() -> JobConfig {
    JobConfig {
        batch_size: 50,
        checkpoint_interval: Some(Duration::from_millis(3)),
        restart: RestartPolicy { initial_backoff: Duration::from_millis(5), ..RestartPolicy::default() },
        ..JobConfig::default()
    }
}

fn assert_exactly_once(out: &Outputs, parts: &[Arc<Vec<Value>>; 2]) {
    let mut want: Vec<Value> = parts.iter().flat_map(|p| p.iter().copied()).collect();
    let mut got: Vec<Value> = out.all.lock().unwrap().committed.iter().map(|r| r.value).collect();
    want.sort_unstable();
    got.sort_unstable();
    assert_eq!(got.len(), want.len(), "every record committed once");
    assert_eq!(got, want);
    let mut oracle = BTreeMap::new();
    for (k, v) in parts.iter().flat_map(|p| p.iter()) {
        *oracle.entry(*k).or_insert(0i64) += v;
    }
    let sums = out.sums.lock().unwrap();
    let mut got = BTreeMap::new();
    for r in &sums.committed {
        assert!(got.insert(r.value.0, r.value.1).is_none(), "key {} summed twice", r.value.0);
    }
    assert_eq!(got, oracle, "restored state plus the replayed rest equals the batch sums");
}

fn outputs() -> Outputs {
    Outputs { sums: Arc::default(), all: Arc::default(), dead: Arc::default() }
}

/// Waits until `out` has committed at least `n` epochs.
async fn commits_at_least(out: &Out, n: usize) {
    let notify = out.lock().unwrap().committed_notify.clone();
    loop {
        let woken = notify.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        if out.lock().unwrap().commits.len() >= n {
            return;
        }
        woken.await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_pipeline_resumes_from_the_last_checkpoint() {
    let parts = [input(20_000, 1), input(20_000, 2)];
    let out = outputs();
    let armed = Arc::new(AtomicBool::new(true));
    let job = Job::builder("restore").config(config());
    order_of_the_day(&job, parts.clone(), &out, 12_000, armed.clone());
    let summary = job.build().unwrap().run().await.unwrap();

    assert!(!armed.load(Ordering::SeqCst), "the failure happened");
    assert_eq!(summary.restarts, 1);
    assert!(out.all.lock().unwrap().commits.len() >= 3, "checkpoints before and after the restart");
    assert_exactly_once(&out, &parts);
    assert_eq!(summary.records_in, 40_000, "counts restored with the checkpoint are not counted twice");
    assert_eq!(summary.written_by_sink["all"], 40_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_started_again_after_a_crash_resumes_from_the_checkpoint_store() {
    let dir = tempfile::tempdir().unwrap();
    let parts = [input(30_000, 3), input(30_000, 4)];
    let out = outputs();
    let never = Arc::new(AtomicBool::new(false));

    let first = Job::builder("crash").config(config()).checkpoint_store(LocalCheckpointStore::new(dir.path()));
    order_of_the_day(&first, parts.clone(), &out, usize::MAX, never.clone());
    let handle = first.build().unwrap().start().await.unwrap();
    commits_at_least(&out.all, 3).await;
    handle.abort().await;

    let store = LocalCheckpointStore::new(dir.path());
    let manifest = store.latest().await.unwrap().expect("checkpoints were written");
    assert!(!manifest.finished);
    let committed_before = out.all.lock().unwrap().committed.len();
    assert!(committed_before < 60_000, "the crash came before the end");

    let second = Job::builder("crash").config(config()).checkpoint_store(LocalCheckpointStore::new(dir.path()));
    order_of_the_day(&second, parts.clone(), &out, usize::MAX, never);
    let summary = second.build().unwrap().run().await.unwrap();

    assert_exactly_once(&out, &parts);
    assert_eq!(summary.records_in, 60_000);
    let last = store.latest().await.unwrap().unwrap();
    assert!(last.finished, "the final checkpoint is marked finished");
    assert!(last.epoch > manifest.epoch);
    assert!(std::fs::read_dir(dir.path()).unwrap().count() <= 3, "old checkpoints are pruned");
}

/// `suspend` (what a consumer-group task does when its partition is revoked):
/// checkpoint, commit, stop without ending the streams. Open state is not emitted
/// but kept, and a job started again from the store finishes as if uninterrupted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_job_keeps_its_open_state_for_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let parts = [input(30_000, 5), input(30_000, 6)];
    let out = outputs();
    let never = Arc::new(AtomicBool::new(false));

    let first = Job::builder("suspend").config(config()).checkpoint_store(LocalCheckpointStore::new(dir.path()));
    order_of_the_day(&first, parts.clone(), &out, usize::MAX, never.clone());
    let handle = first.build().unwrap().start().await.unwrap();
    commits_at_least(&out.all, 2).await;
    handle.control().suspend();
    let summary = handle.wait().await.expect("a suspended job ends with its summary");

    assert!(summary.records_in < 60_000, "suspended before the end ({} read)", summary.records_in);
    assert!(out.sums.lock().unwrap().committed.is_empty(), "no open sum was emitted by the suspension");
    let store = LocalCheckpointStore::new(dir.path());
    let manifest = store.latest().await.unwrap().expect("the suspension checkpointed");
    assert!(!manifest.finished, "a suspension is not the end of the input");
    assert!(!out.all.lock().unwrap().committed.is_empty(), "the suspension committed what it checkpointed");

    let second = Job::builder("suspend").config(config()).checkpoint_store(LocalCheckpointStore::new(dir.path()));
    order_of_the_day(&second, parts.clone(), &out, usize::MAX, never);
    second.build().unwrap().run().await.unwrap();
    assert_exactly_once(&out, &parts);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_of_another_job_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let parts = [input(100, 5), input(100, 6)];
    let out = outputs();
    let never = Arc::new(AtomicBool::new(false));
    let job = Job::builder("one").config(config()).checkpoint_store(LocalCheckpointStore::new(dir.path()));
    order_of_the_day(&job, parts.clone(), &out, usize::MAX, never.clone());
    job.build().unwrap().run().await.unwrap();

    let other = Job::builder("two").config(config()).checkpoint_store(LocalCheckpointStore::new(dir.path()));
    order_of_the_day(&other, parts, &outputs(), usize::MAX, never);
    let err = other.build().unwrap().start().await.err().expect("refused");
    let err = tidemill_runtime::ErrorChain(&err).to_string();
    assert!(err.contains("`one`") && err.contains("`two`"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_routed_with_another_scheme_is_refused() {
    let written = tempfile::tempdir().unwrap();
    let parts = [input(100, 5), input(100, 6)];
    let never = Arc::new(AtomicBool::new(false));
    let job = Job::builder("sum").config(config()).checkpoint_store(LocalCheckpointStore::new(written.path()));
    order_of_the_day(&job, parts.clone(), &outputs(), usize::MAX, never.clone());
    job.build().unwrap().run().await.unwrap();

    // The same checkpoint as if an earlier version had written it with routing
    // scheme 1 (XXH64 over std `Hash` output), which sends keys to other shards.
    let mut manifest = LocalCheckpointStore::new(written.path()).latest().await.unwrap().expect("a checkpoint");
    assert_eq!(manifest.routing, ROUTING_SCHEME_VERSION);
    manifest.routing = 1;
    let earlier = tempfile::tempdir().unwrap();
    LocalCheckpointStore::new(earlier.path()).save(&manifest).await.unwrap();

    let again = Job::builder("sum").config(config()).checkpoint_store(LocalCheckpointStore::new(earlier.path()));
    order_of_the_day(&again, parts, &outputs(), usize::MAX, never);
    let err = again.build().unwrap().start().await.err().expect("refused");
    let err = tidemill_runtime::ErrorChain(&err).to_string();
    assert!(err.contains("routed with scheme 1") && err.contains("scheme 2"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_reads_at_most_the_cap_between_two_checkpoints() {
    let parts = [input(6_000, 7), input(6_000, 8)];
    let out = outputs();
    let never = Arc::new(AtomicBool::new(false));
    let config = JobConfig { max_records_per_checkpoint: Some(400), ..config() };
    let job = Job::builder("capped").config(config);
    order_of_the_day(&job, parts.clone(), &out, usize::MAX, never);
    job.build().unwrap().run().await.unwrap();

    assert_exactly_once(&out, &parts);
    let per_epoch = out.all.lock().unwrap().committed_per_epoch.clone();
    assert!(per_epoch.len() >= 12000 / 800, "the cap spread the input over many epochs: {per_epoch:?}");
    assert!(per_epoch.iter().all(|(_, n)| *n <= 2 * 400), "two partitions, 400 each per epoch: {per_epoch:?}");
}
