//! [`DeltaDistinctSink`]: appends rows to a Delta table keeping it distinct by a
//! key, as the reference job's `MERGE ... WHEN NOT MATCHED THEN INSERT` does,
//! without holding every key in memory.
//!
//! It takes the output of [`DedupThroughTable`](tidemill_operators::dedup::DedupThroughTable):
//! [`Deduped::Unique`] rows were checked in memory and are appended like any
//! [`DeltaAppendSink`]'s; [`Deduped::Unverified`] rows (too old for the in-memory
//! horizon) are staged in files of their own and checked against the table when
//! their epoch commits. The check reads only the key columns of the files whose
//! statistics say they may hold such a key (see `lookup.rs`), and the epoch's own
//! staged files; the rows whose key is found are left out, the others committed
//! in the same transaction as the epoch's other rows.
//!
//! Why at commit time: by then every earlier epoch of this sink is in the table
//! and this epoch's other rows are staged, so the check sees every row that could
//! hold the key (other shards hold other keys). It runs again identically if the
//! commit is repeated after a crash, and not at all once the epoch is committed.
//!
//! Why not deltalake's MERGE: it needs the `datafusion` feature, which roughly
//! doubles the build of the dependency tree (see `docs/guarantees.md`), and a MERGE
//! scans the table's key columns for every commit; the check here runs only for
//! epochs with unverified rows and prunes files by their statistics.

mod lookup;

use deltalake::kernel::Add;
use serde::Serialize;
use tidemill_runtime::{Batch, DeadLetter, Epoch, NodeContext, Sink, SinkError, StagedOutput};

use super::config::DeltaSinkConfig;
use super::delta_append::DeltaAppendSink;
use super::error::DeltaSinkError;
use super::record::DeltaRecord;
use super::rows::RowBuffer;
use super::staged::rows_of;
use tidemill_operators::dedup::Deduped;

/// Appends rows to a Delta table, keeping it distinct by `key_columns` (see the
/// module docs). The first key column should be one the table's rows arrive
/// roughly ordered by (an event time), so that file statistics prune the lookup.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use tidemill_delta::{delta_record, DeadLetterDeltaSink, DeltaDistinctSink, DeltaSinkConfig};
/// use tidemill_operators::dedup::Deduped;
/// use tidemill_operators::KeyedStreamExt;
/// use tidemill_runtime::testing::VecSource;
/// use tidemill_runtime::{EventTime, Job, NodeContext};
///
/// delta_record! {
///     /// An order, once per id.
///     #[derive(Clone, Debug, serde::Serialize)]
///     pub struct Order { pub id: i64, pub amount: i64 }
/// }
/// let tables = tempfile::tempdir()?;
/// let (orders, dlq) = (tables.path().join("orders"), tables.path().join("dlq"));
/// let input = Arc::new(vec![(1, 10), (1, 10), (2, 5)]);
/// let job = Job::builder("orders");
/// job.source("input", 1, move |ctx: &NodeContext| Ok(VecSource::new(input.clone(), ctx)))
///     .assign_timestamps("time", |_: &(i64, i64)| EventTime::from_millis(0), Duration::ZERO)
///     .key_by(|o: &(i64, i64)| o.0, 1)
///     .dedup_through_table("dedup", Duration::from_secs(600))
///     .map("rows", |o: &Deduped<(i64, i64)>| o.clone().map(|(id, amount)| Order { id, amount }))
///     .sink("orders", move |ctx: &NodeContext| {
///         Ok(DeltaDistinctSink::with_config(DeltaSinkConfig::new(&orders), &["id"], ctx))
///     });
/// job.dead_letters().sink("dlq", move |ctx: &NodeContext| Ok(DeadLetterDeltaSink::new(&dlq, ctx)));
/// let summary = tokio::runtime::Runtime::new()?.block_on(job.build()?.run())?;
/// assert_eq!(summary.committed_by_sink["orders"], 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct DeltaDistinctSink<R> {
    inner: DeltaAppendSink<R>,
    key_columns: Vec<String>,
    /// Unverified rows of the current epoch.
    unverified: RowBuffer<R>,
    /// Files of unverified rows written in the current epoch.
    candidates: Vec<Add>,
}

