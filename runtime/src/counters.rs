//! Job-wide counters, updated once per batch (not per record) by the actors.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::dead_letter::{DeadLetter, ReasonCode};

/// Live counters of one job run.
#[derive(Debug, Default)]
pub struct JobCounters {
    records_in: AtomicU64,
    records_out: AtomicU64,
    dead_letters: [AtomicU64; ReasonCode::ALL.len()],
    dead_letters_written: AtomicU64,
    by_sink: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
}

impl JobCounters {
    pub(crate) fn add_in(&self, n: usize) {
        self.records_in.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn add_out(&self, n: usize) {
        self.records_out.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn add_dead_letters(&self, letters: &[DeadLetter]) {
        for d in letters {
            self.dead_letters[d.reason as usize].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn add_dead_letters_written(&self, n: usize) {
        self.dead_letters_written.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// The counter of records written by the sink node `name` (all its shards).
    pub(crate) fn sink_counter(&self, name: &str) -> Arc<AtomicU64> {
        let mut sinks = self.by_sink.lock().unwrap_or_else(|p| p.into_inner());
        sinks.entry(name.to_string()).or_default().clone()
    }

    /// Sets every counter back to zero (the pipeline restarted from the beginning).
    pub(crate) fn reset(&self) {
        self.records_in.store(0, Ordering::Relaxed);
        self.records_out.store(0, Ordering::Relaxed);
        self.dead_letters_written.store(0, Ordering::Relaxed);
        self.dead_letters.iter().for_each(|c| c.store(0, Ordering::Relaxed));
        let sinks = self.by_sink.lock().unwrap_or_else(|p| p.into_inner());
        sinks.values().for_each(|c| c.store(0, Ordering::Relaxed));
    }

    /// Records read by sources so far.
    pub fn records_in(&self) -> u64 {
        self.records_in.load(Ordering::Relaxed)
    }

    /// Records written to sinks other than the dead-letter sinks so far.
    pub fn records_out(&self) -> u64 {
        self.records_out.load(Ordering::Relaxed)
    }

    /// A consistent-enough copy of the counters.
    pub fn summary(&self, restarts: u32, elapsed: Duration) -> JobSummary {
        let by_reason: BTreeMap<String, u64> = ReasonCode::ALL
            .iter()
            .map(|r| (r.as_str().to_string(), self.dead_letters[*r as usize].load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect();
        let written_by_sink = {
            let sinks = self.by_sink.lock().unwrap_or_else(|p| p.into_inner());
            sinks.iter().map(|(k, v)| (k.clone(), v.load(Ordering::Relaxed))).collect()
        };
        JobSummary {
            written_by_sink,
            records_in: self.records_in(),
            records_out: self.records_out(),
            dead_letters: by_reason.values().sum(),
            dead_letters_written: self.dead_letters_written.load(Ordering::Relaxed),
            late: self.dead_letters[ReasonCode::LateEvent as usize].load(Ordering::Relaxed),
            dead_letters_by_reason: by_reason,
            restarts,
            elapsed,
        }
    }
}

/// What a finished job did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct JobSummary {
    /// Records read by sources.
    pub records_in: u64,
    /// Records written by sinks other than dead-letter sinks.
    pub records_out: u64,
    /// Records sent to the dead-letter queue (late ones included).
    pub dead_letters: u64,
    /// Dead letters written by dead-letter sinks.
    pub dead_letters_written: u64,
    /// Records rejected as late.
    pub late: u64,
    /// Records written per sink node (dead-letter sinks included).
    pub written_by_sink: BTreeMap<String, u64>,
    /// Dead letters per reason code.
    pub dead_letters_by_reason: BTreeMap<String, u64>,
    /// How many times the pipeline was restarted.
    pub restarts: u32,
    /// Wall time of the run.
    pub elapsed: Duration,
}
