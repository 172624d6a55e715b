//! Job-wide counters, updated once per batch (not per record) by the actors.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::dead_letter::{DeadLetter, ReasonCode};
use crate::metrics::registry::NodeStats;

/// Live counters of one job run.
#[derive(Debug, Default)]
pub(crate) struct JobCounters {
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

    fn sub(counter: &AtomicU64, n: u64) {
        // Never below zero, even if a caller miscounts.
        let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| Some(v.saturating_sub(n)));
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
    pub(crate) fn records_in(&self) -> u64 {
        self.records_in.load(Ordering::Relaxed)
    }

    /// Records written to sinks other than the dead-letter sinks so far.
    pub(crate) fn records_out(&self) -> u64 {
        self.records_out.load(Ordering::Relaxed)
    }

    /// A consistent-enough copy of the counters.
    pub(crate) fn summary(&self, restarts: u32, elapsed: Duration) -> JobSummary {
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
            committed_by_sink: BTreeMap::new(),
            lineage: None,
            peak_resident_bytes: peak_resident_bytes(),
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

/// One shard's cumulative counts. They travel with its checkpoint acknowledgement,
/// so that after a restore the job's totals are exactly those at the barrier plus
/// what happens afterwards: replayed records are not counted twice.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ShardCounts {
    /// Records a source shard emitted.
    pub(crate) records_in: u64,
    /// Records an output sink shard wrote.
    pub(crate) records_out: u64,
    /// Dead letters an operator shard emitted, by reason code.
    pub(crate) dead_letters: BTreeMap<String, u64>,
    /// Dead letters a dead-letter sink shard wrote.
    pub(crate) dead_letters_written: u64,
}

/// The counters one actor updates: its own [`ShardCounts`] plus the job's live
/// totals (and, for sinks, the per-sink total), and its node's metrics (which,
/// unlike the totals, are not restored from checkpoints: they count what this
/// process did, replays included, as monotonic counters should).
pub(crate) struct ShardCounter {
    job: Arc<JobCounters>,
    own: ShardCounts,
    sink: Option<Arc<AtomicU64>>,
    node: Arc<NodeStats>,
}

impl ShardCounter {
    pub(crate) fn new(job: Arc<JobCounters>, sink: Option<&str>, node: Arc<NodeStats>) -> Self {
        let sink = sink.map(|name| job.sink_counter(name));
        ShardCounter { job, own: ShardCounts::default(), sink, node }
    }

    /// The node's metrics.
    pub(crate) fn node(&self) -> &NodeStats {
        &self.node
    }

    /// Starts from counts restored from a checkpoint, adding them to the totals.
    pub(crate) fn restore(&mut self, counts: ShardCounts) {
        self.job.add_in(counts.records_in as usize);
        self.job.add_out(counts.records_out as usize);
        self.job.add_dead_letters_written(counts.dead_letters_written as usize);
        for (reason, n) in &counts.dead_letters {
            if let Some(code) = ReasonCode::ALL.iter().find(|c| c.as_str() == reason) {
                self.job.dead_letters[*code as usize].fetch_add(*n, Ordering::Relaxed);
            }
        }
        if let Some(sink) = &self.sink {
            sink.fetch_add(counts.records_out + counts.dead_letters_written, Ordering::Relaxed);
        }
        self.own = counts;
    }

    pub(crate) fn snapshot(&self) -> ShardCounts {
        self.own.clone()
    }

    /// A source read `n` records (into the node and out of it).
    pub(crate) fn add_in(&mut self, n: usize) {
        self.own.records_in += n as u64;
        self.job.add_in(n);
        self.node.add_in(n);
        self.node.add_out(n);
    }

    /// The source shard waited `d` at the end of its input.
    pub(crate) fn add_idle(&self, d: Duration) {
        self.node.add_idle(d);
    }

    /// A sink wrote `n` records.
    pub(crate) fn add_written(&mut self, n: usize, dead_letters: bool) {
        self.node.add_in(n);
        self.node.add_out(n);
        if dead_letters {
            self.own.dead_letters_written += n as u64;
            self.job.add_dead_letters_written(n);
        } else {
            self.own.records_out += n as u64;
            self.job.add_out(n);
        }
        if let Some(sink) = &self.sink {
            sink.fetch_add(n as u64, Ordering::Relaxed);
        }
    }

    /// `n` records counted as written were refused by the destination after all.
    pub(crate) fn unwrite(&mut self, n: usize, dead_letters: bool) {
        if n == 0 {
            return;
        }
        let n64 = n as u64;
        if dead_letters {
            self.own.dead_letters_written = self.own.dead_letters_written.saturating_sub(n64);
            JobCounters::sub(&self.job.dead_letters_written, n64);
        } else {
            self.own.records_out = self.own.records_out.saturating_sub(n64);
            JobCounters::sub(&self.job.records_out, n64);
        }
        if let Some(sink) = &self.sink {
            JobCounters::sub(sink, n64);
        }
    }

    pub(crate) fn add_dead_letters(&mut self, letters: &[DeadLetter]) {
        for d in letters {
            *self.own.dead_letters.entry(d.reason.as_str().to_string()).or_default() += 1;
        }
        self.job.add_dead_letters(letters);
        self.node.add_dead_letters(letters);
    }
}

/// What a finished job did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
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
    /// Records written per sink node (dead-letter sinks included), committed or
    /// not: work done.
    pub written_by_sink: BTreeMap<String, u64>,
    /// Rows per sink node that are committed (visible in the destination), as of
    /// the newest checkpoint every sink committed, counted over the job's lineage
    /// (a resumed run includes what it resumed).
    pub committed_by_sink: BTreeMap<String, u64>,
    /// The lineage of the job's checkpoints and commits.
    pub lineage: Option<String>,
    /// The process's peak resident memory in bytes, where the OS tells it (Linux).
    pub peak_resident_bytes: Option<u64>,
    /// Dead letters per reason code.
    pub dead_letters_by_reason: BTreeMap<String, u64>,
    /// How many times the pipeline was restarted.
    pub restarts: u32,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl JobSummary {
    /// Adds what `other` did (another job over other partitions, run at the same
    /// time): counts add up, the wall time is the longer one.
    pub fn absorb(&mut self, other: &JobSummary) {
        self.records_in += other.records_in;
        self.records_out += other.records_out;
        self.dead_letters += other.dead_letters;
        self.dead_letters_written += other.dead_letters_written;
        self.late += other.late;
        for (sink, n) in &other.written_by_sink {
            *self.written_by_sink.entry(sink.clone()).or_default() += n;
        }
        for (sink, n) in &other.committed_by_sink {
            *self.committed_by_sink.entry(sink.clone()).or_default() += n;
        }
        self.peak_resident_bytes = self.peak_resident_bytes.max(other.peak_resident_bytes);
        for (reason, n) in &other.dead_letters_by_reason {
            *self.dead_letters_by_reason.entry(reason.clone()).or_default() += n;
        }
        self.restarts += other.restarts;
        self.elapsed = self.elapsed.max(other.elapsed);
    }
}

/// The process's peak resident set size (`VmHWM` in `/proc/self/status`), if known.
pub fn peak_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
