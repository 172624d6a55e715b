//! [`KafkaSource`]: one partition of a Kafka topic as a Tidemill source.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::base_consumer::PartitionQueue;
use rdkafka::consumer::Consumer;
use tidemill_runtime::metrics::PartitionMetrics;
use tidemill_runtime::{
    Epoch, ErrorChain, NodeContext, PartitionId, PartitionInfo, Source, SourceError, SourceId, SourcePoll,
    StateSnapshot,
};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::config::KafkaSourceConfig;
use super::consumer::SharedConsumer;
use super::context::SourceContext;
use super::labels::{kafka_partition_labels, KAFKA_SOURCE_KIND};
use super::metadata::{self, ProbeError};
use super::position::{self, Checkpoint};
use super::record::KafkaRecord;

mod error;
mod read;

pub use error::KafkaSourceError;

/// The longest a poll waits for records before answering `Idle`, so the source
/// actor stays responsive to barriers and stop requests.
const POLL_BUDGET: Duration = Duration::from_millis(100);
/// Within that budget, the longest single wait for the consumer queue's wake-up.
/// librdkafka signals only a queue's empty -> non-empty transition, so a wait is
/// never trusted for longer than this.
const WAIT_SLICE: Duration = Duration::from_millis(20);
/// The longest a poll spends probing the partition (metadata and watermarks).
const PROBE_IN_POLL: Duration = Duration::from_secs(1);
/// The shortest time between two probes that did not succeed.
const PROBE_RETRY: Duration = Duration::from_secs(1);
/// `snapshotted` when no snapshot with a position was taken.
const NO_OFFSET: u64 = u64::MAX;

/// One partition (`ctx.shard`) of a Kafka topic.
///
/// The partitions of one source node in one process share one librdkafka consumer
/// ([`SharedConsumer`]); each reads its own partition queue split off that
/// consumer. Partitions are assigned explicitly (no subscription, so no group
/// rebalancing): a job gives its Kafka source one actor per partition
/// (`job.source("orders", partition_count(..)?, move |ctx| KafkaSource::new(config.clone(), ctx))`).
///
/// - Backpressure: when the runtime [pauses](Source::pause) the source, the
///   partition is paused in the consumer (no more fetching for it) and resumed
///   when the downstream took the waiting batch.
/// - Records: the message's key, value, headers and timestamp ([`KafkaRecord`]);
///   `time` is the Kafka timestamp, or ingestion time if the message has none;
///   `origin` is `{ctx.source_id, PartitionId(kafka partition), Offset(kafka offset)}`.
///   A value larger than the job's `max_record_bytes` goes to the dead letters as
///   `record_too_large`, with its first bytes.
/// - Position: the next offset to read, resolved from [`StartOffsets`](super::StartOffsets)
///   when the partition is first reached and saved in every snapshot (with the end
///   offset in bounded mode); `restore` seeks there.
/// - Committed offsets: `checkpoint_complete` commits the offset of the last
///   snapshot to the consumer group (the job's name, or `group_id`), for lag
///   tooling; the truth is the checkpoint.
/// - Errors: a missing topic or partition fails `new` (or the first poll, if the
///   brokers could not be reached at creation); unreachable brokers are retried.
///   Lost offsets and deleted topics follow `fail_on_data_loss`.
///
/// One source node reads a whole topic, one source partition per Kafka partition:
///
/// ```no_run
/// use tidemill_kafka::{partition_count, KafkaSource, KafkaSourceConfig};
/// use tidemill_operators::BytesStreamExt;
/// use tidemill_runtime::{Job, NodeContext};
///
/// let config = KafkaSourceConfig::new("127.0.0.1:9092", "orders").bounded(); // stop at today's end
/// let partitions = partition_count(&config.brokers, &config.topic, config.metadata_timeout)?;
/// let job = Job::builder("orders");
/// let orders = job
///     .source("kafka", partitions, move |ctx: &NodeContext| KafkaSource::new(config.clone(), ctx))
///     .decode_json::<serde_json::Value>("decode");
/// # let _ = orders;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct KafkaSource {
    config: KafkaSourceConfig,
    shared: Arc<SharedConsumer>,
    /// This partition's queue, split off the shared consumer.
    queue: PartitionQueue<SourceContext>,
    /// Notified by librdkafka when the partition queue becomes non-empty.
    wakeup: Arc<Notify>,
    /// `shared.events().missing_reports()` when last looked at.
    missing_seen: u64,
    /// Whether the partition is paused in the consumer.
    paused: bool,
    /// Position, log end and lag of the partition.
    metrics: PartitionMetrics,
    source: SourceId,
    partition: i32,
    name: Arc<str>,
    /// The next offset to read; `None` until the partition was first reached.
    next: Option<u64>,
    /// Bounded mode: the offset to stop at, once known.
    end: Option<u64>,
    /// Whether the consumer is assigned at `next`; if not, the next poll probes the
    /// partition and assigns it.
    assigned: bool,
    /// Whether the partition was never assigned yet.
    fresh_consumer: bool,
    /// Whether the consumer's position may be trusted (not right after a re-assign).
    position_valid: bool,
    /// When the next probe may run after one that did not succeed.
    retry_at: Option<Instant>,
    /// Whether the current trouble (brokers unreachable, topic gone) was logged.
    warned: bool,
    /// `next` in the last snapshot taken; `NO_OFFSET` if none.
    snapshotted: AtomicU64,
    /// The offset last committed to the group.
    committed: Option<u64>,
    /// The node, as the stage of oversized records' dead letters.
    stage: Arc<str>,
    /// The largest record passed on (the job's `max_record_bytes`).
    max_record_bytes: usize,
    /// Oversized records since the last `take_dead_letters`.
    too_large: Vec<tidemill_runtime::DeadLetter>,
}

