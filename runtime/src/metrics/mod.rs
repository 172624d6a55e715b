//! Job metrics through the OpenTelemetry metrics API, exported as Prometheus text
//! on an HTTP endpoint and pushed over OTLP when the standard environment
//! variables ask for it.
//!
//! Every job gets its own [`JobMetrics`]: its own `SdkMeterProvider` with a
//! `ManualReader` that `/metrics` collects (and, with OTLP, a `PeriodicReader`
//! besides), so that several jobs in one process (tests) never mix their numbers
//! and nothing depends on the global provider.
//!
//! Cost on the record path: actors add to plain atomics once per batch
//! ([`registry`]); observable instruments read them only when a reader collects.
//! Synchronous instruments are recorded per checkpoint, commit or restart, with
//! attribute sets built once when the actor starts.
//!
//! | file | role |
//! |---|---|
//! | `registry.rs` | the atomics actors update; job status |
//! | `events.rs` | what the supervisor reports (checkpoints, restarts, status) |
//! | `instruments.rs`, `gauges.rs` | the instruments and their names |
//! | `node.rs` | the handles factories get ([`NodeMetrics`], [`PartitionMetrics`]) |
//! | `latency.rs` | latency to visibility per epoch ([`EpochLatency`]) |
//! | `prometheus.rs` | the text encoder |
//! | `readiness.rs` | what `/readyz` says: status and nodes' conditions ([`ReadinessCondition`]) |
//! | `http.rs` | `/`, `/api/v1/...`, `/metrics`, `/healthz`, `/readyz` |
//! | `status/` | the status page and its JSON API |
//! | `otlp.rs` | the OTLP push reader |
//! | `lag.rs`, `progress.rs` | lag-growth detector, progress line |

mod events;
mod gauges;
mod http;
mod hub;
mod instruments;
mod lag;
mod latency;
mod node;
mod otlp;
mod progress;
pub mod prometheus;
mod readiness;
pub(crate) mod registry;
mod scaling;
pub(crate) mod shard;
mod status;

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{InstrumentKind, ManualReader, Pipeline, SdkMeterProvider, Temporality};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

pub use hub::{HubEndpoint, MetricsHub, JOB_LABEL};
pub use instruments::keys;
pub use lag::LagGrowthConfig;
pub use latency::EpochLatency;
pub use node::{NodeMetrics, PartitionLabels, PartitionMetrics};
pub use readiness::{Readiness, ReadinessCondition};
pub use registry::JobStatus;
pub use scaling::{
    available_cores, process_cpu_time, ActivityMeter, GroupReading, ProcessActivity, ScalingChange, ScalingConfig,
    ScalingReading, ScalingSignal, ScalingStatus, SourceActivity,
};

pub(crate) use instruments::Instruments;
use registry::Registry;

use crate::plan::Topology;

/// The endpoint's address the example jobs default to: localhost only.
pub const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:9464";

/// Metrics could not be set up or collected.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The HTTP endpoint could not listen.
    #[error("metrics endpoint {addr}: {reason}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The OTLP exporter could not be built from the environment.
    #[error("OTLP metrics exporter: {0}")]
    Otlp(String),
    /// Collecting failed.
    #[error("collecting metrics: {0}")]
    Collect(String),
    /// An address that is neither `host:port` nor `off`.
    #[error("invalid metrics address `{0}`: expected host:port (e.g. 127.0.0.1:9464) or `off`")]
    Address(String),
}

/// Where the HTTP endpoint listens: `host:port`, or nowhere (`off`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct MetricsAddr(pub Option<SocketAddr>);

impl MetricsAddr {
    /// No endpoint.
    pub const OFF: MetricsAddr = MetricsAddr(None);

    /// [`DEFAULT_METRICS_ADDR`].
    pub fn default_local() -> Self {
        MetricsAddr(DEFAULT_METRICS_ADDR.parse().ok())
    }
}

impl FromStr for MetricsAddr {
    type Err = MetricsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "off" | "none" | "disabled" | "false" => Ok(MetricsAddr::OFF),
            addr => addr.parse().map(|a| MetricsAddr(Some(a))).map_err(|_| MetricsError::Address(s.to_string())),
        }
    }
}

impl fmt::Display for MetricsAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(a) => write!(f, "{a}"),
            None => f.write_str("off"),
        }
    }
}

