//! The messages of the job supervisor and of the source actors: what the
//! supervisor, the pipeline and the actors send each other besides records.
//!
//! Apart from the actors that handle them, so that the actors that send them
//! (every shard reports to the supervisor; the supervisor drives the sources)
//! need not import each other.

use crate::checkpoint::ShardAck;
use crate::plan::NodeId;
use crate::time::Epoch;

/// Messages to the job supervisor.
#[derive(Debug)]
pub(crate) enum SupervisorMsg {
    /// An actor passed a checkpoint barrier.
    Ack {
        /// Pipeline generation of the sender.
        generation: u64,
        /// What it reported.
        ack: ShardAck,
    },
    /// A source shard has read all it will read.
    SourceExhausted {
        /// Pipeline generation of the sender.
        generation: u64,
        /// The source node.
        node: NodeId,
        /// The shard.
        shard: usize,
    },
    /// A sink shard committed everything up to an epoch.
    SinkCommitted {
        /// Pipeline generation of the sender.
        generation: u64,
        /// The epoch.
        epoch: Epoch,
    },
    /// Build the pipeline again after a failure.
    Restart,
    /// Inject the next checkpoint barrier.
    TriggerCheckpoint,
    /// Stop gracefully.
    Stop,
    /// Checkpoint now and stop once that checkpoint is committed, without ending
    /// the streams: windows stay open in the checkpoint, for whoever resumes it.
    Suspend,
    /// End at once, without a final checkpoint (a simulated crash).
    Abort,
    /// A failure held back as the consequence of another (an actor could not
    /// send because the actor downstream is gone) is due, unless the failure that
    /// caused it was reported meanwhile.
    HeldFailure {
        /// Pipeline generation the failure belongs to.
        generation: u64,
    },
}

/// Messages a source actor understands.
#[derive(Debug)]
pub(crate) enum SourceMsg {
    /// Read the next batch.
    Poll,
    /// Inject checkpoint barrier `epoch` after what was sent so far.
    Barrier(Epoch),
    /// Checkpoint `epoch` is durable and its output committed.
    CheckpointComplete(Epoch),
    /// Stop reading (graceful stop); the stream ends with `Finish`.
    Stop,
    /// Acknowledge the final epoch and end the stream.
    Finish(Epoch),
}
