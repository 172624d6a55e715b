//! One generation of a job's actors: spawning them from the plan and keeping the
//! handles the supervisor needs.

use std::any::Any;
use std::collections::HashMap;

use ractor::{ActorCell, ActorId, ActorRef};

use crate::actors::messages::SourceMsg;
use crate::actors::spawn::{JobPlan, OutPlan, ShardControl, ShardSpawn};
use crate::actors::{Restore, RunShared};
use crate::checkpoint::{CheckpointError, Manifest, ManifestMismatch};
use crate::context::{NodeContext, PipelineId};
use crate::dead_letter::SourceCatalog;
use crate::edge::EdgeStats;
use crate::error::{InternalError, JobError};
use crate::plan::{NodeId, Port, Topology};
use crate::time::Epoch;

/// A type-erased `InputPort<T>` of one input slot.
type ErasedPort = Box<dyn Any + Send>;

/// `ports[node][shard][slot]`: the input ports every spawned shard handed back,
/// taken (once each) by the upstream shard that sends into that slot.
struct PortTable(Vec<Vec<Vec<Option<ErasedPort>>>>);

impl PortTable {
    /// The out-plans of `shard` of a node whose consumers on one port are `consumers`.
    fn take(&mut self, plan: &JobPlan, consumers: &[(NodeId, usize)], shard: usize) -> Result<Vec<OutPlan>, JobError> {
        let mut plans = Vec::with_capacity(consumers.len());
        for &(down, edge) in consumers {
            let downstream = &plan.topology.nodes[down.0];
            let e = &downstream.inputs[edge];
            let targets = if e.one_to_one { shard..shard + 1 } else { 0..downstream.parallelism };
            let slot = plan.topology.slot(down, edge, shard);
            let mut ports = Vec::with_capacity(targets.len());
            for d in targets {
                let port = self.0[down.0][d][slot].take().ok_or_else(|| InternalError::SlotTakenTwice {
                    slot,
                    node: downstream.name.to_string(),
                    shard: d,
                })?;
                ports.push(port);
            }
            let route = plan.spawners[down.0].input_routes[edge].clone();
            plans.push(OutPlan { route, ports, stage: downstream.name.clone() });
        }
        Ok(plans)
    }
}

/// The actors of one generation of the pipeline.
#[derive(Default)]
pub(crate) struct Pipeline {
    pub(crate) cells: Vec<ActorCell>,
    pub(crate) names: HashMap<ActorId, String>,
    pub(crate) sources: Vec<ActorRef<SourceMsg>>,
    pub(crate) sink_commits: Vec<Box<dyn Fn(Epoch) + Send + Sync>>,
}

impl Pipeline {
    /// Spawns every shard of `plan`, linked to `supervisor`, from the sinks back to
    /// the sources (a shard needs the input ports of the shards it sends to).
    pub(crate) async fn spawn(
        plan: &JobPlan,
        catalog: &SourceCatalog,
        restored: Option<&Manifest>,
        shared: RunShared,
        supervisor: ActorCell,
    ) -> Result<Pipeline, JobError> {
        let mut pipeline = Pipeline::default();
        let pipeline_id = PipelineId::next();
        let topology = &plan.topology;
        let mut ports = PortTable(topology.nodes.iter().map(|_| Vec::new()).collect());
        for n in (0..topology.nodes.len()).rev() {
            let node = NodeId(n);
            let spec = &topology.nodes[n];
            let main_consumers = topology.consumers(node, Port::Main);
            let dead_consumers = topology.consumers(node, Port::DeadLetters);
            for shard in 0..spec.parallelism {
                let restore = match restored {
                    None => None,
                    Some(m) => Some(restore_of(m, &spec.name, shard, spec.parallelism)?),
                };
                let spawn = ShardSpawn {
                    restore,
                    ctx: NodeContext {
                        job: topology.name.clone(),
                        node: spec.name.clone(),
                        shard,
                        shards: spec.parallelism,
                        catalog: catalog.clone(),
                        source_id: spec.source_id,
                        pipeline: pipeline_id,
                        metrics: shared.metrics.node(&spec.name, shard),
                        event_time: shared.event_time.clone(),
                        run: shared.run.clone(),
                    },
                    node,
                    edge_stats: edge_stats(topology, node, &shared),
                    main: ports.take(plan, &main_consumers, shard)?,
                    dead_letters: ports.take(plan, &dead_consumers, shard)?,
                    shared: shared.clone(),
                    supervisor: supervisor.clone(),
                };
                let spawned = match (plan.spawners[n].spawn)(spawn).await {
                    Ok(s) => s,
                    Err(e) => {
                        pipeline.kill();
                        return Err(e);
                    }
                };
                pipeline.names.insert(spawned.cell.get_id(), format!("{}[{shard}]", spec.name));
                pipeline.cells.push(spawned.cell);
                match spawned.control {
                    ShardControl::Source(r) => pipeline.sources.push(r),
                    ShardControl::Sink(commit) => pipeline.sink_commits.push(commit),
                    ShardControl::Operator => {}
                }
                ports.0[n].push(spawned.ports.into_iter().map(Some).collect());
            }
        }
        Ok(pipeline)
    }

    /// Kills every actor of this generation.
    pub(crate) fn kill(&mut self) {
        for cell in self.cells.drain(..) {
            cell.kill();
        }
        self.names.clear();
        self.sources.clear();
        self.sink_commits.clear();
    }
}

/// Stats for each input slot of a shard of `node`, registered with the job's
/// metrics under the edge's upstream and downstream node.
fn edge_stats(plan: &Topology, node: NodeId, shared: &RunShared) -> Vec<std::sync::Arc<EdgeStats>> {
    let capacity = shared.config.edge_capacity;
    plan.input_sources(node).into_iter().map(|from| shared.metrics.registry.edge(from.0, node.0, capacity)).collect()
}

/// What shard `shard` of `node` restores from `manifest`.
fn restore_of(manifest: &Manifest, node: &str, shard: usize, shards: usize) -> Result<Restore, JobError> {
    let mismatch =
        |reason: ManifestMismatch| JobError::Checkpoint(CheckpointError::Mismatch { epoch: manifest.epoch, reason });
    let entry = manifest
        .shard(node, shard)
        .ok_or_else(|| mismatch(ManifestMismatch::NoShard { node: node.to_string(), shard }))?;
    if entry.shards != shards {
        return Err(mismatch(ManifestMismatch::Parallelism {
            node: node.to_string(),
            checkpointed: entry.shards,
            planned: shards,
        }));
    }
    Ok(Restore { epoch: manifest.epoch, state: entry.state.clone(), counts: entry.counts.clone() })
}
