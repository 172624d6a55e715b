//! Records and where they came from.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::time::EventTime;

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
}

impl<T> Record<T> {
    /// Builds a record.
    pub fn new(value: T, time: EventTime, origin: Origin) -> Self {
        Record { value, time, origin }
    }

    /// The same record with another value; time and origin are kept.
    pub fn with_value<U>(&self, value: U) -> Record<U> {
        Record { value, time: self.time, origin: self.origin }
    }
}

/// Records travel between actors in batches: one channel hop per batch, not per record.
pub type Batch<T> = Vec<Record<T>>;
