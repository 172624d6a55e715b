//! End-to-end latency to visibility: from a record's time (event time at a sink,
//! the source's own timestamp at a source) to the commit that made it visible.
//!
//! Observing every record would cost a histogram update per record. Instead an
//! actor notes, per batch, the batch's *oldest* record time in a small per-epoch
//! sketch, and when the epoch commits it observes `commit time - t` once per
//! noted batch: the histogram counts batches (up to `batch_size` records each),
//! each at the latency of its oldest record, an upper bound for the whole batch.

use std::collections::BTreeMap;
use std::time::SystemTime;

use opentelemetry::metrics::Histogram;
use opentelemetry::KeyValue;

use crate::record::Record;
use crate::time::{Epoch, EventTime};

/// Exact below this many ms, then 8 buckets per power of two (error below 6.25%).
const LINEAR: u64 = 8;
/// Ages are clamped at 2^40 ms (about 35 years).
const MAX_EXP: u32 = 40;
const BUCKETS: usize = ((MAX_EXP - 2) * 8 + 8) as usize;
/// Epochs kept while their commit has not been reported (a bound, not a target).
const MAX_SEALED: usize = 64;

fn bucket(v: u64) -> usize {
    let v = v.min((1u64 << MAX_EXP) - 1);
    if v < LINEAR {
        return v as usize;
    }
    let e = 63 - v.leading_zeros();
    let m = (v >> (e - 3)) & 7;
    ((e - 2) * 8) as usize + m as usize
}

/// The middle of a bucket, in ms.
fn middle(idx: usize) -> f64 {
    if idx < LINEAR as usize {
        return idx as f64;
    }
    let e = (idx / 8 + 2) as u32;
    let m = (idx % 8) as u64;
    let width = 1u64 << (e - 3);
    ((8 + m) * width) as f64 + (width as f64 - 1.0) / 2.0
}

fn now_millis() -> i64 {
    EventTime::from(chrono::DateTime::<chrono::Utc>::from(SystemTime::now())).as_millis()
}

/// Times (ms since the Unix epoch) noted in one epoch, bucketed by their distance
/// from an anchor taken when the sketch was created.
#[derive(Clone, Debug)]
struct TimeSketch {
    anchor: i64,
    /// Times at or before the anchor, by `anchor - t`.
    past: Box<[u32]>,
    /// Times after the anchor, by `t - anchor`.
    future: Box<[u32]>,
}

impl TimeSketch {
    fn new(anchor: i64) -> Self {
        TimeSketch { anchor, past: vec![0; BUCKETS].into(), future: vec![0; BUCKETS].into() }
    }

    fn note(&mut self, t: i64) {
        let d = self.anchor.saturating_sub(t);
        let (side, v) = if d >= 0 { (&mut self.past, d as u64) } else { (&mut self.future, d.unsigned_abs()) };
        let b = &mut side[bucket(v)];
        *b = b.saturating_add(1);
    }

    fn merge(&mut self, other: &TimeSketch) {
        // Sketches of one actor share no anchor; re-noting each bucket's middle is
        // exact enough for a histogram with far coarser buckets.
        for (idx, n) in other.past.iter().enumerate().filter(|(_, n)| **n > 0) {
            let t = other.anchor - middle(idx) as i64;
            (0..*n).for_each(|_| self.note(t));
        }
        for (idx, n) in other.future.iter().enumerate().filter(|(_, n)| **n > 0) {
            let t = other.anchor + middle(idx) as i64;
            (0..*n).for_each(|_| self.note(t));
        }
    }

    /// Observes `now - t` in seconds for every noted time.
    fn observe(&self, now: i64, histogram: &Histogram<f64>, attributes: &[KeyValue]) {
        let since_anchor = (now - self.anchor) as f64;
        let record = |ms: f64, n: u32| {
            let seconds = (ms.max(0.0)) / 1000.0;
            (0..n).for_each(|_| histogram.record(seconds, attributes));
        };
        for (idx, n) in self.past.iter().enumerate().filter(|(_, n)| **n > 0) {
            record(since_anchor + middle(idx), *n);
        }
        for (idx, n) in self.future.iter().enumerate().filter(|(_, n)| **n > 0) {
            record(since_anchor - middle(idx), *n);
        }
    }
}

/// A latency-to-visibility recorder for one actor: note batches as they pass,
/// seal them into an epoch at its barrier, observe them when the epoch commits.
///
/// The runtime keeps one in every sink shard (event time to commit) and every
/// source partition (source timestamp to checkpoint commit). A sink that knows
/// other times of its records (a Kafka append time carried in the payload) can get
/// one from [`crate::metrics::NodeMetrics::latency`] and feed it with
/// [`EpochLatency::note_oldest`].
pub struct EpochLatency {
    histogram: Histogram<f64>,
    attributes: Vec<KeyValue>,
    open: Option<TimeSketch>,
    sealed: BTreeMap<Epoch, TimeSketch>,
}

