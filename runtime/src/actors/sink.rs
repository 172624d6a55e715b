//! The actor that runs one shard of a sink node.

use std::collections::BTreeMap;
use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef};

use crate::actors::input::{deliver, AlignedInput, InputGate};
use crate::actors::messages::SupervisorMsg;
use crate::actors::{AckPayload, Restore, RunShared};
use crate::collector::{Collector, Control};
use crate::counters::ShardCounter;
use crate::dead_letter::DeadLetter;
use crate::edge::{InputCredits, InputIndex, NodeMsg};
use crate::message::Message;
use crate::metrics::shard::ShardMetrics;
use crate::metrics::EpochLatency;
use crate::plan::NodeId;
use crate::record::Record;
use crate::sink::{Sink, StagedOutput};
use crate::time::Epoch;
use crate::time::EventTime;
use crate::trace::{self, KeyValue, LinkedSpan, SpanKind, TraceContext};

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
    /// Rows the destination refused (output sinks only).
    pub(crate) dead_letters: Collector<DeadLetter>,
    pub(crate) shared: RunShared,
    pub(crate) restore: Option<Restore>,
}

pub(crate) struct SinkShard<S: Sink> {
    args: SinkArgs<S>,
    gate: InputGate<S::In>,
    live_inputs: usize,
    last_epoch: Epoch,
    staged: BTreeMap<Epoch, StagedOutput>,
    counter: ShardCounter,
    metrics: ShardMetrics,
    /// Event time to visibility of what this shard writes.
    latency: EpochLatency,
    /// Sampled trace contexts written since the last barrier, then per staged
    /// epoch: the commit span links to them. At most `trace::MAX_LINKS` each.
    traces: TraceLog,
}

/// The sampled contexts a sink shard wrote, by epoch, for its commit spans.
#[derive(Default)]
struct TraceLog {
    pending: Vec<TraceContext>,
    staged: BTreeMap<Epoch, Vec<TraceContext>>,
}

impl TraceLog {
    fn note<T>(&mut self, batch: &[crate::Record<T>]) {
        if !trace::enabled() {
            return;
        }
        for cx in batch.iter().filter_map(crate::Record::trace_context) {
            if self.pending.len() >= trace::MAX_LINKS {
                break;
            }
            if !self.pending.contains(&cx) {
                self.pending.push(cx);
            }
        }
    }

    fn seal(&mut self, epoch: Epoch) {
        if !self.pending.is_empty() {
            self.staged.insert(epoch, std::mem::take(&mut self.pending));
        }
    }

    /// The commit span of `epoch`, if it made sampled records visible.
    fn commit_span(&mut self, epoch: Epoch, sink: &str, shard: usize) -> Option<LinkedSpan> {
        let contexts = self.staged.remove(&epoch)?;
        LinkedSpan::start(
            format!("commit {sink}"),
            SpanKind::Internal,
            vec![
                KeyValue::new("tidemill.node", sink.to_string()),
                KeyValue::new("tidemill.shard", shard as i64),
                KeyValue::new("tidemill.epoch", epoch.get() as i64),
            ],
            contexts,
        )
    }
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
        let credits = std::mem::take(&mut args.credits);
        let inputs = credits.len();
        let (mut counter, metrics) = args.shared.shard(args.node, args.shard, Some(&args.name));
        let latency = metrics.sink_latency();
        let last_epoch = args.shared.epoch_before_first();
        if let Some(restore) = args.restore.take() {
            // Recovery: the checkpoint is durable, so what this shard staged for it
            // must become visible. The commit is idempotent: if it already happened
            // before the crash, the sink sees its transaction and skips it.
            args.sink.commit(restore.epoch, StagedOutput(restore.state)).await?;
            counter.restore(restore.counts);
        }
        Ok(SinkShard {
            args,
            gate: InputGate::new(credits),
            live_inputs: inputs,
            last_epoch,
            staged: BTreeMap::new(),
            counter,
            metrics,
            latency,
            traces: TraceLog::default(),
        })
    }

    async fn post_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if state.live_inputs == 0 {
            state.stage_end().await?;
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
            NodeMsg::CommitEpoch(epoch) => state.commit_through(epoch).await,
        }
    }
}

