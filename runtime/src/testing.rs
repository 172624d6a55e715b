//! In-memory sources and sinks for tests of whole jobs, and [`run_collect`] to run
//! one in a call.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::context::NodeContext;
use crate::dead_letter::{PartitionInfo, SourceKind};
use crate::operator::StateSnapshot;
use crate::record::{Batch, Offset, Origin, PartitionId, Record};
use crate::sink::{Sink, SinkError, StagedOutput};
use crate::source::{Source, SourceError, SourcePoll};
use crate::time::{Epoch, EventTime};

pub use crate::discard::DiscardSink;
pub use crate::testing_run::{run_collect, CollectedRun};

/// A bounded source that yields the given values, in batches, then ends.
/// Offsets are the values' positions (0-based); event time is `-inf` until a
/// timestamp assigner sets it.
pub struct VecSource<T> {
    values: Arc<Vec<T>>,
    next: usize,
    origin: Origin,
}

impl<T: Clone + Send + Sync + 'static> VecSource<T> {
    /// A source over `values`, registered in the context's catalog.
    pub fn new(values: Arc<Vec<T>>, ctx: &NodeContext) -> Self {
        let partition = PartitionId(ctx.shard as u32);
        ctx.catalog.register(
            ctx.source_id,
            partition,
            PartitionInfo { kind: SourceKind::OTHER, name: format!("{}[{}]", ctx.node, ctx.shard), partition: None },
        );
        VecSource { values, next: 0, origin: Origin { source: ctx.source_id, partition, offset: Offset(0) } }
    }
}

impl<T: Clone + Send + Sync + 'static> Source for VecSource<T> {
    type Out = T;

    async fn poll(&mut self, max_records: usize) -> Result<SourcePoll<T>, SourceError> {
        if self.next >= self.values.len() {
            return Ok(SourcePoll::End);
        }
        let end = (self.next + max_records).min(self.values.len());
        let batch: Batch<T> = (self.next..end)
            .map(|i| {
                Record::new(self.values[i].clone(), EventTime::MIN, Origin { offset: Offset(i as u64), ..self.origin })
            })
            .collect();
        self.next = end;
        Ok(SourcePoll::Data(batch))
    }

    fn snapshot(&self) -> Result<StateSnapshot, SourceError> {
        StateSnapshot::encode(&self.next).map_err(SourceError::state)
    }

    fn restore(&mut self, snapshot: &StateSnapshot) -> Result<(), SourceError> {
        self.next = snapshot.decode().map_err(SourceError::state)?;
        Ok(())
    }
}

/// What [`CollectSink`]s staged and committed, shared with the test that reads it.
/// It outlives the pipeline (and its restarts), like a real sink's storage.
#[derive(Debug)]
pub struct Collected<T> {
    /// Records committed, in commit order.
    pub committed: Vec<Record<T>>,
    /// Epochs committed, in order.
    pub commits: Vec<Epoch>,
    /// How many records each committed epoch made visible, in commit order.
    pub committed_per_epoch: Vec<(Epoch, usize)>,
    /// Records staged per epoch and not yet committed (durable staging).
    staged: BTreeMap<Epoch, Vec<Record<T>>>,
    /// Woken after every commit.
    pub committed_notify: Arc<tokio::sync::Notify>,
}

impl<T> Default for Collected<T> {
    fn default() -> Self {
        Collected {
            committed: Vec::new(),
            commits: Vec::new(),
            committed_per_epoch: Vec::new(),
            staged: BTreeMap::new(),
            committed_notify: Arc::new(tokio::sync::Notify::new()),
        }
    }
}

/// How a [`CollectSink`] names its destination in errors.
const COLLECTED: &str = "collected records";

/// The [`Collected`] lock is poisoned: a thread panicked while holding it (a
/// test's reader), so what it holds may be half-updated.
#[derive(Debug, thiserror::Error)]
#[error("a thread panicked while holding the collected records")]
pub struct CollectedPoisoned;

/// A sink that keeps what it is given in memory, with transactional visibility:
/// records written before barrier N are staged in [`Collected`] at the barrier and
/// become visible in [`Collected::committed`] when epoch N commits. Commits are
/// idempotent (an epoch commits once), so a restored pipeline may repeat one.
/// Records written after the last barrier are lost with the sink instance, as a
/// real transactional sink's would be.
pub struct CollectSink<T> {
    out: Arc<Mutex<Collected<T>>>,
    pending: Vec<Record<T>>,
}

impl<T> CollectSink<T> {
    /// A sink committing into `out`.
    pub fn new(out: Arc<Mutex<Collected<T>>>) -> Self {
        CollectSink { out, pending: Vec::new() }
    }
}

impl<T: Send + 'static> Sink for CollectSink<T> {
    type In = T;

    async fn write(&mut self, batch: Batch<T>) -> Result<(), SinkError> {
        self.pending.extend(batch);
        Ok(())
    }

    async fn stage(&mut self, epoch: Epoch) -> Result<StagedOutput, SinkError> {
        let records = std::mem::take(&mut self.pending);
        self.out.lock().map_err(|_| SinkError::write(COLLECTED, CollectedPoisoned))?.staged.insert(epoch, records);
        Ok(StagedOutput::default())
    }

    async fn commit(&mut self, epoch: Epoch, _staged: StagedOutput) -> Result<(), SinkError> {
        let mut out = self.out.lock().map_err(|_| SinkError::commit(COLLECTED, CollectedPoisoned))?;
        if !out.commits.contains(&epoch) {
            let records = out.staged.remove(&epoch).unwrap_or_default();
            out.committed_per_epoch.push((epoch, records.len()));
            out.committed.extend(records);
            out.commits.push(epoch);
        }
        out.committed_notify.notify_waiters();
        Ok(())
    }
}

/// This process's resident memory in bytes (Linux `/proc/self/statm`; 0 where it
/// cannot be read), for tests that bound memory.
pub fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()).unwrap_or(0) * 4096
}
