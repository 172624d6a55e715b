//! DeltaAppendSink commits: idempotence, recovery, refusals, shards.

use serde_json::json;
use tidemill_runtime::{Epoch, ErrorChain, NodeContext, Sink, SinkError, StagedOutput};

use super::delta_append::{commit_together, open_sink, parquet_files, reopen_sink, stage_and_commit, txn, LINEAGE};
use super::reader;
use super::rows::{batch, expected, Sample};
use crate::{DeltaAppendSink, StagedDelta};

fn log_commits(table: &std::path::Path) -> usize {
    std::fs::read_dir(table.join("_delta_log"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".json"))
        .count()
}

#[tokio::test]
async fn committing_the_same_epoch_twice_adds_rows_once() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("t");
    let mut sink = open_sink(&table, 100).await;
    sink.write(batch(1..=5)).await.unwrap();
    let staged = stage_and_commit(&mut sink, 1).await;
    assert_eq!(sink.table_version().await.unwrap(), Some(1));

    sink.commit(Epoch::new(1), staged.clone()).await.unwrap();
    assert_eq!(sink.table_version().await.unwrap(), Some(1), "second commit made no version");
    assert_eq!(log_commits(&table), 2, "create + one append");

    // A restarted instance re-committing from the checkpoint manifest.
    let mut restarted = reopen_sink(&table, 100, 1).await;
    restarted.commit(Epoch::new(1), staged.clone()).await.unwrap();
    assert_eq!(restarted.table_version().await.unwrap(), Some(1));

    // An older epoch's output after a newer epoch committed is skipped as well.
    restarted.write(batch(6..=6)).await.unwrap();
    stage_and_commit(&mut restarted, 2).await;
    restarted.commit(Epoch::new(1), staged).await.unwrap();
    assert_eq!(restarted.table_version().await.unwrap(), Some(2));

    assert_eq!(reader::rows(&table, "id"), expected(1..=6));
    let summary = reader::summary(&table);
    assert_eq!(summary["version"], 2);
    assert_eq!(summary["txn"], txn(2));
}

#[tokio::test]
async fn a_restarted_sink_commits_what_its_predecessor_staged() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("t");
    let mut crashed = open_sink(&table, 2).await;
    crashed.write(batch(1..=5)).await.unwrap();
    let staged = crashed.stage(Epoch::new(7)).await.unwrap();
    drop(crashed);
    let doc = StagedDelta::from_output(&staged).unwrap().unwrap();
    let app_id = format!("tidemill-test-out@{LINEAGE}");
    assert_eq!((doc.epoch, doc.app_id.as_str(), doc.num_records()), (7, app_id.as_str(), 5));
    assert_eq!(doc.adds.len(), parquet_files(&table).len());

    let mut recovered = reopen_sink(&table, 2, 7).await;
    assert_eq!(recovered.committed_epoch().await.unwrap(), None);
    recovered.commit(Epoch::new(7), staged).await.unwrap();
    assert_eq!(recovered.committed_epoch().await.unwrap(), Some(Epoch::new(7)));
    assert_eq!(reader::rows(&table, "id"), expected(1..=5));
}

#[tokio::test]
async fn an_empty_epoch_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("t");
    let mut sink = open_sink(&table, 100).await;
    let staged = sink.stage(Epoch::new(1)).await.unwrap();
    assert_eq!(staged, StagedOutput::default());
    sink.commit(Epoch::new(1), staged).await.unwrap();
    assert_eq!(sink.table_version().await.unwrap(), Some(0));
    assert_eq!(sink.committed_epoch().await.unwrap(), None);
    assert_eq!(log_commits(&table), 1);
}