impl std::fmt::Debug for EpochLatency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpochLatency")
            .field("attributes", &self.attributes)
            .field("sealed", &self.sealed.len())
            .finish()
    }
}

impl EpochLatency {
    pub(crate) fn new(histogram: Histogram<f64>, attributes: Vec<KeyValue>) -> Self {
        EpochLatency { histogram, attributes, open: None, sealed: BTreeMap::new() }
    }

    /// Notes a batch by its oldest record time; `-inf` and `+inf` times (records
    /// without an event time, window results at the end of input) are ignored.
    pub fn note_batch<T>(&mut self, batch: &[Record<T>]) {
        let oldest = batch.iter().map(|r| r.time.as_millis()).filter(|t| *t != i64::MIN && *t != i64::MAX).min();
        if let Some(t) = oldest {
            self.note_millis(t);
        }
    }

    /// Notes one time (the oldest of a batch, typically).
    pub fn note_oldest(&mut self, t: EventTime) {
        if t != EventTime::MIN && t != EventTime::MAX {
            self.note_millis(t.as_millis());
        }
    }

    fn note_millis(&mut self, t: i64) {
        self.open.get_or_insert_with(|| TimeSketch::new(now_millis())).note(t);
    }

    /// Everything noted since the last seal belongs to `epoch` (its barrier passed).
    pub fn seal(&mut self, epoch: Epoch) {
        let Some(open) = self.open.take() else { return };
        match self.sealed.get_mut(&epoch) {
            Some(s) => s.merge(&open),
            None => {
                self.sealed.insert(epoch, open);
            }
        }
        while self.sealed.len() > MAX_SEALED {
            self.sealed.pop_first();
        }
    }

    /// Epochs up to `epoch` are visible: observe their latencies.
    pub fn committed(&mut self, epoch: Epoch) {
        let now = now_millis();
        while let Some(entry) = self.sealed.first_entry() {
            if *entry.key() > epoch {
                break;
            }
            entry.remove().observe(now, &self.histogram, &self.attributes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_middles_fall_inside() {
        let mut last = 0;
        for v in [0u64, 1, 7, 8, 9, 15, 16, 17, 100, 1_000, 65_535, 1 << 30, (1 << 40) - 1, u64::MAX] {
            let b = bucket(v);
            assert!(b >= last, "bucket({v}) = {b} < {last}");
            assert!(b < BUCKETS);
            last = b;
            if v < (1 << 40) {
                let m = middle(b);
                assert!((m - v as f64).abs() <= (v as f64) * 0.0625 + 0.5, "v {v} middle {m}");
            }
        }
    }

    #[test]
    fn committed_epochs_are_observed_once() {
        use opentelemetry::metrics::MeterProvider as _;
        let reader = std::sync::Arc::new(opentelemetry_sdk::metrics::ManualReader::builder().build());
        let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
            .with_reader(super::super::SharedReader(reader.clone()))
            .build();
        let h = provider.meter("t").f64_histogram("lat").with_unit("s").with_boundaries(vec![1.0, 100.0]).build();
        let mut l = EpochLatency::new(h, vec![]);
        let now = now_millis();
        let rec = |t: i64| Record::new((), EventTime::from_millis(t), crate::record::Origin::INTERNAL);
        // Epoch 1: two batches, 10 s and 50 s old; epoch 2: one batch 500 s old.
        l.note_batch(&[rec(now - 10_000), rec(now - 1_000)]);
        l.note_batch(&[rec(now - 50_000), rec(i64::MIN)]);
        l.seal(Epoch::new(1));
        l.note_batch(&[rec(now - 500_000)]);
        l.seal(Epoch::new(2));
        l.committed(Epoch::new(1));
        let text = super::super::collect_text(&reader).unwrap();
        assert!(text.contains("lat_seconds_bucket{le=\"1\"} 0\n"), "{text}");
        assert!(text.contains("lat_seconds_bucket{le=\"100\"} 2\n"), "{text}");
        assert!(text.contains("lat_seconds_count 2\n"), "{text}");
        l.committed(Epoch::new(2));
        l.committed(Epoch::new(2));
        let text = super::super::collect_text(&reader).unwrap();
        assert!(text.contains("lat_seconds_bucket{le=\"100\"} 2\n"), "{text}");
        assert!(text.contains("lat_seconds_count 3\n"), "{text}");
    }
}
