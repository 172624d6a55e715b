//! Sources without external dependencies: JSON-lines files. (Kafka is the
//! `tidemill-kafka` connector.)

pub mod file;

pub use file::JsonLinesFileSource;
