//! q6 (average selling price per seller over their last ten closed auctions): a
//! running window of rows over q9's winners, re-keyed by seller.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use tidemill_operators::process::{KeyContext, KeyedProcessFunction, Timer};
use tidemill_operators::KeyedStreamExt;
use tidemill_runtime::{BoxError, EventTime, Record, Stream};

use super::winning_bids::winners;
use crate::nexmark::event::NexmarkEvent;
use crate::nexmark::rows::{Q6Row, Q9Row};

/// How many closed auctions a seller's average covers.
pub const LAST_AUCTIONS: usize = 10;

/// ```sql
/// SELECT seller, id AS auction, expires,
///        AVG(final) OVER w AS avg_price, COUNT(*) OVER w AS auctions
/// FROM (SELECT A.id, A.seller, A.expires, MAX(B.price) AS final
///       FROM auction A, bid B
///       WHERE A.id = B.auction AND B.date_time BETWEEN A.date_time AND A.expires
///       GROUP BY A.id, A.seller, A.expires)
/// WINDOW w AS (PARTITION BY seller ORDER BY expires, id ROWS BETWEEN 9 PRECEDING AND CURRENT ROW)
/// ```
/// A changelog: one row per closed auction (with a winning bid), the seller's
/// average over it and the up to nine auctions of theirs that closed before.
/// Auctions are ordered by when they closed (then by id): that order is final once
/// the watermark passes the close, so every row is final when emitted. (Nexmark's
/// own SQL orders by the winning bid's time, which a streaming job could only
/// follow with retractions: an auction that closes later may have won earlier.)
pub fn q6(events: &Stream<NexmarkEvent>, shards: usize) -> Stream<Q6Row> {
    winners(events, shards, "q6").key_by(|w: &Q9Row| w.seller, shards).process("q6_seller_averages", || SellerAverage)
}

/// One seller's closed auctions: the last prices, and winners not yet folded in.
#[derive(Default, Serialize, Deserialize)]
pub struct SellerPrices {
    /// The winning prices of the last [`LAST_AUCTIONS`] closed auctions, oldest first.
    last: VecDeque<i64>,
    /// Winners that arrived and wait for the watermark to pass their close:
    /// `(expires, auction, price)`.
    pending: Vec<(i64, i64, i64)>,
}

/// q6's running average per seller. Winners of one seller come from several
/// upstream shards in any order; each waits for a timer at its close time, so they
/// are folded in by `(expires, auction)` whatever order they arrived in.
pub struct SellerAverage;

impl KeyedProcessFunction for SellerAverage {
    type Key = i64;
    type In = Q9Row;
    type Out = Q6Row;
    type State = SellerPrices;

    fn process_element(&mut self, record: &Record<Q9Row>, ctx: &mut KeyContext<'_, Self>) -> Result<(), BoxError> {
        let w = &record.value;
        let expires = w.expires.as_millis();
        ctx.state().pending.push((expires, w.id, w.price));
        ctx.register_event_timer(EventTime::from_millis(expires));
        Ok(())
    }

    fn on_timer(&mut self, timer: Timer, ctx: &mut KeyContext<'_, Self>) -> Result<(), BoxError> {
        let seller = *ctx.key();
        let now = timer.time.as_millis();
        let state = ctx.state();
        let mut due: Vec<_> = state.pending.iter().copied().filter(|(expires, ..)| *expires <= now).collect();
        state.pending.retain(|(expires, ..)| *expires > now);
        due.sort_unstable();
        let mut rows = Vec::with_capacity(due.len());
        for (expires, auction, price) in due {
            if state.last.len() == LAST_AUCTIONS {
                state.last.pop_front();
            }
            state.last.push_back(price);
            let sum: i64 = state.last.iter().fold(0i64, |s, p| s.saturating_add(*p));
            rows.push(Q6Row {
                seller,
                auction,
                expires: EventTime::from_millis(expires),
                avg_price: sum as f64 / state.last.len() as f64,
                auctions: state.last.len() as i64,
            });
        }
        for row in rows {
            ctx.emit(row);
        }
        Ok(())
    }
}
