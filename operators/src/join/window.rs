//! [`WindowJoin`]: pairs of records of one key that share an event-time window
//! (tumbling, sliding or session).

use std::collections::BTreeMap;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tidemill_runtime::{BoxError, EventTime, ReasonCode, Record};

use super::{JoinSide, WindowPairFn};
use crate::process::{Either, KeyContext, KeyedProcessFunction, Timer};
use crate::window::{SlidingWindow, WindowKey, WindowSpec};

/// The window a joined pair shares: `[start, end)`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct JoinWindow {
    /// First instant in the window.
    pub start: EventTime,
    /// First instant after it.
    pub end: EventTime,
}

/// The records of one key in its open windows.
#[derive(Serialize, Deserialize)]
#[serde(bound(serialize = "L: Serialize, R: Serialize", deserialize = "L: DeserializeOwned, R: DeserializeOwned"))]
pub struct WindowJoinState<L, R> {
    /// Fixed windows by start: the left and right records in each.
    windows: BTreeMap<i64, (Vec<L>, Vec<R>)>,
    /// Sessions: every record of an open session, with its time.
    sessions: Vec<(i64, Either<L, R>)>,
}

impl<L, R> Default for WindowJoinState<L, R> {
    fn default() -> Self {
        WindowJoinState { windows: BTreeMap::new(), sessions: Vec::new() }
    }
}

/// A window join of the connected stream `Either<L, R>` by key: when the watermark
/// passes the end of a window, every pair of a left and a right record of one key
/// in that window is emitted, with the window's last instant (`end - 1`) as its
/// time. Tumbling and sliding windows are fixed (a record is in every window that
/// covers its time); sessions are per key over both sides together (records less
/// than the gap apart, of either side, share one). An inner join: a window with
/// records on one side only emits nothing.
///
/// Late records are `late_event` dead letters: for fixed windows, a record whose
/// every window has already been emitted; for sessions, a record behind the
/// watermark (it could belong to a session already emitted).
pub struct WindowJoin<K, L, R, O> {
    spec: WindowSpec,
    join: WindowPairFn<L, R, O>,
    _key: PhantomData<fn() -> K>,
}

impl<K, L, R, O> WindowJoin<K, L, R, O> {
    /// Joins with `join` in the windows of `spec`.
    pub fn new(spec: WindowSpec, join: WindowPairFn<L, R, O>) -> Self {
        WindowJoin { spec, join, _key: PhantomData }
    }

    /// Every pair of `left` and `right` joined, with the window's last instant.
    fn emit_pairs<'a>(
        &self,
        left: impl Iterator<Item = &'a L> + Clone,
        right: impl Iterator<Item = &'a R> + Clone,
        window: JoinWindow,
        out: &mut Vec<(O, i64)>,
    ) where
        L: 'a,
        R: 'a,
    {
        let time = window.end.as_millis().saturating_sub(1);
        for l in left {
            for r in right.clone() {
                out.push(((self.join)(l, r, window), time));
            }
        }
    }
}

/// The starts of the fixed windows of `w` that cover `t`, oldest first.
fn window_starts(w: SlidingWindow, t: i64) -> impl Iterator<Item = i64> {
    let (size, slide) = (w.size_millis(), w.slide_millis());
    let last = t.div_euclid(slide);
    let first = (t.saturating_sub(size)).div_euclid(slide).saturating_add(1);
    (first..=last).map(move |k| k.saturating_mul(slide))
}