#[tokio::test]
async fn commit_refuses_output_staged_for_another_epoch_or_table() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = open_sink(&dir.path().join("a"), 100).await;
    let mut b = open_sink(&dir.path().join("b"), 100).await;
    a.write(batch(1..=2)).await.unwrap();
    let staged = a.stage(Epoch::new(1)).await.unwrap();

    let err = a.commit(Epoch::new(2), staged.clone()).await.unwrap_err();
    assert!(matches!(err, SinkError::Commit { .. }) && chain(&err).contains("belongs to epoch 1"), "{err:?}");
    let err = b.commit(Epoch::new(1), staged.clone()).await.unwrap_err();
    assert!(matches!(err, SinkError::Commit { .. }) && chain(&err).contains("belongs to the table"), "{err:?}");
    assert_eq!(a.table_version().await.unwrap(), Some(0));
    assert_eq!(b.table_version().await.unwrap(), Some(0));

    let err = a.commit(Epoch::new(1), StagedOutput(b"{}".to_vec())).await.unwrap_err();
    assert!(matches!(err, SinkError::Commit { .. }), "{err:?}");
    a.commit(Epoch::new(1), staged).await.unwrap();
    assert_eq!(a.table_version().await.unwrap(), Some(1));
}

#[tokio::test]
async fn commit_fails_rather_than_reference_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("t");
    let mut sink = open_sink(&table, 100).await;
    sink.write(batch(1..=3)).await.unwrap();
    let staged = sink.stage(Epoch::new(1)).await.unwrap();
    let files = parquet_files(&table);
    assert_eq!(files.len(), 1);
    std::fs::remove_file(&files[0]).unwrap();
    let err = sink.commit(Epoch::new(1), staged).await.unwrap_err();
    assert!(matches!(err, SinkError::Commit { .. }) && chain(&err).contains("cannot be committed"), "{err:?}");
    assert_eq!(sink.table_version().await.unwrap(), Some(0));
    assert_eq!(reader::summary(&table)["rows"], 0);
}

#[tokio::test]
async fn shards_of_one_sink_keep_separate_txn_sequences() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("t");
    let mut shards = Vec::new();
    for shard in 0..2 {
        let ctx = NodeContext { shard, shards: 2, ..super::delta_append::ctx() };
        let mut sink = DeltaAppendSink::<Sample>::new(&table, &ctx);
        sink.open().await.unwrap();
        shards.push(sink);
    }
    shards[0].write(batch(1..=2)).await.unwrap();
    shards[1].write(batch(3..=4)).await.unwrap();
    // Both commit at once: the process's committer of the table puts both
    // epochs into one version instead of making them race for two.
    let [zero, one] = &mut shards[..] else { unreachable!() };
    commit_together(zero, one, 1).await;
    assert_eq!(zero.table_version().await.unwrap(), Some(1), "one version holds both shards' epoch 1");
    assert_eq!(reader::rows(&table, "id"), expected(1..=4), "shard 1's epoch 1 was not skipped");
    let lineage = LINEAGE;
    assert_eq!(
        reader::summary(&table)["txn"],
        json!({
            "tidemill-test-out-0": 1,
            "tidemill-test-out-1": 1,
            format!("tidemill-test-out-0@{lineage}"): 1,
            format!("tidemill-test-out-1@{lineage}"): 1,
        })
    );
}

/// The error with its sources, as the binaries print it.
fn chain(err: &SinkError) -> String {
    ErrorChain(err).to_string()
}

/// The committer waits for every registered sink of the table, but a sink with
/// nothing to commit in an epoch hands nothing in: the other's commit goes ahead
/// on its own once the gather limit passes.
#[tokio::test]
async fn a_registered_sink_with_nothing_to_commit_does_not_hold_back_another() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("t");
    let shard = |shard| NodeContext { shard, shards: 2, ..super::delta_append::ctx() };
    let mut busy = DeltaAppendSink::<Sample>::new(&table, &shard(0));
    let mut idle = DeltaAppendSink::<Sample>::new(&table, &shard(1));
    busy.open().await.unwrap();
    idle.open().await.unwrap();
    busy.write(batch(1..=3)).await.unwrap();
    stage_and_commit(&mut busy, 1).await;
    stage_and_commit(&mut idle, 1).await;
    assert_eq!(reader::rows(&table, "id"), expected(1..=3));
    assert_eq!(busy.table_version().await.unwrap(), Some(1), "one version: the idle shard committed nothing");
}
