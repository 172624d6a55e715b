//! `nexmark`: one Nexmark query over generated events, into a Delta table (or
//! nowhere, to measure the pipeline alone), optionally dumping the events for
//! another engine.
//!
//! ```text
//! nexmark --query q5 --events 10000000 --output out/
//! nexmark --query q3 --events 100000 --output out/ --dump-events events/
//! ```

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use tidemill_delta::TableLocation;
use tidemill_job_examples::cli::ExitError;
use tidemill_job_examples::nexmark::{self, NexmarkConfig, NexmarkJobSettings, Query, QueryOutput};
use tidemill_runtime::{ErrorChain, JobConfig};

/// Runs one Nexmark query on generated events.
#[derive(Parser, Debug)]
#[command(name = "nexmark", version)]
struct Cli {
    /// The query: q0, q1, q2, q3, q4, q5, q7, q8, q9, q11 or q13.
    #[arg(long)]
    query: Query,
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
    /// Generator partitions.
    #[arg(long, default_value_t = 2)]
    partitions: usize,
    /// Shards of keyed operators.
    #[arg(long, default_value_t = 2)]
    shards: usize,
    /// Watermark delay: how late an event may be and still count.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1s")]
    max_out_of_orderness: Duration,
    /// Folder or `s3://bucket/prefix` for the tables `<query>` and `dlq`.
    #[arg(long, required_unless_present = "discard")]
    output: Option<String>,
    /// Drop the rows instead of writing them (measures the pipeline alone).
    #[arg(long, conflicts_with = "output")]
    discard: bool,
    /// Only generate the events and drop them, without the query (the
    /// benchmarks' baseline).
    #[arg(long)]
    generate_only: bool,
    /// q13's side table: JSON lines of {"key": <integer>, "value": <string>}.
    #[arg(long)]
    side_input: Option<PathBuf>,
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
    let output = match &cli.output {
        Some(location) => QueryOutput::Delta(TableLocation::parse(location).map_err(|e| usage(&e))?),
        None => QueryOutput::Discard,
    };
    let settings = NexmarkJobSettings {
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
        ..NexmarkJobSettings::new(cli.query, generator.clone())
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
    let rows = summary.committed_by_sink.get(cli.query.name()).copied().unwrap_or(0);
    let label = if cli.generate_only { "generate only".to_string() } else { cli.query.to_string() };
    println!(
        "{label}: {} events in {seconds:.2} s ({:.0} events/s); {rows} rows committed to {}; {} dead letters",
        summary.records_in,
        summary.records_in as f64 / seconds.max(1e-9),
        cli.output.as_deref().unwrap_or("nowhere (--discard)"),
        summary.dead_letters,
    );
    Ok(())
}