impl<S: Sink> SinkShard<S> {
    async fn dispatch_message(
        &mut self,
        input: InputIndex,
        message: Message<S::In>,
    ) -> Result<bool, ActorProcessingErr> {
        match message {
            Message::Data(batch) => {
                let n = batch.len();
                if self.args.role == SinkRole::Output {
                    // Dead letters carry no event time worth a latency.
                    self.latency.note_batch(&batch);
                    self.traces.note(&batch);
                }
                self.args.sink.write(batch).await?;
                let refused = self.args.sink.take_dead_letters();
                self.counter.add_written(n - refused.len().min(n), self.args.role == SinkRole::DeadLetters);
                self.send_dead_letters(refused).await?;
            }
            Message::Watermark(_) => {}
            Message::Barrier(epoch) => {
                if let Some(epoch) = self.gate.aligner.on_barrier(input, epoch) {
                    self.metrics.aligned(self.gate.credits.len(), self.gate.aligner.last_alignment());
                    self.stage_barrier(epoch).await?;
                    return Ok(true);
                }
            }
            Message::EndOfStream => {
                self.live_inputs -= 1;
                let aligned = self.gate.aligner.on_end(input);
                if let Some(epoch) = aligned {
                    self.stage_barrier(epoch).await?;
                }
                if self.live_inputs == 0 {
                    self.stage_end().await?;
                }
                return Ok(aligned.is_some());
            }
        }
        Ok(false)
    }

    /// Makes this epoch's output durable but invisible and acknowledges it; the
    /// commit waits until the checkpoint is complete.
    async fn stage(&mut self, epoch: Epoch) -> Result<(), ActorProcessingErr> {
        let started = std::time::Instant::now();
        let staged = self.args.sink.stage(epoch).await?;
        // Rows refused while staging were counted as written when they came.
        let refused = self.args.sink.take_dead_letters();
        self.counter.unwrite(refused.len(), self.args.role == SinkRole::DeadLetters);
        self.send_dead_letters(refused).await?;
        self.metrics.snapshot(started.elapsed());
        self.latency.seal(epoch);
        self.traces.seal(epoch);
        self.last_epoch = epoch;
        self.staged.insert(epoch, staged.clone());
        let counts = self.counter.snapshot();
        self.args.shared.ack(epoch, self.args.node, self.args.shard, AckPayload::Staged(staged), counts);
        Ok(())
    }

    /// Stages an aligned barrier's epoch and passes the barrier on to the dead
    /// letters (after the refused rows of the epoch).
    async fn stage_barrier(&mut self, epoch: Epoch) -> Result<(), ActorProcessingErr> {
        self.stage(epoch).await?;
        self.args.dead_letters.broadcast(Control::Barrier(epoch)).await?;
        Ok(())
    }

    /// Every input ended: the end stands for the final epoch's barrier, here and
    /// on the dead-letter output.
    async fn stage_end(&mut self) -> Result<(), ActorProcessingErr> {
        self.stage(self.last_epoch.next()).await?;
        self.args.dead_letters.broadcast(Control::End).await?;
        Ok(())
    }

    /// Sends rows the destination refused to the dead letters.
    async fn send_dead_letters(&mut self, refused: Vec<DeadLetter>) -> Result<(), ActorProcessingErr> {
        if refused.is_empty() {
            return Ok(());
        }
        if self.args.dead_letters.is_empty() {
            // A dead-letter sink (or a job without one, which build() refuses).
            return Err(format!(
                "{} refused {} row(s) and has nowhere to send them: {}",
                self.args.name,
                refused.len(),
                refused[0].detail
            )
            .into());
        }
        self.counter.add_dead_letters(&refused);
        let batch = refused.into_iter().map(|d| {
            let origin = d.origin;
            Record::new(d, EventTime::MIN, origin)
        });
        self.args.dead_letters.send_batch(batch.collect()).await?;
        Ok(())
    }

    async fn commit_through(&mut self, epoch: Epoch) -> Result<(), ActorProcessingErr> {
        while let Some(entry) = self.staged.first_entry() {
            if *entry.key() > epoch {
                break;
            }
            let (e, staged) = entry.remove_entry();
            let started = std::time::Instant::now();
            let span = self.traces.commit_span(e, &self.args.name, self.args.shard);
            let commit = self.args.sink.commit(e, staged);
            match &span {
                Some(span) => tracing::Instrument::instrument(commit, span.log_span().clone()).await?,
                None => commit.await?,
            }
            drop(span);
            self.metrics.commit(started.elapsed());
            self.latency.committed(e);
            tracing::debug!(sink = %self.args.name, epoch = %e, "committed");
        }
        let msg = SupervisorMsg::SinkCommitted { generation: self.args.shared.generation, epoch };
        let _ = self.args.shared.supervisor.cast(msg);
        Ok(())
    }
}

impl<S> AlignedInput<S::In> for SinkShard<S>
where
    S: Sink,
{
    fn gate(&mut self) -> &mut InputGate<S::In> {
        &mut self.gate
    }

    fn dispatch(
        &mut self,
        input: InputIndex,
        message: Message<S::In>,
    ) -> impl std::future::Future<Output = Result<bool, ActorProcessingErr>> + Send {
        self.dispatch_message(input, message)
    }
}