impl Serialize for MetricsAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MetricsAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// How a job exposes its metrics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Where `/metrics`, `/healthz` and `/readyz` listen; `off` (the library's
    /// default) for no endpoint. Port 0 picks a free port ([`JobMetrics::http_addr`]).
    pub addr: MetricsAddr,
    /// If `addr` is taken, listen on a free port of the same host instead (and log
    /// it) rather than fail the start. For a default address that several
    /// processes on one host may share; an address chosen on purpose should fail.
    pub fallback_to_free_port: bool,
    /// Push over OTLP (HTTP, protobuf) when `OTEL_EXPORTER_OTLP_ENDPOINT` or
    /// `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` is set and `OTEL_METRICS_EXPORTER`
    /// is not `none`.
    pub otlp_from_env: bool,
    /// How often the progress line is logged; `None` never.
    #[serde(with = "humantime_serde")]
    pub progress_interval: Option<Duration>,
    /// The lag-growth detector.
    pub lag_growth: LagGrowthConfig,
    /// The scaling signal of a group-scaled job's processes.
    pub scaling: ScalingConfig,
    /// Whether the status page (`/api/v1/dead-letters`) may show the first bytes
    /// of dead letters' payloads. Off by default: payloads may hold personal data.
    pub show_payloads: bool,
}

impl MetricsConfig {
    /// Checks the settings (a zero interval would panic the metrics tasks).
    pub fn validate(&self) -> Result<(), crate::ConfigError> {
        if let Some(every) = self.progress_interval {
            crate::config::positive("metrics.progress_interval", every)?;
        }
        self.lag_growth.validate()?;
        self.scaling.validate()
    }
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            addr: MetricsAddr::OFF,
            fallback_to_free_port: false,
            otlp_from_env: true,
            progress_interval: Some(Duration::from_secs(10)),
            lag_growth: LagGrowthConfig::default(),
            scaling: ScalingConfig::default(),
            show_payloads: false,
        }
    }
}

/// A `ManualReader` the provider owns and `/metrics` collects from.
#[derive(Debug, Clone)]
pub(crate) struct SharedReader(pub(crate) Arc<ManualReader>);

impl MetricReader for SharedReader {
    fn register_pipeline(&self, pipeline: std::sync::Weak<Pipeline>) {
        self.0.register_pipeline(pipeline)
    }

    fn collect(&self, rm: &mut ResourceMetrics) -> OTelSdkResult {
        self.0.collect(rm)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.0.temporality(kind)
    }
}

/// Collects from `reader` and encodes the result as Prometheus text.
pub(crate) fn collect_text(reader: &ManualReader) -> Result<String, MetricsError> {
    Ok(prometheus::encode(&collect_families(reader)?))
}

/// Collects from `reader`, as the encoder's families.
fn collect_families(reader: &ManualReader) -> Result<Vec<prometheus::Family>, MetricsError> {
    let mut rm = ResourceMetrics::default();
    reader.collect(&mut rm).map_err(|e| MetricsError::Collect(e.to_string()))?;
    Ok(prometheus::families(&rm))
}

/// One job's metrics: its meter provider, instruments and live values.
pub struct JobMetrics {
    job: Arc<str>,
    provider: SdkMeterProvider,
    reader: Arc<ManualReader>,
    meter: Meter,
    pub(crate) registry: Arc<Registry>,
    pub(crate) instruments: Instruments,
    _observables: Vec<Box<dyn std::any::Any + Send + Sync>>,
    otlp: bool,
    http_addr: OnceLock<SocketAddr>,
}

impl fmt::Debug for JobMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobMetrics").field("job", &self.job).field("otlp", &self.otlp).finish_non_exhaustive()
    }
}

impl JobMetrics {
    pub(crate) fn new(job: &str, plan: Option<&Topology>, config: &MetricsConfig) -> Result<Self, MetricsError> {
        let reader = Arc::new(ManualReader::builder().build());
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name(job.to_string())
            .with_attribute(opentelemetry::KeyValue::new("tidemill.job", job.to_string()))
            .build();
        let mut builder = SdkMeterProvider::builder().with_resource(resource).with_reader(SharedReader(reader.clone()));
        let otlp = match config.otlp_from_env.then(otlp::reader_from_env).transpose()?.flatten() {
            Some(periodic) => {
                builder = builder.with_reader(periodic);
                true
            }
            None => false,
        };
        let provider = builder.build();
        let meter = provider.meter("tidemill");
        let registry = Arc::new(Registry::new(plan, config.show_payloads));
        let instruments = Instruments::new(&meter);
        // Failure series exist from the start at 0, so that `increase()` counts the
        // first failure (a series that appears with value 1 has no increase).
        for error_type in ["store_write", "pipeline_failed"] {
            instruments.checkpoint_failures.add(0, &[KeyValue::new(keys::ERROR_TYPE, error_type)]);
        }
        let observables = instruments::observe(&meter, &registry);
        Ok(JobMetrics {
            job: Arc::from(job),
            provider,
            reader,
            meter,
            registry,
            instruments,
            _observables: observables,
            otlp,
            http_addr: OnceLock::new(),
        })
    }

