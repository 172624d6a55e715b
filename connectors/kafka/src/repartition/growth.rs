//! The input topic gaining partitions under a running repartitioned job: each
//! new input partition is a new upstream task of the repartition topic, and the
//! readers must wait for it before their watermark moves on.
//!
//! [`UpstreamCount`] is the number of upstream tasks, shared by a stage-2 task's
//! [`RepartitionSource`](super::RepartitionSource) (which watches the input
//! topic's partition count, [`InputWatch`]) and its
//! [`RepartitionReader`](super::RepartitionReader) (which adds the new upstream
//! tasks to its clocks). It only grows: Kafka topics never lose partitions.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;

use crate::metadata::topic_partitions;

/// How often the input topic's partition count is read.
const WATCH_EVERY: Duration = Duration::from_secs(5);

/// The number of upstream tasks writing a repartition topic, shared within a
/// task; cheap to clone.
///
/// ```
/// use tidemill_kafka::repartition::UpstreamCount;
/// let count = UpstreamCount::new(6);
/// assert!(count.raise(12));
/// assert!(!count.raise(8), "it never shrinks");
/// assert_eq!(count.get(), 12);
/// ```
#[derive(Clone, Debug)]
pub struct UpstreamCount(Arc<AtomicU32>);

impl UpstreamCount {
    /// `n` upstream tasks.
    pub fn new(n: u32) -> Self {
        UpstreamCount(Arc::new(AtomicU32::new(n)))
    }

    /// The count now.
    pub fn get(&self) -> u32 {
        self.0.load(Ordering::Acquire)
    }

    /// At least `n` from now on; whether that raised it.
    pub fn raise(&self, n: u32) -> bool {
        self.0.fetch_max(n, Ordering::AcqRel) < n
    }
}

impl From<u32> for UpstreamCount {
    fn from(n: u32) -> Self {
        UpstreamCount::new(n)
    }
}

/// Reads the input topic's partition count every few seconds, off the async
/// threads, and raises an [`UpstreamCount`] when it grew.
pub(crate) struct InputWatch {
    /// The source's admin client (its metadata requests), shared: no client of
    /// its own per task.
    client: Arc<AdminClient<DefaultClientContext>>,
    topic: Arc<str>,
    count: UpstreamCount,
    in_flight: Arc<AtomicBool>,
    last: Option<Instant>,
}

impl InputWatch {
    /// A watch of `topic` through `client`.
    pub(crate) fn new(client: Arc<AdminClient<DefaultClientContext>>, topic: &str, count: UpstreamCount) -> Self {
        InputWatch { client, topic: Arc::from(topic), count, in_flight: Arc::new(AtomicBool::new(false)), last: None }
    }

    /// Starts a reading if the last is old enough and none is under way.
    pub(crate) fn tick(&mut self) {
        if self.last.is_some_and(|t| t.elapsed() < WATCH_EVERY) || self.in_flight.swap(true, Ordering::AcqRel) {
            return;
        }
        self.last = Some(Instant::now());
        let (client, topic, count, in_flight) =
            (self.client.clone(), self.topic.clone(), self.count.clone(), self.in_flight.clone());
        tokio::task::spawn_blocking(move || {
            match topic_partitions(client.inner(), &topic, Duration::from_secs(5)) {
                Ok(n) => {
                    let n = u32::try_from(n).unwrap_or(u32::MAX);
                    if count.raise(n) {
                        tracing::info!(topic = %topic, partitions = n, "the input topic gained partitions: waiting for their upstream tasks");
                    }
                }
                Err(e) => tracing::debug!(topic = %topic, "cannot read the input topic's partition count: {e}"),
            }
            in_flight.store(false, Ordering::Release);
        });
    }
}
