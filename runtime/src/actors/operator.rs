//! The actor that runs one shard of an operator node.

use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef};

use crate::actors::input::{deliver, AlignedInput, InputGate};
use crate::actors::isolation::{self, Hunt};
use crate::actors::{AckPayload, Restore, RunShared};
use crate::collector::{Collector, Control};
use crate::counters::ShardCounter;
use crate::dead_letter::DeadLetter;
use crate::edge::{InputCredits, InputIndex, NodeMsg};
use crate::message::Message;
use crate::metrics::shard::ShardMetrics;
use crate::operator::{Operator, Output, StateSnapshot};
use crate::plan::NodeId;
use crate::record::Record;
use crate::time::{Epoch, EventTime, Watermark};
use crate::trace::{self, SpanKind};
use crate::watermark::WatermarkTracker;

/// Runs one operator shard. Config lives here; everything mutable in the state.
pub(crate) struct OperatorActor<O>(std::marker::PhantomData<fn() -> O>);

impl<O> OperatorActor<O> {
    pub(crate) fn new() -> Self {
        OperatorActor(std::marker::PhantomData)
    }
}

pub(crate) struct OperatorArgs<O: Operator> {
    pub(crate) operator: O,
    pub(crate) node: NodeId,
    pub(crate) name: Arc<str>,
    pub(crate) shard: usize,
    pub(crate) credits: Vec<InputCredits>,
    pub(crate) out: Collector<O::Out>,
    pub(crate) dead_letters: Collector<DeadLetter>,
    pub(crate) shared: RunShared,
    pub(crate) restore: Option<Restore>,
}

pub(crate) struct OperatorShard<O: Operator> {
    args: OperatorArgs<O>,
    watermarks: WatermarkTracker,
    gate: InputGate<O::In>,
    forwarded: EventTime,
    idle_forwarded: bool,
    live_inputs: usize,
    last_epoch: Epoch,
    counter: ShardCounter,
    metrics: ShardMetrics,
    /// Set when this node panicked in an earlier pipeline (see `isolation`).
    hunt: Option<Hunt>,
}

impl<O> Actor for OperatorActor<O>
where
    O: Operator,
    O::In: Clone + serde::Serialize,
    O::Out: Clone,
{
    type Msg = NodeMsg<O::In>;
    type State = OperatorShard<O>;
    type Arguments = OperatorArgs<O>;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        mut args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let credits = std::mem::take(&mut args.credits);
        let inputs = credits.len();
        let (mut counter, metrics) = args.shared.shard(args.node, args.shard, None);
        let last_epoch = args.shared.epoch_before_first();
        if let Some(restore) = args.restore.take() {
            args.operator.restore(&StateSnapshot(restore.state))?;
            counter.restore(restore.counts);
        }
        let hunt = args.shared.suspects.of(&args.name).map(Hunt::new);
        Ok(OperatorShard {
            args,
            watermarks: WatermarkTracker::new(inputs),
            gate: InputGate::new(credits),
            forwarded: EventTime::MIN,
            idle_forwarded: false,
            live_inputs: inputs,
            last_epoch,
            counter,
            metrics,
            hunt,
        })
    }

    async fn post_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // A node nobody feeds (the dead-letter union of a job without operators)
        // has ended before it began.
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
            NodeMsg::Input(input, message) => deliver(state, input, message).await,
            NodeMsg::CommitEpoch(_) => Ok(()),
        }
    }
}

