//! Each reason code comes from what serde reported (which error constructor, on
//! which value), never from the wording of a message.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{Map, Value};
use tidemill_runtime::{EventTime, ReasonCode};

use crate::decode::{decode_json, DecodeError};

#[derive(Debug, PartialEq, Deserialize)]
struct Payment {
    amount: i64,
    currency: String,
}

#[derive(Debug, PartialEq, Deserialize)]
enum Channel {
    Web,
    Store { id: u32 },
}

#[derive(Debug, PartialEq, Deserialize)]
struct Checkout {
    id: String,
    note: Option<String>,
    payment: Payment,
    channel: Channel,
    #[serde(with = "crate::decode::rfc3339::event_time")]
    at: EventTime,
    count: u32,
}

const CHECKOUT: &str = r#"{"id":"c-1","note":"gift","payment":{"amount":1250,"currency":"EUR"},"channel":"Web","at":"2026-01-01T00:00:00Z","count":2}"#;

/// The object that holds the member at a dotted `path`, and the member's name.
fn parent<'v>(record: &'v mut Value, path: &'v str) -> (&'v mut Map<String, Value>, &'v str) {
    let (outer, name) = path.rsplit_once('.').map_or((None, path), |(o, n)| (Some(o), n));
    let object = match outer {
        Some(outer) => outer.split('.').fold(record, |v, step| &mut v[step]),
        None => record,
    };
    (object.as_object_mut().expect("an object"), name)
}

/// [`CHECKOUT`] with the member at `path` set to the JSON `value`.
fn with(path: &str, value: &str) -> String {
    let mut record: Value = serde_json::from_str(CHECKOUT).unwrap();
    let (object, name) = parent(&mut record, path);
    object.insert(name.to_owned(), serde_json::from_str(value).unwrap());
    record.to_string()
}

/// [`CHECKOUT`] without the member at `path`.
fn without(path: &str) -> String {
    let mut record: Value = serde_json::from_str(CHECKOUT).unwrap();
    let (object, name) = parent(&mut record, path);
    object.remove(name).expect("a member");
    record.to_string()
}

fn reject(text: &str) -> DecodeError {
    decode_json::<Checkout>(text.as_bytes()).expect_err(text)
}

#[test]
fn optional_fields_may_be_absent_or_null() {
    let full: Checkout = decode_json(CHECKOUT.as_bytes()).unwrap();
    assert_eq!(full.note.as_deref(), Some("gift"));
    assert_eq!(full.payment, Payment { amount: 1250, currency: "EUR".into() });
    for text in [without("note"), with("note", "null")] {
        let checkout: Checkout = decode_json(text.as_bytes()).unwrap();
        assert_eq!(checkout, Checkout { note: None, ..decode_json(CHECKOUT.as_bytes()).unwrap() });
    }
}

#[test]
fn absent_required_fields_are_missing_field() {
    for path in ["id", "payment", "payment.amount", "payment.currency", "channel", "at", "count"] {
        let e = reject(&without(path));
        assert_eq!(e, DecodeError::new(ReasonCode::MissingField, format!("missing field \"{path}\"")));
    }
}

#[test]
fn null_required_fields_are_null_field() {
    for path in ["id", "payment", "payment.amount", "payment.currency", "channel", "at", "count"] {
        let e = reject(&with(path, "null"));
        assert_eq!(e, DecodeError::new(ReasonCode::NullField, format!("field \"{path}\" is null")));
    }
}

