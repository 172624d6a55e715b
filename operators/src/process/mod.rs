//! Keyed process functions: per-key state and timers, the building block for
//! joins, rankings and any per-key logic the windows do not cover.
//!
//! A [`KeyedProcessFunction`] is called once per record with the record's key, a
//! mutable reference to that key's state (any serde type with a `Default`) and a
//! [`KeyContext`] to emit records, register timers and dead-letter the record. When
//! the watermark passes an event-time timer, or the clock passes a processing-time
//! timer, [`KeyedProcessFunction::on_timer`] is called with the key and its state.
//! [`KeyedProcessOperator`] runs it as a Tidemill operator: state and pending timers
//! are in every checkpoint, so after a restart the function carries on exactly where
//! the last completed checkpoint left it.
//!
//! # State
//!
//! The state of a key is one value of the function's `State` type. Value, list and
//! map state are fields of that type (`Option<T>`, `Vec<T>`, `BTreeMap<K, V>`), so
//! the compiler checks their types and one lookup per record finds all of them.
//! Flink's separate `ValueState`/`ListState`/`MapState` handles exist because its
//! state lives in RocksDB, one column per handle; here state lives in memory and is
//! snapshotted whole. [`KeyContext::clear_state`] drops the key's state (and is how
//! state is kept bounded: clear it in the timer that ends the key's business).
//!
//! # Timers
//!
//! * Event-time timers fire in `(time, key)` order as the operator's watermark (the
//!   minimum over its inputs) reaches their time, before the watermark moves on:
//!   every record the timer's output depends on has arrived by then. A timer
//!   registered while timers fire, at or before the watermark, fires in the same
//!   round. At the end of a bounded input every event-time timer fires.
//! * Processing-time timers fire when the wall clock passes them, checked each time
//!   the operator is called (records, watermarks, and the sources' periodic
//!   watermarks and idleness messages), so their resolution is the job's watermark
//!   interval. They are for timeouts, not for results that must be reproducible.
//! * Registering the same `(time, key)` twice keeps one timer.
//!
//! # Failures
//!
//! An `Err` or a panic in `process_element` sends the record to the dead letters
//! (`user_function_error` / `user_function_panic`) and the job goes on; state
//! changes the call made before failing stay. In `on_timer` the dead letter's
//! payload is the key and the timer, with origin `internal`.
//!
//! # Tracing
//!
//! The operator remembers the sampled trace contexts (see `tidemill_runtime::trace`)
//! of each key's records, a few per key, until the key's state is cleared. What a
//! call emits carries the context of one `process.emit` span linked to all of them,
//! so a join's result continues the traces of the records on both of its sides,
//! and a timer's result those of the records it waited for.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use tidemill_operators::process::{KeyContext, KeyedProcessFunction, Timer};
//! use tidemill_operators::KeyedStreamExt;
//! use tidemill_runtime::testing::run_collect;
//! use tidemill_runtime::{BoxError, EventTime, Record};
//!
//! /// Emits a key's total 10 ms of event time after its first record.
//! struct DelayedTotal;
//! impl KeyedProcessFunction for DelayedTotal {
//!     type Key = String;
//!     type In = (String, i64);
//!     type Out = (String, i64);
//!     type State = i64;
//!     fn process_element(&mut self, record: &Record<(String, i64)>, ctx: &mut KeyContext<'_, Self>) -> Result<(), BoxError> {
//!         if *ctx.state() == 0 {
//!             ctx.register_event_timer(record.time.saturating_add(Duration::from_millis(10)));
//!         }
//!         *ctx.state() += record.value.1;
//!         Ok(())
//!     }
//!     fn on_timer(&mut self, _timer: Timer, ctx: &mut KeyContext<'_, Self>) -> Result<(), BoxError> {
//!         let total = *ctx.state();
//!         ctx.emit((ctx.key().clone(), total));
//!         ctx.clear_state();
//!         Ok(())
//!     }
//! }
//!
//! let input = vec![("a".to_string(), 1), ("b".to_string(), 5), ("a".to_string(), 2)];
//! let run = run_collect(input, |s| {
//!     s.assign_timestamps("time", |_| EventTime::from_millis(0), Duration::ZERO)
//!         .key_by(|r: &(String, i64)| r.0.clone(), 2)
//!         .process("totals", || DelayedTotal)
//! })?;
//! let mut totals = run.values;
//! totals.sort();
//! assert_eq!(totals, vec![("a".to_string(), 3), ("b".to_string(), 5)]);
//! # Ok::<(), tidemill_runtime::JobError>(())
//! ```

mod context;
mod either;
mod operator;
mod timers;
mod traces;

#[cfg(test)]
mod tests;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tidemill_runtime::{BoxError, Record};

pub use context::KeyContext;
pub use either::{ConnectExt, Either};
pub use operator::KeyedProcessOperator;
pub use timers::{TimeDomain, Timer};

use crate::window::WindowKey;

/// Per-key logic with state and timers; see the [module docs](self).
pub trait KeyedProcessFunction: Send + Sized + 'static {
    /// The key records are grouped by (the stream's `key_by` key).
    type Key: WindowKey;
    /// Input record type. Serialised as JSON only for dead letters.
    type In: Serialize + Send + 'static;
    /// Output record type.
    type Out: Send + 'static;
    /// The state of one key; `Default` is the state of a key never seen.
    type State: Default + Serialize + DeserializeOwned + Send + 'static;

    /// Handles one record of the context's key.
    fn process_element(&mut self, record: &Record<Self::In>, ctx: &mut KeyContext<'_, Self>) -> Result<(), BoxError>;

    /// A timer of the context's key fired. Does nothing unless overridden.
    fn on_timer(&mut self, timer: Timer, ctx: &mut KeyContext<'_, Self>) -> Result<(), BoxError> {
        let _ = (timer, ctx);
        Ok(())
    }
}
