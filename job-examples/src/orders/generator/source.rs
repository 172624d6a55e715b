//! [`GeneratorSource`]: the order generator as a Tidemill source, optionally rate
//! limited.

use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use tidemill_runtime::{
    EventTime, NodeContext, Offset, Origin, PartitionId, PartitionInfo, Record, Source, SourceError, SourceId,
    SourceKind, SourcePoll, StateSnapshot,
};
use tokio::time::Instant;

use super::{GeneratorConfig, GeneratorError, OrderGenerator};

/// The kind of source the generator is: `generator` in the dead-letter table.
pub(crate) const GENERATOR_SOURCE_KIND: SourceKind = SourceKind::named("generator");

/// Longest a poll waits for the rate limiter before answering `Idle`, so the source
/// actor stays responsive to barriers and stop requests at very low rates.
const MAX_WAIT: Duration = Duration::from_millis(100);

/// The generator's events as a bounded source of raw JSON bytes.
///
/// One partition (0); a record's offset is its sequence number, from 0, so offset
/// `n` holds the same bytes as line `n + 1` of [`write_jsonl`](super::write_jsonl)'s
/// file. Record time is ingestion time. With `rate_limit` set, a token bucket paces
/// the output in wall-clock time (sleeping on the tokio timer, never spinning).
pub struct GeneratorSource {
    generator: OrderGenerator,
    source: SourceId,
    limiter: Option<TokenBucket>,
}

/// The position saved at a checkpoint.
#[derive(Serialize, Deserialize)]
struct Position {
    next_seq: u64,
}

impl GeneratorSource {
    /// A source for `config`; registers its partition in `ctx.catalog`.
    pub fn new(config: GeneratorConfig, ctx: &NodeContext) -> Result<Self, GeneratorError> {
        let info = PartitionInfo {
            kind: GENERATOR_SOURCE_KIND,
            name: format!("generator(seed={})", config.seed),
            partition: None,
        };
        let limiter = config.rate_limit.map(|rate| TokenBucket::new(rate as f64));
        let generator = OrderGenerator::new(config)?;
        ctx.catalog.register(ctx.source_id, PartitionId(0), info);
        Ok(GeneratorSource { generator, source: ctx.source_id, limiter })
    }

    /// Sequence number of the next record.
    pub fn position(&self) -> u64 {
        self.generator.position()
    }
}

impl Source for GeneratorSource {
    type Out = Vec<u8>;

    async fn poll(&mut self, max_records: usize) -> Result<SourcePoll<Vec<u8>>, SourceError> {
        if self.generator.is_done() {
            return Ok(SourcePoll::End);
        }
        let allowed = match &mut self.limiter {
            Some(bucket) => bucket.acquire(max_records).await,
            None => max_records,
        };
        if allowed == 0 {
            return Ok(SourcePoll::Idle);
        }
        let now = EventTime::from(Utc::now());
        let mut batch = Vec::with_capacity(allowed.min(4096));
        for _ in 0..allowed {
            let seq = self.generator.position();
            let mut bytes = Vec::with_capacity(112);
            if !self.generator.write_next(&mut bytes) {
                break;
            }
            let origin = Origin { source: self.source, partition: PartitionId(0), offset: Offset(seq) };
            batch.push(Record::new(bytes, now, origin));
        }
        Ok(SourcePoll::Data(batch))
    }

    fn snapshot(&self) -> Result<StateSnapshot, SourceError> {
        StateSnapshot::encode(&Position { next_seq: self.generator.position() }).map_err(SourceError::state)
    }

    fn restore(&mut self, snapshot: &StateSnapshot) -> Result<(), SourceError> {
        let position: Position = snapshot.decode().map_err(SourceError::state)?;
        // The config was valid when this source was built, so this cannot fail.
        let mut generator = OrderGenerator::new(self.generator.config().clone()).map_err(SourceError::state)?;
        generator.skip_to(position.next_seq);
        self.generator = generator;
        Ok(())
    }
}

/// A token bucket: `rate` tokens per second, holding at most a tenth of a second's
/// worth, so a pause does not turn into a burst.
#[derive(Debug)]
struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(rate: f64) -> Self {
        let capacity = (rate / 10.0).max(1.0);
        TokenBucket { rate, capacity, tokens: capacity, last: Instant::now() }
    }

    fn refill(&mut self) {
        let now = Instant::now();
        let earned = now.duration_since(self.last).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + earned).min(self.capacity);
        self.last = now;
    }

    /// Takes up to `max` whole tokens, sleeping (at most [`MAX_WAIT`]) until one is
    /// available; 0 if none came in time.
    async fn acquire(&mut self, max: usize) -> usize {
        self.refill();
        if self.tokens < 1.0 {
            let wait = Duration::from_secs_f64((1.0 - self.tokens) / self.rate).min(MAX_WAIT);
            tokio::time::sleep(wait).await;
            self.refill();
        }
        let n = (self.tokens.floor() as usize).min(max);
        self.tokens -= n as f64;
        n
    }
}
