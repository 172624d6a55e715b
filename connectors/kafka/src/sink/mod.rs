//! [`KafkaSink`]: exactly-once output into a Kafka topic, with Kafka transactions
//! and the checkpoint manifest as the sink's write-ahead log.
//!
//! librdkafka cannot resume a transaction after a process restart (the new
//! producer's `init_transactions` aborts it), so the sink does not produce during
//! the epoch: it buffers the epoch's encoded records, hands them to the checkpoint
//! as its staged output, and produces them in one transaction only in `commit`, once
//! the manifest holding them is durable. A commit that is cut short is simply done
//! again from the manifest by the next instance. The transaction also moves a
//! *commit marker* (the committed offset of a member-less consumer group) to the
//! epoch, so "is epoch N already in Kafka?" has an atomic answer. The full design,
//! and why, is in `docs/kafka-sink.md`.

mod commit;
mod config;
mod context;
mod error;
mod marker;
mod producer;
mod record;
mod staged;

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use tidemill_runtime::{Batch, Epoch, NodeContext, Sink, SinkError, StagedOutput};

pub use config::{KafkaSinkConfig, KafkaSinkConfigError, KafkaSinkIds};
pub use error::{KafkaSinkError, MarkerError, StagedMismatch};
pub use record::{OutgoingRecord, RecordEncoder};
pub use staged::{StagedError, KAFKA_STAGED_FORMAT};

use marker::CommitMarker;
use producer::TxnProducer;
use staged::StagedWriter;

/// Writes records of type `T`, encoded by `E`, to a Kafka topic exactly once.
///
/// - [`open`](Sink::open) checks the topic, creates the transactional producer
///   (`transactional.id` from [`KafkaSinkIds`], stable per job, node and shard; idempotent,
///   `acks=all`) and calls `init_transactions`, which fences any older instance of
///   this shard still alive and aborts a transaction it left open. It then reads the
///   commit marker: the newest epoch this shard committed.
/// - [`write`](Sink::write) encodes records into an in-memory buffer (bounded by
///   [`max_epoch_bytes`](KafkaSinkConfig::max_epoch_bytes)); nothing is sent.
/// - [`stage`](Sink::stage) hands the buffer to the checkpoint as a binary document
///   (format [`KAFKA_STAGED_FORMAT`]).
/// - [`commit`](Sink::commit) skips epochs the marker says are committed; otherwise it
///   begins a transaction, produces the staged records, waits for their delivery,
///   adds the marker (offset = epoch) with `send_offsets_to_transaction`, and commits.
///   Records and marker become visible to `read_committed` consumers together.
///
/// A fenced or fatally failed producer, or a failed commit, is a [`SinkError`]: the
/// supervisor rebuilds the pipeline, and the new instance commits the epoch again
/// from the manifest.
///
/// ```no_run
/// # use tidemill_kafka::{KafkaSink, KafkaSinkConfig, OutgoingRecord};
/// # fn build(job: &tidemill_runtime::JobBuilder, totals: tidemill_runtime::Stream<(String, i64)>) {
/// let config = KafkaSinkConfig::new("127.0.0.1:9092", "totals");
/// let encode = |(user, total): (String, i64)| OutgoingRecord::value(total.to_string()).with_key(user);
/// totals.sink("totals", KafkaSink::factory(config, encode));
/// # }
/// ```
pub struct KafkaSink<T, E> {
    config: KafkaSinkConfig,
    ids: KafkaSinkIds,
    /// `node[shard]`, for logs.
    name: Arc<str>,
    encoder: E,
    /// The current epoch's records, encoded.
    buffer: StagedWriter,
    /// Created by `open`.
    clients: Option<Clients>,
    /// Why the producer may not be used again, once that is so.
    broken: Option<String>,
    /// The checkpoint the pipeline resumes, if any.
    resumed: Option<Epoch>,
    /// What a new run does with an earlier run's output.
    existing_output: tidemill_runtime::ExistingOutput,
    _records: PhantomData<fn(T)>,
}

/// The sink's two clients.
struct Clients {
    producer: TxnProducer,
    marker: CommitMarker,
}

impl<T, E> fmt::Debug for KafkaSink<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaSink")
            .field("topic", &self.config.topic)
            .field("transactional_id", &self.ids.transactional_id)
            .field("open", &self.clients.is_some())
            .field("committed_epoch", &self.committed_epoch())
            .field("buffered_records", &self.buffer.records())
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

