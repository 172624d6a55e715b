//! Why a job could not start or did not finish: [`JobError`] and what it wraps.
//!
//! A module of its own so that the actors, the pipeline and the job handle all
//! report through one error type without importing each other. Every variant
//! carries the typed error underneath as its source; [`ErrorChain`] prints the
//! whole chain, which is how Tidemill's binaries report errors.

use ractor::ActorProcessingErr;

use crate::checkpoint::CheckpointError;
use crate::graph::error::BuildError;
use crate::metrics::MetricsError;
use crate::operator::OperatorError;
use crate::sink::SinkError;
use crate::source::SourceError;
use crate::time::Epoch;

/// Why a job did not finish.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The graph or its configuration is invalid.
    #[error("invalid job")]
    Build(#[from] BuildError),
    /// A node of the first pipeline could not be built or opened (a missing input,
    /// an unwritable output, output of an earlier run that the job may not append
    /// to): a problem of the job's setup, reported at once instead of retried.
    #[error("{node} could not start")]
    Startup {
        /// `node[shard]`, or `job` for the job itself (its metrics endpoint).
        node: String,
        /// Why.
        #[source]
        source: StartupError,
    },
    /// The checkpoint to start from cannot be used, or checkpointing cannot go on
    /// without breaking exactly-once (another owner, a store deleted under the job).
    #[error("checkpoints cannot be used")]
    Checkpoint(#[from] CheckpointError),
    /// The pipeline failed more often than the restart policy allows.
    #[error("job failed after {restarts} restart(s) ({})", match committed {
        Some(e) => format!("output is committed through checkpoint epoch {e}"),
        None => "no output was committed".to_string(),
    })]
    Failed {
        /// The last failure.
        #[source]
        cause: PipelineFailure,
        /// Restarts made before giving up.
        restarts: u32,
        /// The newest checkpoint whose output every sink committed, if any.
        committed: Option<Epoch>,
    },
    /// The job was aborted with [`JobHandle::abort`].
    #[error("job aborted")]
    Aborted,
    /// A bug in Tidemill itself, or the process refused what the job needs.
    #[error("internal error")]
    Internal(#[from] InternalError),
}

/// Why the pipeline failed, as the supervisor saw it.
#[derive(Debug, thiserror::Error)]
pub enum PipelineFailure {
    /// An actor's handler returned an error or panicked.
    #[error("{actor}")]
    Actor {
        /// The actor, `node[shard]`.
        actor: String,
        /// What it failed with.
        #[source]
        error: ActorProcessingErr,
    },
    /// An actor stopped although nobody asked it to.
    #[error("{actor}: stopped unexpectedly ({})", reason.as_deref().unwrap_or_default())]
    Stopped {
        /// The actor, `node[shard]`.
        actor: String,
        /// The reason it gave, if any.
        reason: Option<String>,
    },
    /// Building the pipeline again after a failure failed.
    #[error(transparent)]
    Restart(Box<JobError>),
}

/// What went wrong inside Tidemill (a bug) or with what it asked of the process.
#[derive(Debug, thiserror::Error)]
pub enum InternalError {
    /// A type-erased edge route was handed to a node of another record type.
    #[error("edge route has the wrong record type")]
    RouteType,
    /// A type-erased input port was handed to a node of another record type.
    #[error("input port has the wrong record type")]
    PortType,
    /// Two upstream shards were wired to one input slot.
    #[error("input slot {slot} of {node}[{shard}] taken twice")]
    SlotTakenTwice {
        /// The input slot.
        slot: usize,
        /// The downstream node.
        node: String,
        /// Its shard.
        shard: usize,
    },
    /// The job supervisor stopped without reporting how the job ended.
    #[error("the job supervisor ended without a result")]
    SupervisorGone,
    /// The job supervisor could not be spawned.
    #[error(transparent)]
    SupervisorSpawn(ractor::SpawnErr),
    /// The job supervisor failed to start with an error of no known type.
    #[error(transparent)]
    SupervisorStart(ActorProcessingErr),
    /// The handler of SIGINT or SIGTERM could not be installed.
    #[error(transparent)]
    Signal(std::io::Error),
}

/// What failed when a node of the first pipeline was built or opened.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The source could not be built or restored.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The sink could not be built or opened.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// The operator's state could not be restored.
    #[error(transparent)]
    Operator(#[from] OperatorError),
    /// The metrics endpoint could not be started.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// The actor could not be spawned.
    #[error(transparent)]
    Spawn(ractor::SpawnErr),
    /// The actor failed to start with an error of no known type.
    #[error(transparent)]
    Actor(ActorProcessingErr),
}

impl StartupError {
    /// The startup error inside an actor's failed start, keeping its type where
    /// it is one of the node errors.
    pub(crate) fn from_actor(cause: ActorProcessingErr) -> Self {
        let cause = match cause.downcast::<SinkError>() {
            Ok(e) => return StartupError::Sink(*e),
            Err(other) => other,
        };
        let cause = match cause.downcast::<SourceError>() {
            Ok(e) => return StartupError::Source(*e),
            Err(other) => other,
        };
        match cause.downcast::<OperatorError>() {
            Ok(e) => StartupError::Operator(*e),
            Err(other) => StartupError::Actor(other),
        }
    }
}

/// Displays an error with its sources, `outer: inner: innermost`: how Tidemill's
/// binaries print errors, since each layer's message says only its own part.
///
/// ```
/// use tidemill_runtime::{ErrorChain, JobError, StartupError, SourceError};
///
/// let err = JobError::Startup {
///     node: "input[0]".into(),
///     source: StartupError::Source(SourceError::Unreadable { what: "/in.jsonl".into(), reason: "gone".into() }),
/// };
/// assert_eq!(ErrorChain(&err).to_string(), "input[0] could not start: source cannot read /in.jsonl: gone");
/// ```
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}
