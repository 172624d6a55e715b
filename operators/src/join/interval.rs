//! [`IntervalJoin`]: pairs whose right record's time lies within an interval
//! around the left record's time.

use std::marker::PhantomData;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tidemill_runtime::{BoxError, EventTime, Record};

use super::{JoinSide, PairFn};
use crate::process::{Either, KeyContext, KeyedProcessFunction, Timer};
use crate::window::{whole_millis, WindowError, WindowKey};

/// The interval of an interval join: a right record at `r` joins a left record at
/// `l` when `l - before <= r <= l + after`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct IntervalBounds {
    before_ms: i64,
    after_ms: i64,
}

impl IntervalBounds {
    /// Right records from `before` before to `after` after each left record
    /// (whole milliseconds; both may be zero).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tidemill_operators::join::IntervalBounds;
    ///
    /// let bounds = IntervalBounds::new(Duration::from_secs(5), Duration::from_secs(10))?;
    /// assert!(bounds.contains(100_000, 95_000) && bounds.contains(100_000, 110_000));
    /// assert!(!bounds.contains(100_000, 110_001));
    /// # Ok::<(), tidemill_operators::window::WindowError>(())
    /// ```
    pub fn new(before: Duration, after: Duration) -> Result<Self, WindowError> {
        Ok(IntervalBounds {
            before_ms: whole_millis("before", before, true)?,
            after_ms: whole_millis("after", after, true)?,
        })
    }

    /// Whether a right record at `right` joins a left record at `left` (ms).
    pub fn contains(&self, left: i64, right: i64) -> bool {
        left.saturating_sub(self.before_ms) <= right && right <= left.saturating_add(self.after_ms)
    }
}

/// The records of one key waiting for partners.
#[derive(Serialize, Deserialize)]
#[serde(bound(serialize = "L: Serialize, R: Serialize", deserialize = "L: DeserializeOwned, R: DeserializeOwned"))]
pub struct IntervalState<L, R> {
    left: Vec<(i64, L)>,
    right: Vec<(i64, R)>,
}

impl<L, R> Default for IntervalState<L, R> {
    fn default() -> Self {
        IntervalState { left: Vec::new(), right: Vec::new() }
    }
}

/// An interval join of the connected stream `Either<L, R>` by key: every pair of a
/// left and a right record of one key with the right's time within
/// [`IntervalBounds`] of the left's is emitted once, when the second of the two
/// arrives, with the later of their times. A record is kept until the watermark
/// passes the last time a partner could have (a left one `after` past its time,
/// a right one `before` past its time). A record behind the watermark is a
/// `late_event` dead letter: its partners may be gone.
pub struct IntervalJoin<K, L, R, O> {
    bounds: IntervalBounds,
    join: PairFn<L, R, O>,
    _key: PhantomData<fn() -> K>,
}

impl<K, L, R, O> IntervalJoin<K, L, R, O> {
    /// Joins with `join` within `bounds`.
    pub fn new(bounds: IntervalBounds, join: PairFn<L, R, O>) -> Self {
        IntervalJoin { bounds, join, _key: PhantomData }
    }
}

impl<K, L, R, O> KeyedProcessFunction for IntervalJoin<K, L, R, O>
where
    K: WindowKey,
    L: JoinSide,
    R: JoinSide,
    O: Send + 'static,
{
    type Key = K;
    type In = Either<L, R>;
    type Out = O;
    type State = IntervalState<L, R>;

    fn process_element(
        &mut self,
        record: &Record<Either<L, R>>,
        ctx: &mut KeyContext<'_, Self>,
    ) -> Result<(), BoxError> {
        if ctx.reject_if_late(record.time) {
            return Ok(());
        }
        let t = record.time.as_millis();
        let (bounds, join) = (self.bounds, self.join.clone());
        let mut pairs = Vec::new();
        let expiry = match &record.value {
            Either::Left(l) => {
                let state = ctx.state();
                for (rt, r) in state.right.iter().filter(|(rt, _)| bounds.contains(t, *rt)) {
                    pairs.push((join(l, r), t.max(*rt)));
                }
                state.left.push((t, l.clone()));
                t.saturating_add(bounds.after_ms)
            }
            Either::Right(r) => {
                let state = ctx.state();
                for (lt, l) in state.left.iter().filter(|(lt, _)| bounds.contains(*lt, t)) {
                    pairs.push((join(l, r), t.max(*lt)));
                }
                state.right.push((t, r.clone()));
                t.saturating_add(bounds.before_ms)
            }
        };
        for (out, time) in pairs {
            ctx.emit_at(out, EventTime::from_millis(time));
        }
        ctx.register_event_timer(EventTime::from_millis(expiry));
        Ok(())
    }

    fn on_timer(&mut self, timer: Timer, ctx: &mut KeyContext<'_, Self>) -> Result<(), BoxError> {
        let now = timer.time.as_millis();
        let bounds = self.bounds;
        let state = ctx.state();
        state.left.retain(|(lt, _)| lt.saturating_add(bounds.after_ms) > now);
        state.right.retain(|(rt, _)| rt.saturating_add(bounds.before_ms) > now);
        if state.left.is_empty() && state.right.is_empty() {
            ctx.clear_state();
        }
        Ok(())
    }
}
