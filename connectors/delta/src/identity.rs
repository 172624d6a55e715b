//! Who a Delta sink commits as: the transaction ids in the table's log that make
//! its commits idempotent, tell one run from another, and let a new run see that
//! an earlier one wrote here.
//!
//! A sink shard has a *base* id (`tidemill-<job>-<node>[-<shard>]`, or the one
//! configured) and commits every epoch with two `txn` actions:
//! - `<base>@<lineage>` with the epoch as version: the idempotence key. A commit
//!   is skipped when the table already records a version `>=` the epoch for it,
//!   which is right only within one lineage, where epoch N always holds the same
//!   staged files (the manifest of N is written once). A new run (a new lineage)
//!   therefore never has its commits mistaken for an earlier run's.
//! - `<base>` with the epoch as version: a marker that this sink identity has
//!   written to the table at all. A run that starts without a checkpoint looks
//!   for it to find output of an earlier run ([`ExistingOutput`]). Tables written
//!   before lineages existed carry exactly this id, so they are found too.

use deltalake::DeltaTable;
use tidemill_runtime::{ExistingOutput, NodeContext, SinkError};

use super::error::{destination, DeltaSinkError};
use super::table::committed_txn_version;

/// The transaction ids of one sink shard in one lineage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinkIdentity {
    /// `tidemill-<job>-<node>[-<shard>]` or the configured id.
    pub base: String,
    /// `<base>@<lineage>`: the idempotence key of this run's commits.
    pub app_id: String,
}

impl SinkIdentity {
    /// The identity of a shard whose base id is `base`, in `ctx`'s lineage.
    pub fn new(base: String, ctx: &NodeContext) -> Self {
        let app_id = format!("{base}@{}", ctx.run.lineage);
        SinkIdentity { base, app_id }
    }
}

/// Before a new lineage writes to `table`: refuses (or, when appending is allowed,
/// logs) output of an earlier run of the same sink identity.
pub async fn check_existing_output(
    table: &mut DeltaTable,
    identity: &SinkIdentity,
    policy: ExistingOutput,
    shown: &str,
) -> Result<(), SinkError> {
    let earlier = committed_txn_version(table, &identity.base)
        .await
        .map_err(|e| SinkError::unavailable(destination(shown), DeltaSinkError::ReadLog(e)))?;
    let Some(version) = earlier else { return Ok(()) };
    let evidence = format!("transaction id {} at epoch {version}", identity.base);
    match policy {
        ExistingOutput::Refuse => Err(SinkError::ExistingOutput { destination: destination(shown), evidence }),
        ExistingOutput::Append => {
            tracing::warn!(table = %shown, %evidence, app_id = %identity.app_id,
                "appending to a table an earlier run of this job wrote (existing_output = append)");
            Ok(())
        }
    }
}