impl<O> OperatorShard<O>
where
    O: Operator,
    O::In: Clone + serde::Serialize,
    O::Out: Clone,
{
    /// Returns whether a barrier completed alignment.
    async fn dispatch_message(
        &mut self,
        input: InputIndex,
        message: Message<O::In>,
    ) -> Result<bool, ActorProcessingErr> {
        match message {
            Message::Data(mut batch) => {
                self.counter.node().add_in(batch.len());
                let mut out = Output::new(self.args.name.clone());
                let span = trace::node_batch_span(
                    "operator",
                    &self.args.name,
                    self.args.shard,
                    SpanKind::Internal,
                    &mut batch,
                );
                let operator = &mut self.args.operator;
                let hunt = self.hunt.as_ref();
                let process = || match hunt {
                    Some(h) if h.is_suspect(&batch) => isolation::process_isolated(operator, batch, &mut out),
                    _ => isolation::process_guarded(operator, batch, &mut out, hunt.is_some()),
                };
                match &span {
                    // Log lines of the operator name the trace of its batch.
                    Some(span) => span.log_span().in_scope(process)?,
                    None => process()?,
                }
                drop(span);
                self.flush(out).await?;
            }
            Message::Watermark(w) => self.on_watermark(input, w).await?,
            Message::Barrier(epoch) => {
                if let Some(epoch) = self.gate.aligner.on_barrier(input, epoch) {
                    self.checkpoint(epoch).await?;
                    return Ok(true);
                }
            }
            Message::EndOfStream => {
                self.live_inputs -= 1;
                if let Some(t) = self.watermarks.end(input.0) {
                    self.advance(t).await?;
                }
                let aligned = self.gate.aligner.on_end(input);
                if let Some(epoch) = aligned {
                    self.checkpoint(epoch).await?;
                }
                if self.live_inputs == 0 {
                    self.finish().await?;
                }
                return Ok(aligned.is_some());
            }
        }
        Ok(false)
    }

    async fn on_watermark(&mut self, input: InputIndex, w: Watermark) -> Result<(), ActorProcessingErr> {
        let advanced = self.watermarks.update(input.0, w);
        if self.args.operator.generates_watermarks() {
            // A timestamp assigner makes its own watermarks from the data; it only
            // passes on that its input went idle.
            if w == Watermark::Idle && !self.idle_forwarded {
                self.idle_forwarded = true;
                self.args.out.broadcast(Control::Watermark(Watermark::Idle)).await?;
            }
            return Ok(());
        }
        match advanced {
            Some(t) => self.advance(t).await?,
            None if self.watermarks.all_idle() && !self.idle_forwarded => {
                self.idle_forwarded = true;
                let mut out = Output::new(self.args.name.clone());
                self.args.operator.on_idle(&mut out)?;
                self.flush(out).await?;
                self.args.out.broadcast(Control::Watermark(Watermark::Idle)).await?;
            }
            None => {}
        }
        Ok(())
    }

    async fn advance(&mut self, t: EventTime) -> Result<(), ActorProcessingErr> {
        let mut out = Output::new(self.args.name.clone());
        self.args.operator.on_watermark(t, &mut out)?;
        if !self.args.operator.generates_watermarks() || t == EventTime::MAX {
            out.emit_watermark(t);
        }
        self.flush(out).await
    }

    async fn checkpoint(&mut self, epoch: Epoch) -> Result<(), ActorProcessingErr> {
        self.metrics.aligned(self.gate.credits.len(), self.gate.aligner.last_alignment());
        self.acknowledge(epoch)?;
        self.args.out.broadcast(Control::Barrier(epoch)).await?;
        self.args.dead_letters.broadcast(Control::Barrier(epoch)).await?;
        Ok(())
    }

    fn acknowledge(&mut self, epoch: Epoch) -> Result<(), ActorProcessingErr> {
        let started = std::time::Instant::now();
        let snapshot = self.args.operator.snapshot()?;
        self.metrics.snapshot(started.elapsed());
        self.last_epoch = epoch;
        let counts = self.counter.snapshot();
        self.args.shared.ack(epoch, self.args.node, self.args.shard, AckPayload::State(snapshot), counts);
        Ok(())
    }

    /// Every input has ended: fire what is open, acknowledge the final epoch (the
    /// end of the stream stands for its barrier), and end the outputs.
    async fn finish(&mut self) -> Result<(), ActorProcessingErr> {
        if self.forwarded != EventTime::MAX {
            self.advance(EventTime::MAX).await?;
        }
        self.acknowledge(self.last_epoch.next())?;
        self.args.out.broadcast(Control::End).await?;
        self.args.dead_letters.broadcast(Control::End).await?;
        Ok(())
    }

    async fn flush(&mut self, mut out: Output<O::Out>) -> Result<(), ActorProcessingErr> {
        let (records, mut dead, watermark) = out.take();
        if !records.is_empty() {
            self.counter.node().add_out(records.len());
            dead.extend(self.args.out.send_batch(records).await?);
        }
        if !dead.is_empty() {
            self.counter.add_dead_letters(&dead);
            if self.args.dead_letters.is_empty() {
                // Only nodes downstream of the dead-letter stream itself have nowhere
                // to send theirs; say so loudly rather than drop them quietly.
                for d in &dead {
                    tracing::error!(stage = %d.stage, reason = %d.reason, detail = %d.detail, origin = %d.origin,
                        "dead letter in the dead-letter path cannot be routed");
                }
            } else {
                let batch = dead
                    .into_iter()
                    .map(|d| {
                        let origin = d.origin;
                        Record::new(d, EventTime::MIN, origin)
                    })
                    .collect();
                // Dead letters are never keyed: nothing can be rejected here.
                self.args.dead_letters.send_batch(batch).await?;
            }
        }
        if let Some(w) = watermark {
            if w > self.forwarded {
                self.forwarded = w;
                self.metrics.watermark(w);
                self.idle_forwarded = false;
                self.args.out.broadcast(Control::Watermark(Watermark::At(w))).await?;
            }
        }
        Ok(())
    }
}

impl<O> AlignedInput<O::In> for OperatorShard<O>
where
    O: Operator,
    O::In: Clone + serde::Serialize,
    O::Out: Clone,
{
    fn gate(&mut self) -> &mut InputGate<O::In> {
        &mut self.gate
    }

    fn dispatch(
        &mut self,
        input: InputIndex,
        message: Message<O::In>,
    ) -> impl std::future::Future<Output = Result<bool, ActorProcessingErr>> + Send {
        self.dispatch_message(input, message)
    }
}
