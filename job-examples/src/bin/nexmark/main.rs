//! `nexmark`: one Nexmark query over generated events (or events in a Kafka
//! topic), into a Delta table (or nowhere, to measure the pipeline alone),
//! optionally dumping the events for another engine; or the events written into
//! a Kafka topic.
//!
//! ```text
//! nexmark --query q5 --events 10000000 --output out/
//! nexmark --query q3 --events 100000 --output out/ --dump-events events/
//! nexmark --produce-to nexmark-events --events 10000000 --partitions 4
//! nexmark --query q5 --topic nexmark-events --bounded --output out/
//! ```

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use tidemill_delta::TableLocation;
use tidemill_job_examples::cli::ExitError;
use tidemill_job_examples::kafka_client::{self, KafkaClientArgs};
use tidemill_job_examples::nexmark::{self, NexmarkConfig, NexmarkJobSettings, NexmarkTopic, Query, QueryOutput};
use tidemill_kafka::{ClientProperties, KafkaSourceConfig};
use tidemill_runtime::{ErrorChain, JobConfig};

/// Runs one Nexmark query on generated events or events in a Kafka topic, or
/// writes the events into a topic (--produce-to).
#[derive(Parser, Debug)]
#[command(name = "nexmark", version)]
struct Cli {
    /// The query: q0 to q9, q11 or q13.
    #[arg(long, required_unless_present = "produce_to")]
    query: Option<Query>,
    /// Write the generated events into this Kafka topic (created with
    /// --partitions partitions if missing) and exit, instead of running a query.
    #[arg(long, value_name = "TOPIC", conflicts_with_all = ["query", "topic"])]
    produce_to: Option<String>,
    /// Read the events from this Kafka topic (as --produce-to writes them) instead
    /// of generating them; one source per partition.
    #[arg(long, value_name = "TOPIC")]
    topic: Option<String>,
    /// With --topic or --side-topic: stop at the partitions' ends as of the start.
    #[arg(long)]
    bounded: bool,
    /// Kafka bootstrap servers [default: bootstrap.servers of the Kafka client
    /// properties, else 127.0.0.1:9092].
    #[arg(long, value_name = "HOST:PORT,...", env = "KAFKA_BOOTSTRAP_SERVERS")]
    brokers: Option<String>,
    #[command(flatten)]
    kafka: KafkaClientArgs,
    /// Events to generate (people, auctions and bids, 1 : 3 : 46).
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Events per second of event time.
    #[arg(long, default_value_t = 10_000)]
    rate: u64,
    /// Shuffle events in groups of this many (event-time skew; 1 = in order).
    #[arg(long, default_value_t = 1)]
    out_of_order_group: u64,
    /// Another event stream of the same shape (0 = the reference generator's).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Generator partitions (with --produce-to: the new topic's partitions).
    #[arg(long, default_value_t = 2)]
    partitions: usize,
    /// Shards of keyed operators.
    #[arg(long, default_value_t = 2)]
    shards: usize,
    /// Watermark delay: how late an event may be and still count.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1s")]
    max_out_of_orderness: Duration,
    /// Folder or `s3://bucket/prefix` for the tables `<query>` and `dlq`.
    #[arg(long, required_unless_present_any = ["discard", "produce_to"])]
    output: Option<String>,
    /// Drop the rows instead of writing them (measures the pipeline alone).
    #[arg(long, conflicts_with = "output")]
    discard: bool,
    /// Only generate the events and drop them, without the query (the
    /// benchmarks' baseline).
    #[arg(long)]
    generate_only: bool,
    /// q13's side table: JSON lines of {"key": <integer>, "value": <string>}.
    #[arg(long, conflicts_with = "side_topic")]
    side_input: Option<PathBuf>,
    /// q13's side table as a changelog in a (compacted) Kafka topic: key the table
    /// key (decimal), value the new value, an empty value a removal, timestamp when
    /// it takes effect; each bid is joined with the table as of its time.
    #[arg(long, value_name = "TOPIC")]
    side_topic: Option<String>,
    /// Also write the events as JSON lines per kind under this folder.
    #[arg(long)]
    dump_events: Option<PathBuf>,
    /// Checkpoint folder (or `s3://...`); resumes from its latest checkpoint.
    #[arg(long)]
    checkpoint_dir: Option<PathBuf>,
    /// Time between checkpoints (with --checkpoint-dir).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    checkpoint_interval: Duration,
    /// Log filter (tracing EnvFilter syntax).
    #[arg(long, env = "TIDEMILL_LOG", default_value = "warn")]
    log: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tidemill_job_examples::cli::run_main(&cli.log, || run(&cli))
}

