//! Hand-made cases: aggregates, specs, firing boundaries, lateness, state cleanup.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tidemill_runtime::{EventTime, Operator, OperatorHarness, ReasonCode, StateSnapshot};

use crate::window::{
    Aggregate, Avg, Count, Max, Min, SessionWindow, SessionWindowOperator, SlidingWindow, Sum, TumblingWindow,
    WindowError, WindowOperator, WindowResult, WindowSettings, WindowSpec,
};

type Pair = (String, i64);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn count_op(spec: impl Into<WindowSpec>, lateness_ms: u64) -> WindowOperator<Pair, String, Count> {
    WindowOperator::new(
        WindowSettings::new(spec).with_allowed_lateness(ms(lateness_ms)),
        Arc::new(|p: &Pair| p.0.clone()),
        Count,
    )
    .unwrap()
}

fn rec(key: &str, v: i64, t: i64) -> (Pair, i64) {
    ((key.to_string(), v), t)
}

/// (start, end, key, value) of results, for compact assertions.
fn summary<V: Clone>(results: &[WindowResult<String, V>]) -> Vec<(i64, i64, String, V)> {
    results
        .iter()
        .map(|r| (r.window_start.as_millis(), r.window_end.as_millis(), r.key.clone(), r.value.clone()))
        .collect()
}

#[test]
fn window_builtin_aggregates_are_correct() {
    let agg = (
        Count,
        Sum::new(|p: &Pair| p.1),
        Min::new(|p: &Pair| p.1),
        Max::new(|p: &Pair| p.1),
        Avg::new(|p: &Pair| p.1 as f64),
    );
    let op = WindowOperator::new(TumblingWindow::of(ms(10)).unwrap(), Arc::new(|p: &Pair| p.0.clone()), agg).unwrap();
    let mut h = OperatorHarness::new(op);
    h.push_timed([rec("a", 4, 1), rec("a", -3, 9), rec("a", 8, 5), rec("b", 7, 2), rec("a", 100, 10)]).unwrap();
    h.push_end().unwrap();
    let got = summary(&h.take_values());
    assert_eq!(
        got,
        vec![
            (0, 10, "a".to_string(), (3, 9, -3, 8, 3.0)),
            (0, 10, "b".to_string(), (1, 7, 7, 7, 7.0)),
            (10, 20, "a".to_string(), (1, 100, 100, 100, 100.0)),
        ]
    );
}

#[test]
fn window_aggregate_merge_equals_adding_everything() {
    let avg = Avg::new(|x: &i64| *x as f64);
    let (mut left, mut right, mut all) = (avg.init(), avg.init(), avg.init());
    for x in [1, 2, 3] {
        avg.add(&mut left, &x);
        avg.add(&mut all, &x);
    }
    for x in [10, 20] {
        avg.add(&mut right, &x);
        avg.add(&mut all, &x);
    }
    avg.merge(&mut left, &right);
    assert_eq!(avg.finish(&left), avg.finish(&all));
    assert_eq!(avg.finish(&left), 7.2);
    let sum = Sum::new(|x: &i64| *x);
    let mut acc = sum.init();
    sum.add(&mut acc, &i64::MAX);
    sum.add(&mut acc, &1);
    assert_eq!(sum.finish(&acc), i64::MAX, "sums saturate instead of overflowing");
}

#[test]
fn window_invalid_specs_are_rejected() {
    assert!(matches!(TumblingWindow::of(ms(0)), Err(WindowError::Zero { what: "size", .. })));
    assert!(matches!(SessionWindow::with_gap(ms(0)), Err(WindowError::Zero { what: "gap", .. })));
    assert!(matches!(SlidingWindow::of_size(ms(10)).every(ms(0)), Err(WindowError::Zero { what: "slide", .. })));
    assert!(matches!(SlidingWindow::of_size(ms(10)).every(ms(11)), Err(WindowError::SlideLargerThanSize { .. })));
    assert!(matches!(TumblingWindow::of(Duration::from_micros(1_500)), Err(WindowError::SubMillisecond { .. })));
    let err = SlidingWindow::of_size(ms(10)).every(ms(11)).unwrap_err().to_string();
    assert!(err.contains("slide") && err.contains("size"), "{err}");
    let lateness = WindowOperator::new(
        WindowSettings::from(TumblingWindow::of(ms(10)).unwrap()).with_allowed_lateness(Duration::from_nanos(10)),
        Arc::new(|p: &Pair| p.0.clone()),
        Count,
    );
    assert!(matches!(lateness, Err(WindowError::SubMillisecond { what: "allowed lateness", .. })));
    assert_eq!(SlidingWindow::of_size(ms(100)).every(ms(30)).unwrap().pane_millis(), 10);
}

