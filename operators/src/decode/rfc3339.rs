//! RFC 3339 timestamps: a serde helper for `DateTime<Utc>` (and [`EventTime`]) fields,
//! a fast parser and a fast UTC formatter.
//!
//! Use it on a field so that an unparseable timestamp is classified as
//! [`ReasonCode::BadTimestamp`](tidemill_runtime::ReasonCode::BadTimestamp) by the
//! [`JsonDecoder`](super::JsonDecoder) instead of a generic type error:
//!
//! ```
//! use chrono::{DateTime, Utc};
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! struct Click {
//!     #[serde(with = "tidemill_operators::decode::rfc3339")]
//!     at: DateTime<Utc>,
//! }
//! let c: Click = serde_json::from_str(r#"{"at":"2026-01-01T00:00:00.250Z"}"#).unwrap();
//! assert_eq!(c.at.timestamp_millis(), 1_767_225_600_250);
//! ```
//!
//! Parsing has a fast path for the canonical `YYYY-MM-DDTHH:MM:SS[.f]Z` form (what
//! producers almost always send) and falls back to chrono for everything else RFC 3339
//! allows (offsets, lower-case separators, leap seconds), converting to UTC.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Timelike, Utc};
use serde::{de, Deserializer, Serializer};
use tidemill_runtime::EventTime;

/// The start of a [`TimestampError`]'s message, and of the `bad_timestamp` detail
/// the decoder writes.
pub const BAD_TIMESTAMP: &str = "not an RFC 3339 timestamp";

/// What a timestamp field expects. [`deserialize`] reports a string that is not an
/// RFC 3339 timestamp with `de::Error::invalid_value(Unexpected::Str(..),
/// &RFC3339_EXPECTATION)`, and the decoder recognises a bad timestamp by this very
/// value (see [`is_rfc3339_expectation`]), not by any message text.
pub(crate) struct Rfc3339Expectation {
    // Not zero-sized, so that the static below has an address of its own: the
    // addresses of zero-sized values may coincide.
    description: &'static str,
}

/// The one [`Rfc3339Expectation`].
pub(crate) static RFC3339_EXPECTATION: Rfc3339Expectation =
    Rfc3339Expectation { description: "an RFC 3339 timestamp string" };

impl de::Expected for Rfc3339Expectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description)
    }
}

/// Whether a serde expectation is [`RFC3339_EXPECTATION`] itself.
///
/// Compared by address, which a static has exactly one of: an expectation of any
/// other type, or with the same text, is not it. The visitor hands this reference
/// straight to the error type's `invalid_value`, also when serde has buffered the
/// value first (untagged enums, flattened fields).
pub(crate) fn is_rfc3339_expectation(expected: &dyn de::Expected) -> bool {
    std::ptr::addr_eq(expected, &RFC3339_EXPECTATION)
}

/// A string that is not an RFC 3339 timestamp.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{BAD_TIMESTAMP}: {0:?}")]
pub struct TimestampError(pub String);

/// Parses an RFC 3339 timestamp and converts it to UTC.
pub fn parse(s: &str) -> Result<DateTime<Utc>, TimestampError> {
    if let Some(t) = parse_canonical(s.as_bytes()) {
        return Ok(t);
    }
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).map_err(|_| TimestampError(s.to_owned()))
}

/// The canonical form `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z`; `None` for anything else
/// (including leap seconds), which then goes through chrono.
fn parse_canonical(b: &[u8]) -> Option<DateTime<Utc>> {
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if *b.last()? != b'Z' {
        return None;
    }
    let year = digits(&b[0..4])? as i64;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let (hour, minute, second) = (digits(&b[11..13])?, digits(&b[14..16])?, digits(&b[17..19])?);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let frac = &b[19..b.len() - 1];
    let nanos = match frac {
        [] => 0,
        [b'.', f @ ..] if (1..=9).contains(&f.len()) => digits(f)? * 10u32.pow(9 - f.len() as u32),
        _ => return None,
    };
    let secs = days_from_civil(year, month, day) * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    DateTime::from_timestamp(secs, nanos)
}

/// ASCII digits to a number; `None` if any byte is not a digit.
fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |n, &c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0')))
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number since 1970-01-01 (inverse of [`days_from_civil`]).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// Formats milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`, fast.
///
/// chrono's formatting goes through a generic formatter and costs far more than the
/// rest of generating an event, so this writes digits directly and caches the date
/// part, which changes once per day of event time.
#[derive(Clone, Debug, Default)]
pub struct TimestampWriter {
    /// The day number and its `YYYY-MM-DDT` prefix, from the previous call.
    cached: Option<(i64, [u8; 11])>,
}

impl TimestampWriter {
    /// A writer with an empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the timestamp (without quotes) to `buf`.
    pub fn write(&mut self, buf: &mut Vec<u8>, millis: i64) {
        let day = millis.div_euclid(86_400_000);
        let date = match self.cached {
            Some((d, date)) if d == day => date,
            _ => {
                let (year, month, dom) = civil_from_days(day);
                if !(0..=9999).contains(&year) {
                    // Outside four-digit years: rare enough to leave to chrono.
                    let t = EventTime::from_millis(millis).to_utc();
                    buf.extend_from_slice(t.to_rfc3339_opts(SecondsFormat::Millis, true).as_bytes());
                    return;
                }
                let mut date = *b"0000-00-00T";
                put4(&mut date[0..4], year as u32);
                put2(&mut date[5..7], month);
                put2(&mut date[8..10], dom);
                self.cached = Some((day, date));
                date
            }
        };
        let ms = millis.rem_euclid(86_400_000) as u32;
        let secs = ms / 1000;
        let mut time = *b"00:00:00.000Z";
        put2(&mut time[0..2], secs / 3600);
        put2(&mut time[3..5], secs / 60 % 60);
        put2(&mut time[6..8], secs % 60);
        let frac = ms % 1000;
        time[9] = b'0' + (frac / 100) as u8;
        put2(&mut time[10..12], frac % 100);
        buf.extend_from_slice(&date);
        buf.extend_from_slice(&time);
    }
}

