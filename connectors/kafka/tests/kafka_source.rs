//! `KafkaSource` against a real broker (`scripts/kafka start`, or the broker named by
//! `KAFKA_BOOTSTRAP_SERVERS`). Every test makes its own uniquely named topic.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::join_all;
use tidemill_kafka::rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
use tidemill_kafka::rdkafka::consumer::{BaseConsumer, Consumer};
use tidemill_kafka::rdkafka::error::{KafkaError, RDKafkaErrorCode};
use tidemill_kafka::rdkafka::message::{Header, OwnedHeaders};
use tidemill_kafka::rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use tidemill_kafka::rdkafka::{ClientConfig, Offset as KafkaOffset, TopicPartitionList};
use tidemill_kafka::{partition_count, KafkaRecord, KafkaSource, KafkaSourceConfig, StartOffsets, KAFKA_SOURCE_KIND};
use tidemill_operators::BytesStreamExt;
use tidemill_runtime::testing::{CollectSink, Collected};
use tidemill_runtime::Source as _;
use tidemill_runtime::{
    DeadLetter, Epoch, ErrorChain, EventTime, Job, NodeContext, Offset, Origin, PartitionId, PipelineId, ReasonCode,
    Record, SourceCatalog, SourceError, SourceId, SourcePoll, StateSnapshot,
};
use tokio::time::Instant;

mod support;
use support::{admin, brokers, create_topic, delete_topic, unique, Order, TIMEOUT};

fn producer() -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "1")
        .create()
        .expect("producer")
}

/// A record to produce and, once delivered, where it landed.
#[derive(Clone, Debug)]
struct Msg {
    partition: i32,
    key: Option<Vec<u8>>,
    payload: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
    timestamp: i64,
    offset: u64,
}

impl Msg {
    fn simple(partition: i32, i: usize) -> Msg {
        Msg {
            partition,
            key: Some(format!("k{i}").into_bytes()),
            payload: Some(format!("{{\"i\":{i}}}").into_bytes()),
            headers: Vec::new(),
            timestamp: 1_767_225_600_000 + i as i64,
            offset: 0,
        }
    }

    /// What the source should make of it.
    fn expected(&self) -> KafkaRecord {
        KafkaRecord {
            key: self.key.clone(),
            payload: self.payload.clone().unwrap_or_default(),
            headers: self.headers.iter().map(|(k, v)| (k.clone(), v.clone().unwrap_or_default())).collect(),
            timestamp: Some(EventTime::from_millis(self.timestamp)),
        }
    }
}

/// Produces all of `msgs` (many in flight), waits for every delivery and fills in
/// the offsets.
async fn produce(topic: &str, msgs: &mut [Msg]) {
    produce_with(&producer(), topic, msgs).await;
}

async fn produce_with(producer: &FutureProducer, topic: &str, msgs: &mut [Msg]) {
    let deliveries: Vec<_> = msgs
        .iter()
        .map(|m| {
            let mut headers = OwnedHeaders::new();
            for (key, value) in &m.headers {
                headers = headers.insert(Header { key, value: value.as_deref() });
            }
            let mut record: FutureRecord<'_, [u8], [u8]> =
                FutureRecord::to(topic).partition(m.partition).timestamp(m.timestamp).headers(headers);
            if let Some(key) = &m.key {
                record = record.key(key.as_slice());
            }
            if let Some(payload) = &m.payload {
                record = record.payload(payload.as_slice());
            }
            producer.send_result(record).map_err(|(e, _)| e).expect("enqueued")
        })
        .collect();
    for (m, delivery) in msgs.iter_mut().zip(join_all(deliveries).await) {
        let delivery = delivery.expect("not cancelled").map_err(|(e, _)| e).expect("delivered");
        assert_eq!(delivery.partition, m.partition);
        m.offset = delivery.offset as u64;
    }
}

async fn produce_simple(topic: &str, partition: i32, range: std::ops::Range<usize>) -> Vec<Msg> {
    let mut msgs: Vec<Msg> = range.map(|i| Msg::simple(partition, i)).collect();
    produce(topic, &mut msgs).await;
    msgs
}

