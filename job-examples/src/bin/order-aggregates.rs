//! `order-aggregates`: the seed article's order job on a JSON-lines file, a folder
//! of them, or generated orders, writing three Delta tables.

// mimalloc: the pipeline allocates and frees small strings on several threads at
// once, where glibc malloc's arenas and consolidation cost a large share of CPU.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgGroup, Parser};
use tidemill_job_examples::order_aggregates::{self, GroupOptions, OrderInput, OrderJobSettings, OrderTables};
use tidemill_operators::kafka::{KafkaSourceConfig, PartitionTasks, StartOffsets};
use tidemill_runtime::metrics::MetricsHub;
use tidemill_runtime::JobSummary;

/// Rows of each table shown after a run.
const PREVIEW_ROWS: usize = 3;

/// Counts orders per user in sliding event-time windows and writes them, the
/// distinct valid orders and every rejected record to Delta Lake tables.
///
/// Settings come from, highest first: command-line options, TIDEMILL_* environment
/// variables, the TOML file given with --config, built-in defaults (the seed's Spark
/// job: 5-minute windows every minute, 10-minute watermark delay).
#[derive(Debug, Parser)]
#[command(name = "order-aggregates", version)]
#[command(group(ArgGroup::new("source").required(true).args(["input", "generate", "topic"])))]
struct Cli {
    /// Read order events from this JSON-lines file, or every file in this folder in
    /// file-name order.
    #[arg(long, value_name = "FILE|DIR", env = "TIDEMILL_INPUT")]
    input: Option<PathBuf>,

    /// Generate this many order events (deterministic, with out-of-order, duplicate
    /// and malformed ones; see the --seed, --jitter and --*-share options).
    #[arg(long, value_name = "N", env = "TIDEMILL_GENERATE")]
    generate: Option<u64>,

    /// Read order events from this Kafka topic (one source actor per partition).
    #[arg(long, value_name = "NAME", env = "TIDEMILL_TOPIC")]
    topic: Option<String>,

    /// Kafka bootstrap servers, for --topic.
    #[arg(long, value_name = "HOST:PORT", env = "KAFKA_BOOTSTRAP_SERVERS", default_value = "127.0.0.1:9092")]
    brokers: String,

    /// With --topic: read up to the end offsets found at the first start (kept in
    /// the checkpoint, so a restart has the same end), then finish and exit 0.
    /// Without it the job runs until stopped (SIGTERM or Ctrl-C).
    #[arg(long, requires = "topic")]
    bounded: bool,

    /// With --topic: where to start without a checkpoint, `earliest` or `latest`.
    #[arg(long, value_name = "WHERE", requires = "topic", default_value = "earliest", value_parser = ["earliest", "latest"])]
    start_offsets: String,

    /// With --topic: consumer group the checkpointed offsets are committed to, for
    /// lag tooling [default: the job's name, order-aggregates].
    #[arg(long, value_name = "GROUP", requires = "topic", env = "TIDEMILL_GROUP_ID")]
    group_id: Option<String>,

