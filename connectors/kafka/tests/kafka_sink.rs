//! `KafkaSink` against a real broker (`scripts/kafka start`, or the broker named by
//! `KAFKA_BOOTSTRAP_SERVERS`): exactly-once across crashes, fencing of zombies,
//! isolation of uncommitted output, and a whole job with restarts. Every test makes
//! its own uniquely named topic and job (so its own transactional ids).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tidemill_kafka::rdkafka::consumer::{BaseConsumer, Consumer};
use tidemill_kafka::rdkafka::error::KafkaError;
use tidemill_kafka::rdkafka::message::{Headers, Message};
use tidemill_kafka::rdkafka::{ClientConfig, Offset as KafkaOffset, TopicPartitionList};
use tidemill_kafka::{KafkaSink, KafkaSinkConfig, OutgoingRecord};
use tidemill_runtime::testing::{CollectSink, Collected, VecSource};
use tidemill_runtime::{
    Batch, DeadLetter, Epoch, ErrorChain, EventTime, Job, JobConfig, NodeContext, Operator, OperatorError, Origin,
    Output, Record, RestartPolicy, Sink, SinkError, StagedOutput, StateSnapshot,
};
use tokio::sync::oneshot;
use tokio::time::Instant;

mod support;
use support::{brokers, create_topic, delete_topic, unique, TIMEOUT};

const PARTITIONS: i32 = 3;

/// What the tests write: a key and a unique label.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
struct Item {
    key: String,
    label: String,
}

fn items(tag: &str, n: usize) -> Vec<Item> {
    (0..n).map(|i| Item { key: format!("k{}", i % 7), label: format!("{tag}-{i}") }).collect()
}

/// Value = label, key = key, a header, and a timestamp.
fn encode(item: Item) -> OutgoingRecord {
    OutgoingRecord::value(item.label.clone())
        .with_key(item.key)
        .with_header("label", item.label)
        .with_timestamp(EventTime::from_millis(1_767_225_600_000))
}

type TestSink = KafkaSink<Item, fn(Item) -> OutgoingRecord>;

/// One lineage for every sink of these tests: a sink opened with
/// [`reopened`] is the same run's sink restarted from its checkpoint.
const LINEAGE: &str = "0123456789abcdef0123456789abcdef";

fn ctx(job: &str, resumed: Option<u64>) -> NodeContext {
    let mut ctx = NodeContext { job: Arc::from(job), ..NodeContext::for_tests("out") };
    ctx.run.lineage = LINEAGE.parse().unwrap();
    ctx.run.resumed = resumed.map(Epoch::new);
    ctx
}

fn sink(topic: &str, job: &str) -> TestSink {
    sink_in(topic, &ctx(job, None))
}

fn sink_in(topic: &str, ctx: &NodeContext) -> TestSink {
    let config = KafkaSinkConfig::new(brokers(), topic);
    KafkaSink::new(config, ctx, encode as fn(Item) -> OutgoingRecord).expect("sink")
}

async fn opened(topic: &str, job: &str) -> TestSink {
    let mut s = sink(topic, job);
    s.open().await.expect("open");
    s
}

/// The sink of the same run restarted from its checkpoint of epoch `resumed`.
async fn reopened(topic: &str, job: &str, resumed: u64) -> TestSink {
    let mut s = sink_in(topic, &ctx(job, Some(resumed)));
    s.open().await.expect("open");
    s
}

fn batch(values: &[Item]) -> Batch<Item> {
    values.iter().map(|v| Record::new(v.clone(), EventTime::MIN, Origin::INTERNAL)).collect()
}

/// Writes `values` and stages them as `epoch`.
async fn write_and_stage(s: &mut TestSink, values: &[Item], epoch: u64) -> StagedOutput {
    s.write(batch(values)).await.expect("write");
    let staged = s.stage(Epoch::new(epoch)).await.expect("stage");
    assert!(!staged.0.is_empty());
    staged
}

/// One message read back.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Seen {
    label: String,
    key: String,
    header: String,
    timestamp: Option<i64>,
}

fn consumer(isolation: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers())
        // Assigned, never subscribed: the group is only needed for position().
        .set("group.id", unique("reader"))
        .set("isolation.level", isolation)
        .set("enable.partition.eof", "true")
        // Should a fetch ever be answered "offset out of range", start over rather
        // than jump to the end (librdkafka's default), which would skip records
        // silently; `read_all` counts each offset once.
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer")
}

