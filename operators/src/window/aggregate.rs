//! Aggregates: what a window computes over its records. Built-ins ([`Count`],
//! [`Sum`], [`Min`], [`Max`], [`Avg`]), tuples of aggregates, and the [`Aggregate`]
//! trait for user aggregates.

use std::fmt;
use std::sync::Arc;

use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// An incremental aggregate over the records of a window.
///
/// The window operators keep one accumulator per key and pane (or session), call
/// [`Aggregate::add`] once per record, combine accumulators with
/// [`Aggregate::merge`] (sliding windows merge the panes of a window, sessions merge
/// when they overlap) and call [`Aggregate::finish`] once when a window fires. The
/// result must not depend on the order of `add` and `merge` calls (the aggregate is
/// commutative and associative), since records arrive out of order. Accumulators are
/// part of checkpoints, hence `Serialize + DeserializeOwned`.
///
/// A user aggregate: the number of distinct SKUs per window.
///
/// ```
/// use std::collections::BTreeSet;
/// use std::sync::Arc;
/// use std::time::Duration;
/// use tidemill_operators::window::{Aggregate, TumblingWindow, WindowOperator, WindowResult};
/// use tidemill_runtime::{EventTime, OperatorHarness};
///
/// struct DistinctSkus;
///
/// impl Aggregate<(String, u32)> for DistinctSkus {
///     type Acc = BTreeSet<u32>;
///     type Out = usize;
///     fn init(&self) -> BTreeSet<u32> {
///         BTreeSet::new()
///     }
///     fn add(&self, acc: &mut BTreeSet<u32>, value: &(String, u32)) {
///         acc.insert(value.1);
///     }
///     fn merge(&self, acc: &mut BTreeSet<u32>, other: &BTreeSet<u32>) {
///         acc.extend(other.iter().copied());
///     }
///     fn finish(&self, acc: &BTreeSet<u32>) -> usize {
///         acc.len()
///     }
/// }
///
/// let window = TumblingWindow::of(Duration::from_secs(60)).unwrap();
/// let op = WindowOperator::new(window, Arc::new(|order: &(String, u32)| order.0.clone()), DistinctSkus).unwrap();
/// let mut h = OperatorHarness::new(op);
/// h.push_timed([
///     (("alice".to_string(), 7), 1_000),
///     (("alice".to_string(), 7), 2_000),
///     (("alice".to_string(), 9), 3_000),
///     (("bob".to_string(), 7), 4_000),
/// ])
/// .unwrap();
/// h.push_end().unwrap();
/// let results = h.take_values();
/// assert_eq!(results.len(), 2);
/// assert_eq!(results[0].key, "alice");
/// assert_eq!(results[0].value, 2);
/// assert_eq!(
///     results[1],
///     WindowResult::new(EventTime::from_millis(0), EventTime::from_millis(60_000), "bob".to_string(), 1)
/// );
/// ```
pub trait Aggregate<T>: Send + Sync + 'static {
    /// The running state of one window (or pane, or session) of one key.
    type Acc: Clone + Send + Serialize + DeserializeOwned + 'static;
    /// What a fired window reports.
    type Out: Clone + Send + 'static;

    /// The accumulator of an empty window.
    fn init(&self) -> Self::Acc;
    /// Adds one record.
    fn add(&self, acc: &mut Self::Acc, value: &T);
    /// Adds everything `other` accumulated.
    fn merge(&self, acc: &mut Self::Acc, other: &Self::Acc);
    /// The window's result.
    fn finish(&self, acc: &Self::Acc) -> Self::Out;
}

/// Extracts the number an aggregate works on from a record.
pub type Extractor<T, N> = Arc<dyn Fn(&T) -> N + Send + Sync>;

/// Counts the records of a window.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Count;

impl<T> Aggregate<T> for Count {
    type Acc = u64;
    type Out = u64;

    fn init(&self) -> u64 {
        0
    }
    #[inline]
    fn add(&self, acc: &mut u64, _value: &T) {
        *acc += 1;
    }
    fn merge(&self, acc: &mut u64, other: &u64) {
        *acc += *other;
    }
    fn finish(&self, acc: &u64) -> u64 {
        *acc
    }
}

