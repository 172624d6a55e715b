//! The actor that runs one source partition.
//!
//! It polls its [`Source`] by sending itself `Poll` after every batch, so that
//! barrier injection and stop requests, which arrive as messages, interleave with
//! reading. Sending a batch waits for edge credit: that wait is where backpressure
//! reaches the source.
//!
//! A source whose input is exhausted (or that was asked to stop) stops reading and
//! tells the supervisor, but keeps passing barriers; it ends its stream only when
//! the supervisor sends `Finish`, after the last periodic checkpoint, so that the
//! end of the stream can stand for the final checkpoint's barrier everywhere.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef};

use crate::actors::messages::{SourceMsg, SupervisorMsg};
use crate::actors::{AckPayload, Restore, RunShared};
use crate::collector::{Collector, Control};
use crate::counters::ShardCounter;
use crate::dead_letter::DeadLetter;
use crate::edge::EdgeClosed;
use crate::operator::StateSnapshot;
use crate::plan::NodeId;
use crate::record::{Batch, Record};
use crate::source::{Source, SourcePoll};
use crate::time::EventTime;
use crate::time::{Epoch, Watermark};
use crate::trace::{self, SpanKind};

/// How long a send may wait for downstream credit before the source is paused.
/// Short waits are normal flow control; pausing on each would churn the client.
const PAUSE_AFTER: Duration = Duration::from_millis(50);
/// How often a partition waiting for the others (watermark alignment) looks again.
const ALIGNMENT_RECHECK: Duration = Duration::from_millis(5);

pub(crate) struct SourceActor<S>(std::marker::PhantomData<fn() -> S>);

impl<S> SourceActor<S> {
    pub(crate) fn new() -> Self {
        SourceActor(std::marker::PhantomData)
    }
}

pub(crate) struct SourceArgs<S: Source> {
    pub(crate) source: S,
    pub(crate) node: NodeId,
    pub(crate) name: Arc<str>,
    pub(crate) shard: usize,
    pub(crate) out: Collector<S::Out>,
    /// Records the source rejected (oversized) or a key function could not route.
    pub(crate) dead_letters: Collector<DeadLetter>,
    pub(crate) shared: RunShared,
    pub(crate) restore: Option<Restore>,
}

pub(crate) struct SourcePartition<S: Source> {
    args: SourceArgs<S>,
    exhausted: bool,
    ended: bool,
    idle_since: Option<Instant>,
    /// Since when the pause after an empty poll runs (idle time not yet counted).
    idle_mark: Option<Instant>,
    idle_announced: bool,
    counter: ShardCounter,
    /// Records read since the last barrier, for `max_records_per_checkpoint`.
    since_barrier: u64,
    /// Waiting for a barrier because the per-checkpoint cap was reached.
    capped: bool,
    /// Source time (the Kafka timestamp) to the commit of the checkpoint.
    latency: crate::metrics::EpochLatency,
    /// Paused because this partition is too far ahead in event time.
    aligning: bool,
}

