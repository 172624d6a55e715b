//! The periodic progress line (like Spark's query progress) and the task that
//! samples the lag for the lag-growth detector.
//!
//! The line is logged at info level with the target `tidemill::progress`, so a
//! log filter such as `warn,tidemill::progress=info` shows it alone.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::metrics::lag::{LagAlarm, LagGrowthDetector};
use crate::metrics::registry::Registry;
use crate::metrics::MetricsConfig;
use crate::time::EventTime;

/// Rates between two progress lines.
struct Progress {
    at: Instant,
    records_in: u64,
    records_out: u64,
    dead_letters: u64,
    blocked: BTreeMap<(Arc<str>, Arc<str>), Duration>,
}

impl Progress {
    fn take(registry: &Registry) -> Self {
        Progress {
            at: Instant::now(),
            records_in: registry.source_records(),
            records_out: registry.sink_records(),
            dead_letters: registry.dead_letter_total(),
            blocked: registry.edges().into_iter().map(|e| ((e.from, e.to), e.blocked)).collect(),
        }
    }

    /// The edge whose senders waited the largest share of the interval, if any did.
    fn most_blocked(&self, before: &Progress) -> Option<String> {
        let secs = self.at.duration_since(before.at).as_secs_f64().max(1e-3);
        self.blocked
            .iter()
            .map(|(k, v)| {
                (k, v.saturating_sub(before.blocked.get(k).copied().unwrap_or_default()).as_secs_f64() / secs)
            })
            .filter(|(_, share)| *share > 0.0)
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|((from, to), share)| format!("{from}->{to} {:.0}%", share * 100.0))
    }
}

fn rate(now: u64, before: u64, secs: f64) -> u64 {
    (now.saturating_sub(before) as f64 / secs).round() as u64
}

fn log_progress(job: &str, registry: &Registry, before: &Progress, now: &Progress, detector: &LagGrowthDetector) {
    let secs = now.at.duration_since(before.at).as_secs_f64().max(1e-3);
    let watermark = registry.job_watermark();
    let wall = EventTime::from(chrono::Utc::now());
    let checkpoint = registry.checkpoint();
    tracing::info!(
        target: "tidemill::progress",
        job,
        status = registry.status().as_str(),
        records_in = now.records_in,
        input_rps = rate(now.records_in, before.records_in, secs),
        output_rps = rate(now.records_out, before.records_out, secs),
        dead_letters_rps = rate(now.dead_letters, before.dead_letters, secs),
        lag = registry.total_lag().map(|l| l.to_string()).unwrap_or_else(|| "-".into()),
        lag_baseline = detector.baseline().map_or_else(|| "-".to_string(), |b| format!("{b:.0}")),
        lag_growing = detector.growing(),
        watermark = %watermark.map_or_else(|| "-".to_string(), |w| w.to_string()),
        watermark_lag_s = watermark.map(|w| (wall.as_millis() - w.as_millis()) / 1000),
        checkpoint = checkpoint.as_ref().map(|c| c.epoch.get()),
        checkpoint_age_s = checkpoint.as_ref().map(|c| SystemTime::now().duration_since(c.committed_at).unwrap_or_default().as_secs()),
        checkpoint_ms = checkpoint.as_ref().map(|c| c.total.as_millis() as u64),
        checkpoint_bytes = checkpoint.as_ref().map(|c| c.size),
        backpressure = now.most_blocked(before).unwrap_or_else(|| "-".into()),
        "progress"
    );
}

/// Samples the lag every `sample_interval` and logs progress every
/// `progress_interval`, until aborted.
pub(crate) async fn run(job: Arc<str>, registry: Arc<Registry>, config: MetricsConfig) {
    let mut detector = LagGrowthDetector::new(config.lag_growth.clone());
    let every = |d: Duration| {
        let d = d.max(Duration::from_millis(10));
        let mut i = tokio::time::interval_at(tokio::time::Instant::now() + d, d);
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        i
    };
    let mut sample = every(config.lag_growth.sample_interval);
    let mut progress = config.progress_interval.map(every);
    let mut before = Progress::take(&registry);
    loop {
        let progress_tick = async {
            match progress.as_mut() {
                Some(p) => p.tick().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = sample.tick() => sample_lag(&job, &registry, &mut detector, config.lag_growth.factor),
            _ = progress_tick => {
                let now = Progress::take(&registry);
                log_progress(&job, &registry, &before, &now, &detector);
                before = now;
            }
        }
    }
}

fn sample_lag(job: &str, registry: &Registry, detector: &mut LagGrowthDetector, factor: f64) {
    let Some(lag) = registry.total_lag() else { return };
    match detector.sample(lag, Instant::now()) {
        Some(LagAlarm::Raised { lag, baseline }) => tracing::warn!(
            job,
            lag,
            baseline = baseline.round() as u64,
            factor,
            "consumer lag is growing: the job is falling behind its input"
        ),
        Some(LagAlarm::Cleared { lag, baseline }) => {
            tracing::info!(job, lag, baseline = baseline.round() as u64, "consumer lag is back near its baseline")
        }
        None => {}
    }
    if let Some(b) = detector.baseline() {
        registry.lag_baseline.store(b.to_bits(), Ordering::Relaxed);
    }
    registry.lag_growing.store(u8::from(detector.growing()), Ordering::Relaxed);
}
