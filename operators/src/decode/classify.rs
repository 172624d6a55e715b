//! The slow path of decoding: runs only after the fast path failed, and works out
//! which [`ReasonCode`] the failure is and which field it is about.

use serde::de::{DeserializeOwned, IgnoredAny};
use tidemill_runtime::ReasonCode;

use super::rfc3339::BAD_TIMESTAMP;
use super::DecodeError;

/// Decodes valid UTF-8 `text` again, step by step, to classify the failure.
///
/// Returns `Ok` only if `T` decodes after all (the fast path should have caught that;
/// the check keeps the two paths from disagreeing silently).
pub(super) fn decode_slow<T: DeserializeOwned>(text: &str) -> Result<T, DecodeError> {
    // Syntax first, with a deserializer that builds nothing, so "not JSON" does not
    // depend on the schema (`[1,` and `{"a":` are both syntax errors).
    if let Err(e) = serde_json::from_str::<IgnoredAny>(text) {
        return Err(DecodeError::new(ReasonCode::NotJson, e.to_string()));
    }
    // Records are JSON objects. This check matters: serde's derived struct
    // deserializers also accept a JSON array of the field values.
    if let Some(kind) = non_object_kind(text) {
        return Err(DecodeError::new(ReasonCode::NotObject, format!("expected a JSON object, found {kind}")));
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let err = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        // Trailing characters were ruled out by the syntax check above.
        Ok(v) => return de.end().map(|()| v).map_err(|e| DecodeError::new(ReasonCode::NotJson, e.to_string())),
        Err(e) => e,
    };
    let path = err.path().to_string();
    Err(classify_schema_error(&path, err.inner()))
}

/// The JSON type of a value that is not an object, or `None` for an object.
fn non_object_kind(text: &str) -> Option<&'static str> {
    match text.trim_start().as_bytes().first() {
        Some(b'{') => None,
        Some(b'[') => Some("an array"),
        Some(b'"') => Some("a string"),
        Some(b't' | b'f') => Some("a boolean"),
        Some(b'n') => Some("null"),
        _ => Some("a number"),
    }
}

/// Maps a serde error on a syntactically valid object to a reason code.
///
/// serde reports errors as text, so this reads the message: the prefixes matched
/// here are produced by serde itself (`missing field`, `invalid type: null`) and by
/// [`super::rfc3339`] (`BAD_TIMESTAMP`), and are stable.
fn classify_schema_error(path: &str, err: &serde_json::Error) -> DecodeError {
    let message = message_without_position(err);
    if let Some(rest) = message.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or(rest);
        let field = if path == "." { name.to_owned() } else { format!("{path}.{name}") };
        return DecodeError::new(ReasonCode::MissingField, format!("missing field {field:?}"));
    }
    let subject = if path == "." { "record".to_owned() } else { format!("field {path:?}") };
    if message.starts_with("invalid type: null") {
        return DecodeError::new(ReasonCode::NullField, format!("{subject} is null"));
    }
    if message.contains(BAD_TIMESTAMP) {
        return DecodeError::new(ReasonCode::BadTimestamp, format!("{subject}: {message}"));
    }
    // Wrong JSON type, out-of-range number, unknown enum variant, duplicate field...
    DecodeError::new(ReasonCode::WrongType, format!("{subject}: {message}"))
}

/// serde_json appends " at line L column C"; the detail names the field instead.
fn message_without_position(err: &serde_json::Error) -> String {
    let text = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    match text.strip_suffix(&suffix) {
        Some(m) => m.to_owned(),
        None => text,
    }
}
