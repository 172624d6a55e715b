//! An idle source partition is left out of the watermark after the idle timeout,
//! so event time keeps moving for the partitions that have data.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tidemill_runtime::testing::{CollectSink, Collected};
use tidemill_runtime::{
    Batch, DeadLetter, EventTime, Job, JobConfig, NodeContext, Offset, Operator, OperatorError, Origin, Output,
    PartitionId, Record, Source, SourceError, SourcePoll,
};
use tokio::sync::Notify;

/// Partition 0 counts up forever (event time = value, in ms); partition 1 never
/// has anything to say.
struct HalfIdle {
    shard: usize,
    next: i64,
    origin: Origin,
}

impl Source for HalfIdle {
    type Out = i64;

    async fn poll(&mut self, max_records: usize) -> Result<SourcePoll<i64>, SourceError> {
        if self.shard == 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
            return Ok(SourcePoll::Idle);
        }
        let batch: Batch<i64> = (0..max_records as i64)
            .map(|i| {
                let v = self.next + i;
                Record::new(v, EventTime::MIN, Origin { offset: Offset(v as u64), ..self.origin })
            })
            .collect();
        self.next += max_records as i64;
        // Stay polite: this source never ends by itself.
        tokio::time::sleep(Duration::from_millis(1)).await;
        Ok(SourcePoll::Data(batch))
    }
}

/// Remembers the watermarks it is given and wakes the test once one passes `target`.
struct WatchWatermarks {
    seen: Arc<Mutex<Vec<EventTime>>>,
    target: EventTime,
    reached: Arc<Notify>,
}

impl Operator for WatchWatermarks {
    type In = i64;
    type Out = i64;

    fn process(&mut self, batch: Batch<i64>, out: &mut Output<i64>) -> Result<(), OperatorError> {
        out.emit_all(batch);
        Ok(())
    }

    fn on_watermark(&mut self, watermark: EventTime, _out: &mut Output<i64>) -> Result<(), OperatorError> {
        self.seen.lock().expect("lock").push(watermark);
        if watermark >= self.target && watermark != EventTime::MAX {
            self.reached.notify_one();
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_partition_does_not_hold_back_the_watermark() {
    let config = JobConfig { idle_timeout: Duration::from_millis(50), batch_size: 100, ..JobConfig::default() };
    let job = Job::builder("idle").config(config);
    let src = job.source("numbers", 2, |ctx: &NodeContext| {
        let origin = Origin { source: ctx.source_id, partition: PartitionId(ctx.shard as u32), offset: Offset(0) };
        Ok(HalfIdle { shard: ctx.shard, next: 0, origin })
    });
    let seen = Arc::new(Mutex::new(Vec::new()));
    let reached = Arc::new(Notify::new());
    let (s, r) = (seen.clone(), reached.clone());
    src.assign_timestamps("time", |v: &i64| EventTime::from_millis(*v), Duration::from_millis(10))
        .key_by(|v: &i64| *v % 3, 1)
        .operator("watch", move |_, _| WatchWatermarks {
            seen: s.clone(),
            target: EventTime::from_millis(2_000),
            reached: r.clone(),
        })
        .sink("out", |_| Ok(CollectSink::new(Arc::default())));
    let dead: Arc<Mutex<Collected<DeadLetter>>> = Arc::default();
    let d = dead.clone();
    job.dead_letters().sink("dlq", move |_| Ok(CollectSink::new(d.clone())));

    let handle = job.build().unwrap().start().await.unwrap();
    // Without idleness the minimum over both partitions would stay at -inf until
    // the end of input, which this job never reaches by itself.
    tokio::time::timeout(Duration::from_secs(30), reached.notified())
        .await
        .expect("the watermark advanced while partition 1 was idle");
    handle.stop();
    handle.wait().await.unwrap();

    let seen = seen.lock().unwrap();
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "watermarks only move forward: {seen:?}");
    assert_eq!(seen.last(), Some(&EventTime::MAX), "a stopped job ends event time");
}
