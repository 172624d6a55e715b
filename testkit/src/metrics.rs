//! Scraping a job's metrics endpoint and reading the Prometheus text format
//! (0.0.4) it serves: plain HTTP/1.1 over a `std` TCP stream, a small parser, and
//! lookups by metric name and labels.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// A free local port: binds `127.0.0.1:0` and releases it at once. Another
/// process could take it in between; good enough for a test's child process.
pub fn free_local_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address")
}

/// `GET path` on `addr`: the status code and the body.
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let timeout = Duration::from_secs(10);
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: text/plain\r\n\r\n")?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let invalid = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let text = String::from_utf8(raw).map_err(|_| invalid("response is not UTF-8"))?;
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| invalid("no end of headers"))?;
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid("no status line"))?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked { dechunk(body).ok_or_else(|| invalid("bad chunked body"))? } else { body.to_string() };
    Ok((status, body))
}

/// [`http_get`] from async code. It runs on a blocking thread, so an endpoint
/// served by the caller's own runtime keeps being served while it waits.
pub async fn http_get_async(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let path = path.to_string();
    tokio::task::spawn_blocking(move || http_get(addr, &path)).await.map_err(std::io::Error::other)?
}

fn dechunk(mut body: &str) -> Option<String> {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n")?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        out.push_str(rest.get(..size)?);
        body = rest.get(size..)?.strip_prefix("\r\n")?;
    }
}

/// Scrapes `http://addr/metrics` once.
pub fn scrape(addr: SocketAddr) -> Result<Scrape, String> {
    match http_get(addr, "/metrics") {
        Ok((200, body)) => Scrape::parse(&body),
        Ok((status, body)) => Err(format!("/metrics answered {status}: {body}")),
        Err(e) => Err(format!("GET /metrics on {addr}: {e}")),
    }
}

