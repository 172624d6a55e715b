//! Per-input watermark tracking: an operator's watermark is the minimum over its
//! active inputs.

use serde::{Deserialize, Serialize};

use crate::time::{EventTime, Watermark};

/// State of one input as far as event time goes.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum InputClock {
    Active(EventTime),
    Idle(EventTime),
    Ended,
}

/// Tracks the watermark of each input and the combined watermark.
///
/// Idle inputs are left out of the minimum; when every input is idle the combined
/// watermark holds still (and the tracker reports [`Watermark::Idle`]). Ended inputs
/// count as `+inf`. The combined watermark never goes backwards. It serialises,
/// for operators that keep their upstreams' clocks in their state (a repartition
/// reader).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatermarkTracker {
    inputs: Vec<InputClock>,
    current: EventTime,
}

impl WatermarkTracker {
    /// A tracker for `inputs` inputs, all at `-inf`.
    pub fn new(inputs: usize) -> Self {
        WatermarkTracker { inputs: vec![InputClock::Active(EventTime::MIN); inputs], current: EventTime::MIN }
    }

    /// The combined watermark.
    pub fn current(&self) -> EventTime {
        self.current
    }

    /// Number of inputs tracked.
    pub fn inputs(&self) -> usize {
        self.inputs.len()
    }

    /// Tracks `inputs` inputs from now on if that is more than today; the new
    /// ones start at `-inf`, so the combined watermark holds until each has
    /// spoken (it never goes back).
    ///
    /// ```
    /// use tidemill_runtime::{EventTime, Watermark, WatermarkTracker};
    /// let mut t = WatermarkTracker::new(1);
    /// t.update(0, Watermark::At(EventTime::from_millis(10)));
    /// t.grow(2);
    /// assert_eq!(t.update(0, Watermark::At(EventTime::from_millis(20))), None, "input 1 holds it");
    /// assert_eq!(t.update(1, Watermark::At(EventTime::from_millis(15))), Some(EventTime::from_millis(15)));
    /// ```
    pub fn grow(&mut self, inputs: usize) {
        if inputs > self.inputs.len() {
            self.inputs.resize(inputs, InputClock::Active(EventTime::MIN));
        }
    }

    /// Whether every input has ended.
    pub fn all_ended(&self) -> bool {
        self.inputs.iter().all(|c| *c == InputClock::Ended)
    }

    /// Whether every input that has not ended is idle.
    pub fn all_idle(&self) -> bool {
        let mut any_idle = false;
        for c in &self.inputs {
            match c {
                InputClock::Active(_) => return false,
                InputClock::Idle(_) => any_idle = true,
                InputClock::Ended => {}
            }
        }
        any_idle
    }

    /// Records a watermark from `input`; returns the new combined watermark if it advanced.
    pub fn update(&mut self, input: usize, watermark: Watermark) -> Option<EventTime> {
        let clock = &mut self.inputs[input];
        *clock = match (*clock, watermark) {
            (InputClock::Ended, _) => InputClock::Ended,
            (InputClock::Active(t) | InputClock::Idle(t), Watermark::At(w)) => InputClock::Active(t.max(w)),
            (InputClock::Active(t) | InputClock::Idle(t), Watermark::Idle) => InputClock::Idle(t),
        };
        self.recompute()
    }

    /// Marks `input` as ended; returns the new combined watermark if it advanced.
    pub fn end(&mut self, input: usize) -> Option<EventTime> {
        self.inputs[input] = InputClock::Ended;
        self.recompute()
    }

    fn recompute(&mut self) -> Option<EventTime> {
        let mut min: Option<EventTime> = None;
        let mut all_ended = true;
        let mut any_idle = false;
        for c in &self.inputs {
            match c {
                InputClock::Active(t) => {
                    all_ended = false;
                    min = Some(min.map_or(*t, |m| m.min(*t)));
                }
                InputClock::Idle(_) => {
                    all_ended = false;
                    any_idle = true;
                }
                InputClock::Ended => {}
            }
        }
        let candidate = match (min, all_ended) {
            (_, true) => EventTime::MAX,
            // The end of event time on the active inputs does not pass an idle
            // one: an idle upstream operator still holds what it fires at its own
            // end (the windows it keeps open), and those records would be late
            // here. Bounded inputs idle when their source is exhausted, so this is
            // the normal end of a job with keyed operators in a row: wait for the
            // idle input to end (or speak again).
            (Some(m), false) if m == EventTime::MAX && any_idle => return None,
            (Some(m), false) => m,
            (None, false) => return None, // every live input idle: hold still
        };
        if candidate > self.current {
            self.current = candidate;
            Some(candidate)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Watermark {
        Watermark::At(EventTime::from_millis(ms))
    }

    #[test]
    fn minimum_over_inputs() {
        let mut t = WatermarkTracker::new(2);
        assert_eq!(t.update(0, at(10)), None, "input 1 still at -inf");
        assert_eq!(t.update(1, at(5)), Some(EventTime::from_millis(5)));
        assert_eq!(t.update(1, at(20)), Some(EventTime::from_millis(10)));
        assert_eq!(t.update(1, at(3)), None, "a watermark never goes back");
    }

    #[test]
    fn idle_inputs_are_excluded_and_rejoin() {
        let mut t = WatermarkTracker::new(2);
        t.update(0, at(100));
        assert_eq!(t.update(1, Watermark::Idle), Some(EventTime::from_millis(100)));
        assert!(!t.all_idle());
        assert_eq!(t.update(0, Watermark::Idle), None);
        assert!(t.all_idle());
        assert_eq!(t.update(1, at(150)), Some(EventTime::from_millis(150)));
    }

    #[test]
    fn the_end_of_event_time_waits_for_idle_inputs() {
        let mut t = WatermarkTracker::new(2);
        t.update(0, at(10));
        assert_eq!(t.update(1, Watermark::Idle), Some(EventTime::from_millis(10)));
        assert_eq!(t.update(0, Watermark::At(EventTime::MAX)), None, "input 1 may still flush its windows");
        assert_eq!(t.update(1, at(50)), Some(EventTime::from_millis(50)), "it spoke again");
        t.update(1, Watermark::Idle);
        assert_eq!(t.end(1), Some(EventTime::MAX));
    }

    #[test]
    fn ended_inputs_count_as_infinity() {
        let mut t = WatermarkTracker::new(2);
        t.update(0, at(7));
        assert_eq!(t.end(1), Some(EventTime::from_millis(7)));
        assert_eq!(t.end(0), Some(EventTime::MAX));
    }
}
