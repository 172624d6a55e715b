//! The Nexmark queries as Tidemill jobs, one function per query; [`Query`] names
//! them and [`Query::attach`] adds one to a job.

mod joins;
mod seller_averages;
mod side_input;
mod stateless;
mod windows;
mod winning_bids;

use std::fmt;
use std::str::FromStr;

use tidemill_operators::window::WindowError;
use tidemill_runtime::Stream;

pub use joins::{q3, q8, SellerJoin, WindowJoin};
pub use seller_averages::{q6, SellerAverage, SellerPrices, LAST_AUCTIONS};
pub use side_input::{
    q13, side_update, side_updates, SideInput, SideInputError, SideTable, SideUpdateError, SIDE_KEYS,
};
pub use stateless::{q0, q1, q2};
pub use windows::{q11, q5, q7};
pub use winning_bids::{q4, q9, CategoryAverage, WinningBid};

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
    /// Average closing price per category (a changelog over q9's winners).
    Q4,
    /// Hot items (sliding windows, ranking).
    Q5,
    /// Average selling price per seller over their last ten closed auctions.
    Q6,
    /// Highest bid (tumbling window, max_by).
    Q7,
    /// Monitor new users (window join).
    Q8,
    /// Winning bids (auctions joined with their bids while open).
    Q9,
    /// User sessions (session windows).
    Q11,
    /// Bounded side input join.
    Q13,
}

impl Query {
    /// Every query, in order.
    pub const ALL: [Query; 12] = [
        Query::Q0,
        Query::Q1,
        Query::Q2,
        Query::Q3,
        Query::Q4,
        Query::Q5,
        Query::Q6,
        Query::Q7,
        Query::Q8,
        Query::Q9,
        Query::Q11,
        Query::Q13,
    ];

    /// The query's name, also its table's name: `q0`, `q11`, ...
    pub fn name(self) -> &'static str {
        match self {
            Query::Q0 => "q0",
            Query::Q1 => "q1",
            Query::Q2 => "q2",
            Query::Q3 => "q3",
            Query::Q4 => "q4",
            Query::Q5 => "q5",
            Query::Q6 => "q6",
            Query::Q7 => "q7",
            Query::Q8 => "q8",
            Query::Q9 => "q9",
            Query::Q11 => "q11",
            Query::Q13 => "q13",
        }
    }

    /// Whether the query reads a side table (`--side-input`).
    pub fn needs_side_input(self) -> bool {
        self == Query::Q13
    }

    /// Adds the query over `events` (timed) to their job, writing its rows to
    /// `output`; keyed operators get `shards` shards; q13 joins with `side`.
    pub fn attach(
        self,
        events: &Stream<NexmarkEvent>,
        shards: usize,
        output: &QueryOutput,
        side: Option<&SideInput>,
    ) -> Result<(), QueryError> {
        let name = self.name();
        match self {
            Query::Q0 => output.rows(name, q0(events)),
            Query::Q1 => output.rows(name, q1(events)),
            Query::Q2 => output.rows(name, q2(events)),
            Query::Q3 => output.rows(name, q3(events, shards)),
            Query::Q4 => output.rows(name, q4(events, shards)),
            Query::Q5 => output.rows(name, q5(events, shards)?),
            Query::Q6 => output.rows(name, q6(events, shards)),
            Query::Q7 => output.rows(name, q7(events, shards)),
            Query::Q8 => output.rows(name, q8(events, shards)),
            Query::Q9 => output.rows(name, q9(events, shards)),
            Query::Q11 => output.rows(name, q11(events, shards)?),
            Query::Q13 => output.rows(name, q13(events, side.cloned().ok_or(QueryError::NoSideInput)?, shards)),
        }
        Ok(())
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A query that cannot be added to a job.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// A window of the query is invalid.
    #[error("invalid window")]
    Window(#[from] WindowError),
    /// q13 was asked for without a side table.
    #[error(
        "q13 joins with a side table: give one with --side-input FILE (JSON lines of {{\"key\", \"value\"}}) \
         or --side-topic TOPIC (its changelog)"
    )]
    NoSideInput,
}

/// A query name this crate does not implement.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown query `{0}`: the queries are q0 to q9, q11 and q13")]
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
