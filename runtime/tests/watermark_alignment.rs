//! Watermark alignment (`JobConfig::max_event_time_drift`): a source partition far
//! ahead in event time waits for the slow one, so what downstream operators see of
//! the two partitions never drifts apart by much more than the configured drift.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tidemill_runtime::testing::{CollectSink, VecSource};
use tidemill_runtime::{
    Batch, EventTime, Job, JobConfig, NodeContext, Operator, OperatorError, Output, Source, SourceError, SourcePoll,
    StateSnapshot,
};

/// Partition 1 reads slowly (2 ms per batch); partition 0 as fast as it can.
struct UnevenVec(VecSource<i64>, usize);

impl Source for UnevenVec {
    type Out = i64;

    async fn poll(&mut self, max_records: usize) -> Result<SourcePoll<i64>, SourceError> {
        if self.1 == 1 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        self.0.poll(max_records).await
    }

    fn snapshot(&self) -> Result<StateSnapshot, SourceError> {
        self.0.snapshot()
    }

    fn restore(&mut self, snapshot: &StateSnapshot) -> Result<(), SourceError> {
        self.0.restore(snapshot)
    }
}

/// Sees both partitions (one shard) and records the largest gap between the
/// newest event times seen from each, once the slow partition is past its first
/// 2 s of event time and past where the fast one was when the slow one's first
/// record arrived. Before the slow partition has published anything, nothing
/// holds the fast one back (a partition without data yet is left out of the
/// alignment): the lead it gains then, larger on a loaded machine (a full test
/// run once saw 1 s of it), has to be waited out before the gap says anything
/// about alignment.
struct GapProbe {
    newest: [Option<i64>; 2],
    /// Where the fast partition was when the slow one's first record came.
    lead: Option<i64>,
    largest_gap: Arc<Mutex<i64>>,
}

impl Operator for GapProbe {
    type In = i64;
    type Out = i64;

    fn process(&mut self, batch: Batch<i64>, out: &mut Output<i64>) -> Result<(), OperatorError> {
        for r in &batch {
            let p = r.origin.partition.0 as usize;
            self.newest[p] = Some(self.newest[p].map_or(r.value, |t| t.max(r.value)));
            if p == 1 && self.lead.is_none() {
                self.lead = Some(self.newest[0].unwrap_or(0));
            }
            let start = self.lead.unwrap_or(i64::MAX).max(2_000);
            if let [Some(a), Some(b)] = self.newest {
                if b < start {
                    continue;
                }
                let mut largest = self.largest_gap.lock().unwrap();
                *largest = (*largest).max((a - b).abs());
            }
        }
        out.emit_all(batch);
        Ok(())
    }
}

/// Runs two partitions of 8,000 records each, event time 1 ms apart, and returns
/// the largest gap the probe saw.
async fn largest_gap(drift: Option<Duration>) -> i64 {
    let times: Arc<Vec<i64>> = Arc::new((0..8_000).collect());
    let gap = Arc::new(Mutex::new(0));
    let config = JobConfig { batch_size: 10, edge_capacity: 2, max_event_time_drift: drift, ..JobConfig::default() };
    let job = Job::builder("alignment").config(config);
    let probe = gap.clone();
    let out: Arc<Mutex<tidemill_runtime::testing::Collected<i64>>> = Arc::default();
    job.source("times", 2, move |ctx: &NodeContext| Ok(UnevenVec(VecSource::new(times.clone(), ctx), ctx.shard)))
        .assign_timestamps("event_time", |t: &i64| EventTime::from_millis(*t), Duration::ZERO)
        .key_by(|_: &i64| 0u8, 1)
        .operator("probe", move |_, _| GapProbe { newest: [None, None], lead: None, largest_gap: probe.clone() })
        .sink("out", move |_| Ok(CollectSink::new(Arc::clone(&out))));
    let dead: Arc<Mutex<tidemill_runtime::testing::Collected<tidemill_runtime::DeadLetter>>> = Arc::default();
    job.dead_letters().sink("dlq", move |_| Ok(CollectSink::new(Arc::clone(&dead))));
    let summary = job.build().unwrap().run().await.unwrap();
    assert_eq!(summary.records_in, 16_000);
    let largest = *gap.lock().unwrap();
    largest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_ahead_in_event_time_waits_for_the_slow_one() {
    let free = largest_gap(None).await;
    assert!(free > 2_000, "without alignment the fast partition runs far ahead ({free} ms)");
    let aligned = largest_gap(Some(Duration::from_millis(100))).await;
    eprintln!("largest gap: {free} ms free, {aligned} ms aligned");
    // The drift, plus what was already in flight when the fast partition stopped
    // (a few batches of 10 records, 1 ms apart, on each edge).
    assert!(aligned <= 250, "with a 100 ms drift the partitions stay close ({aligned} ms)");
}
