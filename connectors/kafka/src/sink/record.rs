//! [`OutgoingRecord`]: one message as the Kafka sink produces it, and
//! [`RecordEncoder`]: how a job's records become one.

use tidemill_runtime::EventTime;

use crate::KafkaRecord;

/// One Kafka message to produce: the encoded key, value and headers, and optionally
/// the partition and timestamp.
///
/// The sink keeps these bytes in memory during the epoch and in the checkpoint
/// manifest until the epoch commits, so they are plain owned bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutgoingRecord {
    /// The message key; `None` for a message without a key.
    pub key: Option<Vec<u8>>,
    /// The message value; `None` for a tombstone (a null value).
    pub value: Option<Vec<u8>>,
    /// The headers, in order; keys may repeat; a `None` value is a null header value.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// The partition; `None` lets librdkafka's partitioner choose (by the key's
    /// hash, or at random for records without a key).
    pub partition: Option<i32>,
    /// The timestamp in milliseconds since the Unix epoch; `None` uses the time the
    /// record is produced (at the commit of its epoch).
    pub timestamp: Option<i64>,
}

impl OutgoingRecord {
    /// A record with this value and nothing else.
    pub fn value(value: impl Into<Vec<u8>>) -> Self {
        OutgoingRecord { value: Some(value.into()), ..OutgoingRecord::default() }
    }

    /// A tombstone (null value) for `key`.
    pub fn tombstone(key: impl Into<Vec<u8>>) -> Self {
        OutgoingRecord { key: Some(key.into()), ..OutgoingRecord::default() }
    }

    /// The same record with a key.
    pub fn with_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// The same record with one more header.
    pub fn with_header(mut self, key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((key.into(), Some(value.into())));
        self
    }

    /// The same record, sent to this partition.
    pub fn with_partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// The same record with this timestamp. `EventTime::MIN` and `MAX` (no real
    /// time) leave the timestamp unset.
    pub fn with_timestamp(mut self, time: EventTime) -> Self {
        self.timestamp = (time != EventTime::MIN && time != EventTime::MAX).then(|| time.as_millis());
        self
    }
}

/// Records read by a [`KafkaSource`](crate::KafkaSource) are written back
/// as they were: key, value (an empty payload becomes an empty value, not a
/// tombstone), headers and timestamp; the partition is left to the partitioner.
impl From<KafkaRecord> for OutgoingRecord {
    fn from(r: KafkaRecord) -> Self {
        OutgoingRecord {
            key: r.key,
            value: Some(r.payload),
            headers: r.headers.into_iter().map(|(k, v)| (k, Some(v))).collect(),
            partition: None,
            timestamp: r.timestamp.map(EventTime::as_millis),
        }
    }
}

/// Turns a job's record into the message the sink produces.
///
/// Any `Fn(T) -> OutgoingRecord` closure is an encoder:
///
/// ```
/// # use tidemill_kafka::{OutgoingRecord, RecordEncoder};
/// let encoder = |(user, total): (String, i64)| OutgoingRecord::value(total.to_string()).with_key(user);
/// let record = encoder.encode(("u-1".to_owned(), 12));
/// assert_eq!(record.key.as_deref(), Some(&b"u-1"[..]));
/// ```
///
/// Encoding cannot fail: a record that cannot be encoded should be sent to the dead
/// letters before the sink (with `try_map`), where its origin is still known.
pub trait RecordEncoder<T>: Send + 'static {
    /// The message for `value`.
    fn encode(&self, value: T) -> OutgoingRecord;
}

impl<T, F> RecordEncoder<T> for F
where
    F: Fn(T) -> OutgoingRecord + Send + 'static,
{
    fn encode(&self, value: T) -> OutgoingRecord {
        self(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_and_the_kafka_record_conversion() {
        let r = OutgoingRecord::value("v").with_key("k").with_header("h", "1").with_partition(2);
        assert_eq!(r.value.as_deref(), Some(&b"v"[..]));
        assert_eq!(r.headers, vec![("h".to_owned(), Some(b"1".to_vec()))]);
        assert_eq!(r.partition, Some(2));
        assert_eq!(OutgoingRecord::tombstone("k").value, None);
        assert_eq!(OutgoingRecord::value("v").with_timestamp(EventTime::MIN).timestamp, None);
        assert_eq!(OutgoingRecord::value("v").with_timestamp(EventTime::from_millis(5)).timestamp, Some(5));

        let read = KafkaRecord {
            key: None,
            payload: b"x".to_vec(),
            headers: vec![("t".into(), b"y".to_vec())],
            timestamp: Some(EventTime::from_millis(9)),
        };
        let out = OutgoingRecord::from(read);
        assert_eq!(out.value.as_deref(), Some(&b"x"[..]));
        assert_eq!(out.headers, vec![("t".to_owned(), Some(b"y".to_vec()))]);
        assert_eq!(out.timestamp, Some(9));
    }
}
