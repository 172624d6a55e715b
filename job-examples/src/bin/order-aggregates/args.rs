//! The command line of `order-aggregates` and how it becomes the job's settings.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Parser};
use tidemill_delta::TableLocation;
use tidemill_job_examples::cli::ExitError;
use tidemill_job_examples::kafka_client::{self, KafkaClientArgs};
use tidemill_job_examples::order_aggregates::{OrderInput, OrderJobSettings};
use tidemill_kafka::{KafkaSourceConfig, StartOffsets};
use tidemill_runtime::checkpoint::FromCheckpoint;
use tidemill_runtime::{ErrorChain, ExistingOutput};

use crate::exit::invalid_setting;

/// Counts orders per user in sliding event-time windows and writes them, the
/// distinct valid orders and every rejected record to Delta Lake tables.
///
/// Settings come from, highest first: command-line options, TIDEMILL_* environment
/// variables, the TOML file given with --config, built-in defaults (the reference Spark
/// job: 5-minute windows every minute, 10-minute watermark delay).
#[derive(Debug, Parser)]
#[command(name = "order-aggregates", version)]
#[command(group(ArgGroup::new("source").required(true).args(["input", "generate", "topic"])))]
pub(crate) struct Cli {
    /// Read order events from this JSON-lines file, or every file in this folder in
    /// file-name order.
    #[arg(long, value_name = "FILE|DIR", env = "TIDEMILL_INPUT")]
    pub(crate) input: Option<PathBuf>,

    /// Generate this many order events (deterministic, with out-of-order, duplicate
    /// and malformed ones; see the --seed, --jitter and --*-share options).
    #[arg(long, value_name = "N", env = "TIDEMILL_GENERATE")]
    pub(crate) generate: Option<u64>,

    /// Read order events from this Kafka topic (one source actor per partition).
    #[arg(long, value_name = "NAME", env = "TIDEMILL_TOPIC")]
    pub(crate) topic: Option<String>,

    /// Kafka bootstrap servers, for --topic [default: bootstrap.servers of the
    /// Kafka client properties, else 127.0.0.1:9092].
    #[arg(long, value_name = "HOST:PORT", env = "KAFKA_BOOTSTRAP_SERVERS")]
    pub(crate) brokers: Option<String>,

    /// With --topic: read up to the end offsets found at the first start (kept in
    /// the checkpoint, so a restart has the same end), then finish and exit 0.
    /// Without it the job runs until stopped (SIGTERM or Ctrl-C).
    #[arg(long, requires = "topic")]
    pub(crate) bounded: bool,

    /// With --topic: where to start without a checkpoint, `earliest` or `latest`.
    #[arg(long, value_name = "WHERE", requires = "topic", default_value = "earliest", value_parser = ["earliest", "latest"])]
    pub(crate) start_offsets: String,

    /// With --topic: consumer group the checkpointed offsets are committed to, for
    /// lag tooling [default: the job's name, order-aggregates].
    #[arg(long, value_name = "GROUP", requires = "topic", env = "TIDEMILL_GROUP_ID")]
    pub(crate) group_id: Option<String>,

    /// With --topic: how many Kafka consumers (client threads) the partitions share
    /// [default: the number of CPUs].
    #[arg(long, value_name = "N", requires = "topic", env = "TIDEMILL_KAFKA_CONSUMERS",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) kafka_consumers: Option<u16>,

    /// With --topic: Kafka client properties (TLS, SASL, fetch sizes) for every
    /// Kafka client of the job; see docs/kafka-security.md.
    #[command(flatten)]
    pub(crate) kafka: KafkaClientArgs,

    /// With --topic: scale out through the consumer group. Every process started
    /// with --group and the same group joins it and runs one task per partition it
    /// is assigned; partitions move between processes as they come and go
    /// (cooperative rebalancing), each task's state with them. Needs a
    /// --checkpoint-dir every process can reach, and a topic keyed by user_id
    /// (order-producer --key user-id) or --repartition. See docs/scale-out.md.
    #[arg(long, requires_all = ["topic", "checkpoint_dir"], env = "TIDEMILL_GROUP")]
    pub(crate) group: bool,

