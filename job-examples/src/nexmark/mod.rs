//! Nexmark, the streaming benchmark of an online auction (people, auctions and
//! bids), as Tidemill jobs: a generator source (or the events in a Kafka topic),
//! the queries, and a dump of the events for checking results with another
//! engine. docs/nexmark.md lists the queries, their operators and how their
//! results compare with SQL.

mod dump;
mod event;
mod job;
mod kafka;
mod output;
pub mod queries;
pub mod rows;
mod source;

pub use dump::{dump_events, DumpError};
pub use event::{auctions, auctions_and_bids, bids, people_and_auctions, Auction, Bid, NexmarkEvent, Person, Select};
pub use job::{build, NexmarkJobError, NexmarkJobSettings};
pub use kafka::{produce_events, NexmarkTopic, ProduceError, ProducedEvents};
pub use output::QueryOutput;
pub use queries::{Query, QueryError, SideInputError, SideTable, UnknownQuery};
pub use source::{NexmarkConfig, NexmarkConfigError, NexmarkSource, DEFAULT_BASE_TIME_MS};
