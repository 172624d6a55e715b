//! The scaling signal: how many processes a group-scaled job needs, computed
//! by every process from what it already measures, for an operator or an
//! autoscaler to act on (`tidemill_desired_processes`).
//!
//! Every `sample_interval` a process takes one [`ScalingReading`]: the group's
//! figures, the same in every process (the topic's partition count, the group's
//! members, the sum of the partitions' log-end offsets and the group's committed
//! lag), and this process's own activity (records read, how long its source
//! partitions waited for input, its CPU time). Over the last `window`:
//!
//! - `input_rate` = growth of the log-end offsets per second (the producers' rate);
//! - `demand` = `input_rate + lag / catch_up` (keep up, and drain the backlog within
//!   `catch_up`: a lag that grows raises the demand);
//! - `busy` = the larger of the share of time this process's source partitions
//!   did not wait for input (blocked on backpressure counts as busy) and its CPU
//!   share (CPU time ÷ wall time × cores);
//! - `capacity` = records read per second ÷ `busy` (a process busy half the
//!   time could read twice as much);
//! - `up` = ⌈demand ÷ (capacity × target_utilisation)⌉ and
//!   `down` = ⌈demand ÷ (capacity × scale_down_utilisation)⌉, both within
//!   `1..=partitions` (more processes than partitions would idle).
//!
//! The signal starts at the group's member count and does not flap: it rises to
//! `up` once `up` has stayed above it for `raise_after`, falls to `down` once
//! `down` has stayed below it for `lower_after` (`down` ≥ `up`: the band between
//! the two utilisations is the hysteresis), and only a rise may follow a rise
//! sooner than `min_change_interval` (a load still climbing). Without a capacity
//! estimate (the process was busy less than 1% of the window) it holds, unless
//! there is no demand at all (nothing produced, nothing behind): then
//! `up` = `down` = 1.

mod activity;
mod exposition;
mod signal;
#[cfg(test)]
mod tests;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use activity::{available_cores, process_cpu_time, ActivityMeter, ProcessActivity, SourceActivity};
pub(crate) use exposition::families;
pub use signal::{GroupReading, ScalingChange, ScalingReading, ScalingSignal, ScalingStatus};

/// Settings of the scaling signal (`[metrics.scaling]`).
///
/// ```
/// use tidemill_runtime::metrics::ScalingConfig;
/// let config = ScalingConfig::default();
/// assert!(config.validate().is_ok());
/// let bad = ScalingConfig { target_utilisation: 0.4, ..ScalingConfig::default() };
/// assert!(bad.validate().is_err(), "the scale-down utilisation must be below the target");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScalingConfig {
    /// The busy share a process should run at: headroom for bursts.
    pub target_utilisation: f64,
    /// Below this busy share (with one process fewer) the signal may fall; below
    /// `target_utilisation`, the gap between the two is the hysteresis band.
    pub scale_down_utilisation: f64,
    /// A backlog should be drained within this time.
    #[serde(with = "humantime_serde")]
    pub catch_up: Duration,
    /// How long the need for more processes must last before the signal rises.
    #[serde(with = "humantime_serde")]
    pub raise_after: Duration,
    /// How long the room for fewer processes must last before the signal falls.
    #[serde(with = "humantime_serde")]
    pub lower_after: Duration,
    /// The shortest time between two changes of the signal, unless both rise.
    #[serde(with = "humantime_serde")]
    pub min_change_interval: Duration,
    /// The span rates are measured over.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// How often the group is read and the signal computed.
    #[serde(with = "humantime_serde")]
    pub sample_interval: Duration,
}

impl ScalingConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), crate::ConfigError> {
        share("metrics.scaling.target_utilisation", self.target_utilisation)?;
        share("metrics.scaling.scale_down_utilisation", self.scale_down_utilisation)?;
        if self.scale_down_utilisation >= self.target_utilisation {
            return Err(crate::ConfigError::Order {
                lower: "metrics.scaling.scale_down_utilisation",
                higher: "metrics.scaling.target_utilisation",
            });
        }
        crate::config::positive("metrics.scaling.catch_up", self.catch_up)?;
        crate::config::positive("metrics.scaling.window", self.window)?;
        crate::config::positive("metrics.scaling.sample_interval", self.sample_interval)?;
        crate::config::positive("metrics.scaling.min_change_interval", self.min_change_interval)?;
        if self.sample_interval > self.window {
            return Err(crate::ConfigError::Order {
                lower: "metrics.scaling.sample_interval",
                higher: "metrics.scaling.window",
            });
        }
        Ok(())
    }
}

fn share(setting: &'static str, value: f64) -> Result<(), crate::ConfigError> {
    if value.is_finite() && value > 0.0 && value <= 1.0 {
        Ok(())
    } else {
        Err(crate::ConfigError::NotAShare { setting, value: value.to_string() })
    }
}

impl Default for ScalingConfig {
    fn default() -> Self {
        ScalingConfig {
            target_utilisation: 0.7,
            scale_down_utilisation: 0.5,
            catch_up: Duration::from_secs(300),
            raise_after: Duration::from_secs(30),
            lower_after: Duration::from_secs(300),
            min_change_interval: Duration::from_secs(120),
            window: Duration::from_secs(60),
            sample_interval: Duration::from_secs(5),
        }
    }
}
