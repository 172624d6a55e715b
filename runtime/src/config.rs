//! Job configuration: edge capacity, batch size, idleness, restart policy, record
//! limits, and what a new run does with output an earlier run left.
//!
//! Every setting is checked by [`JobConfig::validate`] when the job is built, so a
//! zero batch size or a zero checkpoint interval is a clear error before anything
//! starts, never a hang or a panic inside a running job.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How the supervisor restarts a failed pipeline.
///
/// The delay before restart `n` (1-based) is `initial_backoff * multiplier^(n-1)`,
/// capped at `max_backoff`. More than `max_failures` processing failures within
/// `failure_window` end the job with the last cause as its error. Failures of
/// storage (a full disk, an unreachable object store while writing a checkpoint or
/// committing output) do not count: they are retried with the same backoff until the
/// storage works again, because waiting is the only thing that helps (see
/// `docs/guarantees.md`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RestartPolicy {
    /// Delay before the first restart.
    #[serde(with = "humantime_serde")]
    pub initial_backoff: Duration,
    /// Largest delay between restarts.
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
    /// Growth of the delay per restart (at least 1).
    pub multiplier: f64,
    /// Processing failures tolerated within `failure_window`.
    pub max_failures: u32,
    /// The sliding window for `max_failures`.
    #[serde(with = "humantime_serde")]
    pub failure_window: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            multiplier: 2.0,
            max_failures: 5,
            failure_window: Duration::from_secs(300),
        }
    }
}

impl RestartPolicy {
    /// Never restart: the first failure ends the job.
    pub fn never() -> Self {
        RestartPolicy { max_failures: 0, ..Self::default() }
    }

    /// The delay before restart number `n` (1-based).
    pub fn backoff(&self, n: u32) -> Duration {
        let factor = self.multiplier.max(1.0).powi(n.saturating_sub(1).min(64) as i32);
        let d = self.initial_backoff.as_secs_f64() * factor;
        Duration::from_secs_f64(d.min(self.max_backoff.as_secs_f64()))
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if !(self.multiplier.is_finite() && self.multiplier >= 1.0) {
            return Err(ConfigError::BadMultiplier { value: self.multiplier.to_string() });
        }
        positive("restart.max_backoff", self.max_backoff)?;
        positive("restart.failure_window", self.failure_window)?;
        if self.initial_backoff > self.max_backoff {
            return Err(ConfigError::Order { lower: "restart.initial_backoff", higher: "restart.max_backoff" });
        }
        Ok(())
    }
}

/// What a run that starts without a checkpoint does when a sink's destination
/// already holds output of an earlier run of the same job (a Delta table whose log
/// records this sink's transactions, for example).
///
/// The default refuses: the usual cause is a second run over the same input or a
/// lost checkpoint folder, and appending would then count the input twice without
/// anyone noticing. `Append` is for a deliberate new run; its output is committed
/// under a new lineage (see [`LineageId`](crate::checkpoint::LineageId)), so it can
/// never be mistaken for, or skipped as, the earlier run's.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExistingOutput {
    /// Stop with an error naming the destination and this setting.
    #[default]
    Refuse,
    /// Append this run's output to what is there.
    Append,
}

impl ExistingOutput {
    /// `refuse` or `append`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExistingOutput::Refuse => "refuse",
            ExistingOutput::Append => "append",
        }
    }
}

impl std::str::FromStr for ExistingOutput {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s {
            "refuse" => Ok(ExistingOutput::Refuse),
            "append" => Ok(ExistingOutput::Append),
            other => Err(ConfigError::UnknownChoice {
                setting: "existing_output",
                value: other.to_string(),
                choices: "refuse, append",
            }),
        }
    }
}

/// Runtime settings of one job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobConfig {
    /// Messages (batches) one edge may hold before its sender waits.
    pub edge_capacity: usize,
    /// Most records a source puts in one batch.
    pub batch_size: usize,
    /// A source with no data for this long is marked idle and left out of watermarks.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// How often an idle source polls again.
    #[serde(with = "humantime_serde")]
    pub idle_poll_interval: Duration,
    /// Periodic checkpoint barriers; `None` checkpoints only at the end of input.
    #[serde(with = "humantime_serde")]
    pub checkpoint_interval: Option<Duration>,
    /// The most records one source partition reads between two checkpoints (the
    /// the reference job's `maxOffsetsPerTrigger`): a partition that reached it waits for the
    /// next barrier. Needs `checkpoint_interval`; `None` reads without a cap.
    pub max_records_per_checkpoint: Option<u64>,
    /// Restart behaviour after failures.
    pub restart: RestartPolicy,
    /// Manifests kept in the checkpoint store (older ones are pruned); at least 2,
    /// so that a damaged newest manifest leaves one to start from.
    pub checkpoints_to_keep: usize,
    /// Watermark alignment: a source partition whose newest event time is more
    /// than this ahead of the slowest active partition waits (paused) until the
    /// others catch up, which bounds the state kept for the watermark (see
    /// [`EventTimeBoard`](crate::EventTimeBoard)). `None`: partitions read freely.
    #[serde(with = "humantime_serde")]
    pub max_event_time_drift: Option<Duration>,
    /// The largest record a source passes on, in bytes. A longer one (a line of a
    /// file, a Kafka message) goes to the dead letters as `record_too_large` with
    /// its first bytes, and is never held whole in memory.
    pub max_record_bytes: usize,
    /// What a run without a checkpoint does with output an earlier run left.
    pub existing_output: ExistingOutput,
}

