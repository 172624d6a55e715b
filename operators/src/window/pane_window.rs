//! Tumbling and sliding windows over panes.
//!
//! Time is cut into panes of `gcd(size, slide)` aligned to the epoch. Each record
//! updates exactly one accumulator, that of its (pane, key); window `j` covers
//! `[j * slide, j * slide + size)`, that is panes `[j * m, j * m + k)` with
//! `m = slide / pane` and `k = size / pane`, and its result is the merge of those
//! panes. A tumbling window is the case `slide == size` (one pane per window).

use crate::hashing::FastHashMap;
use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tidemill_runtime::{Batch, EventTime, Operator, OperatorError, Origin, Output, Record, StateSnapshot};

use super::aggregate::Aggregate;
use super::common::{clamp_time, dead_letter_late, KeyFn, SnapshotHeader, WindowKey};
use super::result::WindowResult;
use super::spec::{whole_millis, SlidingWindow, TumblingWindow, WindowError, WindowSpec};
use super::traces::PaneTraces;

/// At most this many emptied pane maps are kept for reuse (saves re-growing them).
const SPARE_PANES: usize = 2;

/// Keyed tumbling or sliding windows with pane-based state. See the
/// [module documentation](super) for emission and lateness rules.
pub struct PaneWindowOperator<T, K, A: Aggregate<T>> {
    spec: WindowSpec,
    header: SnapshotHeader,
    size: i64,
    slide: i64,
    pane: i64,
    /// Panes per slide (`m`) and per window (`k`).
    panes_per_slide: i64,
    panes_per_window: i64,
    lateness: i64,
    key_fn: KeyFn<T, K>,
    aggregate: A,
    panes: BTreeMap<i64, FastHashMap<K, A::Acc>>,
    spare: Vec<FastHashMap<K, A::Acc>>,
    scratch: Vec<(K, A::Acc)>,
    /// The last watermark received; `None` before the first.
    watermark: Option<EventTime>,
    /// Windows with an index below this have fired (or, if empty, closed).
    first_open_window: i128,
    /// Records with a time below this are late: their earliest window has fired.
    min_open_time: i128,
    late: u64,
    /// Sampled trace contexts per pane, for the results' emit spans.
    traces: PaneTraces<K>,
    _in: PhantomData<fn(&T)>,
}

impl<T, K: WindowKey, A: Aggregate<T>> PaneWindowOperator<T, K, A> {
    /// A tumbling-window operator.
    pub fn tumbling(
        window: TumblingWindow,
        key_fn: KeyFn<T, K>,
        aggregate: A,
        allowed_lateness: Duration,
    ) -> Result<Self, WindowError> {
        Self::build(WindowSpec::Tumbling(window), window.into(), key_fn, aggregate, allowed_lateness)
    }

    /// A sliding-window operator.
    pub fn sliding(
        window: SlidingWindow,
        key_fn: KeyFn<T, K>,
        aggregate: A,
        allowed_lateness: Duration,
    ) -> Result<Self, WindowError> {
        Self::build(WindowSpec::Sliding(window), window, key_fn, aggregate, allowed_lateness)
    }

