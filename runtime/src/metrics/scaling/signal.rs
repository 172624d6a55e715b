//! [`ScalingSignal`]: the rule of the module documentation, with its hysteresis.

use std::collections::VecDeque;
use std::time::{Instant, SystemTime};

use serde::Serialize;

use super::{ProcessActivity, ScalingConfig};

/// The consumer group's figures, read from the broker (the same in every
/// process of the group).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupReading {
    /// Partitions of the input topic: the most processes that can have work.
    pub partitions: u32,
    /// Members of the consumer group now.
    pub members: u32,
    /// The sum of the partitions' log-end offsets.
    pub log_end: u64,
    /// The group's lag: log-end offsets minus the committed offsets (committed
    /// after each checkpoint, so it trails by up to a checkpoint interval).
    pub lag: u64,
}

/// One sample the signal is computed from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScalingReading {
    /// When it was taken.
    pub at: Instant,
    /// The group's figures.
    pub group: GroupReading,
    /// This process's source activity so far.
    pub process: ProcessActivity,
}

/// The signal and the figures it came from: the gauges, the status page's
/// `scaling` and the change log line.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ScalingStatus {
    /// Processes the job needs (`tidemill_desired_processes`).
    pub desired: u32,
    /// Members of the group now.
    pub members: u32,
    /// Partitions of the input topic.
    pub partitions: u32,
    /// The producers' rate, records/s, over the window.
    pub input_rate: f64,
    /// The group's lag, records.
    pub lag: u64,
    /// Records/s the group must process: the input rate plus the backlog spread
    /// over the catch-up time.
    pub demand: f64,
    /// Records/s one process can read, estimated from this process (absent until
    /// it has read something).
    pub capacity: Option<f64>,
    /// The busy share over the window: the larger of the source partitions'
    /// (time not waiting for input) and the process's CPU share.
    pub busy: Option<f64>,
    /// The process's CPU share over the window (CPU time ÷ wall time × cores).
    pub cpu: Option<f64>,
    /// When `desired` last changed, ms since the Unix epoch.
    pub changed_at_ms: Option<u64>,
}

/// A change of the signal.
#[derive(Clone, Debug, PartialEq)]
pub struct ScalingChange {
    /// The value before.
    pub from: u32,
    /// The new value.
    pub to: u32,
    /// The figures it was computed from.
    pub status: ScalingStatus,
}

/// The scaling rule with its state (see the module documentation).
#[derive(Debug)]
pub struct ScalingSignal {
    config: ScalingConfig,
    samples: VecDeque<ScalingReading>,
    status: Option<ScalingStatus>,
    /// When the signal last changed, and whether it rose.
    last_change: Option<(Instant, bool)>,
    above_since: Option<Instant>,
    below_since: Option<Instant>,
}

impl ScalingSignal {
    /// A signal with `config` (validated by the caller).
    pub fn new(config: ScalingConfig) -> Self {
        ScalingSignal {
            config,
            samples: VecDeque::new(),
            status: None,
            last_change: None,
            above_since: None,
            below_since: None,
        }
    }

    /// The signal now (`None` before the first reading).
    pub fn status(&self) -> Option<&ScalingStatus> {
        self.status.as_ref()
    }

    /// Takes a reading; returns the change it caused, if any.
    pub fn observe(&mut self, reading: ScalingReading) -> Option<ScalingChange> {
        let now = reading.at;
        self.samples.push_back(reading);
        while self.samples.len() > 2 && now.saturating_duration_since(self.samples[1].at) >= self.config.window {
            self.samples.pop_front();
        }
        let oldest = self.samples[0];
        let span = now.saturating_duration_since(oldest.at).as_secs_f64();
        let partitions = reading.group.partitions.max(1);
        let clamp = |n: f64| (n.ceil().max(1.0) as u32).min(partitions);
        let previous = self.status.as_ref().map(|s| s.desired);
        let mut desired = previous.unwrap_or_else(|| clamp(f64::from(reading.group.members)));
        let input_rate = match span > 0.0 {
            true => reading.group.log_end.saturating_sub(oldest.group.log_end) as f64 / span,
            false => 0.0,
        };
        let demand = input_rate + reading.group.lag as f64 / self.config.catch_up.as_secs_f64();
        let busy_time = reading.process.busy.saturating_sub(oldest.process.busy).as_secs_f64();
        let source_time = reading.process.source_time.saturating_sub(oldest.process.source_time).as_secs_f64();
        let records = reading.process.records.saturating_sub(oldest.process.records) as f64;
        // The busy share is the larger of the sources' (waiting on downstream
        // counts as busy) and the process's CPU share: a CPU-bound pipeline that
        // keeps up shows idle sources but busy cores.
        let cpu = match (reading.process.cpu, oldest.process.cpu) {
            (Some(now_cpu), Some(then)) if span > 0.0 => {
                Some(now_cpu.saturating_sub(then).as_secs_f64() / (span * f64::from(reading.process.cores.max(1))))
            }
            _ => None,
        };
        let busy = (source_time > 0.0).then(|| (busy_time / source_time).max(cpu.unwrap_or(0.0)).min(1.0));
        // Too little busy time extrapolates noise: no estimate, the signal holds.
        let capacity = busy.filter(|b| *b >= 0.01 && records > 0.0 && span > 0.0).map(|b| records / span / b);
        desired = desired.min(partitions);
        // Nothing to read and nothing behind: one process is enough, whatever it
        // could read (an idle process has no capacity estimate).
        let targets = match capacity {
            Some(c) => Some((
                clamp(demand / (c * self.config.target_utilisation)),
                clamp(demand / (c * self.config.scale_down_utilisation)),
            )),
            None => (demand == 0.0 && source_time > 0.0).then_some((1, 1)),
        };
        if let Some((up, down)) = targets {
            // A rise may follow a rise (a load still climbing); any other pair of
            // changes is `min_change_interval` apart.
            let settled = |rising: bool| {
                self.last_change.is_none_or(|(t, rose)| {
                    (rising && rose) || now.saturating_duration_since(t) >= self.config.min_change_interval
                })
            };
            if up > desired {
                self.below_since = None;
                let since = *self.above_since.get_or_insert(now);
                if settled(true) && now.saturating_duration_since(since) >= self.config.raise_after {
                    desired = up;
                }
            } else if down < desired {
                self.above_since = None;
                let since = *self.below_since.get_or_insert(now);
                if settled(false) && now.saturating_duration_since(since) >= self.config.lower_after {
                    desired = down;
                }
            } else {
                self.above_since = None;
                self.below_since = None;
            }
        }
        let changed = previous.is_some_and(|p| p != desired);
        if changed {
            self.last_change = Some((now, previous.is_some_and(|p| desired > p)));
            self.above_since = None;
            self.below_since = None;
        }
        let changed_at_ms = match changed {
            true => Some(crate::metrics::status::millis(SystemTime::now())),
            false => self.status.as_ref().and_then(|s| s.changed_at_ms),
        };
        let status = ScalingStatus {
            desired,
            members: reading.group.members,
            partitions: reading.group.partitions,
            input_rate,
            lag: reading.group.lag,
            demand,
            capacity,
            busy,
            cpu,
            changed_at_ms,
        };
        self.status = Some(status.clone());
        changed.then(|| ScalingChange { from: previous.unwrap_or(desired), to: desired, status })
    }
}
