//! A sink blocked for a minute while the topic keeps receiving data (the real
//! broker): the job's memory stays under a stated bound, the sources pause their
//! partitions instead of failing, and once the sink is unblocked every record
//! arrives exactly once.
//!
//! The bound, for `PARTITIONS` partitions with the Kafka source's defaults:
//! per partition librdkafka holds at most its prefetch queue
//! (`queued.max.messages.kbytes`, 16 MiB) plus one fetch response
//! (`max.partition.fetch.bytes`, 8 MiB); the job holds at most `edge_capacity`
//! batches per edge; the test's producer buffers at most 16 MiB. With 64 MiB for
//! allocator slack that is `MEMORY_BOUND`, while `VOLUME` (four times more) is
//! written to the topic during the minute.
//!
//! `TIDEMILL_BACKPRESSURE_SECS` shortens the blocked time for local runs.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tidemill_kafka::rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use tidemill_kafka::rdkafka::client::DefaultClientContext;
use tidemill_kafka::rdkafka::consumer::{BaseConsumer, Consumer};
use tidemill_kafka::rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use tidemill_kafka::rdkafka::ClientConfig;
use tidemill_kafka::{KafkaRecord, KafkaSource, KafkaSourceConfig};
use tidemill_runtime::testing::resident_bytes;
use tidemill_runtime::{Batch, Epoch, Job, JobConfig, Sink, SinkError, StagedOutput};
use tidemill_testkit::kafka::{brokers, TopicGuard};
use tokio::sync::watch;

const PARTITIONS: i32 = 4;
const MIB: u64 = 1024 * 1024;
const RECORD_BYTES: usize = 1024;
/// What the producer writes while the sink is blocked.
const VOLUME: u64 = 800 * MIB;
/// The most the process may grow over its size before the data arrived.
const MEMORY_BOUND: u64 = PARTITIONS as u64 * 24 * MIB + 36 * MIB + 16 * MIB + 64 * MIB;

/// A sink that takes no batch until its gate opens, and records what it got.
struct GatedSink {
    gate: watch::Receiver<bool>,
    /// Set when the first batch is waiting at the closed gate.
    blocked: Arc<watch::Sender<bool>>,
    seen: Arc<Mutex<Vec<(u32, u64)>>>,
    count: Arc<watch::Sender<u64>>,
}

impl Sink for GatedSink {
    type In = KafkaRecord;

    async fn write(&mut self, batch: Batch<KafkaRecord>) -> Result<(), SinkError> {
        if !*self.gate.borrow() {
            self.blocked.send_replace(true);
            self.gate.wait_for(|open| *open).await.map_err(|e| SinkError::write("the gated sink", e))?;
        }
        let n = batch.len() as u64;
        self.seen.lock().unwrap().extend(batch.into_iter().map(|r| (r.origin.partition.0, r.origin.offset.0)));
        self.count.send_modify(|c| *c += n);
        Ok(())
    }

    async fn stage(&mut self, _epoch: Epoch) -> Result<StagedOutput, SinkError> {
        Ok(StagedOutput::default())
    }

    async fn commit(&mut self, _epoch: Epoch, _staged: StagedOutput) -> Result<(), SinkError> {
        Ok(())
    }
}

fn blocked_for() -> Duration {
    let secs = std::env::var("TIDEMILL_BACKPRESSURE_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    Duration::from_secs(secs)
}

async fn create_topic(name: &str) {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", brokers()).create().expect("admin client");
    let topic = NewTopic::new(name, PARTITIONS, TopicReplication::Fixed(1));
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin.create_topics(&[topic], &opts).await.expect("create topic");
    for r in results {
        r.expect("topic created");
    }
}

/// Writes `VOLUME` bytes of incompressible records, spread evenly over `over`.
fn produce(topic: &str, over: Duration) -> u64 {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("queue.buffering.max.kbytes", "16384")
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    let records = VOLUME / RECORD_BYTES as u64;
    let rounds = 100u64;
    let started = Instant::now();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut payload = vec![0u8; RECORD_BYTES];
    for round in 0..rounds {
        for i in 0..records / rounds {
            for chunk in payload.chunks_mut(8) {
                // xorshift: cheap bytes that do not compress.
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
            }
            let partition = (i % PARTITIONS as u64) as i32;
            let mut record = BaseRecord::<(), [u8]>::to(topic).payload(&payload[..]).partition(partition);
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    // The bounded producer queue is full: wait for deliveries.
                    Err((_, r)) => {
                        std::thread::sleep(Duration::from_millis(1));
                        record = r;
                    }
                }
            }
        }
        // Pace the load over the minute (load generation, not synchronisation).
        let due = over.mul_f64((round + 1) as f64 / rounds as f64);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            std::thread::sleep(wait);
        }
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
    records / rounds * rounds
}

