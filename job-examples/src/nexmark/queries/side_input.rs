//! q13: bids joined with a side table (`auction % 10000 = key`): loaded from a
//! file before the job starts, or kept as keyed state from a changelog in a
//! (compacted) Kafka topic and joined as of each bid's time.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use tidemill_kafka::KafkaRecord;
use tidemill_operators::join::{JoinExt, TableUpdate};
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

/// q13's side table, as `--side-input` or `--side-topic` gives it.
#[derive(Clone)]
pub enum SideInput {
    /// A static table loaded from a file before the job starts.
    File(SideTable),
    /// The table's changelog: see [`side_updates`].
    Changelog(Stream<TableUpdate<i64, String>>),
}

/// A side-topic record that is not a table update.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SideUpdateError {
    /// The record has no key.
    #[error("a side-table update needs a key (the table key as a decimal integer)")]
    NoKey,
    /// The key is not a decimal integer.
    #[error("side-table key {0:?} is not a decimal integer")]
    BadKey(String),
    /// The value is not UTF-8.
    #[error("the value of side-table key {0} is not UTF-8")]
    BadValue(i64),
}

/// One side-topic record as a table update: its key the table key (a decimal
/// integer), its value the key's new value (UTF-8), an empty (or null) value the
/// key's removal, as a compacted topic's tombstone. Its time, the record's
/// timestamp, is when the update takes effect.
///
/// ```
/// use tidemill_job_examples::nexmark::queries::side_update;
/// use tidemill_kafka::KafkaRecord;
///
/// let record = |key: &str, value: &str| KafkaRecord {
///     key: Some(key.as_bytes().to_vec()),
///     payload: value.as_bytes().to_vec(),
///     headers: Vec::new(),
///     timestamp: None,
/// };
/// assert_eq!(side_update(&record("42", "blue"))?.value.as_deref(), Some("blue"));
/// assert_eq!(side_update(&record("42", ""))?.value, None);
/// assert!(side_update(&record("x", "blue")).is_err());
/// # Ok::<(), tidemill_job_examples::nexmark::queries::SideUpdateError>(())
/// ```
pub fn side_update(record: &KafkaRecord) -> Result<TableUpdate<i64, String>, SideUpdateError> {
    let key = record.key.as_deref().ok_or(SideUpdateError::NoKey)?;
    let key = String::from_utf8_lossy(key);
    let key: i64 = key.trim().parse().map_err(|_| SideUpdateError::BadKey(key.to_string()))?;
    if record.payload.is_empty() {
        return Ok(TableUpdate { key, value: None });
    }
    let value = String::from_utf8(record.payload.clone()).map_err(|_| SideUpdateError::BadValue(key))?;
    Ok(TableUpdate { key, value: Some(value) })
}

/// The side table, key to value, shared by every shard.
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
///
/// With a [`SideInput::Changelog`], the table is keyed state built from the
/// updates and each bid is joined with the table as of its time (an event-time
/// temporal join, `tidemill_operators::join::TemporalJoin`): a table whose updates
/// all precede the bids gives the SQL result over the table's final contents.
pub fn q13(events: &Stream<NexmarkEvent>, side: SideInput, shards: usize) -> Stream<Q13Row> {
    let bids = bid_stream(events, "q13_bids");
    match side {
        SideInput::File(table) => {
            bids.flat_map("q13_join", move |b: &Bid| table.0.get(&side_key(b)).map(|value| joined(b, value)))
        }
        SideInput::Changelog(updates) => updates
            .join_on("q13_side", &bids, |u: &TableUpdate<i64, String>| u.key, side_key, shards)
            .temporal(|b: &Bid, value: Option<&String>| value.map(|v| joined(b, v))),
    }
}

/// The side table's key of a bid.
fn side_key(b: &Bid) -> i64 {
    b.auction.rem_euclid(SIDE_KEYS)
}

fn joined(b: &Bid, value: &str) -> Q13Row {
    Q13Row {
        auction: b.auction,
        bidder: b.bidder,
        price: b.price,
        date_time: EventTime::from_millis(b.date_time),
        value: value.to_string(),
    }
}

/// The side topic's records as table updates, timed by their timestamps; records
/// that are no update go to the dead letters.
pub fn side_updates(records: &Stream<KafkaRecord>) -> Stream<TableUpdate<i64, String>> {
    records.try_map("side_updates", side_update)
}
