//! Type-erased spawning of the actors of one node shard, and the runnable plan
//! that holds a spawner per node.
//!
//! The graph builder, which knows each node's types, makes the spawners; the
//! pipeline calls them without knowing any type. The supervisor walks the graph from the sinks back to the sources: each shard
//! is spawned once the shards it sends to exist, and hands back the typed input
//! ports of its own inputs (boxed as `Any`). The spawner of an upstream node, which
//! knows its output type, downcasts them and builds its collectors.

use std::any::Any;
use std::sync::Arc;

use futures::future::BoxFuture;
use ractor::{Actor, ActorCell};

use crate::actors::messages::SourceMsg;
use crate::actors::operator::{OperatorActor, OperatorArgs};
use crate::actors::sink::{SinkActor, SinkArgs, SinkRole};
use crate::actors::source::{SourceActor, SourceArgs};
use crate::actors::{Restore, RunShared};
use crate::collector::{Collector, OutEdge, Route};
use crate::context::NodeContext;
use crate::edge::{EdgeStats, InputCredits, InputIndex, InputPort, NodeMsg};
use crate::error::{InternalError, JobError, StartupError};
use crate::operator::Operator;
use crate::plan::{NodeId, Topology};
use crate::sink::{Sink, SinkError};
use crate::source::{Source, SourceError};
use crate::time::Epoch;

/// A `collector::Route<T>` for an edge's record type, its type erased.
pub(crate) type ErasedRoute = Arc<dyn Any + Send + Sync>;

/// A validated graph, ready to be spawned (and spawned again after a restart):
/// its shape, and how to spawn each of its nodes.
pub(crate) struct JobPlan {
    pub(crate) topology: Topology,
    /// One per node of `topology`, in the same order.
    pub(crate) spawners: Vec<NodeSpawner>,
}

/// How to spawn the shards of one node, and the routes of its input edges.
pub(crate) struct NodeSpawner {
    pub(crate) spawn: Spawner,
    /// One per input edge of the node, in the same order.
    pub(crate) input_routes: Vec<ErasedRoute>,
}

/// The ports of one outgoing edge of a shard: one per downstream shard it feeds.
pub(crate) struct OutPlan {
    pub(crate) route: ErasedRoute,
    pub(crate) ports: Vec<Box<dyn Any + Send>>,
    /// The downstream node (the stage of records its key function rejects).
    pub(crate) stage: Arc<str>,
}

/// Everything needed to spawn one shard.
pub(crate) struct ShardSpawn {
    pub(crate) restore: Option<Restore>,
    pub(crate) ctx: NodeContext,
    pub(crate) node: NodeId,
    /// The stats of each input slot's edge, registered with the job's metrics.
    pub(crate) edge_stats: Vec<Arc<EdgeStats>>,
    pub(crate) main: Vec<OutPlan>,
    pub(crate) dead_letters: Vec<OutPlan>,
    pub(crate) shared: RunShared,
    pub(crate) supervisor: ActorCell,
}

/// How the supervisor reaches a shard after spawning it.
pub(crate) enum ShardControl {
    Source(ractor::ActorRef<SourceMsg>),
    Sink(Box<dyn Fn(Epoch) + Send + Sync>),
    Operator,
}

pub(crate) struct SpawnedShard {
    pub(crate) cell: ActorCell,
    pub(crate) ports: Vec<Box<dyn Any + Send>>,
    pub(crate) control: ShardControl,
}

pub(crate) type Spawner = Arc<dyn Fn(ShardSpawn) -> BoxFuture<'static, Result<SpawnedShard, JobError>> + Send + Sync>;

fn collector<T: Clone + Send + 'static>(plans: Vec<OutPlan>) -> Result<Collector<T>, JobError> {
    let mut edges = Vec::with_capacity(plans.len());
    for plan in plans {
        let route = plan.route.downcast_ref::<Route<T>>().ok_or(InternalError::RouteType)?.clone();
        let ports = plan
            .ports
            .into_iter()
            .map(|p| p.downcast::<InputPort<T>>().map(|b| *b))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| InternalError::PortType)?;
        edges.push(OutEdge::new(ports, route, plan.stage));
    }
    Ok(Collector::new(edges))
}

fn input_ports<T: Send + 'static>(
    actor: &ractor::ActorRef<NodeMsg<T>>,
    credits: &[InputCredits],
) -> Vec<Box<dyn Any + Send>> {
    credits
        .iter()
        .enumerate()
        .map(|(i, c)| Box::new(c.port(actor.clone(), InputIndex(i))) as Box<dyn Any + Send>)
        .collect()
}

