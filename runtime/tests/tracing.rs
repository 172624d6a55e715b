//! One sampled record followed through a whole job: its producer span, the source
//! span, every operator's span, the window-emit span and the commit span share one
//! trace, each parented to (and linked to) the one before, in causal order.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use opentelemetry::trace::{Span as _, SpanId, Tracer as _, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tidemill_runtime::testing::{CollectSink, Collected, VecSource};
use tidemill_runtime::trace::{self, KeyValue, LinkedSpan, SpanKind, TraceContext, TracingGuard};
use tidemill_runtime::{
    Batch, DeadLetter, EventTime, Job, JobConfig, NodeContext, Operator, OperatorError, Origin, Output, Record, Source,
    SourceError, SourcePoll, StateSnapshot,
};

/// The process-wide provider with an in-memory exporter. Tests in this binary run
/// in parallel and share it; each looks only at the traces it started.
fn exporter() -> &'static InMemorySpanExporter {
    static SETUP: OnceLock<(InMemorySpanExporter, TracingGuard)> = OnceLock::new();
    &SETUP
        .get_or_init(|| {
            let exporter = InMemorySpanExporter::default();
            // The simple processor exports each span as it ends: no flush races.
            let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
            (exporter, trace::install(provider))
        })
        .0
}

/// What a producer does for a sampled order: a span whose context goes with the
/// record (here straight into the test source instead of a Kafka header).
fn produce(order: usize) -> TraceContext {
    let tracer = opentelemetry::global::tracer_provider().tracer("order-producer");
    let mut span = tracer
        .span_builder("produce orders")
        .with_kind(SpanKind::Producer)
        .with_attributes([KeyValue::new("order", order as i64)])
        .start(&tracer);
    let cx = TraceContext::from_span_context(span.span_context()).expect("sampled producer span");
    span.end();
    cx
}

/// A [`VecSource`] whose records at some offsets arrive with a trace context, as
/// the Kafka source's do when their headers hold a `traceparent`.
struct TracedSource<T> {
    inner: VecSource<T>,
    traces: Arc<HashMap<u64, TraceContext>>,
}

impl<T: Clone + Send + Sync + 'static> Source for TracedSource<T> {
    type Out = T;

    async fn poll(&mut self, max_records: usize) -> Result<SourcePoll<T>, SourceError> {
        let mut poll = self.inner.poll(max_records).await?;
        if let SourcePoll::Data(batch) = &mut poll {
            for r in batch.iter_mut() {
                r.trace = self.traces.get(&r.origin.offset.0).copied().map(Box::new);
            }
        }
        Ok(poll)
    }

    fn snapshot(&self) -> Result<StateSnapshot, SourceError> {
        self.inner.snapshot()
    }

    fn restore(&mut self, snapshot: &StateSnapshot) -> Result<(), SourceError> {
        self.inner.restore(snapshot)
    }
}

/// Counts records per key and emits the counts at the end of input, the way a
/// window operator does: it remembers the sampled contexts each count includes
/// and links the result's emit span to them.
#[derive(Default)]
struct CountPerKey {
    counts: BTreeMap<u32, (u64, Vec<TraceContext>)>,
}

impl Operator for CountPerKey {
    type In = (u32, i64);
    type Out = (u32, u64);

    fn process(&mut self, batch: Batch<(u32, i64)>, _out: &mut Output<(u32, u64)>) -> Result<(), OperatorError> {
        for r in batch {
            let (count, traces) = self.counts.entry(r.value.0).or_default();
            *count += 1;
            if let Some(cx) = r.trace_context() {
                traces.push(cx);
            }
        }
        Ok(())
    }

    fn on_watermark(&mut self, watermark: EventTime, out: &mut Output<(u32, u64)>) -> Result<(), OperatorError> {
        if watermark == EventTime::MAX {
            for (key, (count, traces)) in std::mem::take(&mut self.counts) {
                let span = LinkedSpan::start("emit count", SpanKind::Internal, Vec::new(), traces);
                let record = Record::new((key, count), EventTime::MAX, Origin::INTERNAL);
                out.emit(record.traced(span.as_ref().map(LinkedSpan::context)));
            }
        }
        Ok(())
    }
}