fn ctx(job: &str, shard: usize, shards: usize, catalog: &SourceCatalog) -> NodeContext {
    NodeContext {
        job: Arc::from(job),
        node: Arc::from("orders"),
        shard,
        shards,
        catalog: catalog.clone(),
        source_id: SourceId(3),
        pipeline: PipelineId::next(),
        metrics: tidemill_runtime::metrics::NodeMetrics::detached("orders"),
        event_time: tidemill_runtime::EventTimeBoard::detached(),
        run: tidemill_runtime::RunInfo::fresh(&tidemill_runtime::JobConfig::default()),
    }
}

fn source(config: &KafkaSourceConfig, shard: usize) -> KafkaSource {
    KafkaSource::new(config.clone(), &ctx("kafka-test", shard, 3, &SourceCatalog::new())).expect("source")
}

/// Polls until `End` (bounded mode).
async fn read_to_end(source: &mut KafkaSource, max: usize) -> Vec<Record<KafkaRecord>> {
    let deadline = Instant::now() + TIMEOUT;
    let mut out = Vec::new();
    loop {
        match source.poll(max).await.expect("poll") {
            SourcePoll::Data(batch) => {
                assert!(!batch.is_empty() && batch.len() <= max, "batch of {}", batch.len());
                out.extend(batch);
            }
            SourcePoll::Idle => assert!(Instant::now() < deadline, "no End after {} records", out.len()),
            SourcePoll::End => return out,
        }
    }
}

/// Polls until at least `n` records came (with batches of at most `max`).
async fn read_n(source: &mut KafkaSource, n: usize, max: usize) -> Vec<Record<KafkaRecord>> {
    let deadline = Instant::now() + TIMEOUT;
    let mut out = Vec::new();
    while out.len() < n {
        match source.poll(max.min(n - out.len())).await.expect("poll") {
            SourcePoll::Data(batch) => out.extend(batch),
            SourcePoll::Idle => assert!(Instant::now() < deadline, "only {} of {n} records came", out.len()),
            SourcePoll::End => panic!("End after {} of {n} records", out.len()),
        }
    }
    out
}

fn offsets(records: &[Record<KafkaRecord>]) -> Vec<u64> {
    records.iter().map(|r| r.origin.offset.0).collect()
}

#[tokio::test]
async fn reads_every_record_of_every_partition_exactly_once() {
    let topic = unique("all");
    create_topic(&topic, 3).await;
    let mut msgs: Vec<Msg> = (0..150)
        .map(|i| {
            let mut m = Msg::simple((i % 3) as i32, i);
            if i % 5 == 0 {
                m.key = None;
            }
            if i % 7 != 0 {
                m.headers = vec![
                    ("i".into(), Some(i.to_string().into_bytes())),
                    ("traceparent".into(), Some(b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_vec())),
                    ("null".into(), None),
                    ("i".into(), Some(b"again".to_vec())),
                ];
            }
            if i == 42 {
                m.payload = None; // a tombstone
            }
            if i == 43 {
                m.payload = Some(vec![0xff, 0xfe, b'\n', 0]); // not UTF-8, a newline, a NUL
            }
            m
        })
        .collect();
    produce(&topic, &mut msgs).await;

    let catalog = SourceCatalog::new();
    let config = KafkaSourceConfig::new(brokers(), &topic).bounded();
    let mut read = Vec::new();
    for p in 0..3 {
        let mut s = KafkaSource::new(config.clone(), &ctx("kafka-test", p, 3, &catalog)).unwrap();
        let records = read_to_end(&mut s, 7).await;
        let n = records.len() as u64;
        assert_eq!(offsets(&records), (0..n).collect::<Vec<_>>(), "partition {p} read in order");
        assert!(matches!(s.poll(7).await.unwrap(), SourcePoll::End), "an ended source stays ended");
        read.extend(records);
    }
    assert_eq!(read.len(), msgs.len());
    let by_position: BTreeMap<(u32, u64), &Msg> = msgs.iter().map(|m| ((m.partition as u32, m.offset), m)).collect();
    let mut seen = BTreeSet::new();
    for r in &read {
        assert_eq!(r.origin.source, SourceId(3));
        let key = (r.origin.partition.0, r.origin.offset.0);
        assert!(seen.insert(key), "{key:?} read twice");
        let m = by_position[&key];
        assert_eq!(r.value, m.expected(), "record at {key:?}");
        assert_eq!(r.time, EventTime::from_millis(m.timestamp));
    }
    let info = catalog.lookup(&Origin { source: SourceId(3), partition: PartitionId(2), offset: Offset(0) }).unwrap();
    assert_eq!((info.kind, info.name.as_str(), info.partition), (KAFKA_SOURCE_KIND, topic.as_str(), Some(2)));
    delete_topic(&topic).await;
}

