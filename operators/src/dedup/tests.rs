//! Tests of the deduplicating operators.

use std::collections::HashSet;

use rand::{Rng, SeedableRng};
use tidemill_runtime::OperatorHarness;

use std::sync::Arc;
use std::time::Duration;

use tidemill_runtime::ReasonCode;

use super::*;

type Event = (u32, i64); // (key, payload)

fn dedup(retention_ms: u64) -> DedupByKey<Event, u32> {
    DedupByKey::new(Arc::new(|e: &Event| e.0), Duration::from_millis(retention_ms))
}

#[test]
fn forwards_first_sighting_and_counts_duplicates() {
    let mut h = OperatorHarness::new(dedup(10_000));
    h.push_timed([((1, 10), 1_000), ((2, 20), 1_000), ((1, 11), 1_500)]).unwrap();
    h.push_timed([((2, 21), 900), ((3, 30), 2_000)]).unwrap();
    assert_eq!(h.take_values(), vec![(1, 10), (2, 20), (3, 30)]);
    assert_eq!(h.operator().duplicates(), 2);
    assert!(h.take_dead_letters().is_empty(), "duplicates are not dead letters");
}

#[test]
fn evicts_keys_behind_the_horizon_and_dead_letters_late_records() {
    let mut h = OperatorHarness::new(dedup(1_000));
    h.push_timed([((1, 0), 1_000), ((2, 0), 5_000)]).unwrap();
    h.push_watermark(3_000).unwrap(); // horizon 2_000: key 1 (t=1_000) goes
    assert_eq!(h.operator().tracked_keys(), 1);
    // Still within the horizon: checked, and a duplicate.
    h.push_timed([((2, 1), 4_000)]).unwrap();
    // Behind the horizon: cannot be checked, so it is a dead letter, not output.
    h.push_timed([((1, 1), 1_999)]).unwrap();
    assert_eq!(h.take_values(), vec![(1, 0), (2, 0)]);
    let dead = h.take_dead_letters();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].reason, ReasonCode::LateEvent);
    assert_eq!(dead[0].payload, b"[1,1]".to_vec());
    assert!(dead[0].detail.contains("horizon"), "{}", dead[0].detail);
    assert_eq!((h.operator().duplicates(), h.operator().late()), (1, 1));
    // At the end of input every key goes.
    h.push_end().unwrap();
    assert_eq!(h.operator().tracked_keys(), 0);
}

#[test]
fn a_newer_duplicate_extends_the_key() {
    let mut h = OperatorHarness::new(dedup(1_000));
    h.push_timed([((7, 0), 1_000), ((7, 1), 5_000)]).unwrap();
    h.push_watermark(4_000).unwrap(); // horizon 3_000: key 7 was seen at 5_000
    h.push_timed([((7, 2), 3_500)]).unwrap();
    assert_eq!(h.take_values(), vec![(7, 0)]);
    assert_eq!(h.operator().duplicates(), 2);
}

#[test]
fn snapshot_and_restore_keep_seen_keys_and_watermark() {
    let mut h = OperatorHarness::new(dedup(1_000));
    h.push_timed([((1, 0), 10_000), ((2, 0), 10_000), ((1, 1), 10_000)]).unwrap();
    h.push_watermark(10_500).unwrap();
    let snapshot = h.push_barrier().unwrap();
    h.take_values();

    let mut restored = OperatorHarness::new(dedup(1_000));
    restored.restore(&snapshot).unwrap();
    assert_eq!(restored.operator().tracked_keys(), 2);
    assert_eq!(restored.operator().duplicates(), 1);
    restored.push_timed([((1, 2), 10_000), ((3, 0), 10_000), ((4, 0), 9_000)]).unwrap();
    assert_eq!(restored.take_values(), vec![(3, 0)]);
    // The watermark came back too: 9_000 is behind the horizon 9_500.
    assert_eq!(restored.take_dead_letters().len(), 1);
}

/// Oracle: on a random stream with duplicates and watermarks that never make a
/// record late, the output is the first occurrence of each distinct key, also
/// across a restore in the middle.
#[test]
fn output_is_the_distinct_keys_of_the_input() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    // Key group `g` is drawn in rounds 4g-4..4g+3 (8 s of event time, plus 2 s of
    // spread), so 12 s of retention always remembers a key while it recurs.
    let retention = 12_000;
    let mut h = OperatorHarness::new(dedup(retention));
    let (mut expected, mut actual, mut seen) = (Vec::new(), Vec::new(), HashSet::new());
    let mut most_tracked = 0;
    for round in 0..80i64 {
        let base = round * 1_000;
        let batch: Vec<(Event, i64)> = (0..200)
            .map(|i| {
                let key = rng.random_range(0..60) + (round as u32 / 4) * 40;
                ((key, base + i), base + rng.random_range(0..2_000))
            })
            .collect();
        for ((key, payload), _) in &batch {
            if seen.insert(*key) {
                expected.push((*key, *payload));
            }
        }
        h.push_timed(batch).unwrap();
        h.push_watermark(base - 1).unwrap();
        most_tracked = most_tracked.max(h.operator().tracked_keys());
        actual.extend(h.take_values());
        if round == 17 {
            let snapshot = h.push_barrier().unwrap();
            h = OperatorHarness::new(dedup(retention));
            h.restore(&snapshot).unwrap();
        }
    }
    h.push_end().unwrap();
    actual.extend(h.take_values());
    assert_eq!(actual, expected);
    assert!(h.take_dead_letters().is_empty());
    assert!(h.operator().duplicates() > 0);
    // Old keys were evicted along the way.
    assert!(most_tracked < seen.len() / 2, "{most_tracked} of {}", seen.len());
    assert_eq!(h.operator().tracked_keys(), 0);
}

#[test]
fn records_behind_the_horizon_are_passed_on_unverified_not_dead_lettered() {
    let mut h = OperatorHarness::new(DedupThroughTable::new(Arc::new(|e: &Event| e.0), Duration::from_millis(1_000)));
    h.push_timed([((1, 0), 1_000), ((2, 0), 5_000), ((1, 1), 1_000)]).unwrap();
    h.push_watermark(3_000).unwrap(); // horizon 2_000: key 1 (t=1_000) goes
    h.push_timed([((2, 1), 4_000), ((1, 2), 1_999), ((1, 3), 1_999)]).unwrap();
    assert_eq!(
        h.take_values(),
        vec![
            Deduped::Unique((1, 0)),
            Deduped::Unique((2, 0)),
            Deduped::Unverified((1, 2)),
            Deduped::Unverified((1, 3)),
        ],
        "behind the horizon nothing is known: both go on, for the table to decide"
    );
    assert!(h.take_dead_letters().is_empty(), "no late dead letters from the dedup stage");
    assert_eq!((h.operator().duplicates(), h.operator().unverified()), (2, 2));
    let snapshot = h.push_barrier().unwrap();
    let mut restored =
        OperatorHarness::new(DedupThroughTable::new(Arc::new(|e: &Event| e.0), Duration::from_millis(1_000)));
    restored.restore(&snapshot).unwrap();
    restored.push_timed([((2, 2), 5_000), ((1, 4), 1_500)]).unwrap();
    assert_eq!(restored.take_values(), vec![Deduped::Unverified((1, 4))]);
}