impl<R> std::fmt::Debug for DeltaDistinctSink<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeltaDistinctSink")
            .field("inner", &self.inner)
            .field("key_columns", &self.key_columns)
            .finish_non_exhaustive()
    }
}

impl<R: DeltaRecord + Serialize + Send + Sync + 'static> DeltaDistinctSink<R> {
    /// A sink for `config`'s table, distinct by the columns `key_columns` (names
    /// of `R`'s fields).
    pub fn with_config(config: DeltaSinkConfig, key_columns: &[&str], ctx: &NodeContext) -> Self {
        DeltaDistinctSink {
            inner: DeltaAppendSink::with_config(config, ctx),
            key_columns: key_columns.iter().map(|c| c.to_string()).collect(),
            unverified: RowBuffer::default(),
            candidates: Vec::new(),
        }
    }

    /// The append sink underneath (transaction ids, committed epoch, table version).
    pub fn inner_mut(&mut self) -> &mut DeltaAppendSink<R> {
        &mut self.inner
    }

    async fn write_unverified(&mut self) -> Result<(), SinkError> {
        if self.unverified.is_empty() {
            return Ok(());
        }
        let adds = self.inner.write_side_files(&mut self.unverified).await?;
        self.candidates.extend(adds);
        Ok(())
    }
}

impl<R: DeltaRecord + Serialize + Send + Sync + 'static> Sink for DeltaDistinctSink<R> {
    type In = Deduped<R>;

    const EMITS_DEAD_LETTERS: bool = true;

    async fn open(&mut self) -> Result<(), SinkError> {
        let schema = R::arrow_schema();
        if let Some(missing) = self.key_columns.iter().find(|c| schema.field_with_name(c).is_err()) {
            let cause =
                DeltaSinkError::KeyColumnMissing { column: missing.clone(), type_name: std::any::type_name::<R>() };
            return Err(SinkError::unavailable(self.inner.destination(), cause));
        }
        self.inner.open().await
    }

    async fn write(&mut self, batch: Batch<Deduped<R>>) -> Result<(), SinkError> {
        let mut unique = Vec::with_capacity(batch.len());
        for record in batch {
            match record.value {
                Deduped::Unique(row) => unique.push((row, record.origin)),
                Deduped::Unverified(row) => self.unverified.push(row, record.origin),
            }
        }
        self.inner.write_rows(unique).await?;
        let config = self.inner.config();
        if self.unverified.len() >= config.target_file_rows || self.unverified.bytes() >= config.target_file_bytes {
            self.write_unverified().await?;
        }
        Ok(())
    }

    fn take_dead_letters(&mut self) -> Vec<DeadLetter> {
        self.inner.take_dead_letters()
    }

    async fn stage(&mut self, epoch: Epoch) -> Result<StagedOutput, SinkError> {
        self.write_unverified().await?;
        let candidates = std::mem::take(&mut self.candidates);
        self.inner.stage_with(epoch, candidates).await
    }

    async fn commit(&mut self, epoch: Epoch, staged: StagedOutput) -> Result<(), SinkError> {
        let Some(staged) = self.inner.checked_staged(epoch, &staged)? else { return Ok(()) };
        if staged.candidates.is_empty() || self.inner.is_committed(epoch).await? {
            let rows = staged.num_records();
            return self.inner.commit_adds(epoch, staged.adds, rows).await;
        }
        let checked = lookup::new_rows(&mut self.inner, &self.key_columns, &staged.adds, &staged.candidates).await?;
        tracing::info!(sink = ?self.inner.identity().app_id, %epoch, unverified = checked.candidates,
            already_in_table = checked.found, "unverified rows checked against the table");
        let mut adds = staged.adds;
        adds.extend(checked.adds);
        let rows = rows_of(&adds);
        self.inner.commit_adds(epoch, adds, rows).await
    }
}
