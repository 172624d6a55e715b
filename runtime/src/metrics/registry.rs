//! The live values behind a job's metrics: plain atomics that the actors update
//! once per batch (never per record), read by the observable instruments when a
//! reader collects. Reading happens a few times a minute; writing a million times a
//! second, so the write side is one relaxed `fetch_add` or `store`.
//!
//! The values live as long as the job, across pipeline restarts: counters are
//! monotonic for the process (records replayed after a restore are counted again,
//! as Prometheus counters expect), unlike the job counters (`counters.rs`), which restart
//! from the checkpoint's counts to keep the job summary exact.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use opentelemetry::KeyValue;

use crate::dead_letter::{DeadLetter, ReasonCode};
use crate::edge::EdgeStats;
use crate::metrics::readiness::{Conditions, Readiness};
use crate::metrics::status::{History, PlanEdge, RateWindow};
use crate::plan::{NodeKind, Port, Topology};
use crate::time::{Epoch, EventTime};

/// Where a job is; `/readyz` and `tidemill.job.ready` report it together with
/// the nodes' readiness conditions ([`Readiness`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum JobStatus {
    /// The first pipeline is being built.
    Starting = 0,
    /// Every actor of the current pipeline is up (sources assigned and started).
    Running = 1,
    /// The pipeline failed and waits for its restart.
    Restarting = 2,
    /// A graceful stop was requested: sources have stopped reading.
    Stopping = 3,
    /// The job finished (all input read, or stopped) and committed.
    Finished = 4,
    /// The job failed or was aborted.
    Failed = 5,
}

impl JobStatus {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => JobStatus::Running,
            2 => JobStatus::Restarting,
            3 => JobStatus::Stopping,
            4 => JobStatus::Finished,
            5 => JobStatus::Failed,
            _ => JobStatus::Starting,
        }
    }

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Starting => "starting",
            JobStatus::Running => "running",
            JobStatus::Restarting => "restarting",
            JobStatus::Stopping => "stopping",
            JobStatus::Finished => "finished",
            JobStatus::Failed => "failed",
        }
    }
}

/// Counters of one node (all its shards), padded to a cache line of its own so
/// that two nodes' actors never write the same line.
#[repr(align(64))]
pub(crate) struct NodeStats {
    pub(crate) name: Arc<str>,
    pub(crate) kind: NodeKind,
    /// On the dead-letter path (the union and the dead-letter sinks).
    pub(crate) dead_letter_path: bool,
    records_in: AtomicU64,
    records_out: AtomicU64,
    dead_letters: [AtomicU64; ReasonCode::ALL.len()],
    /// A source's time waiting at the end of its input, ns, summed over shards.
    idle_ns: AtomicU64,
    /// The watermark each shard forwarded, in ms; `i64::MIN` before the first.
    watermarks: Box<[AtomicI64]>,
    /// Where the newest dead letters are kept for the status page.
    history: Arc<History>,
}

impl NodeStats {
    pub(crate) fn new(name: Arc<str>, kind: NodeKind, dead_letter_path: bool, shards: usize) -> Self {
        Self::recording(name, kind, dead_letter_path, shards, Arc::default())
    }

    fn recording(name: Arc<str>, kind: NodeKind, dead_letter_path: bool, shards: usize, history: Arc<History>) -> Self {
        NodeStats {
            name,
            kind,
            dead_letter_path,
            records_in: AtomicU64::new(0),
            records_out: AtomicU64::new(0),
            dead_letters: Default::default(),
            idle_ns: AtomicU64::new(0),
            watermarks: (0..shards.max(1)).map(|_| AtomicI64::new(i64::MIN)).collect(),
            history,
        }
    }

    /// The node's shards.
    pub(crate) fn shards(&self) -> usize {
        self.watermarks.len()
    }