macro_rules! int_aggregate {
    ($(#[$doc:meta])* $name:ident, $init:expr, $combine:expr) => {
        $(#[$doc])*
        pub struct $name<T> {
            extract: Extractor<T, i64>,
        }

        impl<T> $name<T> {
            /// The aggregate over the numbers `extract` returns for each record.
            pub fn new(extract: impl Fn(&T) -> i64 + Send + Sync + 'static) -> Self {
                $name { extract: Arc::new(extract) }
            }

            /// The aggregate over an extractor that is already shared.
            pub fn from_extractor(extract: Extractor<T, i64>) -> Self {
                $name { extract }
            }
        }

        impl<T> Clone for $name<T> {
            fn clone(&self) -> Self {
                $name { extract: self.extract.clone() }
            }
        }

        impl<T> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(stringify!($name))
            }
        }

        impl<T: 'static> Aggregate<T> for $name<T> {
            type Acc = i64;
            type Out = i64;

            fn init(&self) -> i64 {
                $init
            }
            #[inline]
            fn add(&self, acc: &mut i64, value: &T) {
                let combine: fn(i64, i64) -> i64 = $combine;
                *acc = combine(*acc, (self.extract)(value));
            }
            fn merge(&self, acc: &mut i64, other: &i64) {
                let combine: fn(i64, i64) -> i64 = $combine;
                *acc = combine(*acc, *other);
            }
            fn finish(&self, acc: &i64) -> i64 {
                *acc
            }
        }
    };
}

int_aggregate!(
    /// The sum of an integer field; saturates at the `i64` bounds instead of overflowing.
    Sum,
    0,
    i64::saturating_add
);
int_aggregate!(
    /// The smallest value of an integer field (windows always hold at least one record).
    Min,
    i64::MAX,
    std::cmp::min
);
int_aggregate!(
    /// The largest value of an integer field (windows always hold at least one record).
    Max,
    i64::MIN,
    std::cmp::max
);

/// The accumulator of [`Avg`]: a sum and a count. The sum is checkpointed by its
/// bit pattern so that NaN and infinities survive JSON snapshots.
#[derive(Copy, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AvgAcc {
    #[serde(with = "f64_bits")]
    sum: f64,
    count: u64,
}

impl AvgAcc {
    /// The sum of the values seen.
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// The number of values seen.
    pub fn count(&self) -> u64 {
        self.count
    }
}

mod f64_bits {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(v.to_bits())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        u64::deserialize(d).map(f64::from_bits)
    }
}

/// The mean of a numeric field (NaN for an empty set, which a window never is).
pub struct Avg<T> {
    extract: Extractor<T, f64>,
}

impl<T> Avg<T> {
    /// The mean of the numbers `extract` returns for each record.
    pub fn new(extract: impl Fn(&T) -> f64 + Send + Sync + 'static) -> Self {
        Avg { extract: Arc::new(extract) }
    }

    /// The mean over an extractor that is already shared.
    pub fn from_extractor(extract: Extractor<T, f64>) -> Self {
        Avg { extract }
    }
}

impl<T> Clone for Avg<T> {
    fn clone(&self) -> Self {
        Avg { extract: self.extract.clone() }
    }
}

impl<T> fmt::Debug for Avg<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Avg")
    }
}

impl<T: 'static> Aggregate<T> for Avg<T> {
    type Acc = AvgAcc;
    type Out = f64;

    fn init(&self) -> AvgAcc {
        AvgAcc::default()
    }
    #[inline]
    fn add(&self, acc: &mut AvgAcc, value: &T) {
        acc.sum += (self.extract)(value);
        acc.count += 1;
    }
    fn merge(&self, acc: &mut AvgAcc, other: &AvgAcc) {
        acc.sum += other.sum;
        acc.count += other.count;
    }
    fn finish(&self, acc: &AvgAcc) -> f64 {
        if acc.count == 0 {
            f64::NAN
        } else {
            acc.sum / acc.count as f64
        }
    }
}

/// Tuples of aggregates compute several results over the same windows in one
/// pass: `(Count, Sum::new(..), Avg::new(..))` outputs `(u64, i64, f64)`.
macro_rules! tuple_aggregate {
    ($($a:ident $i:tt),+) => {
        impl<T, $($a: Aggregate<T>),+> Aggregate<T> for ($($a,)+) {
            type Acc = ($($a::Acc,)+);
            type Out = ($($a::Out,)+);

            fn init(&self) -> Self::Acc {
                ($(self.$i.init(),)+)
            }
            #[inline]
            fn add(&self, acc: &mut Self::Acc, value: &T) {
                $(self.$i.add(&mut acc.$i, value);)+
            }
            fn merge(&self, acc: &mut Self::Acc, other: &Self::Acc) {
                $(self.$i.merge(&mut acc.$i, &other.$i);)+
            }
            fn finish(&self, acc: &Self::Acc) -> Self::Out {
                ($(self.$i.finish(&acc.$i),)+)
            }
        }
    };
}

tuple_aggregate!(A 0, B 1);
tuple_aggregate!(A 0, B 1, C 2);
tuple_aggregate!(A 0, B 1, C 2, D 3);
tuple_aggregate!(A 0, B 1, C 2, D 3, E 4);
tuple_aggregate!(A 0, B 1, C 2, D 3, E 4, F 5);
