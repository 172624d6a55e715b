//! Poison records outside `map`/`filter`: a custom stateful operator and a key
//! function that panic on single records. The job goes on, exactly those records
//! are dead letters, and the output equals the batch result over the others.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use tidemill_runtime::testing::{CollectSink, Collected, VecSource};
use tidemill_runtime::{
    Batch, DeadLetter, EventTime, Job, JobConfig, NodeContext, Offset, Operator, OperatorError, Output, ReasonCode,
    Record, StateSnapshot,
};

/// The value that makes [`FragileSum`] panic, half-way through its update.
const POISON: i64 = 1_000_003;

/// Sums values per key, with real snapshots; panics on [`POISON`] after it
/// already changed its state, so a poison record that were not rolled back would
/// show in the sums.
#[derive(Default)]
struct FragileSum {
    sums: BTreeMap<u32, i64>,
}

impl Operator for FragileSum {
    type In = (u32, i64);
    type Out = (u32, i64);

    fn process(&mut self, batch: Batch<(u32, i64)>, _out: &mut Output<(u32, i64)>) -> Result<(), OperatorError> {
        for r in batch {
            *self.sums.entry(r.value.0).or_default() += r.value.1;
            assert!(r.value.1 != POISON, "poison value on key {}", r.value.0);
        }
        Ok(())
    }

    fn on_watermark(&mut self, watermark: EventTime, out: &mut Output<(u32, i64)>) -> Result<(), OperatorError> {
        if watermark == EventTime::MAX {
            for (k, v) in std::mem::take(&mut self.sums) {
                out.emit(Record::new((k, v), EventTime::MAX, tidemill_runtime::Origin::INTERNAL));
            }
        }
        Ok(())
    }

    fn snapshot(&self) -> Result<StateSnapshot, OperatorError> {
        StateSnapshot::encode(&self.sums)
    }

    fn restore(&mut self, snapshot: &StateSnapshot) -> Result<(), OperatorError> {
        self.sums = if snapshot.is_empty() { BTreeMap::new() } else { snapshot.decode()? };
        Ok(())
    }
}

/// `n` values, `poison` of them equal to `marker` at random positions.
fn input(n: usize, poison: usize, marker: i64, seed: u64) -> Arc<Vec<(u32, i64)>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut values: Vec<(u32, i64)> =
        (0..n).map(|_| (rng.random_range(0..40u32), rng.random_range(-1000..1000i64))).collect();
    for _ in 0..poison {
        let i = rng.random_range(0..n);
        values[i].1 = marker;
    }
    Arc::new(values)
}

fn sums_of(values: impl Iterator<Item = (u32, i64)>) -> BTreeMap<u32, i64> {
    let mut m = BTreeMap::new();
    for (k, v) in values {
        *m.entry(k).or_default() += v;
    }
    m
}

type Out<T> = Arc<Mutex<Collected<T>>>;

fn committed_sums(out: &Out<(u32, i64)>) -> BTreeMap<u32, i64> {
    let out = out.lock().unwrap();
    let mut m = BTreeMap::new();
    for r in &out.committed {
        assert!(m.insert(r.value.0, r.value.1).is_none(), "key {} emitted twice", r.value.0);
    }
    m
}

/// Offsets (positions in the input) of the values equal to `marker`.
fn positions(values: &[(u32, i64)], marker: i64) -> Vec<u64> {
    values.iter().enumerate().filter(|(_, v)| v.1 == marker).map(|(i, _)| i as u64).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_operator_that_panics_on_one_record_dead_letters_it_and_keeps_the_rest() {
    let values = input(20_000, 4, POISON, 11);
    let config =
        JobConfig { batch_size: 64, checkpoint_interval: Some(Duration::from_millis(20)), ..JobConfig::default() };
    let job = Job::builder("poison").config(config);
    let v = values.clone();
    let out: Out<(u32, i64)> = Arc::default();
    let o = out.clone();
    job.source("numbers", 1, move |ctx: &NodeContext| Ok(VecSource::new(v.clone(), ctx)))
        .key_by(|v: &(u32, i64)| v.0, 3)
        .operator("sum", |_, _| FragileSum::default())
        .sink("collect", move |_| Ok(CollectSink::new(o.clone())));
    let dead: Out<DeadLetter> = Arc::default();
    let d = dead.clone();
    job.dead_letters().sink("dlq", move |_| Ok(CollectSink::new(d.clone())));
    let summary = job.build().unwrap().run().await.expect("the job goes on past its poison records");

    let clean = values.iter().copied().filter(|v| v.1 != POISON);
    assert_eq!(committed_sums(&out), sums_of(clean), "the state holds exactly the other records");
    let dead = dead.lock().unwrap();
    let mut got: Vec<u64> = dead.committed.iter().map(|d| d.value.origin.offset.0).collect();
    got.sort_unstable();
    assert_eq!(got, positions(&values, POISON), "each poison record is a dead letter, once");
    for d in &dead.committed {
        assert_eq!(d.value.reason, ReasonCode::UserFunctionPanic);
        assert_eq!(&*d.value.stage, "sum");
        assert!(d.value.detail.contains("poison value"), "{}", d.value.detail);
    }
    assert!(summary.restarts >= 2, "found by replaying from the checkpoint: {} restarts", summary.restarts);
    assert_eq!(summary.dead_letters, positions(&values, POISON).len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_function_that_panics_on_one_record_dead_letters_it_without_a_restart() {
    const CURSED: i64 = 777_777;
    let values = input(10_000, 5, CURSED, 12);
    let job = Job::builder("keys").config(JobConfig { batch_size: 100, ..JobConfig::default() });
    let v = values.clone();
    let out: Out<(u32, i64)> = Arc::default();
    let o = out.clone();
    job.source("numbers", 1, move |ctx: &NodeContext| Ok(VecSource::new(v.clone(), ctx)))
        .map("copy", |v: &(u32, i64)| *v)
        .key_by(
            |v: &(u32, i64)| {
                assert!(v.1 != CURSED, "no key for a cursed record");
                v.0
            },
            4,
        )
        .operator("sum", |_, _| FragileSum::default())
        .sink("collect", move |_| Ok(CollectSink::new(o.clone())));
    let dead: Out<DeadLetter> = Arc::default();
    let d = dead.clone();
    job.dead_letters().sink("dlq", move |_| Ok(CollectSink::new(d.clone())));
    let summary = job.build().unwrap().run().await.unwrap();

    assert_eq!(committed_sums(&out), sums_of(values.iter().copied().filter(|v| v.1 != CURSED)));
    let dead = dead.lock().unwrap();
    let mut got: Vec<Offset> = dead.committed.iter().map(|d| d.value.origin.offset).collect();
    got.sort_unstable();
    assert_eq!(got, positions(&values, CURSED).into_iter().map(Offset).collect::<Vec<_>>());
    for d in &dead.committed {
        assert_eq!(d.value.reason, ReasonCode::UserFunctionPanic);
        assert_eq!(&*d.value.stage, "sum", "the keyed operator whose key could not be computed");
        assert!(d.value.detail.contains("no key for a cursed record"), "{}", d.value.detail);
        let payload: (u32, i64) = serde_json::from_slice(&d.value.payload).unwrap();
        assert_eq!(payload.1, CURSED);
    }
    assert_eq!(summary.restarts, 0, "a key function is pure: no restart needed");
}