fn put2(out: &mut [u8], n: u32) {
    out[0] = b'0' + (n / 10) as u8;
    out[1] = b'0' + (n % 10) as u8;
}

fn put4(out: &mut [u8], n: u32) {
    put2(&mut out[0..2], n / 100);
    put2(&mut out[2..4], n % 100);
}

/// Formats a UTC time: millisecond precision (`.mmm`) when the time has no finer part,
/// otherwise as many fractional digits as needed. Always ends in `Z`.
pub fn format(t: &DateTime<Utc>) -> String {
    if t.nanosecond().is_multiple_of(1_000_000) {
        let mut buf = Vec::with_capacity(24);
        TimestampWriter::new().write(&mut buf, t.timestamp_millis());
        // The writer only emits ASCII.
        String::from_utf8(buf).unwrap_or_default()
    } else {
        t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }
}

/// serde `serialize_with`: writes the time as an RFC 3339 string (see [`format()`]).
pub fn serialize<S: Serializer>(t: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format(t))
}

/// serde `deserialize_with`: reads an RFC 3339 string. Any other string fails with
/// `de::Error::invalid_value` (which the [`JsonDecoder`](super::JsonDecoder) reports as
/// `bad_timestamp`); `null` and non-strings fail with `de::Error::invalid_type`.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    deserializer.deserialize_str(Rfc3339Visitor)
}

struct Rfc3339Visitor;

impl de::Visitor<'_> for Rfc3339Visitor {
    type Value = DateTime<Utc>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        de::Expected::fmt(&RFC3339_EXPECTATION, f)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        // A structured error, not `E::custom(TimestampError)`: the decoder then knows
        // it is a bad timestamp without reading a message.
        parse(v).map_err(|_| E::invalid_value(de::Unexpected::Str(v), &RFC3339_EXPECTATION))
    }
}

/// The same helper for [`EventTime`] fields:
/// `#[serde(with = "tidemill_operators::decode::rfc3339::event_time")]`.
pub mod event_time {
    use super::*;

    /// serde `serialize_with` for an [`EventTime`].
    pub fn serialize<S: Serializer>(t: &EventTime, serializer: S) -> Result<S::Ok, S::Error> {
        super::serialize(&t.to_utc(), serializer)
    }

    /// serde `deserialize_with` for an [`EventTime`] (sub-millisecond digits are truncated).
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<EventTime, D::Error> {
        super::deserialize(deserializer).map(EventTime::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn canonical_forms_parse_fast_and_agree_with_chrono() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut w = TimestampWriter::new();
        for _ in 0..20_000 {
            // Years 1900..2200, so leap years and centuries are crossed.
            let millis = rng.random_range(-2_208_988_800_000i64..7_258_118_400_000);
            let mut buf = Vec::new();
            w.write(&mut buf, millis);
            let s = std::str::from_utf8(&buf).unwrap();
            let chrono_text = EventTime::from_millis(millis).to_utc().to_rfc3339_opts(SecondsFormat::Millis, true);
            assert_eq!(s, chrono_text);
            let fast = parse_canonical(s.as_bytes()).expect("canonical");
            assert_eq!(fast.timestamp_millis(), millis);
            assert_eq!(fast, DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc));
        }
    }

    #[test]
    fn fractions_and_offsets() {
        assert_eq!(parse("2026-01-01T00:00:00Z").unwrap().timestamp_millis(), 1_767_225_600_000);
        assert_eq!(parse("2026-01-01T00:00:00.5Z").unwrap().timestamp_millis(), 1_767_225_600_500);
        assert_eq!(parse("2026-01-01T00:00:00.123456789Z").unwrap().nanosecond(), 123_456_789);
        // Offsets go through chrono and come out in UTC.
        assert_eq!(parse("2026-01-01T02:00:00+02:00").unwrap(), parse("2026-01-01T00:00:00Z").unwrap());
        assert_eq!(parse("2024-02-29T12:00:00Z").unwrap().timestamp() % 86_400, 43_200);
    }

    #[test]
    fn rejects_what_is_not_rfc3339() {
        for bad in [
            "",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:60:00Z",
            "2026-01-01",
            "2026/01/01T00:00:00Z",
            "2026-01-01T00:00:00",
            "2026-01-01T00:00:00.Z",
            "1767225600000",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.to_string().starts_with(BAD_TIMESTAMP), "{bad}: {err}");
        }
    }

    #[test]
    fn format_uses_millis_unless_finer() {
        let t = parse("2026-01-01T00:00:00Z").unwrap();
        assert_eq!(format(&t), "2026-01-01T00:00:00.000Z");
        let t = parse("2026-01-01T00:00:00.000001Z").unwrap();
        assert_eq!(format(&t), "2026-01-01T00:00:00.000001Z");
        assert_eq!(parse(&format(&t)).unwrap(), t);
    }
}