fn run(cli: &Cli) -> Result<(), ExitError> {
    let usage = |e: &(dyn std::error::Error + 'static)| ExitError::Usage(ErrorChain(e).to_string());
    let generator = NexmarkConfig {
        events: cli.events,
        events_per_second: cli.rate,
        out_of_order_group: cli.out_of_order_group,
        seed: cli.seed,
        ..NexmarkConfig::default()
    };
    let mut props = cli.kafka.merge_with_env(&ClientProperties::new()).map_err(|e| usage(&e))?;
    let brokers = kafka_client::brokers(cli.brokers.as_deref(), &mut props);
    // Secrets among the properties never reach the log or the final error.
    tidemill_job_examples::cli::redact_output(props.redactor().map_err(|e| usage(&e))?);
    if cli.bounded && cli.topic.is_none() && cli.side_topic.is_none() {
        return Err(ExitError::Usage("--bounded applies to --topic or --side-topic; neither is given".into()));
    }
    if cli.partitions == 0 {
        return Err(ExitError::Usage("--partitions must be at least 1".into()));
    }
    if let Some(topic) = &cli.produce_to {
        return produce(
            cli,
            &generator,
            NexmarkTopic { brokers, topic: topic.clone(), partitions: cli.partitions, properties: props },
        );
    }
    let Some(query) = cli.query else { return Err(ExitError::Usage("--query is required".into())) };
    let output = match &cli.output {
        Some(location) => QueryOutput::Delta(TableLocation::parse(location).map_err(|e| usage(&e))?),
        None => QueryOutput::Discard,
    };
    let topic = |name: &String| {
        let config = KafkaSourceConfig { properties: props.clone(), ..KafkaSourceConfig::new(&brokers, name) };
        if cli.bounded {
            config.bounded()
        } else {
            config
        }
    };
    let settings = NexmarkJobSettings {
        kafka: cli.topic.as_ref().map(topic),
        side_topic: cli.side_topic.as_ref().map(topic),
        partitions: cli.partitions,
        shards: cli.shards,
        max_out_of_orderness: cli.max_out_of_orderness,
        output,
        checkpoint_dir: cli.checkpoint_dir.clone(),
        side_input: cli.side_input.clone(),
        generate_only: cli.generate_only,
        runtime: JobConfig {
            checkpoint_interval: cli.checkpoint_dir.as_ref().map(|_| cli.checkpoint_interval),
            ..JobConfig::default()
        },
        ..NexmarkJobSettings::new(query, generator.clone())
    };
    let job = nexmark::build(&settings).map_err(|e| usage(&e))?;
    if let Some(dir) = &cli.dump_events {
        nexmark::dump_events(&generator, dir).map_err(|e| usage(&e))?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    let started = Instant::now();
    let summary = runtime.block_on(async {
        let handle = job.start().await.map_err(|e| ExitError::Failed(ErrorChain(&e).to_string()))?;
        handle.wait_or_stop_on_signal().await.map_err(|e| ExitError::Failed(ErrorChain(&e).to_string()))
    })?;
    let seconds = started.elapsed().as_secs_f64();
    let rows = summary.committed_by_sink.get(query.name()).copied().unwrap_or(0);
    let label = if cli.generate_only { "generate only".to_string() } else { query.to_string() };
    println!(
        "{label}: {} events in {seconds:.2} s ({:.0} events/s); {rows} rows committed to {}; {} dead letters",
        summary.records_in,
        summary.records_in as f64 / seconds.max(1e-9),
        cli.output.as_deref().unwrap_or("nowhere (--discard)"),
        summary.dead_letters,
    );
    Ok(())
}

/// `--produce-to`: the events into a topic (and the dump, if asked).
fn produce(cli: &Cli, generator: &NexmarkConfig, target: NexmarkTopic) -> Result<(), ExitError> {
    generator.validate().map_err(|e| ExitError::Usage(ErrorChain(&e).to_string()))?;
    if let Some(dir) = &cli.dump_events {
        nexmark::dump_events(generator, dir).map_err(|e| ExitError::Usage(ErrorChain(&e).to_string()))?;
    }
    let started = Instant::now();
    let produced =
        nexmark::produce_events(generator, &target).map_err(|e| ExitError::Failed(ErrorChain(&e).to_string()))?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "produced {} events ({:.1} MB) to topic {} ({} partitions) in {seconds:.2} s ({:.0} events/s)",
        produced.records,
        produced.bytes as f64 / 1e6,
        target.topic,
        produced.partitions,
        produced.records as f64 / seconds.max(1e-9),
    );
    Ok(())
}
