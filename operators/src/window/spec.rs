//! Window specifications: tumbling, sliding and session windows, validated at
//! construction.

use std::fmt;
use std::time::Duration;

/// A window specification or an allowed lateness was invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// A window size, slide or gap of zero.
    #[error("window {what} must be at least 1 ms, got {got:?}")]
    Zero {
        /// Which parameter (`size`, `slide`, `gap`).
        what: &'static str,
        /// The value given.
        got: Duration,
    },
    /// A duration with a fraction of a millisecond: event time is in whole milliseconds.
    #[error("window {what} must be a whole number of milliseconds, got {got:?}")]
    SubMillisecond {
        /// Which parameter.
        what: &'static str,
        /// The value given.
        got: Duration,
    },
    /// A duration that does not fit event time (more than `i64::MAX` ms).
    #[error("window {what} {got:?} is too large (at most i64::MAX milliseconds)")]
    TooLarge {
        /// Which parameter.
        what: &'static str,
        /// The value given.
        got: Duration,
    },
    /// A sliding window whose slide is longer than its size would skip records.
    #[error(
        "sliding window slide {slide:?} is longer than its size {size:?}: records between windows would belong to none"
    )]
    SlideLargerThanSize {
        /// The window size.
        size: Duration,
        /// The slide.
        slide: Duration,
    },
}

/// Converts a duration to whole milliseconds, rejecting fractions, overflow and
/// (unless `allow_zero`) zero.
pub(crate) fn whole_millis(what: &'static str, d: Duration, allow_zero: bool) -> Result<i64, WindowError> {
    if !d.subsec_nanos().is_multiple_of(1_000_000) {
        return Err(WindowError::SubMillisecond { what, got: d });
    }
    let ms = i64::try_from(d.as_millis()).map_err(|_| WindowError::TooLarge { what, got: d })?;
    if ms == 0 && !allow_zero {
        return Err(WindowError::Zero { what, got: d });
    }
    Ok(ms)
}

fn gcd(mut a: i64, mut b: i64) -> i64 {
    while b != 0 {
        let r = a % b;
        a = b;
        b = r;
    }
    a
}

fn ms_duration(ms: i64) -> Duration {
    Duration::from_millis(ms.unsigned_abs())
}

/// Fixed-size, non-overlapping windows aligned to the Unix epoch:
/// `[n * size, (n + 1) * size)`. Every record belongs to exactly one window.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct TumblingWindow {
    size_ms: i64,
}

impl TumblingWindow {
    /// Windows of `size` (a whole number of milliseconds, at least 1 ms).
    pub fn of(size: Duration) -> Result<Self, WindowError> {
        Ok(TumblingWindow { size_ms: whole_millis("size", size, false)? })
    }

    /// The window size.
    pub fn size(&self) -> Duration {
        ms_duration(self.size_ms)
    }

    /// The window size in milliseconds.
    pub fn size_millis(&self) -> i64 {
        self.size_ms
    }
}

/// Windows of `size` starting every `slide`, aligned to the Unix epoch:
/// `[n * slide, n * slide + size)`. A record belongs to `size / slide` windows
/// (rounded up or down). The operator keeps one accumulator per pane of
/// `gcd(size, slide)` per key, so `size` need not be a multiple of `slide`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct SlidingWindow {
    size_ms: i64,
    slide_ms: i64,
}

impl SlidingWindow {
    /// Windows of `size`; name the slide with
    /// [`every`](super::SlidingWindowOfSize::every):
    /// `SlidingWindow::of_size(Duration::from_secs(300)).every(Duration::from_secs(60))?`.
    pub fn of_size(size: Duration) -> super::SlidingWindowOfSize {
        super::SlidingWindowOfSize { size }
    }

    /// Windows of `size` every `slide`; `slide` must not exceed `size`.
    pub(super) fn new(size: Duration, slide: Duration) -> Result<Self, WindowError> {
        let size_ms = whole_millis("size", size, false)?;
        let slide_ms = whole_millis("slide", slide, false)?;
        if slide_ms > size_ms {
            return Err(WindowError::SlideLargerThanSize { size, slide });
        }
        Ok(SlidingWindow { size_ms, slide_ms })
    }

    /// The window size.
    pub fn size(&self) -> Duration {
        ms_duration(self.size_ms)
    }

    /// The distance between the starts of consecutive windows.
    pub fn slide(&self) -> Duration {
        ms_duration(self.slide_ms)
    }

    /// The window size in milliseconds.
    pub fn size_millis(&self) -> i64 {
        self.size_ms
    }

    /// The slide in milliseconds.
    pub fn slide_millis(&self) -> i64 {
        self.slide_ms
    }

    /// The pane length, `gcd(size, slide)`, in milliseconds: the unit of state.
    pub fn pane_millis(&self) -> i64 {
        gcd(self.size_ms, self.slide_ms)
    }
}

impl From<TumblingWindow> for SlidingWindow {
    /// A tumbling window is a sliding window whose slide equals its size.
    fn from(t: TumblingWindow) -> Self {
        SlidingWindow { size_ms: t.size_ms, slide_ms: t.size_ms }
    }
}

/// Per-key sessions: a record at `t` opens (or extends) the session `[t, t + gap)`;
/// sessions of one key that overlap are merged. A session therefore ends `gap`
/// after its last record, and records less than `gap` apart share a session.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct SessionWindow {
    gap_ms: i64,
}

impl SessionWindow {
    /// Sessions closed by `gap` of inactivity (a whole number of ms, at least 1 ms).
    pub fn with_gap(gap: Duration) -> Result<Self, WindowError> {
        Ok(SessionWindow { gap_ms: whole_millis("gap", gap, false)? })
    }

    /// The inactivity gap.
    pub fn gap(&self) -> Duration {
        ms_duration(self.gap_ms)
    }

    /// The inactivity gap in milliseconds.
    pub fn gap_millis(&self) -> i64 {
        self.gap_ms
    }
}

/// Any of the window kinds, for code that picks one at run time (from a config).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum WindowSpec {
    /// Non-overlapping fixed windows.
    Tumbling(TumblingWindow),
    /// Overlapping fixed windows.
    Sliding(SlidingWindow),
    /// Gap-based per-key sessions.
    Session(SessionWindow),
}

impl From<TumblingWindow> for WindowSpec {
    fn from(w: TumblingWindow) -> Self {
        WindowSpec::Tumbling(w)
    }
}

impl From<SlidingWindow> for WindowSpec {
    fn from(w: SlidingWindow) -> Self {
        WindowSpec::Sliding(w)
    }
}

impl From<SessionWindow> for WindowSpec {
    fn from(w: SessionWindow) -> Self {
        WindowSpec::Session(w)
    }
}

impl fmt::Display for WindowSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WindowSpec::Tumbling(w) => write!(f, "tumbling({} ms)", w.size_ms),
            WindowSpec::Sliding(w) => write!(f, "sliding({} ms every {} ms)", w.size_ms, w.slide_ms),
            WindowSpec::Session(w) => write!(f, "session(gap {} ms)", w.gap_ms),
        }
    }
}
