//! q5 (hot items), q7 (highest bid) and q11 (user sessions): windows, and the
//! rankings over their results.

use std::time::Duration;

use tidemill_operators::rank::{Ranked, TopN};
use tidemill_operators::window::{Count, SessionWindow, SlidingWindow, WindowError, WindowResult};
use tidemill_operators::KeyedStreamExt;
use tidemill_runtime::{duration_millis, EventTime, Stream};

use crate::nexmark::event::{bid_stream, Bid, NexmarkEvent};
use crate::nexmark::rows::{Q11Row, Q5Row, Q7Row};

const Q5_SIZE: Duration = Duration::from_secs(10);
const Q5_SLIDE: Duration = Duration::from_secs(2);
const Q7_WINDOW: Duration = Duration::from_secs(10);
const Q11_GAP: Duration = Duration::from_secs(10);

type AuctionCount = WindowResult<i64, u64>;

/// Hot items: per 10 s window sliding by 2 s, the auctions with the most bids
/// (all of them on a tie): bids counted per auction and window, then the counts
/// of each window ranked ([`TopN::max_by`]) once the window can no longer change.
pub fn q5(events: &Stream<NexmarkEvent>, shards: usize) -> Result<Stream<Q5Row>, WindowError> {
    let windows = SlidingWindow::of_size(Q5_SIZE).every(Q5_SLIDE)?;
    Ok(bid_stream(events, "bids")
        .key_by(|b: &Bid| b.auction, shards)
        .window("q5_counts", windows, Count)?
        .key_by(|c: &AuctionCount| (c.window_start.as_millis(), c.window_end.as_millis()), shards)
        .process("q5_hottest", || TopN::max_by(|c: &AuctionCount| c.value, |c: &AuctionCount| c.max_timestamp()))
        .map("q5_rows", |r: &Ranked<AuctionCount>| Q5Row {
            auction: r.row.key,
            num: i64::try_from(r.row.value).unwrap_or(i64::MAX),
            window_start: r.row.window_start,
            window_end: r.row.window_end,
        }))
}

/// Highest bid: per 10 s tumbling window, the bids with the highest price.
pub fn q7(events: &Stream<NexmarkEvent>, shards: usize) -> Stream<Q7Row> {
    let size = duration_millis(Q7_WINDOW);
    let window_end = move |b: &Bid| b.date_time.div_euclid(size) * size + size;
    bid_stream(events, "q7_bids")
        .key_by(move |b: &Bid| window_end(b), shards)
        .process("q7_highest", move || {
            TopN::max_by(|b: &Bid| b.price, move |b: &Bid| EventTime::from_millis(window_end(b) - 1))
        })
        .map("q7_rows", move |r: &Ranked<Bid>| Q7Row {
            auction: r.row.auction,
            price: r.row.price,
            bidder: r.row.bidder,
            date_time: EventTime::from_millis(r.row.date_time),
            window_end: EventTime::from_millis(window_end(&r.row)),
        })
}

/// User sessions: bids per bidder per session, a session ending after 10 s
/// without a bid.
pub fn q11(events: &Stream<NexmarkEvent>, shards: usize) -> Result<Stream<Q11Row>, WindowError> {
    Ok(bid_stream(events, "q11_bids")
        .key_by(|b: &Bid| b.bidder, shards)
        .window("q11_sessions", SessionWindow::with_gap(Q11_GAP)?, Count)?
        .map("q11_rows", |r: &WindowResult<i64, u64>| Q11Row {
            bidder: r.key,
            bid_count: i64::try_from(r.value).unwrap_or(i64::MAX),
            session_start: r.window_start,
            session_end: r.window_end,
        }))
}
