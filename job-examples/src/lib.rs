//! Example Tidemill jobs. Each job is a library module (so tests and benchmarks
//! can build it) plus a binary in `src/bin/`.

pub mod cli;
pub mod kafka_client;
pub mod nexmark;
pub mod order_aggregates;
pub mod orders;
pub mod producer;
