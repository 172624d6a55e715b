//! DeltaAppendSink: files, visibility, reopening, schema and path errors.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tidemill_runtime::{Epoch, ErrorChain, NodeContext, Sink, SinkError, StagedOutput};

use super::reader;
use super::rows::{batch, expected, Sample};
use crate::{DeltaAppendSink, DeltaSinkConfig};

/// The lineage of every sink of these tests: sinks opened with [`resumed_ctx`]
/// continue what sinks opened with [`ctx`] started.
pub const LINEAGE: &str = "0123456789abcdef0123456789abcdef";

/// A sink's context in a run that starts a new lineage.
pub fn ctx() -> NodeContext {
    let mut ctx = NodeContext::for_tests("out");
    ctx.run.lineage = LINEAGE.parse().unwrap();
    ctx
}

/// A sink's context in a run that resumed the checkpoint of `epoch`.
pub fn resumed_ctx(epoch: u64) -> NodeContext {
    let mut ctx = ctx();
    ctx.run.resumed = Some(Epoch::new(epoch));
    ctx.run.first_epoch = Epoch::new(epoch + 1);
    ctx
}

/// The transaction ids of the `out` sink in [`LINEAGE`] at `epoch`.
pub fn txn(epoch: u64) -> Value {
    json!({"tidemill-test-out": epoch, format!("tidemill-test-out@{LINEAGE}"): epoch})
}

pub async fn open_sink(path: &Path, rows_per_file: usize) -> DeltaAppendSink<Sample> {
    open_with(path, rows_per_file, &ctx()).await
}

/// A sink of a run that resumed the checkpoint of `epoch` (a restart).
pub async fn reopen_sink(path: &Path, rows_per_file: usize, epoch: u64) -> DeltaAppendSink<Sample> {
    open_with(path, rows_per_file, &resumed_ctx(epoch)).await
}

async fn open_with(path: &Path, rows_per_file: usize, ctx: &NodeContext) -> DeltaAppendSink<Sample> {
    let config = DeltaSinkConfig::new(path).with_target_file_rows(rows_per_file);
    let mut sink = DeltaAppendSink::<Sample>::with_config(config, ctx);
    sink.open().await.expect("open");
    sink
}

/// Parquet files in the table folder, referenced by the log or not.
pub fn parquet_files(table: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(table)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    files
}

/// Stages `epoch` in both sinks, then commits both at once: the process's
/// committer of the table puts both into one version.
pub async fn commit_together(a: &mut DeltaAppendSink<Sample>, b: &mut DeltaAppendSink<Sample>, epoch: u64) {
    let epoch = Epoch::new(epoch);
    let (staged_a, staged_b) = (a.stage(epoch).await.expect("stage"), b.stage(epoch).await.expect("stage"));
    let (done_a, done_b) = tokio::join!(a.commit(epoch, staged_a), b.commit(epoch, staged_b));
    done_a.expect("commit");
    done_b.expect("commit");
}

pub async fn stage_and_commit(sink: &mut DeltaAppendSink<Sample>, epoch: u64) -> StagedOutput {
    let staged = sink.stage(Epoch::new(epoch)).await.expect("stage");
    sink.commit(Epoch::new(epoch), staged.clone()).await.expect("commit");
    staged
}

