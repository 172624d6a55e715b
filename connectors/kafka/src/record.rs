//! [`KafkaRecord`]: one Kafka message as it enters a job.

use rdkafka::message::{BorrowedMessage, Headers, Message};
use serde::Serialize;
use tidemill_runtime::trace::{self, HeaderList, TraceContext};
use tidemill_runtime::EventTime;

use tidemill_operators::decode::RawRecord;

/// One Kafka message: key, value, headers and timestamp, copied out of the client.
///
/// A null value (a tombstone) is an empty `payload`; a header whose value is null has
/// an empty value. Topic, partition and offset travel in the record's
/// [`Origin`](tidemill_runtime::Origin) (the topic by way of the source catalog).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KafkaRecord {
    /// The message key, if any.
    pub key: Option<Vec<u8>>,
    /// The message value.
    pub payload: Vec<u8>,
    /// The headers, in order; keys may repeat.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The message timestamp (create time or log-append time), if the broker has one.
    pub timestamp: Option<EventTime>,
}

impl KafkaRecord {
    /// The first header named `key`.
    pub fn header(&self, key: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_slice())
    }

    /// The sampled W3C trace context in the headers (`traceparent`), if any.
    pub fn trace_context(&self) -> Option<TraceContext> {
        if self.headers.is_empty() {
            return None;
        }
        trace::extract(&HeaderList(&self.headers))
    }
}

impl From<&BorrowedMessage<'_>> for KafkaRecord {
    fn from(m: &BorrowedMessage<'_>) -> Self {
        let headers = match m.headers() {
            Some(h) => h.iter().map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec).unwrap_or_default())).collect(),
            None => Vec::new(),
        };
        KafkaRecord {
            key: m.key().map(<[u8]>::to_vec),
            payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
            headers,
            timestamp: m.timestamp().to_millis().map(EventTime::from_millis),
        }
    }
}

/// The JSON decoder decodes the value; a dead letter keeps the value bytes.
impl RawRecord for KafkaRecord {
    fn bytes(&self) -> &[u8] {
        &self.payload
    }

    fn into_bytes(self) -> Vec<u8> {
        self.payload
    }
}

#[cfg(test)]
mod tests {
    use tidemill_runtime::{Offset, OperatorHarness, Origin, PartitionId, ReasonCode, Record, SourceId};

    use tidemill_operators::decode::JsonDecoder;

    use super::*;

    /// The part of an order event this test reads (other fields are ignored).
    #[derive(Clone, Debug, serde::Deserialize)]
    struct Order {
        order_id: String,
    }

    fn record(payload: &[u8], offset: u64) -> Record<KafkaRecord> {
        let value = KafkaRecord {
            key: Some(b"o-1".to_vec()),
            payload: payload.to_vec(),
            headers: vec![("traceparent".into(), b"00-abc".to_vec())],
            timestamp: Some(EventTime::from_millis(7)),
        };
        Record::new(
            value,
            EventTime::from_millis(7),
            Origin { source: SourceId(1), partition: PartitionId(2), offset: Offset(offset) },
        )
    }

    #[test]
    fn json_decoder_reads_the_value_and_dead_letters_keep_it() {
        let valid = br#"{"order_id":"o-1","user_id":"u-7","amount":1250,"event_time":"2026-01-01T00:00:01.500Z"}"#;
        let mut h = OperatorHarness::new(JsonDecoder::<Order, KafkaRecord>::new());
        h.push(vec![record(valid, 10), record(b"{not json", 11)]).unwrap();
        let out = h.take_output();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].value.order_id, "o-1");
        assert_eq!(out[0].origin.offset, Offset(10));
        let dead = h.take_dead_letters();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].payload, b"{not json".to_vec());
        assert_eq!(dead[0].reason, ReasonCode::NotJson);
        assert_eq!(dead[0].origin.offset, Offset(11));
        assert_eq!(record(valid, 0).value.header("traceparent"), Some(&b"00-abc"[..]));
    }

    #[test]
    fn a_sampled_traceparent_header_is_the_records_context() {
        let mut r = record(b"{}", 0).value;
        assert_eq!(r.trace_context(), None, "malformed traceparent");
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        r.headers = vec![("traceparent".into(), header.as_bytes().to_vec())];
        assert_eq!(r.trace_context().map(|cx| cx.to_traceparent()), Some(header.to_string()));
        r.headers[0].1.truncate(header.len() - 1);
        r.headers[0].1.push(b'0');
        assert_eq!(r.trace_context(), None, "not sampled");
    }
}
