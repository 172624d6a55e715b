//! Bounded edges between actors.
//!
//! ractor mailboxes are unbounded, so each edge carries its own credit semaphore:
//! a sender takes one credit per message before it casts, the receiving actor
//! gives the credit back once it has handled the message. A full edge therefore
//! makes the sending actor wait inside its handler, its own mailbox fills, and the
//! wait travels upstream to the source. Edges are per (upstream shard, downstream
//! input) so that barrier alignment, which holds back one input, can never starve
//! another input of credits.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use ractor::ActorRef;
use tokio::sync::Semaphore;

use crate::message::Message;

/// Index of one input of an actor (one upstream shard on one incoming edge).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct InputIndex(pub(crate) usize);

/// The message type of every operator and sink actor.
#[derive(Debug)]
pub(crate) enum NodeMsg<T> {
    /// An in-band message arriving on one input.
    Input(InputIndex, Message<T>),
    /// A checkpoint is complete: sinks may commit what they staged for this epoch.
    CommitEpoch(crate::time::Epoch),
}

/// Counters describing one edge, shared by its two ends.
#[derive(Debug, Default)]
pub(crate) struct EdgeStats {
    /// Messages currently sent but not yet handled.
    pub(crate) in_flight: AtomicU64,
    /// Total nanoseconds senders waited for credit (time blocked on backpressure).
    pub(crate) blocked_nanos: AtomicU64,
}

/// The sending end of one bounded edge into one input of one actor.
pub(crate) struct InputPort<T: Send + 'static> {
    actor: ActorRef<NodeMsg<T>>,
    input: InputIndex,
    credits: Arc<Semaphore>,
    stats: Arc<EdgeStats>,
}

/// The edge's far end could not be reached (the actor stopped).
#[derive(Debug, thiserror::Error)]
#[error("edge closed: downstream actor is gone")]
pub(crate) struct EdgeClosed;

impl<T: Send + 'static> InputPort<T> {
    pub(crate) fn new(
        actor: ActorRef<NodeMsg<T>>,
        input: InputIndex,
        credits: Arc<Semaphore>,
        stats: Arc<EdgeStats>,
    ) -> Self {
        InputPort { actor, input, credits, stats }
    }

    /// Sends a message, waiting for a credit if the edge is full.
    pub(crate) async fn send(&self, message: Message<T>) -> Result<(), EdgeClosed> {
        let permit = match self.credits.try_acquire() {
            Ok(p) => p,
            Err(_) => {
                let started = Instant::now();
                let p = self.credits.acquire().await.map_err(|_| EdgeClosed)?;
                let waited = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
                self.stats.blocked_nanos.fetch_add(waited, Ordering::Relaxed);
                p
            }
        };
        // The receiver returns the credit with `Semaphore::add_permits` once handled.
        permit.forget();
        self.stats.in_flight.fetch_add(1, Ordering::Relaxed);
        self.actor.cast(NodeMsg::Input(self.input, message)).map_err(|_| EdgeClosed)
    }
}

/// The receiving side's handle on one input's credits.
#[derive(Clone, Debug)]
pub(crate) struct InputCredits {
    credits: Arc<Semaphore>,
    stats: Arc<EdgeStats>,
}

impl InputCredits {
    /// Credits for an edge that holds at most `capacity` messages in flight,
    /// counting into `stats` (registered with the job's metrics).
    pub(crate) fn with_stats(capacity: usize, stats: Arc<EdgeStats>) -> Self {
        InputCredits { credits: Arc::new(Semaphore::new(capacity.max(1))), stats }
    }

    /// The sending end for `actor`'s input `input`.
    pub(crate) fn port<T: Send + 'static>(&self, actor: ActorRef<NodeMsg<T>>, input: InputIndex) -> InputPort<T> {
        InputPort::new(actor, input, self.credits.clone(), self.stats.clone())
    }

    /// Gives one credit back after a message was handled.
    pub(crate) fn release(&self) {
        self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.credits.add_permits(1);
    }
}