    pub(crate) fn add_in(&self, n: usize) {
        self.records_in.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn add_out(&self, n: usize) {
        self.records_out.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn add_dead_letters(&self, letters: &[DeadLetter]) {
        if letters.is_empty() {
            return;
        }
        for d in letters {
            self.dead_letters[d.reason as usize].fetch_add(1, Ordering::Relaxed);
        }
        self.history.dead_letters(letters);
    }

    pub(crate) fn set_watermark(&self, shard: usize, t: EventTime) {
        if let Some(w) = self.watermarks.get(shard) {
            w.store(t.as_millis(), Ordering::Relaxed);
        }
    }

    pub(crate) fn records_in(&self) -> u64 {
        self.records_in.load(Ordering::Relaxed)
    }

    /// A source shard waited `d` at the end of its input.
    pub(crate) fn add_idle(&self, d: Duration) {
        self.idle_ns.fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }

    /// A source's time waiting at the end of its input, summed over its shards.
    pub(crate) fn idle(&self) -> Duration {
        Duration::from_nanos(self.idle_ns.load(Ordering::Relaxed))
    }

    pub(crate) fn records_out(&self) -> u64 {
        self.records_out.load(Ordering::Relaxed)
    }

    pub(crate) fn dead_letters(&self, reason: ReasonCode) -> u64 {
        self.dead_letters[reason as usize].load(Ordering::Relaxed)
    }

    /// The node's watermark (the minimum over its shards) while every shard has one
    /// and the node has not ended.
    pub(crate) fn watermark(&self) -> Option<EventTime> {
        let min = self.watermarks.iter().map(|w| w.load(Ordering::Relaxed)).min()?;
        (min != i64::MIN && min != i64::MAX).then_some(EventTime::from_millis(min))
    }

    pub(crate) fn kind_str(&self) -> &'static str {
        match self.kind {
            NodeKind::Source => "source",
            NodeKind::Operator => "operator",
            NodeKind::Sink => "sink",
        }
    }
}

/// The edges from one node into another, over all shard pairs.
struct EdgeGroup {
    from: Arc<str>,
    to: Arc<str>,
    capacity: usize,
    /// The per-shard-pair stats of the running pipeline.
    current: Vec<Arc<EdgeStats>>,
    /// Blocked time of earlier pipelines (their stats died with them).
    blocked_before: u64,
}

/// One node-to-node edge as collected.
#[derive(Clone, Debug)]
pub(crate) struct EdgeSnapshot {
    pub(crate) from: Arc<str>,
    pub(crate) to: Arc<str>,
    pub(crate) in_flight: u64,
    pub(crate) capacity: u64,
    pub(crate) blocked: Duration,
}

#[derive(Default)]
struct Edges(BTreeMap<(usize, usize), EdgeGroup>);

/// One source partition's position, end and lag; `i64::MIN` while unknown.
#[derive(Debug)]
pub(crate) struct PartitionSlot {
    pub(crate) labels: Vec<KeyValue>,
    pub(crate) position: AtomicI64,
    pub(crate) end: AtomicI64,
    pub(crate) lag: AtomicI64,
    /// Paused by backpressure (as the source reports it).
    pub(crate) paused: AtomicBool,
}

impl PartitionSlot {
    /// A slot no registry knows of (a detached context's).
    pub(crate) fn detached(labels: Vec<KeyValue>) -> Self {
        PartitionSlot {
            labels,
            position: AtomicI64::new(i64::MIN),
            end: AtomicI64::new(i64::MIN),
            lag: AtomicI64::new(i64::MIN),
            paused: AtomicBool::new(false),
        }
    }

    fn get(v: &AtomicI64) -> Option<i64> {
        Some(v.load(Ordering::Relaxed)).filter(|v| *v != i64::MIN)
    }

    pub(crate) fn lag(&self) -> Option<i64> {
        Self::get(&self.lag)
    }

    pub(crate) fn position(&self) -> Option<i64> {
        Self::get(&self.position)
    }