#[test]
fn window_fires_exactly_at_end_minus_one_plus_lateness() {
    for lateness in [0, 7] {
        let mut h = OperatorHarness::new(count_op(TumblingWindow::of(ms(10)).unwrap(), lateness as u64));
        h.push_timed([rec("a", 0, 3)]).unwrap();
        h.push_watermark(8 + lateness).unwrap();
        assert!(h.take_values().is_empty(), "W = end - 2 + lateness: not yet");
        h.push_watermark(9 + lateness).unwrap();
        let out = h.take_output();
        assert_eq!(out.len(), 1, "W = end - 1 + lateness fires");
        assert_eq!(out[0].time, EventTime::from_millis(9));
        assert_eq!(h.operator().state_size(), 0, "fired state is freed");
    }
}

#[test]
fn window_is_emitted_once_across_repeated_watermarks() {
    let mut h = OperatorHarness::new(count_op(SlidingWindow::of_size(ms(20)).every(ms(5)).unwrap(), 0));
    h.push_timed([rec("a", 0, 1), rec("b", 0, 12), rec("a", 0, 33)]).unwrap();
    let mut seen = HashSet::new();
    let mut total = 0;
    for w in [5, 5, 19, 19, 20, 30, 24, 50, 50] {
        h.push_watermark(w).unwrap();
        for r in h.take_values() {
            total += 1;
            assert!(seen.insert((r.window_start, r.key.clone())), "duplicate {r:?}");
        }
    }
    h.push_end().unwrap();
    total += h.take_values().len();
    // Each record is in size/slide = 4 windows; all windows distinct per key.
    assert_eq!(total, 12);
}

#[test]
fn window_results_are_ordered_by_end_then_key() {
    let mut h = OperatorHarness::new(count_op(SlidingWindow::of_size(ms(10)).every(ms(5)).unwrap(), 0));
    h.push_timed([rec("z", 0, 7), rec("m", 0, 6), rec("a", 0, 1), rec("b", 0, 13)]).unwrap();
    h.push_end().unwrap();
    let got: Vec<(i64, String)> = h.take_values().into_iter().map(|r| (r.window_end.as_millis(), r.key)).collect();
    let want: Vec<(i64, String)> =
        [(5, "a"), (10, "a"), (10, "m"), (10, "z"), (15, "b"), (15, "m"), (15, "z"), (20, "b")]
            .into_iter()
            .map(|(e, k)| (e, k.to_string()))
            .collect();
    assert_eq!(got, want);
}

#[test]
fn window_sliding_record_updates_exactly_one_pane() {
    // 60 ms windows every 10 ms: a record is in 6 windows but updates 1 accumulator.
    let mut h = OperatorHarness::new(count_op(SlidingWindow::of_size(ms(60)).every(ms(10)).unwrap(), 0));
    h.push_timed([rec("a", 0, 15)]).unwrap();
    assert_eq!(h.operator().state_size(), 1);
    h.push_timed([rec("a", 0, 17), rec("b", 0, 18)]).unwrap();
    assert_eq!(h.operator().state_size(), 2, "same pane: (pane 1, a) and (pane 1, b)");
    h.push_end().unwrap();
    assert_eq!(h.take_values().len(), 12, "6 windows for each of a and b");
}

#[test]
fn window_late_record_goes_to_dead_letters_with_detail() {
    let mut h = OperatorHarness::new(count_op(TumblingWindow::of(ms(100)).unwrap(), 0));
    h.push_timed([rec("a", 1, 150)]).unwrap();
    h.push_watermark(199).unwrap();
    assert_eq!(h.take_values().len(), 1);
    // 199 is in the fired [100, 200): late; 200 is in the open [200, 300).
    h.push_timed([rec("a", 2, 199), rec("a", 3, 200)]).unwrap();
    let dead = h.take_dead_letters();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].reason, ReasonCode::LateEvent);
    assert_eq!(dead[0].payload, serde_json::to_vec(&("a", 2)).unwrap());
    for part in ["time 199 ms", "[100, 200)", "watermark 199 ms"] {
        assert!(dead[0].detail.contains(part), "{} lacks {part}", dead[0].detail);
    }
    assert_eq!(h.operator().late_records(), 1);
    h.push_end().unwrap();
    assert_eq!(summary(&h.take_values()), vec![(200, 300, "a".to_string(), 1)], "the late record counts nowhere");
}

