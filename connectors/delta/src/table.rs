//! The Delta table behind a Delta sink, local or on S3: open-or-create with a schema check, the
//! committed `txn` version of an application id, and the idempotent append commit.
//!
//! deltalake (without its `datafusion` feature) is used only through `create`,
//! [`RecordBatchWriter`](deltalake::writer::RecordBatchWriter) and
//! [`CommitBuilder`]; scans are left to the independent reader.

use std::borrow::Cow;
use std::ffi::OsString;
use std::path::Path;

use deltalake::arrow::datatypes::SchemaRef;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, StructType, Transaction};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaTable, DeltaTableError};
use object_store::ObjectStoreExt as _;
use tidemill_runtime::{BoxError, SinkError};

use super::error::{destination, DeltaSinkError, SchemaDifference};
use super::identity::SinkIdentity;
use super::location::TableLocation;

/// Name of the probe file written (and removed) at open to prove the folder is writable.
const WRITE_PROBE: &str = ".tidemill-write-probe";
/// How often a commit may lose the race for the next table version. Appends with
/// different transaction ids never conflict, so losing is only contention: the
/// committers of other processes commit at the same checkpoint ticks (one per
/// table per process, see `committer.rs`). delta-rs' default (15) failed the final
/// commit of 24 concurrent `orders` writers now and then when every task
/// committed on its own; each retry costs one read of the new log entries.
const COMMIT_ATTEMPTS: usize = 500;

/// Opens the Delta table at `location`, creating the table (with the schema
/// `expected`) when there is none, and the folder too when it is local. An
/// existing table must have the same columns in the same order with the same
/// types; a nullable table column accepts a non-nullable record field, not the
/// other way round.
///
/// Errors are [`SinkError::Unavailable`] naming the location: an unwritable or
/// non-UTF-8 path, refused credentials, a non-empty folder or prefix that is not a
/// Delta table, or a schema mismatch; storage that is full or cannot be reached
/// is a (transient) [`SinkError::Write`].
pub async fn open_or_create(
    location: &TableLocation,
    expected: &SchemaRef,
    type_name: &'static str,
) -> Result<DeltaTable, SinkError> {
    let shown = location.to_string();
    let unavailable = |cause: DeltaSinkError| SinkError::unavailable(destination(&shown), cause);

    if let Some(path) = location.local_path() {
        prepare_folder(path, &shown)?;
        path.to_str().ok_or_else(|| unavailable(DeltaSinkError::PathNotUtf8))?;
    }
    let url = location.url().map_err(|e| unavailable(DeltaSinkError::Location(e)))?;
    let mut table = deltalake::DeltaTableBuilder::from_url(url.clone())
        .and_then(|b| b.build())
        .map_err(|e| unavailable(DeltaSinkError::Open(e)))?;
    let has_log = table.log_store().is_delta_table_location().await.map_err(|e| match e {
        DeltaTableError::ObjectStore { source } => store_error(&shown, source),
        e => unavailable(DeltaSinkError::Load(e)),
    })?;
    if !has_log && location.local_path().is_none() {
        prepare_prefix(&table, &shown).await?;
    }
    // Loading a location without a log makes delta-kernel log an ERROR ("No files
    // in log segment") on every first start; a new table needs no load.
    if has_log {
        table.load().await.map_err(|e| unavailable(DeltaSinkError::Load(e)))?;
    }
    let table = if table.version().is_some() {
        table
    } else {
        let columns: StructType = expected
            .as_ref()
            .try_into_kernel()
            .map_err(|source| unavailable(DeltaSinkError::NoDeltaType { type_name, source }))?;
        let created = table
            .create()
            .with_columns(columns.fields().cloned())
            .with_comment(format!("created by Tidemill for rows of type {type_name}"))
            .with_save_mode(SaveMode::ErrorIfExists)
            // Only version 0 creates the table. A creator that loses the race for
            // it must not retry at version 1: that would commit a second CREATE
            // (a new table id and metadata) over the winner's table.
            .with_commit_properties(CommitProperties::default().with_max_retries(0))
            .await;
        match created {
            Ok(t) => t,
            // Another shard of the same sink created it first: use theirs.
            Err(e) => {
                let t = DeltaTable::try_from_url(url).await.map_err(|e| unavailable(DeltaSinkError::Load(e)))?;
                if t.version().is_none() {
                    return Err(unavailable(DeltaSinkError::Create(e)));
                }
                t
            }
        }
    };
    check_schema(&table, expected, type_name).map_err(unavailable)?;
    Ok(table)
}

