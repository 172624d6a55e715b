//! Converts what an OpenTelemetry reader collected into the encoder's model.

use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, Metric, MetricData, ResourceMetrics};

use super::{merge, metric_name, Family, Kind, Number, Sample};

fn value_text(v: &Value) -> String {
    v.as_str().into_owned()
}

fn labels<'a>(attrs: impl Iterator<Item = &'a KeyValue>) -> Vec<(String, String)> {
    let mut l: Vec<(String, String)> = attrs.map(|kv| (kv.key.as_str().to_string(), value_text(&kv.value))).collect();
    l.sort();
    l
}

/// Converts what a reader collected into families, sorted by name; metrics that
/// map to the same name (from two meters) are merged into one family.
pub fn families(rm: &ResourceMetrics) -> Vec<Family> {
    let resource: Vec<(String, String)> = {
        let mut l: Vec<(String, String)> =
            rm.resource().iter().map(|(k, v)| (k.as_str().to_string(), value_text(v))).collect();
        l.sort();
        l
    };
    let target_info = (!resource.is_empty()).then(|| Family {
        name: "target_info".into(),
        help: "Target metadata".into(),
        kind: Kind::Gauge,
        samples: vec![Sample::Value { labels: resource, value: Number::U64(1) }],
    });
    let metrics = rm.scope_metrics().flat_map(|scope| scope.metrics()).filter_map(family);
    merge(target_info.into_iter().chain(metrics))
}

fn family(metric: &Metric) -> Option<Family> {
    let (kind, mut samples) = match metric.data() {
        AggregatedMetrics::U64(d) => samples(d, Number::U64)?,
        AggregatedMetrics::I64(d) => samples(d, Number::I64)?,
        AggregatedMetrics::F64(d) => samples(d, Number::F64)?,
    };
    // The SDK hands series out in hash order; sorted, a scrape reads the same
    // way every time.
    samples.sort_by(|a, b| a.labels().cmp(b.labels()));
    Some(Family {
        name: metric_name(metric.name(), metric.unit(), kind),
        help: metric.description().to_string(),
        kind,
        samples,
    })
}

fn samples<T: Copy>(data: &MetricData<T>, number: impl Fn(T) -> Number) -> Option<(Kind, Vec<Sample>)> {
    Some(match data {
        MetricData::Gauge(g) => (
            Kind::Gauge,
            g.data_points()
                .map(|p| Sample::Value { labels: labels(p.attributes()), value: number(p.value()) })
                .collect(),
        ),
        MetricData::Sum(s) => (
            if s.is_monotonic() { Kind::Counter } else { Kind::Gauge },
            s.data_points()
                .map(|p| Sample::Value { labels: labels(p.attributes()), value: number(p.value()) })
                .collect(),
        ),
        MetricData::Histogram(h) => (
            Kind::Histogram,
            h.data_points()
                .map(|p| Sample::Histogram {
                    labels: labels(p.attributes()),
                    bounds: p.bounds().collect(),
                    counts: p.bucket_counts().collect(),
                    sum: number(p.sum()),
                    count: p.count(),
                })
                .collect(),
        ),
        // Not used by Tidemill's instruments; Prometheus 0.0.4 text cannot carry them.
        MetricData::ExponentialHistogram(_) => return None,
    })
}
