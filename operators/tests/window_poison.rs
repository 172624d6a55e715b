//! An aggregate that panics on one record: the record is dead-lettered by the
//! windows, and every window equals the batch result over the other records.
//! (Before, the panic failed the pipeline, which restarted until the restart
//! policy gave up.)

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tidemill_operators::window::{Count, Sum, TumblingWindow, WindowResult};
use tidemill_operators::KeyedStreamExt;
use tidemill_runtime::testing::{CollectSink, Collected, VecSource};
use tidemill_runtime::{DeadLetter, EventTime, Job, JobConfig, NodeContext, ReasonCode};

/// An order of a user: (user, event time in ms, amount).
type Order = (u32, i64, i64);

const POISON: i64 = -1;

fn orders() -> Arc<Vec<Order>> {
    // 40 s of event time, 6 users; every 997th order carries the poison amount.
    Arc::new(
        (0..8_000i64).map(|i| ((i % 6) as u32, i * 5, if i % 997 == 500 { POISON } else { (i % 13) + 1 })).collect(),
    )
}

type Row = WindowResult<u32, (u64, i64)>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_aggregate_dead_letters_its_record_and_the_windows_count_the_rest() {
    let input = orders();
    let config =
        JobConfig { batch_size: 128, checkpoint_interval: Some(Duration::from_millis(20)), ..JobConfig::default() };
    let job = Job::builder("window-poison").config(config);
    let out: Arc<Mutex<Collected<Row>>> = Arc::default();
    let dead: Arc<Mutex<Collected<DeadLetter>>> = Arc::default();
    let (i, o, d) = (input.clone(), out.clone(), dead.clone());
    let amounts = Sum::new(|o: &Order| {
        assert!(o.2 != POISON, "poisoned amount");
        o.2
    });
    job.source("orders", 1, move |ctx: &NodeContext| Ok(VecSource::new(i.clone(), ctx)))
        .assign_timestamps("event_time", |o: &Order| EventTime::from_millis(o.1), Duration::ZERO)
        .key_by(|o: &Order| o.0, 2)
        .window("windows", TumblingWindow::of(Duration::from_secs(10)).unwrap(), (Count, amounts))
        .unwrap()
        .sink("totals", move |_| Ok(CollectSink::new(o.clone())));
    job.dead_letters().sink("dlq", move |_| Ok(CollectSink::new(d.clone())));
    let summary = job.build().unwrap().run().await.expect("the job goes on past the poison records");

    let mut expected: BTreeMap<(i64, u32), (u64, i64)> = BTreeMap::new();
    for o in input.iter().filter(|o| o.2 != POISON) {
        let entry = expected.entry((o.1.div_euclid(10_000) * 10_000, o.0)).or_default();
        entry.0 += 1;
        entry.1 += o.2;
    }
    let got: BTreeMap<(i64, u32), (u64, i64)> = out
        .lock()
        .unwrap()
        .committed
        .iter()
        .map(|r| ((r.value.window_start.as_millis(), r.value.key), r.value.value))
        .collect();
    assert_eq!(got, expected, "every window over exactly the other records");
    let dead = dead.lock().unwrap();
    let poisoned: Vec<u64> = input.iter().enumerate().filter(|(_, o)| o.2 == POISON).map(|(i, _)| i as u64).collect();
    let mut got_dead: Vec<u64> = dead.committed.iter().map(|d| d.value.origin.offset.0).collect();
    got_dead.sort_unstable();
    assert_eq!(got_dead, poisoned, "each poison record once");
    assert!(dead
        .committed
        .iter()
        .all(|d| d.value.reason == ReasonCode::UserFunctionPanic && &*d.value.stage == "windows"));
    assert_eq!(summary.dead_letters, poisoned.len() as u64);
}
