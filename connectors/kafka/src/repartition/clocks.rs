//! [`UpstreamClocks`]: the event time of every upstream task of a repartition
//! topic, as one reading task has heard it, and the watermark they allow.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tidemill_runtime::EventTime;

use super::control::{Control, UpstreamTask};

/// What one upstream task last said.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Clock {
    Active(EventTime),
    Idle(EventTime),
    Ended,
}

/// The upstream tasks' clocks. The watermark is the minimum over the upstream
/// tasks that are neither idle nor ended, and there is none until **every**
/// expected upstream task has said something: a task that has not started yet
/// (its partition not assigned to any process) may still send old records, so
/// "the minimum over those heard from" would make them late.
///
/// ```
/// use tidemill_kafka::repartition::{Control, UpstreamClocks, UpstreamTask};
/// use tidemill_runtime::EventTime;
///
/// let mut clocks = UpstreamClocks::new(2);
/// clocks.hear(UpstreamTask(0), Control::Watermark(EventTime::from_millis(50)));
/// assert_eq!(clocks.watermark(), None, "upstream 1 has said nothing yet");
/// clocks.hear(UpstreamTask(1), Control::Watermark(EventTime::from_millis(20)));
/// assert_eq!(clocks.watermark(), Some(EventTime::from_millis(20)), "the lagging one holds it back");
/// clocks.hear(UpstreamTask(1), Control::Idle);
/// assert_eq!(clocks.watermark(), Some(EventTime::from_millis(50)), "an idle one does not");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamClocks {
    expected: u32,
    clocks: BTreeMap<UpstreamTask, Clock>,
}

impl UpstreamClocks {
    /// Clocks for `expected` upstream tasks, numbered from 0.
    pub fn new(expected: u32) -> Self {
        UpstreamClocks { expected, clocks: BTreeMap::new() }
    }

    /// How many upstream tasks are expected.
    pub fn expected(&self) -> u32 {
        self.expected
    }

    /// The same clocks, expecting `expected` upstream tasks.
    pub fn expecting(mut self, expected: u32) -> Self {
        self.expected = expected;
        self
    }

    /// Takes in what `upstream` said. A watermark never goes back.
    pub fn hear(&mut self, upstream: UpstreamTask, control: Control) {
        let clock = self.clocks.entry(upstream).or_insert(Clock::Active(EventTime::MIN));
        *clock = match (*clock, control) {
            (Clock::Ended, _) | (_, Control::End) => Clock::Ended,
            (Clock::Active(t) | Clock::Idle(t), Control::Watermark(w)) => Clock::Active(t.max(w)),
            (Clock::Active(t) | Clock::Idle(t), Control::Idle) => Clock::Idle(t),
        };
    }

    /// Whether every expected upstream task has ended.
    pub fn all_ended(&self) -> bool {
        (0..self.expected).all(|u| self.clocks.get(&UpstreamTask(u)) == Some(&Clock::Ended))
    }

    /// The watermark the upstream tasks allow: `None` while one has said nothing,
    /// or while every one still going is idle; `+inf` once all have ended.
    pub fn watermark(&self) -> Option<EventTime> {
        if (0..self.expected).any(|u| !self.clocks.contains_key(&UpstreamTask(u))) {
            return None;
        }
        let mut min: Option<EventTime> = None;
        let mut all_ended = true;
        for clock in self.clocks.values() {
            match clock {
                Clock::Active(t) => {
                    all_ended = false;
                    min = Some(min.map_or(*t, |m| m.min(*t)));
                }
                Clock::Idle(_) => all_ended = false,
                Clock::Ended => {}
            }
        }
        if all_ended {
            Some(EventTime::MAX)
        } else {
            min
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn at(ms: i64) -> Control {
        Control::Watermark(EventTime::from_millis(ms))
    }

    #[test]
    fn minimum_over_every_expected_upstream_with_idleness_and_ends() {
        let mut c = UpstreamClocks::new(3);
        c.hear(UpstreamTask(0), at(10));
        c.hear(UpstreamTask(2), at(30));
        assert_eq!(c.watermark(), None, "upstream 1 not heard from");
        c.hear(UpstreamTask(1), at(5));
        assert_eq!(c.watermark(), Some(EventTime::from_millis(5)));
        c.hear(UpstreamTask(1), at(3));
        assert_eq!(c.watermark(), Some(EventTime::from_millis(5)), "a watermark never goes back");
        c.hear(UpstreamTask(1), Control::End);
        assert_eq!(c.watermark(), Some(EventTime::from_millis(10)));
        c.hear(UpstreamTask(0), Control::Idle);
        c.hear(UpstreamTask(2), Control::Idle);
        assert_eq!(c.watermark(), None, "all still going are idle: hold still");
        c.hear(UpstreamTask(2), at(40));
        assert_eq!(c.watermark(), Some(EventTime::from_millis(40)), "an idle upstream rejoins with its next watermark");
        assert!(!c.all_ended());
        c.hear(UpstreamTask(0), Control::End);
        c.hear(UpstreamTask(2), Control::End);
        c.hear(UpstreamTask(2), at(50));
        assert!(c.all_ended(), "an end is final");
        assert_eq!(c.watermark(), Some(EventTime::MAX));
    }
}
