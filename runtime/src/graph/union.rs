//! [`Stream::union`]: one stream made of several streams of the same type.

use std::rc::Rc;
use std::sync::Arc;

use serde::Serialize;

use crate::actors::spawn::operator_spawner;
use crate::context::NodeContext;
use crate::functions::Passthrough;
use crate::graph::error::GraphError;
use crate::graph::stream::Stream;
use crate::graph::NodeSpec;
use crate::plan::{NodeKind, Port};
use crate::record::SourceId;

impl<T: Clone + Send + Serialize + 'static> Stream<T> {
    /// Merges this stream with `others` into one stream with every record of each,
    /// through a node named `name` with as many shards as this stream.
    ///
    /// The union is an ordinary node with several inputs, so the runtime treats it
    /// as it treats a keyed shard fed by many upstream shards: its watermark is the
    /// minimum over all inputs (an input that went idle is left out until it speaks
    /// again), and a checkpoint barrier is aligned over all of them. Records of one
    /// input keep their order; records of different inputs interleave.
    ///
    /// Streams of different types are joined by mapping both into one enum first
    /// (`tidemill_operators::Either` and its `connect` do exactly that).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tidemill_runtime::testing::{CollectSink, Collected, VecSource};
    /// use tidemill_runtime::{Job, NodeContext};
    ///
    /// let committed: Arc<std::sync::Mutex<Collected<u32>>> = Arc::default();
    /// let job = Job::builder("both");
    /// let small = job.source("small", 1, |ctx: &NodeContext| Ok(VecSource::new(Arc::new(vec![1, 2]), ctx)));
    /// let large = job.source("large", 2, |ctx: &NodeContext| Ok(VecSource::new(Arc::new(vec![100]), ctx)));
    /// let into = committed.clone();
    /// small.union("all", &[&large]).sink("out", move |_: &NodeContext| Ok(CollectSink::new(into.clone())));
    /// tokio::runtime::Runtime::new()?.block_on(job.build()?.run())?;
    /// let mut values: Vec<u32> = committed.lock().unwrap().committed.iter().map(|r| r.value).collect();
    /// values.sort();
    /// assert_eq!(values, vec![1, 2, 100, 100]); // `large` has two partitions, each reading the vector
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn union(&self, name: &str, others: &[&Stream<T>]) -> Stream<T> {
        let parallelism = self.parallelism;
        let mut inputs = vec![self.edge(parallelism)];
        let mut foreign = false;
        for other in others {
            foreign |= !Rc::ptr_eq(&self.graph, &other.graph);
            inputs.push(other.edge(parallelism));
        }
        let mut graph = self.graph.borrow_mut();
        if foreign {
            graph.errors.push(GraphError::ForeignStream { node: name.to_string() });
            // The edges would name nodes of another graph: keep only this one.
            inputs.truncate(1);
        }
        let id = graph.add(NodeSpec {
            name: Arc::from(name),
            kind: NodeKind::Operator,
            parallelism,
            inputs,
            spawner: operator_spawner(|_: &NodeContext| Passthrough::<T>::new()),
            source_id: SourceId(0),
            consumed: false,
            dead_letter_path: false,
            // Forwards records unchanged: it never rejects one.
            emits_dead_letters: false,
        });
        drop(graph);
        Stream::new(self.graph.clone(), id, Port::Main, parallelism)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use crate::testing::{CollectSink, Collected, VecSource};
    use crate::{EventTime, GraphError, Job, NodeContext};

    /// Every record of every input arrives once, and the job ends when all
    /// inputs have ended.
    #[test]
    fn union_merges_inputs_and_finishes_when_all_end() {
        let committed: Arc<Mutex<Collected<i64>>> = Arc::default();
        let job = Job::builder("union");
        let a = job
            .source("a", 2, |ctx: &NodeContext| Ok(VecSource::new(Arc::new((0..500).collect::<Vec<i64>>()), ctx)))
            .assign_timestamps("a_time", |v: &i64| EventTime::from_millis(*v), Duration::ZERO);
        let b = job
            .source("b", 1, |ctx: &NodeContext| Ok(VecSource::new(Arc::new((1000..1300).collect::<Vec<i64>>()), ctx)))
            .assign_timestamps("b_time", |v: &i64| EventTime::from_millis(*v), Duration::ZERO);
        let into = committed.clone();
        a.union("both", &[&b]).sink("out", move |_: &NodeContext| Ok(CollectSink::new(into.clone())));
        job.dead_letters().sink("dlq", |_: &NodeContext| Ok(crate::testing::DiscardSink::new(Arc::default())));
        let summary = tokio::runtime::Runtime::new().unwrap().block_on(job.build().unwrap().run()).unwrap();
        assert_eq!(summary.committed_by_sink["out"], 1300);
        let mut values: Vec<i64> = committed.lock().unwrap().committed.iter().map(|r| r.value).collect();
        values.sort();
        let mut expected: Vec<i64> = (0..500).chain(0..500).chain(1000..1300).collect();
        expected.sort();
        assert_eq!(values, expected);
    }

    #[test]
    fn a_stream_of_another_job_is_refused() {
        let one = Job::builder("one");
        let two = Job::builder("two");
        let a = one.source("a", 1, |ctx: &NodeContext| Ok(VecSource::new(Arc::new(vec![1u8]), ctx)));
        let b = two.source("b", 1, |ctx: &NodeContext| Ok(VecSource::new(Arc::new(vec![2u8]), ctx)));
        a.union("both", &[&b]).sink("out", |_: &NodeContext| Ok(crate::testing::DiscardSink::new(Arc::default())));
        let err = one.build().err().expect("refused");
        assert!(matches!(err, crate::BuildError::Graph(GraphError::ForeignStream { .. })), "{err}");
    }
}