impl Default for JobConfig {
    fn default() -> Self {
        JobConfig {
            edge_capacity: 8,
            batch_size: 1024,
            idle_timeout: Duration::from_secs(5),
            idle_poll_interval: Duration::from_millis(10),
            checkpoint_interval: None,
            max_records_per_checkpoint: None,
            restart: RestartPolicy::default(),
            checkpoints_to_keep: 3,
            max_event_time_drift: None,
            max_record_bytes: JobConfig::DEFAULT_MAX_RECORD_BYTES,
            existing_output: ExistingOutput::Refuse,
        }
    }
}

impl JobConfig {
    /// Default of [`JobConfig::max_record_bytes`]: 1 MiB, Kafka's default largest message.
    pub const DEFAULT_MAX_RECORD_BYTES: usize = 1 << 20;

    /// Checks every setting; the job builder calls it, so an invalid configuration
    /// never starts.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tidemill_runtime::{ConfigError, JobConfig};
    ///
    /// assert!(JobConfig::default().validate().is_ok());
    /// let zero = JobConfig { checkpoint_interval: Some(Duration::ZERO), ..JobConfig::default() };
    /// assert_eq!(zero.validate(), Err(ConfigError::ZeroDuration { setting: "checkpoint_interval" }));
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        at_least("edge_capacity", self.edge_capacity as u64, 1)?;
        at_least("batch_size", self.batch_size as u64, 1)?;
        positive("idle_timeout", self.idle_timeout)?;
        positive("idle_poll_interval", self.idle_poll_interval)?;
        if let Some(every) = self.checkpoint_interval {
            positive("checkpoint_interval", every)?;
            // Below a millisecond the timer would fire on every scheduler tick.
            if every < Duration::from_millis(1) {
                return Err(ConfigError::ZeroDuration { setting: "checkpoint_interval" });
            }
        }
        if let Some(cap) = self.max_records_per_checkpoint {
            at_least("max_records_per_checkpoint", cap, 1)?;
            if self.checkpoint_interval.is_none() {
                return Err(ConfigError::Requires {
                    setting: "max_records_per_checkpoint",
                    requires: "checkpoint_interval",
                });
            }
        }
        self.restart.validate()?;
        at_least("checkpoints_to_keep", self.checkpoints_to_keep as u64, 2)?;
        if let Some(drift) = self.max_event_time_drift {
            positive("max_event_time_drift", drift)?;
        }
        at_least("max_record_bytes", self.max_record_bytes as u64, 16)?;
        Ok(())
    }
}

/// A setting that cannot work. The `setting` is the key as written in a job's TOML
/// `[runtime]` table (and the `JobConfig` field).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A count or size below its minimum (a zero batch size, a zero edge capacity).
    #[error("`{setting}` must be at least {min}, got {value}")]
    TooSmall {
        /// The setting.
        setting: &'static str,
        /// The smallest allowed value.
        min: u64,
        /// The value given.
        value: u64,
    },
    /// A duration that must be longer than zero.
    #[error("`{setting}` must be longer than zero")]
    ZeroDuration {
        /// The setting.
        setting: &'static str,
    },
    /// A setting that only works together with another.
    #[error("`{setting}` needs `{requires}` to be set")]
    Requires {
        /// The setting.
        setting: &'static str,
        /// What it needs.
        requires: &'static str,
    },
    /// Two settings in the wrong order.
    #[error("`{lower}` must not be larger than `{higher}`")]
    Order {
        /// The setting that must be the smaller.
        lower: &'static str,
        /// The setting that must be the larger.
        higher: &'static str,
    },
    /// The restart multiplier is below 1 or not a number.
    #[error("`restart.multiplier` must be a number of at least 1, got {value}")]
    BadMultiplier {
        /// The value given.
        value: String,
    },
    /// A growth factor that is not a number above 1.
    #[error("`{setting}` must be a number above 1, got {value}")]
    NotAFactor {
        /// The setting.
        setting: &'static str,
        /// The value given.
        value: String,
    },
    /// A share that is not a number above 0 and at most 1.
    #[error("`{setting}` must be a number above 0 and at most 1, got {value}")]
    NotAShare {
        /// The setting.
        setting: &'static str,
        /// The value given.
        value: String,
    },
    /// A value that is none of the allowed words.
    #[error("`{setting}` must be one of {choices}, got {value:?}")]
    UnknownChoice {
        /// The setting.
        setting: &'static str,
        /// The value given.
        value: String,
        /// The allowed values.
        choices: &'static str,
    },
}

