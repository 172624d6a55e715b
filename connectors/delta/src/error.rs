//! Why a Delta sink failed: the cause inside the [`SinkError`](tidemill_runtime::SinkError)
//! its methods return, which names the table (see [`destination`]).

use std::ffi::OsString;

use deltalake::arrow::error::ArrowError;
use deltalake::kernel::DataType;
use deltalake::DeltaTableError;
use tidemill_runtime::{BoxError, Epoch, Origin};

use super::rollback::RollbackError;
use super::rows::RowRefused;
use super::staged::STAGED_FORMAT;

/// How a Delta sink names its table in a [`SinkError`](tidemill_runtime::SinkError).
pub(crate) fn destination(shown: &str) -> String {
    format!("Delta table {shown}")
}

/// What went wrong with a Delta table.
#[derive(Debug, thiserror::Error)]
pub enum DeltaSinkError {
    /// The table's folder cannot be created.
    #[error("cannot create the table folder")]
    CreateFolder(#[source] std::io::Error),
    /// The folder cannot be written (a permission, or a full disk or quota).
    #[error("cannot write the folder")]
    WriteFolder(#[source] std::io::Error),
    /// The folder cannot be listed.
    #[error("cannot list the folder")]
    ListFolder(#[source] std::io::Error),
    /// The object store refused or failed a request (a probe write, a listing).
    #[error("the object store failed")]
    Store(#[source] object_store::Error),
    /// The folder holds other files and no Delta log: it is not a table, and
    /// making it one would mix the sink's files with someone else's.
    #[error(
        "the folder is not empty ({} and maybe more) but has no _delta_log: refusing to turn it into a table",
        .entry.to_string_lossy()
    )]
    NotATable {
        /// One of the files found.
        entry: OsString,
    },
    /// delta-rs takes table paths as UTF-8 URLs.
    #[error("the path is not valid UTF-8")]
    PathNotUtf8,
    /// The path cannot be made into a table URL.
    #[error("the path is not a table location")]
    Location(#[source] DeltaTableError),
    /// The table's log cannot be loaded.
    #[error("cannot load")]
    Load(#[source] DeltaTableError),
    /// The table cannot be opened.
    #[error("cannot open")]
    Open(#[source] DeltaTableError),
    /// The table does not exist and cannot be created.
    #[error("cannot create the table")]
    Create(#[source] DeltaTableError),
    /// The row type's Arrow schema has a type Delta lacks.
    #[error("{type_name} has no Delta equivalent")]
    NoDeltaType {
        /// The row type.
        type_name: &'static str,
        /// What delta-rs said.
        #[source]
        source: ArrowError,
    },
    /// The table's schema is not the row type's.
    #[error("schema mismatch with the row type {type_name}: {}", differences.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    SchemaMismatch {
        /// The row type.
        type_name: &'static str,
        /// Every difference found.
        differences: Vec<SchemaDifference>,
    },
    /// The table's log cannot be read (its schema, version or transactions).
    #[error("cannot read the table's log")]
    ReadLog(#[source] DeltaTableError),
    /// The sink was used before [`open`](tidemill_runtime::Sink::open).
    #[error("cannot {action} before open()")]
    NotOpen {
        /// What was asked of it.
        action: &'static str,
    },
    /// Parquet files cannot be written.
    #[error("cannot write Parquet files")]
    WriteFiles(#[source] DeltaTableError),
    /// A row was refused by the dead-letter table's sink, which has nowhere to
    /// send it.
    #[error("a row from {origin} was refused")]
    RowRefused {
        /// Where the row came from.
        origin: Origin,
        /// Why.
        #[source]
        reason: RowRefused,
    },
    /// The staged files cannot be described in the checkpoint.
    #[error("cannot serialise staged Delta files")]
    EncodeStaged(#[source] serde_json::Error),
    /// The checkpoint's staged output is not a Delta sink's.
    #[error("staged output is not a Tidemill Delta staging document")]
    DecodeStaged(#[source] serde_json::Error),
    /// The staged output is of another (newer) format.
    #[error("staged output has format {format:?}, this sink understands {STAGED_FORMAT:?}")]
    StagedFormat {
        /// The format found.
        format: String,
    },
    /// The staged output is not this sink's for this epoch.
    #[error("epoch {epoch}: {mismatch}")]
    NotOurs {
        /// The epoch being committed.
        epoch: Epoch,
        /// What differs.
        mismatch: StagedMismatch,
    },
    /// Delta transaction versions are `i64`.
    #[error("epoch {0} does not fit a txn version")]
    EpochTooLarge(Epoch),
    /// A staged data file cannot be committed (committing it would corrupt the
    /// table if it is gone).
    #[error("staged data file {path} cannot be committed")]
    StagedFileMissing {
        /// The file, relative to the table.
        path: String,
        /// What the object store said.
        #[source]
        source: BoxError,
    },
    /// The commit of an epoch failed.
    #[error("epoch {epoch}")]
    Commit {
        /// The epoch.
        epoch: Epoch,
        /// Why.
        #[source]
        source: Box<DeltaSinkError>,
    },
    /// Committing to the table's log failed.
    #[error("cannot commit")]
    CommitLog(#[source] DeltaTableError),
    /// The version this process's committer of the table was writing, which held
    /// this epoch with others, failed (see `committer.rs`).
    #[error("the table's shared commit failed")]
    SharedCommit(#[source] std::sync::Arc<DeltaSinkError>),
    /// The process's committer of the table stopped before answering (its
    /// runtime shut down).
    #[error("the table's committer stopped before the commit finished")]
    CommitterStopped,
    /// Commits after the resumed checkpoint cannot be undone.
    #[error("cannot undo the commits after the resumed checkpoint")]
    Rollback(#[source] RollbackError),
    /// A distinct sink's key column is not a column of the row type.
    #[error("distinct key column `{column}` is not a column of {type_name}")]
    KeyColumnMissing {
        /// The configured key column.
        column: String,
        /// The row type.
        type_name: &'static str,
    },
    /// A distinct sink's unverified rows cannot be checked against the table.
    #[error("checking unverified rows")]
    Lookup(#[source] LookupError),
}

/// One way a table's schema differs from the row type's.
#[derive(Debug, thiserror::Error)]
pub enum SchemaDifference {
    /// The row type has a column the table lacks.
    #[error("column `{column}` ({data_type}) is missing from the table")]
    Missing {
        /// The column.
        column: String,
        /// Its type in the row type.
        data_type: DataType,
    },
    /// A column has another type.
    #[error("column `{column}` is {table} in the table but {row} in the row type")]
    Type {
        /// The column.
        column: String,
        /// Its type in the table.
        table: DataType,
        /// Its type in the row type.
        row: DataType,
    },
    /// The table's column cannot hold the row type's nulls.
    #[error("column `{column}` is NOT NULL in the table but nullable in the row type")]
    NotNull {
        /// The column.
        column: String,
    },
    /// The table has a column the row type lacks.
    #[error("the table has column `{column}` ({data_type}) that the row type lacks")]
    Extra {
        /// The column.
        column: String,
        /// Its type in the table.
        data_type: DataType,
    },
    /// The same columns, in another order.
    #[error("columns are in another order: table {table:?}, row type {row:?}")]
    Order {
        /// The table's column names.
        table: Vec<String>,
        /// The row type's.
        row: Vec<String>,
    },
}

/// How staged output names another epoch, table or sink than the one committing.
#[derive(Debug, thiserror::Error)]
pub enum StagedMismatch {
    /// Staged for another epoch.
    #[error("the staged output belongs to epoch {0}")]
    Epoch(u64),
    /// Staged by a sink of another table.
    #[error("the staged output belongs to the table {0}")]
    Table(String),
    /// Staged under another transaction id (another sink or lineage).
    #[error("the staged output belongs to transaction id {0}")]
    TransactionId(String),
}

/// Why a distinct sink's lookup of unverified rows failed.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// The table's log cannot be read.
    #[error("cannot read the table's log")]
    ReadLog(#[source] DeltaTableError),
    /// The key columns cannot be compared (their Arrow types).
    #[error("the key columns cannot be compared")]
    Keys(#[source] ArrowError),
    /// A data file lacks a key column.
    #[error("a file has no column `{0}`")]
    MissingColumn(String),
    /// A data file cannot be read.
    #[error("{path}")]
    ReadFile {
        /// The file, relative to the table.
        path: String,
        /// What the store, Parquet or Arrow said.
        #[source]
        source: BoxError,
    },
    /// The rows to keep cannot be filtered out of a candidate file.
    #[error("cannot filter the candidate rows")]
    Filter(#[source] ArrowError),
}
