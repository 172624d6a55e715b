//! The in-band messages that travel on an edge.

use crate::record::Batch;
use crate::time::{Epoch, Watermark};

/// What flows on an edge, in order. Data, watermarks, barriers and the end of the
/// stream share one ordered channel so that a barrier cleanly separates the records
/// before a checkpoint from those after it (Chandy-Lamport, as in Flink and Arroyo).
#[derive(Debug, Clone, PartialEq)]
pub enum Message<T> {
    /// A batch of records.
    Data(Batch<T>),
    /// Event-time progress of the sending input.
    Watermark(Watermark),
    /// Checkpoint barrier: everything before belongs to this epoch or an earlier one.
    Barrier(Epoch),
    /// The sending input will send nothing more.
    EndOfStream,
}

impl<T> Message<T> {
    /// Short name of the message kind, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Data(_) => "data",
            Message::Watermark(_) => "watermark",
            Message::Barrier(_) => "barrier",
            Message::EndOfStream => "end_of_stream",
        }
    }
}
