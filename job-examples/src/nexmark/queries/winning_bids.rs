//! q9 (winning bids: auctions joined with their bids while open, the best bid
//! emitted when the auction closes) and q4 (average closing price per category,
//! a changelog over q9's winners); q6 builds on the same winners.

use serde::{Deserialize, Serialize};
use tidemill_operators::process::{Either, KeyContext, KeyedProcessFunction, Timer};
use tidemill_operators::KeyedStreamExt;
use tidemill_runtime::{BoxError, EventTime, NodeContext, Record, Stream};

use crate::nexmark::event::{auctions_and_bids, Auction, Bid, NexmarkEvent, Select};
use crate::nexmark::rows::{Q4Row, Q9Row};

type AuctionOrBid = Either<Auction, Bid>;

fn auction_key(e: &AuctionOrBid) -> i64 {
    match e {
        Either::Left(a) => a.id,
        Either::Right(b) => b.auction,
    }
}

/// ```sql
/// SELECT id, item_name, ..., auction, bidder, price, bid_date_time FROM (
///   SELECT A.*, B.auction, B.bidder, B.price, B.date_time AS bid_date_time,
///          ROW_NUMBER() OVER (PARTITION BY A.id ORDER BY B.price DESC, B.date_time, B.bidder) AS rownum
///   FROM auction A, bid B
///   WHERE A.id = B.auction AND B.date_time BETWEEN A.date_time AND A.expires)
/// WHERE rownum <= 1
/// ```
pub fn q9(events: &Stream<NexmarkEvent>, shards: usize) -> Stream<Q9Row> {
    winners(events, shards, "q9")
}

/// ```sql
/// SELECT Q.category, AVG(Q.final) AS avg_price FROM (
///   SELECT MAX(B.price) AS final, A.category FROM auction A, bid B
///   WHERE A.id = B.auction AND B.date_time BETWEEN A.date_time AND A.expires
///   GROUP BY A.id, A.category) Q
/// GROUP BY Q.category
/// ```
/// A changelog: after each closed auction, the category's new average and how
/// many auctions it covers. The newest row per category is the SQL result.
pub fn q4(events: &Stream<NexmarkEvent>, shards: usize) -> Stream<Q4Row> {
    winners(events, shards, "q4").key_by(|w: &Q9Row| w.category, shards).process("q4_averages", || CategoryAverage)
}

/// The winning bid of every auction, emitted at its close with the close time;
/// node names start with `query`.
pub(super) fn winners(events: &Stream<NexmarkEvent>, shards: usize, query: &str) -> Stream<Q9Row> {
    events
        .operator(&format!("{query}_auctions_and_bids"), |_: &NodeContext| Select::new(auctions_and_bids))
        .key_by(auction_key, shards)
        .process(&format!("{query}_winning_bids"), || WinningBid)
}

/// What q9 knows of one auction id.
#[derive(Default, Serialize, Deserialize)]
pub struct AuctionBids {
    auction: Option<Auction>,
    best: Option<Bid>,
    /// Bids that came before their auction (event-time skew), each with a timer
    /// at its own time: past it, the auction can no longer come on time.
    early: Vec<Bid>,
}

/// Whether `b` beats `best`: higher price, then earlier, then the lower bidder id
/// (the SQL's order, made total so that the result does not depend on arrival).
fn beats(b: &Bid, best: &Option<Bid>) -> bool {
    best.as_ref().is_none_or(|w| (b.price, -b.date_time, -b.bidder) > (w.price, -w.date_time, -w.bidder))
}

fn open_at(a: &Auction, b: &Bid) -> bool {
    a.date_time <= b.date_time && b.date_time <= a.expires
}

/// q9's join: per auction, the best bid while it is open; at its close (a timer
/// at `expires`) the winner is emitted and the auction forgotten.
pub struct WinningBid;

impl KeyedProcessFunction for WinningBid {
    type Key = i64;
    type In = AuctionOrBid;
    type Out = Q9Row;
    type State = AuctionBids;

    fn process_element(
        &mut self,
        record: &Record<AuctionOrBid>,
        ctx: &mut KeyContext<'_, Self>,
    ) -> Result<(), BoxError> {
        // Its auction may have closed and been forgotten already.
        if ctx.reject_if_late(record.time) {
            return Ok(());
        }
        match &record.value {
            Either::Left(a) => {
                let state = ctx.state();
                state.auction = Some(a.clone());
                for b in std::mem::take(&mut state.early) {
                    if open_at(a, &b) && beats(&b, &state.best) {
                        state.best = Some(b);
                    }
                }
                ctx.register_event_timer(EventTime::from_millis(a.expires));
            }
            Either::Right(b) => {
                let state = ctx.state();
                match &state.auction {
                    Some(a) if open_at(a, b) && beats(b, &state.best) => state.best = Some(b.clone()),
                    Some(_) => {}
                    None => {
                        state.early.push(b.clone());
                        ctx.register_event_timer(record.time);
                    }
                }
            }
        }
        Ok(())
    }

    fn on_timer(&mut self, timer: Timer, ctx: &mut KeyContext<'_, Self>) -> Result<(), BoxError> {
        let state = ctx.state();
        match &state.auction {
            Some(a) if a.expires <= timer.time.as_millis() => {
                let row = state.best.take().map(|b| winner_row(a, &b));
                ctx.clear_state();
                if let Some(row) = row {
                    ctx.emit(row);
                }
            }
            Some(_) => {}
            None => {
                // Early bids whose auction did not come in time: an inner join drops them.
                state.early.retain(|b| b.date_time > timer.time.as_millis());
                if state.early.is_empty() {
                    ctx.clear_state();
                }
            }
        }
        Ok(())
    }
}

fn winner_row(a: &Auction, b: &Bid) -> Q9Row {
    Q9Row {
        id: a.id,
        item_name: a.item_name.clone(),
        description: a.description.clone(),
        initial_bid: a.initial_bid,
        reserve: a.reserve,
        date_time: EventTime::from_millis(a.date_time),
        expires: EventTime::from_millis(a.expires),
        seller: a.seller,
        category: a.category,
        auction: b.auction,
        bidder: b.bidder,
        price: b.price,
        bid_date_time: EventTime::from_millis(b.date_time),
    }
}

/// The running sum and count of one category's winning prices.
#[derive(Default, Serialize, Deserialize)]
pub struct PriceSum {
    sum: i64,
    count: i64,
}

/// q4's average per category, emitted after every closed auction.
pub struct CategoryAverage;

impl KeyedProcessFunction for CategoryAverage {
    type Key = i64;
    type In = Q9Row;
    type Out = Q4Row;
    type State = PriceSum;

    fn process_element(&mut self, record: &Record<Q9Row>, ctx: &mut KeyContext<'_, Self>) -> Result<(), BoxError> {
        let state = ctx.state();
        state.sum = state.sum.saturating_add(record.value.price);
        state.count += 1;
        let row = Q4Row {
            category: record.value.category,
            avg_price: state.sum as f64 / state.count as f64,
            auctions: state.count,
        };
        ctx.emit(row);
        Ok(())
    }
}
