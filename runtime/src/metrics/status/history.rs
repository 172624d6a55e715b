//! [`History`]: what the status page shows about the past, kept in memory in
//! small bounded lists: the last checkpoints with their phases and outcome, the
//! restarts with their cause, the newest dead letters.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::dead_letter::DeadLetter;
use crate::time::Epoch;

/// Checkpoints kept.
pub(crate) const CHECKPOINTS_KEPT: usize = 50;
/// Restarts kept.
pub(crate) const RESTARTS_KEPT: usize = 50;
/// Dead letters kept.
pub(crate) const DEAD_LETTERS_KEPT: usize = 20;
/// Payload bytes a dead-letter row shows (when payloads may be shown at all).
pub(crate) const PAYLOAD_PREFIX: usize = 64;

/// One checkpoint, once it committed or failed.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct CheckpointRecord {
    pub(crate) epoch: u64,
    /// When its barrier was injected (ms since the Unix epoch).
    pub(crate) started_ms: u64,
    /// Barrier injected to every shard acknowledged.
    pub(crate) barrier_ms: Option<u64>,
    /// Writing the manifest.
    pub(crate) manifest_ms: Option<u64>,
    /// Manifest durable to every sink committed.
    pub(crate) commit_ms: Option<u64>,
    /// Bytes of state and staged output in the manifest.
    pub(crate) size_bytes: Option<u64>,
    /// `committed` or `failed`.
    pub(crate) outcome: &'static str,
    /// Why it failed.
    pub(crate) error: Option<String>,
}

/// One pipeline restart.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct RestartRecord {
    pub(crate) at_ms: u64,
    /// The node that failed, if one did.
    pub(crate) node: Option<String>,
    /// Its class (`error.type` of `tidemill_restarts_total`).
    pub(crate) error_type: &'static str,
    /// The error and its sources.
    pub(crate) cause: String,
}

/// One dead letter, as the page lists it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct DeadLetterRecord {
    pub(crate) at_ms: u64,
    pub(crate) reason: String,
    pub(crate) stage: String,
    pub(crate) detail: String,
    /// The source node the record came from (by its source id).
    pub(crate) source: Option<String>,
    pub(crate) partition: u32,
    pub(crate) offset: u64,
    pub(crate) payload_bytes: usize,
    /// The first bytes, lossy UTF-8; `None` unless payloads may be shown.
    pub(crate) payload_prefix: Option<String>,
}

/// A checkpoint between its barrier and its outcome.
#[derive(Default)]
struct Pending {
    barrier: Option<Duration>,
    manifest: Option<Duration>,
    size: Option<u64>,
}

/// The bounded lists, each behind its own lock (written a few times per
/// checkpoint, or once per batch that has dead letters; read by the page).
#[derive(Default)]
pub(crate) struct History {
    pending: Mutex<BTreeMap<Epoch, Pending>>,
    checkpoints: Mutex<VecDeque<CheckpointRecord>>,
    restarts: Mutex<VecDeque<RestartRecord>>,
    dead_letters: Mutex<VecDeque<DeadLetterRecord>>,
    /// Source node names by source id.
    sources: BTreeMap<u16, String>,
    show_payloads: bool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn push<T>(list: &Mutex<VecDeque<T>>, item: T, keep: usize) {
    let mut list = lock(list);
    list.push_back(item);
    while list.len() > keep {
        list.pop_front();
    }
}

pub(crate) fn millis(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl History {
    pub(crate) fn new(sources: BTreeMap<u16, String>, show_payloads: bool) -> Self {
        History { sources, show_payloads, ..History::default() }
    }

    pub(crate) fn acknowledged(&self, epoch: Epoch, barrier: Duration, size: u64) {
        let mut pending = lock(&self.pending);
        let p = pending.entry(epoch).or_default();
        (p.barrier, p.size) = (Some(barrier), Some(size));
    }

    pub(crate) fn saved(&self, epoch: Epoch, took: Duration) {
        lock(&self.pending).entry(epoch).or_default().manifest = Some(took);
    }

    pub(crate) fn committed(&self, epoch: Epoch, total: Duration, commit: Duration) {
        self.finish(epoch, total, Some(commit), None);
    }

    pub(crate) fn failed(&self, epoch: Epoch, since_barrier: Duration, error: String) {
        self.finish(epoch, since_barrier, None, Some(error));
    }

    fn finish(&self, epoch: Epoch, total: Duration, commit: Option<Duration>, error: Option<String>) {
        let p = lock(&self.pending).remove(&epoch).unwrap_or_default();
        let ms = |d: Duration| d.as_millis() as u64;
        let record = CheckpointRecord {
            epoch: epoch.get(),
            started_ms: millis(SystemTime::now().checked_sub(total).unwrap_or(SystemTime::UNIX_EPOCH)),
            barrier_ms: p.barrier.map(ms),
            manifest_ms: p.manifest.map(ms),
            commit_ms: commit.map(ms),
            size_bytes: p.size,
            outcome: if error.is_none() { "committed" } else { "failed" },
            error,
        };
        push(&self.checkpoints, record, CHECKPOINTS_KEPT);
    }

    pub(crate) fn restarted(&self, node: Option<&str>, error_type: &'static str, cause: String) {
        let record =
            RestartRecord { at_ms: millis(SystemTime::now()), node: node.map(str::to_string), error_type, cause };
        push(&self.restarts, record, RESTARTS_KEPT);
    }

    pub(crate) fn dead_letters(&self, letters: &[DeadLetter]) {
        // Only the newest few are kept: skip the rest of a large batch.
        for d in letters.iter().rev().take(DEAD_LETTERS_KEPT).rev() {
            let prefix = &d.payload[..d.payload.len().min(PAYLOAD_PREFIX)];
            let record = DeadLetterRecord {
                at_ms: millis(d.rejected_at.into()),
                reason: d.reason.to_string(),
                stage: d.stage.to_string(),
                detail: d.detail.clone(),
                source: self.sources.get(&d.origin.source.0).cloned(),
                partition: d.origin.partition.0,
                offset: d.origin.offset.0,
                payload_bytes: d.payload.len(),
                payload_prefix: self.show_payloads.then(|| String::from_utf8_lossy(prefix).into_owned()),
            };
            push(&self.dead_letters, record, DEAD_LETTERS_KEPT);
        }
    }

    pub(crate) fn checkpoints(&self) -> Vec<CheckpointRecord> {
        lock(&self.checkpoints).iter().rev().cloned().collect()
    }

    pub(crate) fn restarts(&self) -> Vec<RestartRecord> {
        lock(&self.restarts).iter().rev().cloned().collect()
    }

    pub(crate) fn latest_dead_letters(&self) -> Vec<DeadLetterRecord> {
        lock(&self.dead_letters).iter().rev().cloned().collect()
    }

    pub(crate) fn shows_payloads(&self) -> bool {
        self.show_payloads
    }
}
