//! Settings of the order job: window, watermark, sharding, runtime.

use std::path::PathBuf;
use std::time::Duration;

use crate::kafka_client::KafkaClientSettings;
use crate::orders::{GeneratorConfig, GeneratorError};
use serde::{Deserialize, Serialize};
use tidemill_delta::TableLocation;
use tidemill_kafka::KafkaSourceConfig;
use tidemill_operators::window::{SlidingWindow, WindowError};
use tidemill_runtime::config::{at_least, positive};
use tidemill_runtime::metrics::{MetricsAddr, MetricsConfig};
use tidemill_runtime::{ConfigError, JobConfig};

/// Tunables of the order job. Defaults are the reference Spark job's: sliding windows of
/// 5 minutes every minute, a 10-minute watermark delay. Deserialises from TOML.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OrderJobSettings {
    /// Window length.
    #[serde(with = "humantime_serde")]
    pub window_size: Duration,
    /// Window slide.
    #[serde(with = "humantime_serde")]
    pub window_slide: Duration,
    /// Bounded out-of-orderness of the watermark (the reference job's `withWatermark`).
    #[serde(with = "humantime_serde")]
    pub watermark_delay: Duration,
    /// Extra time a window waits past its end before it is emitted.
    #[serde(with = "humantime_serde")]
    pub allowed_lateness: Duration,
    /// Shards of the keyed operators (windows by `user_id`, dedup by order key).
    pub shards: usize,
    /// How long behind the watermark the `orders` dedup remembers keys; `None`
    /// means window size plus allowed lateness (every record the windows accept
    /// can still be checked for duplicates).
    #[serde(with = "humantime_serde")]
    pub dedup_retention: Option<Duration>,
    /// Rows per Parquet file written by the Delta sinks.
    pub target_file_rows: usize,
    /// Runtime settings: batch size, edge capacity, restart policy, checkpoint
    /// interval.
    pub runtime: JobConfig,
    /// Where checkpoints are kept: a folder, `file:///path` or
    /// `s3://bucket/prefix` (endpoint and credentials from `AWS_ENDPOINT_URL`,
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
    /// `AWS_ALLOW_HTTP`). With one, the job checkpoints every
    /// `runtime.checkpoint_interval` (default 30 s) and, started again with the same
    /// folder, resumes from its newest checkpoint; without one, the job commits its
    /// tables once, at the end of its input.
    pub checkpoint_dir: Option<PathBuf>,
    /// The generator used with `--generate`.
    pub generator: GeneratorConfig,
    /// Metrics (TOML `[metrics]`): `addr` of `/metrics`, `/healthz`, `/readyz`
    /// (default 127.0.0.1:9464, localhost only; `off` for none), the progress line
    /// and the lag-growth detector. OTLP push follows `OTEL_EXPORTER_OTLP_*`.
    pub metrics: MetricsConfig,
    /// Kafka clients (TOML `[kafka.properties]`): librdkafka properties for every
    /// Kafka client of the job, e.g. TLS and SASL settings.
    pub kafka: KafkaClientSettings,
}

impl Default for OrderJobSettings {
    fn default() -> Self {
        OrderJobSettings {
            window_size: Duration::from_secs(5 * 60),
            window_slide: Duration::from_secs(60),
            watermark_delay: Duration::from_secs(10 * 60),
            allowed_lateness: Duration::ZERO,
            shards: 2,
            dedup_retention: None,
            target_file_rows: 1_000_000,
            runtime: JobConfig::default(),
            checkpoint_dir: None,
            generator: GeneratorConfig::default(),
            metrics: MetricsConfig {
                addr: MetricsAddr::default_local(),
                // Two jobs on one host (tests, a second run) must not fail on the
                // default port; an address given on purpose does.
                fallback_to_free_port: true,
                ..MetricsConfig::default()
            },
            kafka: KafkaClientSettings::default(),
        }
    }
}

impl OrderJobSettings {
    /// The dedup retention in force.
    pub fn effective_dedup_retention(&self) -> Duration {
        self.dedup_retention.unwrap_or(self.window_size + self.allowed_lateness)
    }

