//! Records and where they came from.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::time::EventTime;
use crate::trace::context::TraceContext;

/// Identifies one source of a job (a file source, a generator, a Kafka topic).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SourceId(pub u16);

/// A partition of a source: a Kafka partition, or a file's index in a file source.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PartitionId(pub u32);

/// A position in a partition: a Kafka offset, or a 1-based line number in a file.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Offset(pub u64);

/// Where a record entered the job. Small and `Copy` so it can ride along with every
/// record for free; [`crate::SourceCatalog`] turns it into names for dead letters.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Origin {
    /// The source the record came from.
    pub source: SourceId,
    /// The partition within that source.
    pub partition: PartitionId,
    /// The position within that partition.
    pub offset: Offset,
}

impl Origin {
    /// An origin for records made inside the job (window results, for example).
    pub const INTERNAL: Origin = Origin { source: SourceId(u16::MAX), partition: PartitionId(0), offset: Offset(0) };
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "source {} partition {} offset {}", self.source.0, self.partition.0, self.offset.0)
    }
}

/// One record flowing through a job: a value, its event time and its origin.
///
/// Before a timestamp assigner runs, `time` is the time the source gave the record
/// (ingestion time for files and generators, the Kafka timestamp for Kafka).
#[derive(Clone, Debug, PartialEq)]
pub struct Record<T> {
    /// The payload.
    pub value: T,
    /// The record's event time.
    pub time: EventTime,
    /// Where the record entered the job.
    pub origin: Origin,
    /// The trace context of a sampled record, `None` for all others (see
    /// [`crate::trace`]). Boxed so that the common, unsampled record pays one
    /// pointer, not 25 bytes, in every batch it travels in.
    pub trace: Option<Box<TraceContext>>,
}

impl<T> Record<T> {
    /// Builds a record.
    pub fn new(value: T, time: EventTime, origin: Origin) -> Self {
        Record { value, time, origin, trace: None }
    }

    /// The same record with a trace context (`None` clears it).
    pub fn traced(mut self, trace: Option<TraceContext>) -> Self {
        self.trace = trace.map(Box::new);
        self
    }

    /// The record's trace context, if it is sampled.
    #[inline]
    pub fn trace_context(&self) -> Option<TraceContext> {
        self.trace.as_deref().copied()
    }

    /// The same record with another value; time, origin and trace context are kept.
    pub fn with_value<U>(&self, value: U) -> Record<U> {
        Record { value, time: self.time, origin: self.origin, trace: self.trace.clone() }
    }

    /// Replaces the value, keeping time, origin and trace context; returns the old
    /// value with the new record (for operators that consume what they convert).
    pub fn replace_value<U>(self, value: U) -> (T, Record<U>) {
        (self.value, Record { value, time: self.time, origin: self.origin, trace: self.trace })
    }
}

/// Records travel between actors in batches: one channel hop per batch, not per record.
pub type Batch<T> = Vec<Record<T>>;
