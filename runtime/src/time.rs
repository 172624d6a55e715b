//! Event time, watermarks and checkpoint epochs.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// A point in event time: milliseconds since the Unix epoch, UTC.
///
/// Event time is the time an event happened (an order's `event_time`), as opposed to
/// the time Tidemill sees it. Windows and watermarks are defined on it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EventTime(i64);

impl EventTime {
    /// The smallest representable time; the watermark of an input that has said nothing yet.
    pub const MIN: EventTime = EventTime(i64::MIN);
    /// The largest representable time; the watermark at the end of a bounded input.
    pub const MAX: EventTime = EventTime(i64::MAX);

    /// Builds an event time from milliseconds since the Unix epoch.
    pub const fn from_millis(millis: i64) -> Self {
        EventTime(millis)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// This time as a UTC timestamp (saturating at chrono's representable range).
    pub fn to_utc(self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.0).single().unwrap_or(if self.0 < 0 {
            DateTime::<Utc>::MIN_UTC
        } else {
            DateTime::<Utc>::MAX_UTC
        })
    }

    /// This time minus `d`, saturating at [`EventTime::MIN`].
    pub fn saturating_sub(self, d: Duration) -> Self {
        EventTime(self.0.saturating_sub(duration_millis(d)))
    }

    /// This time plus `d`, saturating at [`EventTime::MAX`].
    pub fn saturating_add(self, d: Duration) -> Self {
        EventTime(self.0.saturating_add(duration_millis(d)))
    }
}

impl From<DateTime<Utc>> for EventTime {
    fn from(t: DateTime<Utc>) -> Self {
        EventTime(t.timestamp_millis())
    }
}

impl fmt::Display for EventTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            EventTime::MIN => f.write_str("-inf"),
            EventTime::MAX => f.write_str("+inf"),
            t => write!(f, "{}", t.to_utc().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        }
    }
}

/// A duration in whole milliseconds, saturating at `i64::MAX`.
pub fn duration_millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// What an input says about the progress of event time.
///
/// `At(t)` promises that no more records with time `<= t` are expected on that input
/// (late ones may still come and are routed to the late output). `Idle` says the input
/// has nothing to say for now; it is left out of the minimum until it sends `At` again,
/// so one quiet partition cannot stall every window.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Watermark {
    /// Event time has progressed to this point on the input.
    At(EventTime),
    /// The input is idle and excluded from the minimum.
    Idle,
}

/// The number of a checkpoint. Epochs increase by one per checkpoint, starting at 1.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Epoch(u64);

impl Epoch {
    /// The epoch before any checkpoint.
    pub const ZERO: Epoch = Epoch(0);

    /// Builds an epoch from its number.
    pub const fn new(n: u64) -> Self {
        Epoch(n)
    }

    /// The epoch's number.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The epoch after this one.
    pub const fn next(self) -> Self {
        Epoch(self.0 + 1)
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturating_arithmetic_stays_in_range() {
        assert_eq!(EventTime::MAX.saturating_add(Duration::from_secs(1)), EventTime::MAX);
        assert_eq!(EventTime::MIN.saturating_sub(Duration::from_secs(1)), EventTime::MIN);
        let t = EventTime::from_millis(10_000);
        assert_eq!(t.saturating_sub(Duration::from_secs(4)).as_millis(), 6_000);
    }

    #[test]
    fn displays_as_rfc3339_utc() {
        assert_eq!(EventTime::from_millis(0).to_string(), "1970-01-01T00:00:00.000Z");
        assert_eq!(EventTime::MAX.to_string(), "+inf");
    }
}
