//! # tidemill-operators
//!
//! Operators, sources and sinks for Tidemill jobs: JSON decoding with schema
//! enforcement, event-time windows with aggregates, key deduplication, file and
//! generator sources, a Kafka source, and Delta Lake and JSON-lines sinks.

pub mod decode;
pub mod dedup;
pub mod ext;
mod hashing;
pub mod kafka;
pub mod sink;
pub mod source;
pub mod window;

pub use ext::{BytesStreamExt, KeyedStreamExt};
