//! Helpers of the example jobs' end-to-end tests: their binaries, batch oracles of
//! the order job's tables, DuckDB as the Nexmark queries' oracle, generated orders produced into Kafka, consumer-group runs and its
//! checkpoints. What is not about the order job (the broker, Delta readers,
//! scrapes, child processes, a full disk) is in `tidemill-testkit`.

pub mod binary;
pub mod checkpoints;
pub mod churn;
pub mod group;
pub mod kafka;
pub mod nexmark_oracle;
pub mod order_oracle;
pub mod order_prefix;
pub mod order_tables;
pub mod table_rows;
