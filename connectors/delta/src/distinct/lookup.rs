//! Which unverified rows are new to the table: a key lookup over Parquet files,
//! pruned by the files' statistics on the first key column.
//!
//! Memory: the keys of one epoch's unverified rows, plus one record batch of key
//! columns at a time while a file is scanned.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::Arc;

use deltalake::arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch};
use deltalake::arrow::compute::{cast, concat_batches, filter_record_batch};
use deltalake::arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use deltalake::arrow::row::{RowConverter, SortField};
use deltalake::kernel::Add;
// `ParquetObjectReader` is deprecated in favour of hand-written readers, but it is
// exactly what is needed here (ranged reads from the table's object store), and
// writing our own would copy it.
#[allow(deprecated)]
use deltalake::parquet::arrow::async_reader::{ParquetObjectReader, ParquetRecordBatchStreamBuilder};
use deltalake::parquet::arrow::ProjectionMask;
use deltalake::ObjectStore;
use futures::StreamExt as _;
use serde::Serialize;
use tidemill_runtime::{BoxError, SinkError};

use crate::delta_append::DeltaAppendSink;
use crate::error::{destination, DeltaSinkError, LookupError};
use crate::record::DeltaRecord;

/// What the lookup found.
pub(super) struct Checked {
    /// Files of the rows to commit (candidate files kept whole, or new files).
    pub(super) adds: Vec<Add>,
    /// Unverified rows looked at.
    pub(super) candidates: usize,
    /// Of those, rows whose key the table (or an earlier row of the epoch) holds.
    pub(super) found: usize,
}

type Store = Arc<dyn ObjectStore>;

/// The rows of `candidates` whose key is in none of the table's files, none of
/// `staged` (the epoch's other files) and no earlier candidate row.
pub(super) async fn new_rows<R: DeltaRecord + Serialize + Send + Sync + 'static>(
    sink: &mut DeltaAppendSink<R>,
    key_columns: &[String],
    staged: &[Add],
    candidates: &[Add],
) -> Result<Checked, SinkError> {
    let schema = R::arrow_schema();
    let (table, shown) = sink.table()?;
    let shown = shown.to_string();
    let fail = |e| SinkError::commit(destination(&shown), DeltaSinkError::Lookup(e));
    table.update_state().await.map_err(|e| fail(LookupError::ReadLog(e)))?;
    let store: Store = table.object_store();
    let converter = key_converter(&schema, key_columns).map_err(fail)?;

    // The candidates, their keys (first row of a key wins) and the range of the
    // first key column.
    let mut files = Vec::with_capacity(candidates.len());
    let mut wanted: HashMap<Vec<u8>, (usize, usize)> = HashMap::new();
    let mut keep: Vec<Vec<bool>> = Vec::new();
    let mut range = KeyRange::default();
    let mut found = 0;
    for (f, add) in candidates.iter().enumerate() {
        let batch = read(&store, &add.path, &schema, None).await.map_err(&fail)?;
        range.extend(batch.column_by_name(&key_columns[0]));
        let rows = key_rows(&converter, &batch, key_columns, &schema).map_err(&fail)?;
        let mut flags = vec![true; batch.num_rows()];
        for (i, row) in rows.iter().enumerate() {
            match wanted.entry(row.as_ref().to_vec()) {
                Entry::Occupied(_) => {
                    flags[i] = false;
                    found += 1;
                }
                Entry::Vacant(slot) => {
                    slot.insert((f, i));
                }
            }
        }
        keep.push(flags);
        files.push(batch);
    }
    let total = files.iter().map(RecordBatch::num_rows).sum();

    // Every file that may hold one of the keys: the table's, then the epoch's own.
    let mut scan: Vec<String> = Vec::new();
    let snapshot = table.snapshot().map_err(|e| fail(LookupError::ReadLog(e)))?;
    for view in snapshot.log_data().iter() {
        if range.may_hold(view.stats().as_deref(), &key_columns[0]) {
            scan.push(view.path().into_owned());
        }
    }
    scan.extend(staged.iter().filter(|a| range.may_hold(a.stats.as_deref(), &key_columns[0])).map(|a| a.path.clone()));
    let projection: Vec<&str> = key_columns.iter().map(String::as_str).collect();
    for path in scan {
        if wanted.is_empty() {
            break;
        }
        let batch = read(&store, &path, &schema, Some(&projection)).await.map_err(&fail)?;
        let rows = key_rows(&converter, &batch, key_columns, &schema).map_err(&fail)?;
        for row in rows.iter() {
            if let Some((f, i)) = wanted.remove(row.as_ref()) {
                keep[f][i] = false;
                found += 1;
            }
        }
    }

    // Candidate files kept whole where every row is new, filtered otherwise.
    let mut adds = Vec::new();
    for ((add, batch), flags) in candidates.iter().zip(files).zip(keep) {
        if flags.iter().all(|k| *k) {
            adds.push(add.clone());
        } else if flags.iter().any(|k| *k) {
            let filtered =
                filter_record_batch(&batch, &BooleanArray::from(flags)).map_err(|e| fail(LookupError::Filter(e)))?;
            adds.extend(sink.write_batch(filtered).await?);
        }
    }
    Ok(Checked { adds, candidates: total, found })
}