/// Calls `attempt` every 200 ms until it returns `Ok` or `timeout` passes; on
/// timeout, the last error says what was still awaited.
pub fn poll_until<T>(timeout: Duration, mut attempt: impl FnMut() -> Result<T, String>) -> Result<T, String> {
    let deadline = Instant::now() + timeout;
    loop {
        match attempt() {
            Ok(t) => return Ok(t),
            Err(why) if Instant::now() >= deadline => return Err(format!("after {timeout:?}: {why}")),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// Scrapes `addr` until `done` holds for a scrape (returned) or `timeout`
/// passes (the error says what `done` last reported missing).
pub fn scrape_until(
    addr: SocketAddr,
    timeout: Duration,
    mut done: impl FnMut(&Scrape) -> Result<(), String>,
) -> Result<Scrape, String> {
    poll_until(timeout, || {
        let s = scrape(addr)?;
        done(&s)?;
        Ok(s)
    })
}

/// One sample line: `name{labels} value`.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The series name (with `_total`, `_bucket`, `_sum`, `_count` suffixes as written).
    pub name: String,
    /// Label names to unescaped values.
    pub labels: BTreeMap<String, String>,
    /// The value (`+Inf`, `-Inf` and `NaN` included).
    pub value: f64,
}

impl Sample {
    /// Whether every `(name, value)` of `filter` is one of the sample's labels.
    pub fn matches(&self, filter: &[(&str, &str)]) -> bool {
        filter.iter().all(|(k, v)| self.labels.get(*k).map(String::as_str) == Some(*v))
    }
}

/// A cumulative histogram read from its `_bucket`, `_sum` and `_count` series.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Histogram {
    /// `(le, cumulative count)`, ascending, ending with `+Inf`.
    pub buckets: Vec<(f64, f64)>,
    /// `_sum`.
    pub sum: f64,
    /// `_count`.
    pub count: f64,
}

impl Histogram {
    /// Observations at or below `bound` (the bucket whose `le` is the smallest at
    /// or above it, so an upper estimate if `bound` is not a bucket boundary).
    pub fn at_or_below(&self, bound: f64) -> f64 {
        self.buckets.iter().find(|(le, _)| *le >= bound).map(|(_, n)| *n).unwrap_or(self.count)
    }

    /// Adds another histogram with the same buckets (series of several labels).
    fn add(&mut self, other: &Histogram) {
        if self.buckets.is_empty() {
            self.buckets = other.buckets.clone();
        } else {
            for ((_, n), (_, m)) in self.buckets.iter_mut().zip(&other.buckets) {
                *n += m;
            }
        }
        self.sum += other.sum;
        self.count += other.count;
    }
}

/// A parsed exposition.
#[derive(Clone, Debug, Default)]
pub struct Scrape {
    /// `# TYPE` lines: family name to type.
    pub types: BTreeMap<String, String>,
    /// Every sample, in the order served.
    pub samples: Vec<Sample>,
    /// The text as served.
    pub text: String,
}

impl Scrape {
    /// Parses Prometheus text format 0.0.4.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut scrape = Scrape { text: text.to_string(), ..Scrape::default() };
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if let Some(comment) = line.strip_prefix('#') {
                let mut words = comment.split_whitespace();
                if words.next() == Some("TYPE") {
                    if let (Some(name), Some(kind)) = (words.next(), words.next()) {
                        scrape.types.insert(name.to_string(), kind.to_string());
                    }
                }
                continue;
            }
            let sample = parse_sample(line).map_err(|e| format!("line {}: {e}: {line}", n + 1))?;
            scrape.samples.push(sample);
        }
        Ok(scrape)
    }

    /// The metric families (`# TYPE` names).
    pub fn families(&self) -> BTreeSet<&str> {
        self.types.keys().map(String::as_str).collect()
    }

    /// Whether `name` is a series a query can select: a family, or a family's
    /// `_bucket`/`_sum`/`_count` series if it is a histogram.
    pub fn has_series_name(&self, name: &str) -> bool {
        if self.types.contains_key(name) {
            return true;
        }
        ["_bucket", "_sum", "_count"].iter().any(|suffix| {
            name.strip_suffix(suffix).is_some_and(|f| self.types.get(f).is_some_and(|t| t == "histogram"))
        })
    }

    /// Samples of series `name` whose labels include `filter`.
    pub fn series<'a>(&'a self, name: &'a str, filter: &'a [(&'a str, &'a str)]) -> impl Iterator<Item = &'a Sample> {
        self.samples.iter().filter(move |s| s.name == name && s.matches(filter))
    }

    /// The value of the one series `name` with labels including `filter`; `None`
    /// if there is none, panics if there are several.
    pub fn value(&self, name: &str, filter: &[(&str, &str)]) -> Option<f64> {
        let found: Vec<&Sample> = self.series(name, filter).collect();
        assert!(found.len() <= 1, "{} series {name} match {filter:?}: {found:?}", found.len());
        found.first().map(|s| s.value)
    }

    /// The sum over the series `name` with labels including `filter` (0 if none).
    pub fn sum(&self, name: &str, filter: &[(&str, &str)]) -> f64 {
        self.series(name, filter).map(|s| s.value).sum()
    }

    /// `sum by (label) (name{filter})`: series without the label are left out.
    pub fn sum_by(&self, name: &str, label: &str, filter: &[(&str, &str)]) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        for s in self.series(name, filter) {
            if let Some(v) = s.labels.get(label) {
                *out.entry(v.clone()).or_default() += s.value;
            }
        }
        out
    }

    /// The histogram family `name` (without suffix) summed over its series whose
    /// labels include `filter`; `None` if it has no such series.
    pub fn histogram(&self, name: &str, filter: &[(&str, &str)]) -> Option<Histogram> {
        let (bucket, sum, count) = (format!("{name}_bucket"), format!("{name}_sum"), format!("{name}_count"));
        // Group the series by their labels (without `le`), then add them up.
        let mut groups: BTreeMap<Vec<(String, String)>, Histogram> = BTreeMap::new();
        let key = |s: &Sample| -> Vec<(String, String)> {
            s.labels.iter().filter(|(k, _)| *k != "le").map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        for s in self.samples.iter().filter(|s| s.matches(filter)) {
            if s.name == bucket {
                let le = s.labels.get("le").and_then(|le| parse_value(le).ok()).unwrap_or(f64::NAN);
                groups.entry(key(s)).or_default().buckets.push((le, s.value));
            } else if s.name == sum {
                groups.entry(key(s)).or_default().sum = s.value;
            } else if s.name == count {
                groups.entry(key(s)).or_default().count = s.value;
            }
        }
        let mut total: Option<Histogram> = None;
        for h in groups.values_mut() {
            h.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            total.get_or_insert_with(Histogram::default).add(h);
        }
        total
    }
}

fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => s.parse().map_err(|_| format!("bad value {s:?}")),
    }
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(after) = rest.strip_prefix('{') {
        let mut chars = after.char_indices().peekable();
        let mut end = None;
        loop {
            // Skip separators, then a label name up to '='.
            while chars.next_if(|(_, c)| *c == ',' || *c == ' ').is_some() {}
            match chars.peek() {
                Some((i, '}')) => {
                    end = Some(*i + 1);
                    break;
                }
                None => break,
                _ => {}
            }
            let mut key = String::new();
            for (_, c) in chars.by_ref() {
                if c == '=' {
                    break;
                }
                key.push(c);
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err(format!("label {key:?} has no quoted value"));
            }
            let mut value = String::new();
            let mut closed = false;
            while let Some((_, c)) = chars.next() {
                match c {
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\\' => match chars.next().map(|(_, c)| c) {
                        Some('n') => value.push('\n'),
                        Some(e) => value.push(e),
                        None => return Err("escape at the end".into()),
                    },
                    c => value.push(c),
                }
            }
            if !closed {
                return Err(format!("label {key:?} value is not closed"));
            }
            labels.insert(key.trim().to_string(), value);
        }
        let end = end.ok_or("labels not closed")?;
        rest = &after[end..];
    }
    let mut words = rest.split_whitespace();
    let value = parse_value(words.next().ok_or("no value")?)?;
    Ok(Sample { name: name.to_string(), labels, value })
}

