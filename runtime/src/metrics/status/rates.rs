//! [`RateWindow`]: per-second rates of a job's totals, over the last second or
//! more, sampled when the status API is read. Rates computed by the page from
//! two of its own readings would be as noisy as the gap between them is short
//! (a headless browser's virtual time makes it milliseconds); here the
//! reference reading is always at least [`SPAN`] old.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The shortest span a rate is taken over, once there is one.
const SPAN: Duration = Duration::from_secs(1);
/// Readings older than this are dropped.
const KEEP: Duration = Duration::from_secs(10);
/// Readings closer together than this are not kept.
const STEP: Duration = Duration::from_millis(250);

/// One reading of the totals: per node (in, out), per edge seconds blocked.
#[derive(Clone, Debug, Default)]
pub(crate) struct Totals {
    pub(crate) nodes: BTreeMap<String, (u64, u64)>,
    pub(crate) edges: BTreeMap<(String, String), f64>,
}

/// Rates: per node (in/s, out/s), per edge the share of time blocked (0 to 1).
#[derive(Clone, Debug, Default)]
pub(crate) struct Rates {
    pub(crate) nodes: BTreeMap<String, (f64, f64)>,
    pub(crate) edges: BTreeMap<(String, String), f64>,
}

/// Recent readings, oldest first.
#[derive(Default)]
pub(crate) struct RateWindow(Mutex<VecDeque<(Instant, Totals)>>);

impl RateWindow {
    /// Takes `now`'s reading and returns the rates since the newest reading at
    /// least a second old (or the oldest there is); empty on the first reading.
    pub(crate) fn rates(&self, now: Totals) -> Rates {
        let at = Instant::now();
        let mut readings = self.0.lock().unwrap_or_else(|p| p.into_inner());
        while readings.front().is_some_and(|(t, _)| at.duration_since(*t) > KEEP) {
            readings.pop_front();
        }
        let reference =
            readings.iter().rev().find(|(t, _)| at.duration_since(*t) >= SPAN).or(readings.front()).cloned();
        if readings.back().is_none_or(|(t, _)| at.duration_since(*t) >= STEP) {
            readings.push_back((at, now.clone()));
        }
        let Some((then, old)) = reference else { return Rates::default() };
        let seconds = at.duration_since(then).as_secs_f64();
        if seconds <= 0.0 {
            return Rates::default();
        }
        let nodes = now
            .nodes
            .iter()
            .filter_map(|(name, (i, o))| {
                let (oi, oo) = old.nodes.get(name)?;
                Some((name.clone(), (i.saturating_sub(*oi) as f64 / seconds, o.saturating_sub(*oo) as f64 / seconds)))
            })
            .collect();
        let edges = now
            .edges
            .iter()
            .filter_map(|(key, blocked)| {
                let before = old.edges.get(key)?;
                Some((key.clone(), ((blocked - before) / seconds).clamp(0.0, 1.0)))
            })
            .collect();
        Rates { nodes, edges }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_rate_from_one_reading_then_rates_over_the_window() {
        let window = RateWindow::default();
        let totals = |n: u64, blocked: f64| Totals {
            nodes: [("a".to_string(), (n, n / 2))].into(),
            edges: [(("a".to_string(), "b".to_string()), blocked)].into(),
        };
        assert!(window.rates(totals(0, 0.0)).nodes.is_empty());
        std::thread::sleep(Duration::from_millis(300));
        let rates = window.rates(totals(300, 10.0));
        let (rate_in, rate_out) = rates.nodes["a"];
        assert!((500.0..=1_000.0).contains(&rate_in) && rate_out < rate_in, "{rates:?}");
        assert_eq!(rates.edges[&("a".to_string(), "b".to_string())], 1.0, "blocked share is at most 1");
    }
}