fn key_converter(schema: &SchemaRef, key_columns: &[String]) -> Result<RowConverter, LookupError> {
    let fields = key_columns
        .iter()
        .map(|c| schema.field_with_name(c).map(|f| SortField::new(f.data_type().clone())))
        .collect::<Result<Vec<_>, _>>()
        .map_err(LookupError::Keys)?;
    RowConverter::new(fields).map_err(LookupError::Keys)
}

/// The key columns of `batch` as comparable rows (cast to the table's types).
fn key_rows(
    converter: &RowConverter,
    batch: &RecordBatch,
    key_columns: &[String],
    schema: &SchemaRef,
) -> Result<deltalake::arrow::row::Rows, LookupError> {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(key_columns.len());
    for name in key_columns {
        let column = batch.column_by_name(name).ok_or_else(|| LookupError::MissingColumn(name.clone()))?;
        let wanted = schema.field_with_name(name).map_err(LookupError::Keys)?.data_type();
        let column = if column.data_type() == wanted {
            column.clone()
        } else {
            cast(column, wanted).map_err(LookupError::Keys)?
        };
        columns.push(column);
    }
    converter.convert_columns(&columns).map_err(LookupError::Keys)
}

/// A data file of the table, whole or only `columns`, as one batch with the
/// table's schema (or its projection).
async fn read(
    store: &Store,
    path: &str,
    schema: &SchemaRef,
    columns: Option<&[&str]>,
) -> Result<RecordBatch, LookupError> {
    let unreadable = |e: BoxError| LookupError::ReadFile { path: path.to_owned(), source: e };
    let location = deltalake::Path::parse(path).map_err(|e| unreadable(e.into()))?;
    #[allow(deprecated)]
    let reader = ParquetObjectReader::new(store.clone(), location);
    let builder = ParquetRecordBatchStreamBuilder::new(reader).await.map_err(|e| unreadable(e.into()))?;
    let builder = match columns {
        Some(names) => {
            let arrow = builder.schema().clone();
            let roots: Vec<usize> = names.iter().filter_map(|n| arrow.index_of(n).ok()).collect();
            let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
            builder.with_projection(mask)
        }
        None => builder,
    };
    let mut stream = builder.build().map_err(|e| unreadable(e.into()))?;
    let mut batches = Vec::new();
    while let Some(batch) = stream.next().await {
        batches.push(batch.map_err(|e| unreadable(e.into()))?);
    }
    let file_schema = match batches.first() {
        Some(b) => b.schema(),
        None => return Ok(RecordBatch::new_empty(schema.clone())),
    };
    let batch = concat_batches(&file_schema, &batches).map_err(|e| unreadable(e.into()))?;
    if columns.is_some() {
        return Ok(batch);
    }
    // The table's own schema (no Parquet metadata), as the writer expects it.
    RecordBatch::try_new(schema.clone(), batch.columns().to_vec()).map_err(|e| unreadable(e.into()))
}

/// The range of the first key column over the candidates, as `i64` (microseconds
/// for timestamps), for pruning files by their statistics. Unbounded (no
/// pruning) for other types.
#[derive(Default)]
struct KeyRange {
    bounds: Option<(i64, i64)>,
    unprunable: bool,
}

impl KeyRange {
    fn extend(&mut self, column: Option<&ArrayRef>) {
        let Some(column) = column else {
            self.unprunable = true;
            return;
        };
        let values = match column.data_type() {
            DataType::Timestamp(TimeUnit::Microsecond, _) | DataType::Int64 => cast(column, &DataType::Int64).ok(),
            DataType::Int32 | DataType::Int16 | DataType::Int8 | DataType::Date32 => {
                cast(column, &DataType::Int64).ok()
            }
            _ => None,
        };
        let Some(values) = values else {
            self.unprunable = true;
            return;
        };
        let values = values.as_any().downcast_ref::<deltalake::arrow::array::Int64Array>().cloned();
        let Some(values) = values else {
            self.unprunable = true;
            return;
        };
        for v in values.iter().flatten() {
            self.bounds = Some(self.bounds.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))));
        }
        if values.null_count() > 0 {
            self.unprunable = true;
        }
    }

    /// Whether a file with these statistics may hold a key in the range.
    fn may_hold(&self, stats: Option<&str>, column: &str) -> bool {
        let Some((lo, hi)) = self.bounds.filter(|_| !self.unprunable) else { return true };
        let Some(stats) = stats.and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok()) else { return true };
        let (Some(min), Some(max)) = (stat(&stats, "minValues", column), stat(&stats, "maxValues", column)) else {
            return true;
        };
        // Statistics of timestamps may be truncated to milliseconds: a millisecond
        // of slack on both sides.
        !(max < lo.saturating_sub(1_000) || min > hi.saturating_add(1_000))
    }
}

/// A min or max statistic as `i64`: a number, or a timestamp string as microseconds.
fn stat(stats: &serde_json::Value, which: &str, column: &str) -> Option<i64> {
    let value = stats.get(which)?.get(column)?;
    if let Some(n) = value.as_i64() {
        return Some(n);
    }
    let text = value.as_str()?;
    chrono::DateTime::parse_from_rfc3339(text).ok().map(|t| t.timestamp_micros())
}