    /// With --group: run the job as two stages joined by the repartition topic
    /// <GROUP>-repartition, for a topic not keyed by user_id (the reference
    /// producer keys by order_id): stage 1 decodes, deduplicates and writes
    /// `orders` per input partition, and writes the orders by user_id to the
    /// repartition topic (exactly once, with watermarks); stage 2 windows each
    /// repartition partition. Both are tasks of every process. See docs/scale-out.md.
    #[arg(long, requires = "group", env = "TIDEMILL_REPARTITION")]
    pub(crate) repartition: bool,

    /// With --repartition: partitions of the repartition topic when it is created
    /// (the stage-2 tasks) [default: as many as the input topic; an existing
    /// topic keeps its count]. Given, an existing topic must have this many.
    #[arg(long, value_name = "N", requires = "repartition", env = "TIDEMILL_REPARTITION_PARTITIONS",
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub(crate) repartition_partitions: Option<u32>,

    /// With --group: how long the group waits for a process that stopped answering
    /// (killed) before its partitions go to the others (Kafka's session.timeout.ms;
    /// the broker allows 6s to 5m by default).
    #[arg(long, value_name = "DURATION", requires = "group", default_value = "45s",
          env = "TIDEMILL_SESSION_TIMEOUT", value_parser = humantime::parse_duration)]
    pub(crate) session_timeout: Duration,

    /// Where the tables go: <DIR>/order_aggregates, <DIR>/orders, <DIR>/dlq. A
    /// folder, a file:// URL or s3://bucket/prefix (credentials from AWS_*).
    #[arg(long, value_name = "DIR", env = "TIDEMILL_OUTPUT")]
    pub(crate) output: TableLocation,

    /// TOML file with settings (keys as in OrderJobSettings: window_size,
    /// window_slide, watermark_delay, allowed_lateness, shards, [runtime], [generator],
    /// [metrics], [kafka.properties]).
    #[arg(long, value_name = "FILE", env = "TIDEMILL_CONFIG")]
    pub(crate) config: Option<PathBuf>,

    /// Window length, e.g. 5m [default: 5m].
    #[arg(long, value_name = "DURATION", env = "TIDEMILL_WINDOW_SIZE", value_parser = humantime::parse_duration)]
    pub(crate) window_size: Option<Duration>,

    /// Window slide, e.g. 1m [default: 1m].
    #[arg(long, value_name = "DURATION", env = "TIDEMILL_WINDOW_SLIDE", value_parser = humantime::parse_duration)]
    pub(crate) window_slide: Option<Duration>,

    /// Watermark delay: how far behind the newest event time the watermark trails
    /// [default: 10m].
    #[arg(long, value_name = "DURATION", env = "TIDEMILL_WATERMARK_DELAY", value_parser = humantime::parse_duration)]
    pub(crate) watermark_delay: Option<Duration>,

    /// How long past its end a window waits before it is emitted [default: 0s].
    #[arg(long, value_name = "DURATION", env = "TIDEMILL_ALLOWED_LATENESS", value_parser = humantime::parse_duration)]
    pub(crate) allowed_lateness: Option<Duration>,

    /// Shards of the keyed operators [default: 2].
    #[arg(long, value_name = "N", env = "TIDEMILL_SHARDS")]
    pub(crate) shards: Option<usize>,

    /// Records per batch between actors [default: 1024].
    #[arg(long, value_name = "N", env = "TIDEMILL_BATCH_SIZE")]
    pub(crate) batch_size: Option<usize>,

    /// Batches an edge holds before its sender waits [default: 8].
    #[arg(long, value_name = "N", env = "TIDEMILL_EDGE_CAPACITY")]
    pub(crate) edge_capacity: Option<usize>,

    /// Generator: random seed [default: 42].
    #[arg(long, value_name = "N", env = "TIDEMILL_SEED")]
    pub(crate) seed: Option<u64>,

    /// Generator: distinct users [default: 1000].
    #[arg(long, value_name = "N", env = "TIDEMILL_USERS")]
    pub(crate) users: Option<u32>,

    /// Generator: largest out-of-order jitter of event times [default: 2s].
    #[arg(long, value_name = "DURATION", env = "TIDEMILL_JITTER", value_parser = humantime::parse_duration)]
    pub(crate) jitter: Option<Duration>,

    /// Generator: share of duplicated events, 0..1 [default: 0.01].
    #[arg(long, value_name = "SHARE", env = "TIDEMILL_DUPLICATE_SHARE")]
    pub(crate) duplicate_share: Option<f64>,

    /// Generator: share of malformed events, 0..1 [default: 0.01].
    #[arg(long, value_name = "SHARE", env = "TIDEMILL_MALFORMED_SHARE")]
    pub(crate) malformed_share: Option<f64>,

    /// Generator: most events per second of wall time [default: unlimited].
    #[arg(long, value_name = "N", env = "TIDEMILL_RATE")]
    pub(crate) rate: Option<u64>,

    /// Keep checkpoints in this folder, or in object storage (`s3://bucket/prefix`,
    /// configured by AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    /// AWS_REGION); started again with the same location the job resumes from its
    /// newest checkpoint (exactly once into the tables).
    #[arg(long, value_name = "DIR|URL", env = "TIDEMILL_CHECKPOINT_DIR")]
    pub(crate) checkpoint_dir: Option<PathBuf>,

    /// Which checkpoint of --checkpoint-dir to resume: `latest`, `previous` (when
    /// the newest is damaged; what the sinks committed after it is undone first,
    /// so the tables stay exactly once) or an epoch number [default: latest].
    #[arg(
        long,
        value_name = "latest|previous|EPOCH",
        requires = "checkpoint_dir",
        conflicts_with = "group",
        env = "TIDEMILL_FROM_CHECKPOINT"
    )]
    pub(crate) from_checkpoint: Option<FromCheckpoint>,

    /// What a run without a checkpoint does when a table already holds output of
    /// an earlier run of this job: `refuse` (stop with an error, nothing written)
    /// or `append` (add this run's rows under a new lineage) [default: refuse].
    #[arg(long, value_name = "refuse|append", env = "TIDEMILL_EXISTING_OUTPUT")]
    pub(crate) existing_output: Option<ExistingOutput>,

    /// The largest record read, in bytes; a longer line or Kafka message goes to
    /// the dlq table as record_too_large with its first bytes [default: 1048576].
    #[arg(long, value_name = "BYTES", env = "TIDEMILL_MAX_RECORD_BYTES")]
    pub(crate) max_record_bytes: Option<usize>,

    /// Time between checkpoints, e.g. 30s, 1s, 100ms [default: 30s with
    /// --checkpoint-dir; without it the tables are committed once, at the end].
    #[arg(long, value_name = "DURATION", env = "TIDEMILL_CHECKPOINT_INTERVAL", value_parser = humantime::parse_duration)]
    pub(crate) checkpoint_interval: Option<Duration>,

    /// The most records one source partition reads between two checkpoints (the
    /// the reference job's maxOffsetsPerTrigger) [default: no cap]; needs checkpoints.
    #[arg(long, value_name = "N", env = "TIDEMILL_MAX_RECORDS_PER_CHECKPOINT")]
    pub(crate) max_records_per_checkpoint: Option<u64>,

    /// Watermark alignment: a partition more than this ahead (in event time) of the
    /// slowest active partition waits for the others, which bounds the state kept
    /// for the watermark when partitions are read at different speeds (a catch-up
    /// run) [default: off]. A few times the window slide, e.g. 2m.
    #[arg(long, value_name = "DURATION", env = "TIDEMILL_MAX_EVENT_TIME_DRIFT", value_parser = humantime::parse_duration)]
    pub(crate) max_event_time_drift: Option<Duration>,

    /// Serve the status page (/), its JSON API (/api/v1/...), /metrics
    /// (Prometheus), /healthz and /readyz here, e.g. 0.0.0.0:9464 to be scraped
    /// from other hosts, or `off` [default: 127.0.0.1:9464, localhost only; a free
    /// port if that is taken]. OTLP push: set OTEL_EXPORTER_OTLP_ENDPOINT.
    #[arg(long, value_name = "HOST:PORT|off", env = "TIDEMILL_METRICS_ADDR", value_parser = tidemill_job_examples::cli::parse_metrics_addr)]
    pub(crate) metrics_addr: Option<tidemill_runtime::metrics::MetricsAddr>,

    /// Let the status page show the first bytes of dead letters' payloads
    /// (hidden by default: payloads may hold personal data).
    #[arg(long, env = "TIDEMILL_STATUS_SHOW_PAYLOADS")]
    pub(crate) status_show_payloads: bool,

    /// Write the job summary as JSON to this file as well.
    #[arg(long, value_name = "FILE")]
    pub(crate) summary_json: Option<PathBuf>,

    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `tidemill_runtime=debug`.
    #[arg(
        long,
        value_name = "FILTER",
        env = "RUST_LOG",
        default_value = "warn,tidemill_kafka::group=info,tidemill_kafka::brokers=info,tidemill::progress=info,tidemill_runtime::metrics=info,deltalake_core::writer::stats=error,deltalake_core::kernel::transaction=error"
    )]
    pub(crate) log: String,
}

