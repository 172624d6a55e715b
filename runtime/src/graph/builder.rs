//! `JobBuilder`: where a job graph starts and where it is validated.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::sync::Arc;

use crate::actors::spawn::{operator_spawner, source_spawner};
use crate::checkpoint::{CheckpointStore, FromCheckpoint};
use crate::collector::Route;
use crate::config::JobConfig;
use crate::context::NodeContext;
use crate::dead_letter::DeadLetter;
use crate::functions::Passthrough;
use crate::graph::error::{BuildError, GraphError};
use crate::graph::stream::Stream;
use crate::graph::{job_plan, EdgeSpec, NodeSpec};
use crate::job::Job;
use crate::metrics::MetricsConfig;
use crate::plan::{NodeId, NodeKind, Port};
use crate::record::SourceId;
use crate::source::{Source, SourceError};

pub(crate) struct GraphInner {
    pub(crate) nodes: Vec<NodeSpec>,
    pub(crate) errors: Vec<GraphError>,
    pub(crate) dead_letters: Option<NodeId>,
    next_source: u16,
}

impl GraphInner {
    pub(crate) fn add(&mut self, mut node: NodeSpec) -> NodeId {
        if node.parallelism == 0 {
            self.errors.push(GraphError::ZeroParallelism { node: node.name.to_string() });
            node.parallelism = 1;
        }
        if self.nodes.iter().any(|n| n.name == node.name) {
            self.errors.push(GraphError::DuplicateName { name: node.name.to_string() });
        }
        for e in &node.inputs {
            if e.port == Port::Main {
                self.nodes[e.from.0].consumed = true;
            }
        }
        node.dead_letter_path = node.inputs.iter().any(|e| self.nodes[e.from.0].dead_letter_path)
            || Some(NodeId(self.nodes.len())) == self.dead_letters;
        self.nodes.push(node);
        NodeId(self.nodes.len() - 1)
    }
}

impl Job {
    /// Starts building a job named `name` (the name also names its Kafka consumer
    /// group and Delta transaction ids).
    pub fn builder(name: &str) -> JobBuilder {
        JobBuilder::new(name)
    }
}

/// Builds a job graph in Rust code.
///
/// ```
/// use tidemill_runtime::{Job, JobBuilder};
/// let job = Job::builder("empty");
/// // A job with no source is rejected when built.
/// assert!(job.build().is_err());
/// ```
pub struct JobBuilder {
    name: Arc<str>,
    config: JobConfig,
    store: Option<Arc<dyn CheckpointStore>>,
    from: FromCheckpoint,
    metrics: MetricsConfig,
    inner: Rc<RefCell<GraphInner>>,
}

impl JobBuilder {
    fn new(name: &str) -> Self {
        JobBuilder {
            name: Arc::from(name),
            config: JobConfig::default(),
            store: None,
            from: FromCheckpoint::Latest,
            metrics: MetricsConfig::default(),
            inner: Rc::new(RefCell::new(GraphInner {
                nodes: Vec::new(),
                errors: Vec::new(),
                dead_letters: None,
                next_source: 0,
            })),
        }
    }

    /// Replaces the runtime configuration.
    pub fn config(mut self, config: JobConfig) -> Self {
        self.config = config;
        self
    }

