//! [`KeyHorizon`]: the keys seen within an event-time horizon, the state both
//! deduplicating operators share.

use std::collections::hash_map::Entry;
use std::collections::BTreeMap;
use std::hash::Hash;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tidemill_runtime::{duration_millis, EventTime, OperatorError, StateSnapshot};

use crate::hashing::FastHashMap;

/// Buckets per retention period: eviction drops whole buckets, so a key lives at
/// most `retention / BUCKETS_PER_RETENTION` longer than it must.
const BUCKETS_PER_RETENTION: i64 = 16;

/// What the horizon says about one record.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Sighting {
    /// The key's first sighting within the horizon.
    First,
    /// The key was seen before.
    Again,
    /// The record is older than the horizon: its key may have been forgotten, so
    /// the horizon cannot tell.
    BehindHorizon,
}

/// Each remembered key with the newest record time seen for it, until the
/// watermark minus `retention` (the horizon) passes that time.
pub(super) struct KeyHorizon<K> {
    retention: Duration,
    bucket_ms: i64,
    watermark: EventTime,
    seen: FastHashMap<K, EventTime>,
    /// Keys by time bucket, so eviction touches only expired keys. A key whose time
    /// moved to a later bucket is listed in both; eviction checks `seen` first.
    buckets: BTreeMap<i64, Vec<K>>,
    /// Records that were a key's repeated sighting.
    pub(super) duplicates: u64,
    /// Records older than the horizon.
    pub(super) behind: u64,
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

impl<K: Hash + Eq + Clone> KeyHorizon<K> {
    pub(super) fn new(retention: Duration) -> Self {
        let bucket_ms = (duration_millis(retention) / BUCKETS_PER_RETENTION).max(1);
        KeyHorizon {
            retention,
            bucket_ms,
            watermark: EventTime::MIN,
            seen: FastHashMap::default(),
            buckets: BTreeMap::new(),
            duplicates: 0,
            behind: 0,
        }
    }

    pub(super) fn retention(&self) -> Duration {
        self.retention
    }

    pub(super) fn watermark(&self) -> EventTime {
        self.watermark
    }

    pub(super) fn tracked_keys(&self) -> usize {
        self.seen.len()
    }

    /// Records older than this cannot be checked.
    pub(super) fn horizon(&self) -> EventTime {
        self.watermark.saturating_sub(self.retention)
    }

    fn bucket(&self, t: EventTime) -> i64 {
        t.as_millis().div_euclid(self.bucket_ms)
    }

    /// Looks at a record of key `key` (computed by `key`, called only for records
    /// within the horizon) at `time`, remembering the key.
    pub(super) fn sight(&mut self, time: EventTime, key: impl FnOnce() -> K) -> Sighting {
        if time < self.horizon() {
            self.behind += 1;
            return Sighting::BehindHorizon;
        }
        let new_bucket = self.bucket(time);
        let bucket_ms = self.bucket_ms;
        match self.seen.entry(key()) {
            Entry::Vacant(slot) => {
                self.buckets.entry(new_bucket).or_default().push(slot.key().clone());
                slot.insert(time);
                Sighting::First
            }
            Entry::Occupied(mut slot) => {
                self.duplicates += 1;
                // A newer duplicate extends how long the key is remembered.
                if time > *slot.get() {
                    let old_bucket = slot.get().as_millis().div_euclid(bucket_ms);
                    slot.insert(time);
                    if new_bucket != old_bucket {
                        self.buckets.entry(new_bucket).or_default().push(slot.key().clone());
                    }
                }
                Sighting::Again
            }
        }
    }

    /// The watermark moved: forgets keys whose newest time is before the horizon,
    /// bucket by bucket.
    pub(super) fn advance(&mut self, watermark: EventTime) {
        self.watermark = self.watermark.max(watermark);
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

impl<K: Hash + Eq + Clone + Serialize + DeserializeOwned> KeyHorizon<K> {
    pub(super) fn snapshot(&self) -> Result<StateSnapshot, OperatorError> {
        StateSnapshot::encode(&StateOut {
            watermark: self.watermark,
            keys: self.seen.iter().map(|(k, t)| (k, *t)).collect(),
            duplicates: self.duplicates,
            late: self.behind,
        })
    }

    pub(super) fn restore(&mut self, snapshot: &StateSnapshot) -> Result<(), OperatorError> {
        // An empty snapshot is the state before any record.
        let state: StateIn<K> = if snapshot.is_empty() {
            StateIn { watermark: EventTime::MIN, keys: Vec::new(), duplicates: 0, late: 0 }
        } else {
            snapshot.decode()?
        };
        self.watermark = state.watermark;
        self.duplicates = state.duplicates;
        self.behind = state.late;
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
