//! The error type the slow path decodes `T` with: it keeps which of serde's error
//! constructors was called, and the reason code follows from that alone.
//!
//! serde's `de::Error` trait has one constructor per kind of failure, and derived
//! and hand-written `Deserialize` impls call the one that fits: a derived struct
//! calls `missing_field` for an absent field that is not an `Option`, a visitor
//! handed a `null` it does not take calls `invalid_type(Unexpected::Unit, ..)`, and
//! so on. serde_json's error keeps only the message those constructors format, whose
//! wording is serde's and may change; this type keeps the constructor.

use std::fmt;

use serde::de::{self, value, Expected, Unexpected};

use super::rfc3339;

/// Which kind of failure serde reported, by the constructor it called.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum SchemaProblem {
    /// `missing_field`: a field the type requires is absent.
    MissingField(&'static str),
    /// `invalid_type` with `Unexpected::Unit` or `Unexpected::Option`: a `null`,
    /// given to a type that does not take one. (The slow path's deserializer
    /// visits a unit or a none only for `null`.)
    Null,
    /// `invalid_value` with a string, against the RFC 3339 expectation of
    /// [`rfc3339`]: the string holds no timestamp.
    BadTimestamp(String),
    /// Everything else: `invalid_type` for a present non-null value, `invalid_value`
    /// (numbers out of range among them), `invalid_length`, `unknown_variant`,
    /// `unknown_field`, `duplicate_field`, and `custom`, which a type's own checks
    /// use for a value that is present but not acceptable.
    WrongType,
}

/// A failure to deserialize `T`, built by serde through [`de::Error`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub(super) struct SchemaError {
    /// What kind of failure it is.
    pub(super) problem: SchemaProblem,
    /// serde's description, for the detail text only (never inspected).
    pub(super) message: String,
}

impl SchemaError {
    fn new(problem: SchemaProblem, message: impl fmt::Display) -> Self {
        SchemaError { problem, message: message.to_string() }
    }
}

// The messages are what serde's default constructors write (built with
// `serde::de::value::Error`, whose constructors are those defaults), so the details
// read the same as serde_json's, less the position.
impl de::Error for SchemaError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        SchemaError::new(SchemaProblem::WrongType, msg)
    }

    fn invalid_type(unexpected: Unexpected<'_>, expected: &dyn Expected) -> Self {
        let problem = match unexpected {
            Unexpected::Unit | Unexpected::Option => SchemaProblem::Null,
            _ => SchemaProblem::WrongType,
        };
        SchemaError::new(problem, value::Error::invalid_type(unexpected, expected))
    }

    fn invalid_value(unexpected: Unexpected<'_>, expected: &dyn Expected) -> Self {
        let message = value::Error::invalid_value(unexpected, expected);
        match unexpected {
            Unexpected::Str(text) if rfc3339::is_rfc3339_expectation(expected) => {
                SchemaError::new(SchemaProblem::BadTimestamp(text.to_owned()), message)
            }
            _ => SchemaError::new(SchemaProblem::WrongType, message),
        }
    }

    fn invalid_length(len: usize, expected: &dyn Expected) -> Self {
        SchemaError::new(SchemaProblem::WrongType, value::Error::invalid_length(len, expected))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        SchemaError::new(SchemaProblem::WrongType, value::Error::unknown_variant(variant, expected))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        SchemaError::new(SchemaProblem::WrongType, value::Error::unknown_field(field, expected))
    }

    fn missing_field(field: &'static str) -> Self {
        SchemaError::new(SchemaProblem::MissingField(field), value::Error::missing_field(field))
    }

    fn duplicate_field(field: &'static str) -> Self {
        SchemaError::new(SchemaProblem::WrongType, value::Error::duplicate_field(field))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use de::Error as _;

    #[test]
    fn the_constructor_decides_not_the_message() {
        let problem = |e: SchemaError| e.problem;
        assert_eq!(problem(SchemaError::missing_field("sku")), SchemaProblem::MissingField("sku"));
        assert_eq!(problem(SchemaError::custom("missing field `sku`")), SchemaProblem::WrongType);
        assert_eq!(problem(SchemaError::invalid_type(Unexpected::Unit, &"a string")), SchemaProblem::Null);
        assert_eq!(problem(SchemaError::invalid_type(Unexpected::Option, &"a string")), SchemaProblem::Null);
        assert_eq!(problem(SchemaError::custom("invalid type: null, expected a string")), SchemaProblem::WrongType);
        assert_eq!(problem(SchemaError::invalid_type(Unexpected::Str("null"), &"a u32")), SchemaProblem::WrongType);
    }

    #[test]
    fn bad_timestamp_is_the_rfc3339_expectation_itself() {
        let bad = SchemaError::invalid_value(Unexpected::Str("yesterday"), &rfc3339::RFC3339_EXPECTATION);
        assert_eq!(bad.problem, SchemaProblem::BadTimestamp("yesterday".into()));
        assert_eq!(bad.message, "invalid value: string \"yesterday\", expected an RFC 3339 timestamp string");
        // The same text from anywhere else is just a wrong value.
        let lookalike = SchemaError::invalid_value(Unexpected::Str("yesterday"), &"an RFC 3339 timestamp string");
        assert_eq!(lookalike.problem, SchemaProblem::WrongType);
        assert_eq!(lookalike.message, bad.message);
    }
}
