//! A deterministic generator of order events as JSON bytes: valid orders, out of
//! order within a bound, exact duplicates, and malformed records of every kind the
//! decoder classifies.
//!
//! The same [`GeneratorConfig`] always gives the same byte sequence, so a test can
//! run a job on the generator (or on a file written by [`write_jsonl`]) and build
//! the expected result from [`OrderGenerator::events`], which tags each event with
//! what it is.

mod config_error;
mod source;
mod writer;

#[cfg(test)]
mod tests;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tidemill_runtime::{EventTime, ReasonCode};

pub use config_error::GeneratorConfigError;
pub use source::GeneratorSource;
use writer::{EventWriter, Order};

use super::event::OrderEvent;

/// A duplicate re-sends a valid order from at most this many events back, as a
/// producer retry would: recent enough to stay within a sensible out-of-orderness
/// bound (see [`GeneratorConfig::max_out_of_orderness`]).
pub const DUPLICATE_LOOKBACK: usize = 64;

/// The decode failures the generator produces, in the order it picks them.
pub const MALFORMED_REASONS: [ReasonCode; 7] = [
    ReasonCode::NotUtf8,
    ReasonCode::NotJson,
    ReasonCode::NotObject,
    ReasonCode::MissingField,
    ReasonCode::NullField,
    ReasonCode::WrongType,
    ReasonCode::BadTimestamp,
];

/// What to generate. Deserialises from TOML/JSON with defaults for absent fields;
/// `max_jitter` is written like `"2s"` or `"500ms"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GeneratorConfig {
    /// Seed of the ChaCha random stream: same seed, same bytes.
    pub seed: u64,
    /// Total number of events, duplicates and malformed ones included.
    pub count: u64,
    /// Number of distinct users (`u-0` .. `u-{users-1}`, uniformly drawn).
    pub users: u32,
    /// Event time of the first event.
    #[serde(with = "tidemill_operators::decode::rfc3339")]
    pub start: DateTime<Utc>,
    /// Events per second of event time: event `n` has nominal time
    /// `start + n / events_per_second_event_time` (100 gives a 10 ms gap).
    pub events_per_second_event_time: f64,
    /// Records per second of wall-clock time for [`GeneratorSource`]; `None` is as
    /// fast as possible.
    pub rate_limit: Option<u64>,
    /// Out-of-orderness: a valid order's event time is its nominal time minus a
    /// uniform draw from `[0, max_jitter]` (millisecond steps).
    #[serde(with = "humantime_serde")]
    pub max_jitter: Duration,
    /// Share of events that re-send an earlier valid order's exact bytes.
    pub duplicate_share: f64,
    /// Share of events that are malformed (every reason in [`MALFORMED_REASONS`],
    /// equally likely).
    pub malformed_share: f64,
    /// Share of events that are valid orders arriving late: their event time is
    /// their nominal time minus a uniform draw from `[late_min, late_max]`, far
    /// behind the watermark (a device that was offline). 0 by default.
    pub late_share: f64,
    /// The least lateness of a late order.
    #[serde(with = "humantime_serde")]
    pub late_min: Duration,
    /// The greatest lateness of a late order.
    #[serde(with = "humantime_serde")]
    pub late_max: Duration,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            seed: 42,
            count: 1_000_000,
            users: 1_000,
            start: DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default(), // 2026-01-01T00:00:00Z
            events_per_second_event_time: 100.0,
            rate_limit: None,
            max_jitter: Duration::from_secs(2),
            duplicate_share: 0.01,
            malformed_share: 0.01,
            late_share: 0.0,
            late_min: Duration::from_secs(15 * 60),
            late_max: Duration::from_secs(40 * 60),
        }
    }
}

/// Why the generator cannot run.
#[derive(Debug, thiserror::Error)]
pub enum GeneratorError {
    /// The configuration breaks a rule (the error is displayed inline, not as a
    /// source, so that a chain prints it once).
    #[error("invalid generator config: {0}")]
    InvalidConfig(GeneratorConfigError),
    /// Writing the output file failed.
    #[error("cannot write {path}: {source}", path = path.display())]
    Io {
        /// The file being written.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl GeneratorConfig {
    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), GeneratorError> {
        let invalid = |rule: GeneratorConfigError| Err(GeneratorError::InvalidConfig(rule));
        if self.users == 0 {
            return invalid(GeneratorConfigError::NoUsers);
        }
        if !(self.events_per_second_event_time.is_finite() && self.events_per_second_event_time > 0.0) {
            return invalid(GeneratorConfigError::EventRate(self.events_per_second_event_time));
        }
        if self.rate_limit == Some(0) {
            return invalid(GeneratorConfigError::ZeroRateLimit);
        }
        let shares = [
            ("duplicate_share", self.duplicate_share),
            ("malformed_share", self.malformed_share),
            ("late_share", self.late_share),
        ];
        for (name, share) in shares {
            if !(0.0..=1.0).contains(&share) {
                return invalid(GeneratorConfigError::ShareOutOfRange { name, share });
            }
        }
        if self.duplicate_share + self.malformed_share + self.late_share > 1.0 {
            return invalid(GeneratorConfigError::SharesAboveOne);
        }
        if self.late_min > self.late_max {
            return invalid(GeneratorConfigError::LateRange { min: self.late_min, max: self.late_max });
        }
        // Timestamps are written with four-digit years.
        let (first, last) = (self.start.timestamp_millis(), self.nominal_millis(self.count));
        let lowest =
            first.saturating_sub(tidemill_runtime::duration_millis(self.max_out_of_orderness().max(self.late_max)));
        const YEAR_1: i64 = -62_135_596_800_000;
        const YEAR_10000: i64 = 253_402_300_800_000;
        if lowest < YEAR_1 || last >= YEAR_10000 {
            return invalid(GeneratorConfigError::TimesOutOfRange);
        }
        Ok(())
    }

