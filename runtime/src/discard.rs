//! [`DiscardSink`]: counts records and drops them, for benchmarks that measure a
//! pipeline without its destination.

use std::sync::Arc;

use crate::record::Batch;
use crate::sink::{Sink, SinkError, StagedOutput};
use crate::time::Epoch;

/// A sink that counts and drops what it is given (for benchmarks).
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use tidemill_runtime::DiscardSink;
///
/// let dropped = Arc::new(AtomicU64::new(0));
/// let sink: DiscardSink<u32> = DiscardSink::new(dropped.clone());
/// # drop(sink);
/// assert_eq!(dropped.load(Ordering::Relaxed), 0);
/// ```
pub struct DiscardSink<T> {
    written: Arc<std::sync::atomic::AtomicU64>,
    _type: std::marker::PhantomData<fn(T)>,
}

impl<T> DiscardSink<T> {
    /// A sink adding the number of records it drops to `written`.
    pub fn new(written: Arc<std::sync::atomic::AtomicU64>) -> Self {
        DiscardSink { written, _type: std::marker::PhantomData }
    }
}

impl<T: Send + 'static> Sink for DiscardSink<T> {
    type In = T;

    async fn write(&mut self, batch: Batch<T>) -> Result<(), SinkError> {
        self.written.fetch_add(batch.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    async fn stage(&mut self, _epoch: Epoch) -> Result<StagedOutput, SinkError> {
        Ok(StagedOutput::default())
    }

    async fn commit(&mut self, _epoch: Epoch, _staged: StagedOutput) -> Result<(), SinkError> {
        Ok(())
    }
}
