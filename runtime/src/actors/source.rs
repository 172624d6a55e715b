//! The actor that runs one source partition.
//!
//! It polls its [`Source`] by sending itself `Poll` after every batch, so that
//! barrier injection and stop requests, which arrive as messages, interleave with
//! reading. Sending a batch waits for edge credit: that wait is where backpressure
//! reaches the source.

use std::sync::Arc;
use std::time::Instant;

use ractor::{Actor, ActorProcessingErr, ActorRef};

use crate::actors::{AckPayload, NodeId, RunShared};
use crate::collector::{Collector, Control};
use crate::source::{Source, SourcePoll};
use crate::time::{Epoch, Watermark};

/// Messages a source actor understands.
#[derive(Debug)]
pub enum SourceMsg {
    /// Read the next batch.
    Poll,
    /// Inject checkpoint barrier `epoch` after what was sent so far.
    Barrier(Epoch),
    /// Stop reading and end the stream (graceful stop).
    Stop,
}

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
    pub(crate) shared: RunShared,
}

pub(crate) struct SourcePartition<S: Source> {
    args: SourceArgs<S>,
    ended: bool,
    idle_since: Option<Instant>,
    idle_announced: bool,
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
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        myself.cast(SourceMsg::Poll)?;
        Ok(SourcePartition { args, ended: false, idle_since: None, idle_announced: false })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SourceMsg::Poll if !state.ended => state.poll(&myself).await,
            SourceMsg::Poll => Ok(()),
            SourceMsg::Barrier(epoch) if !state.ended => {
                let snapshot = state.args.source.snapshot()?;
                state.args.shared.ack(epoch, state.args.node, state.args.shard, AckPayload::State(snapshot));
                state.args.out.broadcast(Control::Barrier(epoch)).await?;
                Ok(())
            }
            SourceMsg::Barrier(_) => Ok(()),
            SourceMsg::Stop => state.end().await,
        }
    }
}

impl<S> SourcePartition<S>
where
    S: Source,
    S::Out: Clone,
{
    async fn poll(&mut self, myself: &ActorRef<SourceMsg>) -> Result<(), ActorProcessingErr> {
        let config = &self.args.shared.config;
        match self.args.source.poll(config.batch_size).await? {
            SourcePoll::Data(batch) => {
                self.idle_since = None;
                self.idle_announced = false;
                self.args.shared.counters.add_in(batch.len());
                self.args.out.send_batch(batch).await?;
                myself.cast(SourceMsg::Poll)?;
            }
            SourcePoll::Idle => {
                let since = *self.idle_since.get_or_insert_with(Instant::now);
                if !self.idle_announced && since.elapsed() >= config.idle_timeout {
                    self.idle_announced = true;
                    tracing::debug!(source = %self.args.name, partition = self.args.shard, "source idle");
                    self.args.out.broadcast(Control::Watermark(Watermark::Idle)).await?;
                }
                myself.send_after(config.idle_poll_interval, || SourceMsg::Poll);
            }
            SourcePoll::End => self.end().await?,
        }
        Ok(())
    }

    async fn end(&mut self) -> Result<(), ActorProcessingErr> {
        if !self.ended {
            self.ended = true;
            tracing::info!(source = %self.args.name, partition = self.args.shard, "source ended");
            self.args.out.broadcast(Control::End).await?;
        }
        Ok(())
    }
}
