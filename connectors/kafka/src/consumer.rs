//! [`SharedConsumer`]: a librdkafka consumer shared by several partitions a Kafka
//! source node reads in one pipeline.
//!
//! Why shared, and how many: every librdkafka client runs a main thread and a
//! thread per broker, keeps its own connections and fetch sessions, and its broker
//! thread decompresses what it fetched. One consumer per partition (12 on two
//! cores) multiplies threads and small fetches; one consumer for all partitions
//! leaves fetching and decompression on one thread. So a source has one consumer
//! per CPU by default (`KafkaSourceConfig::consumers`), and partition `p` uses
//! consumer `p % consumers`. Each partition's records are split off into their own
//! queue (`split_partition_queue`), so every source actor reads only its
//! partition and the actors never contend on one queue.
//!
//! The consumer's main queue then carries only events (errors, offset-commit
//! results, statistics): a driver thread serves it all the time, also while every
//! partition actor is blocked by backpressure, so the client stays responsive.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::config::FromClientConfigAndContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaResult;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset as KafkaOffset, TopicPartitionList};
use tidemill_runtime::metrics::PartitionMetrics;
use tidemill_runtime::{NodeContext, PipelineId};

use super::brokers::BrokerHealth;
use super::config::KafkaSourceConfig;
use super::context::SourceContext;
use super::metadata;
use super::source::KafkaSourceError;

/// How long the driver waits on the main queue per round; also the longest it
/// takes to notice that the consumer is no longer used.
const DRIVER_POLL: Duration = Duration::from_millis(100);

/// The consumers in use, by (pipeline, node, consumer index): shards of one node
/// in one pipeline share them; a restarted pipeline gets new ones.
type Registry = Mutex<HashMap<(PipelineId, Arc<str>, usize), Weak<SharedConsumer>>>;
static CONSUMERS: LazyLock<Registry> = LazyLock::new(Registry::default);

/// One consumer for the partitions of one source node, and the thread serving its
/// main queue.
pub(crate) struct SharedConsumer {
    consumer: Arc<BaseConsumer<SourceContext>>,
    topic: String,
    /// Serialises changes of the assignment (one partition at a time).
    assign_lock: Mutex<()>,
    events: Arc<MainQueueEvents>,
    stop: Arc<AtomicBool>,
    driver: Option<JoinHandle<()>>,
}

/// What the driver saw on the main queue that the partitions must act on.
#[derive(Debug, Default)]
pub(crate) struct MainQueueEvents {
    /// Bumped on every report that the topic or a partition does not exist.
    missing: AtomicU64,
    /// A fatal client error: the consumer cannot be used any more.
    fatal: Mutex<Option<String>>,
}

impl MainQueueEvents {
    /// How many "topic or partition missing" reports arrived so far.
    pub(crate) fn missing_reports(&self) -> u64 {
        self.missing.load(Ordering::Acquire)
    }

    /// The fatal error, if the client had one.
    pub(crate) fn fatal(&self) -> Option<String> {
        self.fatal.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl fmt::Debug for SharedConsumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedConsumer").field("topic", &self.topic).finish_non_exhaustive()
    }
}

impl SharedConsumer {
    /// The consumer partition `partition` of `ctx.node` in `ctx.pipeline` uses,
    /// created by the first shard that asks.
    pub(crate) fn for_partition(
        config: &KafkaSourceConfig,
        ctx: &NodeContext,
        partition: usize,
    ) -> Result<Arc<Self>, KafkaSourceError> {
        let mut consumers = CONSUMERS.lock().unwrap_or_else(|p| p.into_inner());
        let index = partition % config.consumer_count();
        let key = (ctx.pipeline, ctx.node.clone(), index);
        if let Some(shared) = consumers.get(&key).and_then(Weak::upgrade) {
            return Ok(shared);
        }
        // Forget the consumers of pipelines that are gone.
        consumers.retain(|_, c| c.strong_count() > 0);
        let shared = Arc::new(Self::create(config, ctx, index)?);
        consumers.insert(key, Arc::downgrade(&shared));
        Ok(shared)
    }

    fn create(config: &KafkaSourceConfig, ctx: &NodeContext, index: usize) -> Result<Self, KafkaSourceError> {
        let context = SourceContext {
            name: ctx.node.clone(),
            topic: config.topic.clone(),
            partitions: Arc::default(),
            health: BrokerHealth::for_node(config, ctx),
            index,
        };
        let client_config = config.client_config(ctx, index).map_err(|e| KafkaSourceError::Config(e.into()))?;
        let consumer =
            BaseConsumer::from_config_and_context(&client_config, context).map_err(KafkaSourceError::CreateConsumer)?;
        let consumer = Arc::new(consumer);
        let events = Arc::new(MainQueueEvents::default());
        let stop = Arc::new(AtomicBool::new(false));
        let driver = {
            let (consumer, events, stop) = (consumer.clone(), events.clone(), stop.clone());
            let name = ctx.node.clone();
            std::thread::Builder::new()
                .name(format!("kafka-{}-{index}", ctx.node))
                .spawn(move || drive(&consumer, &events, &stop, &name))
                .map_err(KafkaSourceError::ConsumerThread)?
        };
        Ok(SharedConsumer {
            consumer,
            topic: config.topic.clone(),
            assign_lock: Mutex::new(()),
            events,
            stop,
            driver: Some(driver),
        })
    }