/// How a Kafka sink names its topic in a [`SinkError`].
fn destination(topic: &str) -> String {
    format!("kafka topic {topic}")
}

impl<T: Send + 'static, E: RecordEncoder<T>> KafkaSink<T, E> {
    /// A sink for shard `ctx.shard` of the sink node `ctx.node`. No client is
    /// created before [`open`](Sink::open); an invalid configuration is an error now.
    pub fn new(config: KafkaSinkConfig, ctx: &NodeContext, encoder: E) -> Result<Self, SinkError> {
        config.validate().map_err(|e| SinkError::unavailable(destination(&config.topic), KafkaSinkError::Config(e)))?;
        let ids = config.ids_for(ctx);
        Ok(KafkaSink {
            name: Arc::from(format!("{}[{}]", ctx.node, ctx.shard)),
            config,
            ids,
            encoder,
            buffer: StagedWriter::default(),
            clients: None,
            broken: None,
            resumed: ctx.run.resumed,
            existing_output: ctx.run.existing_output,
            _records: PhantomData,
        })
    }

    /// A factory the runtime can call after every restart.
    pub fn factory(
        config: KafkaSinkConfig,
        encoder: E,
    ) -> impl Fn(&NodeContext) -> Result<Self, SinkError> + Clone + Send + Sync + 'static
    where
        E: Clone + Sync,
    {
        move |ctx: &NodeContext| Self::new(config.clone(), ctx, encoder.clone())
    }

    /// Commits like [`Sink::commit`], but awaits `before_commit` after the records
    /// and the marker are in the open transaction and before it commits. For crash
    /// and fencing tests: it lets a test look at, or abandon, a transaction in that
    /// state.
    #[doc(hidden)]
    pub async fn commit_pausing<F>(
        &mut self,
        epoch: Epoch,
        staged: StagedOutput,
        before_commit: F,
    ) -> Result<(), SinkError>
    where
        F: Future<Output = ()> + Send,
    {
        let result = self.commit_epoch(epoch, &staged, before_commit).await;
        result.map_err(|e| SinkError::commit(destination(&self.config.topic), e))
    }
}

impl<T, E> KafkaSink<T, E> {
    /// The ids this shard uses: transactional id and marker group.
    pub fn ids(&self) -> &KafkaSinkIds {
        &self.ids
    }

    /// The settings the sink was built with.
    pub fn config(&self) -> &KafkaSinkConfig {
        &self.config
    }

    /// The newest epoch committed to the topic by this sink shard, as read at
    /// `open` and updated by this instance's commits; `None` before `open` or if
    /// none was ever committed.
    pub fn committed_epoch(&self) -> Option<Epoch> {
        self.clients.as_ref().and_then(|c| c.marker.committed())
    }

    /// Records buffered for the current epoch.
    pub fn buffered_records(&self) -> u64 {
        self.buffer.records()
    }
}

impl<T: Send + 'static, E: RecordEncoder<T>> Sink for KafkaSink<T, E> {
    type In = T;

    async fn open(&mut self) -> Result<(), SinkError> {
        match self.open_clients().await {
            Ok(()) => Ok(()),
            Err(KafkaSinkError::EarlierRun { topic, group }) => Err(SinkError::ExistingOutput {
                destination: format!("Kafka topic {topic}"),
                evidence: format!("commit marker group {group}"),
            }),
            Err(e) => Err(SinkError::unavailable(destination(&self.config.topic), e)),
        }
    }

    async fn write(&mut self, batch: Batch<T>) -> Result<(), SinkError> {
        let result = self.buffer_records(batch);
        result.map_err(|e| SinkError::write(destination(&self.config.topic), e))
    }

    async fn stage(&mut self, epoch: Epoch) -> Result<StagedOutput, SinkError> {
        let (records, bytes) = (self.buffer.records(), self.buffer.bytes());
        let staged = self.buffer.finish(epoch, &self.ids.transactional_id, &self.config.topic);
        tracing::debug!(sink = &*self.name, %epoch, records, bytes, "kafka records staged");
        Ok(staged)
    }

    async fn commit(&mut self, epoch: Epoch, staged: StagedOutput) -> Result<(), SinkError> {
        self.commit_pausing(epoch, staged, async {}).await
    }
}
