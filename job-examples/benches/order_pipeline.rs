//! Throughput of the order job in one process: in-memory generated events through
//! decode, watermarks, windows and dedup, into discarding sinks and into Delta.
//!
//! `cargo bench -p tidemill-job-examples --bench order_pipeline -- [--events N] [--runs R] [--no-delta] [--trace]`
//!
//! `--trace` adds the tracing overhead rows: the job with a tracer provider
//! installed (spans go to an in-memory exporter through the batch processor, as
//! they would to OTLP), with no record sampled and with 1 in 100 records carrying
//! a sampled trace context.
//!
//! Each configuration runs R times; the report gives the median events/s and
//! CPU-seconds per million events, and the ratio to a baseline measured in the same
//! run: decoding the same events with `decode_json` on one thread, no runtime.

// mimalloc: the pipeline allocates and frees small strings on several threads at
// once, where glibc malloc's arenas and consolidation cost a large share of CPU.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tidemill_job_examples::order_aggregates::{
    self, DeltaOrderSinks, OrderAggregateRow, OrderJobSettings, OrderRow, OrderSinks,
};
use tidemill_job_examples::orders::{GeneratorConfig, OrderEvent, OrderGenerator};
use tidemill_operators::decode::decode_json;
use tidemill_runtime::testing::DiscardSink;
use tidemill_runtime::trace::{self, TraceContext};
use tidemill_runtime::{
    Batch, DeadLetter, EventTime, Job, NodeContext, Offset, Origin, PartitionId, Record, Source, SourceError,
    SourcePoll, Stream,
};

/// Hands out pre-generated events without copying them.
struct DrainSource {
    events: std::vec::IntoIter<Vec<u8>>,
    origin: Origin,
    next: u64,
    /// Every `n`th record carries a sampled trace context (as a producer's header would).
    traced_every: Option<u64>,
}

impl Source for DrainSource {
    type Out = Vec<u8>;

    async fn poll(&mut self, max_records: usize) -> Result<SourcePoll<Vec<u8>>, SourceError> {
        let batch: Batch<Vec<u8>> = self
            .events
            .by_ref()
            .take(max_records)
            .map(|bytes| {
                self.next += 1;
                let record = Record::new(bytes, EventTime::MIN, Origin { offset: Offset(self.next), ..self.origin });
                match self.traced_every {
                    Some(n) if self.next.is_multiple_of(n) => {
                        let mut id = [0u8; 16];
                        id[..8].copy_from_slice(&self.next.to_be_bytes());
                        record.traced(TraceContext::new(id, [1; 8], 1))
                    }
                    _ => record,
                }
            })
            .collect();
        Ok(if batch.is_empty() { SourcePoll::End } else { SourcePoll::Data(batch) })
    }
}

struct Discard(Arc<AtomicU64>);

impl OrderSinks for Discard {
    fn order_aggregates(&self, rows: Stream<OrderAggregateRow>) {
        let w = self.0.clone();
        rows.sink("order_aggregates", move |_| Ok(DiscardSink::new(w.clone())));
    }
    fn orders(&self, rows: Stream<tidemill_operators::dedup::Deduped<OrderRow>>) {
        let w = self.0.clone();
        rows.sink("orders", move |_| Ok(DiscardSink::new(w.clone())));
    }
    fn dead_letters(&self, letters: Stream<DeadLetter>) {
        let w = self.0.clone();
        letters.sink("dlq", move |_| Ok(DiscardSink::new(w.clone())));
    }
}

fn events(count: u64) -> Vec<Vec<u8>> {
    let config = GeneratorConfig { count, seed: 1, ..GeneratorConfig::default() };
    OrderGenerator::events(&config).map(|e| e.bytes).collect()
}

/// User plus system CPU time of this process.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may contain spaces) start after ')'.
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after ')'; 100 Hz.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

struct Sample {
    wall: Duration,
    cpu: Duration,
}

