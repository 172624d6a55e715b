//! Dead letters: records the job could not process, with the reason and their origin.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use dashmap::DashMap;
use serde::{Deserialize, Serialize};

use crate::record::{Origin, PartitionId, SourceId};

/// Why a record went to the dead-letter queue. The code is stable and machine
/// readable (`reason_code` column); the detail text says what exactly was wrong.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    /// The bytes are not valid UTF-8.
    NotUtf8,
    /// The text is not valid JSON.
    NotJson,
    /// The JSON value is not an object.
    NotObject,
    /// A required field is absent.
    MissingField,
    /// A required field is `null`.
    NullField,
    /// A field has the wrong JSON type or an out-of-range value.
    WrongType,
    /// A timestamp field could not be parsed.
    BadTimestamp,
    /// The record came later than the watermark plus allowed lateness.
    LateEvent,
    /// A user function returned an error for this record.
    UserFunctionError,
    /// A user function panicked on this record.
    UserFunctionPanic,
    /// A sink refused the record.
    SinkReject,
    /// The record is larger than the job's `max_record_bytes`; the dead letter
    /// keeps its first bytes.
    RecordTooLarge,
}

impl ReasonCode {
    /// Every reason code, in declaration order.
    pub const ALL: [ReasonCode; 12] = [
        ReasonCode::NotUtf8,
        ReasonCode::NotJson,
        ReasonCode::NotObject,
        ReasonCode::MissingField,
        ReasonCode::NullField,
        ReasonCode::WrongType,
        ReasonCode::BadTimestamp,
        ReasonCode::LateEvent,
        ReasonCode::UserFunctionError,
        ReasonCode::UserFunctionPanic,
        ReasonCode::SinkReject,
        ReasonCode::RecordTooLarge,
    ];

    /// The stable snake_case code written to the `reason_code` column.
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::NotUtf8 => "not_utf8",
            ReasonCode::NotJson => "not_json",
            ReasonCode::NotObject => "not_object",
            ReasonCode::MissingField => "missing_field",
            ReasonCode::NullField => "null_field",
            ReasonCode::WrongType => "wrong_type",
            ReasonCode::BadTimestamp => "bad_timestamp",
            ReasonCode::LateEvent => "late_event",
            ReasonCode::UserFunctionError => "user_function_error",
            ReasonCode::UserFunctionPanic => "user_function_panic",
            ReasonCode::SinkReject => "sink_reject",
            ReasonCode::RecordTooLarge => "record_too_large",
        }
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A record that could not be processed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeadLetter {
    /// The raw bytes as received (for records rejected after decoding: the record
    /// serialised back to JSON).
    pub payload: Vec<u8>,
    /// Machine-readable reason.
    pub reason: ReasonCode,
    /// Human-readable detail, e.g. `missing field "user_id"`.
    pub detail: String,
    /// Where the record entered the job.
    pub origin: Origin,
    /// The operator that rejected it.
    pub stage: Arc<str>,
    /// When it was rejected (processing time).
    pub rejected_at: DateTime<Utc>,
}

impl DeadLetter {
    /// A dead letter rejected now by `stage`.
    pub fn new(
        payload: Vec<u8>,
        reason: ReasonCode,
        detail: impl Into<String>,
        origin: Origin,
        stage: Arc<str>,
    ) -> Self {
        DeadLetter { payload, reason, detail: detail.into(), origin, stage, rejected_at: Utc::now() }
    }

    /// The dead letter of a record of `size` bytes over the `limit`: the payload is
    /// its first `prefix.len()` bytes (at most [`DeadLetter::TRUNCATED_PAYLOAD`]).
    pub fn too_large(prefix: &[u8], size: u64, limit: usize, origin: Origin, stage: Arc<str>) -> Self {
        let keep = prefix.len().min(Self::TRUNCATED_PAYLOAD);
        DeadLetter::new(
            prefix[..keep].to_vec(),
            ReasonCode::RecordTooLarge,
            format!("record of {size} bytes is larger than max_record_bytes ({limit}); the payload holds its first {keep} bytes"),
            origin,
            stage,
        )
    }

    /// The most bytes of an oversized record a dead letter keeps.
    pub const TRUNCATED_PAYLOAD: usize = 1024;
}

/// What kind of source a partition belongs to: a lower-case name that the
/// source's crate gives (`file`, `generator`, `kafka`), written to the
/// dead-letter table's `source_kind` column. The runtime knows none of them but
/// [`SourceKind::OTHER`].
///
/// ```
/// use tidemill_runtime::SourceKind;
/// const QUEUE: SourceKind = SourceKind::named("queue");
/// assert_eq!(QUEUE.as_str(), "queue");
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct SourceKind(&'static str);

impl SourceKind {
    /// In-memory or user-defined sources, and origins no source registered.
    pub const OTHER: SourceKind = SourceKind("other");

    /// The kind called `name` (lower case, by convention).
    pub const fn named(name: &'static str) -> Self {
        SourceKind(name)
    }

    /// The kind's name.
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Human-facing description of one source partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionInfo {
    /// The kind of source.
    pub kind: SourceKind,
    /// A file path, a topic name or a generator name.
    pub name: String,
    /// The partition's number in the source's own system (a Kafka partition),
    /// when it numbers them.
    pub partition: Option<i32>,
}

/// Maps the compact [`Origin`] ids that travel with records to names, so that dead
/// letters can say "orders.jsonl line 17" without every record carrying a string.
#[derive(Clone, Debug, Default)]
pub struct SourceCatalog {
    partitions: Arc<DashMap<(SourceId, PartitionId), PartitionInfo>>,
}

impl SourceCatalog {
    /// An empty catalog.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers (or renames) a partition.
    pub fn register(&self, source: SourceId, partition: PartitionId, info: PartitionInfo) {
        self.partitions.insert((source, partition), info);
    }

    /// Looks a partition up; `None` for internal or unregistered origins.
    pub fn lookup(&self, origin: &Origin) -> Option<PartitionInfo> {
        self.partitions.get(&(origin.source, origin.partition)).map(|e| e.value().clone())
    }
}