    /// With --topic: how many Kafka consumers (client threads) the partitions share
    /// [default: the number of CPUs].
    #[arg(long, value_name = "N", requires = "topic", env = "TIDEMILL_KAFKA_CONSUMERS",
          value_parser = clap::value_parser!(u16).range(1..))]
    kafka_consumers: Option<u16>,

    /// With --topic: an extra librdkafka consumer property (repeatable), e.g.
    /// `--kafka-property queued.max.messages.kbytes=1024` for a smaller prefetch
    /// per partition; the ones the source relies on (group.id, offsets) are refused.
    #[arg(long = "kafka-property", value_name = "KEY=VALUE", requires = "topic",
          value_parser = tidemill_job_examples::cli::parse_property)]
    kafka_properties: Vec<(String, String)>,

    /// With --topic: scale out through the consumer group. Every process started
    /// with --group and the same group joins it and runs one task per partition it
    /// is assigned; partitions move between processes as they come and go
    /// (cooperative rebalancing), each task's state with them. Needs a
    /// --checkpoint-dir every process can reach, and a topic keyed by user_id
    /// (order-producer --key user-id). See docs/scale-out.md.
    #[arg(long, requires_all = ["topic", "checkpoint_dir"], env = "TIDEMILL_GROUP")]
    group: bool,

    /// With --group: how long the group waits for a process that stopped answering
    /// (killed) before its partitions go to the others (Kafka's session.timeout.ms;
    /// the broker allows 6s to 5m by default).
    #[arg(long, value_name = "DURATION", requires = "group", default_value = "45s",
          env = "TIDEMILL_SESSION_TIMEOUT", value_parser = humantime::parse_duration)]
    session_timeout: Duration,

    /// Folder for the tables: <DIR>/order_aggregates, <DIR>/orders, <DIR>/dlq.
    #[arg(long, value_name = "DIR", env = "TIDEMILL_OUTPUT")]
    output: PathBuf,

    /// TOML file with settings (keys as in OrderJobSettings: window_size,
    /// window_slide, watermark_delay, allowed_lateness, shards, [runtime], [generator],
    /// [metrics]).
    #[arg(long, value_name = "FILE", env = "TIDEMILL_CONFIG")]
    config: Option<PathBuf>,

    /// Window length, e.g. 5m [default: 5m].
    #[arg(long, value_name = "DURATION", env = "TIDEMILL_WINDOW_SIZE", value_parser = humantime::parse_duration)]
    window_size: Option<Duration>,

    /// Window slide, e.g. 1m [default: 1m].
    #[arg(long, value_name = "DURATION", env = "TIDEMILL_WINDOW_SLIDE", value_parser = humantime::parse_duration)]
    window_slide: Option<Duration>,

    /// Watermark delay: how far behind the newest event time the watermark trails
    /// [default: 10m].
    #[arg(long, value_name = "DURATION", env = "TIDEMILL_WATERMARK_DELAY", value_parser = humantime::parse_duration)]
    watermark_delay: Option<Duration>,

    /// How long past its end a window waits before it is emitted [default: 0s].
    #[arg(long, value_name = "DURATION", env = "TIDEMILL_ALLOWED_LATENESS", value_parser = humantime::parse_duration)]
    allowed_lateness: Option<Duration>,

    /// Shards of the keyed operators [default: 2].
    #[arg(long, value_name = "N", env = "TIDEMILL_SHARDS")]
    shards: Option<usize>,

    /// Records per batch between actors [default: 1024].
    #[arg(long, value_name = "N", env = "TIDEMILL_BATCH_SIZE")]
    batch_size: Option<usize>,

    /// Batches an edge holds before its sender waits [default: 8].
    #[arg(long, value_name = "N", env = "TIDEMILL_EDGE_CAPACITY")]
    edge_capacity: Option<usize>,

    /// Generator: random seed [default: 42].
    #[arg(long, value_name = "N", env = "TIDEMILL_SEED")]
    seed: Option<u64>,

    /// Generator: distinct users [default: 1000].
    #[arg(long, value_name = "N", env = "TIDEMILL_USERS")]
    users: Option<u32>,

    /// Generator: largest out-of-order jitter of event times [default: 2s].
    #[arg(long, value_name = "DURATION", env = "TIDEMILL_JITTER", value_parser = humantime::parse_duration)]
    jitter: Option<Duration>,

    /// Generator: share of duplicated events, 0..1 [default: 0.01].
    #[arg(long, value_name = "SHARE", env = "TIDEMILL_DUPLICATE_SHARE")]
    duplicate_share: Option<f64>,

    /// Generator: share of malformed events, 0..1 [default: 0.01].
    #[arg(long, value_name = "SHARE", env = "TIDEMILL_MALFORMED_SHARE")]
    malformed_share: Option<f64>,

    /// Generator: most events per second of wall time [default: unlimited].
    #[arg(long, value_name = "N", env = "TIDEMILL_RATE")]
    rate: Option<u64>,

    /// Keep checkpoints in this folder; started again with the same folder the job
    /// resumes from its newest checkpoint (exactly once into the tables).
    #[arg(long, value_name = "DIR", env = "TIDEMILL_CHECKPOINT_DIR")]
    checkpoint_dir: Option<PathBuf>,

    /// Time between checkpoints, e.g. 30s, 1s, 100ms [default: 30s with
    /// --checkpoint-dir; without it the tables are committed once, at the end].
    #[arg(long, value_name = "DURATION", env = "TIDEMILL_CHECKPOINT_INTERVAL", value_parser = humantime::parse_duration)]
    checkpoint_interval: Option<Duration>,

    /// The most records one source partition reads between two checkpoints (the
    /// seed's maxOffsetsPerTrigger) [default: no cap]; needs checkpoints.
    #[arg(long, value_name = "N", env = "TIDEMILL_MAX_RECORDS_PER_CHECKPOINT")]
    max_records_per_checkpoint: Option<u64>,

    /// Watermark alignment: a partition more than this ahead (in event time) of the
    /// slowest active partition waits for the others, which bounds the state kept
    /// for the watermark when partitions are read at different speeds (a catch-up
    /// run) [default: off]. A few times the window slide, e.g. 2m.
    #[arg(long, value_name = "DURATION", env = "TIDEMILL_MAX_EVENT_TIME_DRIFT", value_parser = humantime::parse_duration)]
    max_event_time_drift: Option<Duration>,

    /// Serve /metrics (Prometheus), /healthz and /readyz here, e.g. 0.0.0.0:9464 to
    /// be scraped from other hosts, or `off` [default: 127.0.0.1:9464, localhost
    /// only; a free port if that is taken]. OTLP push: set OTEL_EXPORTER_OTLP_ENDPOINT.
    #[arg(long, value_name = "HOST:PORT|off", env = "TIDEMILL_METRICS_ADDR", value_parser = tidemill_job_examples::cli::parse_metrics_addr)]
    metrics_addr: Option<tidemill_runtime::metrics::MetricsAddr>,

    /// Write the job summary as JSON to this file as well.
    #[arg(long, value_name = "FILE")]
    summary_json: Option<PathBuf>,

    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `tidemill_runtime=debug`.
    #[arg(
        long,
        value_name = "FILTER",
        env = "RUST_LOG",
        default_value = "warn,tidemill_operators::kafka::group=info,tidemill_operators::kafka::brokers=info,tidemill::progress=info,tidemill_runtime::metrics=info,deltalake_core::writer::stats=error,deltalake_core::kernel::transaction=error"
    )]
    log: String,
}

