//! Decoding raw JSON records into typed values, with schema enforcement.
//!
//! [`JsonDecoder<T>`] turns each record's bytes into a `T` with serde. A record that
//! does not fit goes to the dead-letter queue with its raw bytes untouched and a
//! reason code saying exactly what was wrong:
//!
//! | problem                                   | reason code      |
//! |-------------------------------------------|------------------|
//! | bytes are not UTF-8                       | `not_utf8`       |
//! | text is not JSON (including empty lines)  | `not_json`       |
//! | JSON, but not an object                   | `not_object`     |
//! | a required field is absent                | `missing_field`  |
//! | a required field is `null`                | `null_field`     |
//! | wrong JSON type, number out of range      | `wrong_type`     |
//! | a timestamp string that is not RFC 3339   | `bad_timestamp`  |
//!
//! Fields not in `T` are ignored (add `#[serde(deny_unknown_fields)]` to `T` to
//! reject them as `wrong_type`). For `bad_timestamp`, timestamp fields must use the
//! [`rfc3339`] serde helper. A field that may be null is an `Option` in `T`.
//!
//! # How a failure is classified
//!
//! Valid records take the fast path, `serde_json::from_str::<T>`, and nothing else.
//! Only when it fails does the slow path work out why, by structure, never by reading
//! serde_json's message (whose wording is serde's and may change, and which a type's
//! own error can imitate):
//!
//! 1. The text is checked against JSON's grammar alone (deserializing
//!    `serde::de::IgnoredAny`); serde_json classifies that failure as
//!    [`Category::Syntax`](serde_json::error::Category::Syntax) or `Eof`: `not_json`.
//! 2. A value that does not start with `{` is `not_object`.
//! 3. The text is parsed into a tree that keeps member order and duplicate keys, and
//!    `T` is deserialized from the tree through a deserializer of our own, with an
//!    error type of our own. serde's error trait has one constructor per kind of
//!    failure, and the error records which one was called: `missing_field` is
//!    `missing_field`; `invalid_type` for a `null` is `null_field`; `invalid_value`
//!    for a string against the [`rfc3339`] helper's expectation is `bad_timestamp`;
//!    everything else (type mismatches, numbers out of range, unknown variants and
//!    denied fields, duplicate fields, a type's own `custom` errors) is `wrong_type`.
//!    `serde_path_to_error` names the field.
//!
//! The tree deserializer takes and refuses what serde_json does, so the slow path
//! finds the failure the fast path found; where it would take a record serde_json
//! refused, serde_json's refusal stands (as `wrong_type`). JSON that serde_json
//! cannot represent at all (a number beyond `f64`, a lone surrogate escape, nesting
//! deeper than 128) is `wrong_type` too.

mod classify;
mod json_tree;
mod member_name;
pub mod rfc3339;
mod schema_error;
mod tree_deserializer;

#[cfg(test)]
mod tests;

use std::fmt;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use tidemill_runtime::{Batch, Operator, OperatorError, Output, ReasonCode};

/// Why one record could not be decoded: the dead-letter reason and its detail text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct DecodeError {
    /// The machine-readable reason.
    pub reason: ReasonCode,
    /// What exactly was wrong, naming the field, e.g. `missing field "user_id"`.
    pub detail: String,
}

impl DecodeError {
    /// Builds an error.
    pub fn new(reason: ReasonCode, detail: impl Into<String>) -> Self {
        DecodeError { reason, detail: detail.into() }
    }
}

