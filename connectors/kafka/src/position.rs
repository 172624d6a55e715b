//! A Kafka source's position: what a checkpoint stores, and where to read from once
//! the partition's watermarks are known (start offsets, bounded end, data loss).

use serde::{Deserialize, Serialize};

use super::config::{KafkaSourceConfig, StartOffsets};
use super::metadata::Watermarks;

/// What a Kafka source stores in a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Checkpoint {
    /// The topic, to refuse a checkpoint of another topic.
    pub(crate) topic: String,
    /// The Kafka partition, likewise.
    pub(crate) partition: i32,
    /// The next offset to read; `None` if the source never reached the brokers.
    pub(crate) next: Option<u64>,
    /// Bounded mode: the offset the source stops at (the high watermark at the first start).
    pub(crate) end: Option<u64>,
}

/// Where to read from.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    /// The next offset to read.
    pub(crate) next: u64,
    /// Bounded mode: the offset to stop at.
    pub(crate) end: Option<u64>,
    /// With `fail_on_data_loss = false`: what was lost, for a warning.
    pub(crate) data_loss: Option<DataLoss>,
}

/// Records a source had not read yet are no longer in the partition.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DataLoss {
    /// Deleted before they were read.
    #[error("offsets {next}..{low} were deleted before they were read (retention or deleted records)")]
    Deleted {
        /// The offset the source was to read next.
        next: u64,
        /// The oldest offset left.
        low: u64,
    },
    /// The partition ends before the position: re-created or truncated.
    #[error("offset {next} is past the end of the partition ({high}): the topic was re-created or truncated")]
    PastEnd {
        /// The offset the source was to read next.
        next: u64,
        /// The partition's end.
        high: u64,
    },
}

/// Decides where to read from: `next` and `end` are the known position (from a
/// checkpoint, or from reading so far), `None` when there is none yet.
///
/// A known `next` outside `low..=high` means records were lost: deleted before they
/// were read (`next < low`), or the topic was re-created or truncated
/// (`next > high`). That fails, or with `fail_on_data_loss = false` goes on from
/// the earliest offset available.
pub(crate) fn plan(
    config: &KafkaSourceConfig,
    next: Option<u64>,
    end: Option<u64>,
    w: Watermarks,
) -> Result<Plan, DataLoss> {
    let end = config.end.map(|_| end.unwrap_or(w.high));
    let Some(next) = next else {
        let next = match config.start {
            StartOffsets::Earliest => w.low,
            StartOffsets::Latest => w.high,
        };
        return Ok(Plan { next, end, data_loss: None });
    };
    let lost = if next < w.low {
        DataLoss::Deleted { next, low: w.low }
    } else if next > w.high {
        DataLoss::PastEnd { next, high: w.high }
    } else {
        return Ok(Plan { next, end, data_loss: None });
    };
    if config.fail_on_data_loss {
        Err(lost)
    } else {
        Ok(Plan { next: w.low, end, data_loss: Some(lost) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(low: u64, high: u64) -> Watermarks {
        Watermarks { low, high }
    }

    #[test]
    fn fresh_start_uses_the_start_offsets() {
        let c = KafkaSourceConfig::new("b", "t");
        assert_eq!(plan(&c, None, None, w(3, 9)), Ok(Plan { next: 3, end: None, data_loss: None }));
        let c = KafkaSourceConfig { start: StartOffsets::Latest, ..c }.bounded();
        assert_eq!(plan(&c, None, None, w(3, 9)), Ok(Plan { next: 9, end: Some(9), data_loss: None }));
    }

    #[test]
    fn a_known_position_and_end_are_kept() {
        let c = KafkaSourceConfig::new("b", "t").bounded();
        // The end found at the first start stays, however far the partition grew.
        assert_eq!(plan(&c, Some(5), Some(7), w(0, 100)), Ok(Plan { next: 5, end: Some(7), data_loss: None }));
        assert_eq!(plan(&c, Some(0), None, w(0, 0)), Ok(Plan { next: 0, end: Some(0), data_loss: None }));
        // Unbounded now: a stored end is dropped.
        let c = KafkaSourceConfig::new("b", "t");
        assert_eq!(plan(&c, Some(100), Some(7), w(0, 100)), Ok(Plan { next: 100, end: None, data_loss: None }));
    }

    #[test]
    fn data_loss_fails_or_goes_on_from_the_earliest() {
        let c = KafkaSourceConfig::new("b", "t");
        assert_eq!(plan(&c, Some(2), None, w(5, 9)), Err(DataLoss::Deleted { next: 2, low: 5 }));
        let e = plan(&c, Some(12), None, w(0, 9)).unwrap_err();
        assert!(e.to_string().contains("re-created"), "{e}");
        let c = KafkaSourceConfig { fail_on_data_loss: false, ..c };
        let p = plan(&c, Some(2), None, w(5, 9)).unwrap();
        assert_eq!((p.next, p.end), (5, None));
        assert_eq!(p.data_loss, Some(DataLoss::Deleted { next: 2, low: 5 }));
        assert_eq!(plan(&c, Some(12), None, w(1, 9)).unwrap().next, 1);
    }
}
