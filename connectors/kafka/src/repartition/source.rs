//! [`RepartitionSource`]: one partition of a repartition topic, read
//! `read_committed`, ending once every upstream task has ended, and trimmed up to
//! what its checkpoints no longer need.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::{ClientConfig, Offset as KafkaOffset, TopicPartitionList};
use tidemill_runtime::{DeadLetter, Epoch, NodeContext, Source, SourceError, SourcePoll, StateSnapshot};

use super::control::{Control, UpstreamTask};
use super::growth::{InputWatch, UpstreamCount};
use crate::{KafkaRecord, KafkaSource, KafkaSourceConfig};

/// The shortest time between two trims of one partition: each is an admin
/// request to the partition's leader, and checkpoints may come every second.
const TRIM_EVERY: Duration = Duration::from_secs(5);

/// Reads partition `ctx.shard` of a repartition topic written by `upstreams`
/// tasks; wraps a [`KafkaSource`] (offsets, backpressure, metrics as usual).
///
/// - Always unbounded and `read_committed`: the topic grows while it is read, and
///   only committed epochs of the writers count. The source **ends** once it has
///   read a [`Control::End`] of every upstream task (all bounded inputs are
///   done); which upstream tasks ended is part of its snapshot.
/// - After each completed checkpoint it deletes the partition's records before
///   the checkpointed offset (Kafka's `DeleteRecords`, at most every few
///   seconds): a restore never reads before it, so the topic holds only what is
///   still to be processed. A failed trim is logged and tried again later.
///
/// Records pass unchanged, control records included; the
/// [`RepartitionReader`](super::RepartitionReader) after it reads them.
pub struct RepartitionSource {
    inner: KafkaSource,
    upstreams: UpstreamCount,
    /// Watches the input topic for new partitions (new upstream tasks).
    watch: Option<InputWatch>,
    ended: BTreeSet<UpstreamTask>,
    /// Trims the partition; also reads the input topic's metadata for `watch`.
    admin: Option<Arc<AdminClient<DefaultClientContext>>>,
    /// The offsets of the snapshots taken whose checkpoint has not completed yet,
    /// oldest first. A barrier may be snapshotted before the previous checkpoint's
    /// commit completes, so "the newest snapshot" may not be durable yet: a
    /// completed checkpoint releases the oldest pending one (completions come in
    /// epoch order, one per snapshot of this instance; a checkpoint that never
    /// completes restarts the pipeline, and with it this list).
    pending: Mutex<VecDeque<u64>>,
    /// The offset records were deleted before, and when.
    trimmed: Option<(u64, Instant)>,
}

impl RepartitionSource {
    /// The source of partition `ctx.shard` (or `config.partitions[ctx.shard]`) of
    /// `config.topic`, written by `upstreams` tasks (a number, or an
    /// [`UpstreamCount`] shared with the task's reader).
    pub fn new(
        mut config: KafkaSourceConfig,
        upstreams: impl Into<UpstreamCount>,
        ctx: &NodeContext,
    ) -> Result<Self, SourceError> {
        let admin = admin_client(&config);
        config.end = None;
        config.properties.insert("isolation.level", "read_committed");
        let inner = KafkaSource::new(config, ctx)?;
        let pending = Mutex::new(VecDeque::new());
        let (upstreams, watch) = (upstreams.into(), None);
        Ok(RepartitionSource { inner, upstreams, watch, ended: BTreeSet::new(), admin, pending, trimmed: None })
    }

    /// Watches `input_topic` (on the same brokers), whose partitions are the
    /// upstream tasks: when it gains partitions the upstream count grows, and
    /// the reader sharing the count waits for the new tasks.
    /// Without an admin client (logged at start) the count grows only when a new
    /// upstream task speaks.
    pub fn watch_input(mut self, input_topic: &str) -> Self {
        self.watch = self.admin.clone().map(|admin| InputWatch::new(admin, input_topic, self.upstreams.clone()));
        self
    }

    fn finished(&self) -> bool {
        self.ended.len() as u64 >= u64::from(self.upstreams.get())
    }

