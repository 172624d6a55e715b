//! A row type covering every supported column type, and the JSON the reader must print for it.

use base64::Engine as _;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde_json::{json, Value};
use tidemill_runtime::{Batch, EventTime, Origin, Record};

crate::delta_record! {
    /// One of each supported column type.
    #[derive(Clone, Debug, PartialEq, serde::Serialize)]
    pub struct Sample {
        /// Row id (sort key).
        pub id: i64,
        /// A string, sometimes non-ASCII.
        pub name: String,
        /// A nullable string.
        pub note: Option<String>,
        /// A small int.
        pub small: i32,
        /// A nullable int.
        pub maybe: Option<i32>,
        /// A byte.
        pub tiny: i8,
        /// A short.
        pub short: i16,
        /// A double.
        pub ratio: f64,
        /// A float.
        pub single: f32,
        /// A boolean.
        pub flag: bool,
        /// Raw bytes, not UTF-8.
        pub bytes: Vec<u8>,
        /// A UTC timestamp with microseconds.
        pub at: DateTime<Utc>,
        /// A nullable timestamp.
        pub seen: Option<DateTime<Utc>>,
        /// A date.
        pub day: NaiveDate,
        /// An event time (milliseconds).
        pub event: EventTime,
    }
}

/// A deterministic row; odd ids have nulls, id 1 is before 1970.
pub fn sample(id: i64) -> Sample {
    let micros = if id == 1 { -1 } else { 1_767_225_600_000_000 + id * 1_000_001 };
    Sample {
        id,
        name: if id % 3 == 0 { format!("zoë-{id} ✓") } else { format!("row-{id}") },
        note: (id % 2 == 0).then(|| format!("note {id}")),
        small: i32::try_from(id).unwrap() * -7,
        maybe: (id % 2 == 0).then_some(i32::MAX - i32::try_from(id).unwrap()),
        tiny: i8::try_from(id % 100).unwrap() - 50,
        short: i16::try_from(id).unwrap() * 300,
        ratio: id as f64 / 4.0,
        single: id as f32 * 0.5,
        flag: id % 2 == 1,
        bytes: vec![0, 0xff, 0xfe, u8::try_from(id % 256).unwrap()],
        at: DateTime::from_timestamp_micros(micros).unwrap(),
        seen: (id % 2 == 0).then(|| DateTime::from_timestamp_micros(micros + 1).unwrap()),
        day: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Days::new(u64::try_from(id).unwrap()),
        event: EventTime::from_millis(1_767_225_600_000 + id),
    }
}

fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// What `read_delta.py` must print for `s`.
pub fn expected_json(s: &Sample) -> Value {
    json!({
        "id": s.id,
        "name": s.name,
        "note": s.note,
        "small": s.small,
        "maybe": s.maybe,
        "tiny": s.tiny,
        "short": s.short,
        "ratio": s.ratio,
        "single": f64::from(s.single),
        "flag": s.flag,
        "bytes": b64(&s.bytes),
        "at": ts(&s.at),
        "seen": s.seen.as_ref().map(ts),
        "day": s.day.format("%Y-%m-%d").to_string(),
        "event": ts(&s.event.to_utc()),
    })
}

/// The expected reader output for rows `ids`, in id order.
pub fn expected(ids: impl IntoIterator<Item = i64>) -> Vec<Value> {
    ids.into_iter().map(|id| expected_json(&sample(id))).collect()
}

/// A batch of sample rows as the runtime would deliver them.
pub fn batch(ids: impl IntoIterator<Item = i64>) -> Batch<Sample> {
    ids.into_iter().map(|id| Record::new(sample(id), EventTime::from_millis(0), Origin::INTERNAL)).collect()
}

/// Base64 as the reader prints binary.
pub fn base64(bytes: &[u8]) -> String {
    b64(bytes)
}

/// RFC 3339 with microseconds and `Z`, as the reader prints timestamps.
pub fn rfc3339(t: &DateTime<Utc>) -> String {
    ts(t)
}
