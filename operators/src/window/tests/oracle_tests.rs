//! Oracle tests: random out-of-order streams through each window kind, compared
//! step by step with brute-force results; snapshot/restore mid-stream.

use std::sync::Arc;
use std::time::Duration;

use tidemill_runtime::{DeadLetter, Operator, OperatorHarness, Origin, ReasonCode};

use super::oracle::{
    pane_oracle, random_stream, session_oracle, stats, to_record, Ev, Expected, Stats, StatsOut, Step, StreamShape,
};
use crate::window::{
    SessionWindow, SlidingWindow, TumblingWindow, WindowOperator, WindowResult, WindowSettings, WindowSpec,
};

type Op = WindowOperator<Ev, u8, Stats>;
type Emitted = Vec<Vec<WindowResult<u8, StatsOut>>>;

fn operator(spec: impl Into<WindowSpec>, lateness_ms: u64) -> Op {
    WindowOperator::new(
        WindowSettings::new(spec).with_allowed_lateness(Duration::from_millis(lateness_ms)),
        Arc::new(|e: &Ev| e.key),
        stats(),
    )
    .unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Runs `steps[range]` through the harness; returns what was emitted after each
/// step, checking record times and origins, and appends the dead letters.
fn drive(h: &mut OperatorHarness<Op>, steps: &[Step], dead: &mut Vec<DeadLetter>) -> Emitted {
    let mut emitted = Vec::new();
    for step in steps {
        match step {
            Step::Batch(batch) => h.push(batch.iter().map(|(ev, t)| to_record(ev, *t)).collect()).unwrap(),
            Step::Watermark(w) => h.push_watermark(*w).unwrap(),
            Step::End => h.push_end().unwrap(),
        }
        let records = h.take_output();
        for r in &records {
            assert_eq!(r.time, r.value.max_timestamp(), "result time is window end - 1");
            assert_eq!(r.origin, Origin::INTERNAL);
        }
        emitted.push(records.into_iter().map(|r| r.value).collect());
        dead.extend(h.take_dead_letters());
    }
    emitted
}

fn late_ids(dead: &[DeadLetter]) -> Vec<u64> {
    dead.iter()
        .map(|d| {
            assert_eq!(d.reason, ReasonCode::LateEvent);
            let ev: Ev = serde_json::from_slice(&d.payload).expect("payload is the event as JSON");
            assert_eq!(d.origin.offset.0, ev.id, "dead letter keeps the record's origin");
            assert!(d.detail.contains("late"), "detail explains: {}", d.detail);
            ev.id
        })
        .collect()
}

/// Asserts that an operator reproduces the oracle exactly, and that the case is
/// not vacuous (windows fire at many different watermarks; some records are late
/// exactly when `expect_late`).
fn check_against_oracle(op: Op, steps: &[Step], expected: &Expected, expect_late: bool) {
    let mut h = OperatorHarness::new(op);
    let mut dead = Vec::new();
    let emitted = drive(&mut h, steps, &mut dead);
    assert_eq!(emitted.len(), expected.per_step.len());
    for (i, (got, want)) in emitted.iter().zip(&expected.per_step).enumerate() {
        assert_eq!(got, want, "step {i}: {:?}", steps[i]);
    }
    assert_eq!(late_ids(&dead), expected.late_ids);
    assert_eq!(h.operator().late_records(), expected.late_ids.len() as u64);
    assert_eq!(h.operator().state_size(), 0, "everything fired and was freed at the end");
    let firing_steps = expected.per_step.iter().filter(|r| !r.is_empty()).count();
    assert!(firing_steps > 20, "windows fire along the stream, not only at the end ({firing_steps})");
    assert_eq!(!expected.late_ids.is_empty(), expect_late, "late records: {}", expected.late_ids.len());
}

#[test]
fn tumbling_window_matches_oracle() {
    let steps = random_stream(StreamShape::new(1));
    let expected = pane_oracle(&steps, 100, 100, 0);
    check_against_oracle(operator(TumblingWindow::of(ms(100)).unwrap(), 0), &steps, &expected, true);
}

#[test]
fn tumbling_window_with_allowed_lateness_matches_oracle() {
    let steps = random_stream(StreamShape::new(2));
    let expected = pane_oracle(&steps, 50, 50, 120);
    check_against_oracle(operator(TumblingWindow::of(ms(50)).unwrap(), 120), &steps, &expected, true);
}

#[test]
fn tumbling_window_without_stragglers_has_no_late_records() {
    let shape = StreamShape { straggler_fraction: 0.0, disorder: 20, watermark_delay: 20, ..StreamShape::new(3) };
    let steps = random_stream(shape);
    let expected = pane_oracle(&steps, 70, 70, 0);
    check_against_oracle(operator(TumblingWindow::of(ms(70)).unwrap(), 0), &steps, &expected, false);
}

#[test]
fn sliding_window_with_panes_of_gcd_matches_oracle() {
    // size 100, slide 30: panes of 10 ms, windows of 10 panes every 3 panes.
    let steps = random_stream(StreamShape::new(4));
    let expected = pane_oracle(&steps, 100, 30, 0);
    check_against_oracle(operator(SlidingWindow::of_size(ms(100)).every(ms(30)).unwrap(), 0), &steps, &expected, true);
}

#[test]
fn sliding_window_with_allowed_lateness_matches_oracle() {
    let steps = random_stream(StreamShape::new(5));
    let expected = pane_oracle(&steps, 120, 40, 45);
    check_against_oracle(operator(SlidingWindow::of_size(ms(120)).every(ms(40)).unwrap(), 45), &steps, &expected, true);
}

#[test]
fn sliding_window_at_negative_times_matches_oracle() {
    let steps = random_stream(StreamShape { base: -3_000, ..StreamShape::new(6) });
    let expected = pane_oracle(&steps, 75, 25, 10);
    check_against_oracle(operator(SlidingWindow::of_size(ms(75)).every(ms(25)).unwrap(), 10), &steps, &expected, true);
}

#[test]
fn sliding_window_with_slide_equal_to_size_matches_oracle() {
    let steps = random_stream(StreamShape::new(7));
    let expected = pane_oracle(&steps, 60, 60, 0);
    check_against_oracle(operator(SlidingWindow::of_size(ms(60)).every(ms(60)).unwrap(), 0), &steps, &expected, true);
}

#[test]
fn session_window_matches_oracle() {
    let steps = random_stream(StreamShape::new(8));
    let expected = session_oracle(&steps, 25, 0);
    check_against_oracle(operator(SessionWindow::with_gap(ms(25)).unwrap(), 0), &steps, &expected, true);
}

#[test]
fn session_window_with_allowed_lateness_matches_oracle() {
    let steps = random_stream(StreamShape::new(9));
    let expected = session_oracle(&steps, 40, 35);
    check_against_oracle(operator(SessionWindow::with_gap(ms(40)).unwrap(), 35), &steps, &expected, true);
}

#[test]
fn session_window_with_small_gap_and_many_keys_matches_oracle() {
    let shape = StreamShape { keys: 40, records: 4_000, ..StreamShape::new(10) };
    let steps = random_stream(shape);
    let expected = session_oracle(&steps, 7, 3);
    check_against_oracle(operator(SessionWindow::with_gap(ms(7)).unwrap(), 3), &steps, &expected, true);
}

/// Snapshot at a barrier after `cut` steps, restore into a fresh operator (and a
/// fresh harness, as after a restart) and continue: the output must equal the
/// uninterrupted run's, and so must dead letters and the late count.
fn check_restore_equals_uninterrupted(make: impl Fn() -> Op, steps: &[Step], cuts: &[usize]) {
    let mut whole = OperatorHarness::new(make());
    let mut dead_whole = Vec::new();
    let all: Vec<_> = drive(&mut whole, steps, &mut dead_whole).into_iter().flatten().collect();
    assert!(!all.is_empty() && !dead_whole.is_empty());
    for &cut in cuts {
        let mut first = OperatorHarness::new(make());
        let mut dead = Vec::new();
        let mut out: Vec<_> = drive(&mut first, &steps[..cut], &mut dead).into_iter().flatten().collect();
        let snapshot = first.push_barrier().unwrap();
        assert!(!snapshot.is_empty());
        drop(first);
        let mut second = OperatorHarness::new(make());
        second.restore(&snapshot).unwrap();
        out.extend(drive(&mut second, &steps[cut..], &mut dead).into_iter().flatten());
        assert_eq!(out, all, "cut at step {cut}");
        assert_eq!(late_ids(&dead), late_ids(&dead_whole), "cut at step {cut}");
        let details = |d: &[DeadLetter]| d.iter().map(|d| d.detail.clone()).collect::<Vec<_>>();
        assert_eq!(details(&dead), details(&dead_whole));
        assert_eq!(second.operator().late_records(), whole.operator().late_records());
    }
}

#[test]
fn tumbling_window_restore_mid_stream_equals_uninterrupted() {
    let steps = random_stream(StreamShape { records: 1_200, ..StreamShape::new(11) });
    let make = || operator(TumblingWindow::of(ms(40)).unwrap(), 15);
    check_restore_equals_uninterrupted(make, &steps, &[1, steps.len() / 3, steps.len() / 2, steps.len() - 2]);
}

#[test]
fn sliding_window_restore_mid_stream_equals_uninterrupted() {
    let steps = random_stream(StreamShape { records: 1_200, ..StreamShape::new(12) });
    let make = || operator(SlidingWindow::of_size(ms(90)).every(ms(20)).unwrap(), 0);
    check_restore_equals_uninterrupted(make, &steps, &[2, steps.len() / 4, steps.len() / 2, steps.len() - 2]);
}

#[test]
fn session_window_restore_mid_stream_equals_uninterrupted() {
    let steps = random_stream(StreamShape { records: 1_200, ..StreamShape::new(13) });
    let make = || operator(SessionWindow::with_gap(ms(30)).unwrap(), 10);
    check_restore_equals_uninterrupted(make, &steps, &[3, steps.len() / 3, 2 * steps.len() / 3, steps.len() - 2]);
}

#[test]
fn window_snapshot_is_deterministic_and_restores_identically() {
    for spec in [
        WindowSpec::from(SlidingWindow::of_size(ms(50)).every(ms(10)).unwrap()),
        WindowSpec::from(SessionWindow::with_gap(ms(20)).unwrap()),
    ] {
        let steps = random_stream(StreamShape { records: 600, ..StreamShape::new(14) });
        let half = steps.len() / 2;
        let mut h = OperatorHarness::new(operator(spec, 5));
        drive(&mut h, &steps[..half], &mut Vec::new());
        let snapshot = h.push_barrier().unwrap();
        assert_eq!(h.operator().snapshot().unwrap(), snapshot, "{spec}: same state, same bytes");
        let mut restored = operator(spec, 5);
        restored.restore(&snapshot).unwrap();
        assert_eq!(restored.state_size(), h.operator().state_size());
        assert!(restored.state_size() > 0);
        assert_eq!(restored.snapshot().unwrap(), snapshot, "{spec}: restore then snapshot round-trips");
    }
}
