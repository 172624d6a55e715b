//! Deduplication by key within an event-time horizon.
//!
//! The reference job deduplicates orders with a Delta `MERGE` on
//! `(order_id, event_time)`. In a stream the same job is [`DedupByKey`]: a record is
//! forwarded the first time its key is seen, and keys are remembered while their
//! event time is within `retention` of the watermark. State thus stays bounded, and
//! a record too old to be checked goes to the dead-letter queue as `late_event`
//! instead of being let through or dropped.

use crate::hashing::FastHashMap;
use std::collections::hash_map::Entry;
use std::collections::BTreeMap;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tidemill_runtime::{duration_millis, Batch, EventTime, Operator, OperatorError, Output, ReasonCode, StateSnapshot};

/// Extracts the deduplication key of a record.
pub type KeyFn<T, K> = Arc<dyn Fn(&T) -> K + Send + Sync>;

/// Buckets per retention period: eviction drops whole buckets, so a key lives at
/// most `retention / BUCKETS_PER_RETENTION` longer than it must.
const BUCKETS_PER_RETENTION: i64 = 16;

/// Forwards each record only the first time its key is seen.
///
/// - A key is remembered with the newest record time seen for it, until the
///   watermark minus `retention` (the horizon) passes that time.
/// - A record whose time is before the horizon cannot be checked any more (its key
///   may have been forgotten): it goes to the dead-letter output with
///   [`ReasonCode::LateEvent`], serialised as JSON, and is counted in [`late`](Self::late).
/// - Duplicates are the point of the operator, not errors: they are dropped and
///   counted in [`duplicates`](Self::duplicates).
///
/// ```
/// use std::{sync::Arc, time::Duration};
/// use tidemill_operators::dedup::DedupByKey;
/// use tidemill_runtime::OperatorHarness;
///
/// let dedup = DedupByKey::new(Arc::new(|s: &String| s.clone()), Duration::from_secs(60));
/// let mut h = OperatorHarness::new(dedup);
/// h.push_timed([("a".to_string(), 1_000), ("b".to_string(), 1_000), ("a".to_string(), 1_000)]).unwrap();
/// assert_eq!(h.take_values(), vec!["a", "b"]);
/// assert_eq!(h.operator().duplicates(), 1);
/// ```
pub struct DedupByKey<T, K> {
    key_fn: KeyFn<T, K>,
    retention: Duration,
    bucket_ms: i64,
    watermark: EventTime,
    /// Each remembered key and the newest record time seen for it.
    seen: FastHashMap<K, EventTime>,
    /// Keys by time bucket, so eviction touches only expired keys. A key whose time
    /// moved to a later bucket is listed in both; eviction checks `seen` first.
    buckets: BTreeMap<i64, Vec<K>>,
    duplicates: u64,
    late: u64,
}

/// The snapshot, as written.
#[derive(Serialize)]
struct StateOut<'a, K> {
    watermark: EventTime,
    keys: Vec<(&'a K, EventTime)>,
    duplicates: u64,
    late: u64,
}

/// The snapshot, as read back.
#[derive(Deserialize)]
struct StateIn<K> {
    watermark: EventTime,
    keys: Vec<(K, EventTime)>,
    duplicates: u64,
    late: u64,
}

impl<T, K> DedupByKey<T, K>
where
    K: Hash + Eq + Clone,
{
    /// Deduplicates on `key_fn`, remembering keys for `retention` of event time
    /// behind the watermark.
    pub fn new(key_fn: KeyFn<T, K>, retention: Duration) -> Self {
        let bucket_ms = (duration_millis(retention) / BUCKETS_PER_RETENTION).max(1);
        DedupByKey {
            key_fn,
            retention,
            bucket_ms,
            watermark: EventTime::MIN,
            seen: FastHashMap::default(),
            buckets: BTreeMap::new(),
            duplicates: 0,
            late: 0,
        }
    }

    /// Records dropped as duplicates so far.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Records sent to the dead-letter output as too late to check so far.
    pub fn late(&self) -> u64 {
        self.late
    }

    /// Keys currently remembered.
    pub fn tracked_keys(&self) -> usize {
        self.seen.len()
    }

    /// Records older than this cannot be checked.
    fn horizon(&self) -> EventTime {
        self.watermark.saturating_sub(self.retention)
    }

    fn bucket(&self, t: EventTime) -> i64 {
        t.as_millis().div_euclid(self.bucket_ms)
    }

    /// Forgets keys whose newest time is before the horizon, bucket by bucket.
    fn evict(&mut self) {
        let horizon = self.horizon();
        while let Some(entry) = self.buckets.first_entry() {
            // A bucket goes when all of its time range is before the horizon.
            let end = entry.key().saturating_add(1).saturating_mul(self.bucket_ms);
            if end > horizon.as_millis() {
                break;
            }
            for key in entry.remove() {
                // One lookup: the key may have moved to a later bucket since.
                if let Entry::Occupied(seen) = self.seen.entry(key) {
                    if *seen.get() < horizon {
                        seen.remove();
                    }
                }
            }
        }
    }
}

