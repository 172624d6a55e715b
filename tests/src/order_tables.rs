//! Assertions that compare the order job's Delta tables with an [`OrderOracle`].

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::path::Path;

use base64::Engine as _;
use serde_json::Value;

use crate::order_oracle::OrderOracle;
use tidemill_testkit::delta_reader::{read_rows, Engine};

/// A string column of a row read back from a table.
pub fn str_field<'a>(row: &'a Value, name: &str) -> &'a str {
    row[name].as_str().unwrap_or_else(|| panic!("{name} is not a string in {row}"))
}

/// A window's key in the `order_aggregates` table: start, end (RFC 3339) and user.
pub type WindowKey = (String, String, String);

/// The `order_aggregates` table as window -> order count; fails if a window is
/// written twice.
pub fn window_counts(table: &(impl AsRef<OsStr> + ?Sized)) -> BTreeMap<WindowKey, i64> {
    window_counts_of(&read_rows(table, Engine::DeltaRs))
}

/// [`window_counts`] of rows read already.
pub fn window_counts_of(rows: &[Value]) -> BTreeMap<WindowKey, i64> {
    let mut got = BTreeMap::new();
    for row in rows {
        let key = (
            str_field(row, "window_start").to_string(),
            str_field(row, "window_end").to_string(),
            str_field(row, "user_id").to_string(),
        );
        let count = row["order_count"].as_i64().expect("order_count");
        assert!(got.insert(key.clone(), count).is_none(), "window {key:?} written twice");
    }
    got
}

/// Every window in `table` equals the oracle's, and none is written twice.
pub fn assert_windows_equal(table: &(impl AsRef<OsStr> + ?Sized), oracle: &OrderOracle) {
    let got = window_counts(table);
    assert_eq!(got.len(), oracle.windows.len(), "number of windows");
    assert_eq!(got, oracle.windows, "every window equal to the oracle");
}

/// An order as the oracle and the `orders` table hold it: order id, user id,
/// amount, event time (RFC 3339).
pub type OrderRow = (String, String, i64, String);

/// One row of the `orders` table as the oracle holds orders.
pub fn order_row(row: &Value) -> OrderRow {
    (
        str_field(row, "order_id").to_string(),
        str_field(row, "user_id").to_string(),
        row["amount"].as_i64().expect("amount"),
        str_field(row, "event_time").to_string(),
    )
}

/// The `orders` table holds exactly the oracle's distinct orders.
pub fn assert_orders_equal(table: &(impl AsRef<OsStr> + ?Sized), oracle: &OrderOracle) {
    let rows = crate::table_rows::order_rows(table);
    let got: BTreeSet<OrderRow> = rows.iter().cloned().collect();
    assert_eq!(rows.len(), got.len(), "orders are distinct");
    assert_eq!(got, oracle.orders);
}

/// DLQ rows keyed by (source, line): reason code and raw payload; each only once.
pub fn dead_letter_rows(table: &(impl AsRef<OsStr> + ?Sized)) -> BTreeMap<(String, i64), (String, Vec<u8>)> {
    let mut out = BTreeMap::new();
    for row in read_rows(table, Engine::DeltaRs) {
        assert_eq!(str_field(&row, "source_kind"), "file");
        assert_eq!(str_field(&row, "stage"), "decode");
        assert!(!str_field(&row, "reason").is_empty(), "every dead letter says why");
        let payload = base64::engine::general_purpose::STANDARD.decode(str_field(&row, "payload")).expect("base64");
        let key = (str_field(&row, "source").to_string(), row["offset"].as_i64().expect("offset"));
        let value = (str_field(&row, "reason_code").to_string(), payload);
        assert!(out.insert(key.clone(), value).is_none(), "dead letter {key:?} written twice");
    }
    out
}

/// DLQ rows as `(reason code, raw payload) -> how many`, for Kafka input (where
/// rows are identified by partition and offset, not by line).
pub fn dead_letter_payloads(table: &(impl AsRef<OsStr> + ?Sized)) -> BTreeMap<(String, Vec<u8>), usize> {
    let mut out = BTreeMap::new();
    for row in read_rows(table, Engine::DeltaRs) {
        assert_eq!(str_field(&row, "source_kind"), "kafka");
        assert!(row["partition"].as_i64().is_some(), "Kafka dead letters name their partition");
        let payload = base64::engine::general_purpose::STANDARD.decode(str_field(&row, "payload")).expect("base64");
        *out.entry((str_field(&row, "reason_code").to_string(), payload)).or_default() += 1;
    }
    out
}

/// DLQ rows of a job on the order generator, keyed by sequence number: reason
/// code and raw payload; each only once.
pub fn generated_dead_letters(table: &(impl AsRef<OsStr> + ?Sized)) -> BTreeMap<i64, (String, Vec<u8>)> {
    generated_dead_letters_of(&read_rows(table, Engine::DeltaRs))
}

/// [`generated_dead_letters`] of rows read already.
pub fn generated_dead_letters_of(rows: &[Value]) -> BTreeMap<i64, (String, Vec<u8>)> {
    let mut out = BTreeMap::new();
    for row in rows {
        assert_eq!(str_field(row, "source_kind"), "generator");
        let payload = base64::engine::general_purpose::STANDARD.decode(str_field(row, "payload")).expect("base64");
        let seq = row["offset"].as_i64().expect("offset");
        let value = (str_field(row, "reason_code").to_string(), payload);
        assert!(out.insert(seq, value).is_none(), "dead letter of event {seq} written twice");
    }
    out
}

/// The order job's three tables under `output`, read from Kafka, equal the
/// oracle: every window once with its count, every distinct order, every
/// malformed record once in the DLQ.
pub fn assert_kafka_tables_equal(output: &Path, oracle: &OrderOracle) {
    assert_windows_equal(&output.join("order_aggregates"), oracle);
    assert_orders_equal(&output.join("orders"), oracle);
    assert_eq!(dead_letter_payloads(&output.join("dlq")), oracle.malformed, "every malformed record once");
}
