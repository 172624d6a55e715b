//! Late orders: 5% of the input arrives 15-40 minutes late, far behind the
//! 10-minute watermark. The reference job's `orders` table is a MERGE without any
//! watermark, so it must hold every distinct valid order whatever its lateness;
//! the windows cannot use a late order, so they (and only they) dead-letter it,
//! once. Before, the dedup stage also dead-lettered late orders (a second DLQ row)
//! and left them out of `orders`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tidemill_job_examples::order_aggregates::{self, OrderInput, OrderJobSettings, OrderTables};
use tidemill_job_examples::orders::{write_jsonl, EventKind, GeneratorConfig, OrderGenerator};
use tidemill_testkit::delta_reader::{read_rows, Engine};
use tidemill_tests::order_oracle::OrderOracle;
use tidemill_tests::order_tables::{assert_orders_equal, assert_windows_equal, str_field};

fn input() -> GeneratorConfig {
    GeneratorConfig {
        seed: 5,
        count: 60_000,
        users: 200,
        // 50 minutes of event time, so that orders 15-40 minutes late fall
        // behind both the windows and the dedup horizon.
        events_per_second_event_time: 20.0,
        max_jitter: Duration::from_secs(2),
        duplicate_share: 0.02,
        malformed_share: 0.02,
        late_share: 0.05,
        ..GeneratorConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_orders_reach_orders_and_are_dead_lettered_once_by_the_windows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders.jsonl");
    let config = input();
    write_jsonl(&config, &path).unwrap();
    let output = dir.path().join("out");
    let settings = OrderJobSettings { shards: 2, ..OrderJobSettings::default() };
    let summary = order_aggregates::build(&OrderInput::Path(path), &output, &settings).unwrap().run().await.unwrap();
    let tables = OrderTables::under(&output);

    // `orders`: every distinct valid order, late ones included (the MERGE).
    let all = OrderOracle::compute(OrderGenerator::events(&config), 300_000, 60_000);
    assert_orders_equal(&tables.orders, &all);

    // The DLQ: each late order once, by the windows; malformed lines as before.
    let mut late_lines = BTreeSet::new();
    let mut per_line: BTreeMap<i64, usize> = BTreeMap::new();
    for row in read_rows(&tables.dlq, Engine::DeltaRs) {
        let line = row["offset"].as_i64().unwrap();
        *per_line.entry(line).or_default() += 1;
        if str_field(&row, "reason_code") == "late_event" {
            assert_eq!(str_field(&row, "stage"), "windows", "only the windows dead-letter a late order: {row}");
            late_lines.insert(line);
        }
    }
    assert!(per_line.values().all(|n| *n == 1), "no input line is dead-lettered twice");
    assert_eq!(summary.late, late_lines.len() as u64);
    let events: Vec<_> = OrderGenerator::events(&config).collect();
    let generated_late: Vec<_> = events.iter().filter(|e| e.late).collect();
    assert!(generated_late.len() > 2_000, "{} late orders", generated_late.len());
    for line in &late_lines {
        let event = &events[(*line - 1) as usize];
        assert!(!matches!(event.kind, EventKind::Malformed(_)), "line {line} is a valid order");
    }
    // Every order far enough behind (15 minutes plus the one batch the watermark
    // trails by) is late for every window it belongs to; before the first
    // batch's watermark nothing is late.
    let first_batches = 2 * tidemill_runtime::JobConfig::default().batch_size as u64;
    let missed: Vec<u64> = generated_late
        .iter()
        .filter(|e| e.seq >= first_batches)
        .filter(|e| match &e.kind {
            EventKind::Valid(o) | EventKind::Duplicate(o) => {
                let nominal = config.start.timestamp_millis() + (e.seq as f64 * 50.0) as i64;
                nominal - o.event_time.timestamp_millis() >= 16 * 60_000
            }
            EventKind::Malformed(_) => false,
        })
        .map(|e| e.seq + 1)
        .filter(|line| !late_lines.contains(&(*line as i64)))
        .collect();
    assert!(missed.is_empty(), "late orders counted in windows: lines {missed:?}");

    // `order_aggregates`: exactly the windows of the orders the windows accepted.
    let accepted = events.into_iter().filter(|e| !late_lines.contains(&(e.seq as i64 + 1)));
    let windows = OrderOracle::compute(accepted, 300_000, 60_000);
    assert_windows_equal(&tables.order_aggregates, &windows);
}
