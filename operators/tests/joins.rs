//! The joins against a batch recomputation: random records of two sides, in
//! bounded disorder, through the operator in random batches with watermarks and
//! a checkpoint taken and restored midway, give exactly the pairs a nested loop
//! over all records finds. Late records are dead letters.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tidemill_operators::join::{
    IntervalBounds, IntervalJoin, JoinWindow, LookupFn, PairFn, TableUpdate, TemporalJoin, WindowJoin, WindowPairFn,
};
use tidemill_operators::process::{Either, KeyedProcessFunction, KeyedProcessOperator};
use tidemill_operators::window::{SessionWindow, SlidingWindow, TumblingWindow, WindowSpec};
use tidemill_runtime::{OperatorHarness, ReasonCode};

/// A record of either side: `(key, id)`.
type Row = (u32, u32);
type Side = Either<Row, Row>;
/// A row and its time.
type Timed = (Row, i64);

/// How far records arrive out of order, and how far the watermark trails the
/// newest record: nothing is late.
const DISORDER_MS: i64 = 50;
const WATERMARK_DELAY_MS: i64 = 100;

/// `n` records per side over `span` ms, keys 0..4, in arrival order.
fn arrivals(seed: u64, n: u32, span: i64) -> Vec<(Side, i64)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut rows: Vec<(i64, Side, i64)> = Vec::new();
    for id in 0..n {
        for side in [Either::Left((rng.random_range(0..4), id)), Either::Right((rng.random_range(0..4), id))] {
            let t = rng.random_range(0..span);
            rows.push((t + rng.random_range(0..DISORDER_MS), side, t));
        }
    }
    rows.sort_by_key(|(arrival, ..)| *arrival);
    rows.into_iter().map(|(_, side, t)| (side, t)).collect()
}

/// Runs `function` over `input` in random batches, each followed by a watermark;
/// halfway, the state is checkpointed and restored into a new operator. Returns
/// the output values (sorted) and the dead letters' reasons.
fn run<F>(
    seed: u64,
    make: impl Fn() -> F,
    key: fn(&F::In) -> u32,
    input: Vec<(F::In, i64)>,
) -> (Vec<F::Out>, Vec<ReasonCode>)
where
    F: KeyedProcessFunction<Key = u32>,
    F::In: Clone,
    F::Out: Ord,
{
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    let mut h = OperatorHarness::new(KeyedProcessOperator::new(make(), Arc::new(key)));
    let (mut out, mut dead) = (Vec::new(), Vec::new());
    let mut newest = i64::MIN;
    let mut rest = input.as_slice();
    let mut restored = false;
    while !rest.is_empty() {
        let n = rng.random_range(1..=20).min(rest.len());
        let (batch, tail) = rest.split_at(n);
        rest = tail;
        newest = batch.iter().map(|(_, t)| *t).fold(newest, i64::max);
        h.push_timed(batch.iter().cloned()).unwrap();
        h.push_watermark(newest - WATERMARK_DELAY_MS).unwrap();
        if !restored && rest.len() < input.len() / 2 {
            let snapshot = h.push_barrier().unwrap();
            out.extend(h.take_values());
            dead.extend(h.take_dead_letters());
            h = OperatorHarness::new(KeyedProcessOperator::new(make(), Arc::new(key)));
            h.restore(&snapshot).unwrap();
            restored = true;
        }
    }
    h.push_end().unwrap();
    out.extend(h.take_values());
    dead.extend(h.take_dead_letters());
    out.sort();
    (out, dead.into_iter().map(|d| d.reason).collect())
}

fn side_key(s: &Side) -> u32 {
    match s {
        Either::Left((k, _)) | Either::Right((k, _)) => *k,
    }
}

/// Left and right records of `input` with their times.
fn sides(input: &[(Side, i64)]) -> (Vec<Timed>, Vec<Timed>) {
    let left = input.iter().filter_map(|(s, t)| if let Either::Left(r) = s { Some((*r, *t)) } else { None }).collect();
    let right =
        input.iter().filter_map(|(s, t)| if let Either::Right(r) = s { Some((*r, *t)) } else { None }).collect();
    (left, right)
}

