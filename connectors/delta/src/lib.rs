//! # tidemill-delta
//!
//! Delta Lake connectors: where records leave a job for a table.
//!
//! - [`DeltaAppendSink`]: exactly-once appends of [`DeltaRecord`] rows to a Delta
//!   table (Parquet files written at the barrier, committed with a `txn` action
//!   once the checkpoint completes; a repeated commit is detected and skipped).
//! - [`DeadLetterDeltaSink`]: the dead-letter queue as a Delta table of [`DlqRow`]s.
//! - [`DeltaDistinctSink`]: exactly-once appends of rows whose key the table does
//!   not hold yet, for deduplication beyond a window's horizon.
//!
//! Row types get their table schema from Arrow: implement [`DeltaRecord`] with the
//! [`delta_record!`] macro. Tables written here are read back in
//! tests by an independent reader, `tests/python/read_delta.py`.

mod committer;
mod config;
mod delta_append;
mod distinct;
mod dlq;
mod error;
mod identity;
mod location;
mod record;
mod rollback;
mod rows;
mod s3_store;
mod staged;
mod table;

#[cfg(test)]
mod tests;

/// The Arrow crate the sinks use (deltalake's own, so versions always agree).
pub use deltalake::arrow;

pub use config::DeltaSinkConfig;
pub use delta_append::DeltaAppendSink;
pub use distinct::DeltaDistinctSink;
pub use dlq::{DeadLetterDeltaSink, DlqRow};
pub use error::{DeltaSinkError, LookupError, SchemaDifference, StagedMismatch};
pub use identity::SinkIdentity;
pub use location::{TableLocation, TableLocationError};
pub use record::{DeltaColumn, DeltaRecord, RecordBatchError, UTC_TZ};
pub use rollback::{RollbackError, RolledBack};
pub use rows::RowRefused;
pub use staged::{StagedDelta, STAGED_FORMAT};
