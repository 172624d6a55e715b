//! A parsed JSON value for the slow path, built by serde_json's own parser.
//!
//! Not `serde_json::Value`, because that loses what the classification needs to
//! see the record exactly as the fast path saw it:
//!
//! - member order: without serde_json's `preserve_order` feature, `Value` sorts an
//!   object's keys, so the first error found would not be the first in the text;
//! - duplicate keys: `Value` keeps only the last one, so a record that the fast path
//!   rejects for a duplicate field would decode from it.
//!
//! Numbers are stored as serde_json's parser visited them (`visit_u64`, `visit_i64`
//! or `visit_f64`), so replaying them visits `T` exactly as parsing the text does:
//! without serde_json's `arbitrary_precision` feature (not enabled in this
//! workspace), an integer beyond 64 bits is parsed as an `f64`.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Unexpected, Visitor};

/// One JSON value: the parse tree of a record (or of one of its parts).
#[derive(Clone, Debug, PartialEq)]
pub(super) enum JsonTree {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer serde_json parsed as unsigned: non-negative and at most `u64::MAX`.
    U64(u64),
    /// An integer serde_json parsed as signed: negative and at least `i64::MIN`.
    I64(i64),
    /// Any other number: with a fraction or exponent, `-0`, or an integer beyond 64 bits.
    F64(f64),
    /// A string, escapes decoded.
    String(String),
    /// An array.
    Array(Vec<JsonTree>),
    /// An object: its members in text order, duplicate keys kept.
    Object(Vec<(String, JsonTree)>),
}

impl JsonTree {
    /// Parses `text`, which must hold exactly one JSON value.
    ///
    /// Fails on text that is not JSON, and also on JSON that serde_json cannot hold:
    /// a number beyond `f64`, a string with a lone surrogate escape, or nesting deeper
    /// than serde_json's recursion limit (128).
    pub(super) fn parse(text: &str) -> Result<JsonTree, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// What this value is, in the terms serde's errors use (`null` is a unit).
    pub(super) fn unexpected(&self) -> Unexpected<'_> {
        match self {
            JsonTree::Null => Unexpected::Unit,
            JsonTree::Bool(b) => Unexpected::Bool(*b),
            JsonTree::U64(n) => Unexpected::Unsigned(*n),
            JsonTree::I64(n) => Unexpected::Signed(*n),
            JsonTree::F64(n) => Unexpected::Float(*n),
            JsonTree::String(s) => Unexpected::Str(s),
            JsonTree::Array(_) => Unexpected::Seq,
            JsonTree::Object(_) => Unexpected::Map,
        }
    }
}

impl<'de> Deserialize<'de> for JsonTree {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonTreeVisitor)
    }
}

/// Builds a [`JsonTree`] from whatever the parser visits.
struct JsonTreeVisitor;

impl<'de> Visitor<'de> for JsonTreeVisitor {
    type Value = JsonTree;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<JsonTree, E> {
        Ok(JsonTree::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<JsonTree, E> {
        Ok(JsonTree::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<JsonTree, D::Error> {
        JsonTree::deserialize(deserializer)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<JsonTree, E> {
        Ok(JsonTree::Bool(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<JsonTree, E> {
        Ok(JsonTree::U64(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<JsonTree, E> {
        Ok(JsonTree::I64(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<JsonTree, E> {
        Ok(JsonTree::F64(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<JsonTree, E> {
        Ok(JsonTree::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<JsonTree, E> {
        Ok(JsonTree::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsonTree, A::Error> {
        let mut elements = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(element) = seq.next_element()? {
            elements.push(element);
        }
        Ok(JsonTree::Array(elements))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonTree, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(member) = map.next_entry::<String, JsonTree>()? {
            members.push(member);
        }
        Ok(JsonTree::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::JsonTree::{self, *};

    #[test]
    fn numbers_are_stored_as_serde_json_parses_them() {
        let parsed = |text: &str| JsonTree::parse(text).unwrap();
        assert_eq!(parsed("0"), U64(0));
        assert_eq!(parsed("18446744073709551615"), U64(u64::MAX));
        assert_eq!(parsed("-1"), I64(-1));
        assert_eq!(parsed("-9223372036854775808"), I64(i64::MIN));
        // Beyond 64 bits, and negative zero, serde_json falls back to f64.
        assert_eq!(parsed("1180591620717411303424"), F64(2f64.powi(70)));
        assert_eq!(parsed("-9223372036854775809"), F64(-9_223_372_036_854_775_809.0));
        assert!(matches!(parsed("-0"), F64(z) if z == 0.0 && z.is_sign_negative()));
        assert_eq!(parsed("1.5"), F64(1.5));
        assert_eq!(parsed("1e3"), F64(1000.0));
    }

    #[test]
    fn objects_keep_order_and_duplicates() {
        let tree = JsonTree::parse(r#"{"b":1,"a":[null,true,"x"],"b":{}}"#).unwrap();
        let members = vec![
            ("b".to_owned(), U64(1)),
            ("a".to_owned(), Array(vec![Null, Bool(true), String("x".into())])),
            ("b".to_owned(), Object(vec![])),
        ];
        assert_eq!(tree, Object(members));
    }

    #[test]
    fn json_serde_json_cannot_hold_fails_to_parse() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        for text in ["1e400", r#""\ud800""#, deep.as_str()] {
            assert!(serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok(), "{text} is JSON");
            assert!(JsonTree::parse(text).is_err(), "{text}");
        }
    }
}
