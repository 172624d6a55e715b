//! The exactly-once append sink into a Delta table.

use std::sync::Arc;

use deltalake::arrow::array::RecordBatch;
use deltalake::kernel::Add;
use deltalake::writer::{DeltaWriter as _, RecordBatchWriter};
use deltalake::DeltaTable;
use serde::Serialize;
use tidemill_runtime::{Batch, DeadLetter, Epoch, ExistingOutput, NodeContext, Origin, Sink, SinkError, StagedOutput};

use super::committer;
use super::config::DeltaSinkConfig;
use super::error::{destination, DeltaSinkError, StagedMismatch};
use super::identity::{self, SinkIdentity};
use super::location::TableLocation;
use super::record::DeltaRecord;
use super::rollback::roll_back_after;
use super::rows::{refused_letter, RowBuffer, RowRefused};
use super::staged::StagedDelta;
use super::table::{self, CommitOutcome};

/// Appends rows of type `R` to a Delta table on the local filesystem, exactly once.
///
/// - [`open`](Sink::open) creates the table with `R`'s schema, or opens it and
///   checks that its schema is `R`'s. A run that starts a new lineage refuses a
///   table an earlier run of the same job wrote, unless the job's
///   `existing_output` is `append`; a run that resumes a checkpoint undoes what
///   this sink committed for later epochs of its lineage (see
///   [`SinkIdentity`] and `rollback`).
/// - [`write`](Sink::write) buffers rows; every
///   [`target_file_rows`](DeltaSinkConfig::target_file_rows) rows (or
///   [`target_file_bytes`](DeltaSinkConfig::target_file_bytes)) become a Parquet
///   file in the table folder, not referenced by the log (invisible to readers).
///   A row whose conversion to Arrow fails or panics is refused: it goes to the
///   dead letters as `sink_reject`, the rest is written.
/// - [`stage`](Sink::stage) writes what is buffered and returns the epoch's files as
///   Delta `add` actions ([`StagedDelta`], JSON) for the checkpoint manifest.
/// - [`commit`](Sink::commit) appends those files in one Delta transaction that also
///   records the epoch under the sink's transaction ids. It first reads the
///   table's version for the id and does nothing if that is already `>= epoch`,
///   so committing the same staged output again (after a crash, from another
///   instance) adds nothing.
///
/// Files of an epoch that never completes stay in the folder unreferenced; Delta's
/// `vacuum` removes them.
///
/// Factories build it with [`DeltaAppendSink::new`] or [`DeltaAppendSink::factory`]:
///
/// ```
/// # use tidemill_delta::{delta_record, DeltaAppendSink, DeltaSinkConfig, TableLocation};
/// # use tidemill_runtime::NodeContext;
/// delta_record! {
///     /// A count per key.
///     #[derive(serde::Serialize)]
///     pub struct KeyCount {
///         /// The key.
///         pub key: String,
///         /// How often it was seen.
///         pub count: i64,
///     }
/// }
/// let location = TableLocation::parse("/data/counts").unwrap(); // or s3://bucket/counts
/// let factory = DeltaAppendSink::<KeyCount>::factory(DeltaSinkConfig::new(location));
/// let ctx = NodeContext::for_tests("counts");
/// let sink = factory(&ctx);
/// assert_eq!(sink.identity().base, "tidemill-test-counts");
/// assert_eq!(sink.identity().app_id, format!("tidemill-test-counts@{}", ctx.run.lineage));
/// ```
pub struct DeltaAppendSink<R> {
    config: DeltaSinkConfig,
    identity: SinkIdentity,
    /// The sink node (the stage of refused rows).
    stage: Arc<str>,
    /// The checkpoint the pipeline resumes, if any.
    resumed: Option<Epoch>,
    existing_output: ExistingOutput,
    /// Refused rows are an error rather than dead letters (the dead-letter table).
    refuse_is_error: bool,
    opened: Option<Opened>,
    buffer: RowBuffer<R>,
    /// Files written since the last stage.
    written: Vec<Add>,
    /// Rows refused since the last `take_dead_letters`.
    refused: Vec<DeadLetter>,
}

struct Opened {
    table: DeltaTable,
    /// This sink's place among the writers of the table in this process.
    _committer: committer::Registration,
    writer: RecordBatchWriter,
    /// The table's location ([`TableLocation::shown`]), as recorded in staged output.
    shown: String,
}

