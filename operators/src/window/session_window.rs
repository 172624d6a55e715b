//! Session windows: per-key sessions that merge when they overlap.
//!
//! Each key holds its open sessions sorted by start (pairwise disjoint, so also
//! sorted by end) and the sessions it emitted recently (needed to recognise late
//! records that belong to them). Firing is driven by a min-heap of per-key timers
//! with lazy deletion: a key has one valid timer (`KeyState::timer`) at or before
//! its next deadline; stale heap entries are skipped when popped. A key costs one
//! clone per new session, not per record.

use crate::hashing::FastHashMap;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::marker::PhantomData;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tidemill_runtime::{Batch, EventTime, Operator, OperatorError, Origin, Output, Record, StateSnapshot};

use super::aggregate::Aggregate;
use super::common::{dead_letter_late, KeyFn, SnapshotHeader, WindowKey};
use super::result::WindowResult;
use super::spec::{whole_millis, SessionWindow, WindowError, WindowSpec};

/// One session `[start, end)` of one key: `end` is the last record's time plus the gap.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Session<Acc> {
    start: i64,
    end: i64,
    acc: Acc,
}

struct KeyState<Acc> {
    /// Open sessions, sorted and disjoint.
    sessions: Vec<Session<Acc>>,
    /// `[start, end)` of sessions already emitted that a record could still overlap
    /// without being late by the singleton rule.
    emitted: Vec<(i64, i64)>,
    /// Deadline of the key's valid timer.
    timer: i64,
}

/// Deadlines, in watermark units: something is due when `watermark >= deadline`.
#[derive(Copy, Clone)]
struct Deadlines {
    gap: i64,
    lateness: i64,
}

impl Deadlines {
    /// A session ending at `end` fires at `end - 1 + lateness`.
    fn fire(self, end: i64) -> i64 {
        end.saturating_sub(1).saturating_add(self.lateness)
    }

    /// An emitted session ending at `end` can be forgotten once any record that
    /// overlaps it (time `<= end - 1`) is late by the singleton rule:
    /// `end - 1 + gap - 1 + lateness`.
    fn forget(self, end: i64) -> i64 {
        end.saturating_add(self.gap).saturating_sub(2).saturating_add(self.lateness)
    }

