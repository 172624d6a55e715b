//! DlqRow conversion and DeadLetterDeltaSink.

use std::sync::Arc;

use chrono::DateTime;
use serde_json::{json, Value};
use tidemill_runtime::{
    DeadLetter, Epoch, EventTime, NodeContext, Offset, Origin, PartitionId, PartitionInfo, ReasonCode, Record, Sink,
    SourceCatalog, SourceId, SourceKind,
};

use super::reader;
use super::rows::{base64, rfc3339};
use crate::{DeadLetterDeltaSink, DlqRow};

const KAFKA: SourceId = SourceId(1);
const FILE: SourceId = SourceId(2);

fn catalog() -> SourceCatalog {
    let catalog = SourceCatalog::new();
    let kafka = |p: i32| PartitionInfo { kind: SourceKind::named("kafka"), name: "orders".into(), partition: Some(p) };
    catalog.register(KAFKA, PartitionId(0), kafka(0));
    catalog.register(KAFKA, PartitionId(3), kafka(3));
    let file = PartitionInfo { kind: SourceKind::named("file"), name: "/data/orders.jsonl".into(), partition: None };
    catalog.register(FILE, PartitionId(0), file);
    catalog
}

fn letter(source: SourceId, partition: u32, offset: u64, reason: ReasonCode, payload: &[u8]) -> DeadLetter {
    DeadLetter {
        payload: payload.to_vec(),
        reason,
        detail: format!("{reason} at offset {offset}"),
        origin: Origin { source, partition: PartitionId(partition), offset: Offset(offset) },
        stage: Arc::from("decode"),
        rejected_at: DateTime::from_timestamp_micros(1_767_225_600_123_456 + i64::try_from(offset).unwrap()).unwrap(),
    }
}

#[test]
fn a_kafka_dead_letter_names_topic_and_partition_from_the_catalog() {
    let l = letter(KAFKA, 3, 41_234, ReasonCode::NotJson, b"{oops");
    let row = DlqRow::from_dead_letter(&l, &catalog(), Some(Epoch::new(9)));
    assert_eq!(
        row,
        DlqRow {
            payload: b"{oops".to_vec(),
            reason_code: "not_json".into(),
            reason: "not_json at offset 41234".into(),
            source_kind: "kafka".into(),
            source: Some("orders".into()),
            partition: Some(3),
            offset: 41_234,
            stage: "decode".into(),
            epoch: Some(9),
            rejected_at: l.rejected_at,
        }
    );
}

#[test]
fn a_file_dead_letter_carries_path_and_line_number_without_partition() {
    let row = DlqRow::from_dead_letter(&letter(FILE, 0, 17, ReasonCode::MissingField, b"{}"), &catalog(), None);
    assert_eq!(row.source_kind, "file");
    assert_eq!(row.source.as_deref(), Some("/data/orders.jsonl"));
    assert_eq!((row.partition, row.offset, row.epoch), (None, 17, None));
    assert_eq!(row.reason_code, "missing_field");
}

#[test]
fn an_unregistered_origin_has_kind_other_and_null_source() {
    let row = DlqRow::from_dead_letter(&letter(SourceId(9), 5, 3, ReasonCode::LateEvent, b"x"), &catalog(), None);
    assert_eq!((row.source_kind.as_str(), row.source.as_ref(), row.partition), ("other", None, None));
    let internal = DeadLetter { origin: Origin::INTERNAL, ..letter(KAFKA, 0, 0, ReasonCode::SinkReject, b"") };
    let row = DlqRow::from_dead_letter(&internal, &catalog(), Some(Epoch::new(1)));
    assert_eq!((row.source_kind.as_str(), row.source, row.offset), ("other", None, 0));
}

fn expected_row(l: &DeadLetter, epoch: i64) -> Value {
    let row = DlqRow::from_dead_letter(l, &catalog(), Some(Epoch::new(epoch as u64)));
    json!({
        "payload": base64(&row.payload),
        "reason_code": row.reason_code,
        "reason": row.reason,
        "source_kind": row.source_kind,
        "source": row.source,
        "partition": row.partition,
        "offset": row.offset,
        "stage": row.stage,
        "epoch": epoch,
        "rejected_at": rfc3339(&row.rejected_at),
    })
}