impl ConfigError {
    /// The setting the error is about (the first one, for [`ConfigError::Order`]).
    pub fn setting(&self) -> &'static str {
        match self {
            ConfigError::TooSmall { setting, .. }
            | ConfigError::ZeroDuration { setting }
            | ConfigError::Requires { setting, .. }
            | ConfigError::UnknownChoice { setting, .. }
            | ConfigError::NotAFactor { setting, .. }
            | ConfigError::NotAShare { setting, .. } => setting,
            ConfigError::Order { lower, .. } => lower,
            ConfigError::BadMultiplier { .. } => "restart.multiplier",
        }
    }
}

/// `value >= min`, or [`ConfigError::TooSmall`].
pub fn at_least(setting: &'static str, value: u64, min: u64) -> Result<(), ConfigError> {
    if value < min {
        return Err(ConfigError::TooSmall { setting, min, value });
    }
    Ok(())
}

/// `d > 0`, or [`ConfigError::ZeroDuration`].
pub fn positive(setting: &'static str, d: Duration) -> Result<(), ConfigError> {
    if d.is_zero() {
        return Err(ConfigError::ZeroDuration { setting });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RestartPolicy::default();
        assert_eq!(p.backoff(1), Duration::from_millis(100));
        assert_eq!(p.backoff(2), Duration::from_millis(200));
        assert_eq!(p.backoff(30), Duration::from_secs(10));
    }

    #[test]
    fn every_unusable_setting_is_refused() {
        let ok = JobConfig::default();
        let cases: Vec<(JobConfig, &str)> = vec![
            (JobConfig { batch_size: 0, ..ok.clone() }, "batch_size"),
            (JobConfig { edge_capacity: 0, ..ok.clone() }, "edge_capacity"),
            (JobConfig { idle_timeout: Duration::ZERO, ..ok.clone() }, "idle_timeout"),
            (JobConfig { idle_poll_interval: Duration::ZERO, ..ok.clone() }, "idle_poll_interval"),
            (JobConfig { checkpoint_interval: Some(Duration::ZERO), ..ok.clone() }, "checkpoint_interval"),
            (JobConfig { checkpoint_interval: Some(Duration::from_micros(5)), ..ok.clone() }, "checkpoint_interval"),
            (JobConfig { max_records_per_checkpoint: Some(10), ..ok.clone() }, "max_records_per_checkpoint"),
            (
                JobConfig {
                    max_records_per_checkpoint: Some(0),
                    checkpoint_interval: Some(Duration::from_secs(1)),
                    ..ok.clone()
                },
                "max_records_per_checkpoint",
            ),
            (JobConfig { checkpoints_to_keep: 1, ..ok.clone() }, "checkpoints_to_keep"),
            (JobConfig { max_event_time_drift: Some(Duration::ZERO), ..ok.clone() }, "max_event_time_drift"),
            (JobConfig { max_record_bytes: 0, ..ok.clone() }, "max_record_bytes"),
            (
                JobConfig { restart: RestartPolicy { multiplier: 0.5, ..RestartPolicy::default() }, ..ok.clone() },
                "restart.multiplier",
            ),
            (
                JobConfig { restart: RestartPolicy { multiplier: f64::NAN, ..RestartPolicy::default() }, ..ok.clone() },
                "restart.multiplier",
            ),
            (
                JobConfig {
                    restart: RestartPolicy { failure_window: Duration::ZERO, ..RestartPolicy::default() },
                    ..ok.clone()
                },
                "restart.failure_window",
            ),
            (
                JobConfig {
                    restart: RestartPolicy { initial_backoff: Duration::from_secs(60), ..RestartPolicy::default() },
                    ..ok.clone()
                },
                "restart.initial_backoff",
            ),
        ];
        for (config, setting) in cases {
            let err = config.validate().expect_err(setting);
            assert_eq!(err.setting(), setting, "{err}");
        }
        let capped =
            JobConfig { max_records_per_checkpoint: Some(10), checkpoint_interval: Some(Duration::from_secs(1)), ..ok };
        assert!(capped.validate().is_ok());
    }

    #[test]
    fn existing_output_parses_its_two_words() {
        assert_eq!("append".parse::<ExistingOutput>(), Ok(ExistingOutput::Append));
        assert_eq!("refuse".parse::<ExistingOutput>(), Ok(ExistingOutput::Refuse));
        let err = "overwrite".parse::<ExistingOutput>().unwrap_err();
        assert!(err.to_string().contains("refuse, append"), "{err}");
        let toml: JobConfig = serde_json::from_str(r#"{"existing_output":"append"}"#).unwrap();
        assert_eq!(toml.existing_output, ExistingOutput::Append);
    }
}
