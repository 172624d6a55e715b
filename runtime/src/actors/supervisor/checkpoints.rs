//! The checkpoint cycle of the supervisor: barriers in, acknowledgements back, the
//! manifest made durable, the sinks' commits, the end of the job; and the fence
//! manifest a resumed pipeline claims first.

use std::time::Instant;

use ractor::ActorRef;

use super::failures::Failure;
use super::SupervisorState;
use crate::actors::messages::SourceMsg;
use crate::actors::messages::SupervisorMsg;
use crate::checkpoint::{CheckpointError, Completed, Manifest};
use crate::plan::NodeKind;
use crate::time::Epoch;

/// A checkpoint whose manifest is durable, waiting for the sinks' commits.
pub(super) struct Committing {
    triggered: Instant,
    saved: Instant,
    size: u64,
    /// Rows each sink node had written at the barrier (all its shards).
    rows: Vec<(String, u64)>,
}

impl SupervisorState {
    /// Starts a periodic checkpoint: barriers into every source. Nothing happens
    /// while one is in flight or once the final checkpoint was started.
    pub(super) fn start_checkpoint(&mut self) {
        if self.final_epoch.is_some() {
            return;
        }
        if let Some(epoch) = self.coordinator.trigger(false) {
            self.pipeline.sources.iter().for_each(|s| drop(s.cast(SourceMsg::Barrier(epoch))));
        }
    }

    /// Every source is exhausted and no checkpoint is in flight: start the final one.
    pub(super) fn maybe_finish(&mut self) {
        if self.final_epoch.is_some() || self.exhausted.len() < self.source_shards || self.coordinator.in_flight() {
            return;
        }
        if let Some(epoch) = self.coordinator.trigger(true) {
            self.final_epoch = Some(epoch);
            tracing::info!(job = %self.plan.topology.name, %epoch, "all sources exhausted: final checkpoint");
            self.pipeline.sources.iter().for_each(|s| drop(s.cast(SourceMsg::Finish(epoch))));
        }
    }

    pub(super) async fn on_complete(&mut self, myself: &ActorRef<SupervisorMsg>, completed: Completed) {
        let epoch = completed.manifest.epoch;
        let size = completed.manifest.state_bytes();
        self.metrics.checkpoint_acknowledged(epoch, completed.duration, size);
        let saving = Instant::now();
        if let Some(store) = &self.store {
            // The manifest must be durable before any sink makes the epoch visible;
            // without it a crash could not tell what was committed.
            if let Err(e) = store.save(&completed.manifest).await {
                let kind = if e.is_transient() { "store_write" } else { "store_refused" };
                let since = completed.duration + saving.elapsed();
                self.metrics.checkpoint_failed(epoch, since, kind, super::failures::chain(&e));
                self.on_failure(myself, Failure::checkpoint(epoch, e));
                return;
            }
            self.highest = self.highest.max(epoch);
            if let Err(e) = store.prune(self.config.checkpoints_to_keep).await {
                tracing::warn!(job = %self.plan.topology.name, error = %e, "old checkpoints could not be pruned");
            }
        }
        tracing::info!(job = %self.plan.topology.name, %epoch, duration_ms = completed.duration.as_millis() as u64,
            finished = completed.manifest.finished, "checkpoint complete");
        self.metrics.checkpoint_saved(epoch, saving.elapsed());
        let rows = self.sink_rows(&completed.manifest);
        self.restored = Some(completed.manifest);
        let triggered = saving.checked_sub(completed.duration).unwrap_or(saving);
        self.triggered_at.insert(epoch, Committing { triggered, saved: Instant::now(), size, rows });
        crate::failpoint::hit("after_manifest", epoch);
        for commit in &self.pipeline.sink_commits {
            commit(epoch);
        }
        self.maybe_finish();
    }

    /// Rows written per sink node at the barrier of `manifest`: what its commit
    /// makes visible (output rows, or dead letters for dead-letter sinks).
    fn sink_rows(&self, manifest: &Manifest) -> Vec<(String, u64)> {
        self.plan
            .topology
            .nodes
            .iter()
            .filter(|n| n.kind == NodeKind::Sink)
            .map(|n| {
                let rows = manifest
                    .shards
                    .iter()
                    .filter(|s| *s.node == *n.name)
                    .map(|s| s.counts.records_out + s.counts.dead_letters_written)
                    .sum();
                (n.name.to_string(), rows)
            })
            .collect()
    }

    pub(super) fn on_sink_committed(&mut self, myself: &ActorRef<SupervisorMsg>, epoch: Epoch) {
        let n = self.committed.entry(epoch).or_default();
        *n += 1;
        if *n < self.sink_shards {
            return;
        }
        self.committed.remove(&epoch);
        if let Some(c) = self.triggered_at.remove(&epoch) {
            let total = c.triggered.elapsed();
            tracing::info!(job = %self.plan.topology.name, %epoch, total_ms = total.as_millis() as u64,
                "checkpoint committed");
            self.metrics.checkpoint_committed(epoch, total, c.saved.elapsed(), c.size);
            self.committed_rows = c.rows.into_iter().collect();
        }
        self.storage_failures = 0;
        crate::failpoint::hit("after_sink_commit", epoch);
        self.committed_tx.send_replace(Some(epoch));
        for s in &self.pipeline.sources {
            let _ = s.cast(SourceMsg::CheckpointComplete(epoch));
        }
        if self.final_epoch == Some(epoch) || self.suspending {
            let summary = self.summary();
            tracing::info!(job = %self.plan.topology.name, records_in = summary.records_in, records_out = summary.records_out,
                dead_letters = summary.dead_letters, late = summary.late, "job finished");
            self.finish(myself, Ok(summary));
        }
    }

    /// Writes the fence: a copy of the resumed manifest under `epoch`, above every
    /// epoch in the store, with no staged sink output (the sinks committed it while
    /// starting). Claiming the epoch makes an older owner of this job that is still
    /// running (a process that was frozen past its consumer-group session and whose
    /// partition moved here) fail its next checkpoint with
    /// [`CheckpointError::Fenced`] instead of committing next to this one; and it
    /// moves new epochs past a damaged newest manifest that was skipped.
    pub(super) async fn write_fence(&mut self, epoch: Epoch) -> Result<(), CheckpointError> {
        let (Some(store), Some(restored)) = (&self.store, &self.restored) else { return Ok(()) };
        let sinks: Vec<&str> =
            self.plan.topology.nodes.iter().filter(|n| n.kind == NodeKind::Sink).map(|n| &*n.name).collect();
        let mut fence = restored.clone();
        fence.epoch = epoch;
        fence.created_at = chrono::Utc::now();
        for shard in fence.shards.iter_mut().filter(|s| sinks.contains(&s.node.as_str())) {
            shard.state.clear();
        }
        store.save(&fence).await?;
        tracing::info!(job = %self.plan.topology.name, resumed = %restored.epoch, fence = %epoch, "fence checkpoint written");
        self.highest = self.highest.max(epoch);
        self.restored = Some(fence);
        Ok(())
    }
}
