//! [`UpstreamClocks`]: the event time of every upstream task of a repartition
//! topic, as one reading task has heard it, and the watermark they allow.

use serde::{Deserialize, Serialize};
use tidemill_runtime::{EventTime, Watermark, WatermarkTracker};

use super::control::{Control, UpstreamTask};

/// The most upstream tasks a reader accepts: a control record naming a task
/// beyond it is not of this job (another job writes the topic, or a bad record).
pub const MAX_UPSTREAMS: u32 = 1 << 16;

/// A control record names an upstream task beyond [`MAX_UPSTREAMS`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "the repartition topic holds a control record of upstream task {upstream}, beyond the {MAX_UPSTREAMS} tasks a \
     reader accepts: does another job write this topic?"
)]
pub struct UnknownUpstream {
    /// The task named.
    pub upstream: UpstreamTask,
}

/// The upstream tasks' clocks, one input each of a runtime
/// [`WatermarkTracker`]: the watermark is the minimum over the upstream tasks
/// that are neither idle nor ended. An upstream task that has said nothing is at
/// `-inf`, so there is no watermark until **every** one has spoken: a task not
/// started yet (its partition not assigned to any process) may still send old
/// records, which "the minimum over those heard from" would make late.
///
/// ```
/// use tidemill_kafka::repartition::{Control, UpstreamClocks, UpstreamTask};
/// use tidemill_runtime::EventTime;
///
/// let mut clocks = UpstreamClocks::new(2);
/// clocks.hear(UpstreamTask(0), Control::Watermark(EventTime::from_millis(50))).unwrap();
/// assert_eq!(clocks.watermark(), None, "upstream 1 has said nothing yet");
/// clocks.hear(UpstreamTask(1), Control::Watermark(EventTime::from_millis(20))).unwrap();
/// assert_eq!(clocks.watermark(), Some(EventTime::from_millis(20)), "the lagging one holds it back");
/// clocks.hear(UpstreamTask(1), Control::Idle).unwrap();
/// assert_eq!(clocks.watermark(), Some(EventTime::from_millis(50)), "an idle one does not");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamClocks(WatermarkTracker);

impl UpstreamClocks {
    /// Clocks for `expected` upstream tasks, numbered from 0.
    pub fn new(expected: u32) -> Self {
        UpstreamClocks(WatermarkTracker::new(expected as usize))
    }

    /// How many upstream tasks are expected.
    pub fn expected(&self) -> usize {
        self.0.inputs()
    }

    /// Expects `expected` upstream tasks from now on if that is more than today
    /// (the input topic gained partitions): the new ones have said nothing, so
    /// the watermark holds until each has.
    pub fn grow(&mut self, expected: u32) {
        self.0.grow(expected.min(MAX_UPSTREAMS) as usize);
    }

    /// Takes in what `upstream` said. A watermark never goes back; an end is
    /// final. An upstream task beyond the expected ones is a new one (its input
    /// partition was added): it is expected from now on.
    pub fn hear(&mut self, upstream: UpstreamTask, control: Control) -> Result<(), UnknownUpstream> {
        if upstream.0 >= MAX_UPSTREAMS {
            return Err(UnknownUpstream { upstream });
        }
        let input = upstream.0 as usize;
        self.grow(upstream.0 + 1);
        match control {
            Control::Watermark(w) => self.0.update(input, Watermark::At(w)),
            Control::Idle => self.0.update(input, Watermark::Idle),
            Control::End => self.0.end(input),
        };
        Ok(())
    }

    /// Whether every upstream task has ended.
    pub fn all_ended(&self) -> bool {
        self.0.all_ended()
    }

    /// The watermark the upstream tasks allow, `None` while there is none (one has
    /// said nothing yet, and no other moved it before); `+inf` once all have ended.
    pub fn watermark(&self) -> Option<EventTime> {
        Some(self.0.current()).filter(|w| *w != EventTime::MIN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn at(ms: i64) -> Control {
        Control::Watermark(EventTime::from_millis(ms))
    }

    fn hear(clocks: &mut UpstreamClocks, upstream: u32, control: Control) {
        clocks.hear(UpstreamTask(upstream), control).unwrap();
    }

    #[test]
    fn minimum_over_every_expected_upstream_with_idleness_and_ends() {
        let mut c = UpstreamClocks::new(3);
        hear(&mut c, 0, at(10));
        hear(&mut c, 2, at(30));
        assert_eq!(c.watermark(), None, "upstream 1 not heard from");
        hear(&mut c, 1, at(5));
        assert_eq!(c.watermark(), Some(EventTime::from_millis(5)));
        hear(&mut c, 1, at(3));
        assert_eq!(c.watermark(), Some(EventTime::from_millis(5)), "a watermark never goes back");
        hear(&mut c, 1, Control::End);
        assert_eq!(c.watermark(), Some(EventTime::from_millis(10)));
        hear(&mut c, 0, Control::Idle);
        assert_eq!(c.watermark(), Some(EventTime::from_millis(30)), "an idle upstream leaves the minimum");
        hear(&mut c, 2, Control::Idle);
        assert_eq!(c.watermark(), Some(EventTime::from_millis(30)), "all still going are idle: hold still");
        hear(&mut c, 2, at(40));
        assert_eq!(c.watermark(), Some(EventTime::from_millis(40)), "an idle upstream rejoins with its next watermark");
        assert!(!c.all_ended());
        hear(&mut c, 0, Control::End);
        hear(&mut c, 2, Control::End);
        hear(&mut c, 2, at(50));
        assert!(c.all_ended(), "an end is final");
        assert_eq!(c.watermark(), Some(EventTime::MAX));
        let unknown = c.hear(UpstreamTask(MAX_UPSTREAMS), Control::Idle);
        assert_eq!(unknown, Err(UnknownUpstream { upstream: UpstreamTask(MAX_UPSTREAMS) }));
    }

    #[test]
    fn new_upstream_tasks_hold_the_watermark_until_they_speak() {
        let mut c = UpstreamClocks::new(2);
        hear(&mut c, 0, at(10));
        hear(&mut c, 1, at(20));
        assert_eq!(c.watermark(), Some(EventTime::from_millis(10)));
        c.grow(4);
        assert_eq!(c.expected(), 4);
        hear(&mut c, 0, at(30));
        hear(&mut c, 1, at(30));
        assert_eq!(c.watermark(), Some(EventTime::from_millis(10)), "upstreams 2 and 3 have said nothing");
        hear(&mut c, 2, at(25));
        hear(&mut c, 3, Control::Idle);
        assert_eq!(c.watermark(), Some(EventTime::from_millis(25)));
        hear(&mut c, 5, at(5));
        assert_eq!(c.expected(), 6, "a task heard beyond the count is expected from then on");
        assert_eq!(c.watermark(), Some(EventTime::from_millis(25)), "upstream 4 not heard, and it never goes back");
        c.grow(3);
        assert_eq!(c.expected(), 6, "never shrinks");
    }
}