/// Creates a local table folder and proves it writable and free of foreign files.
fn prepare_folder(path: &Path, shown: &str) -> Result<(), SinkError> {
    let unavailable = |cause: DeltaSinkError| SinkError::unavailable(destination(shown), cause);
    std::fs::create_dir_all(path).map_err(|e| unavailable(DeltaSinkError::CreateFolder(e)))?;
    let probe = path.join(WRITE_PROBE);
    std::fs::write(&probe, b"tidemill").map_err(|e| match e.kind() {
        // A full disk or quota is storage trouble, not a wrong destination: a
        // transient error, so that a pipeline restarted while the disk is full
        // waits for space instead of counting it against the restart policy.
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
            SinkError::write(destination(shown), DeltaSinkError::WriteFolder(e))
        }
        _ => unavailable(DeltaSinkError::WriteFolder(e)),
    })?;
    let _ = std::fs::remove_file(&probe);
    let entries = std::fs::read_dir(path).map_err(|e| unavailable(DeltaSinkError::ListFolder(e)))?;
    let names: Vec<OsString> = entries.flatten().map(|e| e.file_name()).collect();
    match foreign_entry(names.iter().map(|n| n.to_string_lossy())) {
        Some(entry) => Err(unavailable(DeltaSinkError::NotATable { entry: entry.into() })),
        None => Ok(()),
    }
}

/// Proves an object-store prefix without a table writable (credentials that may
/// only read fail here, at open, not at the first commit) and free of foreign objects.
async fn prepare_prefix(table: &DeltaTable, shown: &str) -> Result<(), SinkError> {
    let store = table.object_store();
    let probe = deltalake::Path::from(WRITE_PROBE);
    store.put(&probe, "tidemill".into()).await.map_err(|e| store_error(shown, e))?;
    let _ = store.delete(&probe).await;
    let listing = store.list_with_delimiter(None).await.map_err(|e| store_error(shown, e))?;
    let names = listing.common_prefixes.iter().chain(listing.objects.iter().map(|o| &o.location));
    match foreign_entry(names.filter_map(|p| p.filename()).map(Cow::Borrowed)) {
        Some(entry) => {
            Err(SinkError::unavailable(destination(shown), DeltaSinkError::NotATable { entry: entry.into() }))
        }
        None => Ok(()),
    }
}

/// An entry of a location without a table that shows it holds someone else's
/// files. Writers of the same table open it concurrently (sink shards, partition
/// tasks, other processes): their write probes are not foreign, and once a
/// `_delta_log` is listed the table exists (it is created before any data file is
/// written), whatever else the listing shows.
fn foreign_entry<'a>(names: impl Iterator<Item = Cow<'a, str>>) -> Option<String> {
    let mut foreign = None;
    for name in names {
        match name.as_ref() {
            "_delta_log" => return None,
            WRITE_PROBE => {}
            _ => foreign = foreign.or(Some(name.into_owned())),
        }
    }
    foreign
}

/// An object-store failure at open: refused credentials or a missing bucket make
/// the location unusable as configured; anything else (a store that is down or
/// slow) is transient.
fn store_error(shown: &str, e: object_store::Error) -> SinkError {
    match e {
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. }
        | object_store::Error::NotFound { .. } => SinkError::unavailable(destination(shown), DeltaSinkError::Store(e)),
        e => SinkError::write(destination(shown), DeltaSinkError::Store(e)),
    }
}

