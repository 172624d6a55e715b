//! `order-aggregates`: the reference order job on a JSON-lines file, a folder
//! of them, generated orders or a Kafka topic, writing three Delta tables.
//!
//! `args.rs` holds the command line and the settings it makes, `exit.rs` how a
//! failure becomes a message and an exit status, `group.rs` group mode; this
//! file runs the job.

// mimalloc: the pipeline allocates and frees small strings on several threads at
// once, where glibc malloc's arenas and consolidation cost a large share of CPU.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod args;
mod exit;
mod group;

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser;
use tidemill_job_examples::cli::ExitError;
use tidemill_job_examples::order_aggregates::{self, OrderInput, OrderTables};
use tidemill_runtime::{ErrorChain, JobSummary};

use args::Cli;
use exit::{build_error, job_error};

/// Rows of each table shown after a run.
const PREVIEW_ROWS: usize = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tidemill_job_examples::cli::run_main(&cli.log, || run(&cli))
}

fn run(cli: &Cli) -> Result<(), ExitError> {
    let settings = cli.settings()?;
    let secrets = settings.kafka.properties.redactor().map_err(|e| ExitError::Usage(ErrorChain(&e).to_string()))?;
    // The object store's credentials (checkpoints on S3) are secrets too.
    let aws = ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"].into_iter().filter_map(|v| std::env::var(v).ok());
    tidemill_job_examples::cli::redact_output(secrets.and(aws));
    let input = cli.input(&settings);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    if cli.group {
        let OrderInput::Kafka(source) = &input else { return Err(ExitError::Usage("--group needs --topic".into())) };
        let summary = runtime.block_on(group::run(cli, source, &settings))?;
        return finish(cli, &runtime, &input, &summary);
    }
    let summary = runtime.block_on(async {
        let from = cli.from_checkpoint.unwrap_or_default();
        let job = order_aggregates::build_from(&input, &cli.output, &settings, from).map_err(build_error)?;
        let handle = job.start().await.map_err(job_error)?;
        handle.wait_or_stop_on_signal().await.map_err(job_error)
    })?;
    finish(cli, &runtime, &input, &summary)
}

fn finish(
    cli: &Cli,
    runtime: &tokio::runtime::Runtime,
    input: &OrderInput,
    summary: &JobSummary,
) -> Result<(), ExitError> {
    if let Some(path) = &cli.summary_json {
        let json = serde_json::to_string_pretty(summary).map_err(|e| e.to_string())?;
        std::fs::write(path, json).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    let tables = OrderTables::under(&cli.output);
    let report = runtime.block_on(order_aggregates::render_report(input, &tables, summary, PREVIEW_ROWS));
    // Not print!: that panics when stdout is a closed pipe.
    std::io::stdout()
        .write_all(report.as_bytes())
        .map_err(|e| ExitError::Failed(format!("cannot write the report: {e}")))
}
