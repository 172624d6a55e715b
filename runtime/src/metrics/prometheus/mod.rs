//! Prometheus text exposition (format 0.0.4) of OpenTelemetry metrics.
//!
//! The `opentelemetry-prometheus` crate is not maintained for opentelemetry 0.33,
//! so this small encoder follows the OpenTelemetry-to-Prometheus compatibility
//! rules itself:
//!
//! - names: every character outside `[a-zA-Z0-9_:]` becomes `_` (so `.` does),
//!   runs of `_` collapse, the unit is appended as a word (`s` → `_seconds`, `By` →
//!   `_bytes`, `1` → `_ratio`; annotations in braces such as `{record}` are
//!   dropped), and monotonic sums get `_total`;
//! - monotonic sums are `counter`s, gauges and non-monotonic sums `gauge`s,
//!   explicit-bucket histograms `histogram`s (`_bucket{le=..}` cumulative, with
//!   `+Inf`, then `_sum` and `_count`);
//! - attribute keys are sanitised like names, values escaped (`\\`, `\"`, `\n`);
//! - the resource's attributes become one `target_info` gauge.
//!
//! The encoder works on its own small model ([`Family`], [`Sample`]) so that it can
//! be tested without the SDK; [`families`] converts what a reader collected.

use std::collections::BTreeMap;
use std::fmt::Write as _;

mod convert;
#[cfg(test)]
mod tests;

pub use convert::families;

/// The content type of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The Prometheus type of a family.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Monotonic, cumulative.
    Counter,
    /// Goes up and down.
    Gauge,
    /// Explicit-bucket histogram.
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A number as the SDK reported it; integers are written exactly.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Number {
    /// An unsigned integer.
    U64(u64),
    /// A signed integer.
    I64(i64),
    /// A float (`+Inf`, `-Inf` and `NaN` included).
    F64(f64),
}

/// One series of a family.
#[derive(Clone, Debug, PartialEq)]
pub enum Sample {
    /// A counter or gauge value.
    Value {
        /// Label pairs, keys already sanitised or to be sanitised by the encoder.
        labels: Vec<(String, String)>,
        /// The value.
        value: Number,
    },
    /// A histogram: `counts[i]` observations fell in `(bounds[i-1], bounds[i]]`, the
    /// last count above the last bound.
    Histogram {
        /// Label pairs.
        labels: Vec<(String, String)>,
        /// Upper bounds, ascending.
        bounds: Vec<f64>,
        /// Non-cumulative counts, `bounds.len() + 1` of them.
        counts: Vec<u64>,
        /// Sum of the observations.
        sum: Number,
        /// Number of observations.
        count: u64,
    },
}

impl Sample {
    /// The sample's labels.
    pub fn labels(&self) -> &[(String, String)] {
        match self {
            Sample::Value { labels, .. } | Sample::Histogram { labels, .. } => labels,
        }
    }
}

/// A metric family: one name, one type, its samples.
#[derive(Clone, Debug, PartialEq)]
pub struct Family {
    /// The Prometheus name (see [`metric_name`]).
    pub name: String,
    /// Help text.
    pub help: String,
    /// The type.
    pub kind: Kind,
    /// The series.
    pub samples: Vec<Sample>,
}

/// The Prometheus name of an OpenTelemetry metric `name` with `unit`.
pub fn metric_name(name: &str, unit: &str, kind: Kind) -> String {
    let mut out = sanitize(name);
    if let Some(unit) = unit_word(unit, kind) {
        if !out.ends_with(&format!("_{unit}")) {
            out.push('_');
            out.push_str(&unit);
        }
    }
    if kind == Kind::Counter && !out.ends_with("_total") {
        out.push_str("_total");
    }
    out
}

/// The word a unit adds to a name, if any.
fn unit_word(unit: &str, kind: Kind) -> Option<String> {
    // Annotations (`{record}`) carry no unit.
    let unit: String = unit.split('{').next().unwrap_or_default().trim().to_string();
    let word = match unit.as_str() {
        "" => return None,
        "1" if kind == Kind::Gauge => "ratio",
        "1" => return None,
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "min" => "minutes",
        "h" => "hours",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "%" => "percent",
        other => return Some(sanitize(other)),
    };
    Some(word.to_string())
}

