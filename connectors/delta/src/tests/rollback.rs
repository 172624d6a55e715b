//! A sink resuming an older checkpoint undoes what it committed after it.

use tidemill_runtime::{Epoch, NodeContext, Sink};

use super::delta_append::{commit_together, open_sink, reopen_sink, stage_and_commit, txn};
use super::reader;
use super::rows::{batch, expected, Sample};
use crate::DeltaAppendSink;

/// Epochs 1..=3 committed; the job resumes epoch 1 (its newest checkpoint was
/// damaged): epochs 2 and 3 are undone before anything else, so that their
/// replay, cut into epochs differently, lands exactly once.
#[tokio::test]
async fn resuming_an_older_epoch_undoes_the_commits_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("t");
    let mut sink = open_sink(&table, 100).await;
    sink.write(batch(1..=2)).await.unwrap();
    stage_and_commit(&mut sink, 1).await;
    sink.write(batch(3..=4)).await.unwrap();
    stage_and_commit(&mut sink, 2).await;
    sink.write(batch(5..=6)).await.unwrap();
    stage_and_commit(&mut sink, 3).await;
    drop(sink);
    assert_eq!(reader::rows(&table, "id"), expected(1..=6));

    let mut resumed = reopen_sink(&table, 100, 1).await;
    assert_eq!(reader::rows(&table, "id"), expected(1..=2), "epochs 2 and 3 are undone at open");
    assert_eq!(reader::summary(&table)["txn"][format!("tidemill-test-out@{}", super::delta_append::LINEAGE)], 1);
    assert_eq!(resumed.committed_epoch().await.unwrap(), Some(Epoch::new(1)));

    // The replay: the same input, cut into other epochs, above every earlier one.
    resumed.write(batch(3..=5)).await.unwrap();
    stage_and_commit(&mut resumed, 5).await;
    resumed.write(batch(6..=6)).await.unwrap();
    stage_and_commit(&mut resumed, 6).await;
    assert_eq!(reader::rows(&table, "id"), expected(1..=6), "every row exactly once");
    assert_eq!(reader::summary(&table)["txn"], txn(6));

    // Resuming the newest epoch undoes nothing.
    drop(reopen_sink(&table, 100, 6).await);
    assert_eq!(reader::rows(&table, "id"), expected(1..=6));
}

/// Two shards' epochs share table versions (the process's committer puts them in
/// one); when one shard undoes its epochs, the other's files stay.
#[tokio::test]
async fn undoing_a_shards_epochs_leaves_the_other_shards_files_in_shared_versions() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("t");
    let shard_ctx = |shard, resumed: Option<u64>| {
        let base = match resumed {
            Some(epoch) => super::delta_append::resumed_ctx(epoch),
            None => super::delta_append::ctx(),
        };
        NodeContext { shard, shards: 2, ..base }
    };
    let mut zero = DeltaAppendSink::<Sample>::new(&table, &shard_ctx(0, None));
    let mut one = DeltaAppendSink::<Sample>::new(&table, &shard_ctx(1, None));
    zero.open().await.unwrap();
    one.open().await.unwrap();
    for (epoch, ids) in [(1, [1, 2, 11, 12]), (2, [3, 4, 13, 14])] {
        zero.write(batch(ids[0]..=ids[1])).await.unwrap();
        one.write(batch(ids[2]..=ids[3])).await.unwrap();
        commit_together(&mut zero, &mut one, epoch).await;
    }
    assert_eq!(zero.table_version().await.unwrap(), Some(2), "each epoch of both shards in one version");
    drop((zero, one));

    let mut resumed = DeltaAppendSink::<Sample>::new(&table, &shard_ctx(0, Some(1)));
    resumed.open().await.unwrap();
    let ids: Vec<i64> = reader::rows(&table, "id").iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [1, 2, 11, 12, 13, 14], "shard 0's epoch 2 is undone, shard 1's stays");
}