impl<R> std::fmt::Debug for DeltaAppendSink<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeltaAppendSink")
            .field("config", &self.config)
            .field("identity", &self.identity)
            .field("open", &self.opened.is_some())
            .field("unstaged_files", &self.written.len())
            .finish_non_exhaustive()
    }
}

impl<R: DeltaRecord + Serialize + Send + Sync + 'static> DeltaAppendSink<R> {
    /// A sink for the table at `location` (a local folder or an `s3://` URL)
    /// with default settings.
    pub fn new(location: impl Into<TableLocation>, ctx: &NodeContext) -> Self {
        Self::with_config(DeltaSinkConfig::new(location), ctx)
    }

    /// A sink with explicit settings.
    pub fn with_config(config: DeltaSinkConfig, ctx: &NodeContext) -> Self {
        let identity = SinkIdentity::new(config.app_id_for(ctx), ctx);
        DeltaAppendSink {
            config,
            identity,
            stage: ctx.node.clone(),
            resumed: ctx.run.resumed,
            existing_output: ctx.run.existing_output,
            refuse_is_error: false,
            opened: None,
            buffer: RowBuffer::default(),
            written: Vec::new(),
            refused: Vec::new(),
        }
    }

    /// A factory the runtime can call after every restart (`Fn(&NodeContext) -> Self`).
    pub fn factory(config: DeltaSinkConfig) -> impl Fn(&NodeContext) -> Self + Clone + Send + Sync + 'static {
        move |ctx: &NodeContext| Self::with_config(config.clone(), ctx)
    }

    /// A sink that fails instead of refusing single rows (for the dead-letter
    /// table, whose refused rows would have nowhere to go).
    pub(super) fn failing_on_refused_rows(mut self) -> Self {
        self.refuse_is_error = true;
        self
    }

    /// The transaction ids this sink commits under.
    pub fn identity(&self) -> &SinkIdentity {
        &self.identity
    }

    /// The settings the sink was built with.
    pub fn config(&self) -> &DeltaSinkConfig {
        &self.config
    }

    /// Rows held in memory, not yet in any file.
    pub fn buffered_rows(&self) -> usize {
        self.buffer.len()
    }

    /// Buffers rows, writing a Parquet file (uncommitted) whenever the buffer
    /// reaches [`DeltaSinkConfig::target_file_rows`] or
    /// [`DeltaSinkConfig::target_file_bytes`]. A batch is kept in one file, so
    /// the buffer holds at most one batch beyond the limits.
    pub async fn write_rows(&mut self, rows: impl IntoIterator<Item = (R, Origin)>) -> Result<(), SinkError> {
        for (row, origin) in rows {
            self.buffer.push(row, origin);
        }
        if self.buffer.len() >= self.config.target_file_rows || self.buffer.bytes() >= self.config.target_file_bytes {
            self.write_file().await?;
        }
        Ok(())
    }

    /// The newest epoch committed to the table under this sink's transaction id.
    pub async fn committed_epoch(&mut self) -> Result<Option<Epoch>, SinkError> {
        let app_id = self.identity.app_id.clone();
        let opened = self.opened_mut("read the committed epoch")?;
        let version = table::committed_txn_version(&mut opened.table, &app_id)
            .await
            .map_err(|e| SinkError::unavailable(destination(&opened.shown), DeltaSinkError::ReadLog(e)))?;
        Ok(version.and_then(|v| u64::try_from(v).ok()).map(Epoch::new))
    }

    /// The table's current version (0 right after creation), re-read from the log.
    pub async fn table_version(&mut self) -> Result<Option<u64>, SinkError> {
        let opened = self.opened_mut("read the table version")?;
        opened
            .table
            .update_state()
            .await
            .map_err(|e| SinkError::unavailable(destination(&opened.shown), DeltaSinkError::ReadLog(e)))?;
        Ok(opened.table.version())
    }

    /// The table, once opened (for the distinct sink's lookups).
    pub(super) fn table(&mut self) -> Result<(&mut DeltaTable, &str), SinkError> {
        let opened = self.opened_mut("read the table")?;
        Ok((&mut opened.table, &opened.shown))
    }

    /// The epoch's staged output: what `write` buffered and wrote, plus `extra`
    /// files (the distinct sink's unverified rows), as a checkpoint payload.
    pub(super) async fn stage_with(&mut self, epoch: Epoch, candidates: Vec<Add>) -> Result<StagedOutput, SinkError> {
        self.write_file().await?;
        let adds = std::mem::take(&mut self.written);
        if adds.is_empty() && candidates.is_empty() {
            return Ok(StagedOutput::default());
        }
        let shown = self.opened_mut("stage")?.shown.clone();
        let mut staged = StagedDelta::new(shown.clone(), self.identity.app_id.clone(), epoch, adds);
        staged.candidates = candidates;
        staged.to_output().map_err(|e| SinkError::write(destination(&shown), e))
    }

    /// How errors name the table: its canonical path once opened, the configured
    /// one before.
    pub(super) fn destination(&self) -> String {
        match &self.opened {
            Some(opened) => destination(&opened.shown),
            None => destination(&self.config.location.to_string()),
        }
    }

    fn opened_mut(&mut self, action: &'static str) -> Result<&mut Opened, SinkError> {
        let not_open = SinkError::unavailable(self.destination(), DeltaSinkError::NotOpen { action });
        self.opened.as_mut().ok_or(not_open)
    }

    /// Writes the buffer as one Parquet file (no log entry) and remembers its add
    /// action; rows whose conversion fails are set apart as refused.
    async fn write_file(&mut self) -> Result<(), SinkError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let rows = self.buffer.len();
        let converted = self.buffer.convert();
        self.note_refused(converted.refused)?;
        let Some(batch) = converted.batch else { return Ok(()) };
        let adds = self.write_batch(batch).await?;
        tracing::debug!(table = %self.config.location, rows, files = adds.len(), "wrote uncommitted Parquet file");
        self.written.extend(adds);
        Ok(())
    }

    /// The staged output of `epoch`, checked to be this sink's; `None` when it
    /// holds nothing.
    pub(super) fn checked_staged(
        &mut self,
        epoch: Epoch,
        staged: &StagedOutput,
    ) -> Result<Option<StagedDelta>, SinkError> {
        let decoded = StagedDelta::from_output(staged).map_err(|e| SinkError::commit(self.destination(), e))?;
        let Some(staged) = decoded else { return Ok(None) };
        let app_id = self.identity.app_id.clone();
        let shown = self.opened_mut("commit")?.shown.clone();
        let fail = |mismatch| SinkError::commit(destination(&shown), DeltaSinkError::NotOurs { epoch, mismatch });
        if staged.epoch != epoch.get() {
            return Err(fail(StagedMismatch::Epoch(staged.epoch)));
        }
        if staged.table != shown {
            return Err(fail(StagedMismatch::Table(staged.table)));
        }
        if staged.app_id != app_id {
            return Err(fail(StagedMismatch::TransactionId(staged.app_id)));
        }
        Ok(Some(staged))
    }

    /// Whether the table already holds `epoch` under this sink's transaction id.
    pub(super) async fn is_committed(&mut self, epoch: Epoch) -> Result<bool, SinkError> {
        Ok(self.committed_epoch().await?.is_some_and(|done| done >= epoch))
    }

    /// Commits `adds` (holding `rows` rows) as `epoch`, once.
    pub(super) async fn commit_adds(&mut self, epoch: Epoch, adds: Vec<Add>, rows: u64) -> Result<(), SinkError> {
        if adds.is_empty() {
            return Ok(());
        }
        let identity = self.identity.clone();
        let opened = self.opened_mut("commit")?;
        let shown = opened.shown.clone();
        let fail = |e| SinkError::commit(destination(&shown), DeltaSinkError::Commit { epoch, source: Box::new(e) });
        let txn_version = i64::try_from(epoch.get()).map_err(|_| fail(DeltaSinkError::EpochTooLarge(epoch)))?;
        let files = adds.len();
        let append = committer::Append { adds, identity: identity.clone(), txn_version };
        let outcome = committer::commit(&shown, &opened.table, append)
            .await
            .map_err(|e| fail(DeltaSinkError::SharedCommit(e)))?;
        match outcome {
            CommitOutcome::Committed { version, retries, appends } => {
                tracing::info!(table = %shown, app_id = %identity.app_id, %epoch, version, files, rows, retries,
                    appends, "Delta commit");
            }
            CommitOutcome::AlreadyCommitted { txn_version } => {
                tracing::info!(table = %shown, app_id = %identity.app_id, %epoch, txn_version, "Delta epoch already committed; skipped");
            }
        }
        Ok(())
    }

    /// Writes `rows` as uncommitted Parquet files of their own (not part of the
    /// epoch's output yet) and returns their add actions; refused rows become
    /// dead letters as in [`Sink::write`].
    pub(super) async fn write_side_files(&mut self, rows: &mut RowBuffer<R>) -> Result<Vec<Add>, SinkError> {
        let converted = rows.convert();
        self.note_refused(converted.refused)?;
        match converted.batch {
            Some(batch) => self.write_batch(batch).await,
            None => Ok(Vec::new()),
        }
    }

    /// Writes one record batch as uncommitted Parquet files and returns their adds.
    pub(super) async fn write_batch(&mut self, batch: RecordBatch) -> Result<Vec<Add>, SinkError> {
        let opened = self.opened_mut("write")?;
        let shown = opened.shown.clone();
        let write_err = |e| SinkError::write(destination(&shown), DeltaSinkError::WriteFiles(e));
        opened.writer.write(batch).await.map_err(write_err)?;
        opened.writer.flush().await.map_err(write_err)
    }

    fn note_refused(&mut self, refused: Vec<(Vec<u8>, RowRefused, Origin)>) -> Result<(), SinkError> {
        let shown = self.config.location.to_string();
        if self.refuse_is_error {
            let Some((_, reason, origin)) = refused.into_iter().next() else { return Ok(()) };
            return Err(SinkError::write(destination(&shown), DeltaSinkError::RowRefused { origin, reason }));
        }
        if refused.is_empty() {
            return Ok(());
        }
        tracing::warn!(table = %shown, refused = refused.len(), "rows refused by the sink: dead-lettered");
        let stage = self.stage.clone();
        self.refused.extend(refused.into_iter().map(|(p, r, o)| refused_letter(p, &r, o, &stage)));
        Ok(())
    }

    /// Makes the table right for this run: refuses or accepts an earlier run's
    /// output (new lineage), or undoes commits past the resumed epoch.
    async fn reconcile(&mut self) -> Result<(), SinkError> {
        let (identity, resumed, policy) = (self.identity.clone(), self.resumed, self.existing_output);
        let opened = self.opened_mut("reconcile")?;
        match resumed {
            None => identity::check_existing_output(&mut opened.table, &identity, policy, &opened.shown).await,
            Some(epoch) => {
                let undone = roll_back_after(&mut opened.table, &identity, epoch)
                    .await
                    .map_err(|e| SinkError::unavailable(destination(&opened.shown), DeltaSinkError::Rollback(e)))?;
                if let Some(undone) = undone {
                    tracing::warn!(table = %opened.shown, app_id = %identity.app_id, resumed = %epoch,
                        epochs = ?undone.epochs, files = undone.files,
                        "undid commits of epochs after the resumed checkpoint: their input is replayed");
                }
                Ok(())
            }
        }
    }
}