/// Replaces characters Prometheus does not allow with `_` and collapses runs of `_`.
pub fn sanitize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, c) in name.chars().enumerate() {
        let ok = c.is_ascii_alphanumeric() || c == '_' || c == ':';
        let c = if ok { c } else { '_' };
        if i == 0 && c.is_ascii_digit() {
            out.push('_');
        }
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    out
}

fn label_name(key: &str) -> String {
    // Label names may not contain `:` (reserved for recording rules in names).
    sanitize(key).replace(':', "_")
}

fn escape_label_value(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

fn write_f64(v: f64, out: &mut String) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        let _ = write!(out, "{v}");
    }
}

fn write_number(n: Number, out: &mut String) {
    match n {
        Number::U64(v) => {
            let _ = write!(out, "{v}");
        }
        Number::I64(v) => {
            let _ = write!(out, "{v}");
        }
        Number::F64(v) => write_f64(v, out),
    }
}

fn write_labels(labels: &[(String, String)], extra: Option<(&str, &str)>, out: &mut String) {
    if labels.is_empty() && extra.is_none() {
        return;
    }
    out.push('{');
    let mut first = true;
    for (k, v) in labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).chain(extra) {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(&label_name(k));
        out.push_str("=\"");
        escape_label_value(v, out);
        out.push('"');
    }
    out.push('}');
}

/// Merges families of the same name into one (their samples one after the
/// other), sorted by name: an exposition must name each family once. Families of
/// one name but different types are a bug in whoever named them: the later one
/// is dropped, with a warning.
pub fn merge(families: impl IntoIterator<Item = Family>) -> Vec<Family> {
    let mut by_name: BTreeMap<String, Family> = BTreeMap::new();
    for family in families {
        match by_name.get_mut(&family.name) {
            Some(existing) if existing.kind == family.kind => existing.samples.extend(family.samples),
            Some(_) => tracing::warn!(metric = %family.name, "two metrics of different types share a name"),
            None => {
                by_name.insert(family.name.clone(), family);
            }
        }
    }
    by_name.into_values().collect()
}

/// Writes the families as Prometheus text.
pub fn encode(families: &[Family]) -> String {
    let mut out = String::with_capacity(4096);
    for f in families {
        let _ = writeln!(out, "# HELP {} {}", f.name, escape_help(&f.help));
        let _ = writeln!(out, "# TYPE {} {}", f.name, f.kind.as_str());
        for s in &f.samples {
            match s {
                Sample::Value { labels, value } => {
                    out.push_str(&f.name);
                    write_labels(labels, None, &mut out);
                    out.push(' ');
                    write_number(*value, &mut out);
                    out.push('\n');
                }
                Sample::Histogram { labels, bounds, counts, sum, count } => {
                    let mut cumulative = 0u64;
                    for (i, bound) in bounds.iter().enumerate() {
                        cumulative += counts.get(i).copied().unwrap_or(0);
                        let mut le = String::new();
                        write_f64(*bound, &mut le);
                        let _ = write!(out, "{}_bucket", f.name);
                        write_labels(labels, Some(("le", &le)), &mut out);
                        let _ = writeln!(out, " {cumulative}");
                    }
                    let _ = write!(out, "{}_bucket", f.name);
                    write_labels(labels, Some(("le", "+Inf")), &mut out);
                    let _ = writeln!(out, " {count}");
                    let _ = write!(out, "{}_sum", f.name);
                    write_labels(labels, None, &mut out);
                    out.push(' ');
                    write_number(*sum, &mut out);
                    out.push('\n');
                    let _ = write!(out, "{}_count", f.name);
                    write_labels(labels, None, &mut out);
                    let _ = writeln!(out, " {count}");
                }
            }
        }
    }
    out
}