    /// The largest amount by which an event's time can lag the newest event time
    /// generated before it: the jitter plus the age of the oldest order a duplicate
    /// may repeat. A watermark with this out-of-orderness bound sees no late events.
    pub fn max_out_of_orderness(&self) -> Duration {
        let lookback = DUPLICATE_LOOKBACK as f64 / self.events_per_second_event_time.max(f64::MIN_POSITIVE);
        // + 1 ms for the rounding of nominal times down to whole milliseconds.
        self.max_jitter
            .saturating_add(Duration::try_from_secs_f64(lookback).unwrap_or(Duration::MAX))
            .saturating_add(Duration::from_millis(1))
    }

    /// Nominal event time of event `seq` (before jitter), in milliseconds.
    fn nominal_millis(&self, seq: u64) -> i64 {
        let offset = seq as f64 * 1000.0 / self.events_per_second_event_time;
        self.start.timestamp_millis().saturating_add(offset as i64)
    }
}

/// What a generated event is, for building expected results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A new valid order.
    Valid(OrderEvent),
    /// The exact bytes of an earlier valid order again.
    Duplicate(OrderEvent),
    /// A record the decoder must reject with this reason.
    Malformed(ReasonCode),
}

/// One generated event: its bytes and what they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratedEvent {
    /// Sequence number, from 0 (the offset [`GeneratorSource`] gives it).
    pub seq: u64,
    /// The JSON bytes (never containing `\n` or `\r`).
    pub bytes: Vec<u8>,
    /// What the bytes are.
    pub kind: EventKind,
    /// A valid order generated late (see [`GeneratorConfig::late_share`]), or a
    /// duplicate of one.
    pub late: bool,
}

/// What one step generated, without allocating.
#[derive(Copy, Clone, Debug)]
enum Generated {
    Valid(Order),
    Duplicate(Order),
    Malformed(ReasonCode),
}

impl Generated {
    fn is_late(&self) -> bool {
        matches!(self, Generated::Valid(o) | Generated::Duplicate(o) if o.late)
    }
}

/// The deterministic event generator. It is also an iterator over
/// [`GeneratedEvent`]s; [`OrderGenerator::write_next`] is the allocation-free path.
#[derive(Debug)]
pub struct OrderGenerator {
    config: GeneratorConfig,
    rng: ChaCha8Rng,
    next_seq: u64,
    jitter_ms: u64,
    /// Slot `seq % DUPLICATE_LOOKBACK` holds event `seq`'s order if it was a new
    /// valid one: the orders a duplicate may repeat.
    recent: [Option<Order>; DUPLICATE_LOOKBACK],
    /// How many slots of `recent` are filled.
    recent_valid: usize,
    writer: EventWriter,
}

impl OrderGenerator {
    /// A generator at the first event.
    pub fn new(config: GeneratorConfig) -> Result<Self, GeneratorError> {
        config.validate()?;
        Ok(OrderGenerator {
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            next_seq: 0,
            jitter_ms: u64::try_from(config.max_jitter.as_millis()).unwrap_or(u64::MAX),
            recent: [None; DUPLICATE_LOOKBACK],
            recent_valid: 0,
            writer: EventWriter::default(),
            config,
        })
    }

