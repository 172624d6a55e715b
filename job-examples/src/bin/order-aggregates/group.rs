//! Group mode (`--group`): join the consumer group and run a task per assigned
//! partition; with `--repartition`, two stages of tasks joined by the
//! repartition topic, in two groups (`<group>` over the input topic,
//! `<group>-repartition` over the repartition topic).

use tidemill_job_examples::cli::ExitError;
use tidemill_job_examples::order_aggregates::repartitioned::{self, Exchange};
use tidemill_job_examples::order_aggregates::{self, GroupOptions, OrderJobSettings, TaskPlace};
use tidemill_kafka::{GroupError, GroupHandle, GroupSummary, KafkaSourceConfig, PartitionTasks};
use tidemill_runtime::metrics::MetricsHub;
use tidemill_runtime::{BoxError, ErrorChain, Job, JobSummary};
use tokio::sync::watch;

use crate::args::Cli;

/// Runs until every owned task finished (--bounded) or SIGTERM/SIGINT (tasks are
/// suspended: checkpointed and committed, windows kept open for the next owner).
pub(crate) async fn run(
    cli: &Cli,
    source: &KafkaSourceConfig,
    settings: &OrderJobSettings,
) -> Result<JobSummary, ExitError> {
    // The member would retry a cluster that refuses it (a wrong password, an
    // unknown CA) forever: ask for the topic first, which says why it failed.
    let probe = source.clone();
    let input_partitions = tokio::task::spawn_blocking(move || probe.partition_count())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| ExitError::Failed(format!("kafka: {}", ErrorChain(&e))))?;
    let upstreams = u32::try_from(input_partitions).map_err(|_| "too many input partitions".to_string())?;
    // Through the repartition topic the keyed state does not depend on the input's
    // partitions, so the input may grow; without it, a new partition is refused.
    let options = GroupOptions {
        group_id: cli.group_id.clone(),
        session_timeout: cli.session_timeout,
        input_partitions: (!cli.repartition).then_some(upstreams),
    };
    let hub = MetricsHub::new();
    // One endpoint for every task of this process (the tasks themselves have none).
    let _endpoint =
        hub.serve(&settings.metrics, &options.group_id()).await.map_err(|e| format!("metrics endpoint: {e}"))?;
    if !cli.repartition {
        let build = |partition: i32, member: &GroupHandle| {
            order_aggregates::build_task(source, &options, place(cli, settings, partition, member))
        };
        let tasks = PartitionTasks::new(options.group_config(source), build).bounded(cli.bounded).metrics_hub(hub);
        let tasks = tasks.scaling(settings.metrics.scaling.clone());
        let outcome = tasks.run(shutdown_signal()).await.map_err(|e| ExitError::Failed(ErrorChain(&e).to_string()))?;
        report(&options.group_id(), &outcome);
        return Ok(outcome.summary.unwrap_or_default());
    }
    let mut exchange = Exchange::of(source, &options, upstreams, cli.repartition_partitions);
    // An explicit count must match; the default (the input's count) only says how
    // many to create: the input topic may have grown since.
    let ensured = match cli.repartition_partitions {
        Some(_) => exchange.topic.ensure().await,
        None => exchange.topic.ensure_or_adopt().await,
    };
    ensured.map_err(|e| ExitError::Failed(format!("kafka: {}", ErrorChain(&e))))?;
    let first = |partition: i32, member: &GroupHandle| {
        repartitioned::build_first_stage(source, &exchange, place(cli, settings, partition, member))
    };
    let second = |partition: i32, member: &GroupHandle| {
        repartitioned::build_second_stage(source, &exchange, place(cli, settings, partition, member))
    };
    let scaling = settings.metrics.scaling.clone();
    let first = PartitionTasks::new(options.group_config(source), first).bounded(cli.bounded);
    let first = first.metrics_hub(hub.clone()).scaling(scaling.clone());
    let second = PartitionTasks::new(exchange.group_config(source, &options), second).bounded(cli.bounded);
    let second = second.metrics_hub(hub).scaling(scaling);
    // SIGTERM/SIGINT stops both stages; so does a failed stage (the other's tasks
    // are suspended) before the error is reported, so no task is left half-way.
    let stop = watch::channel(false).0;
    let on_signal = stop.clone();
    let signal = tokio::spawn(async move {
        shutdown_signal().await;
        on_signal.send_replace(true);
    });
    let (first, second) = tokio::join!(run_stage(first, &stop), run_stage(second, &stop));
    signal.abort();
    let fail = |e: GroupError| ExitError::Failed(ErrorChain(&e).to_string());
    let (first, second) = (first.map_err(fail)?, second.map_err(fail)?);
    report(&options.group_id(), &first);
    report(&exchange.group_config(source, &options).group_id, &second);
    let mut summary = first.summary.unwrap_or_default();
    let read = summary.records_in;
    if let Some(more) = second.summary {
        summary.absorb(&more);
    }
    // What the job read is its input; the repartition records are its own.
    summary.records_in = read;
    Ok(summary)
}

/// Runs one stage's tasks until `stop` says so; says so itself if they fail.
async fn run_stage<F, E>(tasks: PartitionTasks<F>, stop: &watch::Sender<bool>) -> Result<GroupSummary, GroupError>
where
    F: FnMut(i32, &GroupHandle) -> Result<Job, E>,
    E: Into<BoxError>,
{
    let mut stopped = stop.subscribe();
    let outcome = tasks
        .run(async move {
            let _ = stopped.wait_for(|s| *s).await;
        })
        .await;
    if outcome.is_err() {
        stop.send_replace(true);
    }
    outcome
}

/// Where the task of `partition` runs in this process.
fn place<'a>(cli: &'a Cli, settings: &'a OrderJobSettings, partition: i32, member: &'a GroupHandle) -> TaskPlace<'a> {
    TaskPlace { partition, member, output: &cli.output, settings }
}

fn report(group: &str, outcome: &GroupSummary) {
    eprintln!(
        "group {group}: ran partitions {:?}, finished {:?}, handed over {}, lost {}",
        outcome.owned, outcome.finished, outcome.handed_over, outcome.lost
    );
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