#[tokio::test]
async fn committed_rows_are_read_back_exactly_by_the_independent_reader() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("samples");
    let mut sink = open_sink(&table, 4).await;
    assert_eq!(sink.identity().base, "tidemill-test-out");
    assert_eq!(sink.identity().app_id, format!("tidemill-test-out@{LINEAGE}"));

    sink.write(batch(1..=4)).await.unwrap();
    sink.write(batch(5..=7)).await.unwrap();
    sink.write(batch(8..=10)).await.unwrap();
    stage_and_commit(&mut sink, 1).await;
    sink.write(batch(11..=13)).await.unwrap();
    stage_and_commit(&mut sink, 2).await;

    assert_eq!(reader::rows(&table, "id"), expected(1..=13));
    let summary = reader::summary(&table);
    assert_eq!(summary["version"], 2);
    assert_eq!(summary["rows"], 13);
    // 4 rows, then 3+3 rows past the threshold, then epoch 2's 3 rows.
    assert_eq!(summary["files"], 3);
    assert_eq!(summary["txn"], txn(2));
    let columns: Vec<Value> = summary["columns"].as_array().unwrap().clone();
    let column = |name: &str| columns.iter().find(|c| c[0] == name).cloned().unwrap();
    assert_eq!(column("at"), json!(["at", "timestamp", false]));
    assert_eq!(column("seen"), json!(["seen", "timestamp", true]));
    assert_eq!(column("event"), json!(["event", "timestamp", false]));
    assert_eq!(column("bytes"), json!(["bytes", "binary", false]));
    assert_eq!(column("day"), json!(["day", "date", false]));
    assert_eq!(column("maybe"), json!(["maybe", "integer", true]));
    assert_eq!(column("tiny"), json!(["tiny", "byte", false]));
    assert_eq!(column("single"), json!(["single", "float", false]));
    assert_eq!(sink.committed_epoch().await.unwrap(), Some(Epoch::new(2)));
    assert_eq!(sink.table_version().await.unwrap(), Some(2));
}

#[tokio::test]
async fn rows_past_the_threshold_become_uncommitted_parquet_files() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("t");
    let mut sink = open_sink(&table, 3).await;
    sink.write(batch(1..=2)).await.unwrap();
    assert_eq!(sink.buffered_rows(), 2);
    assert!(parquet_files(&table).is_empty(), "nothing written below the threshold");
    sink.write(batch(3..=4)).await.unwrap();
    assert_eq!(sink.buffered_rows(), 0);
    assert_eq!(parquet_files(&table).len(), 1, "one file at the threshold");
    assert_eq!(sink.table_version().await.unwrap(), Some(0), "no log entry for it");
    assert_eq!(reader::summary(&table)["rows"], 0);
}

#[tokio::test]
async fn staged_but_uncommitted_files_are_not_visible() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("t");
    let mut sink = open_sink(&table, 100).await;
    sink.write(batch(1..=6)).await.unwrap();
    let staged = sink.stage(Epoch::new(1)).await.unwrap();
    assert!(!staged.0.is_empty());
    assert_eq!(parquet_files(&table).len(), 1, "stage wrote the file");
    let summary = reader::summary(&table);
    assert_eq!((summary["version"].clone(), summary["rows"].clone()), (json!(0), json!(0)));
    assert_eq!(summary["txn"], json!({}));
    assert!(reader::rows(&table, "id").is_empty());

    sink.commit(Epoch::new(1), staged).await.unwrap();
    assert_eq!(reader::rows(&table, "id"), expected(1..=6));
}

#[tokio::test]
async fn reopening_an_existing_table_appends_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("t");
    let mut first = open_sink(&table, 100).await;
    first.write(batch(1..=3)).await.unwrap();
    stage_and_commit(&mut first, 1).await;
    drop(first);

    // The same run, resumed from its checkpoint of epoch 1.
    let mut second = reopen_sink(&table, 100, 1).await;
    assert_eq!(second.table_version().await.unwrap(), Some(1), "open did not create the table again");
    assert_eq!(second.committed_epoch().await.unwrap(), Some(Epoch::new(1)));
    second.write(batch(4..=5)).await.unwrap();
    stage_and_commit(&mut second, 2).await;
    assert_eq!(reader::rows(&table, "id"), expected(1..=5));
    assert_eq!(reader::summary(&table)["version"], 2);
}