#[test]
fn window_sliding_record_is_rejected_when_any_of_its_windows_fired() {
    let mut h = OperatorHarness::new(count_op(SlidingWindow::of_size(ms(20)).every(ms(10)).unwrap(), 0));
    h.push_timed([rec("a", 0, 5)]).unwrap();
    h.push_watermark(19).unwrap(); // fires [-10, 10) and [0, 20)
    assert_eq!(h.take_values().len(), 2);
    // 15 lies in [0, 20) (fired) and [10, 30) (open): rejected entirely.
    h.push_timed([rec("a", 0, 15), rec("a", 0, 21)]).unwrap();
    assert_eq!(h.take_dead_letters().len(), 1);
    h.push_end().unwrap();
    assert_eq!(summary(&h.take_values()), vec![(10, 30, "a".to_string(), 1), (20, 40, "a".to_string(), 1)]);
}

#[test]
fn window_tumbling_aligns_negative_times_to_epoch() {
    let mut h = OperatorHarness::new(count_op(TumblingWindow::of(ms(100)).unwrap(), 0));
    h.push_timed([rec("a", 0, -1), rec("a", 0, -100), rec("a", 0, -101), rec("a", 0, 0)]).unwrap();
    h.push_end().unwrap();
    let got = summary(&h.take_values());
    let a = || "a".to_string();
    assert_eq!(got, vec![(-200, -100, a(), 1), (-100, 0, a(), 2), (0, 100, a(), 1)]);
}

#[test]
fn window_end_of_input_fires_everything_and_later_records_are_late() {
    let mut h = OperatorHarness::new(count_op(SessionWindow::with_gap(ms(1_000)).unwrap(), 500));
    h.push_timed([rec("a", 0, 10), rec("b", 0, 5_000_000)]).unwrap();
    h.push_end().unwrap();
    assert_eq!(h.take_values().len(), 2);
    assert_eq!(h.operator().state_size(), 0);
    h.push_timed([rec("a", 0, i64::MAX - 1)]).unwrap();
    assert_eq!(h.take_dead_letters().len(), 1, "after +inf every record is late");
}

#[test]
fn window_sessions_merge_on_overlap_not_on_touch() {
    let mut h = OperatorHarness::new(count_op(SessionWindow::with_gap(ms(15)).unwrap(), 0));
    // a: 0 and 10 overlap -> [0, 25); 30 -> [30, 45); then 20 bridges both.
    // b: 0 and 15 are exactly one gap apart -> two sessions.
    h.push_timed([rec("a", 0, 0), rec("a", 0, 10), rec("a", 0, 30), rec("b", 0, 0), rec("b", 0, 15)]).unwrap();
    assert_eq!(h.operator().state_size(), 4);
    h.push_timed([rec("a", 0, 20)]).unwrap();
    assert_eq!(h.operator().state_size(), 3);
    h.push_end().unwrap();
    let got = summary(&h.take_values());
    let s = |k: &str| k.to_string();
    assert_eq!(got, vec![(0, 15, s("b"), 1), (15, 30, s("b"), 1), (0, 45, s("a"), 4)]);
}

#[test]
fn window_session_lateness_rules() {
    let mut h = OperatorHarness::new(count_op(SessionWindow::with_gap(ms(10)).unwrap(), 0));
    h.push_timed([rec("a", 0, 100), rec("b", 0, 100), rec("b", 0, 130)]).unwrap();
    h.push_watermark(109).unwrap(); // fires a [100, 110) and b [100, 110)
    assert_eq!(h.take_values().len(), 2);
    // a@105: behind the watermark, its own session [105, 115) would not have fired
    // yet, but it overlaps a's emitted session: late (rule 2).
    // c@105: same time, no fired session of c: accepted.
    // b@99: [99, 109) would have fired at 108 <= 109: late (rule 1).
    // b@125: overlaps b's open [130, 140): accepted, extends it to [125, 140).
    h.push_timed([rec("a", 0, 105), rec("c", 0, 105), rec("b", 0, 99), rec("b", 0, 125)]).unwrap();
    let dead = h.take_dead_letters();
    let payloads: Vec<Pair> = dead.iter().map(|d| serde_json::from_slice(&d.payload).unwrap()).collect();
    assert_eq!(payloads, vec![("a".to_string(), 0), ("b".to_string(), 0)]);
    assert!(dead[0].detail.contains("[100, 110)"), "{}", dead[0].detail);
    assert!(dead[1].detail.contains("[99, 109)"), "{}", dead[1].detail);
    assert_eq!(h.operator().late_records(), 2);
    h.push_end().unwrap();
    let got = summary(&h.take_values());
    let s = |k: &str| k.to_string();
    assert_eq!(got, vec![(105, 115, s("c"), 1), (125, 140, s("b"), 2)]);
}

