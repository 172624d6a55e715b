//! OTLP push: with `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` set, a job posts its
//! metrics (protobuf over HTTP) to that endpoint. A test binary of its own: the
//! variables are process-wide.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tidemill_runtime::metrics::MetricsConfig;
use tidemill_runtime::testing::{CollectSink, Collected, VecSource};
use tidemill_runtime::{DeadLetter, Job, NodeContext};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// One request the fake collector received: (request line, content type, body).
type Received = (String, String, Vec<u8>);

/// Accepts connections and answers every request with 200, reporting each.
async fn fake_collector(listener: tokio::net::TcpListener, tx: mpsc::UnboundedSender<Received>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { return };
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut stream = BufReader::new(stream);
            loop {
                let mut line = String::new();
                if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                let (mut length, mut content_type) = (0usize, String::new());
                loop {
                    let mut header = String::new();
                    stream.read_line(&mut header).await.unwrap();
                    let header = header.trim_end();
                    if header.is_empty() {
                        break;
                    }
                    let (k, v) = header.split_once(':').unwrap();
                    match k.to_ascii_lowercase().as_str() {
                        "content-length" => length = v.trim().parse().unwrap(),
                        "content-type" => content_type = v.trim().to_string(),
                        _ => {}
                    }
                }
                let mut body = vec![0; length];
                stream.read_exact(&mut body).await.unwrap();
                let _ = tx.send((line.trim_end().to_string(), content_type, body));
                let ok = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
                if stream.get_mut().write_all(ok).await.is_err() {
                    return;
                }
            }
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_pushed_over_otlp_when_the_environment_says_so() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(fake_collector(listener, tx));
    // Edition 2021: setting the environment is safe; this binary has one test.
    std::env::set_var("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", format!("http://{addr}/v1/metrics"));
    std::env::set_var("OTEL_METRIC_EXPORT_INTERVAL", "50");
    // The metrics variable wins over the generic one, and `http/json` (not built
    // in) falls back to HTTP/protobuf, never to the generic `grpc`.
    std::env::set_var("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc");
    std::env::set_var("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/json");

    let job = Job::builder("otlp-push").metrics(MetricsConfig::default());
    let values = Arc::new((0..1_000u32).collect::<Vec<_>>());
    let out: Arc<Mutex<Collected<u32>>> = Arc::default();
    let o = out.clone();
    job.source("numbers", 1, move |ctx: &NodeContext| Ok(VecSource::new(values.clone(), ctx)))
        .map("copy", |v: &u32| *v)
        .sink("out", move |_| Ok(CollectSink::new(o.clone())));
    let dead: Arc<Mutex<Collected<DeadLetter>>> = Arc::default();
    job.dead_letters().sink("dlq", move |_| Ok(CollectSink::new(dead.clone())));
    let handle = job.build().unwrap().start().await.unwrap();
    assert!(handle.metrics().otlp_enabled());
    let summary = handle.wait().await.unwrap();
    assert_eq!(summary.records_in, 1_000);

    // The job's end pushes the last values, so at least one export has arrived.
    let (line, content_type, body) =
        tokio::time::timeout(Duration::from_secs(30), rx.recv()).await.expect("an OTLP export").unwrap();
    assert_eq!(line, "POST /v1/metrics HTTP/1.1");
    assert_eq!(content_type, "application/x-protobuf");
    // Protobuf keeps strings as they are: the metric names and the job are in it.
    let mut all = body;
    while let Ok((_, _, more)) = rx.try_recv() {
        all.extend(more);
    }
    let text = String::from_utf8_lossy(&all);
    assert!(text.contains("tidemill.records.in"), "no records metric in the export");
    assert!(text.contains("otlp-push"), "no service name in the export");
}