/// The metric names a PromQL expression selects: identifiers starting with
/// `prefix` (e.g. `tidemill_`), neither inside label matchers nor in the label
/// lists of `by`, `without`, `on`, `ignoring`, `group_left`, `group_right`.
pub fn promql_metric_names(expr: &str, prefix: &str) -> BTreeSet<String> {
    const LABEL_LISTS: [&str; 6] = ["by", "without", "on", "ignoring", "group_left", "group_right"];
    let mut names = BTreeSet::new();
    let (mut braces, mut in_string, mut in_label_list) = (0usize, false, false);
    let (mut word, mut last_word) = (String::new(), String::new());
    let mut prev = ' ';
    for c in expr.chars().chain([' ']) {
        if in_string {
            if c == '"' && prev != '\\' {
                in_string = false;
            }
            prev = c;
            continue;
        }
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
            prev = c;
            continue;
        }
        if !word.is_empty() {
            if braces == 0 && !in_label_list && word.starts_with(prefix) {
                names.insert(word.clone());
            }
            last_word = std::mem::take(&mut word);
        }
        match c {
            '{' => braces += 1,
            '}' => braces = braces.saturating_sub(1),
            '"' => in_string = true,
            '(' if LABEL_LISTS.contains(&last_word.as_str()) => in_label_list = true,
            ')' => in_label_list = false,
            _ => {}
        }
        if !c.is_whitespace() {
            last_word.clear();
        }
        prev = c;
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP tidemill_records_in_total Records.
# TYPE tidemill_records_in_total counter
tidemill_records_in_total{tidemill_node="kafka",tidemill_node_kind="source"} 20000
tidemill_records_in_total{tidemill_node="de\"co\\de",tidemill_node_kind="operator"} 3
# TYPE tidemill_job_lag gauge
tidemill_job_lag 0
# TYPE lat_seconds histogram
lat_seconds_bucket{tidemill_node="a",le="1"} 1
lat_seconds_bucket{tidemill_node="a",le="10"} 3
lat_seconds_bucket{tidemill_node="a",le="+Inf"} 4
lat_seconds_sum{tidemill_node="a"} 42.5
lat_seconds_count{tidemill_node="a"} 4
lat_seconds_bucket{tidemill_node="b",le="1"} 0
lat_seconds_bucket{tidemill_node="b",le="10"} 1
lat_seconds_bucket{tidemill_node="b",le="+Inf"} 1
lat_seconds_sum{tidemill_node="b"} 2
lat_seconds_count{tidemill_node="b"} 1
"#;

    #[test]
    fn parses_samples_labels_and_histograms() {
        let s = Scrape::parse(TEXT).unwrap();
        assert_eq!(s.value("tidemill_records_in_total", &[("tidemill_node", "kafka")]), Some(20000.0));
        assert_eq!(s.value("tidemill_records_in_total", &[("tidemill_node", "de\"co\\de")]), Some(3.0));
        assert_eq!(s.value("tidemill_job_lag", &[]), Some(0.0));
        assert_eq!(s.sum("tidemill_records_in_total", &[]), 20003.0);
        let by_kind = s.sum_by("tidemill_records_in_total", "tidemill_node_kind", &[]);
        assert_eq!(by_kind.get("operator"), Some(&3.0));
        let a = s.histogram("lat_seconds", &[("tidemill_node", "a")]).unwrap();
        assert_eq!(a.buckets, vec![(1.0, 1.0), (10.0, 3.0), (f64::INFINITY, 4.0)]);
        assert_eq!((a.sum, a.count, a.at_or_below(5.0)), (42.5, 4.0, 3.0));
        let all = s.histogram("lat_seconds", &[]).unwrap();
        assert_eq!((all.count, all.at_or_below(10.0), all.sum), (5.0, 4.0, 44.5));
        assert!(s.histogram("lat_seconds", &[("tidemill_node", "c")]).is_none());
        assert!(s.has_series_name("lat_seconds_bucket") && s.has_series_name("tidemill_job_lag"));
        assert!(!s.has_series_name("tidemill_job_lag_count") && !s.has_series_name("nope"));
    }

    #[test]
    fn rejects_broken_lines() {
        assert!(Scrape::parse("x{a=\"1\" 2").is_err());
        assert!(Scrape::parse("x{a=1} 2").is_err());
        assert!(Scrape::parse("x abc").is_err());
    }

    #[test]
    fn finds_metric_names_in_promql() {
        let names = promql_metric_names(
            r#"histogram_quantile(0.99, sum by (le) (rate(tidemill_a_bucket{tidemill_node="tidemill_x"}[5m]))) / tidemill_b"#,
            "tidemill_",
        );
        assert_eq!(names.into_iter().collect::<Vec<_>>(), ["tidemill_a_bucket", "tidemill_b"]);
        let names = promql_metric_names(
            "sum by (tidemill_node, le) (tidemill_c_total) / on (tidemill_node) group_left(tidemill_x) tidemill_d",
            "tidemill_",
        );
        assert_eq!(names.into_iter().collect::<Vec<_>>(), ["tidemill_c_total", "tidemill_d"]);
    }
}
