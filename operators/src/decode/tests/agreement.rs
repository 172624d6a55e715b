//! The tree deserializer takes what serde_json's `from_str` takes, and refuses what it
//! refuses: with `serde_json::Error` as its error type, both must give the same value
//! or both an error, for every kind of `Deserialize` impl a record type may hold.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use super::OrderEvent;
use crate::decode::json_tree::JsonTree;
use crate::decode::tree_deserializer::TreeDeserializer;

/// Decodes each text with serde_json and through the tree, and compares.
fn agree<T: DeserializeOwned + PartialEq + Debug>(texts: &[&str]) {
    for text in texts {
        let direct = serde_json::from_str::<T>(text);
        let tree = JsonTree::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let replayed = T::deserialize(TreeDeserializer::<serde_json::Error>::new(&tree));
        match (direct, replayed) {
            (Ok(direct), Ok(replayed)) => assert_eq!(direct, replayed, "{text}"),
            (Err(_), Err(_)) => {}
            (direct, replayed) => {
                panic!("{text} as {}: serde_json {direct:?}, tree {replayed:?}", std::any::type_name::<T>())
            }
        }
    }
}

const SCALARS: &[&str] = &[
    "0",
    "1",
    "-1",
    "127",
    "128",
    "-129",
    "255",
    "256",
    "65536",
    "4294967296",
    "-2147483649",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "1180591620717411303424",
    "1.5",
    "1.0",
    "1e3",
    "-0",
    "1e30",
    "3.4e39",
    r#""1""#,
    r#""a""#,
    r#""ab""#,
    r#""a\nb\u00e9""#,
    r#""""#,
    "null",
    "true",
    "false",
    "[]",
    "[1]",
    "[1,2]",
    "{}",
    r#"{"a":1}"#,
];

#[test]
fn numbers() {
    agree::<i8>(SCALARS);
    agree::<i16>(SCALARS);
    agree::<i32>(SCALARS);
    agree::<i64>(SCALARS);
    agree::<u8>(SCALARS);
    agree::<u16>(SCALARS);
    agree::<u32>(SCALARS);
    agree::<u64>(SCALARS);
    agree::<f32>(SCALARS);
    agree::<f64>(SCALARS);
    agree::<Option<i64>>(SCALARS);
}