impl Cli {
    fn settings(&self) -> Result<OrderJobSettings, String> {
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
        set(&mut s.generator.seed, &self.seed);
        set(&mut s.generator.users, &self.users);
        set(&mut s.generator.max_jitter, &self.jitter);
        set(&mut s.generator.duplicate_share, &self.duplicate_share);
        set(&mut s.generator.malformed_share, &self.malformed_share);
        set(&mut s.generator.count, &self.generate);
        if self.rate.is_some() {
            s.generator.rate_limit = self.rate;
        }
        if let Some(addr) = self.metrics_addr {
            s.metrics.addr = addr;
            s.metrics.fallback_to_free_port = false;
        }
        Ok(s)
    }

    fn input(&self, settings: &OrderJobSettings) -> OrderInput {
        if let Some(topic) = &self.topic {
            let mut config = KafkaSourceConfig::new(&self.brokers, topic);
            if self.bounded {
                config = config.bounded();
            }
            if self.start_offsets == "latest" {
                config.start = StartOffsets::Latest;
            }
            config.group_id = self.group_id.clone();
            config.consumers = self.kafka_consumers.map(usize::from);
            config.properties.extend(self.kafka_properties.iter().cloned());
            return OrderInput::Kafka(config);
        }
        match &self.input {
            Some(path) => OrderInput::Path(path.clone()),
            None => OrderInput::Generate(settings.generator.clone()),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tidemill_job_examples::cli::run_main(&cli.log, || run(&cli))
}

fn run(cli: &Cli) -> Result<(), String> {
    let settings = cli.settings()?;
    let input = cli.input(&settings);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    if cli.group {
        let OrderInput::Kafka(source) = &input else { return Err("--group needs --topic".into()) };
        let summary = runtime.block_on(run_group(cli, source, &settings))?;
        return finish(cli, &runtime, &input, &summary);
    }
    let summary = runtime.block_on(async {
        let job = order_aggregates::build(&input, &cli.output, &settings).map_err(|e| e.to_string())?;
        let handle = job.start().await.map_err(|e| e.to_string())?;
        handle.wait_or_stop_on_signal().await.map_err(|e| e.to_string())
    })?;
    finish(cli, &runtime, &input, &summary)
}

/// Group mode: join the consumer group and run a task per assigned partition
/// until every owned task finished (--bounded) or SIGTERM/SIGINT (tasks are
/// suspended: checkpointed and committed, windows kept open for the next owner).
async fn run_group(cli: &Cli, source: &KafkaSourceConfig, settings: &OrderJobSettings) -> Result<JobSummary, String> {
    let options = GroupOptions { group_id: cli.group_id.clone(), session_timeout: cli.session_timeout };
    let build = |partition: i32| {
        order_aggregates::build_task(source, &options, partition, &cli.output, settings).map_err(|e| e.to_string())
    };
    let hub = MetricsHub::new();
    // One endpoint for every task of this process (the tasks themselves have none).
    let _endpoint =
        hub.serve(&settings.metrics, &options.group_id()).await.map_err(|e| format!("metrics endpoint: {e}"))?;
    let tasks = PartitionTasks::new(options.group_config(source), build).bounded(cli.bounded).metrics_hub(hub);
    let outcome = tasks.run(shutdown_signal()).await.map_err(|e| e.to_string())?;
    eprintln!(
        "group {}: ran partitions {:?}, finished {:?}, handed over {}, lost {}",
        options.group_id(),
        outcome.owned,
        outcome.finished,
        outcome.handed_over,
        outcome.lost
    );
    Ok(outcome.summary.unwrap_or_default())
}

/// Completes on the first SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut terminate), Ok(mut interrupt)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
}

fn finish(
    cli: &Cli,
    runtime: &tokio::runtime::Runtime,
    input: &OrderInput,
    summary: &JobSummary,
) -> Result<(), String> {
    if let Some(path) = &cli.summary_json {
        let json = serde_json::to_string_pretty(summary).map_err(|e| e.to_string())?;
        std::fs::write(path, json).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    let tables = OrderTables::under(&cli.output);
    let report = runtime.block_on(order_aggregates::render_report(input, &tables, summary, PREVIEW_ROWS));
    // Not print!: that panics when stdout is a closed pipe.
    std::io::stdout().write_all(report.as_bytes()).map_err(|e| format!("cannot write the report: {e}"))
}