fn input_credits(s: &ShardSpawn) -> Vec<InputCredits> {
    let capacity = s.shared.config.edge_capacity;
    s.edge_stats.iter().map(|stats| InputCredits::with_stats(capacity, stats.clone())).collect()
}

fn spawn_failed(ctx: &NodeContext, source: StartupError) -> JobError {
    JobError::Startup { node: format!("{}[{}]", ctx.node, ctx.shard), source }
}

/// The error of an actor whose `pre_start` failed (or that could not be spawned).
fn actor_failed(ctx: &NodeContext, e: ractor::SpawnErr) -> JobError {
    match e {
        ractor::SpawnErr::StartupFailed(cause) => spawn_failed(ctx, StartupError::from_actor(cause)),
        other => spawn_failed(ctx, StartupError::Spawn(other)),
    }
}

pub(crate) fn source_spawner<S, F>(factory: F) -> Spawner
where
    S: Source,
    S::Out: Clone,
    F: Fn(&NodeContext) -> Result<S, SourceError> + Send + Sync + 'static,
{
    let factory = Arc::new(factory);
    Arc::new(move |s: ShardSpawn| {
        let factory = factory.clone();
        Box::pin(async move {
            let source = factory(&s.ctx).map_err(|e| spawn_failed(&s.ctx, e.into()))?;
            let args = SourceArgs {
                source,
                node: s.node,
                name: s.ctx.node.clone(),
                shard: s.ctx.shard,
                out: collector(s.main)?,
                dead_letters: collector(s.dead_letters)?,
                shared: s.shared,
                restore: s.restore,
            };
            let (actor, _) = Actor::spawn_linked(None, SourceActor::<S>::new(), args, s.supervisor)
                .await
                .map_err(|e| actor_failed(&s.ctx, e))?;
            Ok(SpawnedShard { cell: actor.get_cell(), ports: Vec::new(), control: ShardControl::Source(actor) })
        })
    })
}

pub(crate) fn operator_spawner<O, F>(factory: F) -> Spawner
where
    O: Operator,
    O::In: Clone + serde::Serialize,
    O::Out: Clone,
    F: Fn(&NodeContext) -> O + Send + Sync + 'static,
{
    let factory = Arc::new(factory);
    Arc::new(move |s: ShardSpawn| {
        let factory = factory.clone();
        Box::pin(async move {
            let credits = input_credits(&s);
            let args = OperatorArgs {
                operator: factory(&s.ctx),
                node: s.node,
                name: s.ctx.node.clone(),
                shard: s.ctx.shard,
                credits: credits.clone(),
                out: collector(s.main)?,
                dead_letters: collector(s.dead_letters)?,
                shared: s.shared,
                restore: s.restore,
            };
            let (actor, _) = Actor::spawn_linked(None, OperatorActor::<O>::new(), args, s.supervisor)
                .await
                .map_err(|e| actor_failed(&s.ctx, e))?;
            let ports = input_ports(&actor, &credits);
            Ok(SpawnedShard { cell: actor.get_cell(), ports, control: ShardControl::Operator })
        })
    })
}

pub(crate) fn sink_spawner<S, F>(factory: F, dead_letters: bool) -> Spawner
where
    S: Sink,
    F: Fn(&NodeContext) -> Result<S, SinkError> + Send + Sync + 'static,
{
    let factory = Arc::new(factory);
    let role = if dead_letters { SinkRole::DeadLetters } else { SinkRole::Output };
    Arc::new(move |s: ShardSpawn| {
        let factory = factory.clone();
        Box::pin(async move {
            let credits = input_credits(&s);
            let args = SinkArgs {
                sink: factory(&s.ctx).map_err(|e| spawn_failed(&s.ctx, e.into()))?,
                node: s.node,
                name: s.ctx.node.clone(),
                shard: s.ctx.shard,
                role,
                credits: credits.clone(),
                dead_letters: collector(s.dead_letters)?,
                shared: s.shared,
                restore: s.restore,
            };
            let (actor, _) = Actor::spawn_linked(None, SinkActor::<S>::new(), args, s.supervisor)
                .await
                .map_err(|e| actor_failed(&s.ctx, e))?;
            let ports = input_ports(&actor, &credits);
            let commit_to = actor.clone();
            let commit = Box::new(move |epoch: Epoch| {
                let _ = commit_to.cast(NodeMsg::CommitEpoch(epoch));
            });
            Ok(SpawnedShard { cell: actor.get_cell(), ports, control: ShardControl::Sink(commit) })
        })
    })
}