    /// Keeps checkpoints in `store`: a job started again with the same store
    /// resumes from its newest checkpoint. Without a store, checkpoints live in
    /// memory and only restarts inside the process resume from them.
    ///
    /// ```
    /// use tidemill_runtime::checkpoint::LocalCheckpointStore;
    /// use tidemill_runtime::{Job, JobConfig};
    ///
    /// let folder = tempfile::tempdir()?;
    /// let config = JobConfig { checkpoint_interval: Some(std::time::Duration::from_secs(10)), ..JobConfig::default() };
    /// let job = Job::builder("orders").config(config).checkpoint_store(LocalCheckpointStore::new(folder.path()));
    /// # drop(job);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn checkpoint_store(mut self, store: impl CheckpointStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Which checkpoint of the store the job resumes: the newest by default; an
    /// older one when the newest cannot be used (see [`FromCheckpoint`]).
    ///
    /// ```
    /// use tidemill_runtime::checkpoint::{FromCheckpoint, LocalCheckpointStore};
    /// use tidemill_runtime::Job;
    ///
    /// // The newest checkpoint file was damaged: start from the one before it.
    /// let job = Job::builder("orders")
    ///     .checkpoint_store(LocalCheckpointStore::new("/var/lib/orders/checkpoints"))
    ///     .restore_from(FromCheckpoint::Previous);
    /// # drop(job);
    /// ```
    pub fn restore_from(mut self, from: FromCheckpoint) -> Self {
        self.from = from;
        self
    }

