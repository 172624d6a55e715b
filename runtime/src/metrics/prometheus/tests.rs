//! Tests of the Prometheus encoder and of the conversion from the SDK.

use opentelemetry::KeyValue;

use super::*;

fn value(labels: &[(&str, &str)], value: Number) -> Sample {
    Sample::Value { labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), value }
}

#[test]
fn names_get_units_and_total() {
    assert_eq!(metric_name("tidemill.records.in", "{record}", Kind::Counter), "tidemill_records_in_total");
    assert_eq!(
        metric_name("tidemill.checkpoint.duration", "s", Kind::Histogram),
        "tidemill_checkpoint_duration_seconds"
    );
    assert_eq!(
        metric_name("tidemill.edge.blocked.time", "s", Kind::Counter),
        "tidemill_edge_blocked_time_seconds_total"
    );
    assert_eq!(metric_name("tidemill.checkpoint.size", "By", Kind::Histogram), "tidemill_checkpoint_size_bytes");
    assert_eq!(metric_name("tidemill.edge.fill", "1", Kind::Gauge), "tidemill_edge_fill_ratio");
    assert_eq!(metric_name("requests_total", "", Kind::Counter), "requests_total");
    assert_eq!(metric_name("latency_seconds", "s", Kind::Gauge), "latency_seconds");
    assert_eq!(metric_name("a..b-c/d", "", Kind::Gauge), "a_b_c_d");
    assert_eq!(metric_name("9lives", "", Kind::Gauge), "_9lives");
}

#[test]
fn counters_and_gauges_with_escaped_labels() {
    let families = vec![
        Family {
            name: "tidemill_dead_letters_total".into(),
            help: "Dead letters.\nBy reason \\ node".into(),
            kind: Kind::Counter,
            samples: vec![
                value(&[("tidemill.node", "decode"), ("tidemill.dead_letter.reason", "not_json")], Number::U64(3)),
                value(&[("tidemill.node", "we\"ird\\na\nme")], Number::U64(u64::MAX)),
            ],
        },
        Family {
            name: "tidemill_watermark_lag_seconds".into(),
            help: "Lag.".into(),
            kind: Kind::Gauge,
            samples: vec![
                value(&[], Number::F64(1.5)),
                value(&[("k", "v")], Number::I64(-2)),
                value(&[("k", "inf")], Number::F64(f64::INFINITY)),
            ],
        },
    ];
    let text = encode(&families);
    let expected = "\
# HELP tidemill_dead_letters_total Dead letters.\\nBy reason \\\\ node
# TYPE tidemill_dead_letters_total counter
tidemill_dead_letters_total{tidemill_node=\"decode\",tidemill_dead_letter_reason=\"not_json\"} 3
tidemill_dead_letters_total{tidemill_node=\"we\\\"ird\\\\na\\nme\"} 18446744073709551615
# HELP tidemill_watermark_lag_seconds Lag.
# TYPE tidemill_watermark_lag_seconds gauge
tidemill_watermark_lag_seconds 1.5
tidemill_watermark_lag_seconds{k=\"v\"} -2
tidemill_watermark_lag_seconds{k=\"inf\"} +Inf
";
    assert_eq!(text, expected);
}

#[test]
fn histograms_are_cumulative_with_inf_sum_and_count() {
    let families = vec![Family {
        name: "tidemill_checkpoint_duration_seconds".into(),
        help: "Checkpoint duration.".into(),
        kind: Kind::Histogram,
        samples: vec![Sample::Histogram {
            labels: vec![("tidemill.checkpoint.phase".into(), "total".into())],
            bounds: vec![0.1, 1.0, 10.0],
            counts: vec![2, 0, 3, 1],
            sum: Number::F64(42.25),
            count: 6,
        }],
    }];
    let text = encode(&families);
    let expected = "\
# HELP tidemill_checkpoint_duration_seconds Checkpoint duration.
# TYPE tidemill_checkpoint_duration_seconds histogram
tidemill_checkpoint_duration_seconds_bucket{tidemill_checkpoint_phase=\"total\",le=\"0.1\"} 2
tidemill_checkpoint_duration_seconds_bucket{tidemill_checkpoint_phase=\"total\",le=\"1\"} 2
tidemill_checkpoint_duration_seconds_bucket{tidemill_checkpoint_phase=\"total\",le=\"10\"} 5
tidemill_checkpoint_duration_seconds_bucket{tidemill_checkpoint_phase=\"total\",le=\"+Inf\"} 6
tidemill_checkpoint_duration_seconds_sum{tidemill_checkpoint_phase=\"total\"} 42.25
tidemill_checkpoint_duration_seconds_count{tidemill_checkpoint_phase=\"total\"} 6
";
    assert_eq!(text, expected);
}

#[test]
fn sdk_metrics_convert_to_families() {
    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry_sdk::metrics::{ManualReader, SdkMeterProvider};
    use std::sync::Arc;

    let reader = Arc::new(ManualReader::builder().build());
    let provider = SdkMeterProvider::builder()
        .with_reader(crate::metrics::SharedReader(reader.clone()))
        .with_resource(opentelemetry_sdk::Resource::builder_empty().with_service_name("unit").build())
        .build();
    let meter = provider.meter("test");
    let counter = meter.u64_counter("test.records").with_unit("{record}").with_description("Records.").build();
    counter.add(5, &[KeyValue::new("node", "a")]);
    counter.add(2, &[KeyValue::new("node", "a")]);
    let gauge = meter.i64_up_down_counter("test.in_flight").build();
    gauge.add(-3, &[]);
    let hist = meter.f64_histogram("test.duration").with_unit("s").with_boundaries(vec![1.0, 2.0]).build();
    hist.record(0.5, &[]);
    hist.record(5.0, &[]);
    let text = crate::metrics::collect_text(&reader).unwrap();
    assert!(text.contains("# TYPE test_records_total counter\ntest_records_total{node=\"a\"} 7\n"), "{text}");
    assert!(text.contains("# TYPE test_in_flight gauge\ntest_in_flight -3\n"), "{text}");
    assert!(text.contains("test_duration_seconds_bucket{le=\"1\"} 1\n"), "{text}");
    assert!(text.contains("test_duration_seconds_bucket{le=\"2\"} 1\n"), "{text}");
    assert!(text.contains("test_duration_seconds_bucket{le=\"+Inf\"} 2\n"), "{text}");
    assert!(text.contains("test_duration_seconds_sum 5.5\ntest_duration_seconds_count 2\n"), "{text}");
    assert!(text.contains("target_info{service_name=\"unit\"} 1\n"), "{text}");
}
