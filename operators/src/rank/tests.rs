//! Top-N against a batch oracle (sort each group, keep `RANK() <= n`), with rows
//! arriving in random order, cut by checkpoints, and late rows.

use std::collections::BTreeMap;
use std::sync::Arc;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tidemill_runtime::{EventTime, OperatorHarness, ReasonCode};

use super::{Ranked, TopN};
use crate::process::KeyedProcessOperator;

/// (group, id, score); group `g` closes at `g * 100 + 99`.
type Row = (i64, u32, i64);

fn operator(n: usize) -> KeyedProcessOperator<TopN<i64, Row, i64>> {
    KeyedProcessOperator::new(
        TopN::new(n, |r: &Row| r.2, |r: &Row| EventTime::from_millis(r.0 * 100 + 99)),
        Arc::new(|r: &Row| r.0),
    )
}

/// `RANK() OVER (PARTITION BY group ORDER BY score DESC) <= n`, sorted for comparison.
fn oracle(rows: &[Row], n: usize) -> Vec<(i64, u32, u32)> {
    let mut groups: BTreeMap<i64, Vec<Row>> = BTreeMap::new();
    for r in rows {
        groups.entry(r.0).or_default().push(*r);
    }
    let mut out = Vec::new();
    for (g, rows) in groups {
        for r in &rows {
            let rank = 1 + rows.iter().filter(|o| o.2 > r.2).count() as u32;
            if rank as usize <= n {
                out.push((g, r.1, rank));
            }
        }
    }
    out.sort();
    out
}

fn flatten(values: Vec<Ranked<Row>>) -> Vec<(i64, u32, u32)> {
    let mut out: Vec<_> = values.into_iter().map(|r| (r.row.0, r.row.1, r.rank)).collect();
    out.sort();
    out
}

#[test]
fn top_n_equals_the_batch_ranking_for_any_order_and_cut() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for n in [1, 2, 5] {
        let mut rows: Vec<Row> = (0..400).map(|i| (rng.random_range(0..8), i, rng.random_range(0..20))).collect();
        rows.shuffle(&mut rng);
        let expected = oracle(&rows, n);
        for cut in [None, Some(3), Some(17)] {
            let mut h = OperatorHarness::new(operator(n));
            let mut out = Vec::new();
            for (i, chunk) in rows.chunks(20).enumerate() {
                h.push_timed(chunk.iter().map(|r| (*r, r.0 * 100))).unwrap();
                out.extend(h.take_values());
                if Some(i) == cut {
                    let snapshot = h.push_barrier().unwrap();
                    h = OperatorHarness::new(operator(n));
                    h.restore(&snapshot).unwrap();
                }
            }
            h.push_end().unwrap();
            out.extend(h.take_values());
            assert_eq!(flatten(out), expected, "n {n}, cut {cut:?}");
            assert_eq!(h.operator().keys_with_state(), 0);
        }
    }
}

#[test]
fn a_row_of_a_closed_group_is_late_and_the_result_stands() {
    let mut h = OperatorHarness::new(operator(1));
    h.push_timed([((0, 1, 5), 0), ((1, 2, 1), 100)]).unwrap();
    h.push_watermark(99).unwrap();
    assert_eq!(flatten(h.take_values()), vec![(0, 1, 1)]);
    h.push_timed([((0, 3, 50), 10)]).unwrap();
    let dead = h.take_dead_letters();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].reason, ReasonCode::LateEvent);
    h.push_end().unwrap();
    assert_eq!(flatten(h.take_values()), vec![(1, 2, 1)]);
}
