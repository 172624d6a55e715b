use serde::Deserialize;
use tidemill_runtime::{EventTime, Offset, OperatorHarness, Origin, PartitionId, ReasonCode, Record, SourceId};

use super::*;

mod agreement;
mod structural;

/// A record type shaped like the reference job's order event (the real one lives with
/// the order job in `tidemill-job-examples`, which depends on this crate).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub(super) struct OrderEvent {
    pub order_id: String,
    pub user_id: String,
    pub amount: i64,
    #[serde(with = "crate::decode::rfc3339")]
    pub event_time: chrono::DateTime<chrono::Utc>,
}

impl OrderEvent {
    fn time(&self) -> EventTime {
        EventTime::from(self.event_time)
    }
}

const VALID: &str = r#"{"order_id":"o-1","user_id":"u-7","amount":1250,"event_time":"2026-01-01T00:00:01.500Z"}"#;

fn reject(text: &[u8]) -> DecodeError {
    decode_json::<OrderEvent>(text).expect_err("should be rejected")
}

fn with_field(field: &str, value: &str) -> String {
    let mut v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(VALID).unwrap();
    v.insert(field.into(), serde_json::from_str(value).unwrap());
    serde_json::Value::Object(v).to_string()
}

fn without_field(field: &str) -> String {
    let mut v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(VALID).unwrap();
    v.remove(field);
    serde_json::Value::Object(v).to_string()
}

#[test]
fn valid_record_decodes() {
    let o: OrderEvent = decode_json(VALID.as_bytes()).unwrap();
    assert_eq!((o.order_id.as_str(), o.user_id.as_str(), o.amount), ("o-1", "u-7", 1250));
    assert_eq!(o.time(), EventTime::from_millis(1_767_225_601_500));
    // Whitespace and an offset are fine.
    let spaced =
        r#"  { "order_id" : "o-1", "user_id":"u-7", "amount": 1250, "event_time": "2026-01-01T01:00:01.5+01:00" } "#;
    assert_eq!(decode_json::<OrderEvent>(spaced.as_bytes()).unwrap(), o);
}

#[test]
fn extra_fields_are_ignored() {
    let text = with_field("coupon", r#"{"code":"X","nested":[1,2,null]}"#);
    assert_eq!(decode_json::<OrderEvent>(text.as_bytes()).unwrap().order_id, "o-1");
}

#[test]
fn not_utf8() {
    let mut bytes = VALID.as_bytes().to_vec();
    bytes.insert(15, 0xff);
    assert_eq!(reject(&bytes).reason, ReasonCode::NotUtf8);
    // Even inside a field the schema does not have.
    let mut bytes = with_field("note", r#""abc""#).into_bytes();
    let at = bytes.windows(3).position(|w| w == b"abc").unwrap();
    bytes[at + 1] = 0xc3;
    assert_eq!(reject(&bytes).reason, ReasonCode::NotUtf8);
}

#[test]
fn not_json() {
    for text in ["", "   ", "order o-1", "{'order_id':'o-1'}", r#"{"order_id":"o-1","#, r#"{"a":1} {"a":2}"#, "[1,"] {
        let e = reject(text.as_bytes());
        assert_eq!(e.reason, ReasonCode::NotJson, "{text:?}: {e}");
    }
}

#[test]
fn not_object() {
    let array = r#"["o-1","u-7",1250,"2026-01-01T00:00:01.500Z"]"#;
    for (text, kind) in
        [(array, "an array"), (r#""o-1""#, "a string"), ("42", "a number"), ("null", "null"), ("true", "a boolean")]
    {
        let e = reject(text.as_bytes());
        assert_eq!(e.reason, ReasonCode::NotObject, "{text}");
        assert_eq!(e.detail, format!("expected a JSON object, found {kind}"));
    }
}

#[test]
fn missing_field() {
    for field in ["order_id", "user_id", "amount", "event_time"] {
        let e = reject(without_field(field).as_bytes());
        assert_eq!(e, DecodeError::new(ReasonCode::MissingField, format!("missing field \"{field}\"")));
    }
}

#[test]
fn null_field() {
    for field in ["order_id", "user_id", "amount", "event_time"] {
        let e = reject(with_field(field, "null").as_bytes());
        assert_eq!(e, DecodeError::new(ReasonCode::NullField, format!("field \"{field}\" is null")));
    }
}

#[test]
fn wrong_type() {
    for (field, value) in [
        ("amount", "1.5"),
        ("amount", r#""1250""#),
        ("amount", "9223372036854775808"),
        ("amount", "1e30"),
        ("order_id", "17"),
        ("user_id", r#"{"id":"u-7"}"#),
        ("event_time", "1767225601500"),
    ] {
        let e = reject(with_field(field, value).as_bytes());
        assert_eq!(e.reason, ReasonCode::WrongType, "{field}={value}: {e}");
        assert!(e.detail.starts_with(&format!("field \"{field}\": invalid")), "{}", e.detail);
    }
}

#[test]
fn bad_timestamp() {
    for value in ["yesterday", "2026-13-01T00:00:00Z", "2026-01-01", "2026-01-01T00:00:00", ""] {
        let e = reject(with_field("event_time", &format!("{value:?}")).as_bytes());
        assert_eq!(e.reason, ReasonCode::BadTimestamp, "{value}: {e}");
        assert!(e.detail.starts_with("field \"event_time\": not an RFC 3339 timestamp"), "{}", e.detail);
    }
}

#[test]
fn optional_fields_may_be_null_and_nested_paths_are_named() {
    #[derive(Debug, Deserialize)]
    struct Inner {
        #[allow(dead_code)]
        sku: String,
    }
    #[derive(Debug, Deserialize)]
    struct Outer {
        #[allow(dead_code)]
        note: Option<String>,
        #[allow(dead_code)]
        item: Inner,
    }
    assert!(decode_json::<Outer>(br#"{"note":null,"item":{"sku":"a"}}"#).is_ok());
    let e = decode_json::<Outer>(br#"{"note":null,"item":{}}"#).unwrap_err();
    assert_eq!(e, DecodeError::new(ReasonCode::MissingField, "missing field \"item.sku\""));
    let e = decode_json::<Outer>(br#"{"item":{"sku":null}}"#).unwrap_err();
    assert_eq!(e, DecodeError::new(ReasonCode::NullField, "field \"item.sku\" is null"));
}

#[test]
fn operator_keeps_time_origin_and_raw_bytes() {
    let origin = |n| Origin { source: SourceId(3), partition: PartitionId(1), offset: Offset(n) };
    let bad = b"{\"order_id\":\"o-\xff\"}".to_vec();
    let mut h = OperatorHarness::new(JsonDecoder::<OrderEvent>::new());
    h.push(vec![
        Record::new(VALID.as_bytes().to_vec(), EventTime::from_millis(5), origin(1)),
        Record::new(bad.clone(), EventTime::from_millis(6), origin(2)),
        Record::new(without_field("user_id").into_bytes(), EventTime::from_millis(7), origin(3)),
    ])
    .unwrap();
    let out = h.take_output();
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].time, out[0].origin), (EventTime::from_millis(5), origin(1)));
    let dead = h.take_dead_letters();
    assert_eq!(dead.len(), 2);
    assert_eq!((dead[0].payload.clone(), dead[0].reason, dead[0].origin), (bad, ReasonCode::NotUtf8, origin(2)));
    assert_eq!(dead[1].payload, without_field("user_id").into_bytes());
    assert_eq!((dead[1].reason, dead[1].detail.as_str()), (ReasonCode::MissingField, "missing field \"user_id\""));
}
