//! [`WindowOperator`]: one entry point for every window kind.

use serde::Serialize;
use tidemill_runtime::{Batch, EventTime, Operator, OperatorError, Output, StateSnapshot};

use super::aggregate::Aggregate;
use super::common::{KeyFn, WindowKey};
use super::pane_window::PaneWindowOperator;
use super::result::WindowResult;
use super::session_window::SessionWindowOperator;
use super::settings::WindowSettings;
use super::spec::{WindowError, WindowSpec};

/// A keyed event-time window operator of any kind, built from a [`WindowSpec`].
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use tidemill_operators::window::{Count, SlidingWindow, Sum, WindowOperator};
/// use tidemill_runtime::OperatorHarness;
///
/// // (user, amount) -> per user, the number of orders and their total over the
/// // last 10 s, every 5 s.
/// let windows = SlidingWindow::of_size(Duration::from_secs(10)).every(Duration::from_secs(5)).unwrap();
/// let op = WindowOperator::new(windows, Arc::new(|o: &(u32, i64)| o.0), (Count, Sum::new(|o: &(u32, i64)| o.1)))
///     .unwrap();
/// let mut h = OperatorHarness::new(op);
/// h.push_timed([((1, 10), 1_000), ((1, 5), 7_000)]).unwrap();
/// // Watermark 9 999 ms closes [-5 s, 5 s) and [0 s, 10 s), in order of end.
/// h.push_watermark(9_999).unwrap();
/// let fired: Vec<_> = h.take_values().into_iter().map(|r| (r.window_start.as_millis(), r.value)).collect();
/// assert_eq!(fired, vec![(-5_000, (1, 10)), (0, (2, 15))]);
/// // The end of input closes everything else: [5 s, 15 s).
/// h.push_end().unwrap();
/// let fired: Vec<_> = h.take_values().into_iter().map(|r| (r.window_start.as_millis(), r.value)).collect();
/// assert_eq!(fired, vec![(5_000, (1, 5))]);
/// ```
pub enum WindowOperator<T, K, A: Aggregate<T>> {
    /// Tumbling or sliding windows.
    Pane(PaneWindowOperator<T, K, A>),
    /// Session windows.
    Session(SessionWindowOperator<T, K, A>),
}

impl<T, K: WindowKey, A: Aggregate<T>> WindowOperator<T, K, A> {
    /// The operator for `settings` (a window kind, or a kind plus its allowed
    /// lateness), keyed by `key_fn`, computing `aggregate`, firing each window once
    /// the watermark passes its end by the allowed lateness.
    pub fn new(settings: impl Into<WindowSettings>, key_fn: KeyFn<T, K>, aggregate: A) -> Result<Self, WindowError> {
        let settings = settings.into();
        let allowed_lateness = settings.allowed_lateness();
        Ok(match settings.spec() {
            WindowSpec::Tumbling(w) => {
                WindowOperator::Pane(PaneWindowOperator::tumbling(w, key_fn, aggregate, allowed_lateness)?)
            }
            WindowSpec::Sliding(w) => {
                WindowOperator::Pane(PaneWindowOperator::sliding(w, key_fn, aggregate, allowed_lateness)?)
            }
            WindowSpec::Session(w) => {
                WindowOperator::Session(SessionWindowOperator::new(w, key_fn, aggregate, allowed_lateness)?)
            }
        })
    }

    /// The window specification.
    pub fn spec(&self) -> &WindowSpec {
        match self {
            WindowOperator::Pane(op) => op.spec(),
            WindowOperator::Session(op) => op.spec(),
        }
    }

    /// How many records were late (sent to the dead-letter output) so far,
    /// including before the last restore.
    pub fn late_records(&self) -> u64 {
        match self {
            WindowOperator::Pane(op) => op.late_records(),
            WindowOperator::Session(op) => op.late_records(),
        }
    }

    /// The number of accumulators held: (pane, key) pairs, or open sessions.
    pub fn state_size(&self) -> usize {
        match self {
            WindowOperator::Pane(op) => op.state_size(),
            WindowOperator::Session(op) => op.state_size(),
        }
    }

    /// The last watermark the operator received.
    pub fn current_watermark(&self) -> Option<EventTime> {
        match self {
            WindowOperator::Pane(op) => op.current_watermark(),
            WindowOperator::Session(op) => op.current_watermark(),
        }
    }
}

impl<T, K, A> Operator for WindowOperator<T, K, A>
where
    T: Send + Serialize + 'static,
    K: WindowKey,
    A: Aggregate<T>,
{
    type In = T;
    type Out = WindowResult<K, A::Out>;

    fn process(&mut self, batch: Batch<T>, out: &mut Output<Self::Out>) -> Result<(), OperatorError> {
        match self {
            WindowOperator::Pane(op) => op.process(batch, out),
            WindowOperator::Session(op) => op.process(batch, out),
        }
    }

    fn on_watermark(&mut self, watermark: EventTime, out: &mut Output<Self::Out>) -> Result<(), OperatorError> {
        match self {
            WindowOperator::Pane(op) => op.on_watermark(watermark, out),
            WindowOperator::Session(op) => op.on_watermark(watermark, out),
        }
    }

    fn snapshot(&self) -> Result<StateSnapshot, OperatorError> {
        match self {
            WindowOperator::Pane(op) => op.snapshot(),
            WindowOperator::Session(op) => op.snapshot(),
        }
    }

    fn restore(&mut self, snapshot: &StateSnapshot) -> Result<(), OperatorError> {
        match self {
            WindowOperator::Pane(op) => op.restore(snapshot),
            WindowOperator::Session(op) => op.restore(snapshot),
        }
    }
}
