//! A second run of the quick start's command into the same output folder. It used
//! to exit 0, report the rows it had written, and leave the tables as the first
//! run wrote them: its epochs 1.. carried the same transaction ids as the first
//! run's and were skipped as "already committed". Now a new run has a lineage of
//! its own: by default it stops with a clear error naming the option, and with
//! `--existing-output append` both runs' rows are in the tables.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use tidemill_job_examples::order_aggregates::OrderTables;
use tidemill_job_examples::orders::{GeneratorConfig, OrderGenerator};
use tidemill_testkit::delta_reader::{summary_of, Engine};
use tidemill_tests::binary::order_aggregates;
use tidemill_tests::order_oracle::OrderOracle;
use tidemill_tests::table_rows::{expected_order_rows, expected_window_rows, order_rows, window_rows};

fn run(output: &Path, count: u64, seed: u64, extra: &[&str]) -> (Output, Value) {
    let summary_path = output.with_extension(format!("summary-{seed}.json"));
    let out = Command::new(order_aggregates())
        .args(["--generate", &count.to_string(), "--seed", &seed.to_string(), "--metrics-addr", "off", "--output"])
        .arg(output)
        .arg("--summary-json")
        .arg(&summary_path)
        .args(extra)
        .output()
        .expect("order-aggregates runs");
    let summary = std::fs::read_to_string(&summary_path).ok().and_then(|t| serde_json::from_str(&t).ok());
    (out, summary.unwrap_or(Value::Null))
}

fn oracle(count: u64, seed: u64) -> OrderOracle {
    let config = GeneratorConfig { count, seed, ..GeneratorConfig::default() };
    OrderOracle::compute(OrderGenerator::events(&config), 300_000, 60_000)
}

fn versions(tables: &OrderTables) -> Vec<i64> {
    [&tables.order_aggregates, &tables.orders, &tables.dlq]
        .iter()
        .map(|t| summary_of(t, Engine::DeltaRs)["version"].as_i64().unwrap())
        .collect()
}

#[test]
fn a_second_run_into_the_same_tables_is_refused_or_appends_both_runs_rows() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("x");
    let tables = OrderTables::under(&output);
    let (first, first_oracle) = (run(&output, 20_000, 42, &[]), oracle(20_000, 42));
    assert!(first.0.status.success(), "{}", String::from_utf8_lossy(&first.0.stderr));
    assert_eq!(
        first.1["committed_by_sink"]["orders"],
        first_oracle.orders.len() as u64,
        "the report counts committed rows"
    );

    // The second command: refused, nothing written.
    let before = versions(&tables);
    let (refused, _) = run(&output, 30_000, 7, &[]);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "refused with a usage error: {err}");
    assert!(err.contains("already holds output of an earlier run"), "{err}");
    assert!(err.contains("--existing-output append"), "the error names the option: {err}");
    assert_eq!(versions(&tables), before, "no table changed");
    assert_eq!(order_rows(&tables.orders), expected_order_rows(&[&first_oracle]));

    // Allowed: every row of both runs, each run's counted once.
    let second_oracle = oracle(30_000, 7);
    let (second, summary) = run(&output, 30_000, 7, &["--existing-output", "append"]);
    assert!(second.status.success(), "{}", String::from_utf8_lossy(&second.stderr));
    assert_eq!(order_rows(&tables.orders), expected_order_rows(&[&first_oracle, &second_oracle]));
    assert_eq!(window_rows(&tables.order_aggregates), expected_window_rows(&[&first_oracle, &second_oracle]));
    let dlq_rows = summary_rows(&tables.dlq);
    assert_eq!(dlq_rows, (first_oracle.dead_letters.len() + second_oracle.dead_letters.len()) as u64);
    assert_eq!(summary["committed_by_sink"]["orders"], second_oracle.orders.len() as u64);
    let report = String::from_utf8_lossy(&second.stdout);
    let line = format!("{:>10} rows committed", second_oracle.orders.len());
    assert!(report.contains(&line), "the report states what was committed ({line}):\n{report}");
}

fn summary_rows(table: &tidemill_delta::TableLocation) -> u64 {
    summary_of(table, Engine::DeltaRs)["rows"].as_u64().unwrap()
}