/// The offsets each partition holds: `partition -> high watermark` (low is 0).
fn high_watermarks(topic: &str) -> Vec<u64> {
    let consumer: BaseConsumer = ClientConfig::new().set("bootstrap.servers", brokers()).create().expect("consumer");
    (0..PARTITIONS)
        .map(|p| {
            let (low, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10)).expect("watermarks");
            assert_eq!(low, 0);
            high as u64
        })
        .collect()
}

#[test]
fn a_sink_blocked_for_a_minute_bounds_memory_and_loses_nothing() {
    let _ = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).try_init();
    // The guard deletes the topic from outside the job's runtime.
    let topic = TopicGuard::unique("backpressure");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
    runtime.block_on(blocked_sink(&topic.name));
}

async fn blocked_sink(topic: &str) {
    create_topic(topic).await;

    let (gate_tx, gate) = watch::channel(false);
    let blocked = Arc::new(watch::channel(false).0);
    let count = Arc::new(watch::channel(0u64).0);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = {
        let (blocked, count, seen) = (blocked.clone(), count.clone(), seen.clone());
        move |_: &tidemill_runtime::NodeContext| {
            Ok(GatedSink { gate: gate.clone(), blocked: blocked.clone(), seen: seen.clone(), count: count.clone() })
        }
    };
    let config = KafkaSourceConfig::new(brokers(), topic);
    let job = Job::builder("backpressure")
        .config(JobConfig { checkpoint_interval: Some(Duration::from_secs(5)), ..JobConfig::default() });
    job.source("input", PARTITIONS as usize, move |ctx| KafkaSource::new(config.clone(), ctx)).sink("gated", sink);
    // A Kafka source may reject records (over max_record_bytes): they need a sink.
    let dead: Arc<Mutex<tidemill_runtime::testing::Collected<tidemill_runtime::DeadLetter>>> = Arc::default();
    job.dead_letters().sink("dlq", move |_| Ok(tidemill_runtime::testing::CollectSink::new(dead.clone())));
    let handle = job.build().expect("graph").start().await.expect("job starts");

    // The process's size before any data, after the job and its clients started.
    let baseline = resident_bytes();
    let peak = Arc::new(AtomicU64::new(baseline));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        std::thread::spawn(move || {
            while sampling.load(Ordering::Relaxed) {
                peak.fetch_max(resident_bytes(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };

    let minute = blocked_for();
    let producer = {
        let topic = topic.to_string();
        std::thread::spawn(move || produce(&topic, minute.mul_f64(0.8)))
    };
    let mut blocked_rx = blocked.subscribe();
    tokio::time::timeout(Duration::from_secs(60), blocked_rx.wait_for(|b| *b)).await.expect("sink reached").unwrap();
    let blocked_at = Instant::now();
    eprintln!("the sink is blocked");
    let produced = tokio::task::spawn_blocking(move || producer.join().expect("producer")).await.unwrap();
    if let Some(rest) = minute.checked_sub(blocked_at.elapsed()) {
        // The sink stays blocked for the full minute: waiting is the point here.
        tokio::time::sleep(rest).await;
    }
    eprintln!("produced {produced} records; unblocking the sink");
    let read_while_blocked = handle.records_in();
    let peak_while_blocked = peak.load(Ordering::Relaxed);
    assert_eq!(*count.borrow(), 0, "the sink took nothing while blocked");
    gate_tx.send_replace(true);

    let highs = high_watermarks(topic);
    let total: u64 = highs.iter().sum();
    assert_eq!(total, produced, "the topic holds what was produced");
    let mut count_rx = count.subscribe();
    tokio::time::timeout(Duration::from_secs(300), count_rx.wait_for(|c| *c >= total))
        .await
        .expect("every record arrives after the sink is unblocked")
        .unwrap();
    eprintln!("every record arrived; stopping the job");
    handle.stop();
    let summary = handle.wait().await.expect("job stops cleanly");
    sampling.store(false, Ordering::Relaxed);
    sampler.join().unwrap();

    let growth = peak_while_blocked.saturating_sub(baseline);
    eprintln!(
        "produced {} MiB ({produced} records) while blocked {:?}; the job read {read_while_blocked}; \
         peak growth {} MiB (bound {} MiB)",
        produced * RECORD_BYTES as u64 / MIB,
        minute,
        growth / MIB,
        MEMORY_BOUND / MIB
    );
    assert!(growth < MEMORY_BOUND, "memory grew by {} MiB, over the bound of {} MiB", growth / MIB, MEMORY_BOUND / MIB);
    assert!(
        read_while_blocked * RECORD_BYTES as u64 <= MEMORY_BOUND,
        "the sources read {read_while_blocked} records while the sink was blocked: they did not stop"
    );
    assert_eq!(summary.restarts, 0, "nothing failed while blocked");

    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(seen.len() as u64, total, "each record exactly once");
    let distinct: BTreeSet<(u32, u64)> = seen.into_iter().collect();
    let expected: BTreeSet<(u32, u64)> =
        highs.iter().enumerate().flat_map(|(p, &high)| (0..high).map(move |o| (p as u32, o))).collect();
    assert_eq!(distinct, expected, "every offset of every partition, none twice");
}