/// The offsets every partition holds: the high watermark, as a `read_uncommitted`
/// client sees it (written, committed or not, markers included), or the last stable
/// offset for `read_committed`.
fn ends(topic: &str, isolation: &str) -> Vec<i64> {
    let c = consumer(isolation);
    (0..PARTITIONS).map(|p| c.fetch_watermarks(topic, p, TIMEOUT).expect("watermarks").1).collect()
}

/// Everything a consumer with `isolation` can read, up to the end offsets of a
/// `read_uncommitted` client taken now: it returns once its position has passed
/// every record written so far (so, under `read_committed`, once every transaction
/// is settled and its markers are written), or fails after `TIMEOUT`.
async fn read_all(topic: &str, isolation: &'static str) -> Vec<Seen> {
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        let targets = ends(&topic, "read_uncommitted");
        let c = consumer(isolation);
        let mut tpl = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            tpl.add_partition_offset(&topic, p, KafkaOffset::Beginning).unwrap();
        }
        c.assign(&tpl).unwrap();
        let done = |c: &BaseConsumer| {
            let positions = c.position().unwrap();
            (0..PARTITIONS).all(|p| match positions.find_partition(&topic, p).map(|e| e.offset()) {
                Some(KafkaOffset::Offset(o)) => o >= targets[p as usize],
                _ => targets[p as usize] == 0,
            })
        };
        let deadline = Instant::now() + TIMEOUT;
        let mut seen = Vec::new();
        let mut offsets = std::collections::HashSet::new();
        while !done(&c) {
            assert!(Instant::now() < deadline, "{isolation} read did not reach offsets {targets:?}");
            match c.poll(Duration::from_millis(100)) {
                Some(Ok(m)) if offsets.insert((m.partition(), m.offset())) => seen.push(seen_of(&m)),
                Some(Ok(m)) => eprintln!("read_all: offset {} of partition {} read again", m.offset(), m.partition()),
                Some(Err(KafkaError::PartitionEOF(_))) | None => {}
                Some(Err(e)) => panic!("consumer error {e}"),
            }
        }
        seen.sort();
        seen
    })
    .await
    .unwrap()
}

/// What a `read_committed` consumer gets before it reaches the end of the stable
/// part of every partition (`PartitionEOF` at the last stable offset).
async fn read_committed_until_eof(topic: &str) -> Vec<Seen> {
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        let c = consumer("read_committed");
        let mut tpl = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            tpl.add_partition_offset(&topic, p, KafkaOffset::Beginning).unwrap();
        }
        c.assign(&tpl).unwrap();
        let (mut eof, mut seen) = (BTreeSet::new(), Vec::new());
        let deadline = Instant::now() + TIMEOUT;
        while eof.len() < PARTITIONS as usize {
            assert!(Instant::now() < deadline, "no end of partition on {eof:?}");
            match c.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => seen.push(seen_of(&m)),
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    eof.insert(p);
                }
                None => {}
                Some(Err(e)) => panic!("consumer error {e}"),
            }
        }
        seen
    })
    .await
    .unwrap()
}

fn seen_of<M: Message>(m: &M) -> Seen {
    let text = |b: Option<&[u8]>| String::from_utf8(b.unwrap_or_default().to_vec()).unwrap();
    let header = m.headers().and_then(|h| h.iter().find(|h| h.key == "label")).and_then(|h| h.value);
    Seen { label: text(m.payload()), key: text(m.key()), header: text(header), timestamp: m.timestamp().to_millis() }
}

fn expected(values: &[Item]) -> Vec<Seen> {
    let mut out: Vec<Seen> = values
        .iter()
        .map(|v| Seen {
            label: v.label.clone(),
            key: v.key.clone(),
            header: v.label.clone(),
            timestamp: Some(1_767_225_600_000),
        })
        .collect();
    out.sort();
    out
}

/// The commit marker of `group` as a `read_uncommitted` client sees it (which does
/// not wait for open transactions): offset and metadata.
fn marker(group: &str, topic: &str) -> (KafkaOffset, String) {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", group)
        .set("isolation.level", "read_uncommitted")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(topic, 0);
    let offsets = c.committed_offsets(tpl, TIMEOUT).unwrap();
    let elem = offsets.find_partition(topic, 0).unwrap();
    (elem.offset(), elem.metadata().to_owned())
}

/// A commit of `sink` running in a task, stopped just before `commit_transaction`:
/// its records and marker are in an open transaction.
struct PausedCommit {
    task: tokio::task::JoinHandle<(TestSink, Result<(), SinkError>)>,
    resume: oneshot::Sender<()>,
}

