//! The reference order job: decode and validate order events, count orders per
//! user in sliding event-time windows, keep the distinct orders, and put every
//! rejected record in a dead-letter table.
//!
//! ```text
//! input -> decode -> event_time (watermark) -+-> key_by(user_id) -> windows -> order_aggregates
//!            \                               +-> key_by(order_id, event_time) -> dedup -> orders
//!             \-> dead letters (decode, late) ---------------------------------------> dlq
//! ```
//!
//! Reference semantics: the reference Spark job (see docs/order-job.md: `withWatermark("event_time",
//! "10 minutes")`, `window(event_time, "5 minutes", "1 minute")`,
//! `count(order_id)`, append mode) and its MERGE on `(order_id, event_time)`.

mod copartition;
mod group;
mod preview;
pub mod repartitioned;
mod report;
mod rows;
mod settings;

use std::path::PathBuf;

use crate::orders::{GeneratorError, GeneratorSource, OrderEvent};
use tidemill_delta::{DeadLetterDeltaSink, DeltaAppendSink, DeltaDistinctSink, DeltaSinkConfig, TableLocation};
use tidemill_kafka::{KafkaRecord, KafkaSource, KafkaSourceConfig};
use tidemill_operators::decode::RawRecord;
use tidemill_operators::dedup::Deduped;
use tidemill_operators::ext::{BytesStreamExt, KeyedStreamExt};
use tidemill_operators::source::JsonLinesFileSource;
use tidemill_operators::window::{Count, SlidingWindow, WindowError, WindowResult};
use tidemill_runtime::checkpoint::{store_for, CheckpointError, FromCheckpoint};
use tidemill_runtime::{DeadLetter, Job, JobBuilder, NodeContext, SourceError, Stream};

pub use copartition::KeyedByUser;
pub use group::{build_task, GroupOptions, TaskPlace};
pub use preview::{preview_table, PreviewError, TablePreview};
pub use report::render_report;
pub use rows::{OrderAggregateRow, OrderRow};
pub use settings::{OrderInput, OrderJobSettings, OrderTables, SettingsError};

