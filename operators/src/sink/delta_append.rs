//! The exactly-once append sink into a Delta table.

use std::marker::PhantomData;
use std::path::PathBuf;

use deltalake::kernel::Add;
use deltalake::writer::{DeltaWriter as _, RecordBatchWriter};
use deltalake::DeltaTable;
use tidemill_runtime::{Batch, Epoch, NodeContext, Sink, SinkError, StagedOutput};

use super::config::DeltaSinkConfig;
use super::record::DeltaRecord;
use super::staged::StagedDelta;
use super::table::{self, CommitOutcome};

/// Appends rows of type `R` to a Delta table on the local filesystem, exactly once.
///
/// - [`open`](Sink::open) creates the table with `R`'s schema, or opens it and
///   checks that its schema is `R`'s.
/// - [`write`](Sink::write) buffers rows; every
///   [`target_file_rows`](DeltaSinkConfig::target_file_rows) rows become a Parquet
///   file in the table folder, not referenced by the log (invisible to readers).
/// - [`stage`](Sink::stage) writes what is buffered and returns the epoch's files as
///   Delta `add` actions ([`StagedDelta`], JSON) for the checkpoint manifest.
/// - [`commit`](Sink::commit) appends those files in one Delta transaction that also
///   records `txn(app_id, epoch)`. It first reads the table's `txn` version for the
///   app id and does nothing if that is already `>= epoch`, so committing the same
///   staged output again (after a crash, from another instance) adds nothing.
///
/// Files of an epoch that never completes stay in the folder unreferenced; Delta's
/// `vacuum` removes them.
///
/// Factories build it with [`DeltaAppendSink::new`] or [`DeltaAppendSink::factory`]:
///
/// ```
/// # use tidemill_operators::{delta_record, sink::{DeltaAppendSink, DeltaSinkConfig}};
/// # use tidemill_runtime::NodeContext;
/// delta_record! {
///     /// A count per key.
///     pub struct KeyCount {
///         /// The key.
///         pub key: String,
///         /// How often it was seen.
///         pub count: i64,
///     }
/// }
/// let factory = DeltaAppendSink::<KeyCount>::factory(DeltaSinkConfig::new("/data/counts"));
/// let sink = factory(&NodeContext::for_tests("counts"));
/// assert_eq!(sink.app_id(), "tidemill-test-counts");
/// ```
pub struct DeltaAppendSink<R> {
    config: DeltaSinkConfig,
    app_id: String,
    opened: Option<Opened>,
    buffer: Vec<R>,
    /// Files written since the last stage.
    written: Vec<Add>,
    _rows: PhantomData<fn(R)>,
}

struct Opened {
    table: DeltaTable,
    writer: RecordBatchWriter,
    /// The table folder, canonical, as recorded in staged output.
    shown: String,
}

impl<R> std::fmt::Debug for DeltaAppendSink<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeltaAppendSink")
            .field("config", &self.config)
            .field("app_id", &self.app_id)
            .field("open", &self.opened.is_some())
            .field("buffered_rows", &self.buffer.len())
            .field("unstaged_files", &self.written.len())
            .finish()
    }
}

