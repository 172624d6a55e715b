//! A quick look into a Delta table (local or on S3): its version, its file count and
//! its first rows, read straight from the committed Parquet files (deltalake without `datafusion`
//! has no scan), formatted as text.

use std::fmt;

use bytes::Bytes;
use deltalake::arrow::array::{Array, AsArray};
use deltalake::arrow::datatypes::DataType;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::arrow::util::display::{ArrayFormatter, FormatOptions};
use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use deltalake::DeltaTableError;
use object_store::ObjectStoreExt as _;
use tidemill_delta::TableLocation;

/// Bytes of a binary cell shown before the ellipsis.
const BINARY_PREFIX: usize = 60;
/// Characters of a cell shown by [`TablePreview`]'s `Display` before the ellipsis.
const DISPLAY_CELL_CHARS: usize = 40;
/// Most rows read from Parquet per batch.
const MAX_BATCH_ROWS: usize = 8192;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A table could not be previewed.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    /// The location holds no `_delta_log`.
    #[error("{table} is not a Delta table (no _delta_log folder)")]
    NotATable {
        /// The table's location.
        table: TableLocation,
    },
    /// The Delta log cannot be loaded.
    #[error("cannot open Delta table {table}: {source}")]
    Open {
        /// The table's location.
        table: TableLocation,
        /// What deltalake said.
        #[source]
        source: DeltaTableError,
    },
    /// A data file listed by the log cannot be read.
    #[error("cannot read data file {file} of {table}: {source}")]
    Read {
        /// The table's location.
        table: TableLocation,
        /// The Parquet file's path in the table.
        file: String,
        /// The object-store, Parquet or Arrow error.
        #[source]
        source: BoxError,
    },
}

/// The first rows of a Delta table, as text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TablePreview {
    /// The table version read.
    pub version: u64,
    /// Data files in that version.
    pub files: usize,
    /// Column names, in table order.
    pub columns: Vec<String>,
    /// Up to the requested number of rows, in file order (not sorted), one string per
    /// column: `null` for nulls, binary as lossy UTF-8 of its first 60 bytes, control
    /// characters escaped.
    pub rows: Vec<Vec<String>>,
}

/// Opens the Delta table at `table` (a local folder or an object-store URL) and
/// reads its first `rows` rows (in the order of the log's file list), reading no
/// more Parquet files than needed for them.
///
/// Never creates anything: a location without `_delta_log` is
/// [`PreviewError::NotATable`].
pub async fn preview_table(table: impl Into<TableLocation>, rows: usize) -> Result<TablePreview, PreviewError> {
    let table = &table.into();
    let open = |source| PreviewError::Open { table: table.clone(), source };
    let delta = table.open().await.map_err(|e| match e {
        DeltaTableError::NotATable(_) => PreviewError::NotATable { table: table.clone() },
        e => open(e),
    })?;
    let snapshot = delta.snapshot().map_err(open)?;
    let columns: Vec<String> = snapshot.schema().fields().map(|f| f.name().clone()).collect();
    let store = delta.object_store();
    let mut preview = Vec::new();
    // `path()` is the log's relative add path, percent-decoded (unlike `get_file_uris`).
    let files: Vec<String> = snapshot.log_data().iter().map(|f| f.path().into_owned()).collect();
    for file in &files {
        if preview.len() >= rows {
            break;
        }
        let fail = |source: BoxError| PreviewError::Read { table: table.clone(), file: file.clone(), source };
        if file.contains("://") {
            return Err(fail(format!("absolute data file URIs are not supported: {file}").into()));
        }
        let location = deltalake::Path::parse(file).map_err(|e| fail(e.into()))?;
        let bytes =
            store.get(&location).await.map_err(|e| fail(e.into()))?.bytes().await.map_err(|e| fail(e.into()))?;
        read_rows(bytes, &columns, rows - preview.len(), &mut preview).map_err(fail)?;
    }
    Ok(TablePreview { version: snapshot.version(), files: files.len(), columns, rows: preview })
}

/// Appends up to `limit` rows of `columns` from one Parquet file's bytes.
fn read_rows(file: Bytes, columns: &[String], limit: usize, out: &mut Vec<Vec<String>>) -> Result<(), BoxError> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)?
        .with_batch_size(limit.min(MAX_BATCH_ROWS))
        .with_limit(limit)
        .build()?;
    let before = out.len();
    for batch in reader {
        format_batch(&batch?, columns, out)?;
    }
    out.truncate(before + limit);
    Ok(())
}

