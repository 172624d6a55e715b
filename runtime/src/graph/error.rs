//! Why a job graph cannot be built: its own mistakes ([`GraphError`]) or its
//! configuration's ([`BuildError`]). A leaf of the graph module, so that the job's
//! error type can name it without depending on the builder.

/// A job graph that cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// The job reads nothing.
    #[error("the job has no source")]
    NoSource,
    /// The job writes nothing.
    #[error("the job has no sink")]
    NoSink,
    /// A stream's records would go nowhere.
    #[error("the output of `{node}` is never consumed: give it a sink or an operator")]
    Unconsumed {
        /// The node whose output dangles.
        node: String,
    },
    /// Dead letters would go nowhere.
    #[error("dead letters are not routed: call `dead_letters()` and give the stream a sink")]
    NoDeadLetterSink,
    /// `dead_letters()` has a sink, but no operator could ever send it anything.
    #[error("the job has no operator, so nothing can produce dead letters: remove the sink of `dead_letters()`")]
    DeadLettersWithoutProducers,
    /// Two nodes share a name.
    #[error("two nodes are named `{name}`: node names must be unique")]
    DuplicateName {
        /// The name.
        name: String,
    },
    /// `union` was given a stream of another job's builder.
    #[error("`{node}` unions a stream of another job: build both inputs with the same `JobBuilder`")]
    ForeignStream {
        /// The union node.
        node: String,
    },
    /// A node was given no shards or partitions.
    #[error("`{node}` has parallelism 0")]
    ZeroParallelism {
        /// The node.
        node: String,
    },
}

/// A job that cannot be built: its graph or its configuration is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The graph is invalid.
    #[error("invalid job graph: {0}")]
    Graph(#[from] GraphError),
    /// A setting of the job's [`JobConfig`](crate::JobConfig) is invalid.
    #[error("invalid job setting: {0}")]
    Config(#[from] crate::config::ConfigError),
}
