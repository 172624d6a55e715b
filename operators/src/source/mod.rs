//! Sources without external dependencies: JSON-lines files. (Kafka is the
//! `tidemill-kafka` connector.)

pub mod file;
mod file_error;

pub use file::JsonLinesFileSource;
pub use file_error::FileSourceError;