fn run_job(count: u64, delta_dir: Option<&std::path::Path>, traced_every: Option<u64>) -> Sample {
    let data = events(count);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let settings = OrderJobSettings::default();
    let job = Job::builder("bench").config(settings.runtime.clone());
    let slot = Arc::new(Mutex::new(Some(data)));
    let raw = job.source("memory", 1, move |ctx: &NodeContext| {
        let events = slot.lock().expect("lock").take().unwrap_or_default().into_iter();
        Ok(DrainSource {
            events,
            origin: Origin { source: ctx.source_id, partition: PartitionId(0), offset: Offset(0) },
            next: 0,
            traced_every,
        })
    });
    let written = Arc::new(AtomicU64::new(0));
    match delta_dir {
        Some(dir) => order_aggregates::assemble(&job, &raw, &settings, &DeltaOrderSinks::new(dir, 1_000_000)),
        None => order_aggregates::assemble(&job, &raw, &settings, &Discard(written)),
    }
    .expect("assemble");
    let job = job.build().expect("build");
    let (cpu0, t0) = (cpu_time(), Instant::now());
    let summary = runtime.block_on(job.run()).expect("run");
    let sample = Sample { wall: t0.elapsed(), cpu: cpu_time().saturating_sub(cpu0) };
    assert_eq!(summary.records_in, count);
    sample
}

fn decode_baseline(count: u64) -> Sample {
    let data = events(count);
    let (cpu0, t0) = (cpu_time(), Instant::now());
    let mut ok = 0u64;
    for bytes in &data {
        ok += u64::from(decode_json::<OrderEvent>(bytes).is_ok());
    }
    std::hint::black_box(ok);
    Sample { wall: t0.elapsed(), cpu: cpu_time().saturating_sub(cpu0) }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn report(name: &str, count: u64, samples: &[Sample], baseline_rate: Option<f64>) -> f64 {
    let rates: Vec<f64> = samples.iter().map(|s| count as f64 / s.wall.as_secs_f64()).collect();
    let cpu: Vec<f64> = samples.iter().map(|s| s.cpu.as_secs_f64() / (count as f64 / 1e6)).collect();
    let rate = median(rates.clone());
    let ratio = baseline_rate.map_or("1.00".to_string(), |b| format!("{:.2}", rate / b));
    let runs: Vec<String> = rates.iter().map(|r| format!("{:.2}", r / 1e6)).collect();
    println!("| {name} | {:.2} M/s | {:.2} | {ratio} | {} |", rate / 1e6, median(cpu), runs.join(", "));
    rate
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |flag: &str, default: u64| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let count = arg("--events", 2_000_000);
    let runs = arg("--runs", 5) as usize;
    let with_delta = !args.iter().any(|a| a == "--no-delta");

    println!("{count} events per run, {runs} runs, median of runs; ratio = events/s over the decode-only baseline\n");
    println!("| configuration | events/s (median) | CPU-s per M events | ratio to baseline | runs (M/s) |");
    println!("|---|---|---|---|---|");
    let baseline: Vec<Sample> = (0..runs).map(|_| decode_baseline(count)).collect();
    let base = report("baseline: decode_json only, 1 thread, no runtime", count, &baseline, None);
    let discard: Vec<Sample> = (0..runs).map(|_| run_job(count, None, None)).collect();
    report("order job, discarding sinks", count, &discard, Some(base));
    if with_delta {
        let delta: Vec<Sample> = (0..runs)
            .map(|_| {
                let dir = tempfile::tempdir().expect("tempdir");
                run_job(count, Some(dir.path()), None)
            })
            .collect();
        report("order job, Delta sinks (3 tables)", count, &delta, Some(base));
    }
    if args.iter().any(|a| a == "--trace") {
        let exporter = InMemorySpanExporter::default();
        let guard = trace::install(SdkTracerProvider::builder().with_batch_exporter(exporter.clone()).build());
        let on: Vec<Sample> = (0..runs).map(|_| run_job(count, None, None)).collect();
        report("order job, discarding sinks, tracing on, nothing sampled", count, &on, Some(base));
        let sampled: Vec<Sample> = (0..runs).map(|_| run_job(count, None, Some(100))).collect();
        report("order job, discarding sinks, tracing on, 1 in 100 sampled", count, &sampled, Some(base));
        let _ = guard.provider().force_flush();
        let spans = exporter.get_finished_spans().map(|s| s.len()).unwrap_or(0);
        drop(guard);
        println!("\n{spans} spans exported by the traced runs");
    }
}