    fn next(self, state: &KeyState<impl Sized>) -> Option<i64> {
        let open = state.sessions.first().map(|s| self.fire(s.end));
        let memo = state.emitted.iter().map(|&(_, e)| self.forget(e)).min();
        match (open, memo) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Why a record is late.
enum Late {
    /// A session of just this record would already have fired.
    Singleton,
    /// It overlaps this session, already emitted.
    Emitted(i64, i64),
}

/// Keyed session windows. See the [module documentation](super) for emission and
/// lateness rules.
pub struct SessionWindowOperator<T, K, A: Aggregate<T>> {
    spec: WindowSpec,
    header: SnapshotHeader,
    gap: i64,
    lateness: i64,
    key_fn: KeyFn<T, K>,
    aggregate: A,
    keys: FastHashMap<K, KeyState<A::Acc>>,
    timers: BinaryHeap<Reverse<(i64, K)>>,
    fired: Vec<(i64, K, i64, A::Acc)>,
    watermark: Option<EventTime>,
    late: u64,
    _in: PhantomData<fn(&T)>,
}

impl<T, K: WindowKey, A: Aggregate<T>> SessionWindowOperator<T, K, A> {
    /// A session-window operator.
    pub fn new(
        window: SessionWindow,
        key_fn: KeyFn<T, K>,
        aggregate: A,
        allowed_lateness: Duration,
    ) -> Result<Self, WindowError> {
        let lateness = whole_millis("allowed lateness", allowed_lateness, true)?;
        let spec = WindowSpec::Session(window);
        Ok(SessionWindowOperator {
            spec,
            header: SnapshotHeader::new(&spec, lateness),
            gap: window.gap_millis(),
            lateness,
            key_fn,
            aggregate,
            keys: FastHashMap::default(),
            timers: BinaryHeap::new(),
            fired: Vec::new(),
            watermark: None,
            late: 0,
            _in: PhantomData,
        })
    }

    /// The window specification.
    pub fn spec(&self) -> &WindowSpec {
        &self.spec
    }

    /// How many records were late (sent to the dead-letter output) so far.
    pub fn late_records(&self) -> u64 {
        self.late
    }

    /// The number of open sessions held (one accumulator each).
    pub fn state_size(&self) -> usize {
        self.keys.values().map(|k| k.sessions.len()).sum()
    }

    /// The number of keys with any state (open sessions or recently emitted ones).
    pub fn tracked_keys(&self) -> usize {
        self.keys.len()
    }

    /// The last watermark the operator received.
    pub fn current_watermark(&self) -> Option<EventTime> {
        self.watermark
    }

    fn deadlines(&self) -> Deadlines {
        Deadlines { gap: self.gap, lateness: self.lateness }
    }

    fn late_detail(&self, t: i64, why: Late) -> String {
        let w = self.watermark.map_or(i64::MIN, EventTime::as_millis);
        match why {
            Late::Singleton => {
                let end = t.saturating_add(self.gap);
                format!(
                    "record time {t} ms is late for {}: a session [{t}, {end}) ms would have fired at watermark {} ms, \
                     the watermark is {w} ms (allowed lateness {} ms)",
                    self.spec,
                    self.deadlines().fire(end),
                    self.lateness
                )
            }
            Late::Emitted(start, end) => format!(
                "record time {t} ms is late for {}: it belongs to session [{start}, {end}) ms of its key, already fired \
                 (watermark {w} ms, allowed lateness {} ms)",
                self.spec, self.lateness
            ),
        }
    }

    /// Adds one record; returns why it is late if it is.
    fn add_record(&mut self, record: &Record<T>) -> Result<(), Late> {
        let d = self.deadlines();
        let t = record.time.as_millis();
        let end = t.saturating_add(self.gap);
        if self.watermark.is_some_and(|w| d.fire(end) <= w.as_millis()) {
            return Err(Late::Singleton);
        }
        let key = (self.key_fn)(&record.value);
        let Some(state) = self.keys.get_mut(&key) else {
            let mut acc = self.aggregate.init();
            self.aggregate.add(&mut acc, &record.value);
            let timer = d.fire(end);
            self.timers.push(Reverse((timer, key.clone())));
            let sessions = vec![Session { start: t, end, acc }];
            self.keys.insert(key, KeyState { sessions, emitted: Vec::new(), timer });
            return Ok(());
        };
        if let Some(&(s, e)) = state.emitted.iter().find(|&&(s, e)| t < e && s < end) {
            return Err(Late::Emitted(s, e));
        }
        let sessions = &mut state.sessions;
        let n = sessions.len();
        // Sessions overlapping [t, end): those with end > t and start < end, a run.
        let first = if n > 0 && sessions[n - 1].end > t { sessions.partition_point(|s| s.end <= t) } else { n };
        let mut past = first;
        while past < n && sessions[past].start < end {
            past += 1;
        }
        if past == first {
            let mut acc = self.aggregate.init();
            self.aggregate.add(&mut acc, &record.value);
            sessions.insert(first, Session { start: t, end, acc });
            let deadline = d.fire(end);
            if deadline < state.timer {
                state.timer = deadline;
                self.timers.push(Reverse((deadline, key)));
            }
        } else {
            let (head, rest) = sessions.split_at_mut(first + 1);
            let merged = &mut head[first];
            self.aggregate.add(&mut merged.acc, &record.value);
            merged.start = merged.start.min(t);
            merged.end = merged.end.max(end);
            for other in &rest[..past - first - 1] {
                self.aggregate.merge(&mut merged.acc, &other.acc);
                merged.end = merged.end.max(other.end);
            }
            sessions.drain(first + 1..past);
        }
        Ok(())
    }

    /// Fires every session due at watermark `w`, in order of end then key.
    fn fire(&mut self, w: i64, out: &mut Output<WindowResult<K, A::Out>>) {
        let d = self.deadlines();
        while let Some(Reverse((deadline, _))) = self.timers.peek() {
            if *deadline > w {
                break;
            }
            let Some(Reverse((deadline, key))) = self.timers.pop() else { break };
            let Some(state) = self.keys.get_mut(&key) else { continue };
            if state.timer != deadline {
                continue; // superseded by an earlier timer of the same key
            }
            let due = state.sessions.iter().take_while(|s| d.fire(s.end) <= w).count();
            for s in state.sessions.drain(..due) {
                state.emitted.push((s.start, s.end));
                self.fired.push((s.end, key.clone(), s.start, s.acc));
            }
            state.emitted.retain(|&(_, e)| d.forget(e) > w);
            match d.next(state) {
                Some(next) => {
                    state.timer = next;
                    self.timers.push(Reverse((next, key)));
                }
                None => {
                    self.keys.remove(&key);
                }
            }
        }
        self.fired.sort_unstable_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        for (end, key, start, acc) in self.fired.drain(..) {
            let value = self.aggregate.finish(&acc);
            let result = WindowResult::new(EventTime::from_millis(start), EventTime::from_millis(end), key, value);
            out.emit(Record::new(result, EventTime::from_millis(end.saturating_sub(1)), Origin::INTERNAL));
        }
    }
}

/// Checkpointed state of one key (borrowed for encoding).
type KeyRef<'a, K, Acc> = (&'a K, &'a [Session<Acc>], &'a [(i64, i64)]);

/// The checkpointed state (borrowed for encoding).
#[derive(Serialize)]
struct SessionStateRef<'a, K, Acc> {
    header: &'a SnapshotHeader,
    watermark: Option<EventTime>,
    late_records: u64,
    keys: Vec<KeyRef<'a, K, Acc>>,
}