impl fmt::Debug for KafkaSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaSource")
            .field("topic", &self.config.topic)
            .field("partition", &self.partition)
            .field("next", &self.next)
            .field("end", &self.end)
            .field("assigned", &self.assigned)
            .finish_non_exhaustive()
    }
}

impl KafkaSource {
    /// A source for partition `ctx.shard` of `config.topic`; registers the partition
    /// in `ctx.catalog`.
    ///
    /// Checks with the brokers (blocking for up to `metadata_timeout`) that the topic
    /// and partition exist: if the brokers say they do not, that is an error now. If
    /// the brokers do not answer, that is not an error: librdkafka keeps trying, and
    /// the check is repeated when the source is polled.
    pub fn new(config: KafkaSourceConfig, ctx: &NodeContext) -> Result<Self, SourceError> {
        let partition = config.partition_of(ctx.shard).map_err(|reason| {
            SourceError::unreadable(format!("kafka topic {} source shard {}", config.topic, ctx.shard), reason)
        })?;
        let what = format!("kafka topic {} partition {partition}", config.topic);
        let unreadable = |reason: KafkaSourceError| SourceError::unreadable(what.clone(), reason);
        config.validate().map_err(|e| unreadable(KafkaSourceError::Config(e)))?;
        let name: Arc<str> = Arc::from(format!("{}[{partition}]", ctx.node));
        let shared = SharedConsumer::for_partition(&config, ctx, partition as usize).map_err(&unreadable)?;
        let client = shared.consumer().client();
        match metadata::check_partition(client, &config.topic, partition, config.metadata_timeout) {
            Ok(()) => {}
            Err(source) if source.is_missing() => {
                return Err(unreadable(KafkaSourceError::NotFound { brokers: config.brokers.clone(), source }));
            }
            Err(reason) => tracing::warn!(
                source = &*name,
                brokers = %config.brokers,
                "kafka brokers not reachable yet, the source will keep trying: {}", ErrorChain(&reason)
            ),
        }
        // Split off before the partition is ever assigned, so that none of its
        // records lands in the consumer's main queue.
        let mut queue = shared
            .consumer()
            .split_partition_queue(&config.topic, partition)
            .ok_or_else(|| unreadable(KafkaSourceError::NoPartitionQueue))?;
        let wakeup = Arc::new(Notify::new());
        let notify = wakeup.clone();
        queue.set_nonempty_callback(move || notify.notify_one());
        let info = PartitionInfo { kind: KAFKA_SOURCE_KIND, name: config.topic.clone(), partition: Some(partition) };
        ctx.catalog.register(ctx.source_id, PartitionId(partition as u32), info);
        let missing_seen = shared.events().missing_reports();
        let group = config.group_for(ctx);
        let labels = kafka_partition_labels(&config.topic, partition, &group);
        let metrics = ctx.metrics.source_partition(labels);
        shared.track(partition, metrics.clone());
        Ok(KafkaSource {
            config,
            shared,
            queue,
            wakeup,
            missing_seen,
            paused: false,
            metrics,
            source: ctx.source_id,
            partition,
            name,
            next: None,
            end: None,
            assigned: false,
            fresh_consumer: true,
            position_valid: true,
            retry_at: None,
            warned: false,
            snapshotted: AtomicU64::new(NO_OFFSET),
            committed: None,
            stage: ctx.node.clone(),
            max_record_bytes: ctx.run.max_record_bytes,
            too_large: Vec::new(),
        })
    }

