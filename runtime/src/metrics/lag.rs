//! The lag-growth detector: warns when the job's total lag grows past a multiple
//! of its recent baseline.
//!
//! The baseline is an exponentially weighted moving average of the sampled total
//! lag with the time constant `baseline_window`. While the lag is above
//! `factor × baseline` (and at least `min_lag`), the job is *falling behind*: the
//! detector logs a warning once and `tidemill.job.lag.growing` is 1. The baseline
//! is frozen meanwhile, so that lag that keeps growing (or stays at its new high)
//! keeps the alarm on rather than becoming the new normal within minutes. The
//! alarm ends when the lag is back below the middle of baseline and threshold
//! (1.5 × baseline for factor 2; hysteresis, so that a lag hovering around the
//! threshold does not flap).

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Settings of the lag-growth detector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LagGrowthConfig {
    /// Alarm when the total lag exceeds this multiple of its baseline.
    pub factor: f64,
    /// Time constant of the baseline's moving average: the "recent" in "recent
    /// baseline".
    #[serde(with = "humantime_serde")]
    pub baseline_window: Duration,
    /// Lags below this never alarm (lag 30 after a baseline of 10 is noise).
    pub min_lag: u64,
    /// How often the total lag is sampled.
    #[serde(with = "humantime_serde")]
    pub sample_interval: Duration,
}

impl LagGrowthConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), crate::ConfigError> {
        if !(self.factor.is_finite() && self.factor > 1.0) {
            return Err(crate::ConfigError::NotAFactor {
                setting: "metrics.lag_growth.factor",
                value: self.factor.to_string(),
            });
        }
        crate::config::positive("metrics.lag_growth.baseline_window", self.baseline_window)?;
        crate::config::positive("metrics.lag_growth.sample_interval", self.sample_interval)
    }
}

impl Default for LagGrowthConfig {
    fn default() -> Self {
        LagGrowthConfig {
            factor: 2.0,
            baseline_window: Duration::from_secs(300),
            min_lag: 10_000,
            sample_interval: Duration::from_secs(5),
        }
    }
}

/// A change of the alarm.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum LagAlarm {
    /// The lag grew past `factor × baseline`.
    Raised { lag: u64, baseline: f64 },
    /// The lag is back near its baseline.
    Cleared { lag: u64, baseline: f64 },
}

pub(crate) struct LagGrowthDetector {
    config: LagGrowthConfig,
    baseline: Option<f64>,
    last: Option<Instant>,
    growing: bool,
}

impl LagGrowthDetector {
    pub(crate) fn new(config: LagGrowthConfig) -> Self {
        LagGrowthDetector { config, baseline: None, last: None, growing: false }
    }

    pub(crate) fn baseline(&self) -> Option<f64> {
        self.baseline
    }

    pub(crate) fn growing(&self) -> bool {
        self.growing
    }

    /// Takes one sample of the total lag.
    pub(crate) fn sample(&mut self, lag: u64, at: Instant) -> Option<LagAlarm> {
        let Some(baseline) = self.baseline else {
            self.baseline = Some(lag as f64);
            self.last = Some(at);
            return None;
        };
        let dt = self.last.map_or(Duration::ZERO, |l| at.saturating_duration_since(l));
        self.last = Some(at);
        let l = lag as f64;
        let factor = self.config.factor.max(1.0);
        let alarm = if !self.growing && l > factor * baseline && lag >= self.config.min_lag {
            self.growing = true;
            Some(LagAlarm::Raised { lag, baseline })
        } else if self.growing && (l <= (1.0 + factor) / 2.0 * baseline || lag < self.config.min_lag) {
            self.growing = false;
            Some(LagAlarm::Cleared { lag, baseline })
        } else {
            None
        };
        if !self.growing {
            let window = self.config.baseline_window.as_secs_f64().max(1e-3);
            let alpha = 1.0 - (-dt.as_secs_f64() / window).exp();
            self.baseline = Some(baseline + alpha * (l - baseline));
        }
        alarm
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detector() -> LagGrowthDetector {
        LagGrowthDetector::new(LagGrowthConfig {
            factor: 2.0,
            baseline_window: Duration::from_secs(60),
            min_lag: 100,
            sample_interval: Duration::from_secs(5),
        })
    }

    #[test]
    fn steady_lag_never_alarms() {
        let mut d = detector();
        let t0 = Instant::now();
        for i in 0..100 {
            let lag = 1_000 + (i % 3) * 100;
            assert_eq!(d.sample(lag, t0 + Duration::from_secs(5 * i)), None);
        }
        assert!(!d.growing());
        let b = d.baseline().unwrap();
        assert!((1_000.0..=1_200.0).contains(&b), "baseline {b}");
    }

    #[test]
    fn growth_past_twice_the_baseline_alarms_until_it_recovers() {
        let mut d = detector();
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        for s in 0..20 {
            d.sample(1_000, at(s * 5));
        }
        // Growing, but not yet past 2x.
        assert_eq!(d.sample(1_900, at(100)), None);
        let raised = d.sample(2_500, at(105));
        assert!(matches!(raised, Some(LagAlarm::Raised { lag: 2_500, .. })), "{raised:?}");
        assert!(d.growing());
        // The baseline is frozen while growing: a lag that stays high stays alarmed.
        for s in 0..100 {
            assert_eq!(d.sample(5_000, at(110 + s * 5)), None);
        }
        assert!(d.growing());
        // Below 2x but above 1.5x: still alarmed (hysteresis).
        assert_eq!(d.sample(1_800, at(700)), None);
        let cleared = d.sample(1_200, at(705));
        assert!(matches!(cleared, Some(LagAlarm::Cleared { lag: 1_200, .. })), "{cleared:?}");
        assert!(!d.growing());
    }

    #[test]
    fn small_lags_never_alarm() {
        let mut d = detector();
        let t0 = Instant::now();
        d.sample(0, t0);
        assert_eq!(d.sample(50, t0 + Duration::from_secs(5)), None);
        assert!(matches!(d.sample(150, t0 + Duration::from_secs(10)), Some(LagAlarm::Raised { .. })));
        assert!(matches!(d.sample(90, t0 + Duration::from_secs(15)), Some(LagAlarm::Cleared { .. })));
    }
}