/// Compares the table's schema with the record type's; `Err` lists every difference.
fn check_schema(table: &DeltaTable, expected: &SchemaRef, type_name: &'static str) -> Result<(), DeltaSinkError> {
    let actual = table.snapshot().map_err(DeltaSinkError::ReadLog)?.schema();
    let wanted: StructType =
        expected.as_ref().try_into_kernel().map_err(|source| DeltaSinkError::NoDeltaType { type_name, source })?;
    let mut differences = Vec::new();
    for field in wanted.fields() {
        let column = field.name().clone();
        match actual.field(field.name()) {
            None => differences.push(SchemaDifference::Missing { column, data_type: field.data_type().clone() }),
            Some(have) if have.data_type() != field.data_type() => differences.push(SchemaDifference::Type {
                column,
                table: have.data_type().clone(),
                row: field.data_type().clone(),
            }),
            Some(have) if !have.is_nullable() && field.is_nullable() => {
                differences.push(SchemaDifference::NotNull { column })
            }
            Some(_) => {}
        }
    }
    for field in actual.fields() {
        if wanted.field(field.name()).is_none() {
            differences
                .push(SchemaDifference::Extra { column: field.name().clone(), data_type: field.data_type().clone() });
        }
    }
    let names = |s: &StructType| s.fields().map(|f| f.name().clone()).collect::<Vec<_>>();
    if differences.is_empty() && names(&actual) != names(&wanted) {
        differences.push(SchemaDifference::Order { table: names(&actual), row: names(&wanted) });
    }
    if differences.is_empty() {
        Ok(())
    } else {
        Err(DeltaSinkError::SchemaMismatch { type_name, differences })
    }
}

/// The newest `txn` version recorded for `app_id`, after reading the log's tail.
pub async fn committed_txn_version(table: &mut DeltaTable, app_id: &str) -> Result<Option<i64>, DeltaTableError> {
    table.update_state().await?;
    table.snapshot()?.transaction_version(table.log_store().as_ref(), app_id).await
}

/// What committing one sink's epoch did.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CommitOutcome {
    /// A new table version holding the files and the `txn` actions.
    Committed {
        /// The new table version.
        version: u64,
        /// How often the commit lost the race for a version and tried the next.
        retries: u64,
        /// Sink epochs the version holds (this one and others of the process
        /// committed with it by the table's committer, see `committer.rs`).
        appends: usize,
    },
    /// The table already has a `txn` version `>=` the epoch for this app id.
    AlreadyCommitted {
        /// The `txn` version found in the table.
        txn_version: i64,
    },
}

/// Checks that every staged file of `adds` exists: committing an add whose file
/// is gone would corrupt the table.
pub async fn check_staged_files(table: &DeltaTable, adds: &[Add]) -> Result<(), DeltaSinkError> {
    let store = table.object_store();
    for add in adds {
        let missing = |e: BoxError| DeltaSinkError::StagedFileMissing { path: add.path.clone(), source: e };
        let location = deltalake::Path::parse(&add.path).map_err(|e| missing(e.into()))?;
        store.head(&location).await.map_err(|e| missing(e.into()))?;
    }
    Ok(())
}

/// The two `txn` actions of one sink epoch: `txn(identity.app_id, version)` and
/// the identity's marker `txn(identity.base, version)` (see [`SinkIdentity`]).
pub fn epoch_transactions(identity: &SinkIdentity, txn_version: i64) -> [Transaction; 2] {
    [Transaction::new(&identity.app_id, txn_version), Transaction::new(&identity.base, txn_version)]
}

/// Commits `adds` as one blind append carrying `txns`, and returns the new
/// version and how often the commit lost the race for a version. The caller has
/// checked that no `txn` is committed already (delta-rs does not reject a
/// repeated app id/version by itself) and that the files exist.
pub async fn commit_blind_append(
    table: &mut DeltaTable,
    adds: Vec<Add>,
    txns: Vec<Transaction>,
) -> Result<(u64, u64), DeltaSinkError> {
    let properties = CommitProperties::default().with_application_transactions(txns).with_max_retries(COMMIT_ATTEMPTS);
    let operation = DeltaOperation::Write { mode: SaveMode::Append, partition_by: None, predicate: None };
    let actions = adds.into_iter().map(Action::Add).collect();
    let finalized = CommitBuilder::from(properties)
        .with_actions(actions)
        .build(Some(table.snapshot().map_err(DeltaSinkError::ReadLog)?), table.log_store(), operation)
        .await
        .map_err(DeltaSinkError::CommitLog)?;
    let (version, retries) = (finalized.version(), finalized.metrics.num_retries);
    table.update_state().await.map_err(DeltaSinkError::ReadLog)?;
    Ok((version, retries))
}