    /// How the job exposes its metrics: the HTTP endpoint (`/metrics`, `/healthz`,
    /// `/readyz`; off by default), OTLP push from the environment, the progress
    /// line and the lag-growth detector. See docs/operations.md.
    ///
    /// ```
    /// use tidemill_runtime::metrics::{MetricsAddr, MetricsConfig};
    /// use tidemill_runtime::Job;
    ///
    /// let metrics = MetricsConfig { addr: "127.0.0.1:9464".parse::<MetricsAddr>()?, ..MetricsConfig::default() };
    /// let job = Job::builder("orders").metrics(metrics);
    /// # drop(job);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn metrics(mut self, config: MetricsConfig) -> Self {
        self.metrics = config;
        self
    }

    /// Adds a source with `partitions` partitions; `factory` builds the source of
    /// each partition (again after every restart).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tidemill_runtime::testing::VecSource;
    /// use tidemill_runtime::{Job, NodeContext};
    ///
    /// let job = Job::builder("numbers");
    /// // Two partitions: the factory runs once per partition, `ctx.shard` says which.
    /// let numbers = job.source("numbers", 2, |ctx: &NodeContext| {
    ///     let first = 100 * ctx.shard as u32;
    ///     Ok(VecSource::new(Arc::new((first..first + 3).collect()), ctx))
    /// });
    /// assert_eq!(numbers.parallelism(), 2);
    /// ```
    pub fn source<S, F>(&self, name: &str, partitions: usize, factory: F) -> Stream<S::Out>
    where
        S: Source,
        S::Out: Clone,
        F: Fn(&NodeContext) -> Result<S, SourceError> + Send + Sync + 'static,
    {
        let mut g = self.inner.borrow_mut();
        let source_id = SourceId(g.next_source);
        g.next_source += 1;
        let id = g.add(NodeSpec {
            name: Arc::from(name),
            kind: NodeKind::Source,
            parallelism: partitions,
            inputs: Vec::new(),
            spawner: source_spawner(factory),
            source_id,
            consumed: false,
            dead_letter_path: false,
            emits_dead_letters: S::EMITS_DEAD_LETTERS,
        });
        let parallelism = g.nodes[id.0].parallelism;
        Stream::new(self.inner.clone(), id, Port::Main, parallelism)
    }

    /// The job's dead letters: every record any operator rejected (bad input,
    /// failed user functions, late events), with its reason and origin. Every job
    /// must give this stream a sink.
    ///
    /// ```
    /// use tidemill_runtime::testing::run_collect;
    /// use tidemill_runtime::ReasonCode;
    ///
    /// // `run_collect` gives the dead letters a sink of its own and returns them.
    /// let run = run_collect(vec!["1", "one"], |s| s.try_map("parse", |t: &&str| t.parse::<i32>()))?;
    /// let letter = &run.dead_letters[0];
    /// assert_eq!((letter.reason, letter.stage.as_ref(), letter.payload.as_slice()), (ReasonCode::UserFunctionError, "parse", &b"\"one\""[..]));
    /// # Ok::<(), tidemill_runtime::JobError>(())
    /// ```
    pub fn dead_letters(&self) -> Stream<DeadLetter> {
        let mut g = self.inner.borrow_mut();
        let id = match g.dead_letters {
            Some(id) => id,
            None => {
                let next = NodeId(g.nodes.len());
                g.dead_letters = Some(next);
                g.add(NodeSpec {
                    name: Arc::from("dead_letters"),
                    kind: NodeKind::Operator,
                    parallelism: 1,
                    inputs: Vec::new(),
                    spawner: operator_spawner(|_: &NodeContext| Passthrough::<DeadLetter>::new()),
                    source_id: SourceId(0),
                    consumed: false,
                    dead_letter_path: true,
                    emits_dead_letters: false,
                })
            }
        };
        Stream::new(self.inner.clone(), id, Port::Main, 1)
    }

    /// Validates the configuration and the graph and produces a runnable [`Job`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tidemill_runtime::testing::{DiscardSink, VecSource};
    /// use tidemill_runtime::{BuildError, GraphError, Job, NodeContext};
    ///
    /// let job = Job::builder("incomplete");
    /// let doubled = job
    ///     .source("numbers", 1, |ctx: &NodeContext| Ok(VecSource::new(Arc::new(vec![1, 2]), ctx)))
    ///     .map("double", |n: &i32| n * 2);
    /// doubled.sink("out", |_: &NodeContext| Ok(DiscardSink::new(Arc::default())));
    /// // `map` may reject records, and nothing takes the dead letters:
    /// assert!(matches!(job.build(), Err(BuildError::Graph(GraphError::NoDeadLetterSink))));
    /// ```
    pub fn build(self) -> Result<Job, BuildError> {
        self.config.validate()?;
        self.metrics.validate()?;
        Ok(self.build_graph()?)
    }

    fn build_graph(self) -> Result<Job, GraphError> {
        let mut g = self.inner.borrow_mut();
        if let Some(e) = g.errors.first() {
            return Err(e.clone());
        }
        if !g.nodes.iter().any(|n| n.kind == NodeKind::Source) {
            return Err(GraphError::NoSource);
        }
        if !g.nodes.iter().any(|n| n.kind == NodeKind::Sink) {
            return Err(GraphError::NoSink);
        }
        if let Some(n) = g.nodes.iter().find(|n| n.kind != NodeKind::Sink && !n.consumed) {
            return Err(GraphError::Unconsumed { node: n.name.to_string() });
        }
        // Connect the dead-letter output of every node off the dead-letter path that
        // may reject records to the union node: every operator, and the sources
        // (oversized records) and sinks (rows the destination refuses) that say so.
        let producers: Vec<NodeId> = g
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.emits_dead_letters && !n.dead_letter_path)
            .map(|(i, _)| NodeId(i))
            .collect();
        let union = match (g.dead_letters, producers.is_empty()) {
            // Nothing in the job can reject a record.
            (None, true) => return Ok(self.plan(&mut g)),
            (None, false) => return Err(GraphError::NoDeadLetterSink),
            // A union without inputs would never see a barrier, so its sink could
            // never finish a checkpoint.
            (Some(_), true) => return Err(GraphError::DeadLettersWithoutProducers),
            (Some(union), false) => union,
        };
        let route: Arc<dyn std::any::Any + Send + Sync> = Arc::new(Route::<DeadLetter>::RoundRobin);
        g.nodes[union.0].inputs = producers
            .into_iter()
            .map(|from| EdgeSpec { from, port: Port::DeadLetters, route: route.clone(), one_to_one: false })
            .collect();
        Ok(self.plan(&mut g))
    }

    fn plan(&self, g: &mut GraphInner) -> Job {
        let names: HashSet<&str> = g.nodes.iter().map(|n| &*n.name).collect();
        debug_assert_eq!(names.len(), g.nodes.len());
        let nodes = std::mem::take(&mut g.nodes);
        let plan = job_plan(self.name.clone(), nodes);
        let store = self.store.clone().map(|s| (s, self.from));
        Job::new(plan, self.config.clone(), store, self.metrics.clone())
    }
}