#[tokio::test]
async fn dead_letter_sink_writes_rows_labelled_with_their_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("dlq");
    let ctx = NodeContext { catalog: catalog(), ..NodeContext::for_tests("dlq") };
    let mut sink = DeadLetterDeltaSink::new(&table, &ctx);
    sink.open().await.unwrap();
    let as_record = |l: &DeadLetter| Record::new(l.clone(), EventTime::from_millis(0), l.origin);

    let first = [
        letter(KAFKA, 3, 100, ReasonCode::NotUtf8, &[0xff, 0xfe, 0x00]),
        letter(FILE, 0, 101, ReasonCode::MissingField, br#"{"user_id":null}"#),
    ];
    sink.write(first.iter().map(as_record).collect()).await.unwrap();
    let staged = sink.stage(Epoch::new(1)).await.unwrap();
    sink.commit(Epoch::new(1), staged).await.unwrap();
    let second = [letter(SourceId(42), 0, 102, ReasonCode::UserFunctionPanic, b"{}")];
    sink.write(second.iter().map(as_record).collect()).await.unwrap();
    let staged = sink.stage(Epoch::new(2)).await.unwrap();
    sink.commit(Epoch::new(2), staged).await.unwrap();

    let want = vec![expected_row(&first[0], 1), expected_row(&first[1], 1), expected_row(&second[0], 2)];
    assert_eq!(reader::rows(&table, "offset"), want);
    let summary = reader::summary(&table);
    let app_id = sink.inner_mut().identity().app_id.clone();
    assert_eq!(summary["txn"], json!({"tidemill-test-dlq": 2, app_id: 2}));
    assert_eq!(
        summary["columns"],
        json!([
            ["payload", "binary", false],
            ["reason_code", "string", false],
            ["reason", "string", false],
            ["source_kind", "string", false],
            ["source", "string", true],
            ["partition", "integer", true],
            ["offset", "long", false],
            ["stage", "string", false],
            ["epoch", "long", true],
            ["rejected_at", "timestamp", false]
        ])
    );
    assert_eq!(sink.inner_mut().committed_epoch().await.unwrap(), Some(Epoch::new(2)));
}

/// Dead letters before the first barrier are labelled with the pipeline's first
/// epoch and streamed to files: the sink holds at most `target_file_bytes` of them
/// in memory, however many come before a checkpoint.
#[tokio::test]
async fn dead_letters_before_the_first_barrier_are_written_out_not_held() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("dlq");
    let mut ctx = NodeContext { catalog: catalog(), ..NodeContext::for_tests("dlq") };
    ctx.run.first_epoch = Epoch::new(7);
    let config = crate::DeltaSinkConfig::new(&table).with_target_file_bytes(64 * 1024);
    let mut sink = DeadLetterDeltaSink::with_config(config, &ctx);
    sink.open().await.unwrap();
    let payload = vec![b'x'; 4096];
    for batch in 0..50u64 {
        let letters: Vec<_> = (0..10)
            .map(|i| {
                let l = letter(FILE, 0, batch * 10 + i, ReasonCode::NotJson, &payload);
                Record::new(l.clone(), EventTime::from_millis(0), l.origin)
            })
            .collect();
        sink.write(letters).await.unwrap();
        assert!(sink.inner_mut().buffered_rows() <= 30, "at most a few batches of 40 KiB are held");
    }
    let files = std::fs::read_dir(&table)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "parquet"));
    assert!(files.count() >= 20, "rows went to files before any barrier");
    let staged = sink.stage(Epoch::new(7)).await.unwrap();
    sink.commit(Epoch::new(7), staged).await.unwrap();
    let rows = reader::rows(&table, "offset");
    assert_eq!(rows.len(), 500);
    assert!(rows.iter().all(|r| r["epoch"] == 7), "labelled with the first epoch");
}
