//! Shared helpers for Tidemill's end-to-end tests: the independent Delta reader
//! and batch oracles of the order job.

pub mod binary;
pub mod checkpoints;
pub mod delta_log;
pub mod delta_reader;
pub mod kafka;
pub mod metrics;
pub mod order_oracle;
pub mod order_tables;
pub mod table_rows;
