//! [`TemporalJoin`]: a stream joined with a table kept as keyed state from a
//! changelog stream, as of each record's event time.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tidemill_runtime::{BoxError, EventTime, Record};

use super::{JoinSide, LookupFn};
use crate::process::{Either, KeyContext, KeyedProcessFunction, Timer};
use crate::window::WindowKey;

/// One entry of a table's changelog, as a compacted Kafka topic holds it: the
/// key's new value, or `None` for its removal (a tombstone). The record's event
/// time is when the update takes effect.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableUpdate<K, V> {
    /// The table's key.
    pub key: K,
    /// The key's value from the record's time on; `None`: removed.
    pub value: Option<V>,
}

/// One key's table versions and the stream records waiting for the watermark.
#[derive(Serialize, Deserialize)]
#[serde(bound(serialize = "V: Serialize, T: Serialize", deserialize = "V: DeserializeOwned, T: DeserializeOwned"))]
pub struct TemporalState<V, T> {
    /// The key's value from each time on (`None`: deleted), oldest first.
    versions: BTreeMap<i64, Option<V>>,
    /// Stream records by time, in arrival order.
    waiting: Vec<(i64, T)>,
}

impl<V, T> Default for TemporalState<V, T> {
    fn default() -> Self {
        TemporalState { versions: BTreeMap::new(), waiting: Vec::new() }
    }
}

/// An event-time temporal join of the connected stream `Either<TableUpdate<K, V>, T>`
/// by key: the table's changelog on the left, the stream on the right. Each stream
/// record at `t` is joined with the table's value for its key as of `t` (the newest
/// change at or before `t`; `None` if there is none or it was a delete), once the
/// watermark passes `t`: then every change at or before `t` has arrived, whatever
/// the order the two inputs were read in, so the result does not depend on timing.
/// `join` returns the output, or `None` to drop the record (an inner join returns
/// `None` for a missing value; a left outer join returns a row either way).
///
/// A table that must be complete before the stream is joined (a bounded file) is a
/// changelog whose records carry an early event time: the stream waits for the
/// table's watermark, as for any other change. Versions older than the newest one
/// at or before the watermark are dropped: nothing can ask for them any more.
/// A change or a stream record behind the watermark is a `late_event` dead letter.
pub struct TemporalJoin<K, V, T, O> {
    join: LookupFn<T, V, O>,
    _key: PhantomData<fn() -> K>,
}

impl<K, V, T, O> TemporalJoin<K, V, T, O> {
    /// Joins with `join`.
    pub fn new(join: LookupFn<T, V, O>) -> Self {
        TemporalJoin { join, _key: PhantomData }
    }
}

impl<K, V, T, O> KeyedProcessFunction for TemporalJoin<K, V, T, O>
where
    K: WindowKey + JoinSide,
    V: JoinSide,
    T: JoinSide,
    O: Send + 'static,
{
    type Key = K;
    type In = Either<TableUpdate<K, V>, T>;
    type Out = O;
    type State = TemporalState<V, T>;

    fn process_element(
        &mut self,
        record: &Record<Either<TableUpdate<K, V>, T>>,
        ctx: &mut KeyContext<'_, Self>,
    ) -> Result<(), BoxError> {
        if ctx.reject_if_late(record.time) {
            return Ok(());
        }
        let t = record.time.as_millis();
        match &record.value {
            Either::Left(update) => {
                // Two updates at one time: the later one read wins (one key's
                // updates come from one partition, in its order).
                ctx.state().versions.insert(t, update.value.clone());
                // Once the watermark passes it, older versions can go.
                ctx.register_event_timer(record.time);
            }
            Either::Right(v) => {
                ctx.state().waiting.push((t, v.clone()));
                ctx.register_event_timer(record.time);
            }
        }
        Ok(())
    }

    fn on_timer(&mut self, timer: Timer, ctx: &mut KeyContext<'_, Self>) -> Result<(), BoxError> {
        let now = timer.time.as_millis();
        let state = ctx.state();
        let (due, waiting): (Vec<_>, Vec<_>) =
            std::mem::take(&mut state.waiting).into_iter().partition(|(t, _)| *t <= now);
        state.waiting = waiting;
        let mut out = Vec::with_capacity(due.len());
        for (t, record) in &due {
            let value = state.versions.range(..=*t).next_back().and_then(|(_, v)| v.as_ref());
            if let Some(o) = (self.join)(record, value) {
                out.push((o, *t));
            }
        }
        // Only the newest version at or before `now` can still be asked for.
        if let Some((&current, _)) = state.versions.range(..=now).next_back() {
            state.versions = state.versions.split_off(&current);
        }
        let only_a_delete = state.versions.len() == 1 && state.versions.values().all(Option::is_none);
        if state.waiting.is_empty() && (state.versions.is_empty() || only_a_delete) {
            ctx.clear_state();
        }
        for (o, t) in out {
            ctx.emit_at(o, EventTime::from_millis(t));
        }
        Ok(())
    }
}