#[tokio::test]
async fn snapshot_and_restore_continue_exactly_after() {
    let topic = unique("restore");
    create_topic(&topic, 3).await;
    let all = produce_simple(&topic, 1, 0..40).await;
    let config = KafkaSourceConfig::new(brokers(), &topic).bounded();
    let full = read_to_end(&mut source(&config, 1), 100).await;
    assert_eq!(full.len(), 40);
    assert_eq!(
        full.iter().map(|r| r.value.clone()).collect::<Vec<_>>(),
        all.iter().map(Msg::expected).collect::<Vec<_>>()
    );

    for taken in [0, 1, 13, 39, 40] {
        let mut first = source(&config, 1);
        let mut head = if taken == 0 { Vec::new() } else { read_n(&mut first, taken, 5).await };
        let snapshot = first.snapshot().unwrap();
        // The first source reading on does not move the checkpoint.
        if taken < 40 {
            read_n(&mut first, 1, 5).await;
        }
        let mut second = source(&config, 1);
        second.restore(&snapshot).unwrap();
        head.extend(read_to_end(&mut second, 5).await);
        assert_eq!(offsets(&head), offsets(&full), "restored after {taken} records");
        assert_eq!(head, full, "restored after {taken} records");
    }

    // A checkpoint of another partition or topic is refused.
    let snapshot = source(&config, 1).snapshot().unwrap();
    assert!(matches!(source(&config, 2).restore(&snapshot), Err(SourceError::State(_))));
    assert!(matches!(source(&config, 2).restore(&StateSnapshot(b"junk".to_vec())), Err(SourceError::State(_))));
    delete_topic(&topic).await;
}

/// A record larger than the job's `max_record_bytes` is not passed on: the
/// source dead-letters it as `record_too_large` with its first bytes and reads on.
#[tokio::test]
async fn a_record_over_the_size_limit_is_a_dead_letter_with_its_first_bytes() {
    let topic = unique("too-large");
    create_topic(&topic, 1).await;
    let mut msgs = vec![Msg::simple(0, 0), Msg::simple(0, 1), Msg::simple(0, 2)];
    msgs[1].payload = Some(vec![b'z'; 5_000]);
    produce(&topic, &mut msgs).await;
    let config = KafkaSourceConfig::new(brokers(), &topic).bounded();
    let mut context = ctx("kafka-test", 0, 1, &SourceCatalog::new());
    context.run.max_record_bytes = 1_000;
    let mut source = KafkaSource::new(config, &context).expect("source");
    let records = read_to_end(&mut source, 100).await;
    assert_eq!(offsets(&records), vec![msgs[0].offset, msgs[2].offset], "the others are read");
    let dead = source.take_dead_letters();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].reason, tidemill_runtime::ReasonCode::RecordTooLarge);
    assert_eq!(dead[0].origin.offset.0, msgs[1].offset);
    assert_eq!(dead[0].payload, vec![b'z'; tidemill_runtime::DeadLetter::TRUNCATED_PAYLOAD]);
    assert!(dead[0].detail.contains("record of 5000 bytes"), "{}", dead[0].detail);
    delete_topic(&topic).await;
}

#[tokio::test]
async fn bounded_mode_fixes_the_end_at_the_first_start() {
    let topic = unique("bounded");
    create_topic(&topic, 1).await;
    produce_simple(&topic, 0, 0..10).await;
    let config = KafkaSourceConfig::new(brokers(), &topic).bounded();
    let mut first = source(&config, 0);
    let head = read_n(&mut first, 4, 4).await;
    assert_eq!((first.position(), first.end_offset()), (Some(4), Some(10)));
    produce_simple(&topic, 0, 10..15).await;
    let snapshot = first.snapshot().unwrap();
    let rest = read_to_end(&mut first, 100).await;
    assert_eq!(offsets(&head).into_iter().chain(offsets(&rest)).collect::<Vec<_>>(), (0..10).collect::<Vec<_>>());

    // Restored: the same end, although the partition has grown.
    let mut restored = source(&config, 0);
    restored.restore(&snapshot).unwrap();
    assert_eq!(offsets(&read_to_end(&mut restored, 100).await), (4..10).collect::<Vec<_>>());
    // A fresh start fixes a new end.
    assert_eq!(read_to_end(&mut source(&config, 0), 100).await.len(), 15);
    delete_topic(&topic).await;
}

