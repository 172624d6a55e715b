//! The actor that runs one shard of a sink node.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef};

use crate::actors::supervisor::SupervisorMsg;
use crate::actors::{AckPayload, NodeId, RunShared};
use crate::alignment::BarrierAligner;
use crate::edge::{InputCredits, InputIndex, NodeMsg};
use crate::message::Message;
use crate::sink::{Sink, StagedOutput};
use crate::time::Epoch;

/// Whether a sink writes job output or dead letters (for the counters).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum SinkRole {
    Output,
    DeadLetters,
}

pub(crate) struct SinkActor<S>(std::marker::PhantomData<fn() -> S>);

impl<S> SinkActor<S> {
    pub(crate) fn new() -> Self {
        SinkActor(std::marker::PhantomData)
    }
}

pub(crate) struct SinkArgs<S: Sink> {
    pub(crate) sink: S,
    pub(crate) node: NodeId,
    pub(crate) name: Arc<str>,
    pub(crate) shard: usize,
    pub(crate) role: SinkRole,
    pub(crate) credits: Vec<InputCredits>,
    pub(crate) shared: RunShared,
}

pub(crate) struct SinkShard<S: Sink> {
    args: SinkArgs<S>,
    aligner: BarrierAligner<S::In>,
    live_inputs: usize,
    last_epoch: Epoch,
    staged: BTreeMap<Epoch, StagedOutput>,
    written: Arc<AtomicU64>,
}

impl<S: Sink> Actor for SinkActor<S> {
    type Msg = NodeMsg<S::In>;
    type State = SinkShard<S>;
    type Arguments = SinkArgs<S>;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        mut args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        args.sink.open().await?;
        let inputs = args.credits.len();
        let written = args.shared.counters.sink_counter(&args.name);
        Ok(SinkShard {
            written,
            args,
            aligner: BarrierAligner::new(inputs),
            live_inputs: inputs,
            last_epoch: Epoch::ZERO,
            staged: BTreeMap::new(),
        })
    }

    async fn post_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if state.live_inputs == 0 {
            state.finish().await?;
        }
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            NodeMsg::Input(input, message) => state.on_input(input, message).await,
            NodeMsg::CommitEpoch(epoch) => state.commit_through(epoch).await,
        }
    }
}

impl<S: Sink> SinkShard<S> {
    async fn on_input(&mut self, input: InputIndex, message: Message<S::In>) -> Result<(), ActorProcessingErr> {
        if self.aligner.is_held(input) {
            self.aligner.hold(input, message);
            return Ok(());
        }
        let mut aligned = self.dispatch(input, message).await?;
        self.args.credits[input.0].release();
        while aligned {
            aligned = false;
            let mut released = self.aligner.release();
            while let Some((i, m)) = released.pop_front() {
                if self.aligner.is_held(i) {
                    self.aligner.hold(i, m);
                    continue;
                }
                aligned |= self.dispatch(i, m).await?;
                self.args.credits[i.0].release();
            }
        }
        Ok(())
    }

    async fn dispatch(&mut self, input: InputIndex, message: Message<S::In>) -> Result<bool, ActorProcessingErr> {
        match message {
            Message::Data(batch) => {
                let n = batch.len();
                self.args.sink.write(batch).await?;
                self.written.fetch_add(n as u64, Ordering::Relaxed);
                match self.args.role {
                    SinkRole::Output => self.args.shared.counters.add_out(n),
                    SinkRole::DeadLetters => self.args.shared.counters.add_dead_letters_written(n),
                }
            }
            Message::Watermark(_) => {}
            Message::Barrier(epoch) => {
                if let Some(epoch) = self.aligner.on_barrier(input, epoch) {
                    self.stage(epoch).await?;
                    return Ok(true);
                }
            }
            Message::EndOfStream => {
                self.live_inputs -= 1;
                let aligned = self.aligner.on_end(input);
                if let Some(epoch) = aligned {
                    self.stage(epoch).await?;
                }
                if self.live_inputs == 0 {
                    self.finish().await?;
                }
                return Ok(aligned.is_some());
            }
        }
        Ok(false)
    }

    async fn stage(&mut self, epoch: Epoch) -> Result<(), ActorProcessingErr> {
        let staged = self.args.sink.stage(epoch).await?;
        self.last_epoch = self.last_epoch.max(epoch);
        self.staged.insert(epoch, staged.clone());
        self.args.shared.ack(epoch, self.args.node, self.args.shard, AckPayload::Staged(staged));
        Ok(())
    }

    async fn commit_through(&mut self, epoch: Epoch) -> Result<(), ActorProcessingErr> {
        while let Some(entry) = self.staged.first_entry() {
            if *entry.key() > epoch {
                break;
            }
            let (e, staged) = entry.remove_entry();
            self.args.sink.commit(e, staged).await?;
            tracing::debug!(sink = %self.args.name, epoch = %e, "committed");
        }
        Ok(())
    }

    /// The input is exhausted: stage and commit a final epoch, then report.
    async fn finish(&mut self) -> Result<(), ActorProcessingErr> {
        let last = self.last_epoch.next();
        self.stage(last).await?;
        self.commit_through(last).await?;
        tracing::info!(sink = %self.args.name, shard = self.args.shard, epoch = %last, "sink finished");
        let msg = SupervisorMsg::SinkFinished {
            generation: self.args.shared.generation,
            node: self.args.node,
            shard: self.args.shard,
        };
        let _ = self.args.shared.supervisor.cast(msg);
        Ok(())
    }
}