impl<S> Actor for SourceActor<S>
where
    S: Source,
    S::Out: Clone,
{
    type Msg = SourceMsg;
    type State = SourcePartition<S>;
    type Arguments = SourceArgs<S>;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        mut args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let (mut counter, metrics) = args.shared.shard(args.node, args.shard, None);
        if let Some(restore) = args.restore.take() {
            args.source.restore(&StateSnapshot(restore.state))?;
            counter.restore(restore.counts);
        }
        myself.cast(SourceMsg::Poll)?;
        Ok(SourcePartition {
            args,
            exhausted: false,
            ended: false,
            idle_since: None,
            idle_mark: None,
            idle_announced: false,
            counter,
            since_barrier: 0,
            capped: false,
            latency: metrics.source_latency(),
            aligning: false,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SourceMsg::Poll if !state.exhausted => state.poll(&myself).await,
            SourceMsg::Poll => Ok(()),
            SourceMsg::Barrier(epoch) if !state.ended => {
                state.acknowledge(epoch)?;
                state.args.out.broadcast(Control::Barrier(epoch)).await?;
                state.args.dead_letters.broadcast(Control::Barrier(epoch)).await?;
                state.since_barrier = 0;
                if std::mem::take(&mut state.capped) && !state.exhausted {
                    myself.cast(SourceMsg::Poll)?;
                }
                Ok(())
            }
            SourceMsg::Barrier(_) => Ok(()),
            SourceMsg::CheckpointComplete(epoch) => {
                state.latency.committed(epoch);
                state.args.source.checkpoint_complete(epoch).await?;
                Ok(())
            }
            SourceMsg::Stop => state.exhaust().await,
            SourceMsg::Finish(epoch) if !state.ended => {
                state.ended = true;
                state.acknowledge(epoch)?;
                tracing::info!(source = %state.args.name, partition = state.args.shard, "source ended");
                state.args.out.broadcast(Control::End).await?;
                state.args.dead_letters.broadcast(Control::End).await?;
                Ok(())
            }
            SourceMsg::Finish(_) => Ok(()),
        }
    }
}

