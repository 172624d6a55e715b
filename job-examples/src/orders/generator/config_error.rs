//! [`GeneratorConfigError`]: which rule of a generator configuration is broken.

/// A generator setting that cannot be used, one variant per rule.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GeneratorConfigError {
    /// `users` is 0.
    #[error("users must be at least 1")]
    NoUsers,
    /// `events_per_second_event_time` is zero, negative or not finite.
    #[error("events_per_second_event_time must be positive, got {0}")]
    EventRate(f64),
    /// `rate_limit` is `Some(0)`.
    #[error("rate_limit must be at least 1 record/s (or absent)")]
    ZeroRateLimit,
    /// A share is outside `[0, 1]`.
    #[error("{name} must be within [0, 1], got {share}")]
    ShareOutOfRange {
        /// The setting (`duplicate_share`, `malformed_share`, `late_share`).
        name: &'static str,
        /// Its value.
        share: f64,
    },
    /// The shares of duplicated, malformed and late events add up to more than 1.
    #[error("duplicate_share + malformed_share + late_share must not exceed 1")]
    SharesAboveOne,
    /// `late_min` is more than `late_max`.
    #[error("late_min {min:?} is more than late_max {max:?}")]
    LateRange {
        /// `late_min`.
        min: std::time::Duration,
        /// `late_max`.
        max: std::time::Duration,
    },
    /// Some event time would fall outside years 0001..9999 (timestamps are written
    /// with four-digit years).
    #[error("event times must stay within years 0001..9999")]
    TimesOutOfRange,
}
