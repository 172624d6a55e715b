//! Builds a Nexmark query as a job: the generator, event time, the query, and
//! its output.

use std::path::PathBuf;
use std::time::Duration;

use tidemill_kafka::{KafkaRecord, KafkaSource, KafkaSourceConfig, KafkaSourceConfigError, TopicMetadataError};
use tidemill_operators::BytesStreamExt;
use tidemill_runtime::checkpoint::store_for;
use tidemill_runtime::{BuildError, EventTime, Job, JobBuilder, JobConfig, NodeContext, Stream};

use super::event::NexmarkEvent;
use super::output::QueryOutput;
use super::queries::{side_updates, Query, QueryError, SideInput, SideInputError, SideTable};
use super::source::{NexmarkConfig, NexmarkConfigError, NexmarkSource};

/// Everything a Nexmark run needs.
#[derive(Clone, Debug)]
pub struct NexmarkJobSettings {
    /// What to generate.
    pub generator: NexmarkConfig,
    /// Read the events from this Kafka topic (as `--produce-to` writes them:
    /// see [`produce_events`](super::produce_events)) instead of generating them;
    /// one source per partition, and `generator` and `partitions` are not used.
    /// Records that are not an event go to the dead letters.
    pub kafka: Option<KafkaSourceConfig>,
    /// Which query.
    pub query: Query,
    /// Generator partitions (source shards).
    pub partitions: usize,
    /// Shards of every keyed operator.
    pub shards: usize,
    /// How far behind the newest event an event may come and still be on time
    /// (the watermark's delay).
    pub max_out_of_orderness: Duration,
    /// Where the rows go.
    pub output: QueryOutput,
    /// Only generate the events and drop them (the benchmarks' baseline): the
    /// query is not added.
    pub generate_only: bool,
    /// q13's side table: a JSON-lines file of `{"key", "value"}`.
    pub side_input: Option<PathBuf>,
    /// q13's side table as a changelog in a (compacted) Kafka topic, instead of
    /// `side_input`: see [`side_update`](super::queries::side_update).
    pub side_topic: Option<KafkaSourceConfig>,
    /// Checkpoints here (a folder or `s3://...`), if set.
    pub checkpoint_dir: Option<PathBuf>,
    /// The runtime's settings.
    pub runtime: JobConfig,
}

impl NexmarkJobSettings {
    /// `query` over `generator`'s events with defaults: 2 partitions, 2 shards,
    /// a 1 s watermark delay, rows discarded.
    pub fn new(query: Query, generator: NexmarkConfig) -> Self {
        NexmarkJobSettings {
            generator,
            kafka: None,
            query,
            partitions: 2,
            shards: 2,
            max_out_of_orderness: Duration::from_secs(1),
            output: QueryOutput::Discard,
            generate_only: false,
            side_input: None,
            side_topic: None,
            checkpoint_dir: None,
            runtime: JobConfig::default(),
        }
    }
}

/// A Nexmark job that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum NexmarkJobError {
    /// The generator settings are invalid.
    #[error("invalid generator settings")]
    Generator(#[from] NexmarkConfigError),
    /// A count that must be positive is 0.
    #[error("{0} must be at least 1")]
    Zero(&'static str),
    /// The query cannot be added.
    #[error("cannot add the query")]
    Query(#[from] QueryError),
    /// q13's side table cannot be loaded.
    #[error("cannot load the side table")]
    SideInput(#[from] SideInputError),
    /// The Kafka source settings are invalid.
    #[error("invalid Kafka source settings")]
    Kafka(#[from] KafkaSourceConfigError),
    /// The topic to read cannot be asked for its partitions.
    #[error("cannot read the events topic")]
    Topic(#[from] TopicMetadataError),
    /// The checkpoint location is unusable.
    #[error("cannot use the checkpoint location")]
    Checkpoints(#[source] tidemill_runtime::checkpoint::CheckpointError),
    /// The graph or the runtime settings are invalid. Not a `#[source]`: the
    /// build error's message already includes its own cause.
    #[error("cannot build the job: {0}")]
    Build(BuildError),
}

impl From<BuildError> for NexmarkJobError {
    fn from(e: BuildError) -> Self {
        NexmarkJobError::Build(e)
    }
}

/// Builds the job `settings` describe, named `nexmark-<query>`.
///
/// ```
/// use tidemill_job_examples::nexmark::{build, NexmarkConfig, NexmarkJobSettings, Query};
///
/// let settings = NexmarkJobSettings::new(Query::Q5, NexmarkConfig { events: 10_000, ..NexmarkConfig::default() });
/// let summary = tokio::runtime::Runtime::new()?.block_on(build(&settings)?.run())?;
/// assert_eq!(summary.records_in, 10_000);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn build(settings: &NexmarkJobSettings) -> Result<Job, NexmarkJobError> {
    settings.generator.validate()?;
    if settings.partitions == 0 {
        return Err(NexmarkJobError::Zero("partitions"));
    }
    if settings.shards == 0 {
        return Err(NexmarkJobError::Zero("shards"));
    }
    let side_file = match (&settings.side_input, &settings.side_topic) {
        (Some(path), None) if settings.query.needs_side_input() => Some(SideTable::load(path)?),
        _ => None,
    };
    let mut job = Job::builder(&format!("nexmark-{}", settings.query)).config(settings.runtime.clone());
    if let Some(dir) = &settings.checkpoint_dir {
        job = job.checkpoint_store(store_for(&dir.to_string_lossy()).map_err(NexmarkJobError::Checkpoints)?);
    }
    let side = match (&settings.side_topic, side_file) {
        (Some(topic), _) if settings.query.needs_side_input() => {
            let records = kafka_records(&job, topic, "side_topic")?.assign_timestamps(
                "side_time",
                |r: &KafkaRecord| r.timestamp.unwrap_or(EventTime::MIN),
                settings.max_out_of_orderness,
            );
            Some(SideInput::Changelog(side_updates(&records)))
        }
        (_, file) => file.map(SideInput::File),
    };
    let events = event_source(&job, settings)?.assign_timestamps(
        "event_time",
        NexmarkEvent::time,
        settings.max_out_of_orderness,
    );
    if settings.generate_only {
        let dropped = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        events.sink("events", move |_: &NodeContext| Ok(tidemill_runtime::DiscardSink::new(dropped.clone())));
    } else {
        settings.query.attach(&events, settings.shards, &settings.output, side.as_ref())?;
    }
    settings.output.dead_letters(job.dead_letters());
    Ok(job.build()?)
}

/// The events: from the Kafka topic if one is set (one source per partition,
/// decoded from JSON), else from the generator.
fn event_source(job: &JobBuilder, settings: &NexmarkJobSettings) -> Result<Stream<NexmarkEvent>, NexmarkJobError> {
    let Some(kafka) = &settings.kafka else {
        let generator = settings.generator.clone();
        return Ok(job.source("nexmark", settings.partitions, move |ctx: &NodeContext| {
            Ok(NexmarkSource::new(generator.clone(), ctx))
        }));
    };
    Ok(kafka_records(job, kafka, "kafka")?.decode_json::<NexmarkEvent>("decode"))
}

/// A source node `name` with one actor per partition of the topic `config`
/// reads; its records are timed by their Kafka timestamps.
fn kafka_records(
    job: &JobBuilder,
    config: &KafkaSourceConfig,
    name: &str,
) -> Result<Stream<KafkaRecord>, NexmarkJobError> {
    config.validate()?;
    let partitions = config.source_partitions()?;
    let config = config.clone();
    Ok(job.source(name, partitions, move |ctx: &NodeContext| KafkaSource::new(config.clone(), ctx)))
}