/// Runs `n` records (key = index % 10) through source, map, timestamp assigner,
/// key_by and a counting operator into a collecting sink; records at `sampled`
/// indices carry a producer's context.
async fn run_job(name: &str, n: usize, sampled: &[usize]) -> (HashMap<u64, TraceContext>, Vec<Record<(u32, u64)>>) {
    exporter();
    let traces: HashMap<u64, TraceContext> = sampled.iter().map(|&i| (i as u64, produce(i))).collect();
    let values: Arc<Vec<(u32, i64)>> = Arc::new((0..n).map(|i| ((i % 10) as u32, i as i64)).collect());
    let job = Job::builder(name).config(JobConfig { batch_size: 64, ..JobConfig::default() });
    let t = Arc::new(traces.clone());
    let out: Arc<Mutex<Collected<(u32, u64)>>> = Arc::default();
    let o = out.clone();
    job.source("orders", 1, move |ctx: &NodeContext| {
        Ok(TracedSource { inner: VecSource::new(values.clone(), ctx), traces: t.clone() })
    })
    .map("parse", |v: &(u32, i64)| *v)
    .assign_timestamps("event_time", |v: &(u32, i64)| EventTime::from_millis(v.1), std::time::Duration::ZERO)
    .key_by(|v: &(u32, i64)| v.0, 2)
    .operator("count", |_, _| CountPerKey::default())
    .sink("collect", move |_| Ok(CollectSink::new(o.clone())));
    let dead: Arc<Mutex<Collected<DeadLetter>>> = Arc::default();
    let d = dead.clone();
    job.dead_letters().sink("dlq", move |_| Ok(CollectSink::new(d.clone())));
    job.build().unwrap().run().await.unwrap();
    let committed = out.lock().unwrap().committed.clone();
    (traces, committed)
}

fn spans_of(trace: &TraceContext) -> Vec<SpanData> {
    let mut spans: Vec<SpanData> = exporter()
        .get_finished_spans()
        .unwrap()
        .into_iter()
        .filter(|s| s.span_context.trace_id() == trace.trace_id())
        .collect();
    spans.sort_by_key(|s| s.start_time);
    spans
}

fn linked_to(span: &SpanData, parent: SpanId) -> bool {
    span.links.iter().any(|l| l.span_context.span_id() == parent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sampled_record_is_one_trace_from_producer_to_commit() {
    let (traces, committed) = run_job("traced", 1_000, &[437]).await;
    let producer = traces[&437];
    let spans = spans_of(&producer);
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
    assert_eq!(
        names,
        [
            "produce orders",
            "source orders",
            "operator parse",
            "operator event_time",
            "operator count",
            "emit count",
            "commit collect"
        ],
        "one span per stage in causal order"
    );
    // Each span is the child of the one before and links to it as well.
    for pair in spans.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        assert_eq!(after.parent_span_id, before.span_context.span_id(), "{} parents {}", before.name, after.name);
        assert!(linked_to(after, before.span_context.span_id()), "{} links to {}", after.name, before.name);
        assert!(before.start_time <= after.start_time, "{} starts before {}", before.name, after.name);
    }
    let source = &spans[1];
    assert_eq!(source.span_kind, SpanKind::Consumer);
    assert!(source.attributes.contains(&KeyValue::new("tidemill.batch.sampled", 1)));
    // The committed count of key 7 (437 % 10) carries the emit span's context.
    let result = committed.iter().find(|r| r.value.0 == 7).unwrap();
    assert_eq!(result.trace_context().map(|cx| cx.span_id()), Some(spans[5].span_context.span_id()));
    assert!(committed.iter().filter(|r| r.value.0 != 7).all(|r| r.trace.is_none()), "unsampled results untraced");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_result_links_to_every_sampled_record_it_counted() {
    // Three sampled records of key 3 in different batches, one of key 4.
    let (traces, committed) = run_job("traced-many", 1_000, &[3, 503, 993, 4]).await;
    let all = exporter().get_finished_spans().unwrap();
    let emit_of_key_3 = committed.iter().find(|r| r.value.0 == 3).unwrap().trace_context().unwrap();
    let emit = all.iter().find(|s| s.span_context.span_id() == emit_of_key_3.span_id()).unwrap();
    assert_eq!(emit.links.len(), 3, "one link per batch span that held a sampled key-3 record");
    // Each link leads back, through parents, to one producer span.
    let by_id: HashMap<SpanId, &SpanData> = all.iter().map(|s| (s.span_context.span_id(), s)).collect();
    let mut producers = Vec::new();
    for link in emit.links.iter() {
        let mut span = by_id[&link.span_context.span_id()];
        while let Some(parent) = by_id.get(&span.parent_span_id) {
            span = parent;
        }
        assert_eq!(span.name, "produce orders");
        producers.push(span.span_context.span_id());
    }
    producers.sort_by_key(|id| id.to_bytes());
    let mut expected: Vec<SpanId> = [3, 503, 993].iter().map(|i| traces[i].span_id()).collect();
    expected.sort_by_key(|id| id.to_bytes());
    assert_eq!(producers, expected);
    // The commits that made the sampled results visible link to their emit spans.
    let emit_of_key_4 = committed.iter().find(|r| r.value.0 == 4).unwrap().trace_context().unwrap();
    for emit in [emit_of_key_3, emit_of_key_4] {
        assert!(
            all.iter().any(|s| s.name == "commit collect" && linked_to(s, emit.span_id())),
            "a commit span links to {emit}"
        );
    }
}

#[test]
fn untraced_records_cost_a_null_pointer() {
    assert_eq!(std::mem::size_of::<Option<Box<TraceContext>>>(), std::mem::size_of::<usize>());
    let cx = TraceContext::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
    let r = Record::new(1u8, EventTime::MIN, Origin::INTERNAL).traced(Some(cx));
    assert_eq!(r.with_value(2u8).trace_context(), Some(cx), "a mapped record keeps its context");
}