impl<K, L, R, O> KeyedProcessFunction for WindowJoin<K, L, R, O>
where
    K: WindowKey,
    L: JoinSide,
    R: JoinSide,
    O: Send + 'static,
{
    type Key = K;
    type In = Either<L, R>;
    type Out = O;
    type State = WindowJoinState<L, R>;

    fn process_element(
        &mut self,
        record: &Record<Either<L, R>>,
        ctx: &mut KeyContext<'_, Self>,
    ) -> Result<(), BoxError> {
        let t = record.time.as_millis();
        let fixed = match self.spec {
            WindowSpec::Tumbling(w) => SlidingWindow::from(w),
            WindowSpec::Sliding(w) => w,
            WindowSpec::Session(s) => {
                if ctx.reject_if_late(record.time) {
                    return Ok(());
                }
                ctx.state().sessions.push((t, record.value.clone()));
                ctx.register_event_timer(EventTime::from_millis(t.saturating_add(s.gap_millis() - 1)));
                return Ok(());
            }
        };
        let watermark = ctx.watermark().map(EventTime::as_millis);
        let size = fixed.size_millis();
        let open: Vec<i64> = window_starts(fixed, t)
            .filter(|start| watermark.is_none_or(|w| start.saturating_add(size - 1) > w))
            .collect();
        if open.is_empty() {
            let detail = format!("every window of the record at {t} ms was emitted (watermark {watermark:?})");
            ctx.reject(ReasonCode::LateEvent, detail);
            return Ok(());
        }
        for start in open {
            let window = ctx.state().windows.entry(start).or_default();
            match &record.value {
                Either::Left(l) => window.0.push(l.clone()),
                Either::Right(r) => window.1.push(r.clone()),
            }
            ctx.register_event_timer(EventTime::from_millis(start.saturating_add(size - 1)));
        }
        Ok(())
    }

    fn on_timer(&mut self, timer: Timer, ctx: &mut KeyContext<'_, Self>) -> Result<(), BoxError> {
        let now = timer.time.as_millis();
        let mut out = Vec::new();
        match self.spec {
            WindowSpec::Session(s) => {
                let gap = s.gap_millis();
                let state = ctx.state();
                // Stable: records of equal time keep their arrival order.
                state.sessions.sort_by_key(|(t, _)| *t);
                let mut first = 0;
                while first < state.sessions.len() {
                    let mut last = first;
                    while last + 1 < state.sessions.len()
                        && state.sessions[last + 1].0 < state.sessions[last].0.saturating_add(gap)
                    {
                        last += 1;
                    }
                    let end = state.sessions[last].0.saturating_add(gap);
                    if end - 1 > now {
                        break;
                    }
                    let window = JoinWindow {
                        start: EventTime::from_millis(state.sessions[first].0),
                        end: EventTime::from_millis(end),
                    };
                    let session = &state.sessions[first..=last];
                    let left = session.iter().filter_map(|(_, e)| match e {
                        Either::Left(l) => Some(l),
                        Either::Right(_) => None,
                    });
                    let right = session.iter().filter_map(|(_, e)| match e {
                        Either::Left(_) => None,
                        Either::Right(r) => Some(r),
                    });
                    self.emit_pairs(left, right, window, &mut out);
                    first = last + 1;
                }
                state.sessions.drain(..first);
                if state.sessions.is_empty() {
                    ctx.clear_state();
                }
            }
            WindowSpec::Tumbling(w) => self.close_fixed(w.size_millis(), now, ctx, &mut out),
            WindowSpec::Sliding(w) => self.close_fixed(w.size_millis(), now, ctx, &mut out),
        }
        for (value, time) in out {
            ctx.emit_at(value, EventTime::from_millis(time));
        }
        Ok(())
    }
}

impl<K: WindowKey, L: JoinSide, R: JoinSide, O: Send + 'static> WindowJoin<K, L, R, O> {
    /// Joins and forgets the fixed windows of `size` ms whose last instant is at
    /// or before `now`.
    fn close_fixed(&self, size: i64, now: i64, ctx: &mut KeyContext<'_, Self>, out: &mut Vec<(O, i64)>) {
        let state = ctx.state();
        let open = state.windows.split_off(&now.saturating_sub(size - 1).saturating_add(1));
        let closed = std::mem::replace(&mut state.windows, open);
        if state.windows.is_empty() {
            ctx.clear_state();
        }
        for (start, (left, right)) in closed {
            let end = start.saturating_add(size);
            let window = JoinWindow { start: EventTime::from_millis(start), end: EventTime::from_millis(end) };
            self.emit_pairs(left.iter(), right.iter(), window, out);
        }
    }
}
