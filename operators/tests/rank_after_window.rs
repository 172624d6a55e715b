//! A ranking behind a keyed window, with several shards on both: every window
//! result reaches the ranking before the ranking's watermark passes it, also
//! for the windows that only fire at the end of the input.

use std::time::Duration;

use tidemill_operators::rank::{Ranked, TopN};
use tidemill_operators::window::{Count, SlidingWindow, WindowResult};
use tidemill_operators::KeyedStreamExt;
use tidemill_runtime::testing::run_collect;
use tidemill_runtime::EventTime;

type Counted = WindowResult<u32, u64>;

#[test]
fn window_results_are_never_late_at_the_ranking() {
    // (item, time ms): 4,000 items over 20 s, enough results to fill the edges.
    let input: Vec<(u32, i64)> = (0..400_000i64).map(|i| ((i * 7919 % 4000) as u32, i / 20)).collect();
    let run = run_collect(input, |s| {
        s.assign_timestamps("time", |r: &(u32, i64)| EventTime::from_millis(r.1), Duration::ZERO)
            .key_by(|r: &(u32, i64)| r.0, 2)
            .window(
                "counts",
                SlidingWindow::of_size(Duration::from_secs(10)).every(Duration::from_secs(2)).unwrap(),
                Count,
            )
            .unwrap()
            .key_by(|c: &Counted| c.window_start.as_millis(), 2)
            .process("top", || TopN::max_by(|c: &Counted| c.value, |c: &Counted| c.max_timestamp()))
    })
    .unwrap();
    assert!(
        run.dead_letters.is_empty(),
        "{} dead letters, first {:?}",
        run.dead_letters.len(),
        run.dead_letters.first()
    );
    let windows: std::collections::BTreeSet<i64> =
        run.values.iter().map(|r: &Ranked<Counted>| r.row.window_start.as_millis()).collect();
    assert_eq!(windows.len(), 14);
}