#[test]
fn interval_join_equals_a_nested_loop() {
    for seed in 0..5 {
        let input = arrivals(seed, 300, 5_000);
        let bounds = IntervalBounds::new(Duration::from_millis(200), Duration::from_millis(300)).unwrap();
        let join: PairFn<Row, Row, (u32, u32)> = Arc::new(|l: &Row, r: &Row| (l.1, r.1));
        let (got, dead) = run(seed, || IntervalJoin::new(bounds, join.clone()), side_key, input.clone());
        let (left, right) = sides(&input);
        let mut expected = Vec::new();
        for (l, lt) in &left {
            for (r, rt) in &right {
                if l.0 == r.0 && lt - 200 <= *rt && *rt <= lt + 300 {
                    expected.push((l.1, r.1));
                }
            }
        }
        expected.sort();
        assert!(!expected.is_empty());
        assert_eq!(got, expected, "seed {seed}");
        assert!(dead.is_empty(), "seed {seed}: nothing is late");
    }
}

/// Every pair per key and fixed window `[start, start + size)` starting every `slide`.
fn fixed_window_pairs(input: &[(Side, i64)], size: i64, slide: i64) -> Vec<(u32, u32, i64)> {
    let (left, right) = sides(input);
    let mut expected = Vec::new();
    let last = input.iter().map(|(_, t)| *t).max().unwrap_or(0);
    for start in (-size..=last).filter(|s| s.rem_euclid(slide) == 0) {
        for (l, lt) in &left {
            for (r, rt) in &right {
                let inside = |t: i64| start <= t && t < start + size;
                if l.0 == r.0 && inside(*lt) && inside(*rt) {
                    expected.push((l.1, r.1, start));
                }
            }
        }
    }
    expected.sort();
    expected
}

fn window_join(spec: WindowSpec) -> impl Fn() -> WindowJoin<u32, Row, Row, (u32, u32, i64)> {
    let join: WindowPairFn<Row, Row, (u32, u32, i64)> =
        Arc::new(|l: &Row, r: &Row, w: JoinWindow| (l.1, r.1, w.start.as_millis()));
    move || WindowJoin::new(spec, join.clone())
}

#[test]
fn tumbling_and_sliding_window_joins_equal_a_nested_loop() {
    let tumbling = TumblingWindow::of(Duration::from_millis(500)).unwrap();
    let sliding = SlidingWindow::of_size(Duration::from_millis(600)).every(Duration::from_millis(200)).unwrap();
    for seed in 0..4 {
        let input = arrivals(seed, 200, 4_000);
        for (spec, size, slide) in [(WindowSpec::from(tumbling), 500, 500), (WindowSpec::from(sliding), 600, 200)] {
            let (got, dead) = run(seed, window_join(spec), side_key, input.clone());
            let expected = fixed_window_pairs(&input, size, slide);
            assert!(!expected.is_empty());
            assert_eq!(got, expected, "{spec}, seed {seed}");
            assert!(dead.is_empty(), "{spec}, seed {seed}: nothing is late");
        }
    }
}

#[test]
fn session_window_join_equals_sessions_computed_in_batch() {
    let gap = 150;
    let spec = WindowSpec::from(SessionWindow::with_gap(Duration::from_millis(gap as u64)).unwrap());
    for seed in 0..5 {
        let input = arrivals(seed, 150, 6_000);
        let (got, dead) = run(seed, window_join(spec), side_key, input.clone());
        // Per key, both sides' records by time; a gap of `gap` or more starts a session.
        let mut by_key: BTreeMap<u32, Vec<(i64, Side)>> = BTreeMap::new();
        for (side, t) in &input {
            by_key.entry(side_key(side)).or_default().push((*t, side.clone()));
        }
        let mut expected = Vec::new();
        for records in by_key.values_mut() {
            records.sort_by_key(|(t, _)| *t);
            let mut sessions: Vec<Vec<(i64, Side)>> = Vec::new();
            for record in records.iter() {
                match sessions.last_mut() {
                    Some(s) if record.0 - s.last().unwrap().0 < gap => s.push(record.clone()),
                    _ => sessions.push(vec![record.clone()]),
                }
            }
            for session in sessions {
                let start = session[0].0;
                for (_, l) in &session {
                    for (_, r) in &session {
                        if let (Either::Left(l), Either::Right(r)) = (l, r) {
                            expected.push((l.1, r.1, start));
                        }
                    }
                }
            }
        }
        expected.sort();
        assert!(!expected.is_empty());
        assert_eq!(got, expected, "seed {seed}");
        assert!(dead.is_empty(), "seed {seed}: nothing is late");
    }
}

type Update = TableUpdate<u32, u32>;