#[tokio::test]
async fn an_empty_partition_ends_at_once_when_bounded_and_idles_when_not() {
    let topic = unique("empty");
    create_topic(&topic, 3).await;
    let config = KafkaSourceConfig::new(brokers(), &topic);
    for p in 0..3 {
        let mut bounded = source(&config.clone().bounded(), p);
        assert!(matches!(bounded.poll(10).await.unwrap(), SourcePoll::End));
        assert_eq!(bounded.end_offset(), Some(0));
    }
    let mut unbounded = source(&config, 0);
    let started = Instant::now();
    assert!(matches!(unbounded.poll(10).await.unwrap(), SourcePoll::Idle));
    assert!(started.elapsed() < Duration::from_secs(2), "an idle poll returns soon");
    delete_topic(&topic).await;
}

#[tokio::test]
async fn latest_start_reads_only_what_comes_after_the_first_poll() {
    let topic = unique("latest");
    create_topic(&topic, 1).await;
    produce_simple(&topic, 0, 0..5).await;
    let config = KafkaSourceConfig { start: StartOffsets::Latest, ..KafkaSourceConfig::new(brokers(), &topic) };
    let mut s = source(&config, 0);
    assert!(matches!(s.poll(10).await.unwrap(), SourcePoll::Idle));
    assert_eq!(s.position(), Some(5));
    let later = produce_simple(&topic, 0, 5..8).await;
    let read = read_n(&mut s, 3, 10).await;
    assert_eq!(offsets(&read), vec![5, 6, 7]);
    assert_eq!(
        read.iter().map(|r| r.value.clone()).collect::<Vec<_>>(),
        later.iter().map(Msg::expected).collect::<Vec<_>>()
    );
    assert!(matches!(s.poll(10).await.unwrap(), SourcePoll::Idle));
    delete_topic(&topic).await;
}

fn unreadable_reason(result: Result<KafkaSource, SourceError>) -> String {
    match result {
        Err(SourceError::Unreadable { what, reason }) => format!("{what}: {}", ErrorChain(&*reason)),
        Err(other) => panic!("unexpected error {other}"),
        Ok(s) => panic!("no error: {s:?}"),
    }
}