impl Cli {
    /// The settings from the config file, the environment and the command line,
    /// validated: an error here is a usage error (exit status 2).
    pub(crate) fn settings(&self) -> Result<OrderJobSettings, ExitError> {
        let mut s = self.merged_settings().map_err(ExitError::Usage)?;
        s.validate().map_err(|e| ExitError::Usage(invalid_setting(&e.setting(), &e.to_string())))?;
        if self.kafka.is_given() && self.topic.is_none() {
            return Err(ExitError::Usage("--kafka-config and --kafka-property need --topic".into()));
        }
        let usage = |e: &(dyn std::error::Error + 'static)| ExitError::Usage(format!("kafka: {}", ErrorChain(e)));
        s.kafka.properties = self.kafka.merge_with_env(&s.kafka.properties).map_err(|e| usage(&e))?;
        s.kafka.properties.check(&[], "job").map_err(|e| usage(&e))?;
        Ok(s)
    }

    fn merged_settings(&self) -> Result<OrderJobSettings, String> {
        let mut s = match &self.config {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|e| format!("cannot read config {}: {e}", path.display()))?;
                toml::from_str(&text).map_err(|e| format!("invalid config {}: {e}", path.display()))?
            }
            None => OrderJobSettings::default(),
        };
        fn set<T: Clone>(target: &mut T, value: &Option<T>) {
            if let Some(v) = value {
                *target = v.clone();
            }
        }
        set(&mut s.window_size, &self.window_size);
        set(&mut s.window_slide, &self.window_slide);
        set(&mut s.watermark_delay, &self.watermark_delay);
        set(&mut s.allowed_lateness, &self.allowed_lateness);
        set(&mut s.shards, &self.shards);
        set(&mut s.runtime.batch_size, &self.batch_size);
        set(&mut s.runtime.edge_capacity, &self.edge_capacity);
        if self.checkpoint_dir.is_some() {
            s.checkpoint_dir = self.checkpoint_dir.clone();
        }
        if self.max_records_per_checkpoint.is_some() {
            s.runtime.max_records_per_checkpoint = self.max_records_per_checkpoint;
        }
        if self.checkpoint_interval.is_some() {
            s.runtime.checkpoint_interval = self.checkpoint_interval;
        }
        if self.max_event_time_drift.is_some() {
            s.runtime.max_event_time_drift = self.max_event_time_drift;
        }
        set(&mut s.runtime.existing_output, &self.existing_output);
        set(&mut s.runtime.max_record_bytes, &self.max_record_bytes);
        set(&mut s.generator.seed, &self.seed);
        set(&mut s.generator.users, &self.users);
        set(&mut s.generator.max_jitter, &self.jitter);
        set(&mut s.generator.duplicate_share, &self.duplicate_share);
        set(&mut s.generator.malformed_share, &self.malformed_share);
        set(&mut s.generator.count, &self.generate);
        if self.rate.is_some() {
            s.generator.rate_limit = self.rate;
        }
        if self.status_show_payloads {
            s.metrics.show_payloads = true;
        }
        if let Some(addr) = self.metrics_addr {
            s.metrics.addr = addr;
            s.metrics.fallback_to_free_port = false;
        }
        Ok(s)
    }

    pub(crate) fn input(&self, settings: &OrderJobSettings) -> OrderInput {
        if let Some(topic) = &self.topic {
            let mut properties = settings.kafka.properties.clone();
            let brokers = kafka_client::brokers(self.brokers.as_deref(), &mut properties);
            let mut config = KafkaSourceConfig::new(brokers, topic);
            if self.bounded {
                config = config.bounded();
            }
            if self.start_offsets == "latest" {
                config.start = StartOffsets::Latest;
            }
            config.group_id = self.group_id.clone();
            config.consumers = self.kafka_consumers.map(usize::from);
            config.properties = properties;
            return OrderInput::Kafka(config);
        }
        match &self.input {
            Some(path) => OrderInput::Path(path.clone()),
            None => OrderInput::Generate(settings.generator.clone()),
        }
    }
}