    /// Deletes the records before `offset` (of a durable checkpoint), if that
    /// moved and the last trim is old enough.
    async fn trim(&mut self, offset: u64) {
        let Some(admin) = &self.admin else { return };
        if self.trimmed.is_some_and(|(done, at)| done >= offset || at.elapsed() < TRIM_EVERY) {
            return;
        }
        let Ok(kafka_offset) = i64::try_from(offset) else { return };
        let topic = &self.inner.config().topic;
        let partition = self.inner.partition();
        let mut list = TopicPartitionList::new();
        if list.add_partition_offset(topic, partition, KafkaOffset::Offset(kafka_offset)).is_err() {
            return;
        }
        let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(10)));
        let outcome = admin.delete_records(&list, &options).await;
        let failure = match outcome {
            Ok(result) => result.elements().iter().find_map(|e| e.error().err().map(|e| e.to_string())),
            Err(e) => Some(e.to_string()),
        };
        match failure {
            None => {
                tracing::debug!(topic, partition, offset, "repartition records deleted before the checkpointed offset");
                self.trimmed = Some((offset, Instant::now()));
            }
            Some(e) => {
                tracing::warn!(topic, partition, offset, "cannot delete consumed repartition records: {e}");
                self.trimmed = Some((self.trimmed.map_or(0, |(done, _)| done), Instant::now()));
            }
        }
    }
}

fn admin_client(config: &KafkaSourceConfig) -> Option<Arc<AdminClient<DefaultClientContext>>> {
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", &config.brokers);
    let made = config.properties.apply_to(&mut client).map_err(|e| e.to_string());
    match made.and_then(|()| client.create().map_err(|e| e.to_string())) {
        Ok(admin) => Some(Arc::new(admin)),
        Err(e) => {
            tracing::warn!(topic = %config.topic, "no admin client: consumed repartition records are kept: {e}");
            None
        }
    }
}

impl Source for RepartitionSource {
    type Out = KafkaRecord;

    const EMITS_DEAD_LETTERS: bool = true;

    fn take_dead_letters(&mut self) -> Vec<DeadLetter> {
        self.inner.take_dead_letters()
    }

    async fn poll(&mut self, max_records: usize) -> Result<SourcePoll<KafkaRecord>, SourceError> {
        if self.finished() {
            return Ok(SourcePoll::End);
        }
        if let Some(watch) = &mut self.watch {
            watch.tick();
        }
        let polled = self.inner.poll(max_records).await?;
        if let SourcePoll::Data(batch) = &polled {
            for record in batch {
                if let Some(Ok((upstream, control))) = Control::of(&record.value) {
                    self.upstreams.raise(upstream.0.saturating_add(1));
                    if control == Control::End {
                        self.ended.insert(upstream);
                    }
                }
            }
        }
        Ok(polled)
    }

    fn snapshot(&self) -> Result<StateSnapshot, SourceError> {
        let position = self.inner.snapshot()?;
        if let Some(offset) = self.inner.checkpointed_offset() {
            self.pending.lock().unwrap_or_else(|e| e.into_inner()).push_back(offset);
        }
        StateSnapshot::encode(&(position.0, &self.ended)).map_err(SourceError::state)
    }

    async fn checkpoint_complete(&mut self, epoch: Epoch) -> Result<(), SourceError> {
        self.inner.checkpoint_complete(epoch).await?;
        let durable = self.pending.get_mut().unwrap_or_else(|e| e.into_inner()).pop_front();
        if let Some(offset) = durable {
            self.trim(offset).await;
        }
        Ok(())
    }

    fn pause(&mut self) {
        self.inner.pause();
    }

    fn resume(&mut self) {
        self.inner.resume();
    }

    fn restore(&mut self, snapshot: &StateSnapshot) -> Result<(), SourceError> {
        let (position, ended): (Vec<u8>, BTreeSet<UpstreamTask>) = snapshot.decode().map_err(SourceError::state)?;
        self.ended = ended;
        self.inner.restore(&StateSnapshot(position))
    }
}
