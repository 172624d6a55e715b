//! Rankings per group: the top N rows of each window (or any group that closes at
//! a known event time), and `max_by`, which is the top 1 with its ties.
//!
//! [`TopN`] is a [`KeyedProcessFunction`]: key the stream by the group (a window's
//! bounds, or window and category), and it keeps each group's best rows until the
//! watermark passes the group's closing time, then emits them ranked and frees the
//! group. Ranks follow SQL's `RANK()` over a descending score: rows with equal
//! scores share a rank, and every row whose rank is at most N is kept, so ties at
//! the boundary are all in (the result does not depend on arrival order).
//!
//! A row that arrives after its group closed is late: it goes to the dead letters
//! (`late_event`) instead of changing a result already emitted.
//!
//! ```
//! use std::time::Duration;
//! use tidemill_operators::rank::{Ranked, TopN};
//! use tidemill_operators::KeyedStreamExt;
//! use tidemill_runtime::testing::run_collect;
//! use tidemill_runtime::EventTime;
//!
//! // (window start, item, score): the best two per 10 ms window.
//! let rows = vec![(0i64, 'a', 5i64), (0, 'b', 9), (0, 'c', 5), (0, 'd', 1), (10, 'e', 3)];
//! let run = run_collect(rows, |s| {
//!     s.assign_timestamps("time", |r: &(i64, char, i64)| EventTime::from_millis(r.0), Duration::ZERO)
//!         .key_by(|r: &(i64, char, i64)| r.0, 2)
//!         .process("best_two", || {
//!             TopN::new(2, |r: &(i64, char, i64)| r.2, |r: &(i64, char, i64)| EventTime::from_millis(r.0 + 9))
//!         })
//! })?;
//! let mut ranked: Vec<(u32, char)> = run.values.iter().map(|r: &Ranked<(i64, char, i64)>| (r.rank, r.row.1)).collect();
//! ranked.sort();
//! // 'a' and 'c' tie for second place; both are in.
//! assert_eq!(ranked, vec![(1, 'b'), (1, 'e'), (2, 'a'), (2, 'c')]);
//! # Ok::<(), tidemill_runtime::JobError>(())
//! ```

#[cfg(test)]
mod tests;

use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tidemill_runtime::{BoxError, EventTime, Record};

use crate::process::{KeyContext, KeyedProcessFunction, Timer};
use crate::window::WindowKey;

/// A row and its rank in its group (1 is the best; ties share a rank).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ranked<T> {
    /// `1 + ` the number of rows of the group with a strictly higher score.
    pub rank: u32,
    /// The row.
    pub row: T,
}

type ScoreFn<T, S> = Arc<dyn Fn(&T) -> S + Send + Sync>;
type CloseFn<T> = Arc<dyn Fn(&T) -> EventTime + Send + Sync>;

/// The rows of rank at most `n` per group, emitted when the group closes.
pub struct TopN<K, T, S> {
    n: usize,
    score: ScoreFn<T, S>,
    closes_at: CloseFn<T>,
    _key: PhantomData<fn() -> K>,
}

impl<K, T, S> TopN<K, T, S> {
    /// The best `n` rows by `score` (highest first) of each group, emitted once the
    /// watermark reaches `closes_at` of the group's rows (for a window, its end
    /// minus 1 ms). `n = 0` is taken as 1.
    pub fn new(
        n: usize,
        score: impl Fn(&T) -> S + Send + Sync + 'static,
        closes_at: impl Fn(&T) -> EventTime + Send + Sync + 'static,
    ) -> Self {
        TopN { n: n.max(1), score: Arc::new(score), closes_at: Arc::new(closes_at), _key: PhantomData }
    }

    /// The rows with the highest score of each group, ties included: `max_by`
    /// returning whole rows.
    pub fn max_by(
        score: impl Fn(&T) -> S + Send + Sync + 'static,
        closes_at: impl Fn(&T) -> EventTime + Send + Sync + 'static,
    ) -> Self {
        TopN::new(1, score, closes_at)
    }
}

impl<K, T, S> KeyedProcessFunction for TopN<K, T, S>
where
    K: WindowKey,
    T: Clone + Serialize + DeserializeOwned + Send + 'static,
    S: Ord + 'static,
{
    type Key = K;
    type In = T;
    type Out = Ranked<T>;
    /// The group's rows of rank at most `n`, best first.
    type State = Vec<T>;

    fn process_element(&mut self, record: &Record<T>, ctx: &mut KeyContext<'_, Self>) -> Result<(), BoxError> {
        let closes = (self.closes_at)(&record.value);
        if ctx.reject_if_late(closes) {
            return Ok(());
        }
        let score = (self.score)(&record.value);
        let (n, score_of) = (self.n, &self.score);
        if ctx.state().is_empty() {
            ctx.register_event_timer(closes);
        }
        let rows = ctx.state();
        // Rows are kept best first; the new one goes after its equals (stable).
        let at = rows.partition_point(|r| score_of(r) >= score);
        if at >= n && score_of(&rows[n - 1]) > score {
            return Ok(()); // ranks below n
        }
        rows.insert(at, record.value.clone());
        if rows.len() > n {
            let floor = score_of(&rows[n - 1]);
            while rows.last().is_some_and(|r| score_of(r) < floor) {
                rows.pop();
            }
        }
        Ok(())
    }

    fn on_timer(&mut self, _timer: Timer, ctx: &mut KeyContext<'_, Self>) -> Result<(), BoxError> {
        let rows = std::mem::take(ctx.state());
        let mut rank = 1;
        let mut previous: Option<S> = None;
        for (i, row) in rows.into_iter().enumerate() {
            let score = (self.score)(&row);
            if previous.as_ref().is_some_and(|p| *p != score) {
                rank = i as u32 + 1;
            }
            previous = Some(score);
            ctx.emit(Ranked { rank, row });
        }
        ctx.clear_state();
        Ok(())
    }
}