/// Decodes one JSON record into `T`, classifying any failure (see the module docs).
///
/// Valid records cost one UTF-8 check plus serde's own work: the classification
/// runs only when that fails.
///
/// ```
/// use serde::Deserialize;
/// use tidemill_operators::decode::{decode_json, DecodeError};
/// use tidemill_runtime::ReasonCode;
///
/// #[derive(Debug, Deserialize)]
/// struct Payment {
///     amount: i64,
///     note: Option<String>,
/// }
/// #[derive(Debug, Deserialize)]
/// struct Order {
///     payment: Payment,
/// }
/// assert!(decode_json::<Order>(br#"{"payment":{"amount":5}}"#).is_ok());
/// let e = decode_json::<Order>(br#"{"payment":{"note":"gift"}}"#).unwrap_err();
/// assert_eq!(e, DecodeError::new(ReasonCode::MissingField, r#"missing field "payment.amount""#));
/// let e = decode_json::<Order>(br#"{"payment":{"amount":null}}"#).unwrap_err();
/// assert_eq!(e, DecodeError::new(ReasonCode::NullField, r#"field "payment.amount" is null"#));
/// let e = decode_json::<Order>(br#"{"payment":{"amount":1.5}}"#).unwrap_err();
/// assert_eq!(e.reason, ReasonCode::WrongType);
/// ```
pub fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    // UTF-8 is checked up front because serde_json does not validate the bytes of
    // strings it skips (fields not in `T`), and with `&str` input it need not check
    // again.
    let text = std::str::from_utf8(bytes).map_err(|e| DecodeError::new(ReasonCode::NotUtf8, e.to_string()))?;
    // Only objects take the fast path: derived struct deserializers would also
    // accept an array of field values, which the schema does not allow.
    if text.trim_start().starts_with('{') {
        if let Ok(value) = serde_json::from_str::<T>(text) {
            return Ok(value);
        }
    }
    classify::decode_slow(text)
}

/// A raw record the JSON decoder reads: the bytes to decode, and the bytes a dead
/// letter keeps when decoding fails.
///
/// Implemented for plain bytes (`Vec<u8>`, from the file and generator sources) and
/// for `tidemill_kafka::KafkaRecord` (its value; key and headers are
/// not decoded).
pub trait RawRecord: Send + 'static {
    /// The bytes to decode.
    fn bytes(&self) -> &[u8];
    /// The raw payload for a dead letter (the same bytes as [`bytes`](Self::bytes)).
    fn into_bytes(self) -> Vec<u8>;
}

impl RawRecord for Vec<u8> {
    fn bytes(&self) -> &[u8] {
        self
    }

    fn into_bytes(self) -> Vec<u8> {
        self
    }
}

/// An operator that decodes raw JSON records (bytes, or any [`RawRecord`]) into `T`.
///
/// Output records keep the input's time and origin (event time is assigned later by
/// a timestamp assigner). Records that fail go to the dead-letter output with their
/// raw bytes, a [`ReasonCode`] and a detail naming the field.
pub struct JsonDecoder<T, R = Vec<u8>> {
    // `fn(R) -> T`: the decoder holds no `T` or `R`, so it is `Send` whatever they are.
    _decodes: PhantomData<fn(R) -> T>,
}

impl<T, R> JsonDecoder<T, R> {
    /// A decoder for `T`.
    pub fn new() -> Self {
        JsonDecoder { _decodes: PhantomData }
    }
}

impl<T, R> Default for JsonDecoder<T, R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, R> fmt::Debug for JsonDecoder<T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JsonDecoder<{}, {}>", std::any::type_name::<T>(), std::any::type_name::<R>())
    }
}

impl<T: DeserializeOwned + Send + 'static, R: RawRecord> Operator for JsonDecoder<T, R> {
    type In = R;
    type Out = T;

    fn process(&mut self, batch: Batch<R>, out: &mut Output<T>) -> Result<(), OperatorError> {
        for record in batch {
            match decode_json::<T>(record.value.bytes()) {
                // Time, origin and trace context carry over.
                Ok(value) => out.emit(record.replace_value(value).1),
                // The raw bytes move to the dead letter as they came.
                Err(e) => out.dead_letter(record.value.into_bytes(), e.reason, e.detail, record.origin),
            }
        }
        Ok(())
    }
}
