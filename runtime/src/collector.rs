//! Routing an actor's output to the shards of its downstream nodes.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use crate::dead_letter::{DeadLetter, ReasonCode};
use crate::edge::{EdgeClosed, InputPort};
use crate::functions::panic_message;
use crate::message::Message;
use crate::record::Batch;
use crate::routing::shard_of_hash;
use crate::time::{Epoch, Watermark};

/// How a keyed edge routes a record: the routing hash of its key (from `key_by`,
/// see [`crate::routing`]; the key function is user code, so it may panic) and, for
/// a record whose key cannot be computed, the payload of its dead letter.
pub(crate) struct KeyRoute<T> {
    pub(crate) hash: KeyHashFn<T>,
    pub(crate) payload: DeadLetterPayloadFn<T>,
}

/// A function from a record to its routing hash.
pub(crate) type KeyHashFn<T> = Arc<dyn Fn(&T) -> u64 + Send + Sync>;

/// A function from a record to the payload of its dead letter.
pub(crate) type DeadLetterPayloadFn<T> = Arc<dyn Fn(&T) -> Vec<u8> + Send + Sync>;

impl<T> Clone for KeyRoute<T> {
    fn clone(&self) -> Self {
        KeyRoute { hash: self.hash.clone(), payload: self.payload.clone() }
    }
}

/// How records of one edge are spread over the downstream shards.
pub(crate) enum Route<T> {
    /// Upstream shard `i` feeds downstream shard `i` (same parallelism).
    Forward,
    /// Batches go to the downstream shards in turn.
    RoundRobin,
    /// Each record goes to the shard its key hashes to.
    Hash(KeyRoute<T>),
}

impl<T> Clone for Route<T> {
    fn clone(&self) -> Self {
        match self {
            Route::Forward => Route::Forward,
            Route::RoundRobin => Route::RoundRobin,
            Route::Hash(f) => Route::Hash(f.clone()),
        }
    }
}

/// A control message, sent to every downstream shard.
#[derive(Copy, Clone, Debug)]
pub(crate) enum Control {
    Watermark(Watermark),
    Barrier(Epoch),
    End,
}

impl Control {
    fn message<T>(self) -> Message<T> {
        match self {
            Control::Watermark(w) => Message::Watermark(w),
            Control::Barrier(e) => Message::Barrier(e),
            Control::End => Message::EndOfStream,
        }
    }
}

pub(crate) struct OutEdge<T: Send + 'static> {
    ports: Vec<InputPort<T>>,
    route: Route<T>,
    next: usize,
    /// The downstream node: the stage a record whose key panics is rejected by.
    stage: Arc<str>,
    /// Shard per record of the batch being routed (kept to reuse its allocation).
    shards: Vec<Option<usize>>,
}

impl<T: Send + 'static> OutEdge<T> {
    pub(crate) fn new(ports: Vec<InputPort<T>>, route: Route<T>, stage: Arc<str>) -> Self {
        OutEdge { ports, route, next: 0, stage, shards: Vec::new() }
    }

    /// Sends a batch; records whose key function panicked are returned as dead
    /// letters instead.
    async fn send(&mut self, batch: Batch<T>, rejected: &mut Vec<DeadLetter>) -> Result<(), EdgeClosed> {
        let n = self.ports.len();
        let route = match &self.route {
            // One shard: no key is needed (a keyed operator there still computes
            // it, and a panic there is isolated like any operator panic).
            _ if n == 1 => return self.ports[0].send(Message::Data(batch)).await,
            Route::Forward | Route::RoundRobin => {
                let i = self.next % n;
                self.next = self.next.wrapping_add(1);
                return self.ports[i].send(Message::Data(batch)).await;
            }
            Route::Hash(route) => route.clone(),
        };
        let mut shards = std::mem::take(&mut self.shards);
        shards.clear();
        // Key functions are pure: one guard for the batch, and only if it trips,
        // one per record to find the records whose key cannot be computed.
        let all = catch_unwind(AssertUnwindSafe(|| {
            shards.extend(batch.iter().map(|r| Some(shard_of_hash((route.hash)(&r.value), n))));
        }));
        if all.is_err() {
            shards.clear();
            for r in &batch {
                match catch_unwind(AssertUnwindSafe(|| (route.hash)(&r.value))) {
                    Ok(h) => shards.push(Some(shard_of_hash(h, n))),
                    Err(panic) => {
                        let detail =
                            format!("the key function of {} panicked: {}", self.stage, panic_message(panic.as_ref()));
                        let payload = (route.payload)(&r.value);
                        let stage = self.stage.clone();
                        rejected.push(DeadLetter::new(payload, ReasonCode::UserFunctionPanic, detail, r.origin, stage));
                        shards.push(None);
                    }
                }
            }
        }
        let mut parts: Vec<Batch<T>> = (0..n).map(|_| Vec::with_capacity(batch.len() / n + 1)).collect();
        for (r, shard) in batch.into_iter().zip(&shards) {
            if let Some(shard) = shard {
                parts[*shard].push(r);
            }
        }
        self.shards = shards;
        for (port, part) in self.ports.iter().zip(parts) {
            if !part.is_empty() {
                port.send(Message::Data(part)).await?;
            }
        }
        Ok(())
    }
}

/// All outgoing edges of one actor on one output port.
pub(crate) struct Collector<T: Send + 'static> {
    edges: Vec<OutEdge<T>>,
}

impl<T: Clone + Send + 'static> Collector<T> {
    pub(crate) fn new(edges: Vec<OutEdge<T>>) -> Self {
        Collector { edges }
    }

    /// Whether nothing is connected.
    pub(crate) fn is_empty(&self) -> bool {
        self.edges.is_empty()
    }

    /// Sends a batch on every edge (cloned for all but the last: fan-out). Records
    /// a key function panicked on are returned as dead letters, for the caller's
    /// dead-letter output.
    pub(crate) async fn send_batch(&mut self, batch: Batch<T>) -> Result<Vec<DeadLetter>, EdgeClosed> {
        let mut rejected = Vec::new();
        if batch.is_empty() {
            return Ok(rejected);
        }
        let last = self.edges.len().saturating_sub(1);
        let mut batch = Some(batch);
        for (i, edge) in self.edges.iter_mut().enumerate() {
            let b = if i == last { batch.take().unwrap_or_default() } else { batch.clone().unwrap_or_default() };
            edge.send(b, &mut rejected).await?;
        }
        Ok(rejected)
    }

    /// Sends a control message to every downstream shard.
    pub(crate) async fn broadcast(&mut self, control: Control) -> Result<(), EdgeClosed> {
        for edge in &self.edges {
            for port in &edge.ports {
                port.send(control.message()).await?;
            }
        }
        Ok(())
    }
}
