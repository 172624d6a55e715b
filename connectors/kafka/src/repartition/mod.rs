//! Repartition topics: re-keying a job's stream across processes through Kafka,
//! the way Kafka Streams does, with event time carried along.
//!
//! A job whose input is partitioned by one key (orders by `order_id`) and whose
//! state is keyed by another (windows by `user_id`) runs as two stages when it is
//! scaled out through the consumer group:
//!
//! ```text
//! input partition p --> stage 1 task p --[RepartitionWriter -> KafkaSink]--> <job>-repartition
//! <job>-repartition partition q --> [RepartitionSource -> RepartitionReader] --> stage 2 task q
//! ```
//!
//! - Stage 1 writes each record to the repartition partition of its new key, with
//!   the exactly-once [`KafkaSink`](crate::KafkaSink): an epoch's records become
//!   visible to `read_committed` readers when its checkpoint commits, never twice.
//! - Event time crosses the topic as **control records** ([`Control`]): each
//!   stage-1 task writes its watermark, its idleness and (bounded input) its end
//!   into every partition, in order with its data. A stage-2 task's watermark is
//!   the minimum over all stage-1 tasks ([`UpstreamClocks`]), so a lagging
//!   upstream task never makes records late downstream, and a finished input
//!   still fires every window.
//! - The topic is created with a fixed partition count ([`RepartitionTopic`]) and
//!   trimmed behind the readers' checkpoints ([`RepartitionSource`]).
//! - The input topic may gain partitions while the job runs: each new input
//!   partition is a new upstream task, and the readers hold their watermark until
//!   every new one has spoken ([`UpstreamCount`]).
//!
//! docs/scale-out.md says how the order job uses it.

mod clocks;
mod control;
mod envelope;
mod growth;
mod reader;
mod source;
mod topic;
mod writer;

pub use clocks::{UnknownUpstream, UpstreamClocks, MAX_UPSTREAMS};
pub use control::{BadControl, Control, UpstreamTask, CONTROL_HEADER, UPSTREAM_HEADER, WATERMARK_HEADER};
pub use envelope::EnvelopeError;
pub use growth::UpstreamCount;
pub use reader::RepartitionReader;
pub use source::RepartitionSource;
pub use topic::{RepartitionTopic, RepartitionTopicError};
pub use writer::RepartitionWriter;

#[cfg(test)]
mod tests;