impl<S> SourcePartition<S>
where
    S: Source,
    S::Out: Clone,
{
    async fn poll(&mut self, myself: &ActorRef<SourceMsg>) -> Result<(), ActorProcessingErr> {
        let config = self.args.shared.config.clone();
        if self.wait_for_slower_partitions(config.max_event_time_drift) {
            myself.send_after(ALIGNMENT_RECHECK, || SourceMsg::Poll);
            return Ok(());
        }
        let cap = config.max_records_per_checkpoint.filter(|_| config.checkpoint_interval.is_some());
        // Never read past the cap: a batch is cut to what is left of it.
        let room = cap.map_or(u64::MAX, |cap| cap.saturating_sub(self.since_barrier)).max(1);
        let max = (config.batch_size as u64).min(room) as usize;
        // Waiting for input is idle time (the scaling signal's busy share): the
        // time inside `poll` (a consumer with a backlog returns at once, one
        // trickled into waits there) and the pause after an empty poll.
        let asked = Instant::now();
        if let Some(mark) = self.idle_mark.take() {
            self.counter.add_idle(asked - mark);
        }
        let polled = self.args.source.poll(max).await?;
        self.counter.add_idle(asked.elapsed());
        let rejected = self.args.source.take_dead_letters();
        self.send_dead_letters(rejected).await?;
        match polled {
            SourcePoll::Data(mut batch) => {
                if self.idle_since.take().is_some() {
                    self.args.shared.event_time.set_idle(self.args.shard, false);
                }
                self.idle_announced = false;
                self.counter.add_in(batch.len());
                self.latency.note_batch(&batch);
                self.since_barrier += batch.len() as u64;
                // Ends once the batch is handed downstream (backpressure included).
                let span =
                    trace::node_batch_span("source", &self.args.name, self.args.shard, SpanKind::Consumer, &mut batch);
                self.send(batch).await?;
                drop(span);
                if cap.is_some_and(|cap| self.since_barrier >= cap) {
                    // Resumed by the next barrier.
                    self.capped = true;
                } else {
                    myself.cast(SourceMsg::Poll)?;
                }
            }
            SourcePoll::Idle => {
                self.idle_mark = Some(Instant::now());
                let since = *self.idle_since.get_or_insert_with(Instant::now);
                if !self.idle_announced && since.elapsed() >= config.idle_timeout {
                    self.idle_announced = true;
                    self.args.shared.event_time.set_idle(self.args.shard, true);
                    tracing::debug!(source = %self.args.name, partition = self.args.shard, "source idle");
                    self.args.out.broadcast(Control::Watermark(Watermark::Idle)).await?;
                }
                myself.send_after(config.idle_poll_interval, || SourceMsg::Poll);
            }
            SourcePoll::End => self.exhaust().await?,
        }
        Ok(())
    }

    /// Watermark alignment: whether this partition must wait because it is more
    /// than `drift` ahead of the slowest active one. Pauses the source (a Kafka
    /// partition stops fetching) while it waits, resumes it after.
    fn wait_for_slower_partitions(&mut self, drift: Option<Duration>) -> bool {
        let ahead = drift.is_some_and(|d| self.args.shared.event_time.is_ahead(self.args.shard, d));
        if ahead != self.aligning {
            self.aligning = ahead;
            if ahead {
                tracing::debug!(source = %self.args.name, partition = self.args.shard, "ahead in event time: waiting");
                self.args.source.pause();
            } else {
                self.args.source.resume();
            }
        }
        ahead
    }

    /// Sends records the source or a key function rejected to the dead letters,
    /// counted like an operator's.
    async fn send_dead_letters(&mut self, dead: Vec<DeadLetter>) -> Result<(), ActorProcessingErr> {
        if dead.is_empty() {
            return Ok(());
        }
        if self.args.dead_letters.is_empty() {
            // build() refuses jobs whose rejecting sources have no dead-letter sink.
            return Err(
                format!("{} rejected {} record(s) but has no dead-letter output", self.args.name, dead.len()).into()
            );
        }
        self.counter.add_dead_letters(&dead);
        let batch = dead.into_iter().map(|d| {
            let origin = d.origin;
            Record::new(d, EventTime::MIN, origin)
        });
        self.args.dead_letters.send_batch(batch.collect()).await?;
        Ok(())
    }

    /// Sends a batch downstream; if that waits longer than [`PAUSE_AFTER`], the
    /// source is paused until the batch is taken. Records whose key could not be
    /// computed go to the dead letters.
    async fn send(&mut self, batch: Batch<S::Out>) -> Result<(), ActorProcessingErr> {
        let rejected = self.send_paced(batch).await?;
        self.send_dead_letters(rejected).await
    }

    async fn send_paced(&mut self, batch: Batch<S::Out>) -> Result<Vec<DeadLetter>, EdgeClosed> {
        let send = self.args.out.send_batch(batch);
        tokio::pin!(send);
        tokio::select! {
            biased;
            sent = &mut send => return sent,
            _ = tokio::time::sleep(PAUSE_AFTER) => {}
        }
        let started = Instant::now();
        tracing::debug!(source = %self.args.name, partition = self.args.shard, "downstream full: source paused");
        self.args.source.pause();
        let sent = send.await;
        self.args.source.resume();
        tracing::debug!(
            source = %self.args.name,
            partition = self.args.shard,
            paused_ms = started.elapsed().as_millis() as u64,
            "source resumed"
        );
        sent
    }

    fn acknowledge(&mut self, epoch: Epoch) -> Result<(), ActorProcessingErr> {
        let snapshot = self.args.source.snapshot()?;
        let counts = self.counter.snapshot();
        self.latency.seal(epoch);
        self.args.shared.ack(epoch, self.args.node, self.args.shard, AckPayload::State(snapshot), counts);
        Ok(())
    }

    /// Stops reading. The partition says it is idle, so that the other partitions'
    /// event time moves on, and tells the supervisor, which ends every stream once
    /// all sources are exhausted.
    async fn exhaust(&mut self) -> Result<(), ActorProcessingErr> {
        if self.exhausted {
            return Ok(());
        }
        self.exhausted = true;
        self.args.shared.event_time.set_idle(self.args.shard, true);
        if std::mem::take(&mut self.aligning) {
            self.args.source.resume();
        }
        tracing::info!(source = %self.args.name, partition = self.args.shard, "source exhausted");
        if !self.idle_announced {
            self.idle_announced = true;
            self.args.out.broadcast(Control::Watermark(Watermark::Idle)).await?;
        }
        let msg = SupervisorMsg::SourceExhausted {
            generation: self.args.shared.generation,
            node: self.args.node,
            shard: self.args.shard,
        };
        let _ = self.args.shared.supervisor.cast(msg);
        Ok(())
    }
}