#[test]
fn values_of_the_wrong_json_type_are_wrong_type() {
    for (path, value) in [
        ("payment.amount", r#""1250""#), // a string for an integer
        ("id", "17"),
        ("id", r#"{"id":"c-1"}"#), // an object for a string
        ("id", r#"["c-1"]"#),      // an array for a string
        ("payment", "[]"),         // an array (too short) for a struct
        ("payment", r#""EUR""#),
        ("count", "true"),
        ("channel", "3"),
        ("channel", r#"{"Web":null,"Store":{"id":1}}"#), // an enum object has one member
        ("at", "1767225600000"),                         // a number for a timestamp
    ] {
        let e = reject(&with(path, value));
        assert_eq!(e.reason, ReasonCode::WrongType, "{path}={value}: {e}");
        assert!(e.detail.starts_with(&format!("field \"{path}\": invalid")), "{path}={value}: {}", e.detail);
    }
}

#[test]
fn numbers_out_of_range_and_fractions_are_wrong_type() {
    for (path, value) in [
        ("payment.amount", "1180591620717411303424"), // 2^70: parsed as f64, like serde_json does
        ("payment.amount", "9223372036854775808"),    // i64::MAX + 1: a u64
        ("payment.amount", "-9223372036854775809"),   // i64::MIN - 1: an f64
        ("payment.amount", "1.5"),
        ("payment.amount", "1.0"),
        ("payment.amount", "1e30"),
        ("payment.amount", "-0"),
        ("count", "-1"),
        ("count", "4294967296"),
        ("count", "2.5"),
    ] {
        let e = reject(&with(path, value));
        assert_eq!(e.reason, ReasonCode::WrongType, "{path}={value}: {e}");
        assert!(e.detail.starts_with(&format!("field \"{path}\": invalid")), "{path}={value}: {}", e.detail);
    }
    // JSON, but beyond what serde_json can hold at all (an f64): no type takes it.
    let e = reject(&CHECKOUT.replace(r#""count":2"#, r#""count":1e400"#));
    assert_eq!(e.reason, ReasonCode::WrongType, "{e}");
}

#[test]
fn enums() {
    let store: Checkout = decode_json(with("channel", r#"{"Store":{"id":7}}"#).as_bytes()).unwrap();
    assert_eq!(store.channel, Channel::Store { id: 7 });
    let e = reject(&with("channel", r#""Phone""#));
    assert_eq!(e.reason, ReasonCode::WrongType);
    assert_eq!(e.detail, "field \"channel\": unknown variant `Phone`, expected `Web` or `Store`");
    let e = reject(&with("channel", r#"{"Store":{}}"#));
    assert_eq!(e, DecodeError::new(ReasonCode::MissingField, "missing field \"channel.Store.id\""));
    let e = reject(&with("channel", r#"{"Store":{"id":null}}"#));
    assert_eq!(e, DecodeError::new(ReasonCode::NullField, "field \"channel.Store.id\" is null"));
    let e = reject(&with("channel", r#"{"Store":{"id":-3}}"#));
    assert_eq!(e.reason, ReasonCode::WrongType, "{e}");
}

#[test]
fn unknown_fields_are_wrong_type_when_denied() {
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Strict {
        #[allow(dead_code)]
        id: String,
    }
    assert!(decode_json::<Strict>(br#"{"id":"a"}"#).is_ok());
    let e = decode_json::<Strict>(br#"{"id":"a","coupon":"X"}"#).unwrap_err();
    assert_eq!(e, DecodeError::new(ReasonCode::WrongType, "field \"coupon\": unknown field `coupon`, expected `id`"));
}

#[test]
fn timestamps() {
    let e = reject(&with("at", r#""yesterday""#));
    assert_eq!(e, DecodeError::new(ReasonCode::BadTimestamp, "field \"at\": not an RFC 3339 timestamp: \"yesterday\""));
    assert_eq!(reject(&with("at", "null")), DecodeError::new(ReasonCode::NullField, "field \"at\" is null"));
    assert_eq!(reject(&with("at", "1767225600000")).reason, ReasonCode::WrongType);
    assert_eq!(reject(&with("at", r#"["2026-01-01T00:00:00Z"]"#)).reason, ReasonCode::WrongType);
    assert_eq!(reject(&without("at")), DecodeError::new(ReasonCode::MissingField, "missing field \"at\""));
}

#[test]
fn duplicate_fields_are_wrong_type() {
    // serde_json::Value would keep only the last `count` and decode; the fast path
    // refuses the record, and so must the classification.
    let e = reject(&CHECKOUT.replace(r#""count":2"#, r#""count":2,"count":3"#));
    assert_eq!(e, DecodeError::new(ReasonCode::WrongType, "record: duplicate field `count`"));
}

#[test]
fn the_first_problem_in_the_text_is_named() {
    // As the fast path (serde_json) meets them: in text order, not sorted by name.
    let rest = r#""payment":{"amount":1,"currency":"EUR"},"channel":"Web","at":"2026-01-01T00:00:00Z""#;
    let id_first = format!(r#"{{"id":1,{rest},"count":"2"}}"#);
    assert!(reject(&id_first).detail.starts_with("field \"id\":"), "{}", reject(&id_first));
    let count_first = format!(r#"{{"count":"2",{rest},"id":1}}"#);
    assert!(reject(&count_first).detail.starts_with("field \"count\":"), "{}", reject(&count_first));
}

#[test]
fn flattened_fields_are_classified_too() {
    // serde buffers the members for a flattened struct and replays them with its own
    // deserializer: the constructors it reports through are still ours.
    #[derive(Debug, Deserialize)]
    struct When {
        #[allow(dead_code)]
        #[serde(with = "crate::decode::rfc3339::event_time")]
        at: EventTime,
        #[allow(dead_code)]
        count: u32,
    }
    #[derive(Debug, Deserialize)]
    struct Event {
        #[allow(dead_code)]
        id: String,
        #[allow(dead_code)]
        #[serde(flatten)]
        when: When,
    }
    assert!(decode_json::<Event>(br#"{"id":"a","at":"2026-01-01T00:00:00Z","count":1}"#).is_ok());
    for (text, reason) in [
        (r#"{"id":"a","count":1}"#, ReasonCode::MissingField),
        (r#"{"id":"a","at":null,"count":1}"#, ReasonCode::NullField),
        (r#"{"id":"a","at":"soon","count":1}"#, ReasonCode::BadTimestamp),
        (r#"{"id":"a","at":"2026-01-01T00:00:00Z","count":-1}"#, ReasonCode::WrongType),
    ] {
        let e = decode_json::<Event>(text.as_bytes()).unwrap_err();
        assert_eq!(e.reason, reason, "{text}: {e}");
    }
}

/// A field type whose own check rejects a present, non-null string with a custom
/// message that reads like one of serde's.
#[derive(Debug)]
struct RejectsWith;

impl<'de> Deserialize<'de> for RejectsWith {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let message = match text.as_str() {
            "absent" => "missing field `sku`",
            "null" => "invalid type: null, expected a string",
            _ => "not an RFC 3339 timestamp: \"x\"",
        };
        Err(serde::de::Error::custom(message))
    }
}

/// Classifying by message text called the first two `missing_field` and
/// `null_field`, and the third `bad_timestamp`.
#[test]
fn custom_errors_are_wrong_type_whatever_their_wording() {
    #[derive(Debug, Deserialize)]
    struct Item {
        #[allow(dead_code)]
        code: RejectsWith,
    }
    for (value, message) in [
        ("absent", "missing field `sku`"),
        ("null", "invalid type: null, expected a string"),
        ("other", "not an RFC 3339 timestamp: \"x\""),
    ] {
        let e = decode_json::<Item>(format!(r#"{{"code":"{value}"}}"#).as_bytes()).unwrap_err();
        assert_eq!(e, DecodeError::new(ReasonCode::WrongType, format!("field \"code\": {message}")), "{value}");
    }
}

#[test]
fn serde_json_has_the_last_word() {
    #[derive(Debug, Deserialize)]
    struct Counts {
        #[allow(dead_code)]
        by_hour: HashMap<u32, u32>,
    }
    assert!(decode_json::<Counts>(br#"{"by_hour":{"7":2}}"#).is_ok());
    // serde_json reads a numeric key from the raw text and refuses the escape; the
    // tree holds the key decoded ("7") and would take it. The record is refused.
    let e = decode_json::<Counts>(br#"{"by_hour":{"\u0037":2}}"#).unwrap_err();
    assert_eq!(e.reason, ReasonCode::WrongType, "{e}");
}
