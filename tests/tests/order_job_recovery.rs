//! The order job with a checkpoint folder survives a crash: started again with the
//! same folder it resumes from its newest checkpoint, and the Delta tables equal
//! the batch oracle exactly (nothing twice, nothing missing).

use std::collections::BTreeMap;
use std::time::Duration;

use tidemill_job_examples::order_aggregates::{self, OrderInput, OrderJobSettings, OrderTables};
use tidemill_job_examples::orders::{write_jsonl, GeneratorConfig, OrderGenerator};
use tidemill_runtime::{Epoch, JobConfig};
use tidemill_testkit::delta_reader::{summary_of, Engine};
use tidemill_tests::order_oracle::OrderOracle;
use tidemill_tests::order_tables::{assert_orders_equal, assert_windows_equal, dead_letter_rows};

fn settings(checkpoints: &std::path::Path) -> OrderJobSettings {
    OrderJobSettings {
        shards: 2,
        // Small batches and frequent checkpoints: many epochs within the input.
        runtime: JobConfig {
            batch_size: 128,
            checkpoint_interval: Some(Duration::from_millis(50)),
            ..JobConfig::default()
        },
        checkpoint_dir: Some(checkpoints.to_path_buf()),
        ..OrderJobSettings::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_order_job_resumes_after_a_crash_and_writes_every_row_once() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("orders.jsonl");
    let config = GeneratorConfig {
        seed: 21,
        count: 80_000,
        users: 100,
        events_per_second_event_time: 40.0,
        max_jitter: Duration::from_secs(240),
        duplicate_share: 0.03,
        malformed_share: 0.03,
        ..GeneratorConfig::default()
    };
    write_jsonl(&config, &input).unwrap();
    let output = dir.path().join("out");
    let checkpoints = dir.path().join("checkpoints");
    let source = OrderInput::Path(input.clone());

    let job = order_aggregates::build(&source, &output, &settings(&checkpoints)).unwrap();
    let handle = job.start().await.unwrap();
    let mut committed = handle.committed_checkpoints();
    committed.wait_for(|e| e.is_some_and(|e| e >= Epoch::new(3))).await.unwrap();
    handle.abort().await;
    let tables = OrderTables::under(&output);
    let versions_before = summary_of(&tables.orders, Engine::DeltaRs)["version"].as_i64().unwrap();
    assert!(versions_before >= 1, "something was committed before the crash");

    let job = order_aggregates::build(&source, &output, &settings(&checkpoints)).unwrap();
    let resumed = job.run().await.unwrap();
    assert_eq!(resumed.records_in, 80_000, "counts restored from the checkpoint plus the rest");

    let oracle = OrderOracle::compute(OrderGenerator::events(&config), 300_000, 60_000);
    assert_windows_equal(&tables.order_aggregates, &oracle);
    assert_orders_equal(&tables.orders, &oracle);
    let reasons: BTreeMap<i64, String> =
        dead_letter_rows(&tables.dlq).into_iter().map(|((_, line), (r, _))| (line, r)).collect();
    assert_eq!(reasons, oracle.dead_letters, "each malformed line once, with its reason");

    // Each sink shard's transactions carry increasing epochs under its own app ids
    // (its identity marker and its id in the run's lineage; `orders` has one sink
    // shard per job shard).
    for (table, app_ids) in [(&tables.order_aggregates, 2), (&tables.orders, 4), (&tables.dlq, 2)] {
        let s = summary_of(table, Engine::DeltaRs);
        let txn = s["txn"].as_object().unwrap();
        assert_eq!(txn.len(), app_ids, "{}", table);
        assert!(txn.values().all(|v| v.as_i64().unwrap() > 3));
    }

    // Started once more after the end: nothing new is written.
    let version = summary_of(&tables.orders, Engine::DeltaRs)["version"].as_i64().unwrap();
    let again = order_aggregates::build(&source, &output, &settings(&checkpoints)).unwrap().run().await.unwrap();
    assert_eq!(summary_of(&tables.orders, Engine::DeltaRs)["version"].as_i64().unwrap(), version);
    assert_eq!(again.records_in, 80_000);
    assert_orders_equal(&tables.orders, &oracle);
}
