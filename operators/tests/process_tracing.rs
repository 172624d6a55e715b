//! What a keyed process function emits continues the traces of the sampled
//! records of its key: a join's match links to the records of both sides, a
//! key's traces end with its state, and untraced keys emit untraced records.

use std::sync::Arc;

use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tidemill_operators::process::{Either, KeyContext, KeyedProcessFunction, KeyedProcessOperator};
use tidemill_runtime::trace::{self, TraceContext};
use tidemill_runtime::{BoxError, EventTime, OperatorHarness, Origin, Record};

type Side = Either<(u32, &'static str), (u32, &'static str)>;

/// An inner join on the key: remembers the left side, emits on the right one
/// and then forgets the key.
struct Join;

impl KeyedProcessFunction for Join {
    type Key = u32;
    type In = Side;
    type Out = (u32, String);
    type State = Option<String>;

    fn process_element(&mut self, record: &Record<Side>, ctx: &mut KeyContext<'_, Self>) -> Result<(), BoxError> {
        match &record.value {
            Either::Left((_, left)) => *ctx.state() = Some(left.to_string()),
            Either::Right((key, right)) => {
                if let Some(left) = ctx.state().take() {
                    ctx.emit((*key, format!("{left}+{right}")));
                    ctx.clear_state();
                }
            }
        }
        Ok(())
    }
}

fn cx(n: u8) -> TraceContext {
    TraceContext::new([n; 16], [n; 8], 1).unwrap()
}

fn side_key(s: &Side) -> u32 {
    match s {
        Either::Left((k, _)) | Either::Right((k, _)) => *k,
    }
}

#[test]
fn a_join_result_links_to_the_sampled_records_of_both_sides() {
    let exporter = InMemorySpanExporter::default();
    let _guard = trace::install(SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build());
    let mut h = OperatorHarness::new(KeyedProcessOperator::new(Join, Arc::new(side_key)));
    let rec = |value: Side, trace: Option<TraceContext>| {
        Record::new(value, EventTime::from_millis(1_000), Origin::INTERNAL).traced(trace)
    };
    h.push(vec![
        rec(Either::Left((1, "a")), Some(cx(1))),
        rec(Either::Left((2, "b")), None),
        rec(Either::Left((3, "c")), Some(cx(3))),
    ])
    .unwrap();
    h.push(vec![
        rec(Either::Right((1, "x")), Some(cx(2))),
        rec(Either::Right((2, "y")), None),
        rec(Either::Right((3, "z")), None),
    ])
    .unwrap();
    // Key 1 again, untraced: its traces ended when the first match cleared it.
    h.push(vec![rec(Either::Left((1, "d")), None), rec(Either::Right((1, "w")), None)]).unwrap();
    let out = h.take_output();
    let values: Vec<_> = out.iter().map(|r| r.value.1.as_str()).collect();
    assert_eq!(values, ["a+x", "b+y", "c+z", "d+w"]);
    assert!(out[1].trace.is_none(), "key 2 saw no sampled record");
    assert!(out[3].trace.is_none(), "key 1's traces were forgotten with its state");
    let spans = exporter.get_finished_spans().unwrap();
    for (result, expected) in [(&out[0], vec![cx(1), cx(2)]), (&out[2], vec![cx(3)])] {
        let emitted = result.trace_context().expect("a traced result");
        let span = spans.iter().find(|s| s.span_context.span_id() == emitted.span_id()).expect("its span");
        assert_eq!(span.name, "process.emit");
        assert_eq!(span.span_context.trace_id(), expected[0].trace_id(), "parented to the first side");
        let links: Vec<_> = span.links.iter().map(|l| TraceContext::from_span_context(&l.span_context)).collect();
        assert_eq!(links, expected.into_iter().map(Some).collect::<Vec<_>>(), "linked to each side");
    }
}
