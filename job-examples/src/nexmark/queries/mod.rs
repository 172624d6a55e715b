//! The Nexmark queries as Tidemill jobs, one function per query; [`Query`] names
//! them and [`Query::attach`] adds one to a job.

mod joins;
mod stateless;
mod windows;

use std::fmt;
use std::str::FromStr;

use tidemill_operators::window::WindowError;
use tidemill_runtime::Stream;

pub use joins::{q3, q8, SellerJoin, WindowJoin};
pub use stateless::{q0, q1, q2};
pub use windows::{q11, q5, q7};

use super::event::NexmarkEvent;
use super::output::QueryOutput;

/// A Nexmark query this crate implements.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Query {
    /// Pass-through.
    Q0,
    /// Currency conversion.
    Q1,
    /// Selection.
    Q2,
    /// Local item suggestion (incremental join).
    Q3,
    /// Hot items (sliding windows, ranking).
    Q5,
    /// Highest bid (tumbling window, max_by).
    Q7,
    /// Monitor new users (window join).
    Q8,
    /// User sessions (session windows).
    Q11,
}

impl Query {
    /// Every query, in order.
    pub const ALL: [Query; 8] =
        [Query::Q0, Query::Q1, Query::Q2, Query::Q3, Query::Q5, Query::Q7, Query::Q8, Query::Q11];

    /// The query's name, also its table's name: `q0`, `q11`, ...
    pub fn name(self) -> &'static str {
        match self {
            Query::Q0 => "q0",
            Query::Q1 => "q1",
            Query::Q2 => "q2",
            Query::Q3 => "q3",
            Query::Q5 => "q5",
            Query::Q7 => "q7",
            Query::Q8 => "q8",
            Query::Q11 => "q11",
        }
    }

    /// Adds the query over `events` (timed) to their job, writing its rows to
    /// `output`; keyed operators get `shards` shards.
    pub fn attach(self, events: &Stream<NexmarkEvent>, shards: usize, output: &QueryOutput) -> Result<(), WindowError> {
        let name = self.name();
        match self {
            Query::Q0 => output.rows(name, q0(events)),
            Query::Q1 => output.rows(name, q1(events)),
            Query::Q2 => output.rows(name, q2(events)),
            Query::Q3 => output.rows(name, q3(events, shards)),
            Query::Q5 => output.rows(name, q5(events, shards)?),
            Query::Q7 => output.rows(name, q7(events, shards)),
            Query::Q8 => output.rows(name, q8(events, shards)),
            Query::Q11 => output.rows(name, q11(events, shards)?),
        }
        Ok(())
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A query name this crate does not implement.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown query `{0}`: the queries are q0, q1, q2, q3, q5, q7, q8 and q11")]
pub struct UnknownQuery(pub String);

impl FromStr for Query {
    type Err = UnknownQuery;

    /// ```
    /// use tidemill_job_examples::nexmark::Query;
    ///
    /// assert_eq!("q5".parse::<Query>(), Ok(Query::Q5));
    /// assert_eq!("Q11".parse::<Query>(), Ok(Query::Q11));
    /// assert!("q42".parse::<Query>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Query::ALL.into_iter().find(|q| q.name().eq_ignore_ascii_case(s)).ok_or_else(|| UnknownQuery(s.to_string()))
    }
}
