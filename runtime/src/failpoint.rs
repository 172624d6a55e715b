//! Failure injection for crash tests: `TIDEMILL_FAILPOINT=<name>:<epoch>` makes the
//! process abort (as `kill -9` would end it) when it reaches that point of that
//! checkpoint. Points:
//!
//! - `after_manifest`: the manifest is durable, no sink has committed yet;
//! - `after_sink_commit`: every sink committed, sources not yet told (a Kafka source
//!   has not committed its offsets to the group).
//!
//! Unset, it costs one environment lookup per checkpoint.

use crate::time::Epoch;

/// Aborts the process if `TIDEMILL_FAILPOINT` names this point and epoch.
pub(crate) fn hit(point: &str, epoch: Epoch) {
    let Ok(spec) = std::env::var("TIDEMILL_FAILPOINT") else { return };
    let Some((name, at)) = spec.split_once(':') else { return };
    if name == point && at.parse::<u64>().ok() == Some(epoch.get()) {
        eprintln!("tidemill: failpoint {point} at epoch {epoch}: aborting");
        std::process::abort();
    }
}
