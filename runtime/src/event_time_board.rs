//! [`EventTimeBoard`]: how far each source partition has got in event time, so that
//! a partition running ahead of the others can wait for them (Flink's watermark
//! alignment).
//!
//! Why: an operator's watermark is the minimum over its inputs, so keyed state
//! that waits for the watermark (open windows, deduplication keys) holds
//! everything the fastest partition read beyond the slowest one. When partitions
//! are read at different speeds, a catch-up run over a topic holds nearly all of
//! it, and every checkpoint snapshots it. With
//! [`JobConfig::max_event_time_drift`](crate::JobConfig::max_event_time_drift), a
//! source partition whose newest event time is more than the drift ahead of the
//! slowest active partition stops reading (its Kafka partition is paused) until the
//! others catch up, which bounds that state by the configured lateness plus the
//! drift.
//!
//! The timestamp assigner of shard `i` publishes the newest event time it has seen
//! for source partition `i`: alignment assumes the assigner runs with the source's
//! parallelism, one-to-one (the usual `source -> decode -> assign_timestamps`
//! chain), in a job with one source node. Otherwise the board is detached and
//! nothing waits.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::time::{duration_millis, EventTime};

/// Per source partition: the newest event time seen, and whether it is idle.
#[derive(Clone, Debug, Default)]
pub struct EventTimeBoard(Arc<[Slot]>);

#[derive(Debug)]
struct Slot {
    newest: AtomicI64,
    idle: AtomicBool,
}

impl EventTimeBoard {
    /// A board for `partitions` source partitions, none seen yet.
    pub(crate) fn new(partitions: usize) -> Self {
        EventTimeBoard(
            (0..partitions).map(|_| Slot { newest: AtomicI64::new(i64::MIN), idle: AtomicBool::new(false) }).collect(),
        )
    }

    /// A board that aligns nothing (tests, jobs it does not apply to).
    pub fn detached() -> Self {
        EventTimeBoard::default()
    }

    /// How many partitions the board follows (0: detached).
    pub fn partitions(&self) -> usize {
        self.0.len()
    }

    /// Partition `partition` has seen event time `newest` (ignored when the board
    /// does not follow that partition).
    pub fn publish(&self, partition: usize, newest: EventTime) {
        if let Some(slot) = self.0.get(partition) {
            slot.newest.fetch_max(newest.as_millis(), Ordering::Relaxed);
        }
    }

    /// Partition `partition` went idle (or ended), or has data again.
    pub(crate) fn set_idle(&self, partition: usize, idle: bool) {
        if let Some(slot) = self.0.get(partition) {
            slot.idle.store(idle, Ordering::Relaxed);
        }
    }

    /// Whether `partition` is more than `drift` ahead of the slowest other partition
    /// that is active and has seen data. Partitions without data yet are left out:
    /// waiting for them could stall a start behind an empty partition until the
    /// idle timeout.
    pub(crate) fn is_ahead(&self, partition: usize, drift: Duration) -> bool {
        let Some(mine) = self.0.get(partition).map(|s| s.newest.load(Ordering::Relaxed)) else { return false };
        if mine == i64::MIN {
            return false;
        }
        let slowest = self
            .0
            .iter()
            .enumerate()
            .filter(|(i, s)| *i != partition && !s.idle.load(Ordering::Relaxed))
            .map(|(_, s)| s.newest.load(Ordering::Relaxed))
            .filter(|t| *t != i64::MIN)
            .min();
        slowest.is_some_and(|slowest| mine > slowest.saturating_add(duration_millis(drift)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_waits_only_when_ahead_of_the_slowest_active_one() {
        let board = EventTimeBoard::new(3);
        let drift = Duration::from_secs(60);
        assert!(!board.is_ahead(0, drift), "nothing seen yet");
        board.publish(0, EventTime::from_millis(200_000));
        assert!(!board.is_ahead(0, drift), "the others have no data yet");
        board.publish(1, EventTime::from_millis(100_000));
        assert!(board.is_ahead(0, drift), "100 s ahead of partition 1");
        assert!(!board.is_ahead(1, drift), "the slowest never waits");
        board.publish(1, EventTime::from_millis(150_000));
        assert!(!board.is_ahead(0, drift), "within the drift");
        board.publish(2, EventTime::from_millis(10_000));
        assert!(board.is_ahead(0, drift) && board.is_ahead(1, drift));
        board.set_idle(2, true);
        assert!(!board.is_ahead(0, drift), "an idle partition holds nobody back");
        board.publish(1, EventTime::from_millis(1_000));
        assert!(!board.is_ahead(0, drift), "event time only moves forward");
        assert!(!EventTimeBoard::detached().is_ahead(0, drift));
        board.publish(7, EventTime::from_millis(0));
    }
}