async fn commit_until_paused(mut sink: TestSink, epoch: u64, staged: StagedOutput) -> PausedCommit {
    let (paused_tx, paused_rx) = oneshot::channel();
    let (resume, resume_rx) = oneshot::channel::<()>();
    let pause = async move {
        paused_tx.send(()).unwrap();
        // A dropped sender stands for a process that never comes back.
        if resume_rx.await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let task = tokio::spawn(async move {
        let result = sink.commit_pausing(Epoch::new(epoch), staged, pause).await;
        (sink, result)
    });
    paused_rx.await.expect("the commit reached the pause");
    PausedCommit { task, resume }
}

fn assert_fenced(result: Result<(), SinkError>) {
    match result {
        Err(e @ SinkError::Commit { .. }) => assert!(ErrorChain(&e).to_string().contains("fenced"), "{e:?}"),
        other => panic!("expected a fenced commit, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_manifest_and_commit_loses_nothing_and_duplicates_nothing() {
    let (topic, job) = (unique("crash"), unique("job"));
    create_topic(&topic, PARTITIONS).await;
    let first = items("e1", 60);

    // Instance A writes and stages epoch 1 (the manifest now holds it), then dies
    // before committing. Nothing is in Kafka yet: records are sent only at commit.
    let mut a = opened(&topic, &job).await;
    let staged = write_and_stage(&mut a, &first, 1).await;
    a.write(batch(&items("after-barrier", 5))).await.unwrap(); // epoch 2, never staged
    drop(a);
    assert_eq!(ends(&topic, "read_uncommitted"), vec![0; PARTITIONS as usize], "nothing produced before commit");

    // The restarted instance commits epoch 1 from the manifest.
    let mut b = reopened(&topic, &job, 1).await;
    assert_eq!(b.committed_epoch(), None);
    b.commit(Epoch::new(1), staged.clone()).await.expect("recovery commit");
    assert_eq!(b.committed_epoch(), Some(Epoch::new(1)));
    assert_eq!(read_all(&topic, "read_committed").await, expected(&first), "each record exactly once");
    let (offset, metadata) = marker(&b.ids().marker_group, &topic);
    assert_eq!(offset, KafkaOffset::Offset(1));
    assert!(metadata.contains("epoch 1"), "{metadata}");

    // Committing the same staged output again, by the same or by a new instance,
    // writes nothing at all.
    let written = ends(&topic, "read_uncommitted");
    b.commit(Epoch::new(1), staged.clone()).await.expect("repeated commit");
    drop(b);
    let mut c = reopened(&topic, &job, 1).await;
    assert_eq!(c.committed_epoch(), Some(Epoch::new(1)), "the marker is read back at open");
    c.commit(Epoch::new(1), staged).await.expect("commit after restart");
    assert_eq!(ends(&topic, "read_uncommitted"), written, "repeated commits produce nothing");
    assert_eq!(read_all(&topic, "read_committed").await, expected(&first));

    // And the sink goes on with the next epoch.
    let second = items("e2", 25);
    let staged = write_and_stage(&mut c, &second, 2).await;
    c.commit(Epoch::new(2), staged).await.unwrap();
    let both: Vec<Item> = first.iter().chain(&second).cloned().collect();
    assert_eq!(read_all(&topic, "read_committed").await, expected(&both));
    assert_eq!(marker(&c.ids().marker_group, &topic).0, KafkaOffset::Offset(2));
    delete_topic(&topic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_inside_the_kafka_transaction_is_rolled_back_and_redone() {
    let (topic, job) = (unique("midtxn"), unique("job"));
    create_topic(&topic, PARTITIONS).await;
    let values = items("e1", 40);
    let mut a = opened(&topic, &job).await;
    let staged = write_and_stage(&mut a, &values, 1).await;
    // A's commit has produced every record and the marker, and its process stops
    // there for good: the transaction stays open on the broker.
    let paused = commit_until_paused(a, 1, staged.clone()).await;
    drop(paused.resume);
    assert_eq!(read_all(&topic, "read_uncommitted").await, expected(&values), "A's records are in the log");

    // The restarted instance's init_transactions aborts A's transaction; its commit
    // from the manifest makes the records visible once.
    let mut b = reopened(&topic, &job, 1).await;
    assert_eq!(b.committed_epoch(), None, "A's marker was aborted with its records");
    b.commit(Epoch::new(1), staged).await.expect("recovery commit");
    assert_eq!(read_all(&topic, "read_committed").await, expected(&values), "exactly once");
    let twice: Vec<Item> = values.iter().chain(&values).cloned().collect();
    assert_eq!(read_all(&topic, "read_uncommitted").await, expected(&twice), "the aborted copy stays in the log");
    paused.task.abort();
    delete_topic(&topic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zombie_is_fenced_and_its_transaction_stays_invisible() {
    let (topic, job) = (unique("zombie"), unique("job"));
    create_topic(&topic, PARTITIONS).await;
    let zombie_values = items("zombie", 30);

    // A is in the middle of committing when B, the same sink shard restarted
    // elsewhere, opens: B's init_transactions aborts A's transaction and fences A.
    let mut a = opened(&topic, &job).await;
    let staged = write_and_stage(&mut a, &zombie_values, 1).await;
    let paused = commit_until_paused(a, 1, staged).await;
    let mut b = reopened(&topic, &job, 0).await;
    assert_eq!(b.committed_epoch(), None);
    paused.resume.send(()).unwrap();
    let (mut a, result) = paused.task.await.unwrap();
    assert_fenced(result);
    // A stays unusable.
    let staged = write_and_stage(&mut a, &items("zombie-2", 3), 2).await;
    assert!(a.commit(Epoch::new(2), staged).await.is_err());
    drop(a);
    assert!(read_all(&topic, "read_committed").await.is_empty(), "nothing of the zombie is visible");
    assert_eq!(read_all(&topic, "read_uncommitted").await, expected(&zombie_values), "although it was written");

    // B commits its own epoch 1.
    let values = items("b", 20);
    let staged = write_and_stage(&mut b, &values, 1).await;
    b.commit(Epoch::new(1), staged).await.expect("B commits");
    assert_eq!(read_all(&topic, "read_committed").await, expected(&values));

    // Now B is the old one: C opens, B's next commit fails before anything is written.
    let written = ends(&topic, "read_uncommitted");
    let c = reopened(&topic, &job, 1).await;
    assert_eq!(c.committed_epoch(), Some(Epoch::new(1)));
    let staged = write_and_stage(&mut b, &items("b-2", 10), 2).await;
    assert_fenced(b.commit(Epoch::new(2), staged).await);
    assert_eq!(ends(&topic, "read_uncommitted"), written, "a fenced producer writes nothing");
    assert_eq!(read_all(&topic, "read_committed").await, expected(&values));
    assert_eq!(marker(&c.ids().marker_group, &topic).0, KafkaOffset::Offset(1));
    delete_topic(&topic).await;
}

/// A new run of the job (a new lineage, no checkpoint) finds the earlier run's
/// commit marker: refused by default; allowed, its epochs 1.. are committed under a
/// marker of its own instead of being skipped as already committed. A resumed run
/// whose checkpoint is older than what it committed is refused: Kafka records
/// cannot be taken back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_run_is_refused_or_appends_and_an_older_checkpoint_is_refused() {
    let (topic, job) = (unique("rerun"), unique("job"));
    create_topic(&topic, PARTITIONS).await;
    let first = items("run1", 10);
    let mut a = opened(&topic, &job).await;
    let staged = write_and_stage(&mut a, &first, 1).await;
    a.commit(Epoch::new(1), staged).await.unwrap();
    let staged = write_and_stage(&mut a, &items("run1-e2", 5), 2).await;
    a.commit(Epoch::new(2), staged).await.unwrap();
    drop(a);

    let mut new_run = NodeContext { job: Arc::from(job.as_str()), ..NodeContext::for_tests("out") };
    let err = sink_in(&topic, &new_run).open().await.unwrap_err();
    assert!(matches!(err, tidemill_runtime::SinkError::ExistingOutput { .. }), "{err:?}");
    assert!(err.to_string().contains("existing_output"), "{err}");

    new_run.run.existing_output = tidemill_runtime::ExistingOutput::Append;
    let mut second = sink_in(&topic, &new_run);
    second.open().await.expect("appending is allowed");
    let values = items("run2", 7);
    let staged = write_and_stage(&mut second, &values, 1).await;
    second.commit(Epoch::new(1), staged).await.unwrap();
    let all: Vec<Item> = first.iter().chain(&items("run1-e2", 5)).chain(&values).cloned().collect();
    assert_eq!(read_all(&topic, "read_committed").await, expected(&all), "the new run's epoch 1 was not skipped");
    drop(second);

    let err = sink_in(&topic, &ctx(&job, Some(1))).open().await.unwrap_err();
    assert!(ErrorChain(&err).to_string().contains("cannot resume checkpoint epoch 1"), "{err}");
    delete_topic(&topic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uncommitted_output_is_invisible_to_read_committed_consumers() {
    let (topic, job) = (unique("isolation"), unique("job"));
    create_topic(&topic, PARTITIONS).await;
    let values = items("e1", 50);
    let mut a = opened(&topic, &job).await;
    let group = a.ids().marker_group.clone();
    let staged = write_and_stage(&mut a, &values, 1).await;
    let paused = commit_until_paused(a, 1, staged).await;

    // Every record is in the log (a read_uncommitted consumer gets them all), but
    // the last stable offset is still 0 everywhere: read_committed sees nothing.
    assert_eq!(read_all(&topic, "read_uncommitted").await, expected(&values));
    assert_eq!(ends(&topic, "read_committed"), vec![0; PARTITIONS as usize]);
    assert!(read_committed_until_eof(&topic).await.is_empty());
    assert_eq!(marker(&group, &topic).0, KafkaOffset::Invalid, "the marker is not committed either");

    paused.resume.send(()).unwrap();
    let (a, result) = paused.task.await.unwrap();
    result.expect("commit");
    assert_eq!(a.committed_epoch(), Some(Epoch::new(1)));
    assert_eq!(read_all(&topic, "read_committed").await, expected(&values));
    assert_eq!(marker(&group, &topic).0, KafkaOffset::Offset(1));
    delete_topic(&topic).await;
}

#[tokio::test]
async fn bad_staged_output_and_oversized_epochs_are_errors() {
    let topic = unique("offline");
    let config = KafkaSinkConfig { max_epoch_bytes: 200, ..KafkaSinkConfig::new(brokers(), &topic) };
    let encoder = encode as fn(Item) -> OutgoingRecord;
    let mut s = KafkaSink::new(config.clone(), &ctx("j", None), encoder).unwrap();
    match s.write(batch(&items("big", 20))).await {
        Err(e @ SinkError::Write { .. }) => assert!(ErrorChain(&e).to_string().contains("max_epoch_bytes"), "{e:?}"),
        other => panic!("unexpected {other:?}"),
    }

    let mut s = KafkaSink::new(config.clone(), &ctx("j", None), encoder).unwrap();
    let staged = write_and_stage(&mut s, &items("x", 1), 3).await;
    let err = |r: Result<(), SinkError>| ErrorChain(&r.unwrap_err()).to_string();
    assert!(err(s.commit(Epoch::new(4), staged.clone()).await).contains("staged for epoch 3"));
    let mut other = KafkaSink::new(config.clone(), &ctx("another-job", None), encoder).unwrap();
    assert!(err(other.commit(Epoch::new(3), staged.clone()).await).contains("transactional id"));
    assert!(err(s.commit(Epoch::new(3), StagedOutput(b"junk".to_vec())).await).contains("staged Kafka output"));
    assert!(err(s.commit(Epoch::new(3), staged).await).contains("before open"));
    // Nothing staged: nothing to do, even before open.
    s.commit(Epoch::new(5), StagedOutput::default()).await.unwrap();
    // A topic that does not exist fails open with a clear error.
    match s.open().await {
        Err(e @ SinkError::Unavailable { .. }) => {
            assert!(ErrorChain(&e).to_string().contains("does not exist"), "{e:?}")
        }
        other => panic!("unexpected {other:?}"),
    }
    // An invalid configuration fails at once.
    let bad = KafkaSinkConfig::new(brokers(), "bad topic");
    assert!(matches!(KafkaSink::new(bad, &ctx("j", None), encoder), Err(SinkError::Unavailable { .. })));
}

/// Passes records through; fails once, after `fail_after` records, if `armed`.
struct FailOnce {
    seen: usize,
    fail_after: usize,
    armed: Arc<AtomicBool>,
}

impl Operator for FailOnce {
    type In = Item;
    type Out = Item;

    fn process(&mut self, batch: Batch<Item>, out: &mut Output<Item>) -> Result<(), OperatorError> {
        self.seen += batch.len();
        if self.seen > self.fail_after && self.armed.swap(false, Ordering::SeqCst) {
            return Err(OperatorError::Failed("injected failure".into()));
        }
        out.emit_all(batch);
        Ok(())
    }

    fn snapshot(&self) -> Result<StateSnapshot, OperatorError> {
        StateSnapshot::encode(&self.seen)
    }

    fn restore(&mut self, snapshot: &StateSnapshot) -> Result<(), OperatorError> {
        self.seen = snapshot.decode()?;
        Ok(())
    }
}

/// A sink that fails its first commit of an epoch `>= fail_at` right *after* the
/// inner sink committed it: the runtime restarts and commits that epoch again from
/// the checkpoint, which the Kafka sink must recognise and skip.
struct FailAfterCommit<S> {
    inner: S,
    fail_at: Epoch,
    armed: Arc<AtomicBool>,
}

impl<S: Sink> Sink for FailAfterCommit<S> {
    type In = S::In;

    fn open(&mut self) -> impl Future<Output = Result<(), SinkError>> + Send {
        self.inner.open()
    }

    fn write(&mut self, batch: Batch<S::In>) -> impl Future<Output = Result<(), SinkError>> + Send {
        self.inner.write(batch)
    }

    fn stage(&mut self, epoch: Epoch) -> impl Future<Output = Result<StagedOutput, SinkError>> + Send {
        self.inner.stage(epoch)
    }

    async fn commit(&mut self, epoch: Epoch, staged: StagedOutput) -> Result<(), SinkError> {
        self.inner.commit(epoch, staged).await?;
        if epoch >= self.fail_at && self.armed.swap(false, Ordering::SeqCst) {
            return Err(SinkError::commit("the test", "injected failure after the Kafka commit"));
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_writes_every_record_exactly_once_through_restarts() {
    let topic = unique("job");
    create_topic(&topic, PARTITIONS).await;
    let parts: Vec<Arc<Vec<(u32, u64)>>> =
        (0..2u32).map(|p| Arc::new((0..1500u64).map(|i| (p, i)).collect())).collect();
    let config = JobConfig {
        batch_size: 50,
        // Many epochs: a partition reads at most 200 records per checkpoint.
        checkpoint_interval: Some(Duration::from_millis(10)),
        max_records_per_checkpoint: Some(200),
        restart: RestartPolicy { initial_backoff: Duration::from_millis(5), ..RestartPolicy::default() },
        ..JobConfig::default()
    };
    let job = Job::builder(&unique("job")).config(config);
    let operator_armed = Arc::new(AtomicBool::new(true));
    let sink_armed = Arc::new(AtomicBool::new(true));
    let dead: Arc<Mutex<Collected<DeadLetter>>> = Arc::default();
    let (sources, d) = (parts.clone(), dead.clone());
    let sink_config = KafkaSinkConfig::new(brokers(), &topic);
    let (oa, sa) = (operator_armed.clone(), sink_armed.clone());
    job.source("numbers", 2, move |ctx: &NodeContext| Ok(VecSource::new(sources[ctx.shard].clone(), ctx)))
        .map("items", |&(p, i): &(u32, u64)| Item { key: format!("k{}", i % 11), label: format!("p{p}-{i}") })
        .operator("fail-once", move |_: &NodeContext| FailOnce { seen: 0, fail_after: 700, armed: oa.clone() })
        .sink_sharded("out", 2, move |ctx: &NodeContext| {
            let inner = KafkaSink::new(sink_config.clone(), ctx, encode as fn(Item) -> OutgoingRecord)?;
            Ok(FailAfterCommit { inner, fail_at: Epoch::new(3), armed: sa.clone() })
        });
    job.dead_letters().sink("dlq", move |_| Ok(CollectSink::new(d.clone())));
    let summary = job.build().unwrap().run().await.expect("the job completes");

    assert!(!operator_armed.load(Ordering::SeqCst) && !sink_armed.load(Ordering::SeqCst), "both failures fired");
    // Two restarts, unless both failures fell into one pipeline generation.
    assert!((1..=2).contains(&summary.restarts), "{summary:?}");
    assert!(dead.lock().unwrap().committed.is_empty());
    // The oracle: every input record, once.
    let input: Vec<Item> = parts
        .iter()
        .flat_map(|p| p.iter())
        .map(|(p, i)| Item { key: format!("k{}", i % 11), label: format!("p{p}-{i}") })
        .collect();
    let read = read_all(&topic, "read_committed").await;
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &read {
        *counts.entry(s.label.as_str()).or_default() += 1;
    }
    let duplicated: Vec<_> = counts.iter().filter(|(_, &n)| n > 1).take(5).collect();
    assert!(duplicated.is_empty(), "duplicates: {duplicated:?}");
    assert_eq!(read.len(), input.len());
    assert_eq!(read, expected(&input));
    delete_topic(&topic).await;
}
