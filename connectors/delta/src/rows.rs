//! [`RowBuffer`]: the rows a Delta sink holds before writing them out as a file,
//! bounded by rows and bytes, and their conversion to Arrow with rows the
//! conversion refuses set apart.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use deltalake::arrow::array::RecordBatch;
use serde::Serialize;
use tidemill_runtime::{panic_message, DeadLetter, ErrorChain, Origin, ReasonCode};

use super::record::{DeltaRecord, RecordBatchError};

/// Rows waiting to be written, with where each came from.
pub(super) struct RowBuffer<R> {
    rows: Vec<R>,
    origins: Vec<Origin>,
    bytes: usize,
}

impl<R> Default for RowBuffer<R> {
    fn default() -> Self {
        RowBuffer { rows: Vec::new(), origins: Vec::new(), bytes: 0 }
    }
}

/// What converting the buffer produced.
pub(super) struct Converted {
    /// The rows that converted, as one batch (`None` if none did).
    pub(super) batch: Option<RecordBatch>,
    /// Rows the conversion refused, with the reason.
    pub(super) refused: Vec<(Vec<u8>, RowRefused, Origin)>,
}

impl<R: DeltaRecord + Serialize> RowBuffer<R> {
    pub(super) fn push(&mut self, row: R, origin: Origin) {
        self.bytes += row.approx_bytes();
        self.rows.push(row);
        self.origins.push(origin);
    }

    pub(super) fn len(&self) -> usize {
        self.rows.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Converts every row, emptying the buffer. The conversion is user code when
    /// `R` implements [`DeltaRecord`] by hand: if it fails or panics for the
    /// batch, each row is converted alone, and those that fail are set apart with
    /// their JSON payload, so one bad row does not stop the others.
    pub(super) fn convert(&mut self) -> Converted {
        let rows = std::mem::take(&mut self.rows);
        let origins = std::mem::take(&mut self.origins);
        self.bytes = 0;
        if rows.is_empty() {
            return Converted { batch: None, refused: Vec::new() };
        }
        if let Ok(batch) = convert_guarded(&rows) {
            return Converted { batch: Some(batch), refused: Vec::new() };
        }
        let mut good = Vec::with_capacity(rows.len());
        let mut refused = Vec::new();
        for (row, origin) in rows.into_iter().zip(origins) {
            match convert_guarded(std::slice::from_ref(&row)) {
                Ok(_) => good.push(row),
                Err(reason) => {
                    let payload = serde_json::to_vec(&row).unwrap_or_default();
                    refused.push((payload, reason, origin));
                }
            }
        }
        let batch = match convert_guarded(&good) {
            Ok(batch) if !good.is_empty() => Some(batch),
            _ => None,
        };
        Converted { batch, refused }
    }
}

/// Why a row was refused: its conversion to Arrow (user code when `R`
/// implements [`DeltaRecord`] by hand) failed or panicked.
#[derive(Debug, thiserror::Error)]
pub enum RowRefused {
    /// The conversion returned an error.
    #[error("the row cannot be converted to the table's format")]
    Conversion(#[source] RecordBatchError),
    /// The conversion panicked.
    #[error("the row conversion panicked: {message}")]
    Panicked {
        /// The panic's message.
        message: String,
    },
}

/// `R::to_record_batch`, with a panic turned into an error.
fn convert_guarded<R: DeltaRecord>(rows: &[R]) -> Result<RecordBatch, RowRefused> {
    match catch_unwind(AssertUnwindSafe(|| R::to_record_batch(rows))) {
        Ok(Ok(batch)) => Ok(batch),
        Ok(Err(e)) => Err(RowRefused::Conversion(e)),
        Err(panic) => Err(RowRefused::Panicked { message: panic_message(panic.as_ref()) }),
    }
}

/// The dead letter of a row the destination refused; its detail is the whole
/// chain of the reason.
pub(super) fn refused_letter(payload: Vec<u8>, reason: &RowRefused, origin: Origin, stage: &Arc<str>) -> DeadLetter {
    DeadLetter::new(payload, ReasonCode::SinkReject, ErrorChain(reason).to_string(), origin, stage.clone())
}
