//! What the job supervisor reports: checkpoint phases, failures, restarts and the
//! job's status, one call per event so that the supervisor's hooks stay one line.

use std::time::{Duration, SystemTime};

use opentelemetry::KeyValue;

use crate::metrics::instruments::keys;
use crate::metrics::registry::{CheckpointInfo, JobStatus};
use crate::metrics::JobMetrics;
use crate::time::Epoch;

impl JobMetrics {
    fn phase(&self, phase: &'static str, took: Duration) {
        self.instruments.checkpoint_duration.record(took.as_secs_f64(), &[KeyValue::new(keys::PHASE, phase)]);
    }

    /// Every shard acknowledged a checkpoint `barrier` after its barrier was
    /// injected; its manifest holds `size` bytes of state and staged output.
    pub(crate) fn checkpoint_acknowledged(&self, epoch: Epoch, barrier: Duration, size: u64) {
        self.phase("barrier", barrier);
        self.instruments.checkpoint_size.record(size, &[]);
        self.registry.history.acknowledged(epoch, barrier, size);
    }

    /// The manifest was written to the store in `took`.
    pub(crate) fn checkpoint_saved(&self, epoch: Epoch, took: Duration) {
        self.phase("manifest", took);
        self.registry.history.saved(epoch, took);
    }

    /// Checkpoint `epoch` was abandoned `since_barrier` after its barrier:
    /// `store_write` (the manifest could not be written) or `pipeline_failed`
    /// (the pipeline failed while it was in flight), because of `error`.
    pub(crate) fn checkpoint_failed(
        &self,
        epoch: Epoch,
        since_barrier: Duration,
        error_type: &'static str,
        error: String,
    ) {
        self.instruments.checkpoint_failures.add(1, &[KeyValue::new(keys::ERROR_TYPE, error_type)]);
        self.registry.history.failed(epoch, since_barrier, format!("{error_type}: {error}"));
    }

    /// Every sink committed `epoch`: `commit` after the manifest was durable,
    /// `total` after the barrier was injected.
    pub(crate) fn checkpoint_committed(&self, epoch: Epoch, total: Duration, commit: Duration, size: u64) {
        self.phase("commit", commit);
        self.phase("total", total);
        self.instruments.checkpoints_committed.add(1, &[]);
        self.registry.set_checkpoint(CheckpointInfo { epoch, committed_at: SystemTime::now(), total, size });
        self.registry.history.committed(epoch, total, commit);
    }

    /// The pipeline is restarted after a failure of `node` (if one node failed)
    /// of class `error_type`, because of `cause`.
    pub(crate) fn restarting(&self, node: Option<&str>, error_type: &'static str, cause: String) {
        self.registry.history.restarted(node, error_type, cause);
        let mut attrs = vec![KeyValue::new(keys::ERROR_TYPE, error_type)];
        attrs.extend(node.map(|n| KeyValue::new(keys::NODE, n.to_string())));
        self.instruments.restarts.add(1, &attrs);
        self.registry.set_status(JobStatus::Restarting);
    }

    /// The job's status changed.
    pub(crate) fn set_status(&self, status: JobStatus) {
        self.registry.set_status(status);
    }
}