#[test]
fn temporal_join_takes_the_table_as_of_each_record() {
    for seed in 0..5 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // Updates (a value, or a removal one time in five) and probes, per key.
        let mut rows: Vec<(i64, Either<Update, Row>, i64)> = Vec::new();
        let mut update_times = std::collections::BTreeSet::new();
        for id in 0..400u32 {
            let key = rng.random_range(0..4);
            let t = rng.random_range(0..5_000);
            let side = if id % 3 == 0 {
                if !update_times.insert((key, t)) {
                    continue; // one update per key and instant keeps the oracle simple
                }
                Either::Left(TableUpdate { key, value: (rng.random_range(0..5) > 0).then_some(id) })
            } else {
                Either::Right((key, id))
            };
            rows.push((t + rng.random_range(0..DISORDER_MS), side, t));
        }
        rows.sort_by_key(|(arrival, ..)| *arrival);
        let input: Vec<_> = rows.into_iter().map(|(_, side, t)| (side, t)).collect();
        let join: LookupFn<Row, u32, (u32, u32)> =
            Arc::new(|probe: &Row, value: Option<&u32>| value.map(|v| (probe.1, *v)));
        let key = |e: &Either<Update, Row>| match e {
            Either::Left(u) => u.key,
            Either::Right(r) => r.0,
        };
        let (got, dead) = run(seed, || TemporalJoin::new(join.clone()), key, input.clone());
        let mut expected = Vec::new();
        for (side, t) in &input {
            let Either::Right(probe) = side else { continue };
            let newest = input
                .iter()
                .filter_map(|(s, ut)| match s {
                    Either::Left(u) if u.key == probe.0 && ut <= t => Some((*ut, u.value)),
                    _ => None,
                })
                .max_by_key(|(ut, _)| *ut);
            if let Some((_, Some(v))) = newest {
                expected.push((probe.1, v));
            }
        }
        expected.sort();
        assert!(!expected.is_empty());
        assert_eq!(got, expected, "seed {seed}");
        assert!(dead.is_empty(), "seed {seed}: nothing is late");
    }
}

#[test]
fn records_behind_the_watermark_are_late_event_dead_letters() {
    let bounds = IntervalBounds::new(Duration::from_millis(10), Duration::from_millis(10)).unwrap();
    let join: PairFn<Row, Row, (u32, u32)> = Arc::new(|l: &Row, r: &Row| (l.1, r.1));
    let mut h = OperatorHarness::new(KeyedProcessOperator::new(IntervalJoin::new(bounds, join), Arc::new(side_key)));
    h.push_timed([(Either::Left((1, 1)), 1_000)]).unwrap();
    h.push_watermark(1_005).unwrap();
    h.push_timed([(Either::Right((1, 2)), 1_004), (Either::Right((1, 3)), 1_008)]).unwrap();
    assert_eq!(h.take_values(), vec![(1, 3)], "the right record behind the watermark is not joined");
    let dead = h.take_dead_letters();
    assert_eq!(dead.iter().map(|d| d.reason).collect::<Vec<_>>(), vec![ReasonCode::LateEvent]);

    let mut w = OperatorHarness::new(KeyedProcessOperator::new(
        window_join(TumblingWindow::of(Duration::from_millis(100)).unwrap().into())(),
        Arc::new(side_key),
    ));
    w.push_watermark(250).unwrap();
    // 180's window [100, 200) was emitted; 240's [200, 300) is still open.
    w.push_timed([(Either::Left((1, 1)), 180), (Either::Left((1, 2)), 240), (Either::Right((1, 3)), 260)]).unwrap();
    w.push_end().unwrap();
    assert_eq!(w.take_values(), vec![(2, 3, 200)]);
    assert_eq!(w.take_dead_letters().iter().map(|d| d.reason).collect::<Vec<_>>(), vec![ReasonCode::LateEvent]);
}

#[test]
fn a_panicking_join_function_dead_letters_the_record_and_the_join_goes_on() {
    let bounds = IntervalBounds::new(Duration::from_millis(10), Duration::from_millis(10)).unwrap();
    let join: PairFn<Row, Row, (u32, u32)> = Arc::new(|l: &Row, r: &Row| {
        assert_ne!(r.1, 13, "unlucky");
        (l.1, r.1)
    });
    let mut h = OperatorHarness::new(KeyedProcessOperator::new(IntervalJoin::new(bounds, join), Arc::new(side_key)));
    h.push_timed([(Either::Left((1, 1)), 1_000), (Either::Right((1, 13)), 1_001), (Either::Right((1, 2)), 1_002)])
        .unwrap();
    h.push_end().unwrap();
    assert_eq!(h.take_values(), vec![(1, 2)], "the records after the panic are joined");
    let dead = h.take_dead_letters();
    assert_eq!(dead.iter().map(|d| d.reason).collect::<Vec<_>>(), vec![ReasonCode::UserFunctionPanic]);
    assert!(String::from_utf8_lossy(&dead[0].payload).contains("13"), "the dead letter holds the record");
}