#[test]
fn strings_bools_units_and_sequences() {
    agree::<String>(SCALARS);
    agree::<char>(SCALARS);
    agree::<bool>(SCALARS);
    agree::<()>(SCALARS);
    agree::<Option<String>>(SCALARS);
    agree::<Vec<u8>>(SCALARS);
    agree::<(u8, u8)>(&["[1,2]", "[1]", "[1,2,3]", "[1,\"2\"]", "{}", "null"]);
    agree::<Value>(SCALARS);
    agree::<Value>(&[r#"{"b":1,"a":[null,{"c":-2.5}],"b":2}"#]);
}

#[derive(Debug, PartialEq, Deserialize)]
struct Payment {
    amount: i64,
    currency: Option<String>,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Strict {
    id: u32,
}

#[derive(Debug, PartialEq, Deserialize)]
struct Unit;

#[derive(Debug, PartialEq, Deserialize)]
struct Cents(i64);

#[derive(Debug, PartialEq, Deserialize)]
struct WithFlattened {
    id: u32,
    #[serde(flatten)]
    payment: Payment,
}

#[test]
fn structs() {
    let payments = [
        r#"{"amount":1,"currency":"EUR"}"#,
        r#"{"amount":1}"#,
        r#"{"amount":1,"currency":null}"#,
        r#"{"amount":1,"extra":[1,{"x":null}]}"#,
        r#"{"amount":1,"amount":2}"#,
        r#"{"currency":"EUR"}"#,
        r#"{"amount":null}"#,
        r#"[1,"EUR"]"#,
        r#"[1]"#,
        r#"[1,"EUR",3]"#,
        "[]",
        "null",
        "1",
    ];
    agree::<Payment>(&payments);
    agree::<WithFlattened>(&[
        r#"{"id":1,"amount":2}"#,
        r#"{"id":1,"amount":null}"#,
        r#"{"id":1}"#,
        r#"{"id":1,"amount":2,"other":3}"#,
    ]);
    agree::<Strict>(&[r#"{"id":1}"#, r#"{"id":1,"x":2}"#, "[1]", "[1,2]"]);
    agree::<Unit>(SCALARS);
    agree::<Cents>(SCALARS);
    agree::<OrderEvent>(&[
        r#"{"order_id":"o-1","user_id":"u-7","amount":1250,"event_time":"2026-01-01T00:00:01.500Z"}"#,
        r#"{"order_id":"o-1","user_id":"u-7","amount":1250,"event_time":"2026-01-01"}"#,
        r#"{"order_id":"o-1","user_id":"u-7","amount":1250,"event_time":null}"#,
        r#"{"order_id":"o-1","user_id":"u-7","amount":1250,"event_time":1}"#,
        r#"["o-1","u-7",1250,"2026-01-01T00:00:01.500Z"]"#,
    ]);
}

#[derive(Debug, PartialEq, Deserialize)]
enum External {
    Unit,
    Newtype(u32),
    Tuple(u8, u8),
    Struct { id: u32 },
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(tag = "type")]
enum Internal {
    A { x: u32 },
    B,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(tag = "t", content = "c")]
enum Adjacent {
    A(u32),
    B,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(untagged)]
enum Untagged {
    Number(i64),
    Text(String),
    Pair(u8, u8),
}

#[test]
fn enums() {
    agree::<External>(&[
        r#""Unit""#,
        r#"{"Unit":null}"#,
        r#"{"Unit":1}"#,
        r#""Newtype""#,
        r#"{"Newtype":7}"#,
        r#"{"Newtype":"7"}"#,
        r#"{"Tuple":[1,2]}"#,
        r#"{"Tuple":[1]}"#,
        r#"{"Tuple":[1,2,3]}"#,
        r#"{"Struct":{"id":1}}"#,
        r#"{"Struct":[1]}"#,
        r#"{"Struct":{}}"#,
        r#""Other""#,
        r#"{"Other":1}"#,
        r#"{"Unit":null,"Newtype":1}"#,
        "{}",
        "null",
        "1",
        "[]",
    ]);
    agree::<Internal>(&[r#"{"type":"A","x":1}"#, r#"{"type":"B"}"#, r#"{"x":1}"#, r#"{"type":"C"}"#, "null"]);
    agree::<Adjacent>(&[r#"{"t":"A","c":1}"#, r#"{"t":"B"}"#, r#"{"t":"A"}"#, r#"{"c":1}"#]);
    agree::<Untagged>(&["1", r#""a""#, "[1,2]", "[1]", "1.5", "null"]);
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
enum Side {
    Buy,
    Sell,
}

#[test]
fn map_keys() {
    let keys = [
        r#"{"1":2}"#,
        r#"{"-1":2}"#,
        r#"{"x":2}"#,
        r#"{" 1":2}"#,
        r#"{"1 ":2}"#,
        r#"{"1.0":2}"#,
        r#"{"1e2":2}"#,
        r#"{"01":2}"#,
        r#"{"-":2}"#,
        r#"{"":2}"#,
        r#"{"true":2}"#,
        r#"{"4294967296":2}"#,
    ];
    agree::<HashMap<u32, u8>>(&keys);
    agree::<BTreeMap<i64, u8>>(&keys);
    agree::<BTreeMap<u128, u8>>(&keys);
    agree::<BTreeMap<bool, u8>>(&keys);
    agree::<BTreeMap<String, u8>>(&keys);
    agree::<BTreeMap<Side, u8>>(&[r#"{"Buy":1}"#, r#"{"Buy":1,"Sell":2}"#, r#"{"Hold":1}"#]);
}
