//! The delta_record! macro and DeltaColumn conversions.

use deltalake::arrow::array::{Array, BinaryArray, Int32Array, StringArray, TimestampMicrosecondArray};
use deltalake::arrow::datatypes::{DataType, TimeUnit};

use super::rows::{sample, Sample};
use crate::DeltaRecord;

#[test]
fn schema_maps_rust_types_to_arrow_types_in_field_order() {
    let schema = Sample::arrow_schema();
    let fields: Vec<(String, DataType, bool)> =
        schema.fields().iter().map(|f| (f.name().clone(), f.data_type().clone(), f.is_nullable())).collect();
    let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    assert_eq!(
        fields,
        vec![
            ("id".into(), DataType::Int64, false),
            ("name".into(), DataType::Utf8, false),
            ("note".into(), DataType::Utf8, true),
            ("small".into(), DataType::Int32, false),
            ("maybe".into(), DataType::Int32, true),
            ("tiny".into(), DataType::Int8, false),
            ("short".into(), DataType::Int16, false),
            ("ratio".into(), DataType::Float64, false),
            ("single".into(), DataType::Float32, false),
            ("flag".into(), DataType::Boolean, false),
            ("bytes".into(), DataType::Binary, false),
            ("at".into(), utc.clone(), false),
            ("seen".into(), utc.clone(), true),
            ("day".into(), DataType::Date32, false),
            ("event".into(), utc, false),
        ]
    );
    assert!(std::sync::Arc::ptr_eq(&schema, &Sample::arrow_schema()), "the schema is built once");
}

#[test]
fn record_batch_holds_values_and_nulls() {
    let rows = vec![sample(1), sample(2)];
    let batch = Sample::to_record_batch(&rows).unwrap();
    assert_eq!((batch.num_rows(), batch.num_columns()), (2, 15));
    assert_eq!(batch.schema(), Sample::arrow_schema());
    let note = batch.column_by_name("note").unwrap().as_any().downcast_ref::<StringArray>().unwrap();
    assert!(note.is_null(0));
    assert_eq!(note.value(1), "note 2");
    let maybe = batch.column_by_name("maybe").unwrap().as_any().downcast_ref::<Int32Array>().unwrap();
    assert_eq!((maybe.null_count(), maybe.value(1)), (1, i32::MAX - 2));
    let bytes = batch.column_by_name("bytes").unwrap().as_any().downcast_ref::<BinaryArray>().unwrap();
    assert_eq!(bytes.value(0), &[0, 0xff, 0xfe, 1]);
    let at = batch.column_by_name("at").unwrap().as_any().downcast_ref::<TimestampMicrosecondArray>().unwrap();
    assert_eq!(at.value(0), -1, "one microsecond before 1970");
    assert_eq!(at.timezone(), Some("UTC"));
    let event = batch.column_by_name("event").unwrap().as_any().downcast_ref::<TimestampMicrosecondArray>().unwrap();
    assert_eq!(event.value(1), (1_767_225_600_000 + 2) * 1000);
    let day = batch.column_by_name("day").unwrap();
    assert_eq!(day.data_type(), &DataType::Date32);
}

#[test]
fn no_rows_make_an_empty_batch_with_the_schema() {
    let batch = Sample::to_record_batch(&[]).unwrap();
    assert_eq!(batch.num_rows(), 0);
    assert_eq!(batch.schema(), Sample::arrow_schema());
}
