//! A batch recomputation of the order job from its whole input.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, SecondsFormat, Utc};
use tidemill_job_examples::orders::{EventKind, GeneratedEvent, OrderEvent};

/// What the order job's three tables must hold for a given input.
#[derive(Debug, Default)]
pub struct OrderOracle {
    /// `(window_start, window_end, user_id) -> order_count`, timestamps as RFC 3339.
    pub windows: BTreeMap<(String, String, String), i64>,
    /// Distinct `(order_id, user_id, amount, event_time)`.
    pub orders: BTreeSet<(String, String, i64, String)>,
    /// `line number (1-based) -> reason code` of every malformed line.
    pub dead_letters: BTreeMap<i64, String>,
    /// `(reason code, raw bytes) -> how many`, for inputs without line numbers.
    pub malformed: BTreeMap<(String, Vec<u8>), usize>,
    /// Lines of input.
    pub lines: u64,
}

/// RFC 3339 with microseconds and `Z`, as `read_delta.py` prints timestamps.
pub fn rfc3339_micros(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl OrderOracle {
    /// Recomputes the job for `events` (line `n` holds event `n - 1`) with sliding
    /// windows of `size_ms` every `slide_ms`. Assumes no record is late (the
    /// caller keeps the generator's jitter below the watermark delay).
    pub fn compute(events: impl IntoIterator<Item = GeneratedEvent>, size_ms: i64, slide_ms: i64) -> Self {
        let mut o = OrderOracle::default();
        for e in events {
            o.lines += 1;
            let line = e.seq as i64 + 1;
            match e.kind {
                EventKind::Valid(order) | EventKind::Duplicate(order) => o.add_order(&order, size_ms, slide_ms),
                EventKind::Malformed(reason) => {
                    o.dead_letters.insert(line, reason.as_str().to_string());
                    *o.malformed.entry((reason.as_str().to_string(), e.bytes)).or_default() += 1;
                }
            }
        }
        o
    }

    fn add_order(&mut self, order: &OrderEvent, size_ms: i64, slide_ms: i64) {
        let t = order.event_time.timestamp_millis();
        // Every window [k*slide, k*slide + size) with k*slide <= t < k*slide + size.
        let mut start = t.div_euclid(slide_ms) * slide_ms;
        while start + size_ms > t {
            let s = DateTime::from_timestamp_millis(start).expect("in range");
            let e = DateTime::from_timestamp_millis(start + size_ms).expect("in range");
            *self.windows.entry((rfc3339_micros(s), rfc3339_micros(e), order.user_id.clone())).or_default() += 1;
            start -= slide_ms;
        }
        self.orders.insert((
            order.order_id.clone(),
            order.user_id.clone(),
            order.amount,
            rfc3339_micros(order.event_time),
        ));
    }
}