/// Appends `batch`'s rows as strings, in the order of `columns`; a column the file
/// lacks (an older schema) shows as `null`.
fn format_batch(batch: &RecordBatch, columns: &[String], out: &mut Vec<Vec<String>>) -> Result<(), BoxError> {
    let options = FormatOptions::default().with_null("null");
    let arrays: Vec<Option<&dyn Array>> =
        columns.iter().map(|name| batch.schema_ref().index_of(name).ok().map(|i| batch.column(i).as_ref())).collect();
    let formatters = arrays
        .iter()
        .map(|a| a.filter(|a| !is_binary(a.data_type())).map(|a| ArrayFormatter::try_new(a, &options)).transpose())
        .collect::<Result<Vec<_>, _>>()?;
    for row in 0..batch.num_rows() {
        let cells = arrays.iter().zip(&formatters).map(|(array, formatter)| match (array, formatter) {
            (Some(a), _) if a.is_null(row) => "null".to_owned(),
            (Some(_), Some(f)) => escape_controls(&f.value(row).to_string()),
            (Some(a), None) => binary_cell(*a, row),
            (None, _) => "null".to_owned(),
        });
        out.push(cells.collect());
    }
    Ok(())
}

fn is_binary(t: &DataType) -> bool {
    matches!(t, DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_))
}

/// The first [`BINARY_PREFIX`] bytes of a binary value as lossy, escaped UTF-8, with
/// an ellipsis when there is more.
fn binary_cell(array: &dyn Array, row: usize) -> String {
    let bytes = match array.data_type() {
        DataType::Binary => array.as_binary::<i32>().value(row),
        DataType::LargeBinary => array.as_binary::<i64>().value(row),
        DataType::BinaryView => array.as_binary_view().value(row),
        DataType::FixedSizeBinary(_) => array.as_fixed_size_binary().value(row),
        _ => return String::new(),
    };
    let mut shown = escape_controls(&String::from_utf8_lossy(&bytes[..bytes.len().min(BINARY_PREFIX)]));
    if bytes.len() > BINARY_PREFIX {
        shown.push('…');
    }
    shown
}

/// `s` with control characters (newlines, tabs, escape...) written as Rust escapes,
/// so that every cell stays on one line.
fn escape_controls(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_owned();
    }
    s.chars().fold(String::with_capacity(s.len() + 8), |mut out, c| {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
        out
    })
}

/// `s` cut to `max` characters, the last one an ellipsis when cut.
fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        s.chars().take(max.saturating_sub(1)).chain(std::iter::once('…')).collect()
    }
}

impl fmt::Display for TablePreview {
    /// An aligned text table, one line per row, cells cut to 40 characters;
    /// `(no rows)` under the header when there are none.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header: Vec<String> = self.columns.iter().map(|c| truncate(c, DISPLAY_CELL_CHARS)).collect();
        let body: Vec<Vec<String>> =
            self.rows.iter().map(|r| r.iter().map(|c| truncate(c, DISPLAY_CELL_CHARS)).collect()).collect();
        let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
        for row in &body {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let line = |f: &mut fmt::Formatter<'_>, cells: &[String]| {
            let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
            writeln!(f, "{}", padded.join(" | ").trim_end())
        };
        line(f, &header)?;
        writeln!(f, "{}", widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("-+-"))?;
        if body.is_empty() {
            writeln!(f, "(no rows)")?;
        }
        for row in &body {
            line(f, row)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_aligns_and_truncates() {
        let preview = TablePreview {
            version: 1,
            files: 1,
            columns: vec!["id".into(), "text".into()],
            rows: vec![vec!["1".into(), "x".repeat(50)], vec!["22".into(), "short".into()]],
        };
        let shown = preview.to_string();
        let lines: Vec<&str> = shown.lines().collect();
        assert_eq!(lines[0], "id | text");
        assert_eq!(lines[1], format!("---+-{}", "-".repeat(40)));
        assert_eq!(lines[2], format!("1  | {}…", "x".repeat(39)));
        assert_eq!(lines[3], "22 | short");
    }

    #[test]
    fn display_says_when_there_are_no_rows() {
        let preview = TablePreview { version: 0, files: 0, columns: vec!["a".into()], rows: vec![] };
        assert_eq!(preview.to_string(), "a\n-\n(no rows)\n");
    }

    #[test]
    fn binary_cells_are_short_and_escaped() {
        let long = deltalake::arrow::array::BinaryArray::from(vec![&b"line\nnext\xff"[..], &[b'a'; 100][..]]);
        assert_eq!(binary_cell(&long, 0), "line\\nnext\u{fffd}");
        assert_eq!(binary_cell(&long, 1), format!("{}…", "a".repeat(60)));
    }

    #[tokio::test]
    async fn a_folder_without_a_log_is_not_a_table_and_is_not_created() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("nothing");
        let err = preview_table(&missing, 3).await.expect_err("no table");
        assert!(matches!(err, PreviewError::NotATable { .. }), "{err}");
        assert!(!missing.exists());
    }
}