impl<T, K> Operator for DedupByKey<T, K>
where
    T: Serialize + Send + 'static,
    K: Hash + Eq + Clone + Serialize + DeserializeOwned + Send + 'static,
{
    type In = T;
    type Out = T;

    fn process(&mut self, batch: Batch<T>, out: &mut Output<T>) -> Result<(), OperatorError> {
        let horizon = self.horizon();
        for record in batch {
            if record.time < horizon {
                self.late += 1;
                let detail = format!(
                    "event time {} is before the deduplication horizon {} (watermark {} minus retention {:?})",
                    record.time, horizon, self.watermark, self.retention
                );
                let payload = serde_json::to_vec(&record.value).unwrap_or_default();
                out.dead_letter(payload, ReasonCode::LateEvent, detail, record.origin);
                continue;
            }
            let key = (self.key_fn)(&record.value);
            let bucket_ms = self.bucket_ms;
            let bucket = |t: EventTime| t.as_millis().div_euclid(bucket_ms);
            let new_bucket = bucket(record.time);
            match self.seen.entry(key) {
                Entry::Vacant(slot) => {
                    self.buckets.entry(new_bucket).or_default().push(slot.key().clone());
                    slot.insert(record.time);
                    out.emit(record);
                }
                Entry::Occupied(mut slot) => {
                    self.duplicates += 1;
                    // A newer duplicate extends how long the key is remembered.
                    if record.time > *slot.get() {
                        let old_bucket = bucket(*slot.get());
                        slot.insert(record.time);
                        if new_bucket != old_bucket {
                            self.buckets.entry(new_bucket).or_default().push(slot.key().clone());
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn on_watermark(&mut self, watermark: EventTime, _out: &mut Output<T>) -> Result<(), OperatorError> {
        self.watermark = self.watermark.max(watermark);
        self.evict();
        Ok(())
    }

    fn snapshot(&self) -> Result<StateSnapshot, OperatorError> {
        StateSnapshot::encode(&StateOut {
            watermark: self.watermark,
            keys: self.seen.iter().map(|(k, t)| (k, *t)).collect(),
            duplicates: self.duplicates,
            late: self.late,
        })
    }

    fn restore(&mut self, snapshot: &StateSnapshot) -> Result<(), OperatorError> {
        // An empty snapshot is the state before any record.
        let state: StateIn<K> = if snapshot.is_empty() {
            StateIn { watermark: EventTime::MIN, keys: Vec::new(), duplicates: 0, late: 0 }
        } else {
            snapshot.decode()?
        };
        self.watermark = state.watermark;
        self.duplicates = state.duplicates;
        self.late = state.late;
        self.seen.clear();
        self.buckets.clear();
        for (key, time) in state.keys {
            let bucket = self.bucket(time);
            self.buckets.entry(bucket).or_default().push(key.clone());
            self.seen.insert(key, time);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use rand::{Rng, SeedableRng};
    use tidemill_runtime::OperatorHarness;

    use super::*;

    type Event = (u32, i64); // (key, payload)

    fn dedup(retention_ms: u64) -> DedupByKey<Event, u32> {
        DedupByKey::new(Arc::new(|e: &Event| e.0), Duration::from_millis(retention_ms))
    }

    #[test]
    fn forwards_first_sighting_and_counts_duplicates() {
        let mut h = OperatorHarness::new(dedup(10_000));
        h.push_timed([((1, 10), 1_000), ((2, 20), 1_000), ((1, 11), 1_500)]).unwrap();
        h.push_timed([((2, 21), 900), ((3, 30), 2_000)]).unwrap();
        assert_eq!(h.take_values(), vec![(1, 10), (2, 20), (3, 30)]);
        assert_eq!(h.operator().duplicates(), 2);
        assert!(h.take_dead_letters().is_empty(), "duplicates are not dead letters");
    }

    #[test]
    fn evicts_keys_behind_the_horizon_and_dead_letters_late_records() {
        let mut h = OperatorHarness::new(dedup(1_000));
        h.push_timed([((1, 0), 1_000), ((2, 0), 5_000)]).unwrap();
        h.push_watermark(3_000).unwrap(); // horizon 2_000: key 1 (t=1_000) goes
        assert_eq!(h.operator().tracked_keys(), 1);
        // Still within the horizon: checked, and a duplicate.
        h.push_timed([((2, 1), 4_000)]).unwrap();
        // Behind the horizon: cannot be checked, so it is a dead letter, not output.
        h.push_timed([((1, 1), 1_999)]).unwrap();
        assert_eq!(h.take_values(), vec![(1, 0), (2, 0)]);
        let dead = h.take_dead_letters();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].reason, ReasonCode::LateEvent);
        assert_eq!(dead[0].payload, b"[1,1]".to_vec());
        assert!(dead[0].detail.contains("horizon"), "{}", dead[0].detail);
        assert_eq!((h.operator().duplicates(), h.operator().late()), (1, 1));
        // At the end of input every key goes.
        h.push_end().unwrap();
        assert_eq!(h.operator().tracked_keys(), 0);
    }

    #[test]
    fn a_newer_duplicate_extends_the_key() {
        let mut h = OperatorHarness::new(dedup(1_000));
        h.push_timed([((7, 0), 1_000), ((7, 1), 5_000)]).unwrap();
        h.push_watermark(4_000).unwrap(); // horizon 3_000: key 7 was seen at 5_000
        h.push_timed([((7, 2), 3_500)]).unwrap();
        assert_eq!(h.take_values(), vec![(7, 0)]);
        assert_eq!(h.operator().duplicates(), 2);
    }

    #[test]
    fn snapshot_and_restore_keep_seen_keys_and_watermark() {
        let mut h = OperatorHarness::new(dedup(1_000));
        h.push_timed([((1, 0), 10_000), ((2, 0), 10_000), ((1, 1), 10_000)]).unwrap();
        h.push_watermark(10_500).unwrap();
        let snapshot = h.push_barrier().unwrap();
        h.take_values();

        let mut restored = OperatorHarness::new(dedup(1_000));
        restored.restore(&snapshot).unwrap();
        assert_eq!(restored.operator().tracked_keys(), 2);
        assert_eq!(restored.operator().duplicates(), 1);
        restored.push_timed([((1, 2), 10_000), ((3, 0), 10_000), ((4, 0), 9_000)]).unwrap();
        assert_eq!(restored.take_values(), vec![(3, 0)]);
        // The watermark came back too: 9_000 is behind the horizon 9_500.
        assert_eq!(restored.take_dead_letters().len(), 1);
    }

    /// Oracle: on a random stream with duplicates and watermarks that never make a
    /// record late, the output is the first occurrence of each distinct key, also
    /// across a restore in the middle.
    #[test]
    fn output_is_the_distinct_keys_of_the_input() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        // Key group `g` is drawn in rounds 4g-4..4g+3 (8 s of event time, plus 2 s of
        // spread), so 12 s of retention always remembers a key while it recurs.
        let retention = 12_000;
        let mut h = OperatorHarness::new(dedup(retention));
        let (mut expected, mut actual, mut seen) = (Vec::new(), Vec::new(), HashSet::new());
        let mut most_tracked = 0;
        for round in 0..80i64 {
            let base = round * 1_000;
            let batch: Vec<(Event, i64)> = (0..200)
                .map(|i| {
                    let key = rng.random_range(0..60) + (round as u32 / 4) * 40;
                    ((key, base + i), base + rng.random_range(0..2_000))
                })
                .collect();
            for ((key, payload), _) in &batch {
                if seen.insert(*key) {
                    expected.push((*key, *payload));
                }
            }
            h.push_timed(batch).unwrap();
            h.push_watermark(base - 1).unwrap();
            most_tracked = most_tracked.max(h.operator().tracked_keys());
            actual.extend(h.take_values());
            if round == 17 {
                let snapshot = h.push_barrier().unwrap();
                h = OperatorHarness::new(dedup(retention));
                h.restore(&snapshot).unwrap();
            }
        }
        h.push_end().unwrap();
        actual.extend(h.take_values());
        assert_eq!(actual, expected);
        assert!(h.take_dead_letters().is_empty());
        assert!(h.operator().duplicates() > 0);
        // Old keys were evicted along the way.
        assert!(most_tracked < seen.len() / 2, "{most_tracked} of {}", seen.len());
        assert_eq!(h.operator().tracked_keys(), 0);
    }
}
