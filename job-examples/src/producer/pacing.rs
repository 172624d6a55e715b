//! Live production for `order-producer --live --rate N`: a pacer that releases
//! record `n` no earlier than `n / rate` seconds after the start, and a generator
//! whose event times follow it.

use std::thread;
use std::time::{Duration, Instant, SystemTime};

use crate::orders::GeneratorConfig;
use chrono::{DateTime, Utc};

/// A live generator: event `n` has the nominal time `start + n / rate` (before its
/// jitter), the moment a [`Pacer`] of `rate` started at `start` sends it.
pub fn live_config(config: GeneratorConfig, rate: u64, start: DateTime<Utc>) -> GeneratorConfig {
    GeneratorConfig { start, events_per_second_event_time: rate as f64, ..config }
}

/// Paces records to a rate: record `n` waits until `n / rate` seconds after the
/// start. Sleeps last at least 1 ms (a thousand wake-ups a second at most), so a
/// record may go out up to about 1 ms after its time, never before it.
pub struct Pacer {
    /// When the pacer started.
    pub started: Instant,
    /// The wall clock at `started`.
    pub started_wall: SystemTime,
    /// Records per second.
    pub rate: f64,
    /// The most a record was sent after its time (how far the producer fell behind).
    pub max_behind: Duration,
}

impl Pacer {
    /// A pacer of `rate` records per second, starting now.
    pub fn new(rate: u64) -> Self {
        Pacer {
            started: Instant::now(),
            started_wall: SystemTime::now(),
            rate: rate as f64,
            max_behind: Duration::ZERO,
        }
    }

    /// When record `n` may be sent, relative to the start.
    pub fn due(&self, n: u64) -> Duration {
        Duration::from_secs_f64(n as f64 / self.rate)
    }

    /// Waits until record `n` may be sent.
    pub fn wait(&mut self, n: u64) {
        let due = self.due(n);
        let now = self.started.elapsed();
        match due.checked_sub(now) {
            Some(ahead) if !ahead.is_zero() => thread::sleep(ahead.max(Duration::from_millis(1))),
            _ => self.max_behind = self.max_behind.max(now - due),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::OrderGenerator;

    /// What a live run does, without Kafka: the pacer releases each generated event
    /// no earlier than its time, and its event time never lies ahead of the wall
    /// clock. The lower bounds are exact; the upper one is far above what a busy
    /// machine needs.
    #[test]
    fn live_event_times_follow_the_wall_clock_and_the_rate_paces() {
        use crate::orders::EventKind;
        const RATE: u64 = 4_000;
        const EVENTS: u64 = 600; // 150 ms
        let jitter = Duration::from_millis(20);
        let mut pacer = Pacer::new(RATE);
        let start = DateTime::<Utc>::from(pacer.started_wall);
        let config = GeneratorConfig { count: EVENTS, max_jitter: jitter, ..GeneratorConfig::default() };
        let config = live_config(config, RATE, start);
        let mut checked = 0;
        for event in OrderGenerator::events(&config) {
            pacer.wait(event.seq);
            let now = DateTime::<Utc>::from(SystemTime::now());
            assert!(pacer.started.elapsed() >= pacer.due(event.seq), "event {} sent early", event.seq);
            let EventKind::Valid(order) = event.kind else { continue };
            // Milliseconds are truncated, so the event time is never after the send.
            assert!(order.event_time <= now, "event {} from the future: {} > {now}", event.seq, order.event_time);
            let scheduled = start + pacer.due(event.seq);
            let jitter = chrono::Duration::from_std(jitter).unwrap();
            // - 2 ms: the start and the nominal time are both truncated to milliseconds.
            let earliest = scheduled - jitter - chrono::Duration::milliseconds(2);
            assert!(order.event_time >= earliest, "event {}: {} < {earliest}", event.seq, order.event_time);
            assert!(now - order.event_time < jitter + chrono::Duration::seconds(5), "event {} too old", event.seq);
            checked += 1;
        }
        assert!(checked > EVENTS * 9 / 10, "{checked} valid events checked");
        assert!(pacer.started.elapsed() >= Duration::from_secs_f64((EVENTS - 1) as f64 / RATE as f64));
    }
}