#[tokio::test]
async fn a_missing_topic_or_partition_is_a_clear_error() {
    let missing = unique("missing");
    let catalog = SourceCatalog::new();
    let text =
        unreadable_reason(KafkaSource::new(KafkaSourceConfig::new(brokers(), &missing), &ctx("j", 0, 1, &catalog)));
    assert!(text.contains(&missing) && text.contains("topic does not exist"), "{text}");
    match partition_count(&brokers(), &missing, TIMEOUT) {
        Err(KafkaError::MetadataFetch(RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
        other => panic!("unexpected {other:?}"),
    }

    let topic = unique("three");
    create_topic(&topic, 3).await;
    assert_eq!(partition_count(&brokers(), &topic, TIMEOUT).unwrap(), 3);
    let text =
        unreadable_reason(KafkaSource::new(KafkaSourceConfig::new(brokers(), &topic), &ctx("j", 3, 4, &catalog)));
    assert!(text.contains("partition 3 does not exist: the topic has 3 partitions"), "{text}");
    let text =
        unreadable_reason(KafkaSource::new(KafkaSourceConfig::new(brokers(), "bad topic"), &ctx("j", 0, 1, &catalog)));
    assert!(text.contains("not a valid topic name"), "{text}");
    delete_topic(&topic).await;
}

/// Waits (up to [`TIMEOUT`]) until the group's committed offset for partition 0
/// of `topic` is `expected`, and returns the last one read. The source's consumer
/// is closed by its driver thread after the source is dropped, so the commit may
/// land a moment after `drop` returns.
fn committed_eventually(group: &str, topic: &str, expected: KafkaOffset) -> KafkaOffset {
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let now = committed(group, topic);
        if now == expected || std::time::Instant::now() >= deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The offset the group committed for partition 0 of `topic`, read by a fresh consumer.
fn committed(group: &str, topic: &str) -> KafkaOffset {
    let consumer: BaseConsumer =
        ClientConfig::new().set("bootstrap.servers", brokers()).set("group.id", group).create().unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(topic, 0);
    let offsets = consumer.committed_offsets(tpl, TIMEOUT).unwrap();
    offsets.find_partition(topic, 0).unwrap().offset()
}

#[tokio::test]
async fn checkpoint_complete_commits_the_snapshotted_offset_to_the_group() {
    let topic = unique("commit");
    create_topic(&topic, 1).await;
    produce_simple(&topic, 0, 0..20).await;
    // The group is the job's name unless the config names one.
    let job = unique("job");
    let config = KafkaSourceConfig::new(brokers(), &topic);
    let mut s = KafkaSource::new(config.clone(), &ctx(&job, 0, 1, &SourceCatalog::new())).unwrap();
    read_n(&mut s, 8, 8).await;
    s.snapshot().unwrap();
    read_n(&mut s, 7, 8).await;
    assert_eq!(s.position(), Some(15));
    s.checkpoint_complete(Epoch::new(1)).await.unwrap();
    // A repeat is harmless.
    s.checkpoint_complete(Epoch::new(1)).await.unwrap();
    // The consumer closes, finishing its commits, on its driver thread.
    drop(s);
    let expected = KafkaOffset::Offset(8);
    assert_eq!(committed_eventually(&job, &topic, expected), expected, "the snapshot's offset, not the position");

    let group = unique("group");
    let config = KafkaSourceConfig { group_id: Some(group.clone()), ..config };
    let mut s = KafkaSource::new(config, &ctx(&job, 0, 1, &SourceCatalog::new())).unwrap();
    s.checkpoint_complete(Epoch::new(1)).await.unwrap(); // no snapshot yet: nothing to commit
    read_n(&mut s, 20, 100).await;
    s.snapshot().unwrap();
    s.checkpoint_complete(Epoch::new(2)).await.unwrap();
    drop(s);
    assert_eq!(committed_eventually(&group, &topic, KafkaOffset::Offset(20)), KafkaOffset::Offset(20));
    delete_topic(&topic).await;
}

#[tokio::test]
async fn lost_offsets_fail_or_go_on_from_the_earliest() {
    let topic = unique("lost");
    create_topic(&topic, 1).await;
    produce_simple(&topic, 0, 0..10).await;
    let config = KafkaSourceConfig::new(brokers(), &topic).bounded();
    let mut first = source(&config, 0);
    read_n(&mut first, 3, 3).await;
    let snapshot = first.snapshot().unwrap();
    // Records 0..6 go, as retention would delete them.
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, KafkaOffset::Offset(6)).unwrap();
    admin().delete_records(&tpl, &AdminOptions::new().operation_timeout(Some(TIMEOUT))).await.unwrap();

    let mut strict = source(&config, 0);
    strict.restore(&snapshot).unwrap();
    match strict.poll(10).await {
        Err(SourceError::Unreadable { reason, .. }) => {
            assert!(reason.to_string().contains("data loss: offsets 3..6 were deleted"), "{reason}")
        }
        other => panic!("unexpected {other:?}"),
    }
    let lenient = KafkaSourceConfig { fail_on_data_loss: false, ..config };
    let mut lenient = source(&lenient, 0);
    lenient.restore(&snapshot).unwrap();
    assert_eq!(offsets(&read_to_end(&mut lenient, 100).await), vec![6, 7, 8, 9]);
    delete_topic(&topic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_decodes_kafka_records_and_dead_letters_keep_the_value() {
    let topic = unique("job");
    create_topic(&topic, 3).await;
    let mut msgs: Vec<Msg> = (0..300)
        .map(|i| {
            let order = format!(
                r#"{{"order_id":"o-{i}","user_id":"u-{}","amount":{},"event_time":"2026-01-01T00:00:00.000Z"}}"#,
                i % 7,
                i + 1
            );
            let payload = if i % 10 == 0 { format!("{{broken {i}") } else { order };
            Msg { payload: Some(payload.into_bytes()), ..Msg::simple((i % 3) as i32, i) }
        })
        .collect();
    produce(&topic, &mut msgs).await;

    let config = KafkaSourceConfig::new(brokers(), &topic).bounded();
    let partitions = partition_count(&config.brokers, &config.topic, TIMEOUT).unwrap();
    let job = Job::builder(&unique("job"));
    let orders: Arc<Mutex<Collected<Order>>> = Arc::default();
    let dead: Arc<Mutex<Collected<DeadLetter>>> = Arc::default();
    let (o, d) = (orders.clone(), dead.clone());
    job.source("orders", partitions, move |ctx| KafkaSource::new(config.clone(), ctx))
        .decode_json::<Order>("decode")
        .sink("collect", move |_| Ok(CollectSink::new(o.clone())));
    job.dead_letters().sink("dlq", move |_| Ok(CollectSink::new(d.clone())));
    let summary = job.build().unwrap().run().await.unwrap();

    assert_eq!(summary.records_in, 300);
    let ids: BTreeSet<String> = orders.lock().unwrap().committed.iter().map(|r| r.value.order_id.clone()).collect();
    assert_eq!(ids, (0..300).filter(|i| i % 10 != 0).map(|i| format!("o-{i}")).collect());
    let dead: Vec<DeadLetter> = dead.lock().unwrap().committed.iter().map(|r| r.value.clone()).collect();
    assert!(dead.iter().all(|d| d.reason == ReasonCode::NotJson));
    let mut payloads: Vec<Vec<u8>> = dead.into_iter().map(|d| d.payload).collect();
    payloads.sort();
    let mut expected: Vec<Vec<u8>> =
        msgs.iter().filter_map(|m| m.payload.clone()).filter(|p| p.starts_with(b"{broken")).collect();
    expected.sort();
    assert_eq!(payloads, expected, "dead letters keep the Kafka value");
    delete_topic(&topic).await;
}

#[tokio::test]
async fn a_deleted_topic_fails_the_source_unless_data_loss_is_allowed() {
    let topic = unique("deleted");
    create_topic(&topic, 1).await;
    produce_simple(&topic, 0, 0..5).await;
    // librdkafka gives a vanished topic `topic.metadata.propagation.max.ms` (30 s by
    // default) to come back before it reports it.
    let config = KafkaSourceConfig::new(brokers(), &topic).property("topic.metadata.propagation.max.ms", "500");
    let mut strict = source(&config, 0);
    let mut lenient = source(&KafkaSourceConfig { fail_on_data_loss: false, ..config }, 0);
    read_n(&mut strict, 5, 10).await;
    read_n(&mut lenient, 5, 10).await;
    delete_topic(&topic).await;

    let deadline = Instant::now() + TIMEOUT;
    let reason = loop {
        match strict.poll(10).await {
            Ok(SourcePoll::Idle) => assert!(Instant::now() < deadline, "the deletion was not noticed"),
            Err(SourceError::Unreadable { reason, .. }) => break reason.to_string(),
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(lenient.poll(10).await, Ok(SourcePoll::Idle)));
    };
    assert!(reason.contains("data loss: the topic or partition was deleted"), "{reason}");

    // The topic comes back with new records: the lenient source reads them from the start.
    let deadline = Instant::now() + TIMEOUT;
    let new = NewTopic::new(&topic, 1, TopicReplication::Fixed(1));
    let opts = AdminOptions::new().operation_timeout(Some(TIMEOUT));
    while admin().create_topics([&new], &opts).await.unwrap().into_iter().any(|r| r.is_err()) {
        assert!(Instant::now() < deadline, "the topic could not be created again");
        tokio::time::sleep(Duration::from_millis(100)).await; // until the deletion is complete
    }
    let again = produce_simple(&topic, 0, 100..103).await;
    let read = read_n(&mut lenient, 3, 10).await;
    assert_eq!(offsets(&read), vec![0, 1, 2]);
    assert_eq!(
        read.iter().map(|r| r.value.clone()).collect::<Vec<_>>(),
        again.iter().map(Msg::expected).collect::<Vec<_>>()
    );
    delete_topic(&topic).await;
}

#[tokio::test]
async fn transactions_committed_records_are_read_aborted_ones_skipped_and_bounded_mode_ends() {
    let topic = unique("txn");
    create_topic(&topic, 1).await;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("transactional.id", unique("txn"))
        .create()
        .unwrap();
    producer.init_transactions(TIMEOUT).unwrap();
    let send = |range: std::ops::Range<usize>| -> Vec<_> {
        range
            .map(|i| {
                let payload = format!("{i}");
                producer.send_result(FutureRecord::<(), _>::to(&topic).partition(0).payload(&payload)).unwrap()
            })
            .collect()
    };
    producer.begin_transaction().unwrap();
    let committed = send(0..5);
    producer.commit_transaction(TIMEOUT).unwrap();
    producer.begin_transaction().unwrap();
    let aborted = send(5..8);
    producer.flush(TIMEOUT).unwrap(); // written to the log, then aborted
    producer.abort_transaction(TIMEOUT).unwrap();
    for d in join_all(committed).await.into_iter().chain(join_all(aborted).await) {
        d.unwrap().map_err(|(e, _)| e).unwrap();
    }
    // 5 records, a commit marker, 3 aborted records, an abort marker.
    let config = KafkaSourceConfig::new(brokers(), &topic).bounded();
    let mut s = source(&config, 0);
    let read = read_n(&mut s, 5, 100).await;
    assert_eq!(offsets(&read), vec![0, 1, 2, 3, 4]);
    let snapshot = s.snapshot().unwrap();
    assert!(matches!(s.poll(100).await.unwrap(), SourcePoll::End));
    assert_eq!((s.position(), s.end_offset()), (Some(10), Some(10)));
    // Restored before the markers and aborted records, it still ends.
    let mut restored = source(&config, 0);
    restored.restore(&snapshot).unwrap();
    assert!(read_to_end(&mut restored, 100).await.is_empty());
    assert_eq!(restored.position(), Some(10));
    delete_topic(&topic).await;
}

#[tokio::test]
async fn offsets_deleted_while_reading_fail_or_are_skipped() {
    let topic = unique("lost-live");
    create_topic(&topic, 1).await;
    // One record batch per record, and a consumer that fetches one batch at a time,
    // so that its fetch position stays just ahead of what it returned.
    let producer = producer();
    for i in 0..10 {
        produce_with(&producer, &topic, &mut [Msg::simple(0, i)]).await;
    }
    let config = KafkaSourceConfig::new(brokers(), &topic)
        .bounded()
        .property("queued.min.messages", "1")
        .property("max.partition.fetch.bytes", "1")
        .property("fetch.wait.max.ms", "10");
    let mut strict = source(&config, 0);
    let mut lenient = source(&KafkaSourceConfig { fail_on_data_loss: false, ..config }, 0);
    read_n(&mut strict, 2, 2).await;
    let mut read = offsets(&read_n(&mut lenient, 2, 2).await);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, KafkaOffset::Offset(8)).unwrap();
    admin().delete_records(&tpl, &AdminOptions::new().operation_timeout(Some(TIMEOUT))).await.unwrap();

    let deadline = Instant::now() + TIMEOUT;
    let reason = loop {
        match strict.poll(1).await {
            Ok(SourcePoll::Idle | SourcePoll::Data(_)) => assert!(Instant::now() < deadline, "no error"),
            Err(SourceError::Unreadable { reason, .. }) => break reason.to_string(),
            other => panic!("unexpected {other:?}"),
        }
    };
    assert!(reason.contains("data loss: offsets") && reason.contains("..8 were deleted"), "{reason}");
    read.extend(offsets(&read_to_end(&mut lenient, 1).await));
    // What was already fetched before the deletion, then the rest from offset 8.
    let jump = read.iter().position(|&o| o == 8).expect("offset 8 read");
    assert_eq!(read[..jump], (0..jump as u64).collect::<Vec<_>>());
    assert_eq!(read[jump..], [8, 9]);
    assert!(jump < 8, "nothing was skipped: {read:?}");
    delete_topic(&topic).await;
}

#[tokio::test]
async fn unreachable_brokers_are_not_an_error() {
    let config = KafkaSourceConfig {
        metadata_timeout: Duration::from_millis(300),
        ..KafkaSourceConfig::new("127.0.0.1:1", unique("nowhere"))
    };
    let mut s = KafkaSource::new(config, &ctx("j", 0, 1, &SourceCatalog::new())).expect("not an error");
    assert!(matches!(s.poll(10).await.unwrap(), SourcePoll::Idle));
    assert!(matches!(s.poll(10).await.unwrap(), SourcePoll::Idle));
    assert_eq!(s.position(), None);
    // A checkpoint before the brokers were reached holds no position.
    let snapshot = s.snapshot().unwrap();
    s.restore(&snapshot).unwrap();
    s.checkpoint_complete(Epoch::new(1)).await.unwrap();
}
