//! The dead-letter queue as a Delta table: one [`DlqRow`] per rejected record.

use chrono::{DateTime, Utc};
use tidemill_runtime::{
    Batch, DeadLetter, Epoch, NodeContext, Sink, SinkError, SourceCatalog, SourceKind, StagedOutput,
};

use super::config::DeltaSinkConfig;
use super::delta_append::DeltaAppendSink;
use super::location::TableLocation;

crate::delta_record! {
    /// One row of the dead-letter table.
    #[derive(Clone, Debug, PartialEq, serde::Serialize)]
    pub struct DlqRow {
        /// The raw bytes as received (for records rejected after decoding: the
        /// record serialised back to JSON).
        pub payload: Vec<u8>,
        /// Stable machine-readable reason, e.g. `missing_field` (see `ReasonCode`).
        pub reason_code: String,
        /// Human-readable detail, e.g. `missing field "user_id"`.
        pub reason: String,
        /// `file`, `generator`, `kafka` or `other` (also for unknown origins).
        pub source_kind: String,
        /// The file path, topic or generator name; null when the origin is unknown.
        pub source: Option<String>,
        /// The Kafka partition; null for other sources.
        pub partition: Option<i32>,
        /// Line number (files, 1-based), Kafka offset, or sequence number (generators).
        pub offset: i64,
        /// The operator that rejected the record.
        pub stage: String,
        /// The checkpoint epoch whose commit made the row visible; null if unknown.
        pub epoch: Option<i64>,
        /// When the record was rejected (processing time, UTC).
        pub rejected_at: DateTime<Utc>,
    }
}

impl DlqRow {
    /// Builds the row for a dead letter, naming its source through `catalog`.
    pub fn from_dead_letter(letter: &DeadLetter, catalog: &SourceCatalog, epoch: Option<Epoch>) -> Self {
        let info = catalog.lookup(&letter.origin);
        let (source_kind, source, partition) = match info {
            Some(info) => (info.kind, Some(info.name), info.partition),
            None => (SourceKind::OTHER, None, None),
        };
        DlqRow {
            payload: letter.payload.clone(),
            reason_code: letter.reason.as_str().to_owned(),
            reason: letter.detail.clone(),
            source_kind: source_kind.as_str().to_owned(),
            source,
            partition,
            offset: i64::try_from(letter.origin.offset.0).unwrap_or(i64::MAX),
            stage: letter.stage.to_string(),
            epoch: epoch.and_then(|e| i64::try_from(e.get()).ok()),
            rejected_at: letter.rejected_at,
        }
    }
}

/// Writes dead letters exactly once into a Delta table of [`DlqRow`]s, naming their
/// sources with the catalog of the [`NodeContext`] it was built with.
///
/// The `epoch` column holds the checkpoint epoch the row is committed with. Epochs
/// advance by one per checkpoint from the pipeline's first epoch
/// ([`RunInfo::first_epoch`](tidemill_runtime::RunInfo)), so every row is labelled
/// when it arrives and streamed to files like any Delta sink's: memory stays
/// bounded by the sink's `target_file_rows` and `target_file_bytes`, however many
/// dead letters come before the first checkpoint. A row this table cannot take
/// fails the sink: dead letters have no dead-letter queue of their own.
///
/// ```
/// use std::sync::Arc;
/// use tidemill_delta::DeadLetterDeltaSink;
/// use tidemill_runtime::testing::{DiscardSink, VecSource};
/// use tidemill_runtime::{Job, NodeContext};
///
/// let tables = tempfile::tempdir()?;
/// let job = Job::builder("parse");
/// job.source("input", 1, |ctx: &NodeContext| Ok(VecSource::new(Arc::new(vec!["1", "x"]), ctx)))
///     .try_map("parse", |text: &&str| text.parse::<i64>())
///     .sink("numbers", |_: &NodeContext| Ok(DiscardSink::new(Arc::default())));
/// let dlq = tables.path().join("dlq");
/// job.dead_letters().sink("dlq", move |ctx: &NodeContext| Ok(DeadLetterDeltaSink::new(&dlq, ctx)));
/// let summary = tokio::runtime::Runtime::new()?.block_on(job.build()?.run())?;
/// assert_eq!(summary.committed_by_sink["dlq"], 1); // "x", reason user_function_error
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct DeadLetterDeltaSink {
    inner: DeltaAppendSink<DlqRow>,
    catalog: SourceCatalog,
    /// The epoch now being written.
    current: Epoch,
}

impl std::fmt::Debug for DeadLetterDeltaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetterDeltaSink").field("inner", &self.inner).field("current", &self.current).finish()
    }
}

impl DeadLetterDeltaSink {
    /// A DLQ sink for the table at `location` with default settings.
    pub fn new(location: impl Into<TableLocation>, ctx: &NodeContext) -> Self {
        Self::with_config(DeltaSinkConfig::new(location), ctx)
    }

    /// A DLQ sink with explicit settings.
    pub fn with_config(config: DeltaSinkConfig, ctx: &NodeContext) -> Self {
        DeadLetterDeltaSink {
            inner: DeltaAppendSink::with_config(config, ctx).failing_on_refused_rows(),
            catalog: ctx.catalog.clone(),
            current: ctx.run.first_epoch,
        }
    }

    /// A factory the runtime can call after every restart.
    pub fn factory(config: DeltaSinkConfig) -> impl Fn(&NodeContext) -> Self + Clone + Send + Sync + 'static {
        move |ctx: &NodeContext| Self::with_config(config.clone(), ctx)
    }

    /// The Delta sink underneath (transaction ids, committed epoch, table version).
    pub fn inner_mut(&mut self) -> &mut DeltaAppendSink<DlqRow> {
        &mut self.inner
    }
}

impl Sink for DeadLetterDeltaSink {
    type In = DeadLetter;

    async fn open(&mut self) -> Result<(), SinkError> {
        self.inner.open().await
    }

    async fn write(&mut self, batch: Batch<DeadLetter>) -> Result<(), SinkError> {
        let epoch = Some(self.current);
        let rows = batch.iter().map(|r| (DlqRow::from_dead_letter(&r.value, &self.catalog, epoch), r.origin));
        let rows: Vec<_> = rows.collect();
        self.inner.write_rows(rows).await
    }

    async fn stage(&mut self, epoch: Epoch) -> Result<StagedOutput, SinkError> {
        if epoch != self.current {
            // Epochs are consecutive from the first one; anything else is a bug.
            tracing::warn!(expected = %self.current, %epoch, "dead-letter sink: barrier epoch skipped ahead; rows already written carry the expected epoch");
        }
        self.current = epoch.next();
        self.inner.stage(epoch).await
    }

    async fn commit(&mut self, epoch: Epoch, staged: StagedOutput) -> Result<(), SinkError> {
        self.inner.commit(epoch, staged).await
    }
}