#[test]
fn window_session_state_is_freed_after_the_horizon() {
    let op = SessionWindowOperator::new(
        SessionWindow::with_gap(ms(10)).unwrap(),
        Arc::new(|p: &Pair| p.0.clone()),
        Count,
        ms(5),
    )
    .unwrap();
    let mut h = OperatorHarness::new(op);
    h.push_timed((0..100).map(|i| rec(&format!("k{i}"), 0, 100 + i))).unwrap();
    assert_eq!(h.operator().state_size(), 100);
    // Session of k_i: [100 + i, 110 + i), fires at 114 + i, forgotten at 123 + i.
    h.push_watermark(124).unwrap();
    assert_eq!(h.take_values().len(), 11, "k0..=k10 fired");
    assert_eq!(h.operator().state_size(), 89);
    assert_eq!(h.operator().tracked_keys(), 98, "k0 and k1 are forgotten entirely");
    let fired = 11;
    h.push_watermark(10_000).unwrap();
    assert_eq!(h.take_values().len(), 100 - fired);
    assert_eq!(h.operator().state_size(), 0);
    assert_eq!(h.operator().tracked_keys(), 0, "memory of fired sessions is dropped too");
}

#[test]
fn window_restore_rejects_other_configuration_and_accepts_empty() {
    let mut a = count_op(TumblingWindow::of(ms(10)).unwrap(), 0);
    let mut h = OperatorHarness::new(count_op(TumblingWindow::of(ms(10)).unwrap(), 0));
    h.push_timed([rec("a", 0, 1)]).unwrap();
    let snapshot = h.push_barrier().unwrap();
    let mut other_size = count_op(TumblingWindow::of(ms(20)).unwrap(), 0);
    let mut other_lateness = count_op(TumblingWindow::of(ms(10)).unwrap(), 1);
    let mut session = count_op(SessionWindow::with_gap(ms(10)).unwrap(), 0);
    assert!(other_size.restore(&snapshot).is_err());
    assert!(other_lateness.restore(&snapshot).is_err());
    assert!(session.restore(&snapshot).is_err());
    a.restore(&snapshot).unwrap();
    assert_eq!(a.state_size(), 1);
    a.restore(&StateSnapshot::empty()).unwrap();
    assert_eq!(a.state_size(), 0);
}

#[test]
fn window_avg_checkpoint_keeps_nan_and_infinity() {
    let op = WindowOperator::new(
        TumblingWindow::of(ms(10)).unwrap(),
        Arc::new(|p: &(u8, f64)| p.0),
        Avg::new(|p: &(u8, f64)| p.1),
    )
    .unwrap();
    let mut h = OperatorHarness::new(op);
    h.push_timed([((1, f64::NAN), 1), ((2, f64::INFINITY), 1)]).unwrap();
    let snapshot = h.push_barrier().unwrap();
    let mut restored = OperatorHarness::new(
        WindowOperator::new(
            TumblingWindow::of(ms(10)).unwrap(),
            Arc::new(|p: &(u8, f64)| p.0),
            Avg::new(|p: &(u8, f64)| p.1),
        )
        .unwrap(),
    );
    restored.restore(&snapshot).unwrap();
    restored.push_end().unwrap();
    let got = restored.take_values();
    assert!(got[0].value.is_nan());
    assert_eq!(got[1].value, f64::INFINITY);
}

#[test]
fn window_extreme_times_do_not_overflow() {
    for spec in [
        WindowSpec::from(TumblingWindow::of(ms(1_000)).unwrap()),
        WindowSpec::from(SlidingWindow::of_size(ms(1_000)).every(ms(300)).unwrap()),
        WindowSpec::from(SessionWindow::with_gap(ms(1_000)).unwrap()),
    ] {
        let mut h = OperatorHarness::new(count_op(spec, 60_000));
        // push_values stamps records with EventTime::MIN.
        h.push_values([("a".to_string(), 0), ("b".to_string(), 0)]).unwrap();
        h.push_timed([rec("a", 0, i64::MAX - 2), rec("a", 0, i64::MAX - 1)]).unwrap();
        h.push_watermark(0).unwrap();
        let early = h.take_values();
        assert!(early.iter().all(|r| r.window_start == EventTime::MIN || r.window_start.as_millis() < 0), "{spec}");
        assert!(!early.is_empty(), "{spec}: windows at -inf fire at watermark 0");
        h.push_end().unwrap();
        let late = h.take_values();
        assert!(!late.is_empty(), "{spec}");
        assert!(late.iter().all(|r| r.window_end == EventTime::MAX && r.key == "a"), "{spec}: {late:?}");
        let counted: u64 =
            early.iter().chain(&late).filter(|r| r.window_end == EventTime::MAX).map(|r| r.value).max().unwrap();
        assert_eq!(counted, 2, "{spec}: both records near +inf counted");
        assert_eq!(h.operator().state_size(), 0, "{spec}");
        assert!(h.take_dead_letters().is_empty(), "{spec}");
    }
}
