//! A slow sink throttles a fast source: records in flight stay bounded by the
//! edge capacities instead of piling up in (unbounded) actor mailboxes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tidemill_runtime::testing::{resident_bytes, CollectSink, Collected};
use tidemill_runtime::{
    Batch, DeadLetter, Epoch, EventTime, Job, JobConfig, NodeContext, Offset, Origin, PartitionId, Record, Sink,
    SinkError, Source, SourceError, SourcePoll, StagedOutput,
};
use tokio::sync::Notify;

/// An endless source of 1 KiB records that counts what it produced.
struct Endless {
    produced: Arc<AtomicU64>,
    next: u64,
    origin: Origin,
}

impl Source for Endless {
    type Out = Vec<u8>;

    async fn poll(&mut self, max_records: usize) -> Result<SourcePoll<Self::Out>, SourceError> {
        // A distinct 1 KiB allocation per record, so records piling up would show.
        let batch: Batch<Self::Out> = (0..max_records as u64)
            .map(|i| {
                Record::new(vec![7u8; 1024], EventTime::MIN, Origin { offset: Offset(self.next + i), ..self.origin })
            })
            .collect();
        self.next += max_records as u64;
        self.produced.fetch_add(max_records as u64, Ordering::SeqCst);
        Ok(SourcePoll::Data(batch))
    }
}

/// Sleeps on every batch; records the most records ever in flight and wakes the
/// test after `stop_after` batches.
struct SlowSink {
    produced: Arc<AtomicU64>,
    consumed: u64,
    max_in_flight: Arc<AtomicU64>,
    batches: u64,
    stop_after: u64,
    enough: Arc<Notify>,
}

impl Sink for SlowSink {
    type In = Vec<u8>;

    async fn write(&mut self, batch: Batch<Self::In>) -> Result<(), SinkError> {
        self.consumed += batch.len() as u64;
        let in_flight = self.produced.load(Ordering::SeqCst) - self.consumed;
        self.max_in_flight.fetch_max(in_flight, Ordering::SeqCst);
        self.batches += 1;
        if self.batches == self.stop_after {
            self.enough.notify_one();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        Ok(())
    }

    async fn stage(&mut self, _epoch: Epoch) -> Result<StagedOutput, SinkError> {
        Ok(StagedOutput::default())
    }

    async fn commit(&mut self, _epoch: Epoch, _staged: StagedOutput) -> Result<(), SinkError> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_sink_throttles_the_source_and_memory_stays_flat() {
    const BATCH: usize = 256;
    const CAPACITY: usize = 4;
    let produced = Arc::new(AtomicU64::new(0));
    let max_in_flight = Arc::new(AtomicU64::new(0));
    let enough = Arc::new(Notify::new());

    let job = Job::builder("backpressure").config(JobConfig {
        batch_size: BATCH,
        edge_capacity: CAPACITY,
        ..JobConfig::default()
    });
    let p = produced.clone();
    let src = job.source("endless", 1, move |ctx: &NodeContext| {
        Ok(Endless {
            produced: p.clone(),
            next: 0,
            origin: Origin { source: ctx.source_id, partition: PartitionId(0), offset: Offset(0) },
        })
    });
    let (p, m, e) = (produced.clone(), max_in_flight.clone(), enough.clone());
    src.operator("relay", |_: &NodeContext| Relay).sink("slow", move |_| {
        Ok(SlowSink {
            produced: p.clone(),
            consumed: 0,
            max_in_flight: m.clone(),
            batches: 0,
            stop_after: 150,
            enough: e.clone(),
        })
    });
    let dead: Arc<Mutex<Collected<DeadLetter>>> = Arc::default();
    let d = dead.clone();
    job.dead_letters().sink("dlq", move |_| Ok(CollectSink::new(d.clone())));

    let rss_before = resident_bytes();
    let handle = job.build().unwrap().start().await.unwrap();
    enough.notified().await;
    let rss_during = resident_bytes();
    handle.stop();
    let summary = handle.wait().await.unwrap();

    // Two edges of CAPACITY batches, plus one batch being handled by each of the
    // three actors: the most that can be in flight. Without backpressure the source
    // makes millions of records in the ~0.75 s the sink needs for 150 batches.
    let bound = ((2 * CAPACITY + 3) * BATCH) as u64;
    let max = max_in_flight.load(Ordering::SeqCst);
    assert!(max <= bound, "{max} records in flight, bound {bound}");
    assert!(summary.records_in >= 150 * BATCH as u64);
    assert_eq!(summary.records_in, summary.records_out, "graceful stop drains everything in flight");
    let growth = rss_during.saturating_sub(rss_before);
    assert!(growth < 64 << 20, "resident memory grew by {} MiB", growth >> 20);
}

/// Forwards batches unchanged.
struct Relay;

impl tidemill_runtime::Operator for Relay {
    type In = Vec<u8>;
    type Out = Vec<u8>;

    fn process(
        &mut self,
        batch: Batch<Self::In>,
        out: &mut tidemill_runtime::Output<Self::Out>,
    ) -> Result<(), tidemill_runtime::OperatorError> {
        out.emit_all(batch);
        Ok(())
    }
}
