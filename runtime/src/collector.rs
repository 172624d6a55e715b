//! Routing an actor's output to the shards of its downstream nodes.

use std::sync::Arc;

use crate::edge::{EdgeClosed, InputPort};
use crate::message::Message;
use crate::record::Batch;
use crate::routing::shard_of_hash;
use crate::time::{Epoch, Watermark};

/// A function from a record to its routing hash (from `key_by`, see [`crate::routing`]).
pub(crate) type KeyHashFn<T> = Arc<dyn Fn(&T) -> u64 + Send + Sync>;

/// How records of one edge are spread over the downstream shards.
pub(crate) enum Route<T> {
    /// Upstream shard `i` feeds downstream shard `i` (same parallelism).
    Forward,
    /// Batches go to the downstream shards in turn.
    RoundRobin,
    /// Each record goes to the shard its key hashes to.
    Hash(KeyHashFn<T>),
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
}

impl<T: Send + 'static> OutEdge<T> {
    pub(crate) fn new(ports: Vec<InputPort<T>>, route: Route<T>) -> Self {
        OutEdge { ports, route, next: 0 }
    }

    async fn send(&mut self, batch: Batch<T>) -> Result<(), EdgeClosed> {
        let n = self.ports.len();
        match &self.route {
            Route::Forward | Route::RoundRobin if n == 1 => self.ports[0].send(Message::Data(batch)).await,
            Route::Forward | Route::RoundRobin => {
                let i = self.next % n;
                self.next = self.next.wrapping_add(1);
                self.ports[i].send(Message::Data(batch)).await
            }
            Route::Hash(hash) => {
                if n == 1 {
                    return self.ports[0].send(Message::Data(batch)).await;
                }
                let mut parts: Vec<Batch<T>> = (0..n).map(|_| Vec::with_capacity(batch.len() / n + 1)).collect();
                for r in batch {
                    let shard = shard_of_hash(hash(&r.value), n);
                    parts[shard].push(r);
                }
                for (port, part) in self.ports.iter().zip(parts) {
                    if !part.is_empty() {
                        port.send(Message::Data(part)).await?;
                    }
                }
                Ok(())
            }
        }
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

    /// Sends a batch on every edge (cloned for all but the last: fan-out).
    pub(crate) async fn send_batch(&mut self, batch: Batch<T>) -> Result<(), EdgeClosed> {
        if batch.is_empty() {
            return Ok(());
        }
        let last = self.edges.len().saturating_sub(1);
        let mut batch = Some(batch);
        for (i, edge) in self.edges.iter_mut().enumerate() {
            let b = if i == last { batch.take().unwrap_or_default() } else { batch.clone().unwrap_or_default() };
            edge.send(b).await?;
        }
        Ok(())
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
