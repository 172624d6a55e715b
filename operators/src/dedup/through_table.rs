//! [`DedupThroughTable`]: deduplicates in memory within the horizon and hands
//! older records to the output table's check.

use std::hash::Hash;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tidemill_runtime::{Batch, EventTime, Operator, OperatorError, Output, StateSnapshot};

use super::horizon::{KeyHorizon, Sighting};
use super::{Deduped, KeyFn};

/// Forwards each key's first record within the horizon as [`Deduped::Unique`],
/// drops repeats, and passes records behind the horizon on as
/// [`Deduped::Unverified`] for the sink to check against its table, instead of
/// rejecting them: with a sink that does, every distinct record reaches the table
/// once, however late.
///
/// ```
/// use std::{sync::Arc, time::Duration};
/// use tidemill_operators::dedup::{DedupThroughTable, Deduped};
/// use tidemill_runtime::OperatorHarness;
///
/// let dedup = DedupThroughTable::new(Arc::new(|s: &String| s.clone()), Duration::from_secs(1));
/// let mut h = OperatorHarness::new(dedup);
/// h.push_timed([("a".to_string(), 5_000), ("a".to_string(), 5_000)]).unwrap();
/// h.push_watermark(10_000).unwrap(); // horizon 9 s
/// h.push_timed([("a".to_string(), 5_000)]).unwrap(); // behind the horizon
/// assert_eq!(h.take_values(), vec![Deduped::Unique("a".to_string()), Deduped::Unverified("a".to_string())]);
/// assert!(h.take_dead_letters().is_empty());
/// ```
pub struct DedupThroughTable<T, K> {
    key_fn: KeyFn<T, K>,
    keys: KeyHorizon<K>,
}

impl<T, K> DedupThroughTable<T, K>
where
    K: Hash + Eq + Clone,
{
    /// Deduplicates on `key_fn`, remembering keys for `retention` of event time
    /// behind the watermark.
    pub fn new(key_fn: KeyFn<T, K>, retention: Duration) -> Self {
        DedupThroughTable { key_fn, keys: KeyHorizon::new(retention) }
    }

    /// Records dropped as duplicates so far.
    pub fn duplicates(&self) -> u64 {
        self.keys.duplicates
    }

    /// Records passed on unverified (behind the horizon) so far.
    pub fn unverified(&self) -> u64 {
        self.keys.behind
    }

    /// Keys currently remembered.
    pub fn tracked_keys(&self) -> usize {
        self.keys.tracked_keys()
    }
}

impl<T, K> Operator for DedupThroughTable<T, K>
where
    T: Send + 'static,
    K: Hash + Eq + Clone + Serialize + DeserializeOwned + Send + 'static,
{
    type In = T;
    type Out = Deduped<T>;

    fn process(&mut self, batch: Batch<T>, out: &mut Output<Deduped<T>>) -> Result<(), OperatorError> {
        for record in batch {
            let key_fn = &self.key_fn;
            match self.keys.sight(record.time, || key_fn(&record.value)) {
                Sighting::First => out.emit(record.replace_value_with(Deduped::Unique)),
                Sighting::Again => {}
                Sighting::BehindHorizon => out.emit(record.replace_value_with(Deduped::Unverified)),
            }
        }
        Ok(())
    }

    fn on_watermark(&mut self, watermark: EventTime, _out: &mut Output<Deduped<T>>) -> Result<(), OperatorError> {
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

/// Wrapping a record's value, keeping time, origin and trace.
trait WrapValue<T> {
    fn replace_value_with<U>(self, wrap: impl FnOnce(T) -> U) -> tidemill_runtime::Record<U>;
}

impl<T> WrapValue<T> for tidemill_runtime::Record<T> {
    fn replace_value_with<U>(self, wrap: impl FnOnce(T) -> U) -> tidemill_runtime::Record<U> {
        let tidemill_runtime::Record { value, time, origin, trace } = self;
        tidemill_runtime::Record { value: wrap(value), time, origin, trace }
    }
}
