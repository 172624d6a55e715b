//! W3C trace context through the real broker: records produced with a sampled
//! `traceparent` header are read by `KafkaSource`, and the job's source, decode and
//! commit spans continue each record's trace, in causal order. Unsampled records
//! start no trace.

use std::sync::{Arc, Mutex, OnceLock};

use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tidemill_kafka::rdkafka::message::{Header, OwnedHeaders};
use tidemill_kafka::rdkafka::producer::{FutureProducer, FutureRecord};
use tidemill_kafka::rdkafka::ClientConfig;
use tidemill_kafka::{KafkaSource, KafkaSourceConfig};
use tidemill_operators::BytesStreamExt;
use tidemill_runtime::testing::{CollectSink, Collected};
use tidemill_runtime::trace::{self, TraceContext, TracingGuard};
use tidemill_runtime::{DeadLetter, Job};

mod support;
use support::{brokers, create_topic, delete_topic, unique, Order};

const PARTITIONS: i32 = 2;
const RECORDS: usize = 200;
/// Every `SAMPLE_EVERY`th record carries a sampled trace context.
const SAMPLE_EVERY: usize = 50;

fn exporter() -> &'static InMemorySpanExporter {
    static SETUP: OnceLock<(InMemorySpanExporter, TracingGuard)> = OnceLock::new();
    &SETUP
        .get_or_init(|| {
            let exporter = InMemorySpanExporter::default();
            // Exports each span as it ends: nothing to flush before asserting.
            let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
            (exporter, trace::install(provider))
        })
        .0
}

/// A sampled context as a producer's span would have, distinct per record.
fn producer_context(i: usize) -> TraceContext {
    let mut trace_id = [0u8; 16];
    trace_id[..8].copy_from_slice(&(0x7d3e_0000_0000_0000u64 + i as u64).to_be_bytes());
    trace_id[8..].copy_from_slice(&uuid::Uuid::new_v4().as_bytes()[..8]);
    let span_id = (0x5a00_0000_0000_0000u64 + i as u64).to_be_bytes();
    TraceContext::new(trace_id, span_id, 1).expect("valid ids")
}

async fn produce(topic: &str) -> Vec<TraceContext> {
    let producer: FutureProducer = ClientConfig::new().set("bootstrap.servers", brokers()).create().expect("producer");
    let mut sampled = Vec::new();
    for i in 0..RECORDS {
        let order = format!(
            r#"{{"order_id":"o-{i}","user_id":"u-{}","amount":{},"event_time":"2026-01-01T00:00:00.000Z"}}"#,
            i % 7,
            i + 1
        );
        let mut headers = OwnedHeaders::new();
        let traceparent;
        if i % SAMPLE_EVERY == 0 {
            let cx = producer_context(i);
            sampled.push(cx);
            traceparent = cx.to_traceparent();
            headers = headers.insert(Header { key: trace::TRACEPARENT, value: Some(traceparent.as_bytes()) });
        }
        let record = FutureRecord::<str, str>::to(topic)
            .partition((i % PARTITIONS as usize) as i32)
            .key(&order[..12])
            .payload(&order)
            .headers(headers);
        producer.send(record, support::TIMEOUT).await.map_err(|(e, _)| e).expect("delivered");
    }
    sampled
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_traceparent_header_is_continued_by_the_source_the_operators_and_the_commit() {
    exporter();
    let topic = unique("traced");
    create_topic(&topic, PARTITIONS).await;
    let sampled = produce(&topic).await;

    let config = KafkaSourceConfig::new(brokers(), &topic).bounded();
    let job = Job::builder(&unique("traced"));
    let orders: Arc<Mutex<Collected<Order>>> = Arc::default();
    let dead: Arc<Mutex<Collected<DeadLetter>>> = Arc::default();
    let (o, d) = (orders.clone(), dead.clone());
    job.source("orders", PARTITIONS as usize, move |ctx| KafkaSource::new(config.clone(), ctx))
        .decode_json::<Order>("decode")
        .sink("collect", move |_| Ok(CollectSink::new(o.clone())));
    job.dead_letters().sink("dlq", move |_| Ok(CollectSink::new(d.clone())));
    let summary = job.build().unwrap().run().await.unwrap();
    assert_eq!(summary.records_in, RECORDS as u64);
    assert_eq!(orders.lock().unwrap().committed.len(), RECORDS);

    let spans = exporter().get_finished_spans().expect("spans");
    let links = |s: &SpanData, span: opentelemetry::trace::SpanId| {
        s.links.links.iter().any(|l| l.span_context.span_id() == span)
    };
    let continues = |s: &SpanData, span: opentelemetry::trace::SpanId| s.parent_span_id == span || links(s, span);
    for producer in &sampled {
        // The source span that read the record continues the producer's span: as
        // its parent for the batch's first sampled record, as a link for the others.
        let source = spans
            .iter()
            .find(|s| s.name == "source orders" && continues(s, producer.span_id()))
            .unwrap_or_else(|| panic!("no source span continues {}", producer.to_traceparent()));
        // Decode runs after it, as its child; the commit that made the record
        // visible continues decode's span.
        let decode = spans
            .iter()
            .find(|s| s.name == "operator decode" && continues(s, source.span_context.span_id()))
            .expect("decode span");
        assert_eq!(decode.span_context.trace_id(), source.span_context.trace_id());
        assert!(decode.start_time >= source.start_time);
        let commit = spans
            .iter()
            .find(|s| s.name == "commit collect" && continues(s, decode.span_context.span_id()))
            .expect("commit span");
        assert!(commit.start_time >= decode.end_time, "the commit comes after the decode");
    }
    // The first sampled record's trace is one unbroken chain of parents.
    let first = sampled[0];
    let chain: Vec<SpanData> = {
        let mut chain: Vec<SpanData> =
            spans.iter().filter(|s| s.span_context.trace_id() == first.trace_id()).cloned().collect();
        chain.sort_by_key(|s| s.start_time);
        chain
    };
    let names: Vec<&str> = chain.iter().map(|s| s.name.as_ref()).collect();
    assert_eq!(names, ["source orders", "operator decode", "commit collect"]);
    assert_eq!(chain[0].parent_span_id, first.span_id());
    assert!(chain.windows(2).all(|w| w[1].parent_span_id == w[0].span_context.span_id()), "{names:?}");
    // Committed records keep the context of the last span that touched them.
    let traced = orders.lock().unwrap().committed.iter().filter(|r| r.trace.is_some()).count();
    assert_eq!(traced, sampled.len(), "only the sampled records carry a context");
    delete_topic(&topic).await;
}
