//! The pending timers of a keyed process operator: ordered by time, then key.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use tidemill_runtime::EventTime;

use crate::window::WindowKey;

/// Which clock a timer follows.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TimeDomain {
    /// The operator's watermark.
    EventTime,
    /// The wall clock (milliseconds since the Unix epoch).
    ProcessingTime,
}

/// A timer that fired: its time and clock.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Timer {
    /// When it was due.
    pub time: EventTime,
    /// Which clock it followed.
    pub domain: TimeDomain,
}

/// Timers of one clock, each `(time, key)` at most once.
#[derive(Debug, Serialize, Deserialize)]
#[serde(bound = "K: WindowKey")]
pub(crate) struct TimerQueue<K: WindowKey> {
    pending: BTreeSet<(EventTime, K)>,
}

impl<K: WindowKey> Default for TimerQueue<K> {
    fn default() -> Self {
        TimerQueue { pending: BTreeSet::new() }
    }
}

impl<K: WindowKey> TimerQueue<K> {
    pub(crate) fn register(&mut self, time: EventTime, key: &K) {
        self.pending.insert((time, key.clone()));
    }

    pub(crate) fn delete(&mut self, time: EventTime, key: &K) {
        self.pending.remove(&(time, key.clone()));
    }

    /// Removes and returns the earliest timer due at or before `now`.
    pub(crate) fn pop_due(&mut self, now: EventTime) -> Option<(EventTime, K)> {
        match self.pending.first() {
            Some((time, _)) if *time <= now => self.pending.pop_first(),
            _ => None,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_timers_come_out_in_time_then_key_order_once_each() {
        let mut q = TimerQueue::default();
        q.register(EventTime::from_millis(20), &2u32);
        q.register(EventTime::from_millis(10), &9u32);
        q.register(EventTime::from_millis(20), &1u32);
        q.register(EventTime::from_millis(20), &1u32);
        q.register(EventTime::from_millis(30), &3u32);
        q.delete(EventTime::from_millis(30), &3u32);
        let mut fired = Vec::new();
        while let Some(t) = q.pop_due(EventTime::from_millis(25)) {
            fired.push(t);
        }
        let t = EventTime::from_millis;
        assert_eq!(fired, vec![(t(10), 9), (t(20), 1), (t(20), 2)]);
        assert_eq!(q.len(), 0);
    }
}
