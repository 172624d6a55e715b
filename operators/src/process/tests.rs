//! Keyed process operator: timers, state, failures and checkpoints, through the
//! operator harness.

use std::sync::Arc;
use std::time::Duration;

use tidemill_runtime::{BoxError, EventTime, OperatorHarness, ReasonCode, Record};

use super::{KeyContext, KeyedProcessFunction, KeyedProcessOperator, TimeDomain, Timer};

/// Per key: a running sum; a timer 10 ms after each key's first record emits the
/// sum and clears the key. Value 13 panics, value 7 is rejected as late.
struct SumAfterDelay;

impl KeyedProcessFunction for SumAfterDelay {
    type Key = u32;
    type In = (u32, i64);
    type Out = (u32, i64, i64);
    type State = Option<i64>;

    fn process_element(&mut self, record: &Record<(u32, i64)>, ctx: &mut KeyContext<'_, Self>) -> Result<(), BoxError> {
        match record.value.1 {
            13 => panic!("unlucky"),
            7 => {
                ctx.reject(ReasonCode::LateEvent, "seven is always late");
                return Ok(());
            }
            -1 => return Err("negative".into()),
            _ => {}
        }
        let time = record.time;
        *ctx.state().get_or_insert(0) += record.value.1;
        ctx.register_event_timer(first_timer(time));
        Ok(())
    }

    fn on_timer(&mut self, timer: Timer, ctx: &mut KeyContext<'_, Self>) -> Result<(), BoxError> {
        assert_eq!(timer.domain, TimeDomain::EventTime);
        if let Some(sum) = *ctx.state() {
            ctx.emit((*ctx.key(), sum, timer.time.as_millis()));
        }
        ctx.clear_state();
        Ok(())
    }
}

/// Timers are on a 10 ms grid so repeated registrations of one key coincide.
fn first_timer(time: EventTime) -> EventTime {
    EventTime::from_millis((time.as_millis() / 10 + 1) * 10)
}

fn operator() -> KeyedProcessOperator<SumAfterDelay> {
    KeyedProcessOperator::new(SumAfterDelay, Arc::new(|r: &(u32, i64)| r.0))
}

#[test]
fn timers_fire_in_time_then_key_order_once_the_watermark_passes() {
    let mut h = OperatorHarness::new(operator());
    h.push_timed([((2, 1), 1), ((1, 2), 3), ((2, 4), 12), ((1, 8), 5)]).unwrap();
    h.push_watermark(9).unwrap();
    assert!(h.take_values().is_empty(), "nothing is due before 10");
    h.push_watermark(10).unwrap();
    // Key 2's record at 12 arrived before the timer at 10 fired, so it is in the
    // state the timer sees (state follows arrival; timers follow event time).
    assert_eq!(h.take_values(), vec![(1, 10, 10), (2, 5, 10)]);
    h.push_watermark(25).unwrap();
    assert!(h.take_values().is_empty(), "the timer at 20 finds key 2 cleared");
    assert_eq!(h.operator().keys_with_state(), 0, "cleared state is freed");
    assert_eq!(h.operator().pending_timers(), 0);
}

#[test]
fn failures_and_rejections_become_dead_letters_and_processing_goes_on() {
    let mut h = OperatorHarness::new(operator());
    h.push_timed([((1, 13), 1), ((1, 7), 2), ((1, -1), 3), ((1, 5), 4)]).unwrap();
    h.push_end().unwrap();
    assert_eq!(h.take_values(), vec![(1, 5, 10)]);
    let reasons: Vec<_> = h.take_dead_letters().into_iter().map(|d| (d.reason, d.payload)).collect();
    assert_eq!(
        reasons,
        vec![
            (ReasonCode::UserFunctionPanic, b"[1,13]".to_vec()),
            (ReasonCode::LateEvent, b"[1,7]".to_vec()),
            (ReasonCode::UserFunctionError, b"[1,-1]".to_vec()),
        ]
    );
}

/// A run cut by a checkpoint and restored into a fresh operator emits exactly what
/// an uninterrupted run emits (the oracle), for many cut points.
#[test]
fn restore_from_any_barrier_gives_the_uninterrupted_output() {
    let input: Vec<((u32, i64), i64)> = (0..200i64).map(|i| (((i * 7 % 13) as u32, (i % 5) + 1), i / 2)).collect();
    let run = |cut: Option<usize>| {
        let mut h = OperatorHarness::new(operator());
        let mut out = Vec::new();
        for (i, chunk) in input.chunks(10).enumerate() {
            h.push_timed(chunk.iter().cloned()).unwrap();
            h.push_watermark(chunk.last().unwrap().1 - 3).unwrap();
            out.extend(h.take_values());
            if Some(i) == cut {
                let snapshot = h.push_barrier().unwrap();
                h = OperatorHarness::new(operator());
                h.restore(&snapshot).unwrap();
            }
        }
        h.push_end().unwrap();
        out.extend(h.take_values());
        out
    };
    let expected = run(None);
    assert!(expected.len() > 50);
    for cut in 0..20 {
        assert_eq!(run(Some(cut)), expected, "cut after chunk {cut}");
    }
}

/// A processing-time timeout: fires once the wall clock passes it.
struct Timeout;

impl KeyedProcessFunction for Timeout {
    type Key = u8;
    type In = u8;
    type Out = (u8, TimeDomain);
    type State = ();

    fn process_element(&mut self, _record: &Record<u8>, ctx: &mut KeyContext<'_, Self>) -> Result<(), BoxError> {
        let now = EventTime::from(chrono::Utc::now());
        ctx.register_processing_timer(now.saturating_sub(Duration::from_millis(1)));
        ctx.register_processing_timer(now.saturating_add(Duration::from_secs(3600)));
        Ok(())
    }

    fn on_timer(&mut self, timer: Timer, ctx: &mut KeyContext<'_, Self>) -> Result<(), BoxError> {
        ctx.emit((*ctx.key(), timer.domain));
        Ok(())
    }
}

#[test]
fn processing_timers_fire_when_due_and_all_at_the_end_of_input() {
    let mut h = OperatorHarness::new(KeyedProcessOperator::new(Timeout, Arc::new(|v: &u8| *v)));
    h.push_values([4]).unwrap();
    assert_eq!(h.take_values(), vec![(4, TimeDomain::ProcessingTime)], "the timer already due fires");
    h.push_watermark(1_000).unwrap();
    assert!(h.take_values().is_empty(), "the one an hour away waits");
    h.push_end().unwrap();
    assert_eq!(h.take_values(), vec![(4, TimeDomain::ProcessingTime)]);
}
