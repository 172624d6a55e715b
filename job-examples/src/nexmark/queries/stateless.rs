//! q0 (pass-through), q1 (currency conversion), q2 (selection): one bid in, at
//! most one row out, no state.

use tidemill_runtime::{EventTime, Stream};

use crate::nexmark::event::{bid_stream, Bid, NexmarkEvent};
use crate::nexmark::rows::{Q0Row, Q1Row, Q2Row};

/// Dollars to euros, the rate the Nexmark SQL uses.
const DOLLAR_TO_EURO: f64 = 0.908;

/// q2 keeps the bids of auctions whose id is a multiple of this.
const AUCTION_SKIP: i64 = 123;

/// `SELECT auction, bidder, price, channel, url, date_time, extra FROM bid`
pub fn q0(events: &Stream<NexmarkEvent>) -> Stream<Q0Row> {
    bid_stream(events, "bids").map("q0_rows", |b: &Bid| Q0Row {
        auction: b.auction,
        bidder: b.bidder,
        price: b.price,
        channel: b.channel.clone(),
        url: b.url.clone(),
        date_time: EventTime::from_millis(b.date_time),
        extra: b.extra.clone(),
    })
}

/// `SELECT auction, bidder, 0.908 * price AS price, date_time, extra FROM bid`
pub fn q1(events: &Stream<NexmarkEvent>) -> Stream<Q1Row> {
    bid_stream(events, "bids").map("q1_rows", |b: &Bid| Q1Row {
        auction: b.auction,
        bidder: b.bidder,
        price: DOLLAR_TO_EURO * b.price as f64,
        date_time: EventTime::from_millis(b.date_time),
        extra: b.extra.clone(),
    })
}

/// `SELECT auction, price FROM bid WHERE auction % 123 = 0`
pub fn q2(events: &Stream<NexmarkEvent>) -> Stream<Q2Row> {
    bid_stream(events, "bids")
        .filter("q2_filter", |b: &Bid| b.auction % AUCTION_SKIP == 0)
        .map("q2_rows", |b: &Bid| Q2Row { auction: b.auction, price: b.price })
}
