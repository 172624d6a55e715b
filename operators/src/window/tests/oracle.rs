//! Seeded random streams and brute-force oracles for the window operators.
//!
//! The oracles do not share code with the operators: they decide lateness by
//! replaying the watermark sequence with the rules stated in the module docs (in
//! their plainest form, remembering every fired session forever), then compute
//! every window directly from the accepted records.

use std::collections::{BTreeSet, HashMap};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tidemill_runtime::{EventTime, Offset, Origin, PartitionId, Record, SourceId};

use crate::window::{Avg, Count, Max, Min, Sum, WindowResult};

/// A test event: a unique id, a key and a value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ev {
    pub id: u64,
    pub key: u8,
    pub v: i64,
}

/// The aggregate every oracle test uses: all five built-ins at once.
pub type Stats = (Count, Sum<Ev>, Min<Ev>, Max<Ev>, Avg<Ev>);
/// Its output: count, sum, min, max, mean.
pub type StatsOut = (u64, i64, i64, i64, f64);

pub fn stats() -> Stats {
    (Count, Sum::new(|e: &Ev| e.v), Min::new(|e: &Ev| e.v), Max::new(|e: &Ev| e.v), Avg::new(|e: &Ev| e.v as f64))
}

/// The statistics computed directly over a set of events.
pub fn direct_stats(events: &[&Ev]) -> StatsOut {
    let count = events.len() as u64;
    let sum: i64 = events.iter().map(|e| e.v).sum();
    let min = events.iter().map(|e| e.v).min().expect("non-empty window");
    let max = events.iter().map(|e| e.v).max().expect("non-empty window");
    (count, sum, min, max, sum as f64 / count as f64)
}

/// One input step.
#[derive(Clone, Debug)]
pub enum Step {
    /// A batch of (event, time ms).
    Batch(Vec<(Ev, i64)>),
    /// A watermark (ms).
    Watermark(i64),
    /// End of input.
    End,
}

/// Shape of a random stream.
#[derive(Clone, Copy, Debug)]
pub struct StreamShape {
    pub seed: u64,
    pub records: usize,
    pub keys: u8,
    /// Time of the first record.
    pub base: i64,
    /// Usual out-of-orderness bound (ms).
    pub disorder: i64,
    /// Watermark = max time seen - this.
    pub watermark_delay: i64,
    /// Fraction of records delayed by up to `far_delay` (many become late).
    pub straggler_fraction: f64,
    pub far_delay: i64,
    /// Probability that the clock pauses (gives sessions room to close).
    pub pause_probability: f64,
}

impl StreamShape {
    pub fn new(seed: u64) -> Self {
        StreamShape {
            seed,
            records: 2_500,
            keys: 5,
            base: 1_000_000,
            disorder: 30,
            watermark_delay: 20,
            straggler_fraction: 0.04,
            far_delay: 300,
            pause_probability: 0.03,
        }
    }
}

/// A seeded random stream: batches with bounded out-of-orderness, some stragglers,
/// watermarks at `max seen - delay` after most batches, then the end.
pub fn random_stream(shape: StreamShape) -> Vec<Step> {
    let mut rng = StdRng::seed_from_u64(shape.seed);
    let mut steps = Vec::new();
    let mut clock = shape.base;
    let mut max_seen = i64::MIN;
    let mut id = 0u64;
    while (id as usize) < shape.records {
        let size = rng.random_range(1..=16usize);
        let mut batch = Vec::with_capacity(size);
        for _ in 0..size {
            clock += rng.random_range(0..=4);
            if rng.random_bool(shape.pause_probability) {
                clock += rng.random_range(30..=200);
            }
            let delay = if rng.random_bool(shape.straggler_fraction) {
                rng.random_range(0..=shape.far_delay)
            } else {
                rng.random_range(0..=shape.disorder)
            };
            let t = clock - delay;
            max_seen = max_seen.max(t);
            let ev = Ev { id, key: rng.random_range(0..shape.keys), v: rng.random_range(-1_000..=1_000) };
            batch.push((ev, t));
            id += 1;
        }
        steps.push(Step::Batch(batch));
        if rng.random_bool(0.7) {
            steps.push(Step::Watermark(max_seen - shape.watermark_delay));
        }
    }
    steps.push(Step::End);
    steps
}

/// The record the harness receives for an event (origin offset = id).
pub fn to_record(ev: &Ev, t: i64) -> Record<Ev> {
    let origin = Origin { source: SourceId(1), partition: PartitionId(ev.key as u32), offset: Offset(ev.id) };
    Record::new(ev.clone(), EventTime::from_millis(t), origin)
}

/// What an operator must produce for a stream: the results emitted after each
/// step (in emission order) and the ids of the late events, in arrival order.
#[derive(Debug)]
pub struct Expected {
    pub per_step: Vec<Vec<WindowResult<u8, StatsOut>>>,
    pub late_ids: Vec<u64>,
}

/// The effective watermark after each step (`None` before the first), as the
/// harness feeds it (non-advancing watermarks are dropped; the end is `+inf`).
fn watermark_after_steps(steps: &[Step]) -> Vec<Option<i64>> {
    let mut w: Option<i64> = None;
    steps
        .iter()
        .map(|s| {
            match s {
                Step::Watermark(x) if w.is_none_or(|c| *x > c) => w = Some(*x),
                Step::End => w = Some(i64::MAX),
                _ => {}
            }
            w
        })
        .collect()
}

