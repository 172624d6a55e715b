//! OTLP over gRPC: with `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`, spans (through
//! `trace::install_otlp`) and a job's metrics go to an in-process gRPC OTLP
//! receiver. A test binary of its own: the variables are process-wide.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::trace::{Span as _, Tracer as _};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::resource::v1::Resource;
use tidemill_runtime::metrics::MetricsConfig;
use tidemill_runtime::testing::{CollectSink, Collected, VecSource};
use tidemill_runtime::trace::{install_otlp, SampleRatio};
use tidemill_runtime::{DeadLetter, Job, NodeContext};
use tokio::sync::mpsc;
use tonic::{Request, Response, Status};

/// Forwards every trace export request it receives.
struct Traces(mpsc::UnboundedSender<ExportTraceServiceRequest>);

#[tonic::async_trait]
impl TraceService for Traces {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let _ = self.0.send(request.into_inner());
        Ok(Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

/// Forwards every metrics export request it receives.
struct Metrics(mpsc::UnboundedSender<ExportMetricsServiceRequest>);

#[tonic::async_trait]
impl MetricsService for Metrics {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let _ = self.0.send(request.into_inner());
        Ok(Response::new(ExportMetricsServiceResponse { partial_success: None }))
    }
}

fn service_name(resource: Option<&Resource>) -> Option<String> {
    resource?.attributes.iter().find(|kv| kv.key == "service.name").and_then(|kv| match &kv.value.as_ref()?.value {
        Some(Value::StringValue(s)) => Some(s.clone()),
        _ => None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_and_metrics_are_exported_over_grpc_when_the_protocol_says_so() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (traces_tx, mut traces_rx) = mpsc::unbounded_channel();
    let (metrics_tx, mut metrics_rx) = mpsc::unbounded_channel();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Traces(traces_tx)))
            .add_service(MetricsServiceServer::new(Metrics(metrics_tx)))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    // Edition 2021: setting the environment is safe; this binary has one test.
    std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{addr}"));
    std::env::set_var("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc");
    std::env::set_var("OTEL_METRIC_EXPORT_INTERVAL", "50");

    // (a) Spans. Installed, recorded and flushed on a plain thread with no tokio
    // runtime, as a synchronous `main` would: the gRPC exporter brings its own.
    let installed = std::thread::spawn(|| {
        let guard = install_otlp("otlp-grpc-test", SampleRatio::new(1.0).unwrap()).expect("a gRPC span exporter");
        let mut span = opentelemetry::global::tracer("otlp-grpc-test").start("grpc-exported-span");
        span.end();
        guard.provider().force_flush().expect("the flush exports over gRPC");
        guard
    })
    .join()
    .unwrap();
    let span_seen = async {
        while let Some(request) = traces_rx.recv().await {
            for resource_spans in &request.resource_spans {
                let names = resource_spans.scope_spans.iter().flat_map(|s| &s.spans).map(|s| s.name.as_str());
                if names.into_iter().any(|n| n == "grpc-exported-span") {
                    return service_name(resource_spans.resource.as_ref());
                }
            }
        }
        None
    };
    let service = tokio::time::timeout(Duration::from_secs(30), span_seen).await.expect("a span over gRPC");
    assert_eq!(service.as_deref(), Some("otlp-grpc-test"));
    // Dropping the guard shuts the exporter down; it blocks, so not on a worker.
    tokio::task::spawn_blocking(move || drop(installed)).await.unwrap();

    // (b) A job's metrics.
    let job = Job::builder("otlp-grpc-push").metrics(MetricsConfig::default());
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

    // The job's end pushes the last values: an export naming the records metric
    // and the job has arrived.
    let metrics_seen = async {
        while let Some(request) = metrics_rx.recv().await {
            for resource_metrics in &request.resource_metrics {
                let names = resource_metrics.scope_metrics.iter().flat_map(|s| &s.metrics).map(|m| m.name.as_str());
                if names.into_iter().any(|n| n == "tidemill.records.in") {
                    return service_name(resource_metrics.resource.as_ref());
                }
            }
        }
        None
    };
    let service = tokio::time::timeout(Duration::from_secs(30), metrics_seen).await.expect("metrics over gRPC");
    assert_eq!(service.as_deref(), Some("otlp-grpc-push"));
}
