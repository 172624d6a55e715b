//! A process's source activity over time, summed over jobs that come and go.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// One job's source figures so far (see
/// [`JobMetrics::source_activity`](crate::metrics::JobMetrics::source_activity)).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SourceActivity {
    /// Records read by the job's sources.
    pub records: u64,
    /// Time the job's source partitions spent waiting at the log end (summed
    /// over partitions).
    pub idle: Duration,
    /// Source partitions (shards of source nodes) the job runs.
    pub partitions: usize,
}

/// A process's source activity since its meter started: ever-growing sums,
/// whatever jobs started or stopped in between.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProcessActivity {
    /// Records read.
    pub records: u64,
    /// Source-partition time not spent waiting for input (handing batches
    /// downstream, blocked there by backpressure, or throttled).
    pub busy: Duration,
    /// Source-partition time in all (busy or idle).
    pub source_time: Duration,
    /// The process's CPU time (all threads), where the platform tells it.
    pub cpu: Option<Duration>,
    /// The cores the process may use.
    pub cores: u32,
}

/// The CPU time the process has used so far (user and system, all threads);
/// `None` where the platform does not say.
pub fn process_cpu_time() -> Option<Duration> {
    #[cfg(unix)]
    {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
        Some(Duration::new(u64::try_from(t.tv_sec).ok()?, u32::try_from(t.tv_nsec).ok()?))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The cores the process may use (at least 1).
pub fn available_cores() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX))
}

/// Turns snapshots of the jobs' [`SourceActivity`] into the process's
/// [`ProcessActivity`]. A job counts from its second snapshot on (its first is
/// the baseline); a job whose counters went backwards (it restarted) takes a new
/// baseline.
///
/// ```
/// use std::time::{Duration, Instant};
/// use tidemill_runtime::metrics::{ActivityMeter, SourceActivity};
/// let mut meter = ActivityMeter::default();
/// let t0 = Instant::now();
/// let job = |records, idle_ms| SourceActivity { records, idle: Duration::from_millis(idle_ms), partitions: 1 };
/// meter.observe(t0, [("orders.p0".to_string(), job(0, 0))]);
/// let total = meter.observe(t0 + Duration::from_secs(1), [("orders.p0".to_string(), job(500, 250))]);
/// assert_eq!(total.records, 500);
/// assert_eq!(total.busy, Duration::from_millis(750));
/// assert_eq!(total.source_time, Duration::from_secs(1));
/// ```
#[derive(Debug, Default)]
pub struct ActivityMeter {
    last: HashMap<String, SourceActivity>,
    at: Option<Instant>,
    total: ProcessActivity,
}

impl ActivityMeter {
    /// Adds what every job did since the previous call; returns the sums, with
    /// the process's CPU time and the cores it may use, read now.
    pub fn observe(
        &mut self,
        at: Instant,
        jobs: impl IntoIterator<Item = (String, SourceActivity)>,
    ) -> ProcessActivity {
        self.total.cpu = process_cpu_time();
        self.total.cores = available_cores();
        let elapsed = self.at.map_or(Duration::ZERO, |before| at.saturating_duration_since(before));
        self.at = Some(at);
        let mut now = HashMap::new();
        for (job, activity) in jobs {
            if let Some(before) =
                self.last.get(&job).filter(|b| b.records <= activity.records && b.idle <= activity.idle)
            {
                let span = elapsed * activity.partitions as u32;
                let idle = (activity.idle - before.idle).min(span);
                self.total.records += activity.records - before.records;
                self.total.busy += span - idle;
                self.total.source_time += span;
            }
            now.insert(job, activity);
        }
        self.last = now;
        self.total
    }
}