/// Brute-force tumbling/sliding oracle (`slide == size` for tumbling).
pub fn pane_oracle(steps: &[Step], size: i64, slide: i64, lateness: i64) -> Expected {
    let marks = watermark_after_steps(steps);
    // Window starts containing t, by walking back from the latest start <= t.
    let starts_of = |t: i64| {
        let mut s = t.div_euclid(slide) * slide;
        let mut all = Vec::new();
        while s + size > t {
            all.push(s);
            s -= slide;
        }
        all
    };
    let mut accepted: Vec<(usize, &Ev, i64)> = Vec::new();
    let mut late_ids = Vec::new();
    let mut w: Option<i64> = None;
    for (i, step) in steps.iter().enumerate() {
        if let Step::Batch(batch) = step {
            for (ev, t) in batch {
                let earliest = *starts_of(*t).iter().min().expect("every time is in a window");
                if w.is_some_and(|w| earliest + size - 1 + lateness <= w) {
                    late_ids.push(ev.id);
                } else {
                    accepted.push((i, ev, *t));
                }
            }
        }
        w = marks[i];
    }
    let mut windows: BTreeSet<(i64, u8)> = BTreeSet::new();
    for &(_, ev, t) in &accepted {
        for s in starts_of(t) {
            windows.insert((s, ev.key));
        }
    }
    let mut per_step = vec![Vec::new(); steps.len()];
    for (s, key) in windows {
        let e = s + size;
        let members: Vec<&(usize, &Ev, i64)> =
            accepted.iter().filter(|(_, ev, t)| ev.key == key && s <= *t && *t < e).collect();
        let fire_step = marks
            .iter()
            .position(|m| m.is_some_and(|m| m == i64::MAX || e - 1 + lateness <= m))
            .expect("the end fires everything");
        assert!(
            members.iter().all(|(arrived, _, _)| *arrived < fire_step),
            "oracle self-check: an accepted record arrived after its window [{s}, {e}) fired"
        );
        let events: Vec<&Ev> = members.iter().map(|(_, ev, _)| *ev).collect();
        per_step[fire_step].push(WindowResult::new(
            EventTime::from_millis(s),
            EventTime::from_millis(e),
            key,
            direct_stats(&events),
        ));
    }
    for results in &mut per_step {
        results.sort_by_key(|r| (r.window_end, r.key));
    }
    Expected { per_step, late_ids }
}

/// Sessions of one key computed from scratch: sorted times grouped while the next
/// record starts before the current session's end.
fn sessions_of(records: &[(i64, &Ev)], gap: i64) -> Vec<(i64, i64, Vec<u64>)> {
    let mut sorted: Vec<&(i64, &Ev)> = records.iter().collect();
    sorted.sort_by_key(|(t, ev)| (*t, ev.id));
    let mut out: Vec<(i64, i64, Vec<u64>)> = Vec::new();
    for (t, ev) in sorted {
        match out.last_mut() {
            Some((_, end, ids)) if *t < *end => {
                *end = (*end).max(t + gap);
                ids.push(ev.id);
            }
            _ => out.push((*t, t + gap, vec![ev.id])),
        }
    }
    out
}

/// Brute-force session oracle.
pub fn session_oracle(steps: &[Step], gap: i64, lateness: i64) -> Expected {
    let marks = watermark_after_steps(steps);
    let mut accepted: HashMap<u8, Vec<(i64, &Ev)>> = HashMap::new();
    let mut fired: HashMap<u8, Vec<(i64, i64, Vec<u64>)>> = HashMap::new();
    let mut late_ids = Vec::new();
    let mut per_step = vec![Vec::new(); steps.len()];
    let mut w: Option<i64> = None;
    for (i, step) in steps.iter().enumerate() {
        if let Step::Batch(batch) = step {
            for (ev, t) in batch {
                let end = t + gap;
                let singleton_fired = w.is_some_and(|w| end - 1 + lateness <= w);
                let overlaps_fired = fired.get(&ev.key).is_some_and(|f| f.iter().any(|(s, e, _)| *t < *e && *s < end));
                if singleton_fired || overlaps_fired {
                    late_ids.push(ev.id);
                } else {
                    accepted.entry(ev.key).or_default().push((*t, ev));
                }
            }
        }
        if marks[i] == w {
            continue;
        }
        w = marks[i];
        let now = w.expect("just advanced");
        let mut results = Vec::new();
        for (key, records) in &accepted {
            let done = fired.entry(*key).or_default();
            for (s, e, ids) in sessions_of(records, gap) {
                let due = now == i64::MAX || e - 1 + lateness <= now;
                if due && !done.iter().any(|(fs, fe, _)| *fs == s && *fe == e) {
                    let events: Vec<&Ev> =
                        records.iter().filter(|(_, ev)| ids.contains(&ev.id)).map(|(_, ev)| *ev).collect();
                    results.push(WindowResult::new(
                        EventTime::from_millis(s),
                        EventTime::from_millis(e),
                        *key,
                        direct_stats(&events),
                    ));
                    done.push((s, e, ids));
                }
            }
        }
        results.sort_by_key(|r| (r.window_end, r.key));
        per_step[i] = results;
    }
    // Self-check: every fired session is still a session of the final record set.
    for (key, done) in &fired {
        let finals = sessions_of(&accepted[key], gap);
        for session in done {
            assert!(
                finals.contains(session),
                "oracle self-check: fired session {session:?} of key {key} changed later"
            );
        }
    }
    Expected { per_step, late_ids }
}
