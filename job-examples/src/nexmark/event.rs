//! Nexmark's three event kinds as Tidemill records, and operators that take one
//! kind out of the mixed stream.

use std::marker::PhantomData;

use serde::{Deserialize, Serialize};
use tidemill_runtime::{Batch, EventTime, Operator, OperatorError, Output};

/// A person who sells or bids.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// Unique id.
    pub id: i64,
    /// Full name.
    pub name: String,
    /// E-mail address.
    pub email_address: String,
    /// Credit card number.
    pub credit_card: String,
    /// City.
    pub city: String,
    /// US state (lower case, as the generator writes it).
    pub state: String,
    /// Event time, milliseconds since the Unix epoch.
    pub date_time: i64,
    /// Padding to the configured event size.
    pub extra: String,
}

/// An item put up for auction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Auction {
    /// Unique id.
    pub id: i64,
    /// Item name.
    pub item_name: String,
    /// Description.
    pub description: String,
    /// Opening bid.
    pub initial_bid: i64,
    /// Reserve price.
    pub reserve: i64,
    /// Event time (the auction opens), milliseconds since the Unix epoch.
    pub date_time: i64,
    /// When the auction closes, milliseconds since the Unix epoch.
    pub expires: i64,
    /// The seller's person id.
    pub seller: i64,
    /// Category id.
    pub category: i64,
    /// Padding.
    pub extra: String,
}

/// A bid on an auction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bid {
    /// The auction's id.
    pub auction: i64,
    /// The bidder's person id.
    pub bidder: i64,
    /// Price in cents.
    pub price: i64,
    /// Where the bid came from.
    pub channel: String,
    /// URL of the bid page.
    pub url: String,
    /// Event time, milliseconds since the Unix epoch.
    pub date_time: i64,
    /// Padding.
    pub extra: String,
}

/// One Nexmark event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NexmarkEvent {
    /// A new person.
    Person(Person),
    /// A new auction.
    Auction(Auction),
    /// A bid.
    Bid(Bid),
}

impl NexmarkEvent {
    /// The event's time.
    pub fn time(&self) -> EventTime {
        EventTime::from_millis(match self {
            NexmarkEvent::Person(p) => p.date_time,
            NexmarkEvent::Auction(a) => a.date_time,
            NexmarkEvent::Bid(b) => b.date_time,
        })
    }
}

/// Ids and prices in the generator are `usize`; every one it makes fits an `i64`.
fn signed(v: usize) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn millis(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl From<nexmark::event::Event> for NexmarkEvent {
    fn from(e: nexmark::event::Event) -> Self {
        use nexmark::event::Event;
        match e {
            Event::Person(p) => NexmarkEvent::Person(Person {
                id: signed(p.id),
                name: p.name,
                email_address: p.email_address,
                credit_card: p.credit_card,
                city: p.city,
                state: p.state,
                date_time: millis(p.date_time),
                extra: p.extra,
            }),
            Event::Auction(a) => NexmarkEvent::Auction(Auction {
                id: signed(a.id),
                item_name: a.item_name,
                description: a.description,
                initial_bid: signed(a.initial_bid),
                reserve: signed(a.reserve),
                date_time: millis(a.date_time),
                expires: millis(a.expires),
                seller: signed(a.seller),
                category: signed(a.category),
                extra: a.extra,
            }),
            Event::Bid(b) => NexmarkEvent::Bid(Bid {
                auction: signed(b.auction),
                bidder: signed(b.bidder),
                price: signed(b.price),
                channel: b.channel,
                url: b.url,
                date_time: millis(b.date_time),
                extra: b.extra,
            }),
        }
    }
}

/// Takes one kind of event out of the mixed stream, moving it (no copy) and
/// dropping the other kinds. `select` returns the kind or `None`.
pub struct Select<T> {
    select: fn(NexmarkEvent) -> Option<T>,
    _type: PhantomData<fn() -> T>,
}

impl<T> Select<T> {
    /// Keeps what `select` returns.
    pub fn new(select: fn(NexmarkEvent) -> Option<T>) -> Self {
        Select { select, _type: PhantomData }
    }
}

impl<T: Send + 'static> Operator for Select<T> {
    type In = NexmarkEvent;
    type Out = T;

    fn process(&mut self, batch: Batch<NexmarkEvent>, out: &mut Output<T>) -> Result<(), OperatorError> {
        for record in batch {
            let (event, record) = record.replace_value(());
            if let Some(value) = (self.select)(event) {
                out.emit(record.replace_value(value).1);
            }
        }
        Ok(())
    }
}

/// The bids of `events`, through a [`Select`] node named `name`.
pub(crate) fn bid_stream(events: &tidemill_runtime::Stream<NexmarkEvent>, name: &str) -> tidemill_runtime::Stream<Bid> {
    events.operator(name, |_: &tidemill_runtime::NodeContext| Select::new(bids))
}

/// The bids of the mixed stream.
pub fn bids(e: NexmarkEvent) -> Option<Bid> {
    match e {
        NexmarkEvent::Bid(b) => Some(b),
        _ => None,
    }
}

/// The auctions of the mixed stream.
pub fn auctions(e: NexmarkEvent) -> Option<Auction> {
    match e {
        NexmarkEvent::Auction(a) => Some(a),
        _ => None,
    }
}

/// Auctions and bids, the two inputs of q9's join, as one stream.
pub fn auctions_and_bids(e: NexmarkEvent) -> Option<tidemill_operators::process::Either<Auction, Bid>> {
    use tidemill_operators::process::Either;
    match e {
        NexmarkEvent::Auction(a) => Some(Either::Left(a)),
        NexmarkEvent::Bid(b) => Some(Either::Right(b)),
        NexmarkEvent::Person(_) => None,
    }
}

/// People and auctions, the two inputs of the joins of q3 and q8, as one stream.
pub fn people_and_auctions(e: NexmarkEvent) -> Option<tidemill_operators::process::Either<Person, Auction>> {
    use tidemill_operators::process::Either;
    match e {
        NexmarkEvent::Person(p) => Some(Either::Left(p)),
        NexmarkEvent::Auction(a) => Some(Either::Right(a)),
        NexmarkEvent::Bid(_) => None,
    }
}
