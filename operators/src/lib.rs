//! # tidemill-operators
//!
//! The generic operators of Tidemill jobs: JSON decoding with schema enforcement,
//! event-time windows with aggregates, key deduplication, keyed process
//! functions with state and timers (the basis of joins and rankings), a JSON-lines file source
//! and a JSON-lines debugging sink. Nothing here talks to Kafka or Delta Lake: the
//! connectors are the `tidemill-kafka` and `tidemill-delta` crates.

pub mod decode;
pub mod dedup;
pub mod ext;
mod hashing;
pub mod join;
pub mod process;
pub mod rank;
pub mod sink;
pub mod source;
pub mod window;

pub use ext::{BytesStreamExt, KeyedStreamExt};

/// The guide `docs/writing-jobs.md`, compiled and run as doc tests so that its
/// examples keep up with the API.
#[cfg(doctest)]
#[doc = include_str!("../../docs/writing-jobs.md")]
pub struct WritingJobsGuide;