    pub(crate) fn end(&self) -> Option<i64> {
        Self::get(&self.end)
    }
}

/// The newest committed checkpoint, for gauges and the progress line.
#[derive(Clone, Debug)]
pub(crate) struct CheckpointInfo {
    pub(crate) epoch: Epoch,
    pub(crate) committed_at: SystemTime,
    pub(crate) total: Duration,
    pub(crate) size: u64,
}

/// Source partitions by (node, partition key).
type Partitions = BTreeMap<(Arc<str>, String), Arc<PartitionSlot>>;

/// Everything the instruments read.
pub(crate) struct Registry {
    pub(crate) nodes: Vec<Arc<NodeStats>>,
    edges: Mutex<Edges>,
    partitions: Mutex<Partitions>,
    status: AtomicU8,
    /// What nodes report that keeps the job from being ready.
    pub(crate) conditions: Conditions,
    checkpoint: Mutex<Option<CheckpointInfo>>,
    /// Set by the lag-growth detector: baseline (f64 bits) and whether growing.
    pub(crate) lag_baseline: AtomicU64,
    pub(crate) lag_growing: AtomicU8,
    /// Checkpoints, restarts and dead letters of the past, for the status page.
    pub(crate) history: Arc<History>,
    /// The plan's edges, for the status page's graph.
    pub(crate) plan_edges: Vec<PlanEdge>,
    /// Recent totals, for the status page's rates.
    pub(crate) rates: RateWindow,
}

impl Registry {
    /// The registry of a job with `plan`; dead-letter payloads are kept for the
    /// status page only if `show_payloads`.
    pub(crate) fn new(plan: Option<&Topology>, show_payloads: bool) -> Self {
        let shapes = plan.map(|p| p.nodes.as_slice()).unwrap_or_default();
        let sources =
            shapes.iter().filter(|n| n.kind == NodeKind::Source).map(|n| (n.source_id.0, n.name.to_string())).collect();
        let history = Arc::new(History::new(sources, show_payloads));
        let nodes = shapes
            .iter()
            .map(|n| {
                let stats =
                    NodeStats::recording(n.name.clone(), n.kind, n.dead_letter_path, n.parallelism, history.clone());
                Arc::new(stats)
            })
            .collect();
        let plan_edges = shapes
            .iter()
            .flat_map(|n| {
                n.inputs.iter().map(|i| PlanEdge {
                    from: shapes[i.from.0].name.to_string(),
                    to: n.name.to_string(),
                    dead_letters: i.port == Port::DeadLetters,
                })
            })
            .collect();
        Registry {
            nodes,
            edges: Mutex::default(),
            partitions: Mutex::default(),
            status: AtomicU8::new(JobStatus::Starting as u8),
            conditions: Conditions::default(),
            checkpoint: Mutex::new(None),
            lag_baseline: AtomicU64::new(f64::NAN.to_bits()),
            lag_growing: AtomicU8::new(0),
            history,
            plan_edges,
            rates: RateWindow::default(),
        }
    }

    pub(crate) fn status(&self) -> JobStatus {
        JobStatus::from_u8(self.status.load(Ordering::Relaxed))
    }

    pub(crate) fn set_status(&self, status: JobStatus) {
        self.status.store(status as u8, Ordering::Relaxed);
    }

    /// The status and the conditions together: what `/readyz` says.
    pub(crate) fn readiness(&self) -> Readiness {
        Readiness::of(self.status(), &self.conditions)
    }

    /// A new pipeline is being spawned: the old one's edges are gone; keep their
    /// blocked time so that the counter stays monotonic.
    pub(crate) fn new_generation(&self) {
        let mut edges = self.edges.lock().unwrap_or_else(|p| p.into_inner());
        for g in edges.0.values_mut() {
            g.blocked_before += g.current.iter().map(|s| s.blocked_nanos.load(Ordering::Relaxed)).sum::<u64>();
            g.current.clear();
        }
    }

