//! [`WindowSettings`]: a window kind plus how long its windows wait for late
//! records, named rather than passed as positional durations.

use std::time::Duration;

use super::spec::{SessionWindow, SlidingWindow, TumblingWindow, WindowError, WindowSpec};

/// Everything a window operator needs besides its key and aggregate: the window
/// kind and the allowed lateness (how long past a window's end, in event time,
/// records for it are still counted; zero by default).
///
/// Every window kind converts into settings with zero lateness, so
/// `keyed.window("w", TumblingWindow::of(size)?, Count)` needs no settings at all;
/// `with_allowed_lateness` names the other case:
///
/// ```
/// use std::time::Duration;
/// use tidemill_operators::window::{SlidingWindow, WindowSettings};
///
/// let settings = SlidingWindow::of_size(Duration::from_secs(300))
///     .every(Duration::from_secs(60))?
///     .with_allowed_lateness(Duration::from_secs(30));
/// assert_eq!(settings.allowed_lateness(), Duration::from_secs(30));
/// assert_eq!(settings.spec().to_string(), "sliding(300000 ms every 60000 ms)");
/// assert_eq!(WindowSettings::from(SlidingWindow::of_size(Duration::from_secs(300)).every(Duration::from_secs(60))?).allowed_lateness(), Duration::ZERO);
/// # Ok::<(), tidemill_operators::window::WindowError>(())
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct WindowSettings {
    spec: WindowSpec,
    allowed_lateness: Duration,
}

impl WindowSettings {
    /// Settings for `spec` with no allowed lateness.
    pub fn new(spec: impl Into<WindowSpec>) -> Self {
        WindowSettings { spec: spec.into(), allowed_lateness: Duration::ZERO }
    }

    /// The same settings, with windows waiting `lateness` past their end for late
    /// records (a whole number of milliseconds; checked when the operator is built).
    pub fn with_allowed_lateness(self, lateness: Duration) -> Self {
        WindowSettings { allowed_lateness: lateness, ..self }
    }

    /// The window kind.
    pub fn spec(&self) -> WindowSpec {
        self.spec
    }

    /// How long past a window's end its late records are still counted.
    pub fn allowed_lateness(&self) -> Duration {
        self.allowed_lateness
    }
}

/// `with_allowed_lateness` on each window kind, and its conversion into settings.
macro_rules! window_kind_settings {
    ($($kind:ty),*) => {$(
        impl From<$kind> for WindowSettings {
            fn from(kind: $kind) -> Self {
                WindowSettings::new(kind)
            }
        }

        impl $kind {
            /// These windows, waiting `lateness` past their end for late records.
            pub fn with_allowed_lateness(self, lateness: Duration) -> WindowSettings {
                WindowSettings::new(self).with_allowed_lateness(lateness)
            }
        }
    )*};
}

window_kind_settings!(TumblingWindow, SlidingWindow, SessionWindow, WindowSpec);

/// A sliding window's size, waiting for its slide: see [`SlidingWindow::of_size`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[must_use = "name the slide with `.every(slide)`"]
pub struct SlidingWindowOfSize {
    pub(super) size: Duration,
}

impl SlidingWindowOfSize {
    /// Windows of the given size starting every `slide`; `slide` must not exceed
    /// the size, and both must be whole, non-zero numbers of milliseconds.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tidemill_operators::window::{SlidingWindow, WindowError};
    ///
    /// let five_minutes = SlidingWindow::of_size(Duration::from_secs(300));
    /// assert_eq!(five_minutes.every(Duration::from_secs(60))?.slide(), Duration::from_secs(60));
    /// assert!(matches!(five_minutes.every(Duration::from_secs(600)), Err(WindowError::SlideLargerThanSize { .. })));
    /// # Ok::<(), WindowError>(())
    /// ```
    pub fn every(self, slide: Duration) -> Result<SlidingWindow, WindowError> {
        SlidingWindow::new(self.size, slide)
    }
}