impl<R: DeltaRecord + Serialize + Send + Sync + 'static> Sink for DeltaAppendSink<R> {
    type In = R;

    const EMITS_DEAD_LETTERS: bool = true;

    async fn open(&mut self) -> Result<(), SinkError> {
        let type_name = std::any::type_name::<R>();
        let table = table::open_or_create(&self.config.location, &R::arrow_schema(), type_name).await?;
        let shown = self.config.location.shown();
        let writer = RecordBatchWriter::for_table(&table)
            .map_err(|e| SinkError::unavailable(destination(&shown), DeltaSinkError::WriteFiles(e)))?;
        tracing::info!(table = %shown, app_id = %self.identity.app_id, version = ?table.version(), "Delta sink opened");
        let _committer = committer::register(&shown, &table);
        self.opened = Some(Opened { table, _committer, writer, shown });
        self.reconcile().await
    }

    async fn write(&mut self, batch: Batch<R>) -> Result<(), SinkError> {
        self.write_rows(batch.into_iter().map(|record| (record.value, record.origin))).await
    }

    fn take_dead_letters(&mut self) -> Vec<DeadLetter> {
        std::mem::take(&mut self.refused)
    }

    async fn stage(&mut self, epoch: Epoch) -> Result<StagedOutput, SinkError> {
        self.stage_with(epoch, Vec::new()).await
    }

    async fn commit(&mut self, epoch: Epoch, staged: StagedOutput) -> Result<(), SinkError> {
        let Some(staged) = self.checked_staged(epoch, &staged)? else { return Ok(()) };
        let rows = staged.num_records();
        self.commit_adds(epoch, staged.adds, rows).await
    }
}
