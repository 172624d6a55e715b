//! The slow path of decoding: runs only after the fast path failed, and works out
//! which [`ReasonCode`] the failure is and which field it is about, from the
//! structure of the failure rather than from serde_json's message text (see the
//! [module docs](super)).

use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::error::Category;
use tidemill_runtime::ReasonCode;

use super::json_tree::JsonTree;
use super::rfc3339::TimestampError;
use super::schema_error::{SchemaError, SchemaProblem};
use super::tree_deserializer::TreeDeserializer;
use super::DecodeError;

/// Decodes valid UTF-8 `text` again, step by step, to classify the failure.
///
/// Returns `Ok` only if serde_json decodes `T` from `text` after all (the fast path
/// should have caught that; the check keeps the two paths from disagreeing
/// silently).
pub(super) fn decode_slow<T: DeserializeOwned>(text: &str) -> Result<T, DecodeError> {
    // Syntax first, with a deserializer that builds nothing, so "not JSON" does not
    // depend on the schema (`[1,` and `{"a":` are both syntax errors).
    if let Err(e) = serde_json::from_str::<IgnoredAny>(text) {
        let reason = match e.classify() {
            Category::Syntax | Category::Eof => ReasonCode::NotJson,
            // Cannot happen: `IgnoredAny` refuses no value, and a `str` is not read
            // through I/O. Should serde_json report a Data error anyway, it read the
            // text as JSON.
            Category::Data => ReasonCode::WrongType,
            Category::Io => ReasonCode::NotJson,
        };
        return Err(DecodeError::new(reason, e.to_string()));
    }
    // Records are JSON objects. This check matters: serde's derived struct
    // deserializers also accept a JSON array of the field values.
    if let Some(kind) = non_object_kind(text) {
        return Err(DecodeError::new(ReasonCode::NotObject, format!("expected a JSON object, found {kind}")));
    }
    let tree = match JsonTree::parse(text) {
        Ok(tree) => tree,
        // The text is JSON (checked above), but serde_json cannot hold one of its
        // values: a number beyond f64, a lone surrogate, nesting deeper than 128.
        // Whatever type wanted that value cannot take it.
        Err(e) => return Err(DecodeError::new(ReasonCode::WrongType, e.to_string())),
    };
    match serde_path_to_error::deserialize::<_, T>(TreeDeserializer::<SchemaError>::new(&tree)) {
        Err(e) => Err(dead_letter_error(&e.path().to_string(), e.into_inner())),
        // `T` decodes from the tree but serde_json refused the text: the tree
        // deserializer is more lenient somewhere (an escaped numeric map key, say).
        // serde_json has the last word; its error names no constructor, and it is
        // not about syntax (checked above), so it is a type error.
        Ok(_) => serde_json::from_str::<T>(text).map_err(|e| DecodeError::new(ReasonCode::WrongType, e.to_string())),
    }
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

/// The dead-letter reason and detail for a failure to deserialize `T` at `path`
/// (as `serde_path_to_error` writes it: `.` for the record itself).
fn dead_letter_error(path: &str, error: SchemaError) -> DecodeError {
    let subject = || if path == "." { "record".to_owned() } else { format!("field {path:?}") };
    match error.problem {
        SchemaProblem::MissingField(name) => {
            // The path is the object the field is missing from.
            let field = if path == "." { name.to_owned() } else { format!("{path}.{name}") };
            DecodeError::new(ReasonCode::MissingField, format!("missing field {field:?}"))
        }
        SchemaProblem::Null => DecodeError::new(ReasonCode::NullField, format!("{} is null", subject())),
        SchemaProblem::BadTimestamp(value) => {
            DecodeError::new(ReasonCode::BadTimestamp, format!("{}: {}", subject(), TimestampError(value)))
        }
        SchemaProblem::WrongType => {
            DecodeError::new(ReasonCode::WrongType, format!("{}: {}", subject(), error.message))
        }
    }
}
