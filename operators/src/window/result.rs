//! What a window operator emits.

use serde::{Deserialize, Serialize};
use tidemill_runtime::EventTime;

/// The result of one window for one key: the window `[window_start, window_end)`,
/// the key and the aggregate's output. The emitted record's event time is
/// `window_end - 1 ms`, the last instant the window covers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowResult<K, V> {
    /// First instant of the window (inclusive).
    pub window_start: EventTime,
    /// End of the window (exclusive). For sessions: the last record's time plus the gap.
    pub window_end: EventTime,
    /// The key the window belongs to.
    pub key: K,
    /// The aggregate's output.
    pub value: V,
}

impl<K, V> WindowResult<K, V> {
    /// Builds a result.
    pub fn new(window_start: EventTime, window_end: EventTime, key: K, value: V) -> Self {
        WindowResult { window_start, window_end, key, value }
    }

    /// The window's maximum timestamp, `window_end - 1 ms`: the emitted record's time.
    pub fn max_timestamp(&self) -> EventTime {
        EventTime::from_millis(self.window_end.as_millis().saturating_sub(1))
    }
}
