//! q13: bids joined with a bounded side table (`auction % 10000 = key`), loaded
//! from a file before the job starts.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use tidemill_runtime::{EventTime, Stream};

use crate::nexmark::event::{bid_stream, Bid, NexmarkEvent};
use crate::nexmark::rows::Q13Row;

/// q13 joins on `auction % SIDE_KEYS`.
pub const SIDE_KEYS: i64 = 10_000;

/// One line of the side file.
#[derive(Deserialize)]
struct SideRow {
    key: i64,
    value: String,
}

/// The side file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SideInputError {
    /// Opening or reading failed.
    #[error("cannot read the side input {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A line is not `{"key": <integer>, "value": <string>}`.
    #[error("line {line} of the side input {path} is not {{\"key\": <integer>, \"value\": <string>}}")]
    BadLine {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

/// The side table: key to value, shared by every shard.
#[derive(Clone, Debug, Default)]
pub struct SideTable(Arc<HashMap<i64, String>>);

impl SideTable {
    /// Loads a JSON-lines file of `{"key": ..., "value": ...}` (later lines win).
    pub fn load(path: &Path) -> Result<Self, SideInputError> {
        let io = |source| SideInputError::Io { path: path.to_path_buf(), source };
        let file = std::fs::File::open(path).map_err(io)?;
        let mut table = HashMap::new();
        for (i, line) in BufReader::new(file).lines().enumerate() {
            let line = line.map_err(io)?;
            if line.trim().is_empty() {
                continue;
            }
            let row: SideRow = serde_json::from_str(&line).map_err(|source| SideInputError::BadLine {
                path: path.to_path_buf(),
                line: i + 1,
                source,
            })?;
            table.insert(row.key, row.value);
        }
        Ok(SideTable(Arc::new(table)))
    }

    /// Keys in the table.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// ```sql
/// SELECT B.auction, B.bidder, B.price, B.date_time, S.value
/// FROM bid B JOIN side_input S ON B.auction % 10000 = S.key
/// ```
/// The table is static (a bounded input read before the job starts), so the join
/// is a lookup per bid and needs no state in checkpoints.
pub fn q13(events: &Stream<NexmarkEvent>, side: SideTable) -> Stream<Q13Row> {
    bid_stream(events, "q13_bids").flat_map("q13_join", move |b: &Bid| {
        side.0.get(&b.auction.rem_euclid(SIDE_KEYS)).map(|value| Q13Row {
            auction: b.auction,
            bidder: b.bidder,
            price: b.price,
            date_time: EventTime::from_millis(b.date_time),
            value: value.clone(),
        })
    })
}
