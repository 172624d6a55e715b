//! Rows the sink cannot convert are refused one by one: dead letters with
//! `sink_reject`, while the rest of the batch is committed.

use deltalake::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use std::sync::{Arc, OnceLock};
use tidemill_runtime::{Epoch, EventTime, Offset, Origin, PartitionId, ReasonCode, Record, Sink, SourceId};

use super::delta_append::ctx;
use super::reader;
use crate::{DeltaAppendSink, DeltaRecord, RecordBatchError};

/// A hand-written row type whose conversion refuses negative amounts and panics
/// on the label `boom`.
#[derive(Clone, Debug, serde::Serialize)]
struct Picky {
    label: String,
    amount: i64,
}

impl DeltaRecord for Picky {
    fn arrow_schema() -> SchemaRef {
        static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
        SCHEMA
            .get_or_init(|| {
                Arc::new(Schema::new(vec![
                    Field::new("label", DataType::Utf8, false),
                    Field::new("amount", DataType::Int64, false),
                ]))
            })
            .clone()
    }

    fn to_record_batch(rows: &[Self]) -> Result<RecordBatch, RecordBatchError> {
        if let Some(bad) = rows.iter().find(|r| r.amount < 0) {
            return Err(RecordBatchError::Invalid(Box::new(NegativeAmount(bad.amount))));
        }
        assert!(rows.iter().all(|r| r.label != "boom"), "boom");
        let labels: ArrayRef = Arc::new(rows.iter().map(|r| Some(r.label.as_str())).collect::<StringArray>());
        let amounts: ArrayRef = Arc::new(rows.iter().map(|r| r.amount).collect::<Int64Array>());
        Ok(RecordBatch::try_new(Self::arrow_schema(), vec![labels, amounts])?)
    }
}

/// The test's own reason to refuse a row.
#[derive(Debug, thiserror::Error)]
#[error("negative amount {0}")]
struct NegativeAmount(i64);

fn record(label: &str, amount: i64, offset: u64) -> Record<Picky> {
    let origin = Origin { source: SourceId(1), partition: PartitionId(0), offset: Offset(offset) };
    Record::new(Picky { label: label.into(), amount }, EventTime::from_millis(0), origin)
}

#[tokio::test]
async fn rows_the_conversion_refuses_are_dead_letters_and_the_rest_is_committed() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("picky");
    let mut sink = DeltaAppendSink::<Picky>::new(&table, &ctx());
    sink.open().await.unwrap();
    let batch = vec![record("a", 1, 0), record("b", -5, 1), record("boom", 3, 2), record("c", 4, 3)];
    sink.write(batch).await.unwrap();
    let staged = sink.stage(Epoch::new(1)).await.unwrap();
    let refused = sink.take_dead_letters();
    sink.commit(Epoch::new(1), staged).await.unwrap();

    let labels: Vec<String> =
        reader::rows(&table, "label").iter().map(|r| r["label"].as_str().unwrap().to_string()).collect();
    assert_eq!(labels, ["a", "c"], "the other rows are committed");
    assert_eq!(refused.len(), 2);
    assert!(refused.iter().all(|d| d.reason == ReasonCode::SinkReject && &*d.stage == "out"));
    assert_eq!(refused.iter().map(|d| d.origin.offset).collect::<Vec<_>>(), [Offset(1), Offset(2)]);
    assert!(refused[0].detail.contains("negative amount -5"), "{}", refused[0].detail);
    assert!(refused[1].detail.contains("panicked: boom"), "{}", refused[1].detail);
    assert_eq!(refused[0].payload, br#"{"label":"b","amount":-5}"#);
    assert!(sink.take_dead_letters().is_empty(), "taken once");
}
