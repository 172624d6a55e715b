//! [`Either`] and [`ConnectExt::connect`]: two streams of different types as one,
//! for two-input operators (joins, enrichment, control streams).

use std::marker::PhantomData;

use serde::{Deserialize, Serialize};
use tidemill_runtime::{Batch, NodeContext, Operator, OperatorError, Output, Stream};

/// A record of the first (`Left`) or the second (`Right`) input of a connected
/// stream.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Either<A, B> {
    /// A record of the first input.
    Left(A),
    /// A record of the second input.
    Right(B),
}

/// Connects two streams of different types into one stream of [`Either`].
pub trait ConnectExt<A> {
    /// One stream holding every record of `self` as `Left` and of `other` as
    /// `Right`, through nodes named `name` (the union) and `name.left` /
    /// `name.right` (the wrapping). Key it with a key function that reads both
    /// sides to get a two-input keyed operator: the union's watermark is the
    /// minimum over both inputs and checkpoint barriers are aligned over both.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tidemill_operators::process::{ConnectExt, Either};
    /// use tidemill_runtime::testing::{CollectSink, Collected, VecSource};
    /// use tidemill_runtime::{Job, NodeContext};
    ///
    /// let job = Job::builder("connect");
    /// let names = job.source("names", 1, |ctx: &NodeContext| Ok(VecSource::new(Arc::new(vec![(1u32, "ada".to_string())]), ctx)));
    /// let scores = job.source("scores", 1, |ctx: &NodeContext| Ok(VecSource::new(Arc::new(vec![(1u32, 90i64)]), ctx)));
    /// let both = names.connect("names_and_scores", &scores);
    /// let by_id = both.key_by(|e: &Either<(u32, String), (u32, i64)>| match e {
    ///     Either::Left(name) => name.0,
    ///     Either::Right(score) => score.0,
    /// }, 2);
    /// # let committed: Arc<std::sync::Mutex<Collected<Either<(u32, String), (u32, i64)>>>> = Arc::default();
    /// # let into = committed.clone();
    /// # both.sink("out", move |_: &NodeContext| Ok(CollectSink::new(into.clone())));
    /// # let _ = by_id;
    /// ```
    fn connect<B>(&self, name: &str, other: &Stream<B>) -> Stream<Either<A, B>>
    where
        B: Clone + Send + Serialize + 'static;
}

impl<A: Clone + Send + Serialize + 'static> ConnectExt<A> for Stream<A> {
    fn connect<B>(&self, name: &str, other: &Stream<B>) -> Stream<Either<A, B>>
    where
        B: Clone + Send + Serialize + 'static,
    {
        let left = self.operator(&format!("{name}.left"), |_: &NodeContext| Wrap::new(Either::Left));
        let right = other.operator(&format!("{name}.right"), |_: &NodeContext| Wrap::new(Either::Right));
        left.union(name, &[&right])
    }
}

/// Moves each value into one side of an [`Either`] (no clone, cannot fail).
struct Wrap<T, A, B> {
    wrap: fn(T) -> Either<A, B>,
    _types: PhantomData<fn(T) -> (A, B)>,
}

impl<T, A, B> Wrap<T, A, B> {
    fn new(wrap: fn(T) -> Either<A, B>) -> Self {
        Wrap { wrap, _types: PhantomData }
    }
}

impl<T: Send + 'static, A: Send + 'static, B: Send + 'static> Operator for Wrap<T, A, B> {
    type In = T;
    type Out = Either<A, B>;

    fn process(&mut self, batch: Batch<T>, out: &mut Output<Either<A, B>>) -> Result<(), OperatorError> {
        for record in batch {
            let (value, record) = record.replace_value(());
            out.emit(record.replace_value((self.wrap)(value)).1);
        }
        Ok(())
    }
}
