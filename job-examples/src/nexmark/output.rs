//! Where a query's rows go: a Delta table, or nowhere (benchmarks).

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use serde::Serialize;
use tidemill_delta::{DeadLetterDeltaSink, DeltaAppendSink, DeltaRecord, DeltaSinkConfig, TableLocation};
use tidemill_runtime::{DeadLetter, DiscardSink, NodeContext, Stream};

/// Rows per Parquet file the Delta sinks aim for.
const TARGET_FILE_ROWS: usize = 1_000_000;

/// The destination of a query's result and dead letters.
#[derive(Clone, Debug)]
pub enum QueryOutput {
    /// Tables under this location: `<query>` (the result) and `dlq`.
    Delta(TableLocation),
    /// Counted and dropped.
    Discard,
}

impl QueryOutput {
    /// Writes `rows` as the table `name`.
    pub fn rows<R>(&self, name: &str, rows: Stream<R>)
    where
        R: DeltaRecord + Serialize + Clone + Send + Sync + 'static,
    {
        match self {
            QueryOutput::Delta(location) => {
                let config = DeltaSinkConfig::new(location.join(name)).with_target_file_rows(TARGET_FILE_ROWS);
                rows.sink(name, move |ctx: &NodeContext| Ok(DeltaAppendSink::with_config(config.clone(), ctx)));
            }
            QueryOutput::Discard => discard(name, rows),
        }
    }

    /// Writes the job's dead letters as the table `dlq`.
    pub fn dead_letters(&self, letters: Stream<DeadLetter>) {
        match self {
            QueryOutput::Delta(location) => {
                let config = DeltaSinkConfig::new(location.join("dlq"));
                letters.sink("dlq", move |ctx: &NodeContext| Ok(DeadLetterDeltaSink::with_config(config.clone(), ctx)));
            }
            QueryOutput::Discard => discard("dlq", letters),
        }
    }
}

fn discard<T: Clone + Send + 'static>(name: &str, rows: Stream<T>) {
    let counted = Arc::new(AtomicU64::new(0));
    rows.sink(name, move |_: &NodeContext| Ok(DiscardSink::new(counted.clone())));
}
