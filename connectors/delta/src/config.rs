//! Configuration of a Delta sink, and the application id its commits carry.

use serde::{Deserialize, Serialize};
use tidemill_runtime::NodeContext;

use super::location::TableLocation;

/// Where and how a [`DeltaAppendSink`](super::DeltaAppendSink) writes.
///
/// Deserialisable so that a job's TOML config can hold it:
///
/// ```toml
/// [sinks.revenue]
/// location = "s3://tidemill/revenue"   # or a local path; `path` is an alias
/// target_file_rows = 100000
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeltaSinkConfig {
    /// Where the table lives: a local folder (created with the table if absent)
    /// or an `s3://bucket/prefix` URL.
    #[serde(alias = "path")]
    pub location: TableLocation,
    /// Rows buffered in memory before they are written out as one Parquet file
    /// (uncommitted until the checkpoint completes). At a barrier whatever is
    /// buffered is written too, so a file may hold fewer rows.
    #[serde(default = "default_target_file_rows")]
    pub target_file_rows: usize,
    /// The most bytes (as [`DeltaRecord::approx_bytes`](super::DeltaRecord::approx_bytes)
    /// counts them) buffered in memory before they are written out as a file,
    /// whatever the row count: with large rows (dead letters holding whole
    /// payloads) this, not `target_file_rows`, bounds the sink's memory.
    #[serde(default = "default_target_file_bytes")]
    pub target_file_bytes: usize,
    /// The base of the transaction ids each commit carries (see
    /// [`SinkIdentity`](super::SinkIdentity)). Default: `tidemill-<job>-<node>`,
    /// with `-<shard>` appended when the node has several shards. Two writers that
    /// share a base id in one lineage skip each other's epochs, so set it
    /// explicitly when several jobs of one name append to the same table.
    #[serde(default)]
    pub app_id: Option<String>,
}

fn default_target_file_rows() -> usize {
    DeltaSinkConfig::DEFAULT_TARGET_FILE_ROWS
}

fn default_target_file_bytes() -> usize {
    DeltaSinkConfig::DEFAULT_TARGET_FILE_BYTES
}

impl DeltaSinkConfig {
    /// Default for [`DeltaSinkConfig::target_file_rows`].
    pub const DEFAULT_TARGET_FILE_ROWS: usize = 65_536;
    /// Default for [`DeltaSinkConfig::target_file_bytes`]: 64 MiB.
    pub const DEFAULT_TARGET_FILE_BYTES: usize = 64 << 20;

    /// A config for the table at `location` with default settings.
    pub fn new(location: impl Into<TableLocation>) -> Self {
        DeltaSinkConfig {
            location: location.into(),
            target_file_rows: Self::DEFAULT_TARGET_FILE_ROWS,
            target_file_bytes: Self::DEFAULT_TARGET_FILE_BYTES,
            app_id: None,
        }
    }

    /// Sets [`DeltaSinkConfig::target_file_bytes`] (at least 1).
    pub fn with_target_file_bytes(mut self, bytes: usize) -> Self {
        self.target_file_bytes = bytes.max(1);
        self
    }

    /// Sets [`DeltaSinkConfig::target_file_rows`] (at least 1).
    pub fn with_target_file_rows(mut self, rows: usize) -> Self {
        self.target_file_rows = rows.max(1);
        self
    }

    /// Sets [`DeltaSinkConfig::app_id`].
    pub fn with_app_id(mut self, app_id: impl Into<String>) -> Self {
        self.app_id = Some(app_id.into());
        self
    }

    /// The base transaction id a sink built with `ctx` uses: the configured one or
    /// [`NodeContext::sink_app_id`].
    pub fn app_id_for(&self, ctx: &NodeContext) -> String {
        self.app_id.clone().unwrap_or_else(|| ctx.sink_app_id())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn app_id_defaults_to_job_and_node_and_adds_shard_when_sharded() {
        let mut ctx = NodeContext::for_tests("revenue");
        let config = DeltaSinkConfig::new(Path::new("/t"));
        assert_eq!(config.app_id_for(&ctx), "tidemill-test-revenue");
        ctx.shards = 4;
        ctx.shard = 2;
        assert_eq!(config.app_id_for(&ctx), "tidemill-test-revenue-2");
        assert_eq!(config.with_app_id("mine").app_id_for(&ctx), "mine");
    }

    #[test]
    fn config_deserialises_with_defaults_and_clamps_rows() {
        let config: DeltaSinkConfig = serde_json::from_str(r#"{"path":"/data/t"}"#).unwrap();
        assert_eq!(config, DeltaSinkConfig::new(Path::new("/data/t")));
        assert_eq!(config.target_file_rows, 65_536);
        assert_eq!(DeltaSinkConfig::new(Path::new("/t")).with_target_file_rows(0).target_file_rows, 1);
        let remote: DeltaSinkConfig = serde_json::from_str(r#"{"location":"s3://b/t"}"#).unwrap();
        assert_eq!(remote.location, TableLocation::parse("s3://b/t").unwrap());
        assert!(serde_json::from_str::<DeltaSinkConfig>(r#"{"location":"gs://b/t"}"#).is_err());
    }
}
