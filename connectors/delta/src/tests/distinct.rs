//! DeltaDistinctSink: unverified rows are checked against the table when their
//! epoch commits, so the table stays distinct by its key whatever the lateness.

use tidemill_runtime::{Batch, Epoch, EventTime, Origin, Record, Sink};

use super::delta_append::{ctx, resumed_ctx};
use super::reader;
use super::rows::{expected, sample, Sample};
use crate::{DeltaDistinctSink, DeltaSinkConfig};
use tidemill_operators::dedup::Deduped;

fn unique(ids: impl IntoIterator<Item = i64>) -> Batch<Deduped<Sample>> {
    ids.into_iter().map(|id| Record::new(Deduped::Unique(sample(id)), EventTime::MIN, Origin::INTERNAL)).collect()
}

fn unverified(ids: impl IntoIterator<Item = i64>) -> Batch<Deduped<Sample>> {
    ids.into_iter().map(|id| Record::new(Deduped::Unverified(sample(id)), EventTime::MIN, Origin::INTERNAL)).collect()
}

async fn sink(table: &std::path::Path, ctx: &tidemill_runtime::NodeContext) -> DeltaDistinctSink<Sample> {
    // Small files, so that the lookup has several to choose from by statistics.
    let config = DeltaSinkConfig::new(table).with_target_file_rows(4);
    let mut sink = DeltaDistinctSink::with_config(config, &["at", "id"], ctx);
    sink.open().await.unwrap();
    sink
}

async fn stage_and_commit(sink: &mut DeltaDistinctSink<Sample>, epoch: u64) -> tidemill_runtime::StagedOutput {
    let staged = sink.stage(Epoch::new(epoch)).await.unwrap();
    sink.commit(Epoch::new(epoch), staged.clone()).await.unwrap();
    staged
}

#[tokio::test]
async fn unverified_rows_whose_key_the_table_holds_are_left_out_the_others_committed_once() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("orders");
    let mut s = sink(&table, &ctx()).await;
    s.write(unique(1..=10)).await.unwrap();
    stage_and_commit(&mut s, 1).await;

    // Epoch 2: two new unique rows; late rows that repeat a committed row (3, 10),
    // a row of this very epoch (11), each other (20 twice), and two new ones.
    s.write(unique(11..=12)).await.unwrap();
    s.write(unverified([3, 20, 11, 20, 21, 10])).await.unwrap();
    let staged = stage_and_commit(&mut s, 2).await;
    let want: Vec<i64> = (1..=12).chain([20, 21]).collect();
    assert_eq!(reader::rows(&table, "id"), expected(want.clone()));

    // The commit repeated after a crash changes nothing.
    let mut restarted = sink(&table, &resumed_ctx(1)).await;
    restarted.commit(Epoch::new(2), staged).await.unwrap();
    assert_eq!(reader::rows(&table, "id"), expected(want.clone()));

    // Late rows of the next epoch see the late rows committed before.
    restarted.write(unverified([20, 21, 22, 1])).await.unwrap();
    stage_and_commit(&mut restarted, 3).await;
    let want: Vec<i64> = (1..=12).chain([20, 21, 22]).collect();
    assert_eq!(reader::rows(&table, "id"), expected(want));
}

#[tokio::test]
async fn an_epoch_of_only_unverified_rows_that_all_exist_commits_nothing_new() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("orders");
    let mut s = sink(&table, &ctx()).await;
    s.write(unique(1..=5)).await.unwrap();
    stage_and_commit(&mut s, 1).await;
    s.write(unverified([1, 2, 5])).await.unwrap();
    stage_and_commit(&mut s, 2).await;
    assert_eq!(reader::rows(&table, "id"), expected(1..=5));
    assert_eq!(reader::summary(&table)["rows"], 5);
}
