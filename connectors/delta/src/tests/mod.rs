//! Tests of the sinks against real Delta tables in temporary folders, read back by
//! the independent reader `tests/python/read_delta.py` (both of its engines).

mod delta_append;
mod delta_commit;
mod distinct;
mod dlq;
/// The independent reader, both of its engines.
use tidemill_testkit::delta_reader as reader;
mod record;
mod refused;
mod rollback;
mod rows;