    /// The whole sequence for `config`, tagged, for building oracles in tests.
    ///
    /// # Panics
    /// If the configuration is invalid (check it first with [`GeneratorConfig::validate`]).
    pub fn events(config: &GeneratorConfig) -> impl Iterator<Item = GeneratedEvent> + Send {
        match OrderGenerator::new(config.clone()) {
            Ok(generator) => generator,
            Err(e) => panic!("{e}"),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &GeneratorConfig {
        &self.config
    }

    /// Sequence number of the next event; equals the number generated so far.
    pub fn position(&self) -> u64 {
        self.next_seq
    }

    /// Whether every event has been generated.
    pub fn is_done(&self) -> bool {
        self.next_seq >= self.config.count
    }

    /// Appends the next event's bytes to `buf`; `false` at the end.
    pub fn write_next(&mut self, buf: &mut Vec<u8>) -> bool {
        self.step(buf).is_some()
    }

    /// Skips forward until [`position`](Self::position) is `seq` (or the end).
    /// Events depend on the random stream before them, so they are regenerated.
    pub fn skip_to(&mut self, seq: u64) {
        let mut scratch = Vec::with_capacity(128);
        while self.next_seq < seq && self.step(&mut scratch).is_some() {
            scratch.clear();
        }
    }

    fn step(&mut self, buf: &mut Vec<u8>) -> Option<Generated> {
        if self.is_done() {
            return None;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let draw: f64 = self.rng.random();
        if draw < self.config.duplicate_share && self.recent_valid > 0 {
            let pick = self.rng.random_range(0..self.recent_valid);
            let order = self.recent.iter().flatten().nth(pick).copied();
            self.remember(seq, None);
            let order = order?; // always there: `pick` < the number of filled slots
            self.writer.valid(buf, &order);
            return Some(Generated::Duplicate(order));
        }
        let mut order = Order {
            seq,
            user: self.rng.random_range(0..self.config.users),
            amount: self.rng.random_range(1..=100_000),
            time_ms: self.config.nominal_millis(seq) - self.rng.random_range(0..=self.jitter_ms) as i64,
            late: false,
        };
        let malformed_from = self.config.duplicate_share;
        let late_from = malformed_from + self.config.malformed_share;
        if (late_from..late_from + self.config.late_share).contains(&draw) {
            let (lo, hi) = (self.config.late_min.as_millis() as i64, self.config.late_max.as_millis() as i64);
            order.time_ms = self.config.nominal_millis(seq) - self.rng.random_range(lo..=hi);
            order.late = true;
        }
        if (malformed_from..malformed_from + self.config.malformed_share).contains(&draw) {
            let reason = MALFORMED_REASONS[self.rng.random_range(0..MALFORMED_REASONS.len())];
            let variant = self.rng.random_range(0..writer::variants(reason));
            self.writer.malformed(buf, reason, variant, &order);
            self.remember(seq, None);
            return Some(Generated::Malformed(reason));
        }
        self.writer.valid(buf, &order);
        self.remember(seq, Some(order));
        Some(Generated::Valid(order))
    }

    /// Records what event `seq` was, replacing event `seq - DUPLICATE_LOOKBACK`.
    fn remember(&mut self, seq: u64, order: Option<Order>) {
        let slot = &mut self.recent[(seq % DUPLICATE_LOOKBACK as u64) as usize];
        self.recent_valid = self.recent_valid + usize::from(order.is_some()) - usize::from(slot.is_some());
        *slot = order;
    }
}

fn order_event(o: &Order) -> OrderEvent {
    OrderEvent {
        order_id: format!("o-{}", o.seq),
        user_id: format!("u-{}", o.user),
        amount: o.amount,
        event_time: EventTime::from_millis(o.time_ms).to_utc(),
    }
}

impl Iterator for OrderGenerator {
    type Item = GeneratedEvent;

    fn next(&mut self) -> Option<GeneratedEvent> {
        let seq = self.next_seq;
        let mut bytes = Vec::with_capacity(112);
        let generated = self.step(&mut bytes)?;
        let late = generated.is_late();
        let kind = match generated {
            Generated::Valid(o) => EventKind::Valid(order_event(&o)),
            Generated::Duplicate(o) => EventKind::Duplicate(order_event(&o)),
            Generated::Malformed(reason) => EventKind::Malformed(reason),
        };
        Some(GeneratedEvent { seq, bytes, kind, late })
    }
}

/// Writes the whole sequence for `config` to a JSON-lines file, one event per line,
/// so that line `n` (1-based) holds event `n - 1`. Returns the number of lines.
pub fn write_jsonl(config: &GeneratorConfig, path: impl AsRef<Path>) -> Result<u64, GeneratorError> {
    let path = path.as_ref();
    let io_err = |source| GeneratorError::Io { path: path.to_path_buf(), source };
    let mut generator = OrderGenerator::new(config.clone())?;
    let mut file = std::fs::File::create(path).map_err(io_err)?;
    // Events go into one reused buffer that is written in large chunks.
    const CHUNK: usize = 1 << 20;
    let mut buf = Vec::with_capacity(CHUNK + 256);
    while generator.write_next(&mut buf) {
        buf.push(b'\n');
        if buf.len() >= CHUNK {
            file.write_all(&buf).map_err(io_err)?;
            buf.clear();
        }
    }
    file.write_all(&buf).map_err(io_err)?;
    file.sync_all().map_err(io_err)?;
    Ok(generator.position())
}
