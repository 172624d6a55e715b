//! Tables read back as sorted lists of rows, for comparisons where a row may
//! legitimately appear more than once (two runs appended to one table).

use std::ffi::OsStr;

use crate::order_oracle::OrderOracle;
use crate::order_tables::{order_row, str_field, OrderRow};
use tidemill_testkit::delta_reader::{read_rows, Engine};

/// `(window_start, window_end, user_id, order_count)` of every row, sorted.
pub fn window_rows(table: &(impl AsRef<OsStr> + ?Sized)) -> Vec<(String, String, String, i64)> {
    let mut rows: Vec<_> = read_rows(table, Engine::DeltaRs)
        .iter()
        .map(|r| {
            (
                str_field(r, "window_start").to_string(),
                str_field(r, "window_end").to_string(),
                str_field(r, "user_id").to_string(),
                r["order_count"].as_i64().expect("order_count"),
            )
        })
        .collect();
    rows.sort();
    rows
}

/// `(order_id, user_id, amount, event_time)` of every row, sorted.
pub fn order_rows(table: &(impl AsRef<OsStr> + ?Sized)) -> Vec<OrderRow> {
    let mut rows: Vec<_> = read_rows(table, Engine::DeltaRs).iter().map(order_row).collect();
    rows.sort();
    rows
}

/// The rows `window_rows` must return for the oracles of runs appended one after
/// the other, sorted.
pub fn expected_window_rows(oracles: &[&OrderOracle]) -> Vec<(String, String, String, i64)> {
    let mut rows: Vec<_> = oracles
        .iter()
        .flat_map(|o| o.windows.iter().map(|((s, e, u), c)| (s.clone(), e.clone(), u.clone(), *c)))
        .collect();
    rows.sort();
    rows
}

/// The rows `order_rows` must return for the oracles of runs appended one after
/// the other, sorted.
pub fn expected_order_rows(oracles: &[&OrderOracle]) -> Vec<OrderRow> {
    let mut rows: Vec<_> = oracles.iter().flat_map(|o| o.orders.iter().cloned()).collect();
    rows.sort();
    rows
}
