//! Undoing a sink's commits of epochs after the checkpoint a job resumes.
//!
//! A job normally resumes its newest checkpoint N, and no sink has committed past
//! N (a commit of N+1 waits for the manifest of N+1). A job told to resume an
//! older checkpoint E (the newest one is damaged: `FromCheckpoint::Previous`)
//! finds epochs E+1.. already committed, and will now replay their input. Left
//! alone they would count twice; skipped as "already committed" they would lose
//! whatever the replay cuts into epochs differently. So the sink removes them
//! first: the files every commit of this lineage with a version above E added
//! (its own files, when the version holds other sinks' epochs too) are
//! removed in one commit, which also sets the lineage's transaction version back
//! to E. Readers see the table as it was at E, then the replay's output.

use std::collections::HashSet;

use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, Remove, Transaction};
use deltalake::protocol::DeltaOperation;
use deltalake::{DeltaTable, DeltaTableError};
use tidemill_runtime::Epoch;

use super::committer::APP_ID_TAG;
use super::identity::SinkIdentity;
use super::table::committed_txn_version;

/// What [`roll_back_after`] removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RolledBack {
    /// The epochs whose commits were undone.
    pub epochs: Vec<u64>,
    /// The data files removed.
    pub files: usize,
}

/// A rollback that cannot be done safely.
#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    /// Reading or committing the table failed.
    #[error(transparent)]
    Table(#[from] DeltaTableError),
    /// An entry of the table's log is not valid JSON or not a valid action.
    #[error("log version {version} cannot be parsed")]
    LogEntry {
        /// The log version.
        version: u64,
        /// What serde_json said.
        #[source]
        source: serde_json::Error,
    },
    /// A file of an epoch to undo is no longer in the table (compacted, deleted).
    #[error("cannot undo epoch {epoch}: its file {path} is no longer in the table (compacted or removed since)")]
    FileGone {
        /// The epoch.
        epoch: u64,
        /// The data file.
        path: String,
    },
    /// The log no longer holds a commit of an epoch to undo.
    #[error("cannot undo epochs {from}..={to}: the table's log no longer holds all their commits (log retention)")]
    LogGone {
        /// The first epoch to undo.
        from: u64,
        /// The last.
        to: u64,
    },
}

/// Undoes every commit of `identity.app_id` with an epoch after `resumed` (see
/// the module docs). `None` when there is nothing to undo (the normal case).
pub async fn roll_back_after(
    table: &mut DeltaTable,
    identity: &SinkIdentity,
    resumed: Epoch,
) -> Result<Option<RolledBack>, RollbackError> {
    let Some(committed) = committed_txn_version(table, &identity.app_id).await? else { return Ok(None) };
    let resumed_version = i64::try_from(resumed.get()).unwrap_or(i64::MAX);
    if committed <= resumed_version {
        return Ok(None);
    }
    let (epochs, adds) = commits_after(table, &identity.app_id, resumed_version, committed).await?;
    let active: HashSet<String> = table.snapshot()?.log_data().iter().map(|f| f.path().into_owned()).collect();
    let now = chrono::Utc::now().timestamp_millis();
    let mut removes = Vec::with_capacity(adds.len());
    for (epoch, add) in &adds {
        if !active.contains(&add.path) {
            return Err(RollbackError::FileGone { epoch: *epoch, path: add.path.clone() });
        }
        removes.push(Action::Remove(Remove {
            path: add.path.clone(),
            data_change: true,
            deletion_timestamp: Some(now),
            extended_file_metadata: Some(true),
            partition_values: Some(add.partition_values.clone()),
            size: Some(add.size),
            tags: add.tags.clone(),
            deletion_vector: None,
            base_row_id: None,
            default_row_commit_version: None,
        }));
    }
    let note = format!("rollback of epochs {epochs:?} of {} (resumed epoch {resumed})", identity.app_id);
    let properties = CommitProperties::default()
        .with_application_transaction(Transaction::new(&identity.app_id, resumed_version))
        .with_metadata([("tidemill".to_string(), serde_json::Value::String(note))]);
    CommitBuilder::from(properties)
        .with_actions(removes)
        .build(Some(table.snapshot()?), table.log_store(), DeltaOperation::Delete { predicate: None })
        .await?;
    table.update_state().await?;
    Ok(Some(RolledBack { epochs, files: adds.len() }))
}

/// The files of a version that `app_id` wrote. A version may hold the epochs of
/// several sinks of one process (see committer.rs), whose files carry their
/// writer's app id as a tag; versions written before the tag held one sink's.
fn own_files(added: Vec<Add>, app_id: &str) -> Vec<Add> {
    let tag = |a: &Add| a.tags.as_ref().and_then(|t| t.get(APP_ID_TAG).cloned().flatten());
    if added.iter().all(|a| tag(a).is_none()) {
        return added;
    }
    added.into_iter().filter(|a| tag(a).as_deref() == Some(app_id)).collect()
}

/// The epochs above `after` committed under `app_id`, and the files they added,
/// read from the log newest first until the commit of an epoch `<= after`.
async fn commits_after(
    table: &DeltaTable,
    app_id: &str,
    after: i64,
    newest: i64,
) -> Result<(Vec<u64>, Vec<(u64, Add)>), RollbackError> {
    let log = table.log_store();
    let mut epochs = Vec::new();
    let mut adds = Vec::new();
    let mut version = table.version().unwrap_or(0);
    loop {
        let Some(bytes) = log.read_commit_entry(version).await? else { break };
        let mut ours = None;
        let mut added = Vec::new();
        for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let action: serde_json::Value =
                serde_json::from_slice(line).map_err(|source| RollbackError::LogEntry { version, source })?;
            if let Some(txn) = action.get("txn") {
                if txn.get("appId").and_then(|a| a.as_str()) == Some(app_id) {
                    ours = txn.get("version").and_then(serde_json::Value::as_i64);
                }
            } else if let Some(add) = action.get("add") {
                let add: Add = serde_json::from_value(add.clone())
                    .map_err(|source| RollbackError::LogEntry { version, source })?;
                added.push(add);
            }
        }
        match ours {
            Some(epoch) if epoch <= after => break,
            Some(epoch) => {
                let epoch = u64::try_from(epoch).unwrap_or_default();
                epochs.push(epoch);
                adds.extend(own_files(added, app_id).into_iter().map(|a| (epoch, a)));
            }
            None => {}
        }
        if version == 0 {
            break;
        }
        version -= 1;
    }
    // The newest commit found must be the one the table's transaction version names.
    if epochs.first().map(|e| *e as i64) != Some(newest) {
        return Err(RollbackError::LogGone { from: after as u64 + 1, to: newest as u64 });
    }
    epochs.reverse();
    Ok((epochs, adds))
}
