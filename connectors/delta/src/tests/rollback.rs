//! A sink resuming an older checkpoint undoes what it committed after it.

use tidemill_runtime::{Epoch, Sink};

use super::delta_append::{open_sink, reopen_sink, stage_and_commit, txn};
use super::reader;
use super::rows::{batch, expected};

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
