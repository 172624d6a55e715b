//! Deduplication by key within an event-time horizon.
//!
//! The reference job deduplicates orders with a Delta `MERGE` on
//! `(order_id, event_time)`: a row is inserted unless the table already holds its
//! key, however late it comes. A stream cannot remember every key forever, so
//! deduplication here is two-tiered:
//!
//! - In memory, within a horizon: a record is forwarded the first time its key
//!   is seen, and keys are remembered while their event time is within
//!   `retention` of the watermark ([`KeyHorizon`](horizon::KeyHorizon)). State stays
//!   bounded.
//! - Behind the horizon, a record's key may have been forgotten. [`DedupByKey`]
//!   sends such a record to the dead letters (`late_event`): nothing is let
//!   through unchecked or dropped. [`DedupThroughTable`] instead passes it on as
//!   [`Deduped::Unverified`], for a sink that checks it against the table it
//!   writes (the Delta sink's distinct mode does, at commit time), so the table
//!   ends up holding every distinct record whatever its lateness, as the MERGE
//!   does.

mod by_key;
mod horizon;
mod through_table;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use serde::Serialize;

pub use by_key::DedupByKey;
pub use through_table::DedupThroughTable;

/// Extracts the deduplication key of a record.
pub type KeyFn<T, K> = Arc<dyn Fn(&T) -> K + Send + Sync>;

/// A record out of [`DedupThroughTable`]: checked in memory, or too old for that.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Deduped<T> {
    /// The first record of its key within the horizon.
    Unique(T),
    /// A record behind the horizon: its key may have been seen and forgotten, so
    /// whoever writes it must check the destination for the key first.
    Unverified(T),
}

impl<T> Deduped<T> {
    /// The record.
    pub fn value(&self) -> &T {
        match self {
            Deduped::Unique(v) | Deduped::Unverified(v) => v,
        }
    }

    /// The same verdict on another value (a row made from the record).
    ///
    /// ```
    /// use tidemill_operators::dedup::Deduped;
    ///
    /// let late = Deduped::Unverified(7);
    /// assert_eq!(late.map(|v| v * 2), Deduped::Unverified(14));
    /// ```
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Deduped<U> {
        match self {
            Deduped::Unique(v) => Deduped::Unique(f(v)),
            Deduped::Unverified(v) => Deduped::Unverified(f(v)),
        }
    }

    /// Whether the record still needs checking against the destination.
    pub fn is_unverified(&self) -> bool {
        matches!(self, Deduped::Unverified(_))
    }
}
