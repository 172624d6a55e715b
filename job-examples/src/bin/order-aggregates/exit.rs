//! How a failure of `order-aggregates` becomes its message and exit status.

use tidemill_job_examples::cli::ExitError;
use tidemill_job_examples::order_aggregates::OrderJobError;
use tidemill_runtime::checkpoint::CheckpointError;
use tidemill_runtime::{BuildError, ErrorChain, JobError, SinkError, StartupError};

/// `invalid setting <key>: <problem> (<how to set it>)`.
pub(crate) fn invalid_setting(setting: &str, problem: &str) -> String {
    match FLAGS.iter().find(|(key, _)| *key == setting) {
        Some((_, how)) => format!("invalid setting {setting}: {problem} (set with {how})"),
        None => format!("invalid setting {setting}: {problem}"),
    }
}

/// How each setting that has one is set on the command line and in the environment.
const FLAGS: [(&str, &str); 11] = [
    ("runtime.batch_size", "--batch-size or TIDEMILL_BATCH_SIZE"),
    ("runtime.edge_capacity", "--edge-capacity or TIDEMILL_EDGE_CAPACITY"),
    ("runtime.checkpoint_interval", "--checkpoint-interval or TIDEMILL_CHECKPOINT_INTERVAL"),
    ("runtime.max_records_per_checkpoint", "--max-records-per-checkpoint or TIDEMILL_MAX_RECORDS_PER_CHECKPOINT"),
    ("runtime.max_event_time_drift", "--max-event-time-drift or TIDEMILL_MAX_EVENT_TIME_DRIFT"),
    ("runtime.max_record_bytes", "--max-record-bytes or TIDEMILL_MAX_RECORD_BYTES"),
    ("shards", "--shards or TIDEMILL_SHARDS"),
    ("window_size / window_slide", "--window-size/--window-slide or TIDEMILL_WINDOW_SIZE/TIDEMILL_WINDOW_SLIDE"),
    ("generator", "--users, --jitter, --duplicate-share, --malformed-share, --rate"),
    ("target_file_rows", "target_file_rows in the --config file"),
    ("dedup_retention", "dedup_retention in the --config file"),
];

/// A job that could not be built: usage errors are about settings, the rest
/// (a missing input, an unreachable topic) about the input or output.
pub(crate) fn build_error(e: OrderJobError) -> ExitError {
    let message = ErrorChain(&e).to_string();
    match e {
        OrderJobError::Build(BuildError::Config(c)) => {
            ExitError::Usage(invalid_setting(&format!("runtime.{}", c.setting()), &c.to_string()))
        }
        OrderJobError::Window(_) => ExitError::Usage(message),
        _ => ExitError::Failed(message),
    }
}

/// A job that could not start or failed. Output of an earlier run and an unusable
/// checkpoint are usage errors: nothing was written, the command must change.
pub(crate) fn job_error(e: JobError) -> ExitError {
    let message = ErrorChain(&e).to_string();
    match &e {
        JobError::Startup { source: StartupError::Sink(SinkError::ExistingOutput { .. }), .. } => ExitError::Usage(
            format!("{message}\n(on the command line: --existing-output append, or another --output)"),
        ),
        JobError::Checkpoint(CheckpointError::Corrupt { .. }) => ExitError::Usage(format!(
            "{message}\n(to resume the checkpoint before it: --from-checkpoint previous; what was committed after it is undone first)"
        )),
        JobError::Checkpoint(CheckpointError::Missing { .. } | CheckpointError::Mismatch { .. }) => {
            ExitError::Usage(message)
        }
        _ => ExitError::Failed(message),
    }
}
