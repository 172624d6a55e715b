//! [`run_collect`]: a whole job in one call, for doc examples and tests of stream
//! methods. Part of [`crate::testing`].

use std::sync::{Arc, Mutex};

use crate::dead_letter::DeadLetter;
use crate::error::JobError;
use crate::graph::Stream;
use crate::job::Job;
use crate::testing::{CollectSink, Collected, VecSource};

/// What [`run_collect`] committed: the stream's values in commit order, and the
/// job's dead letters.
#[derive(Debug)]
pub struct CollectedRun<U> {
    /// The values the built stream delivered to its sink, in commit order.
    pub values: Vec<U>,
    /// Every dead letter of the job.
    pub dead_letters: Vec<DeadLetter>,
}

/// Runs a job whose source yields `input` (one partition, event time unset), whose
/// body is `build`, and whose sink collects what `build`'s stream delivers; blocks
/// until the job ends, on a runtime of its own. `build` must add at least one
/// operator (a job whose records nothing can reject has no dead letters to collect:
/// [`GraphError::DeadLettersWithoutProducers`](crate::GraphError::DeadLettersWithoutProducers)).
///
/// ```
/// use tidemill_runtime::testing::run_collect;
///
/// let run = run_collect(vec![1, 2, 3], |numbers| numbers.map("double", |n: &i32| n * 2)).unwrap();
/// assert_eq!(run.values, vec![2, 4, 6]);
/// assert!(run.dead_letters.is_empty());
/// ```
pub fn run_collect<T, U>(input: Vec<T>, build: impl FnOnce(Stream<T>) -> Stream<U>) -> Result<CollectedRun<U>, JobError>
where
    T: Clone + Send + Sync + 'static,
    U: Clone + Send + 'static,
{
    let input = Arc::new(input);
    let values: Arc<Mutex<Collected<U>>> = Arc::default();
    let dead_letters: Arc<Mutex<Collected<DeadLetter>>> = Arc::default();
    let job = Job::builder("example");
    let source = job.source("input", 1, move |ctx| Ok(VecSource::new(input.clone(), ctx)));
    let (into_values, into_dead_letters) = (values.clone(), dead_letters.clone());
    build(source).sink("output", move |_| Ok(CollectSink::new(into_values.clone())));
    job.dead_letters().sink("dead_letter_sink", move |_| Ok(CollectSink::new(into_dead_letters.clone())));
    let job = job.build()?;
    // A test helper: a machine that cannot start a tokio runtime cannot run tests.
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    runtime.block_on(job.run())?;
    Ok(CollectedRun { values: committed_values(&values), dead_letters: committed_values(&dead_letters) })
}

fn committed_values<T>(collected: &Mutex<Collected<T>>) -> Vec<T> {
    let mut collected = collected.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    std::mem::take(&mut collected.committed).into_iter().map(|r| r.value).collect()
}
