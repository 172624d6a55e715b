//! [`DedupByKey`]: forwards each key's first record; records behind the horizon
//! are dead letters.

use std::hash::Hash;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tidemill_runtime::{Batch, EventTime, Operator, OperatorError, Output, ReasonCode, StateSnapshot};

use super::horizon::{KeyHorizon, Sighting};
use super::KeyFn;

/// Forwards each record only the first time its key is seen.
///
/// - A key is remembered with the newest record time seen for it, until the
///   watermark minus `retention` (the horizon) passes that time.
/// - A record whose time is before the horizon cannot be checked any more (its key
///   may have been forgotten): it goes to the dead-letter output with
///   [`ReasonCode::LateEvent`], serialised as JSON, and is counted in [`late`](Self::late).
///   (Use [`DedupThroughTable`](super::DedupThroughTable) to have such records
///   checked against the output table instead.)
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
    keys: KeyHorizon<K>,
}

impl<T, K> DedupByKey<T, K>
where
    K: Hash + Eq + Clone,
{
    /// Deduplicates on `key_fn`, remembering keys for `retention` of event time
    /// behind the watermark.
    pub fn new(key_fn: KeyFn<T, K>, retention: Duration) -> Self {
        DedupByKey { key_fn, keys: KeyHorizon::new(retention) }
    }

    /// Records dropped as duplicates so far.
    pub fn duplicates(&self) -> u64 {
        self.keys.duplicates
    }

    /// Records sent to the dead-letter output as too late to check so far.
    pub fn late(&self) -> u64 {
        self.keys.behind
    }

    /// Keys currently remembered.
    pub fn tracked_keys(&self) -> usize {
        self.keys.tracked_keys()
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
        for record in batch {
            let key_fn = &self.key_fn;
            match self.keys.sight(record.time, || key_fn(&record.value)) {
                Sighting::First => out.emit(record),
                Sighting::Again => {}
                Sighting::BehindHorizon => {
                    let horizon = self.keys.horizon();
                    let detail = format!(
                        "event time {} is before the deduplication horizon {} (watermark {} minus retention {:?})",
                        record.time,
                        horizon,
                        self.keys.watermark(),
                        self.keys.retention()
                    );
                    let payload = serde_json::to_vec(&record.value).unwrap_or_default();
                    out.dead_letter(payload, ReasonCode::LateEvent, detail, record.origin);
                }
            }
        }
        Ok(())
    }

    fn on_watermark(&mut self, watermark: EventTime, _out: &mut Output<T>) -> Result<(), OperatorError> {
        self.keys.advance(watermark);
        Ok(())
    }

    fn snapshot(&self) -> Result<StateSnapshot, OperatorError> {
        self.keys.snapshot()
    }

    fn restore(&mut self, snapshot: &StateSnapshot) -> Result<(), OperatorError> {
        self.keys.restore(snapshot)
    }
}