/// The order job could not be built.
#[derive(Debug, thiserror::Error)]
pub enum OrderJobError {
    /// The window settings are invalid.
    #[error("invalid window settings: {0}")]
    Window(#[from] WindowError),
    /// The input cannot be read.
    #[error(transparent)]
    Input(#[from] SourceError),
    /// The Kafka source settings are invalid.
    #[error("kafka: invalid source settings")]
    KafkaConfig(#[source] tidemill_kafka::KafkaSourceConfigError),
    /// The topic's partitions cannot be counted (missing topic, unreachable
    /// brokers, a failed login); boxed: the other variants are small.
    #[error("kafka")]
    Topic(#[source] Box<tidemill_kafka::TopicMetadataError>),
    /// A file or generator source was asked for with a Kafka input.
    #[error("kafka: a Kafka input has no file or generator source")]
    NotAFileInput,
    /// Group mode keeps each task's checkpoints where every process can reach them.
    #[error("kafka: group mode needs --checkpoint-dir, a folder or s3:// location every process of the job can reach")]
    GroupNeedsCheckpointDir,
    /// The input topic gained partitions under a group-scaled job whose state is
    /// partitioned like the topic: keys moved to new partitions, and each user's
    /// windows would be split between two tasks.
    #[error(
        "kafka: the input topic gained partitions (partition {partition} is new; there were {partitions}): keys move \
         to other partitions, which would split each user's windows between tasks; stop the job and run it with \
         --repartition (see docs/autoscaling.md)"
    )]
    InputTopicGrew {
        /// The new partition assigned.
        partition: i32,
        /// The partitions when the process started.
        partitions: u32,
    },
    /// The generator settings are invalid.
    #[error("invalid generator settings")]
    Generator(#[source] GeneratorError),
    /// The output folder cannot be used.
    #[error("output folder {path} is not usable")]
    Output {
        /// The folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The checkpoint location cannot be used (an unknown scheme, bad S3 settings).
    #[error("checkpoints")]
    Checkpoints(#[source] CheckpointError),
    /// The graph or the runtime settings are invalid.
    #[error(transparent)]
    Build(#[from] tidemill_runtime::BuildError),
}

/// The columns `orders` is distinct by (the reference job's MERGE condition).
pub const ORDER_KEY: [&str; 2] = ["order_id", "event_time"];

/// The job's name: it names Delta transaction ids (and, on Kafka, the consumer group).
pub const JOB_NAME: &str = "order-aggregates";

/// Where the order job's three outputs go.
pub trait OrderSinks {
    /// Attaches the sink of the windowed counts.
    fn order_aggregates(&self, rows: Stream<OrderAggregateRow>);
    /// Attaches the sink of the distinct orders: rows checked in memory, and rows
    /// too late for that, which the sink must check against what it holds.
    fn orders(&self, rows: Stream<Deduped<OrderRow>>);
    /// Attaches the sink of the dead letters.
    fn dead_letters(&self, letters: Stream<DeadLetter>);
}

/// The three Delta tables under one folder (see [`OrderTables`]).
#[derive(Clone, Debug)]
pub struct DeltaOrderSinks {
    tables: OrderTables,
    target_file_rows: usize,
    orders_shards: usize,
}

impl DeltaOrderSinks {
    /// Tables under `output`, with Parquet files of about `target_file_rows` rows.
    pub fn new(output: impl Into<TableLocation>, target_file_rows: usize) -> Self {
        DeltaOrderSinks { tables: OrderTables::under(output), target_file_rows, orders_shards: 1 }
    }

    /// Writes `orders`, the largest table (one row per distinct order), with this
    /// many sink shards in parallel, each committing under its own transaction id.
    pub fn with_orders_shards(mut self, shards: usize) -> Self {
        self.orders_shards = shards.max(1);
        self
    }

    fn config(&self, location: &TableLocation) -> DeltaSinkConfig {
        DeltaSinkConfig::new(location).with_target_file_rows(self.target_file_rows)
    }
}

impl OrderSinks for DeltaOrderSinks {
    fn order_aggregates(&self, rows: Stream<OrderAggregateRow>) {
        let config = self.config(&self.tables.order_aggregates);
        rows.sink("order_aggregates", move |ctx: &NodeContext| Ok(DeltaAppendSink::with_config(config.clone(), ctx)));
    }

    fn orders(&self, rows: Stream<Deduped<OrderRow>>) {
        let config = self.config(&self.tables.orders);
        rows.sink_sharded("orders", self.orders_shards, move |ctx: &NodeContext| {
            Ok(DeltaDistinctSink::with_config(config.clone(), &ORDER_KEY, ctx))
        });
    }

    fn dead_letters(&self, letters: Stream<DeadLetter>) {
        let config = self.config(&self.tables.dlq);
        letters.sink("dlq", move |ctx: &NodeContext| Ok(DeadLetterDeltaSink::with_config(config.clone(), ctx)));
    }
}

/// Builds the order job reading `input` and writing the three tables under `output`
/// (a local folder, or a [`TableLocation`] such as `s3://bucket/prefix`).
///
/// Checks up front what can be checked (the input path exists and is readable, the
/// output folder can be created, the window settings are valid), so that a bad
/// command line fails fast with a clear error. The output folder is touched last: a
/// bad input or bad settings leave it as it was.
pub fn build(
    input: &OrderInput,
    output: impl Into<TableLocation>,
    settings: &OrderJobSettings,
) -> Result<Job, OrderJobError> {
    build_from(input, output, settings, FromCheckpoint::Latest)
}

/// [`build`], resuming the checkpoint `from` names (with a checkpoint folder).
pub fn build_from(
    input: &OrderInput,
    output: impl Into<TableLocation>,
    settings: &OrderJobSettings,
    from: FromCheckpoint,
) -> Result<Job, OrderJobError> {
    build_named(JOB_NAME, input, &output.into(), settings, false, from)
}

/// [`build`] under another job name (the name prefixes Delta transaction ids);
/// with `keyed_by_user`, a Kafka input must be keyed by `user_id` ([`KeyedByUser`]).
pub(crate) fn build_named(
    name: &str,
    input: &OrderInput,
    output: &TableLocation,
    settings: &OrderJobSettings,
    keyed_by_user: bool,
    from: FromCheckpoint,
) -> Result<Job, OrderJobError> {
    let job = job_builder(name, settings, from)?;
    let sinks = DeltaOrderSinks::new(output, settings.target_file_rows).with_orders_shards(settings.shards);
    match input {
        OrderInput::Kafka(config) if keyed_by_user => {
            let checked = kafka_source(&job, config)?.operator("keyed_by_user", |_: &NodeContext| KeyedByUser);
            assemble(&job, &checked, settings, &sinks)?
        }
        OrderInput::Kafka(config) => assemble(&job, &kafka_source(&job, config)?, settings, &sinks)?,
        other => assemble(&job, &file_or_generator_source(&job, other)?, settings, &sinks)?,
    }
    prepare_output(output)?;
    Ok(job.build()?)
}

/// The builder of a job named `name` with `settings`' runtime, metrics and
/// checkpoint store (resuming the checkpoint `from` names).
fn job_builder(name: &str, settings: &OrderJobSettings, from: FromCheckpoint) -> Result<JobBuilder, OrderJobError> {
    let mut runtime = settings.runtime.clone();
    let mut job = Job::builder(name);
    if let Some(dir) = &settings.checkpoint_dir {
        // The reference job's Spark trigger: a micro-batch (here: a checkpoint) every 30 s.
        runtime.checkpoint_interval.get_or_insert(std::time::Duration::from_secs(30));
        // A folder, `file://...` or `s3://bucket/prefix` (credentials from AWS_*).
        let store = store_for(&dir.to_string_lossy()).map_err(OrderJobError::Checkpoints)?;
        job = job.checkpoint_store(store).restore_from(from);
    }
    Ok(job.config(runtime).metrics(settings.metrics.clone()))
}

/// Adds the order job's operators to `job`, reading raw JSON records from `raw`
/// and writing to `sinks`. [`build`] uses it with a file or generator source and
/// Delta sinks; benchmarks use it with in-memory sources and discarding sinks.
///
/// The job is written once, as two stages joined by the exchange by `user_id`:
/// [`decode_stage`] then [`keyed_stage`]. Here the exchange is the in-process
/// `key_by` inside [`keyed_stage`]; scaled out over a topic keyed otherwise, the
/// same two functions run as the two stages of [`repartitioned`], with the
/// exchange going through Kafka.
pub fn assemble<R: RawRecord + Clone + serde::Serialize>(
    job: &JobBuilder,
    raw: &Stream<R>,
    settings: &OrderJobSettings,
    sinks: &dyn OrderSinks,
) -> Result<(), OrderJobError> {
    let orders = decode_stage(raw, settings);
    keyed_stage(&orders, settings, sinks)?;
    sinks.dead_letters(job.dead_letters());
    Ok(())
}

/// The first stage: decode and validate (rejected records go to the job's dead
/// letters), and take event time (the watermark). Returns the timed orders.
pub fn decode_stage<R: RawRecord + Clone + serde::Serialize>(
    raw: &Stream<R>,
    settings: &OrderJobSettings,
) -> Stream<OrderEvent> {
    raw.decode_json::<OrderEvent>("decode").assign_timestamps("event_time", OrderEvent::time, settings.watermark_delay)
}

/// The second stage, everything keyed: every distinct order into `orders`, and
/// orders by `user_id` in sliding event-time windows, counted into
/// `order_aggregates`.
///
/// Both keyed states sit behind the exchange by `user_id`: duplicates of an
/// order are copies of it, so they share its `user_id` and meet in one task
/// however the input is partitioned (and however its partition count changes).
pub fn keyed_stage(
    orders: &Stream<OrderEvent>,
    settings: &OrderJobSettings,
    sinks: &dyn OrderSinks,
) -> Result<(), OrderJobError> {
    // Like the reference job's MERGE, `orders` holds every distinct valid order however
    // late: orders older than the dedup horizon are checked against the table.
    sinks.orders(
        orders
            .key_by(|o: &OrderEvent| (o.order_id.clone(), o.event_time), settings.shards)
            .dedup_through_table("dedup", settings.effective_dedup_retention())
            .map("order_rows", |o: &Deduped<OrderEvent>| o.clone().map(|o| OrderRow::from(&o))),
    );
    let windows = SlidingWindow::of_size(settings.window_size).every(settings.window_slide)?;
    sinks.order_aggregates(
        orders
            .key_by(|o: &OrderEvent| o.user_id.clone(), settings.shards)
            .window("windows", windows.with_allowed_lateness(settings.allowed_lateness), Count)?
            .map("aggregate_rows", |r: &WindowResult<String, u64>| OrderAggregateRow::from_result(r)),
    );
    Ok(())
}

fn file_or_generator_source(job: &JobBuilder, input: &OrderInput) -> Result<Stream<Vec<u8>>, OrderJobError> {
    Ok(match input {
        OrderInput::Path(path) => {
            // Fail now, with the path in the message, rather than in the first pipeline.
            JsonLinesFileSource::open(path, &NodeContext::for_tests("input"))?;
            let path = path.clone();
            job.source("input", 1, move |ctx: &NodeContext| JsonLinesFileSource::open(&path, ctx))
        }
        OrderInput::Kafka(_) => return Err(OrderJobError::NotAFileInput),
        OrderInput::Generate(config) => {
            config.validate().map_err(OrderJobError::Generator)?;
            let config = config.clone();
            job.source("generator", 1, move |ctx: &NodeContext| {
                GeneratorSource::new(config.clone(), ctx).map_err(|e| SourceError::unreadable("generator", e))
            })
        }
    })
}

fn kafka_source(job: &JobBuilder, config: &KafkaSourceConfig) -> Result<Stream<KafkaRecord>, OrderJobError> {
    config.validate().map_err(OrderJobError::KafkaConfig)?;
    let partitions = config.source_partitions().map_err(|e| OrderJobError::Topic(Box::new(e)))?;
    let config = config.clone();
    Ok(job.source("kafka", partitions, move |ctx: &NodeContext| KafkaSource::new(config.clone(), ctx)))
}

/// Creates a local output folder and proves it writable. An object-store prefix
/// needs no folder; each table's sink proves it writable when it opens.
fn prepare_output(output: &TableLocation) -> Result<(), OrderJobError> {
    let Some(output) = output.local_path() else { return Ok(()) };
    let fail = |source: std::io::Error| OrderJobError::Output { path: output.to_path_buf(), source };
    std::fs::create_dir_all(output).map_err(fail)?;
    // create_dir_all succeeds on an existing read-only folder; probe writability,
    // with a name of this call's own: the tasks of several processes sharing the
    // folder start at once, and one's removal must not race another's.
    static PROBES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let probe = output.join(format!(".tidemill-write-probe-{}-{n}", std::process::id()));
    std::fs::write(&probe, b"").map_err(fail)?;
    std::fs::remove_file(&probe).map_err(fail)?;
    Ok(())
}
