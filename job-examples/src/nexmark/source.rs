//! [`NexmarkSource`]: the Nexmark generator as a partitioned, checkpointed source.

use serde::{Deserialize, Serialize};
use tidemill_runtime::{
    NodeContext, Offset, Origin, PartitionId, PartitionInfo, Record, Source, SourceError, SourceId, SourceKind,
    SourcePoll, StateSnapshot,
};

use super::event::NexmarkEvent;

/// The kind of source the generator is, in the dead-letter table.
const NEXMARK_SOURCE_KIND: SourceKind = SourceKind::named("nexmark");

/// 2026-01-01T00:00:00Z: the default event time of the first event, fixed so that
/// two runs with the same settings make the same events (the generator's own
/// default is the wall clock).
pub const DEFAULT_BASE_TIME_MS: u64 = 1_767_225_600_000;

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NexmarkConfig {
    /// Events in all (people, auctions and bids in the standard 1 : 3 : 46).
    pub events: u64,
    /// Events per second of event time (the generator's `first_rate`).
    pub events_per_second: u64,
    /// Event time of the first event, milliseconds since the Unix epoch.
    pub base_time_ms: u64,
    /// Events are shuffled in groups of this many (1: in event-time order); the
    /// generator's event-time skew.
    pub out_of_order_group: u64,
    /// Offsets every event id: another stream of the same shape. 0 is the
    /// reference generator's stream.
    pub seed: u64,
}

impl Default for NexmarkConfig {
    fn default() -> Self {
        NexmarkConfig {
            events: 1_000_000,
            events_per_second: 10_000,
            base_time_ms: DEFAULT_BASE_TIME_MS,
            out_of_order_group: 1,
            seed: 0,
        }
    }
}

/// Settings the generator cannot run with.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NexmarkConfigError {
    /// A rate of 0 would put every event at the same instant (and divide by zero).
    #[error("events_per_second must be at least 1")]
    ZeroRate,
    /// Groups of 0 events make no stream.
    #[error("out_of_order_group must be at least 1")]
    ZeroGroup,
}

impl NexmarkConfig {
    /// Checks the settings before anything starts.
    ///
    /// ```
    /// use tidemill_job_examples::nexmark::NexmarkConfig;
    ///
    /// assert!(NexmarkConfig::default().validate().is_ok());
    /// let stalled = NexmarkConfig { events_per_second: 0, ..NexmarkConfig::default() };
    /// assert!(stalled.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<(), NexmarkConfigError> {
        if self.events_per_second == 0 {
            return Err(NexmarkConfigError::ZeroRate);
        }
        if self.out_of_order_group == 0 {
            return Err(NexmarkConfigError::ZeroGroup);
        }
        Ok(())
    }

    fn generator_config(&self) -> nexmark::config::NexmarkConfig {
        let rate = usize::try_from(self.events_per_second).unwrap_or(usize::MAX);
        nexmark::config::NexmarkConfig {
            first_rate: rate,
            next_rate: rate,
            base_time: self.base_time_ms,
            out_of_order_group_size: usize::try_from(self.out_of_order_group).unwrap_or(usize::MAX),
            first_event_id: usize::try_from(self.seed).unwrap_or(0),
            ..nexmark::config::NexmarkConfig::default()
        }
    }

    /// Every event in order, on this thread (for dumps and oracles).
    pub fn events_iter(&self) -> impl Iterator<Item = NexmarkEvent> {
        let events = usize::try_from(self.events).unwrap_or(usize::MAX);
        nexmark::EventGenerator::new(self.generator_config()).take(events).map(NexmarkEvent::from)
    }

    /// The events of partition `partition` of `partitions` (events `partition`,
    /// `partition + partitions`, ...), in order: what the source's shard
    /// `partition` generates.
    ///
    /// ```
    /// use tidemill_job_examples::nexmark::NexmarkConfig;
    ///
    /// let config = NexmarkConfig { events: 100, ..NexmarkConfig::default() };
    /// let split: usize = (0..3).map(|p| config.partition_events(p, 3).count()).sum();
    /// assert_eq!(split, 100);
    /// ```
    pub fn partition_events(&self, partition: u64, partitions: u64) -> impl Iterator<Item = NexmarkEvent> {
        let mut generator = NexmarkSource::generator(self, partition, partitions.max(1));
        let end = self.events;
        std::iter::from_fn(move || {
            if generator.offset() >= end {
                return None;
            }
            generator.next().map(NexmarkEvent::from)
        })
    }
}

/// Partition `i` of `n` generates events `i`, `i + n`, `i + 2n`, ...: together the
/// partitions make exactly the events of one generator, each in event-time order
/// (with the configured skew). A record's offset is its event number.
pub struct NexmarkSource {
    config: NexmarkConfig,
    generator: nexmark::EventGenerator,
    partition: u64,
    partitions: u64,
    source: SourceId,
}

#[derive(Serialize, Deserialize)]
struct Position {
    next_event: u64,
}

impl NexmarkSource {
    /// The source of shard `ctx.shard` of `ctx.shards`.
    pub fn new(config: NexmarkConfig, ctx: &NodeContext) -> Self {
        let (partition, partitions) = (ctx.shard as u64, ctx.shards.max(1) as u64);
        let info = PartitionInfo {
            kind: NEXMARK_SOURCE_KIND,
            name: format!("nexmark(seed={})", config.seed),
            partition: Some(partition as i32),
        };
        ctx.catalog.register(ctx.source_id, PartitionId(partition as u32), info);
        let generator = Self::generator(&config, partition, partitions);
        NexmarkSource { config, generator, partition, partitions, source: ctx.source_id }
    }

    fn generator(config: &NexmarkConfig, start: u64, step: u64) -> nexmark::EventGenerator {
        nexmark::EventGenerator::new(config.generator_config()).with_offset(start).with_step(step)
    }
}

impl Source for NexmarkSource {
    type Out = NexmarkEvent;

    async fn poll(&mut self, max_records: usize) -> Result<SourcePoll<NexmarkEvent>, SourceError> {
        let mut batch = Vec::with_capacity(max_records.min(4096));
        while batch.len() < max_records && self.generator.offset() < self.config.events {
            let number = self.generator.offset();
            let Some(event) = self.generator.next() else { break };
            let event = NexmarkEvent::from(event);
            let origin =
                Origin { source: self.source, partition: PartitionId(self.partition as u32), offset: Offset(number) };
            let time = event.time();
            batch.push(Record::new(event, time, origin));
        }
        if batch.is_empty() {
            return Ok(SourcePoll::End);
        }
        Ok(SourcePoll::Data(batch))
    }

    fn snapshot(&self) -> Result<StateSnapshot, SourceError> {
        StateSnapshot::encode(&Position { next_event: self.generator.offset() }).map_err(SourceError::state)
    }

    fn restore(&mut self, snapshot: &StateSnapshot) -> Result<(), SourceError> {
        let position: Position = snapshot.decode().map_err(SourceError::state)?;
        self.generator = Self::generator(&self.config, position.next_event, self.partitions);
        Ok(())
    }
}
