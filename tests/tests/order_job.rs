//! The order job end to end: generated input with duplicates, malformed lines and
//! out-of-order events -> the job -> Delta tables, read back by an independent
//! reader and compared with a batch recomputation of the same input.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use tidemill_job_examples::order_aggregates::{self, OrderInput, OrderJobSettings, OrderTables};
use tidemill_job_examples::orders::{write_jsonl, GeneratorConfig, OrderGenerator};
use tidemill_testkit::delta_reader::{read_rows, summary_of, Engine};
use tidemill_tests::order_oracle::OrderOracle;
use tidemill_tests::order_tables::{assert_orders_equal, assert_windows_equal, dead_letter_rows};

fn generator(count: u64, seed: u64) -> GeneratorConfig {
    GeneratorConfig {
        seed,
        count,
        users: 150,
        events_per_second_event_time: 40.0,
        // Well inside the 10-minute watermark delay: nothing is late.
        max_jitter: Duration::from_secs(240),
        duplicate_share: 0.03,
        malformed_share: 0.03,
        ..GeneratorConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_job_on_a_generated_file_equals_the_batch_oracle() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("orders.jsonl");
    let config = generator(60_000, 11);
    let lines = write_jsonl(&config, &input).unwrap();
    let settings = OrderJobSettings { shards: 3, ..OrderJobSettings::default() };
    let output = dir.path().join("out");

    let job = order_aggregates::build(&OrderInput::Path(input.clone()), &output, &settings).unwrap();
    let summary_ = job.run().await.unwrap();

    let oracle = OrderOracle::compute(OrderGenerator::events(&config), 300_000, 60_000);
    assert_eq!(oracle.lines, lines);
    let tables = OrderTables::under(&output);
    assert_windows_equal(&tables.order_aggregates, &oracle);
    assert_orders_equal(&tables.orders, &oracle);

    let raw: Vec<Vec<u8>> = std::fs::read(&input).unwrap().split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
    let dead = dead_letter_rows(&tables.dlq);
    let source = input.display().to_string();
    let expected: BTreeMap<(String, i64), (String, Vec<u8>)> = oracle
        .dead_letters
        .iter()
        .map(|(line, reason)| ((source.clone(), *line), (reason.clone(), raw[(*line - 1) as usize].clone())))
        .collect();
    assert_eq!(dead.len(), expected.len(), "DLQ rows = malformed lines");
    assert_eq!(dead, expected, "each malformed line, its reason and its exact bytes");

    let valid_lines = lines - oracle.dead_letters.len() as u64;
    assert_eq!(valid_lines + dead.len() as u64, lines, "valid + DLQ = input lines");
    assert_eq!(summary_.records_in, lines);
    assert_eq!(summary_.dead_letters, oracle.dead_letters.len() as u64);
    assert_eq!(summary_.late, 0);
    assert_eq!(summary_.written_by_sink["orders"], oracle.orders.len() as u64);

    // A second, unrelated reader agrees with the first on every table.
    // `orders` is written by one sink shard per job shard, each with its own txn app
    // ids: the shard's identity marker and its id in the run's lineage.
    for (table, app_ids) in [(&tables.order_aggregates, 2), (&tables.orders, 2 * settings.shards), (&tables.dlq, 2)] {
        let mut a = read_rows(table, Engine::DeltaRs);
        let mut b = read_rows(table, Engine::Log);
        let key = |v: &Value| v.to_string();
        a.sort_by_key(key);
        b.sort_by_key(key);
        assert_eq!(a, b, "readers disagree on {}", table);
        assert_eq!(
            summary_of(table, Engine::DeltaRs)["txn"].as_object().map(|t| t.len()),
            Some(app_ids),
            "txn app ids of {}",
            table
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_is_read_in_file_name_order_and_dead_letters_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole.jsonl");
    let config = generator(9_000, 12);
    write_jsonl(&config, &whole).unwrap();
    let text = std::fs::read(&whole).unwrap();
    // Every line counts, the generator's empty (malformed) lines included; only the
    // final newline does not start another line.
    let mut lines: Vec<&[u8]> = text.split(|b| *b == b'\n').collect();
    assert_eq!(lines.pop(), Some(&b""[..]));
    let folder = dir.path().join("in");
    std::fs::create_dir(&folder).unwrap();
    // Three parts, named so that file-name order is the original order.
    let parts: Vec<&[&[u8]]> = lines.chunks(3_000).collect();
    for (i, part) in parts.iter().enumerate() {
        std::fs::write(folder.join(format!("part-{i}.jsonl")), part.join(&b'\n')).unwrap();
    }
    let output = dir.path().join("out");
    let job =
        order_aggregates::build(&OrderInput::Path(folder.clone()), &output, &OrderJobSettings::default()).unwrap();
    job.run().await.unwrap();

    let oracle = OrderOracle::compute(OrderGenerator::events(&config), 300_000, 60_000);
    let tables = OrderTables::under(&output);
    assert_windows_equal(&tables.order_aggregates, &oracle);
    assert_orders_equal(&tables.orders, &oracle);
    let dead = dead_letter_rows(&tables.dlq);
    let expected: BTreeMap<(String, i64), String> = oracle
        .dead_letters
        .iter()
        .map(|(line, reason)| {
            let file = folder.join(format!("part-{}.jsonl", (line - 1) / 3_000));
            ((file.display().to_string(), (line - 1) % 3_000 + 1), reason.clone())
        })
        .collect();
    let got: BTreeMap<(String, i64), String> = dead.into_iter().map(|(k, (reason, _))| (k, reason)).collect();
    assert_eq!(got, expected);
}
