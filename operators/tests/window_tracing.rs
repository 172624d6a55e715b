//! A window result's emit span links to the sampled records the window counted,
//! and only to those of its key.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tidemill_operators::window::{Count, TumblingWindow, WindowOperator};
use tidemill_runtime::trace::{self, TraceContext};
use tidemill_runtime::{EventTime, OperatorHarness, Origin, Record};

fn cx(n: u8) -> TraceContext {
    TraceContext::new([n; 16], [n; 8], 1).unwrap()
}

#[test]
fn window_results_link_to_the_sampled_records_they_counted() {
    let exporter = InMemorySpanExporter::default();
    let _guard = trace::install(SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build());
    let spec = TumblingWindow::of(Duration::from_secs(10)).unwrap();
    let op = WindowOperator::new(spec, Arc::new(|v: &(u32, i64)| v.0), Count).unwrap();
    let mut h = OperatorHarness::new(op);
    let rec = |key: u32, t: i64, trace: Option<TraceContext>| {
        Record::new((key, t), EventTime::from_millis(t), Origin::INTERNAL).traced(trace)
    };
    h.push(vec![rec(1, 1_000, Some(cx(1))), rec(1, 2_000, None), rec(2, 3_000, Some(cx(2)))]).unwrap();
    h.push(vec![rec(1, 4_000, Some(cx(3))), rec(3, 5_000, None)]).unwrap();
    h.push_watermark(9_999).unwrap();
    let out = h.take_output();
    assert_eq!(out.len(), 3);
    assert!(out[2].trace.is_none(), "key 3 counted no sampled record");
    let spans = exporter.get_finished_spans().unwrap();
    for (result, expected) in [(&out[0], vec![cx(1), cx(3)]), (&out[1], vec![cx(2)])] {
        let emitted = result.trace_context().expect("a traced result");
        let span = spans.iter().find(|s| s.span_context.span_id() == emitted.span_id()).unwrap();
        assert_eq!(span.name, "window.emit");
        assert_eq!(span.span_context.trace_id(), expected[0].trace_id(), "parented to the first");
        let links: Vec<_> = span.links.iter().map(|l| TraceContext::from_span_context(&l.span_context)).collect();
        assert_eq!(links, expected.into_iter().map(Some).collect::<Vec<_>>());
    }
}