    /// The offset saved by the newest snapshot (the next one to read after a
    /// restore from it); `None` before the first snapshot with a position.
    pub fn checkpointed_offset(&self) -> Option<u64> {
        Some(self.snapshotted.load(Ordering::Relaxed)).filter(|o| *o != NO_OFFSET)
    }

    /// The settings the source was built with.
    pub fn config(&self) -> &KafkaSourceConfig {
        &self.config
    }

    /// The Kafka partition this source reads.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// The next offset to read; `None` until the partition was first reached.
    pub fn position(&self) -> Option<u64> {
        self.next
    }

    /// Bounded mode: the offset this source stops at, once known.
    pub fn end_offset(&self) -> Option<u64> {
        self.end
    }

    fn unreadable(&self, reason: KafkaSourceError) -> SourceError {
        let what = format!("kafka topic {} partition {}", self.config.topic, self.partition);
        SourceError::unreadable(what, reason)
    }

    fn at_end(&self) -> bool {
        matches!((self.next, self.end), (Some(next), Some(end)) if next >= end)
    }

    /// Probes the partition and assigns the consumer where the plan says; `false`
    /// if the brokers could not be asked (try again later).
    async fn prepare(&mut self) -> Result<bool, SourceError> {
        if self.retry_at.is_some_and(|t| Instant::now() < t) {
            return Ok(false);
        }
        let (shared, topic, partition) = (self.shared.clone(), self.config.topic.clone(), self.partition);
        let timeout = self.config.metadata_timeout.min(PROBE_IN_POLL);
        let probed =
            tokio::task::spawn_blocking(move || metadata::probe(shared.consumer(), &topic, partition, timeout))
                .await
                .map_err(|e| self.unreadable(KafkaSourceError::Probe(ProbeError::Interrupted(e))))?;
        let watermarks = match probed {
            Ok(w) => w,
            Err(e) if e.is_missing() && self.next.is_none() => return Err(self.unreadable(KafkaSourceError::Probe(e))),
            Err(e) if e.is_missing() && self.config.fail_on_data_loss => {
                return Err(self.unreadable(KafkaSourceError::Deleted(e)));
            }
            Err(e) if e.is_missing() => return Ok(self.retry_later(&format!("topic deleted: {}", ErrorChain(&e)))),
            Err(e) => return Ok(self.retry_later(&ErrorChain(&e).to_string())),
        };
        let plan = position::plan(&self.config, self.next, self.end, watermarks)
            .map_err(|lost| self.unreadable(KafkaSourceError::DataLoss { lost }))?;
        if let Some(lost) = &plan.data_loss {
            tracing::warn!(source = &*self.name, topic = %self.config.topic, partition,
                "data loss: {lost}; going on from offset {}", plan.next);
        }
        let offset =
            i64::try_from(plan.next).map_err(|_| self.unreadable(KafkaSourceError::OffsetOutOfRange(plan.next)))?;
        self.shared.assign(partition, offset).map_err(|e| self.unreadable(KafkaSourceError::Assign(e)))?;
        if self.paused {
            // A new assignment starts unpaused.
            self.pause();
        }
        tracing::debug!(source = &*self.name, next = plan.next, end = ?plan.end, "kafka partition assigned");
        // A re-assign resets the consumer's position asynchronously: trust it again
        // only after a record.
        self.position_valid = self.fresh_consumer;
        self.fresh_consumer = false;
        self.next = Some(plan.next);
        self.end = plan.end;
        self.assigned = true;
        self.retry_at = None;
        self.warned = false;
        Ok(true)
    }

    fn retry_later(&mut self, reason: &str) -> bool {
        if !self.warned {
            self.warned = true;
            tracing::warn!(source = &*self.name, topic = %self.config.topic, "kafka partition not readable yet, retrying: {reason}");
        }
        self.retry_at = Some(Instant::now() + PROBE_RETRY);
        false
    }
}

