//! Keyed event-time windows: tumbling, sliding and session windows with
//! incremental aggregates.
//!
//! # Building an operator
//!
//! [`WindowOperator::new`]`(settings, key_fn, aggregate)` accepts a
//! [`TumblingWindow`], [`SlidingWindow`], [`SessionWindow`], [`WindowSpec`] or
//! [`WindowSettings`] (a kind plus its allowed lateness) and returns an [`Operator`](tidemill_runtime::Operator) from `T` to
//! [`WindowResult`]`<K, A::Out>`. [`PaneWindowOperator`] and
//! [`SessionWindowOperator`] can also be used directly. Aggregates: [`Count`],
//! [`Sum`], [`Min`], [`Max`], [`Avg`], tuples of aggregates (several results in one
//! pass), or any user type implementing [`Aggregate`].
//!
//! # Windows
//!
//! All times are event times in milliseconds; windows are half-open `[start, end)`
//! and aligned to the Unix epoch (offset 0). Window bounds saturate at the ends of
//! the `i64` range (records stamped `EventTime::MIN` land in the first window).
//!
//! * **Tumbling** windows of `size`: `[n*size, (n+1)*size)`.
//! * **Sliding** windows of `size` every `slide`: `[n*slide, n*slide + size)`.
//!   State is kept per *pane* of `gcd(size, slide)`: each record updates exactly one
//!   (pane, key) accumulator, and a window's result is the merge of its panes when
//!   it fires. `size` need not be a multiple of `slide`.
//! * **Session** windows with `gap`: a record at `t` makes the session `[t, t+gap)`;
//!   sessions of the same key that *overlap* (share at least one millisecond) merge,
//!   accumulators included. So a session ends `gap` after its last record and two
//!   records are in the same session iff a chain of records less than `gap` apart
//!   links them. Sessions that only touch (`[a, b)` and `[b, c)`, records exactly
//!   `gap` apart) do **not** merge: the first one may already have fired by the time
//!   a record at `b`, which is on time, arrives (it fires at watermark `b - 1`), and
//!   merging would then change a result already emitted.
//!
//! # Emission
//!
//! The watermark `W` promises that no more records with time `<= W` are expected. A
//! window (or session) `[s, e)` fires exactly once, when the operator's watermark
//! satisfies `W >= e - 1 + allowed_lateness`. Its results, one [`WindowResult`] per
//! key with at least one record (empty windows are never emitted), are emitted as
//! records with time `e - 1` and origin [`Origin::INTERNAL`](tidemill_runtime::Origin::INTERNAL),
//! ordered by window end, then by key (keys are [`Ord`], see [`WindowKey`]): the
//! order is deterministic and survives snapshot/restore. `on_watermark(EventTime::MAX)`
//! (end of input) fires everything. The state of a window or session is freed when
//! it fires (sliding panes when the last window containing them fires), so memory is
//! bounded by the data between the watermark horizon and the newest records.
//!
//! # Lateness
//!
//! A late record is never dropped silently: it goes to the dead-letter output with
//! reason [`ReasonCode::LateEvent`](tidemill_runtime::ReasonCode::LateEvent), its value
//! serialised as JSON as payload, a detail naming its time, the watermark and the
//! window, and its origin; and it is counted (`late_records()`, checkpointed).
//! Before the first watermark nothing is late.
//!
//! * **Tumbling/sliding:** a record at `t` is late iff the *earliest* window
//!   containing it has already fired (or, if it was empty, closed), that is
//!   `W >= e_min - 1 + allowed_lateness` with
//!   `e_min = floor((t - size) / slide) * slide + slide + size`. For sliding windows
//!   this rejects the record entirely as soon as one of its windows has fired,
//!   rather than counting it in only some of them, so every emitted window is
//!   exactly the aggregate over the accepted records it contains.
//! * **Sessions:** a record at `t` of key `k` is late iff
//!   1. a session holding only this record, `[t, t+gap)`, would already have fired:
//!      `t + gap - 1 + allowed_lateness <= W`; or
//!   2. `[t, t+gap)` overlaps a session of `k` that has already fired.
//!
//!   Otherwise it opens a session or merges into the open sessions it overlaps
//!   (which then cannot overlap any fired session either). Rule 2 keeps emitted
//!   results final: without it, an out-of-order record a little behind the watermark
//!   (`t <= W`, yet rule 1 not met) could land in a session that was just emitted and
//!   start a second, partial session for the same activity. Note that a record whose
//!   own session would have fired is late even if it overlaps a still-open session of
//!   its key: letting it extend that session backwards could bridge to a session
//!   fired long ago (by a chain of such records), which would need the whole history
//!   of fired sessions to detect. With the two rules, a fired session need only be
//!   remembered (its bounds, not its accumulator) until `W >= end + gap - 2 +
//!   allowed_lateness`, after which rule 1 covers every record that could overlap
//!   it; memory stays bounded by the watermark horizon.
//!
//! Both rules mean: an accepted record never belongs to a window or session that was
//! already emitted, so the emitted results are exactly the windows that a batch
//! computation over all accepted records would produce (the oracle tests check
//! this), and each is emitted once.
//!
//! # Checkpoints
//!
//! `snapshot()` serialises every accumulator (panes or sessions), the remembered
//! fired sessions, the late-record count and the last watermark, together with the
//! window spec and allowed lateness; `restore()` refuses a snapshot taken with
//! another configuration. Restoring into a fresh operator and continuing gives the
//! same output as an uninterrupted run.

mod aggregate;
mod common;
mod operator;
mod pane_window;
mod result;
mod session_window;
mod settings;
mod spec;
mod traces;

#[cfg(test)]
mod tests;

pub use aggregate::{Aggregate, Avg, AvgAcc, Count, Extractor, Max, Min, Sum};
pub use common::{KeyFn, WindowKey};
pub use operator::WindowOperator;
pub use pane_window::PaneWindowOperator;
pub use result::WindowResult;
pub use session_window::SessionWindowOperator;
pub use settings::{SlidingWindowOfSize, WindowSettings};
pub(crate) use spec::whole_millis;
pub use spec::{SessionWindow, SlidingWindow, TumblingWindow, WindowError, WindowSpec};
