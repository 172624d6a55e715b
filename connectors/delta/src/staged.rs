//! What a Delta sink puts into a checkpoint at a barrier: the Parquet files it wrote
//! for the epoch, as Delta `add` actions, serialised with serde_json into
//! [`StagedOutput`].
//!
//! The document is self-describing so that a restarted sink (possibly with another
//! configuration) can still finish the commit of an older checkpoint:
//!
//! ```json
//! {"format":"tidemill.delta-staged.v1","table":"/data/orders","app_id":"tidemill-job-sink",
//!  "epoch":7,"adds":[{"path":"part-00001-….snappy.parquet","size":1234,"partitionValues":{},
//!  "modificationTime":1767225600000,"dataChange":true,"stats":"{\"numRecords\":10,…}"}]}
//! ```

use deltalake::kernel::Add;
use serde::{Deserialize, Serialize};
use tidemill_runtime::{Epoch, StagedOutput};

use super::error::DeltaSinkError;

/// The `format` tag of staged Delta output written by this version.
pub const STAGED_FORMAT: &str = "tidemill.delta-staged.v1";

/// Parquet files written for one epoch, not yet in the Delta log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StagedDelta {
    /// Always [`STAGED_FORMAT`].
    pub format: String,
    /// The table the files were written into (as configured, for error messages
    /// and to refuse committing into another table).
    pub table: String,
    /// The application id of the `txn` action the commit carries.
    pub app_id: String,
    /// The epoch (= the `txn` version) the files belong to.
    pub epoch: u64,
    /// One add action per Parquet file, paths relative to the table root.
    pub adds: Vec<Add>,
    /// Files of rows that must first be checked against the table (a distinct
    /// sink's unverified rows): the commit adds only the rows whose key the table
    /// does not hold yet. Empty for plain append sinks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<Add>,
}

impl StagedDelta {
    /// Staged files for `epoch`.
    pub fn new(table: impl Into<String>, app_id: impl Into<String>, epoch: Epoch, adds: Vec<Add>) -> Self {
        StagedDelta {
            format: STAGED_FORMAT.to_owned(),
            table: table.into(),
            app_id: app_id.into(),
            epoch: epoch.get(),
            adds,
            candidates: Vec::new(),
        }
    }

    /// Serialises into the opaque checkpoint payload.
    pub fn to_output(&self) -> Result<StagedOutput, DeltaSinkError> {
        serde_json::to_vec(self).map(StagedOutput).map_err(DeltaSinkError::EncodeStaged)
    }

    /// Parses a checkpoint payload; `Ok(None)` for an empty payload (nothing staged).
    pub fn from_output(staged: &StagedOutput) -> Result<Option<Self>, DeltaSinkError> {
        if staged.0.is_empty() {
            return Ok(None);
        }
        let parsed: StagedDelta = serde_json::from_slice(&staged.0).map_err(DeltaSinkError::DecodeStaged)?;
        if parsed.format != STAGED_FORMAT {
            return Err(DeltaSinkError::StagedFormat { format: parsed.format });
        }
        Ok(Some(parsed))
    }

    /// Total rows in the staged files (candidates not included), from each file's
    /// statistics (0 where a file has none).
    pub fn num_records(&self) -> u64 {
        rows_of(&self.adds)
    }
}

/// Total rows in files, from each file's statistics (0 where a file has none).
pub(crate) fn rows_of(adds: &[Add]) -> u64 {
    adds.iter()
        .filter_map(|a| a.stats.as_deref())
        .filter_map(|s| serde_json::from_str::<serde_json::Value>(s).ok())
        .filter_map(|v| v.get("numRecords").and_then(serde_json::Value::as_u64))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(path: &str, rows: u64) -> Add {
        Add {
            path: path.to_owned(),
            size: 123,
            modification_time: 1_700_000_000_000,
            data_change: true,
            stats: Some(format!(r#"{{"numRecords":{rows},"minValues":{{}},"maxValues":{{}},"nullCount":{{}}}}"#)),
            ..Default::default()
        }
    }

    #[test]
    fn staged_delta_round_trips_through_staged_output() {
        let staged =
            StagedDelta::new("/t", "tidemill-job-sink", Epoch::new(4), vec![add("part-1 x.parquet", 3), add("b", 4)]);
        let out = staged.to_output().unwrap();
        let text = std::str::from_utf8(&out.0).unwrap();
        assert!(text.contains(r#""format":"tidemill.delta-staged.v1""#), "{text}");
        assert!(text.contains(r#""epoch":4"#), "{text}");
        let back = StagedDelta::from_output(&out).unwrap().unwrap();
        assert_eq!(back, staged);
        assert_eq!(back.adds[0].path, "part-1 x.parquet");
        assert_eq!(back.num_records(), 7);
    }

    #[test]
    fn empty_output_means_nothing_staged_and_garbage_is_an_error() {
        assert!(StagedDelta::from_output(&StagedOutput::default()).unwrap().is_none());
        let err = StagedDelta::from_output(&StagedOutput(b"[1,2]".to_vec())).unwrap_err();
        assert!(matches!(err, DeltaSinkError::DecodeStaged(_)), "{err:?}");
        let mut other = serde_json::to_value(StagedDelta::new("/t", "a", Epoch::new(1), vec![])).unwrap();
        other["format"] = "something-else".into();
        let err = StagedDelta::from_output(&StagedOutput(serde_json::to_vec(&other).unwrap())).unwrap_err();
        assert!(err.to_string().contains("something-else"), "{err}");
    }
}