impl Drop for KafkaSource {
    /// Stops fetching the partition: the shared consumer may outlive this source.
    fn drop(&mut self) {
        if let Err(e) = self.shared.unassign(self.partition) {
            tracing::debug!(source = &*self.name, "cannot unassign the partition: {e}");
        }
    }
}

impl Source for KafkaSource {
    type Out = KafkaRecord;

    const EMITS_DEAD_LETTERS: bool = true;

    fn take_dead_letters(&mut self) -> Vec<tidemill_runtime::DeadLetter> {
        std::mem::take(&mut self.too_large)
    }

    async fn poll(&mut self, max_records: usize) -> Result<SourcePoll<KafkaRecord>, SourceError> {
        self.check_events()?;
        if !self.assigned && !self.prepare().await? {
            return Ok(SourcePoll::Idle);
        }
        let deadline = Instant::now() + POLL_BUDGET;
        let mut batch = Vec::new();
        loop {
            if self.at_end() {
                return Ok(SourcePoll::End);
            }
            self.drain(&mut batch, max_records.max(1))?;
            if !batch.is_empty() {
                if let Some(next) = self.next.and_then(|n| i64::try_from(n).ok()) {
                    self.metrics.record_position(next);
                }
                return Ok(SourcePoll::Data(batch));
            }
            if !self.assigned {
                return Ok(SourcePoll::Idle);
            }
            self.skip_to_position();
            if let Some(next) = self.next.and_then(|n| i64::try_from(n).ok()) {
                self.metrics.record_position(next);
            }
            if self.at_end() {
                return Ok(SourcePoll::End);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(SourcePoll::Idle);
            }
            // A lost wake-up costs at most one slice.
            let _ = tokio::time::timeout((deadline - now).min(WAIT_SLICE), self.wakeup.notified()).await;
        }
    }

    fn snapshot(&self) -> Result<StateSnapshot, SourceError> {
        let checkpoint =
            Checkpoint { topic: self.config.topic.clone(), partition: self.partition, next: self.next, end: self.end };
        let snapshot = StateSnapshot::encode(&checkpoint).map_err(SourceError::state)?;
        self.snapshotted.store(self.next.unwrap_or(NO_OFFSET), Ordering::Relaxed);
        Ok(snapshot)
    }

    /// Commits the offset of the last snapshot (not the current position) to the
    /// consumer group, asynchronously; a failed commit is logged, not fatal.
    async fn checkpoint_complete(&mut self, epoch: Epoch) -> Result<(), SourceError> {
        let offset = self.snapshotted.load(Ordering::Relaxed);
        if offset == NO_OFFSET || self.committed == Some(offset) {
            return Ok(());
        }
        let Ok(kafka_offset) = i64::try_from(offset) else { return Ok(()) };
        // In a consumer group, only the member may commit (the broker refuses
        // commits of a non-member to a group with members): commit through it.
        let committed = match &self.config.member {
            Some(member) => member.commit(&self.config.topic, self.partition, kafka_offset),
            None => self.shared.commit(self.partition, kafka_offset),
        };
        match committed {
            Ok(()) => {
                tracing::debug!(source = &*self.name, %epoch, offset, "committing checkpointed offset");
                self.committed = Some(offset);
            }
            Err(e) => tracing::warn!(source = &*self.name, %epoch, offset, "offset commit failed: {e}"),
        }
        Ok(())
    }

    fn pause(&mut self) {
        self.paused = true;
        self.metrics.set_paused(true);
        if let Err(e) = self.shared.pause(self.partition) {
            tracing::warn!(source = &*self.name, "cannot pause the partition: {e}");
        }
    }

    fn resume(&mut self) {
        self.paused = false;
        self.metrics.set_paused(false);
        if let Err(e) = self.shared.resume(self.partition) {
            tracing::warn!(source = &*self.name, "cannot resume the partition: {e}");
        }
    }

    fn restore(&mut self, snapshot: &StateSnapshot) -> Result<(), SourceError> {
        let checkpoint: Checkpoint = snapshot.decode().map_err(SourceError::state)?;
        if checkpoint.topic != self.config.topic || checkpoint.partition != self.partition {
            return Err(SourceError::state(KafkaSourceError::OtherPartition {
                found_topic: checkpoint.topic,
                found_partition: checkpoint.partition,
                topic: self.config.topic.clone(),
                partition: self.partition,
            }));
        }
        self.next = checkpoint.next;
        self.end = self.config.end.and(checkpoint.end);
        // The next poll assigns the consumer at the restored position.
        self.assigned = false;
        Ok(())
    }
}