    fn build(
        spec: WindowSpec,
        window: SlidingWindow,
        key_fn: KeyFn<T, K>,
        aggregate: A,
        allowed_lateness: Duration,
    ) -> Result<Self, WindowError> {
        let lateness = whole_millis("allowed lateness", allowed_lateness, true)?;
        let pane = window.pane_millis();
        Ok(PaneWindowOperator {
            spec,
            header: SnapshotHeader::new(&spec, lateness),
            size: window.size_millis(),
            slide: window.slide_millis(),
            pane,
            panes_per_slide: window.slide_millis() / pane,
            panes_per_window: window.size_millis() / pane,
            lateness,
            key_fn,
            aggregate,
            panes: BTreeMap::new(),
            spare: Vec::new(),
            scratch: Vec::new(),
            watermark: None,
            first_open_window: i128::MIN,
            min_open_time: i128::MIN,
            late: 0,
            traces: PaneTraces::default(),
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

    /// The number of accumulators held: one per (pane, key) with data.
    pub fn state_size(&self) -> usize {
        self.panes.values().map(FastHashMap::len).sum()
    }

    /// The last watermark the operator received.
    pub fn current_watermark(&self) -> Option<EventTime> {
        self.watermark
    }

    /// Recomputes which windows have fired after the watermark moved to `w`.
    ///
    /// Window `j` fires when `w >= end(j) - 1 + lateness`, i.e.
    /// `j * slide <= w + 1 - lateness - size =: x`, so the first open window is
    /// `floor(x / slide) + 1`. A record is late iff its earliest window
    /// (`floor((t - size) / slide) + 1`) is below that, i.e. iff
    /// `t < first_open * slide + size - slide`.
    fn set_horizon(&mut self, w: EventTime) {
        if w == EventTime::MAX {
            self.first_open_window = i128::MAX;
            self.min_open_time = i128::MAX;
            return;
        }
        let (size, slide) = (self.size as i128, self.slide as i128);
        let x = w.as_millis() as i128 + 1 - self.lateness as i128 - size;
        self.first_open_window = x.div_euclid(slide) + 1;
        self.min_open_time = self.first_open_window * slide + size - slide;
    }

    /// Index of the earliest window that contains pane `p`.
    fn earliest_window_of_pane(&self, p: i64) -> i128 {
        (p as i128 - self.panes_per_window as i128).div_euclid(self.panes_per_slide as i128) + 1
    }

    fn window_bounds(&self, j: i128) -> (i128, i128) {
        let start = j * self.slide as i128;
        (start, start + self.size as i128)
    }

    fn late_detail(&self, t: i64) -> String {
        let (start, end) = self.window_bounds(self.earliest_window_of_pane(t.div_euclid(self.pane)));
        format!(
            "record time {t} ms is late for {}: its earliest window [{start}, {end}) ms is already closed \
             (watermark {} ms, allowed lateness {} ms)",
            self.spec,
            self.watermark.map_or(i64::MIN, EventTime::as_millis),
            self.lateness
        )
    }

    fn add_record(&mut self, record: &Record<T>) {
        let key = (self.key_fn)(&record.value);
        let pane = record.time.as_millis().div_euclid(self.pane);
        if let Some(cx) = record.trace_context() {
            self.traces.note(pane, &key, cx);
        }
        let map = match self.panes.entry(pane) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(v) => v.insert(self.spare.pop().unwrap_or_default()),
        };
        if let Some(acc) = map.get_mut(&key) {
            self.aggregate.add(acc, &record.value);
        } else {
            let mut acc = self.aggregate.init();
            self.aggregate.add(&mut acc, &record.value);
            map.insert(key, acc);
        }
    }

    /// Fires window `j` (which holds at least the first pane; every earlier window
    /// has fired) and frees the panes that no later window needs.
    fn fire_window(&mut self, j: i128, out: &mut Output<WindowResult<K, A::Out>>) {
        let (m, k) = (self.panes_per_slide as i128, self.panes_per_window as i128);
        let keep_from = (j + 1) * m;
        let window_end_pane = j * m + k;
        let mut entries = std::mem::take(&mut self.scratch);
        // Panes before the next window's start belong to no later window: move them.
        while let Some(entry) = self.panes.first_entry() {
            if *entry.key() as i128 >= keep_from {
                break;
            }
            let mut map = entry.remove();
            entries.extend(map.drain());
            if self.spare.len() < SPARE_PANES {
                self.spare.push(map);
            }
        }
        // The rest of the window's panes are shared with later windows: copy them.
        let pane_range = i64::MIN as i128..=i64::MAX as i128;
        let (lo, hi) = (keep_from, window_end_pane - 1);
        if lo <= hi && hi >= *pane_range.start() && lo <= *pane_range.end() {
            let lo = lo.clamp(*pane_range.start(), *pane_range.end()) as i64;
            let hi = hi.clamp(*pane_range.start(), *pane_range.end()) as i64;
            for map in self.panes.range(lo..=hi).map(|(_, map)| map) {
                entries.extend(map.iter().map(|(key, acc)| (key.clone(), acc.clone())));
            }
        }
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));

        let (start, end) = self.window_bounds(j);
        let (start, end, time) = (clamp_time(start), clamp_time(end), clamp_time(end - 1));
        let mut drained = entries.drain(..);
        if let Some((mut key, mut acc)) = drained.next() {
            for (next_key, next_acc) in drained.by_ref() {
                if next_key == key {
                    self.aggregate.merge(&mut acc, &next_acc);
                } else {
                    let value = self.aggregate.finish(&acc);
                    let done = std::mem::replace(&mut key, next_key);
                    let result = Record::new(WindowResult::new(start, end, done, value), time, Origin::INTERNAL);
                    out.emit(self.traced(j, result));
                    acc = next_acc;
                }
            }
            let value = self.aggregate.finish(&acc);
            let result = Record::new(WindowResult::new(start, end, key, value), time, Origin::INTERNAL);
            out.emit(self.traced(j, result));
        }
        drop(drained);
        self.scratch = entries;
        if !self.traces.is_empty() {
            self.traces.free_below(keep_from.clamp(i64::MIN as i128, i64::MAX as i128) as i64);
        }
    }

