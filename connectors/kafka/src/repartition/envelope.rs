//! How a data record travels through a repartition topic: its value and event
//! time, encoded with postcard (compact, and several times cheaper to encode and
//! decode than JSON; the repartition topic is internal to the job, so nothing
//! else needs to read it).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tidemill_runtime::EventTime;

/// The value of a data record in a repartition topic.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Envelope<T> {
    /// Milliseconds of the record's event time (the Kafka timestamp cannot hold
    /// times before 1970, nor the `-inf` of a record no assigner has timed yet).
    time: i64,
    value: T,
}

/// A repartition record's value cannot be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[error("repartition record encoding")]
pub struct EnvelopeError(#[source] postcard::Error);

/// Encodes `value` at `time`.
pub(crate) fn encode<T: Serialize>(value: &T, time: EventTime) -> Result<Vec<u8>, EnvelopeError> {
    postcard::to_stdvec(&Envelope { time: time.as_millis(), value }).map_err(EnvelopeError)
}

/// Decodes what [`encode`] wrote.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, EventTime), EnvelopeError> {
    let envelope: Envelope<T> = postcard::from_bytes(bytes).map_err(EnvelopeError)?;
    Ok((envelope.value, EventTime::from_millis(envelope.time)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_times_round_trip_and_garbage_is_an_error() {
        let bytes = encode(&("u-1".to_string(), 42u64), EventTime::MIN).unwrap();
        let (value, time): ((String, u64), EventTime) = decode(&bytes).unwrap();
        assert_eq!((value, time), (("u-1".to_string(), 42), EventTime::MIN));
        assert!(decode::<(String, u64)>(&[0xff]).is_err());
    }
}
