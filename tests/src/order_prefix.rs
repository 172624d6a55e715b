//! What the order job's tables may hold while the job is stopped part-way through
//! a generated input: whole epochs, each the oracle restricted to the records read
//! before that epoch's barrier, and nothing else (nothing half-committed).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;
use tidemill_job_examples::orders::{EventKind, GeneratorConfig, OrderGenerator};
use tidemill_runtime::checkpoint::Manifest;

use crate::checkpoints::{epochs, manifest_header, records_read, rows_written};
use crate::order_oracle::{rfc3339_micros, OrderOracle};
use crate::order_tables::{generated_dead_letters_of, order_row, window_counts_of, OrderRow};
use tidemill_testkit::delta_reader::{read_rows, Engine};

/// The oracle of a generated input, by position in it.
pub struct PrefixOracle {
    /// Each distinct order with the sequence number of its first occurrence,
    /// ascending by it (the `orders` table keeps the first of duplicates).
    first_seen: Vec<(u64, OrderRow)>,
    /// Malformed events by sequence number: reason code and raw bytes.
    malformed: BTreeMap<i64, (String, Vec<u8>)>,
    /// The oracle of the whole input.
    pub whole: OrderOracle,
}

impl PrefixOracle {
    /// The oracle of `config`'s events with windows of `size_ms` every `slide_ms`.
    pub fn compute(config: &GeneratorConfig, size_ms: i64, slide_ms: i64) -> Self {
        let mut seen = BTreeSet::new();
        let (mut first_seen, mut malformed) = (Vec::new(), BTreeMap::new());
        for e in OrderGenerator::events(config) {
            match e.kind {
                EventKind::Valid(o) | EventKind::Duplicate(o) => {
                    let row = (o.order_id, o.user_id, o.amount, rfc3339_micros(o.event_time));
                    if seen.insert(row.clone()) {
                        first_seen.push((e.seq, row));
                    }
                }
                EventKind::Malformed(reason) => {
                    malformed.insert(e.seq as i64, (reason.as_str().to_string(), e.bytes));
                }
            }
        }
        let whole = OrderOracle::compute(OrderGenerator::events(config), size_ms, slide_ms);
        PrefixOracle { first_seen, malformed, whole }
    }

    /// The `orders` table after the first `records` events.
    pub fn orders_before(&self, records: u64) -> BTreeSet<OrderRow> {
        self.first_seen.iter().take_while(|(seq, _)| *seq < records).map(|(_, row)| row.clone()).collect()
    }

    /// The dead letters (by sequence number) after the first `records` events.
    pub fn dead_letters_before(&self, records: u64) -> BTreeMap<i64, (String, Vec<u8>)> {
        self.malformed.range(..records as i64).map(|(seq, v)| (*seq, v.clone())).collect()
    }
}

/// Asserts that each table under `output` holds whole epochs of the job that
/// checkpoints into `checkpoints` and reads the generator node `source`:
///
/// - both independent readers (delta-rs and a replay of the log) read it and
///   agree row for row: no commit references a missing or torn file;
/// - its rows are exactly what the sink had written at the barrier of the newest
///   or the one-before-newest manifest (the sinks committed every epoch before
///   the newest, since a sink commits epoch N-1 before it stages N; only the
///   newest one's commit may be missing), and equal the oracle restricted to the
///   records read before that barrier: `orders` the distinct orders first seen
///   there, `dlq` the malformed events there; `order_aggregates` every window
///   with the oracle's (final) count, and every window that ends no later than
///   the last one written (windows are emitted in watermark order).
///
/// Returns, per table, the epoch its contents correspond to and its rows.
pub fn assert_whole_epochs(
    output: &Path,
    checkpoints: &Path,
    source: &str,
    oracle: &PrefixOracle,
) -> Vec<(String, u64, u64)> {
    let stored = epochs(checkpoints);
    assert!(!stored.is_empty(), "no checkpoint in {}", checkpoints.display());
    let newest: Vec<Manifest> = stored.iter().rev().take(2).map(|e| manifest_header(checkpoints, *e)).collect();
    let mut covered = Vec::new();
    for table in ["orders", "dlq", "order_aggregates"] {
        let path = output.join(table);
        let read = readers_agree(&path);
        let rows = read.len() as u64;
        let matching: Vec<&Manifest> = newest.iter().filter(|m| rows_written(m, table) == rows).collect();
        let counts: Vec<(u64, u64)> = newest.iter().map(|m| (m.epoch.get(), rows_written(m, table))).collect();
        assert!(
            !matching.is_empty(),
            "{table} holds {rows} rows, no whole epoch: (epoch, rows) of the newest manifests {counts:?}"
        );
        let epoch = match table {
            "orders" => {
                let got: BTreeSet<OrderRow> = read.iter().map(order_row).collect();
                assert_eq!(got.len() as u64, rows, "orders are distinct");
                matching.iter().find(|m| got == oracle.orders_before(records_read(m, source)))
            }
            "dlq" => {
                let got = generated_dead_letters_of(&read);
                matching.iter().find(|m| got == oracle.dead_letters_before(records_read(m, source)))
            }
            _ => {
                assert_windows_are_a_prefix(&read, &oracle.whole);
                matching.first()
            }
        }
        .unwrap_or_else(|| panic!("{table} is not the oracle of the records before any of the epochs {counts:?}"))
        .epoch
        .get();
        covered.push((table.to_string(), epoch, rows));
    }
    covered
}

/// Reads `table` with both readers, checks that they agree, and returns the rows.
fn readers_agree(table: &Path) -> Vec<Value> {
    let key = |v: &Value| v.to_string();
    let mut a = read_rows(table, Engine::DeltaRs);
    let mut b = read_rows(table, Engine::Log);
    a.sort_by_key(key);
    b.sort_by_key(key);
    assert_eq!(a, b, "the two readers disagree on {}", table.display());
    a
}

/// Every window of `table` has the oracle's count, and the windows are all of the
/// oracle's windows that end no later than the last one written.
fn assert_windows_are_a_prefix(rows: &[Value], oracle: &OrderOracle) {
    let got = window_counts_of(rows);
    let Some(last_end) = got.keys().map(|(_, end, _)| end.clone()).max() else { return };
    let expected: BTreeMap<_, _> =
        oracle.windows.iter().filter(|((_, end, _), _)| *end <= last_end).map(|(k, v)| (k.clone(), *v)).collect();
    assert_eq!(got, expected, "order_aggregates: the oracle's windows up to {last_end}, each with its final count");
}