    /// The job's name.
    pub fn job(&self) -> &str {
        &self.job
    }

    /// The meter the job's instruments come from; operators and sinks may create
    /// their own instruments on it (they are exported with the job's).
    pub fn meter(&self) -> &Meter {
        &self.meter
    }

    /// Collects every instrument now and renders the Prometheus text exposition.
    pub fn prometheus_text(&self) -> Result<String, MetricsError> {
        collect_text(&self.reader)
    }

    /// Collects every instrument now, as the encoder's families.
    pub(crate) fn families(&self) -> Result<Vec<prometheus::Family>, MetricsError> {
        collect_families(&self.reader)
    }

    /// Where the HTTP endpoint listens, once it does.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr.get().copied()
    }

    /// Whether metrics are also pushed over OTLP.
    pub fn otlp_enabled(&self) -> bool {
        self.otlp
    }

    /// The job's status (`/readyz` reports it with the nodes' conditions:
    /// [`JobMetrics::readiness`]).
    pub fn status(&self) -> JobStatus {
        self.registry.status()
    }

    /// What `/readyz` reports: ready while the pipeline runs and no node reports
    /// a [`ReadinessCondition`], else why not.
    pub fn readiness(&self) -> Readiness {
        self.registry.readiness()
    }

    /// The job's total lag (the sum over source partitions that report one).
    pub fn total_lag(&self) -> Option<u64> {
        self.registry.total_lag()
    }

    /// What the job's sources read so far and how long they waited at the end
    /// of their input (the scaling signal's busy share).
    pub fn source_activity(&self) -> SourceActivity {
        let sources = self.registry.nodes.iter().filter(|n| n.kind == crate::plan::NodeKind::Source);
        sources.fold(SourceActivity::default(), |a, n| SourceActivity {
            records: a.records + n.records_in(),
            idle: a.idle + n.idle(),
            partitions: a.partitions + n.shards(),
        })
    }

    /// The handle a factory of `node`'s shard `shard` gets in its context.
    pub(crate) fn node(self: &Arc<Self>, node: &Arc<str>, shard: usize) -> NodeMetrics {
        NodeMetrics::new(Some(self.clone()), node.clone(), shard)
    }
}

/// The tasks serving one job's metrics: the HTTP endpoint and the progress and
/// lag sampler. Aborted when dropped; [`MetricsServices::close`] also pushes the
/// last values over OTLP.
pub(crate) struct MetricsServices {
    metrics: Arc<JobMetrics>,
    tasks: Vec<JoinHandle<()>>,
}

impl MetricsServices {
    pub(crate) async fn start(metrics: Arc<JobMetrics>, config: &MetricsConfig) -> Result<Self, MetricsError> {
        let mut tasks = Vec::new();
        if let Some((listener, local)) = http::bind_configured(config, &metrics.job).await? {
            let _ = metrics.http_addr.set(local);
            tasks.push(http::serve(listener, metrics.clone()));
        }
        if metrics.otlp {
            tracing::info!(job = %metrics.job, "pushing metrics over OTLP");
        }
        tasks.push(tokio::spawn(progress::run(metrics.job.clone(), metrics.registry.clone(), config.clone())));
        Ok(MetricsServices { metrics, tasks })
    }

    /// Stops serving; with OTLP, exports the final values (off the async threads:
    /// the exporter's client blocks).
    pub(crate) async fn close(mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
            // Awaited, so that the listener is closed when `close` returns.
            let _ = task.await;
        }
        if self.metrics.otlp {
            let metrics = self.metrics.clone();
            let shut = tokio::task::spawn_blocking(move || metrics.provider.shutdown()).await;
            if let Ok(Err(e)) = shut {
                tracing::warn!(job = %self.metrics.job, error = %e, "OTLP metrics: final export failed");
            }
        }
    }
}

impl Drop for MetricsServices {
    fn drop(&mut self) {
        self.tasks.drain(..).for_each(|t| t.abort());
    }
}
