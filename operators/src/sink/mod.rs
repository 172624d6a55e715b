//! Sinks without external dependencies. [`JsonLinesSink`] writes one JSON object
//! per line, for debugging (not exactly-once). The exactly-once sinks are the
//! connectors' (`tidemill-delta`, `tidemill-kafka`).

mod json_lines;

#[cfg(test)]
#[path = "json_lines_tests.rs"]
mod tests;

pub use json_lines::{JsonLinesSink, WrittenBeforeOpen};