/// Checkpointed state of one key (owned, for decoding).
type KeyOwned<K, Acc> = (K, Vec<Session<Acc>>, Vec<(i64, i64)>);

/// The checkpointed state (owned, for decoding).
#[derive(Deserialize)]
struct SessionState<K, Acc> {
    header: SnapshotHeader,
    watermark: Option<EventTime>,
    late_records: u64,
    keys: Vec<KeyOwned<K, Acc>>,
}

impl<T, K, A> Operator for SessionWindowOperator<T, K, A>
where
    T: Send + Serialize + 'static,
    K: WindowKey,
    A: Aggregate<T>,
{
    type In = T;
    type Out = WindowResult<K, A::Out>;

    fn process(&mut self, batch: Batch<T>, out: &mut Output<Self::Out>) -> Result<(), OperatorError> {
        for record in &batch {
            if let Err(why) = self.add_record(record) {
                self.late += 1;
                let detail = self.late_detail(record.time.as_millis(), why);
                dead_letter_late(&record.value, record.origin, detail, out);
            }
        }
        Ok(())
    }

    fn on_watermark(&mut self, watermark: EventTime, out: &mut Output<Self::Out>) -> Result<(), OperatorError> {
        if self.watermark.is_some_and(|w| watermark <= w) {
            return Ok(());
        }
        self.watermark = Some(watermark);
        self.fire(watermark.as_millis(), out);
        Ok(())
    }

    fn snapshot(&self) -> Result<StateSnapshot, OperatorError> {
        let mut keys: Vec<KeyRef<'_, K, A::Acc>> =
            self.keys.iter().map(|(k, s)| (k, s.sessions.as_slice(), s.emitted.as_slice())).collect();
        keys.sort_unstable_by(|a, b| a.0.cmp(b.0));
        StateSnapshot::encode(&SessionStateRef {
            header: &self.header,
            watermark: self.watermark,
            late_records: self.late,
            keys,
        })
    }

    fn restore(&mut self, snapshot: &StateSnapshot) -> Result<(), OperatorError> {
        self.keys.clear();
        self.timers.clear();
        self.fired.clear();
        if snapshot.is_empty() {
            // The snapshot of an operator that never checkpointed: start fresh.
            self.late = 0;
            self.watermark = None;
            return Ok(());
        }
        let state: SessionState<K, A::Acc> = snapshot.decode()?;
        self.header.check(&state.header)?;
        let d = self.deadlines();
        for (key, sessions, emitted) in state.keys {
            let mut key_state = KeyState { sessions, emitted, timer: i64::MAX };
            if let Some(timer) = d.next(&key_state) {
                key_state.timer = timer;
                self.timers.push(Reverse((timer, key.clone())));
                self.keys.insert(key, key_state);
            }
        }
        self.late = state.late_records;
        self.watermark = state.watermark;
        Ok(())
    }
}