    /// The consumer itself (metadata queries, positions).
    pub(crate) fn consumer(&self) -> &Arc<BaseConsumer<SourceContext>> {
        &self.consumer
    }

    /// Registers `partition`'s lag metrics, fed with the log end from statistics.
    pub(crate) fn track(&self, partition: i32, metrics: PartitionMetrics) {
        let mut partitions = self.consumer.context().partitions.lock().unwrap_or_else(|p| p.into_inner());
        partitions.insert(partition, metrics);
    }

    /// Events from the main queue.
    pub(crate) fn events(&self) -> &MainQueueEvents {
        &self.events
    }

    /// Assigns `partition` at `offset`, replacing its earlier assignment if any
    /// (which drops what was fetched for it and not yet read).
    pub(crate) fn assign(&self, partition: i32, offset: i64) -> KafkaResult<()> {
        let _guard = self.assign_lock.lock().unwrap_or_else(|p| p.into_inner());
        let assigned = self.consumer.assignment()?;
        if assigned.find_partition(&self.topic, partition).is_some() {
            self.consumer.incremental_unassign(&self.one(partition, KafkaOffset::Invalid)?)?;
        }
        self.consumer.incremental_assign(&self.one(partition, KafkaOffset::Offset(offset))?)
    }

    /// Removes `partition` from the assignment (the source of the partition is gone).
    pub(crate) fn unassign(&self, partition: i32) -> KafkaResult<()> {
        let _guard = self.assign_lock.lock().unwrap_or_else(|p| p.into_inner());
        let assigned = self.consumer.assignment()?;
        if assigned.find_partition(&self.topic, partition).is_none() {
            return Ok(());
        }
        self.consumer.incremental_unassign(&self.one(partition, KafkaOffset::Invalid)?)
    }

    /// Stops fetching `partition` (its downstream is full); the consumer goes on
    /// serving everything else.
    pub(crate) fn pause(&self, partition: i32) -> KafkaResult<()> {
        self.consumer.pause(&self.one(partition, KafkaOffset::Invalid)?)
    }

    /// Fetches `partition` again.
    pub(crate) fn resume(&self, partition: i32) -> KafkaResult<()> {
        self.consumer.resume(&self.one(partition, KafkaOffset::Invalid)?)
    }

    /// Commits `offset` of `partition` to the group, asynchronously (the result
    /// reaches the client context's commit callback).
    pub(crate) fn commit(&self, partition: i32, offset: i64) -> KafkaResult<()> {
        self.consumer.commit(&self.one(partition, KafkaOffset::Offset(offset))?, CommitMode::Async)
    }

    /// The consumer's position (next offset to hand out) in `partition`.
    pub(crate) fn position(&self, partition: i32) -> Option<i64> {
        let tpl = self.consumer.position().ok()?;
        match tpl.find_partition(&self.topic, partition)?.offset() {
            KafkaOffset::Offset(p) => Some(p),
            _ => None,
        }
    }

    fn one(&self, partition: i32, offset: KafkaOffset) -> KafkaResult<TopicPartitionList> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&self.topic, partition, offset)?;
        Ok(tpl)
    }
}

impl Drop for SharedConsumer {
    /// Tells the driver to stop; it drops its handle on the consumer within one
    /// poll round (the consumer is destroyed once the partition queues are too).
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Not joined: that could block an async worker for a poll round.
        drop(self.driver.take());
    }
}

/// Serves the main queue until told to stop. Messages never arrive here: every
/// partition's queue is split off before the partition is assigned.
fn drive(consumer: &BaseConsumer<SourceContext>, events: &MainQueueEvents, stop: &AtomicBool, name: &str) {
    while !stop.load(Ordering::Acquire) {
        match consumer.poll(DRIVER_POLL) {
            None => {}
            Some(Ok(m)) => {
                use rdkafka::Message;
                // Cannot happen (see above); loud, because the record would be lost.
                tracing::error!(
                    source = name,
                    partition = m.partition(),
                    offset = m.offset(),
                    "kafka record arrived on the consumer's main queue, not its partition's queue"
                );
            }
            Some(Err(e)) if metadata::is_missing(&e) => {
                tracing::debug!(source = name, "kafka: topic or partition missing: {e}");
                events.missing.fetch_add(1, Ordering::AcqRel);
            }
            Some(Err(e)) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::Fatal) => {
                tracing::error!(source = name, "kafka consumer fatal error: {e}");
                *events.fatal.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
            }
            // Lost connections: librdkafka retries, and reports them again and again
            // (AllBrokersDown about every 100 ms during an outage); the node's
            // `BrokerHealth` logs an outage that lasts, once.
            Some(Err(e))
                if matches!(
                    e.rdkafka_error_code(),
                    Some(RDKafkaErrorCode::BrokerTransportFailure | RDKafkaErrorCode::AllBrokersDown)
                ) =>
            {
                tracing::debug!(source = name, "kafka connection lost (retrying): {e}")
            }
            // Other errors: librdkafka retries by itself.
            Some(Err(e)) => tracing::warn!(source = name, "kafka consumer error: {e}"),
        }
    }
}
