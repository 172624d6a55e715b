//! # tidemill-runtime
//!
//! The core of Tidemill: the records and in-band messages that flow between actors,
//! the [`Operator`], [`Source`] and [`Sink`] traits, the typed job-graph builder,
//! the `ractor` actors that run each source partition, operator shard and sink, the
//! bounded edges between them, watermark tracking, barrier alignment and the job
//! supervisor. See `docs/architecture.md` and `docs/runtime-semantics.md`.

mod actors;
mod alignment;
pub mod checkpoint;
mod collector;
pub mod config;
mod context;
mod counters;
mod dead_letter;
mod discard;
mod edge;
mod error;
mod event_time_board;
mod failpoint;
mod functions;
mod graph;
#[cfg(feature = "testing")]
mod harness;
mod job;
mod message;
pub mod metrics;
mod operator;
mod otlp_protocol;
mod plan;
mod record;
pub mod routing;
mod sink;
mod source;
mod time;
pub mod trace;
mod watermark;

#[cfg(feature = "testing")]
pub mod testing;
#[cfg(feature = "testing")]
mod testing_run;

pub use config::{ConfigError, ExistingOutput, JobConfig, RestartPolicy};
pub use context::{NodeContext, PipelineId, RunInfo};
pub use counters::{peak_resident_bytes, JobSummary};
pub use dead_letter::{DeadLetter, PartitionInfo, ReasonCode, SourceCatalog, SourceKind};
pub use discard::DiscardSink;
pub use error::{ErrorChain, InternalError, JobError, PipelineFailure, StartupError};
pub use event_time_board::EventTimeBoard;
pub use functions::panic_message;
pub use graph::{BuildError, GraphError, JobBuilder, KeyedStream, Stream};
#[cfg(feature = "testing")]
pub use harness::OperatorHarness;
pub use job::{Job, JobControl, JobHandle};
pub use message::Message;
pub use operator::{Operator, OperatorError, Output, SnapshotError, StateSnapshot};
pub use record::{Batch, Offset, Origin, PartitionId, Record, SourceId};
pub use routing::{routing_hash, routing_shard, RoutingHasher, RoutingKey, ROUTING_SCHEME_VERSION};
pub use sink::{Sink, SinkError, StagedOutput};
pub use source::{Source, SourceError, SourcePoll};
pub use time::{duration_millis, Epoch, EventTime, Watermark};
pub use watermark::WatermarkTracker;

/// The cause carried by [`OperatorError`], [`SourceError`] and [`SinkError`]: any
/// error of the operator, source or sink that failed, boxed so that the runtime's
/// error types need not know each connector's, while callers can still downcast it
/// and print its chain.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