    /// Checks every setting, so that nothing starts with one that cannot work.
    ///
    /// A slide that does not divide the window size is fine: windows are kept in
    /// panes of the greatest common divisor of the two.
    pub fn validate(&self) -> Result<(), SettingsError> {
        SlidingWindow::of_size(self.window_size).every(self.window_slide)?;
        at_least("shards", self.shards as u64, 1)?;
        at_least("target_file_rows", self.target_file_rows as u64, 1)?;
        if let Some(retention) = self.dedup_retention {
            positive("dedup_retention", retention)?;
        }
        self.runtime.validate()?;
        self.metrics.validate()?;
        self.generator.validate()?;
        Ok(())
    }
}

/// A setting of the order job that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A job or runtime setting.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The window size or slide.
    #[error(transparent)]
    Window(#[from] WindowError),
    /// A generator setting.
    #[error("generator: {0}")]
    Generator(#[from] GeneratorError),
}

impl SettingsError {
    /// The setting the error is about, as written in the job's TOML file.
    pub fn setting(&self) -> String {
        match self {
            SettingsError::Config(e) => {
                let s = e.setting();
                let job_level = ["shards", "target_file_rows", "dedup_retention"];
                if job_level.contains(&s) || s.starts_with("metrics.") {
                    s.to_string()
                } else {
                    format!("runtime.{s}")
                }
            }
            SettingsError::Window(_) => "window_size / window_slide".to_string(),
            SettingsError::Generator(_) => "generator".to_string(),
        }
    }
}

/// Where the order job reads from.
#[derive(Clone, Debug, PartialEq)]
pub enum OrderInput {
    /// A JSON-lines file, or a folder of them read in file-name order.
    Path(PathBuf),
    /// Generated orders (see [`GeneratorConfig`]).
    Generate(GeneratorConfig),
    /// A Kafka topic, one source actor per partition.
    Kafka(KafkaSourceConfig),
}

/// The three tables under the output folder or prefix.
///
/// ```
/// use tidemill_delta::TableLocation;
/// use tidemill_job_examples::order_aggregates::OrderTables;
///
/// let tables = OrderTables::under(&TableLocation::parse("s3://tidemill/out").unwrap());
/// assert_eq!(tables.dlq.to_string(), "s3://tidemill/out/dlq");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderTables {
    /// `<dir>/order_aggregates`.
    pub order_aggregates: TableLocation,
    /// `<dir>/orders`.
    pub orders: TableLocation,
    /// `<dir>/dlq`.
    pub dlq: TableLocation,
}

impl OrderTables {
    /// The tables under `dir` (a local folder, or a [`TableLocation`]).
    pub fn under(dir: impl Into<TableLocation>) -> Self {
        let dir = dir.into();
        OrderTables { order_aggregates: dir.join("order_aggregates"), orders: dir.join("orders"), dlq: dir.join("dlq") }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn metrics_default_to_localhost_and_read_from_toml() {
        let d = OrderJobSettings::default();
        assert_eq!(d.metrics.addr.to_string(), "127.0.0.1:9464");
        assert!(d.metrics.fallback_to_free_port);
        let s: OrderJobSettings = toml::from_str(
            r#"
            [metrics]
            addr = "0.0.0.0:9100"
            progress_interval = "30s"
            [metrics.lag_growth]
            factor = 3.0
            "#,
        )
        .unwrap();
        assert_eq!(s.metrics.addr.to_string(), "0.0.0.0:9100");
        assert_eq!(s.metrics.progress_interval, Some(Duration::from_secs(30)));
        assert_eq!(s.metrics.lag_growth.factor, 3.0);
        assert_eq!(s.metrics.lag_growth.min_lag, 10_000);
        let off: OrderJobSettings = toml::from_str("[metrics]\naddr = \"off\"\n").unwrap();
        assert_eq!(off.metrics.addr.0, None);
        assert!(toml::from_str::<OrderJobSettings>("[metrics]\naddr = \"nowhere\"\n").is_err());
    }
}