    /// Links the result of window `j` to the sampled records it counted, if any.
    fn traced(&self, j: i128, result: Record<WindowResult<K, A::Out>>) -> Record<WindowResult<K, A::Out>> {
        if self.traces.is_empty() {
            return result;
        }
        let (m, k) = (self.panes_per_slide as i128, self.panes_per_window as i128);
        let clamp = |p: i128| p.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
        let panes = clamp(j * m)..=clamp(j * m + k - 1);
        let key = result.value.key.clone();
        self.traces.trace_result(panes, &key, &self.spec.to_string(), result)
    }
}

/// The checkpointed state (borrowed for encoding).
#[derive(Serialize)]
struct PaneStateRef<'a, K, Acc> {
    header: &'a SnapshotHeader,
    watermark: Option<EventTime>,
    late_records: u64,
    panes: Vec<(i64, Vec<(&'a K, &'a Acc)>)>,
}

/// The checkpointed state (owned, for decoding).
#[derive(Deserialize)]
struct PaneState<K, Acc> {
    header: SnapshotHeader,
    watermark: Option<EventTime>,
    late_records: u64,
    panes: Vec<(i64, Vec<(K, Acc)>)>,
}

impl<T, K, A> Operator for PaneWindowOperator<T, K, A>
where
    T: Send + serde::Serialize + 'static,
    K: WindowKey,
    A: Aggregate<T>,
{
    type In = T;
    type Out = WindowResult<K, A::Out>;

    fn process(&mut self, batch: Batch<T>, out: &mut Output<Self::Out>) -> Result<(), OperatorError> {
        for record in &batch {
            if (record.time.as_millis() as i128) < self.min_open_time {
                self.late += 1;
                let detail = self.late_detail(record.time.as_millis());
                dead_letter_late(&record.value, record.origin, detail, out);
            } else {
                self.add_record(record);
            }
        }
        Ok(())
    }

    fn on_watermark(&mut self, watermark: EventTime, out: &mut Output<Self::Out>) -> Result<(), OperatorError> {
        if self.watermark.is_some_and(|w| watermark <= w) {
            return Ok(());
        }
        self.watermark = Some(watermark);
        // Windows below the previous horizon have fired already; a pane may still
        // be held for later windows that contain it too.
        let mut next = self.first_open_window;
        self.set_horizon(watermark);
        while let Some((&pane, _)) = self.panes.first_key_value() {
            // The first window not yet fired that holds the first pane: panes
            // before `next * m` were freed when window `next - 1` fired, so the
            // first pane lies in window `j`.
            let j = self.earliest_window_of_pane(pane).max(next);
            if j >= self.first_open_window {
                break;
            }
            self.fire_window(j, out);
            next = j + 1;
        }
        Ok(())
    }

    fn snapshot(&self) -> Result<StateSnapshot, OperatorError> {
        let panes = self
            .panes
            .iter()
            .map(|(&p, map)| {
                let mut entries: Vec<(&K, &A::Acc)> = map.iter().collect();
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
                (p, entries)
            })
            .collect();
        StateSnapshot::encode(&PaneStateRef {
            header: &self.header,
            watermark: self.watermark,
            late_records: self.late,
            panes,
        })
    }

    fn restore(&mut self, snapshot: &StateSnapshot) -> Result<(), OperatorError> {
        if snapshot.is_empty() {
            // The snapshot of an operator that never checkpointed: start fresh.
            self.panes.clear();
            self.traces.clear();
            self.late = 0;
            self.watermark = None;
            self.first_open_window = i128::MIN;
            self.min_open_time = i128::MIN;
            return Ok(());
        }
        let state: PaneState<K, A::Acc> = snapshot.decode()?;
        self.header.check(&state.header)?;
        self.panes = state.panes.into_iter().map(|(p, entries)| (p, entries.into_iter().collect())).collect();
        self.traces.clear();
        self.late = state.late_records;
        self.watermark = state.watermark;
        match state.watermark {
            Some(w) => self.set_horizon(w),
            None => {
                self.first_open_window = i128::MIN;
                self.min_open_time = i128::MIN;
            }
        }
        Ok(())
    }
}
