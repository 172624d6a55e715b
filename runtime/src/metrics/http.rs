//! The HTTP endpoint: `/` (the status page) and `/api/v1/...` (its JSON, see
//! `status/`), `/metrics` (Prometheus text), `/healthz` (the process
//! answers), `/readyz` (the pipeline is running: every actor started, not
//! restarting, not stopping; and no node reports a readiness condition, such as
//! a source that cannot reach its brokers).
//!
//! A plain hyper 1 HTTP/1.1 server (hyper is in the tree through deltalake
//! already); one task accepts, one task per connection serves.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::metrics::hub::Exposition;
use crate::metrics::status::{self, ApiDocument};
use crate::metrics::{MetricsConfig, MetricsError, Readiness};

/// A client that sends no complete request head within this time is dropped.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Binds the endpoint (port 0 picks a free port; see the returned address).
pub(crate) async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), MetricsError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| MetricsError::Bind { addr: addr.to_string(), reason: e.to_string() })?;
    let local =
        listener.local_addr().map_err(|e| MetricsError::Bind { addr: addr.to_string(), reason: e.to_string() })?;
    Ok((listener, local))
}

/// Binds `config.addr`, if there is one; when it is taken and
/// `config.fallback_to_free_port` allows it, a free port on the same interface
/// (logged, naming `job`).
pub(crate) async fn bind_configured(
    config: &MetricsConfig,
    job: &str,
) -> Result<Option<(TcpListener, SocketAddr)>, MetricsError> {
    let Some(addr) = config.addr.0 else { return Ok(None) };
    let bound = match bind(addr).await {
        Err(e) if config.fallback_to_free_port => {
            let (listener, local) = bind(SocketAddr::new(addr.ip(), 0)).await?;
            tracing::warn!(job, error = %e, addr = %local, "metrics endpoint moved to a free port");
            (listener, local)
        }
        bound => bound?,
    };
    tracing::info!(job, addr = %bound.1, "metrics endpoint: /metrics, /healthz, /readyz");
    Ok(Some(bound))
}

/// Serves until the returned task is aborted.
pub(crate) fn serve<E: Exposition>(listener: TcpListener, metrics: Arc<E>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "metrics endpoint: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let metrics = metrics.clone();
                    async move { Ok::<_, Infallible>(respond(metrics.as_ref(), &req)) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service);
                if let Err(e) = conn.await {
                    tracing::debug!(%peer, error = %e, "metrics endpoint: connection ended with an error");
                }
            });
        }
    })
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

fn typed(status: StatusCode, body: impl Into<Bytes>, content_type: &'static str) -> Response<Full<Bytes>> {
    let mut r = text(status, body);
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn respond<E: Exposition>(metrics: &E, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        r.headers_mut().insert(hyper::header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    match req.uri().path() {
        "/metrics" => match metrics.prometheus_text() {
            Ok(body) => {
                let mut r = text(StatusCode::OK, body);
                r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(super::prometheus::CONTENT_TYPE));
                r
            }
            Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
        },
        "/" => typed(StatusCode::OK, status::PAGE, "text/html; charset=utf-8"),
        "/healthz" => text(StatusCode::OK, "ok\n"),
        // One reason a line: the status if not running, then `<node>: <reason>`.
        "/readyz" => match metrics.readiness() {
            Readiness::Ready => text(StatusCode::OK, "ready\n"),
            Readiness::NotReady(reasons) => text(StatusCode::SERVICE_UNAVAILABLE, reasons.join("\n") + "\n"),
        },
        path => match ApiDocument::of_path(path) {
            Some(document) => typed(StatusCode::OK, metrics.api(document), "application/json"),
            None => text(StatusCode::NOT_FOUND, "not found: try /, /metrics, /healthz, /readyz or /api/v1/job\n"),
        },
    }
}