/// A new run (new lineage, no checkpoint) of the same job: refused by default,
/// and when appending is allowed, its epochs 1.. are committed next to the
/// earlier run's rather than skipped as already committed.
#[tokio::test]
async fn a_new_run_into_a_table_of_an_earlier_run_is_refused_or_appends_under_its_own_lineage() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("t");
    let mut first = open_sink(&table, 100).await;
    first.write(batch(1..=2)).await.unwrap();
    stage_and_commit(&mut first, 1).await;
    first.write(batch(3..=3)).await.unwrap();
    stage_and_commit(&mut first, 2).await;

    let mut new_run = NodeContext::for_tests("out");
    let mut refused = DeltaAppendSink::<Sample>::new(&table, &new_run);
    let err = refused.open().await.unwrap_err();
    assert!(matches!(err, SinkError::ExistingOutput { .. }), "{err:?}");
    assert!(err.to_string().contains("existing_output = \"append\""), "{err}");
    assert_eq!(reader::rows(&table, "id"), expected(1..=3), "nothing written by the refused run");

    new_run.run.existing_output = tidemill_runtime::ExistingOutput::Append;
    let mut second = DeltaAppendSink::<Sample>::new(&table, &new_run);
    second.open().await.expect("appending is allowed");
    second.write(batch(4..=6)).await.unwrap();
    stage_and_commit(&mut second, 1).await;
    assert_eq!(reader::rows(&table, "id"), expected(1..=6), "epoch 1 of the new run was not skipped");
    let txn = reader::summary(&table)["txn"].clone();
    assert_eq!(txn[second.identity().app_id.as_str()], 1);
    assert_eq!(txn[format!("tidemill-test-out@{LINEAGE}")], 2);
}

crate::delta_record! {
    /// Same column names as `Sample` in part, other types.
    #[derive(serde::Serialize)]
    pub struct Mismatched {
        /// `long` in `Sample`.
        pub id: String,
        /// Not in `Sample`.
        pub extra: i64,
    }
}

#[tokio::test]
async fn schema_mismatch_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("t");
    drop(open_sink(&table, 10).await);
    let mut wrong = DeltaAppendSink::<Mismatched>::new(&table, &ctx());
    let err = wrong.open().await.unwrap_err();
    assert!(matches!(err, SinkError::Unavailable { .. }), "expected Unavailable, got {err:?}");
    let message = ErrorChain(&err).to_string();
    assert!(message.contains("schema mismatch"), "{message}");
    assert!(message.contains("column `id` is long in the table but string"), "{message}");
    assert!(message.contains("column `extra` (long) is missing from the table"), "{message}");
    assert!(message.contains("the table has column `name`"), "{message}");
    assert!(
        message.contains(&table.canonicalize().unwrap().display().to_string())
            || message.contains(&table.display().to_string()),
        "{message}"
    );
}

#[tokio::test]
async fn unwritable_path_is_unavailable_and_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"not a folder").unwrap();
    let table = file.join("table");
    let mut sink = DeltaAppendSink::<Sample>::new(&table, &ctx());
    let err = sink.open().await.unwrap_err();
    let SinkError::Unavailable { destination, .. } = &err else { panic!("expected Unavailable, got {err:?}") };
    assert!(destination.contains(&table.display().to_string()), "{destination}");
    let err = sink.write(batch(1..=1)).await;
    assert!(err.is_ok(), "below the threshold write only buffers");
    let err = sink.stage(Epoch::new(1)).await.unwrap_err();
    assert!(ErrorChain(&err).to_string().contains("before open()"), "{err}");
}

#[tokio::test]
async fn non_empty_folder_without_a_delta_log_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("precious.txt"), b"keep me").unwrap();
    let mut sink = DeltaAppendSink::<Sample>::new(dir.path(), &ctx());
    let err = sink.open().await.unwrap_err();
    assert!(matches!(err, SinkError::Unavailable { .. }), "{err:?}");
    assert!(ErrorChain(&err).to_string().contains("precious.txt"), "{err}");
    assert!(!dir.path().join("_delta_log").exists(), "no table was created");
}
