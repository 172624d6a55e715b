//! Tracks the checkpoint in flight: which shards have acknowledged it and what
//! they reported, and turns a complete set into a [`Manifest`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::checkpoint::{LineageId, Manifest, ShardCheckpoint};
use crate::counters::ShardCounts;
use crate::plan::{NodeId, Topology};
use crate::time::Epoch;

/// What one shard reports when it has passed barrier `epoch`: its state (source
/// position or operator state) or a sink's staged output, and its counts.
#[derive(Debug)]
pub(crate) struct ShardAck {
    pub(crate) epoch: Epoch,
    pub(crate) node: NodeId,
    pub(crate) shard: usize,
    pub(crate) state: Vec<u8>,
    pub(crate) counts: ShardCounts,
}

struct InFlight {
    epoch: Epoch,
    finished: bool,
    started: Instant,
    acks: HashMap<(NodeId, usize), (Vec<u8>, ShardCounts)>,
}

/// A checkpoint every shard has acknowledged.
pub(crate) struct Completed {
    pub(crate) manifest: Manifest,
    /// From the barrier's injection to the last acknowledgement (alignment and
    /// snapshots included; not the manifest write or the commits).
    pub(crate) duration: Duration,
}

/// One checkpoint at a time: barrier N+1 is injected only after N completed, so a
/// sink never holds more than the output of the epochs not yet committed.
pub(crate) struct Coordinator {
    last: Epoch,
    in_flight: Option<InFlight>,
    lineage: LineageId,
    routing: u32,
}

impl Coordinator {
    /// A coordinator whose next epoch follows `last`, writing manifests of
    /// `lineage` whose keyed state was routed with scheme `routing`.
    pub(crate) fn new(last: Epoch, lineage: LineageId, routing: u32) -> Self {
        Coordinator { last, in_flight: None, lineage, routing }
    }

    pub(crate) fn in_flight(&self) -> bool {
        self.in_flight.is_some()
    }

    /// The checkpoint in flight, and how long ago its barrier was injected.
    pub(crate) fn in_flight_epoch(&self) -> Option<(Epoch, std::time::Duration)> {
        self.in_flight.as_ref().map(|f| (f.epoch, f.started.elapsed()))
    }

    /// Starts the next checkpoint (the final one, after the end of every input, if
    /// `finished`); `None` while another is in flight.
    pub(crate) fn trigger(&mut self, finished: bool) -> Option<Epoch> {
        if self.in_flight.is_some() {
            return None;
        }
        self.last = self.last.next();
        self.in_flight = Some(InFlight { epoch: self.last, finished, started: Instant::now(), acks: HashMap::new() });
        Some(self.last)
    }

    /// Records an acknowledgement; returns the checkpoint once every shard of
    /// `plan` has acknowledged it.
    pub(crate) fn on_ack(&mut self, ack: ShardAck, plan: &Topology) -> Option<Completed> {
        let flight = self.in_flight.as_mut()?;
        if ack.epoch != flight.epoch {
            tracing::warn!(epoch = %ack.epoch, expected = %flight.epoch, node = ack.node.0, shard = ack.shard, "acknowledgement of another epoch");
            return None;
        }
        flight.acks.insert((ack.node, ack.shard), (ack.state, ack.counts));
        if flight.acks.len() < plan.actor_count() {
            return None;
        }
        let flight = self.in_flight.take()?;
        let mut acks = flight.acks;
        let mut shards = Vec::with_capacity(acks.len());
        for (n, spec) in plan.nodes.iter().enumerate() {
            for shard in 0..spec.parallelism {
                let (state, counts) = acks.remove(&(NodeId(n), shard)).unwrap_or_default();
                shards.push(ShardCheckpoint {
                    node: spec.name.to_string(),
                    shard,
                    shards: spec.parallelism,
                    state,
                    counts,
                });
            }
        }
        let manifest = Manifest {
            job: plan.name.to_string(),
            lineage: self.lineage.clone(),
            routing: self.routing,
            epoch: flight.epoch,
            finished: flight.finished,
            created_at: chrono::Utc::now(),
            shards,
        };
        Some(Completed { manifest, duration: flight.started.elapsed() })
    }
}
