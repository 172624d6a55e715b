//! Job configuration: edge capacity, batch size, idleness, restart policy.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How the supervisor restarts a failed pipeline.
///
/// The delay before restart `n` (1-based) is `initial_backoff * multiplier^(n-1)`,
/// capped at `max_backoff`. More than `max_failures` failures within `failure_window`
/// end the job with the last cause as its error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RestartPolicy {
    /// Delay before the first restart.
    #[serde(with = "humantime_serde")]
    pub initial_backoff: Duration,
    /// Largest delay between restarts.
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
    /// Growth of the delay per restart.
    pub multiplier: f64,
    /// Failures tolerated within `failure_window`.
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
}

/// Runtime settings of one job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
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
    /// seed's `maxOffsetsPerTrigger`): a partition that reached it waits for the
    /// next barrier. Only with `checkpoint_interval`; `None` reads without a cap.
    pub max_records_per_checkpoint: Option<u64>,
    /// Restart behaviour after failures.
    pub restart: RestartPolicy,
    /// Manifests kept in the checkpoint store (older ones are pruned).
    pub checkpoints_to_keep: usize,
    /// Watermark alignment: a source partition whose newest event time is more
    /// than this ahead of the slowest active partition waits (paused) until the
    /// others catch up, which bounds the state kept for the watermark (see
    /// [`EventTimeBoard`](crate::EventTimeBoard)). `None`: partitions read freely.
    #[serde(with = "humantime_serde")]
    pub max_event_time_drift: Option<Duration>,
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
        }
    }
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
}