impl<R: DeltaRecord + Send + Sync + 'static> DeltaAppendSink<R> {
    /// A sink for the table at `table_path` with default settings.
    pub fn new(table_path: impl Into<PathBuf>, ctx: &NodeContext) -> Self {
        Self::with_config(DeltaSinkConfig::new(table_path), ctx)
    }

    /// A sink with explicit settings.
    pub fn with_config(config: DeltaSinkConfig, ctx: &NodeContext) -> Self {
        let app_id = config.app_id_for(ctx);
        DeltaAppendSink { config, app_id, opened: None, buffer: Vec::new(), written: Vec::new(), _rows: PhantomData }
    }

    /// A factory the runtime can call after every restart (`Fn(&NodeContext) -> Self`).
    pub fn factory(config: DeltaSinkConfig) -> impl Fn(&NodeContext) -> Self + Clone + Send + Sync + 'static {
        move |ctx: &NodeContext| Self::with_config(config.clone(), ctx)
    }

    /// The application id of the `txn` action this sink's commits carry.
    pub fn app_id(&self) -> &str {
        &self.app_id
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
    /// reaches [`DeltaSinkConfig::target_file_rows`].
    pub async fn write_rows(&mut self, rows: impl IntoIterator<Item = R>) -> Result<(), SinkError> {
        self.buffer.extend(rows);
        if self.buffer.len() >= self.config.target_file_rows {
            self.write_file().await?;
        }
        Ok(())
    }

    /// The newest epoch committed to the table under this sink's app id.
    pub async fn committed_epoch(&mut self) -> Result<Option<Epoch>, SinkError> {
        let app_id = self.app_id.clone();
        let opened = self.opened_mut("read the committed epoch")?;
        let version = table::committed_txn_version(&mut opened.table, &app_id)
            .await
            .map_err(|e| SinkError::Unavailable(format!("Delta table {}: {e}", opened.shown)))?;
        Ok(version.and_then(|v| u64::try_from(v).ok()).map(Epoch::new))
    }

    /// The table's current version (0 right after creation), re-read from the log.
    pub async fn table_version(&mut self) -> Result<Option<u64>, SinkError> {
        let opened = self.opened_mut("read the table version")?;
        opened
            .table
            .update_state()
            .await
            .map_err(|e| SinkError::Unavailable(format!("Delta table {}: {e}", opened.shown)))?;
        Ok(opened.table.version())
    }

    fn opened_mut(&mut self, what: &str) -> Result<&mut Opened, SinkError> {
        let path = &self.config.path;
        self.opened.as_mut().ok_or_else(|| {
            SinkError::Unavailable(format!("Delta table {}: cannot {what} before open()", path.display()))
        })
    }

    /// Writes the buffer as one Parquet file (no log entry) and remembers its add action.
    async fn write_file(&mut self) -> Result<(), SinkError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.buffer);
        let opened = self.opened_mut("write")?;
        let shown = opened.shown.clone();
        let write_err = |e: String| SinkError::Write(format!("Delta table {shown}: {e}"));
        let batch = R::to_record_batch(&rows).map_err(|e| write_err(e.to_string()))?;
        opened.writer.write(batch).await.map_err(|e| write_err(e.to_string()))?;
        let adds = opened.writer.flush().await.map_err(|e| write_err(e.to_string()))?;
        tracing::debug!(table = %shown, rows = rows.len(), files = adds.len(), "wrote uncommitted Parquet file");
        self.written.extend(adds);
        Ok(())
    }
}

impl<R: DeltaRecord + Send + Sync + 'static> Sink for DeltaAppendSink<R> {
    type In = R;

    async fn open(&mut self) -> Result<(), SinkError> {
        let type_name = std::any::type_name::<R>();
        let table = table::open_or_create(&self.config.path, &R::arrow_schema(), type_name).await?;
        let shown = table::shown_path(&self.config.path);
        let writer = RecordBatchWriter::for_table(&table)
            .map_err(|e| SinkError::Unavailable(format!("Delta table {shown}: cannot write: {e}")))?;
        tracing::info!(table = %shown, app_id = %self.app_id, version = ?table.version(), "Delta sink opened");
        self.opened = Some(Opened { table, writer, shown });
        Ok(())
    }

    async fn write(&mut self, batch: Batch<R>) -> Result<(), SinkError> {
        self.write_rows(batch.into_iter().map(|record| record.value)).await
    }

    async fn stage(&mut self, epoch: Epoch) -> Result<StagedOutput, SinkError> {
        self.write_file().await?;
        let adds = std::mem::take(&mut self.written);
        if adds.is_empty() {
            return Ok(StagedOutput::default());
        }
        let shown = self.opened_mut("stage")?.shown.clone();
        StagedDelta::new(shown, self.app_id.clone(), epoch, adds).to_output()
    }

    async fn commit(&mut self, epoch: Epoch, staged: StagedOutput) -> Result<(), SinkError> {
        let Some(staged) = StagedDelta::from_output(&staged)? else {
            return Ok(());
        };
        let opened = self.opened_mut("commit")?;
        let shown = opened.shown.clone();
        let fail = |e: String| SinkError::Commit(format!("Delta table {shown}, epoch {epoch}: {e}"));
        if staged.epoch != epoch.get() {
            return Err(fail(format!("the staged output belongs to epoch {}", staged.epoch)));
        }
        if staged.table != shown {
            return Err(fail(format!("the staged output belongs to the table {}", staged.table)));
        }
        if staged.adds.is_empty() {
            return Ok(());
        }
        let txn_version = i64::try_from(epoch.get()).map_err(|_| fail("epoch does not fit a txn version".into()))?;
        let rows = staged.num_records();
        let files = staged.adds.len();
        let outcome = table::commit_append(&mut opened.table, staged.adds, &staged.app_id, txn_version)
            .await
            .map_err(|e| fail(e.to_string()))?;
        match outcome {
            CommitOutcome::Committed { version } => {
                tracing::info!(table = %shown, app_id = %staged.app_id, %epoch, version, files, rows, "Delta commit");
            }
            CommitOutcome::AlreadyCommitted { txn_version } => {
                tracing::info!(table = %shown, app_id = %staged.app_id, %epoch, txn_version, "Delta epoch already committed; skipped");
            }
        }
        Ok(())
    }
}