    /// Stats for one shard-to-shard edge from node `from` into node `to`.
    pub(crate) fn edge(&self, from: usize, to: usize, capacity: usize) -> Arc<EdgeStats> {
        let stats = Arc::new(EdgeStats::default());
        let mut edges = self.edges.lock().unwrap_or_else(|p| p.into_inner());
        let name = |i: usize| self.nodes.get(i).map_or_else(|| Arc::from("?"), |n| n.name.clone());
        let group = edges.0.entry((from, to)).or_insert_with(|| EdgeGroup {
            from: name(from),
            to: name(to),
            capacity,
            current: Vec::new(),
            blocked_before: 0,
        });
        group.current.push(stats.clone());
        stats
    }

    pub(crate) fn edges(&self) -> Vec<EdgeSnapshot> {
        let edges = self.edges.lock().unwrap_or_else(|p| p.into_inner());
        edges
            .0
            .values()
            .map(|g| {
                let load =
                    |f: fn(&EdgeStats) -> &AtomicU64| g.current.iter().map(move |s| f(s).load(Ordering::Relaxed));
                EdgeSnapshot {
                    from: g.from.clone(),
                    to: g.to.clone(),
                    in_flight: load(|s| &s.in_flight).sum(),
                    capacity: (g.capacity * g.current.len()) as u64,
                    blocked: Duration::from_nanos(g.blocked_before + load(|s| &s.blocked_nanos).sum::<u64>()),
                }
            })
            .collect()
    }

    /// The slot of a partition (the same one again after a restart).
    pub(crate) fn partition(&self, node: &Arc<str>, key: String, labels: Vec<KeyValue>) -> Arc<PartitionSlot> {
        let mut parts = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
        parts.entry((node.clone(), key)).or_insert_with(|| Arc::new(PartitionSlot::detached(labels))).clone()
    }

    /// Forgets a partition (it was revoked from this process).
    pub(crate) fn remove_partition(&self, node: &Arc<str>, key: &str) {
        let mut parts = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
        parts.remove(&(node.clone(), key.to_string()));
    }

    pub(crate) fn partitions(&self) -> Vec<(Arc<str>, Arc<PartitionSlot>)> {
        let parts = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
        parts.iter().map(|((node, _), slot)| (node.clone(), slot.clone())).collect()
    }

    /// The job's total lag: the sum over partitions that reported one.
    pub(crate) fn total_lag(&self) -> Option<u64> {
        let parts = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
        let lags: Vec<i64> = parts.values().filter_map(|s| s.lag()).collect();
        (!lags.is_empty()).then(|| lags.iter().map(|l| (*l).max(0) as u64).sum())
    }

    pub(crate) fn set_checkpoint(&self, info: CheckpointInfo) {
        *self.checkpoint.lock().unwrap_or_else(|p| p.into_inner()) = Some(info);
    }

    pub(crate) fn checkpoint(&self) -> Option<CheckpointInfo> {
        self.checkpoint.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Records read by every source so far.
    pub(crate) fn source_records(&self) -> u64 {
        self.nodes.iter().filter(|n| n.kind == NodeKind::Source).map(|n| n.records_in()).sum()
    }

    /// Records written by sinks off the dead-letter path so far.
    pub(crate) fn sink_records(&self) -> u64 {
        self.nodes.iter().filter(|n| n.kind == NodeKind::Sink && !n.dead_letter_path).map(|n| n.records_in()).sum()
    }

    /// Dead letters raised so far, all reasons.
    pub(crate) fn dead_letter_total(&self) -> u64 {
        self.nodes.iter().flat_map(|n| ReasonCode::ALL.iter().map(move |r| n.dead_letters(*r))).sum()
    }

    /// The lowest watermark among operators that have one (off the dead-letter path).
    pub(crate) fn job_watermark(&self) -> Option<EventTime> {
        self.nodes
            .iter()
            .filter(|n| n.kind == NodeKind::Operator && !n.dead_letter_path)
            .filter_map(|n| n.watermark())
            .min()
    }
}
