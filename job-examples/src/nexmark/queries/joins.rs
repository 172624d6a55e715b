//! q3 (an incremental join of people and auctions) and q8 (a tumbling-window join),
//! both keyed process functions over the connected people and auctions.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tidemill_operators::process::{Either, KeyContext, KeyedProcessFunction, Timer};
use tidemill_operators::KeyedStreamExt;
use tidemill_runtime::{duration_millis, BoxError, EventTime, NodeContext, Record, Stream};

use crate::nexmark::event::{people_and_auctions, Auction, NexmarkEvent, Person, Select};
use crate::nexmark::rows::{Q3Row, Q8Row};

type PersonOrAuction = Either<Person, Auction>;

/// q3's auction category.
const Q3_CATEGORY: i64 = 10;
/// q3's states (the generator writes them in lower case).
const Q3_STATES: [&str; 3] = ["or", "id", "ca"];
/// q8's window.
const Q8_WINDOW: Duration = Duration::from_secs(10);

/// The person id both sides join on: a person's id, an auction's seller.
fn person_key(e: &PersonOrAuction) -> i64 {
    match e {
        Either::Left(p) => p.id,
        Either::Right(a) => a.seller,
    }
}

fn connected(events: &Stream<NexmarkEvent>, name: &str) -> Stream<PersonOrAuction> {
    events.operator(name, |_: &NodeContext| Select::new(people_and_auctions))
}

/// ```sql
/// SELECT P.name, P.city, P.state, A.id
/// FROM auction AS A INNER JOIN person AS P ON A.seller = P.id
/// WHERE A.category = 10 AND (P.state = 'or' OR P.state = 'id' OR P.state = 'ca')
/// ```
/// An append-only inner join: each pair is emitted once, when its second side
/// arrives, so the table equals the SQL result.
pub fn q3(events: &Stream<NexmarkEvent>, shards: usize) -> Stream<Q3Row> {
    connected(events, "people_and_auctions")
        .filter("q3_filter", |e: &PersonOrAuction| match e {
            Either::Left(_) => true,
            Either::Right(a) => a.category == Q3_CATEGORY,
        })
        .key_by(person_key, shards)
        .process("q3_join", || SellerJoin)
}

/// What q3 knows of one person id.
#[derive(Default, Serialize, Deserialize)]
pub struct SellerState {
    /// The person, once seen: `Some(None)` if outside the three states.
    seller: Option<Option<Seller>>,
    /// Auctions in category 10 that came before their seller.
    waiting: Vec<i64>,
}

#[derive(Clone, Serialize, Deserialize)]
struct Seller {
    name: String,
    city: String,
    state: String,
}

impl Seller {
    fn row(&self, auction: i64) -> Q3Row {
        Q3Row { name: self.name.clone(), city: self.city.clone(), state: self.state.clone(), id: auction }
    }
}

/// q3's join. People are kept for good (an auction of theirs may come at any
/// time), as in every streaming q3; those outside the three states keep only a
/// marker, so their auctions are dropped instead of waiting forever.
pub struct SellerJoin;

impl KeyedProcessFunction for SellerJoin {
    type Key = i64;
    type In = PersonOrAuction;
    type Out = Q3Row;
    type State = SellerState;

    fn process_element(
        &mut self,
        record: &Record<PersonOrAuction>,
        ctx: &mut KeyContext<'_, Self>,
    ) -> Result<(), BoxError> {
        let state = ctx.state();
        match &record.value {
            Either::Left(p) => {
                let seller = Q3_STATES.contains(&p.state.as_str()).then(|| Seller {
                    name: p.name.clone(),
                    city: p.city.clone(),
                    state: p.state.clone(),
                });
                let waiting = std::mem::take(&mut state.waiting);
                state.seller = Some(seller.clone());
                if let Some(seller) = seller {
                    for auction in waiting {
                        ctx.emit(seller.row(auction));
                    }
                }
            }
            Either::Right(a) => match &state.seller {
                Some(Some(seller)) => {
                    let row = seller.row(a.id);
                    ctx.emit(row);
                }
                Some(None) => {}
                None => state.waiting.push(a.id),
            },
        }
        Ok(())
    }
}

/// ```sql
/// SELECT P.id, P.name, P.starttime AS window_start
/// FROM (SELECT id, name, window_start AS starttime FROM TUMBLE(person, date_time, 10s)
///       GROUP BY id, name, window_start) P
/// JOIN (SELECT seller, window_start AS starttime FROM TUMBLE(auction, date_time, 10s)
///       GROUP BY seller, window_start) A
/// ON P.id = A.seller AND P.starttime = A.starttime
/// ```
/// Each (person, window) with at least one auction of theirs in the same window,
/// emitted once when the watermark passes the window.
pub fn q8(events: &Stream<NexmarkEvent>, shards: usize) -> Stream<Q8Row> {
    connected(events, "q8_people_and_auctions")
        .key_by(person_key, shards)
        .process("q8_join", || WindowJoin { size_ms: duration_millis(Q8_WINDOW) })
}

/// One window of one person id in q8.
#[derive(Default, Serialize, Deserialize)]
pub struct WindowSides {
    name: Option<String>,
    opened_auction: bool,
}

/// q8's join: per person id, per window start, whether each side was seen.
pub struct WindowJoin {
    size_ms: i64,
}

impl KeyedProcessFunction for WindowJoin {
    type Key = i64;
    type In = PersonOrAuction;
    type Out = Q8Row;
    type State = BTreeMap<i64, WindowSides>;

    fn process_element(
        &mut self,
        record: &Record<PersonOrAuction>,
        ctx: &mut KeyContext<'_, Self>,
    ) -> Result<(), BoxError> {
        let t = record.time.as_millis();
        let start = t.div_euclid(self.size_ms) * self.size_ms;
        let last = EventTime::from_millis(start + self.size_ms - 1);
        if ctx.reject_if_late(last) {
            return Ok(());
        }
        let window = ctx.state().entry(start).or_default();
        match &record.value {
            Either::Left(p) => window.name = Some(p.name.clone()),
            Either::Right(_) => window.opened_auction = true,
        }
        ctx.register_event_timer(last);
        Ok(())
    }

    fn on_timer(&mut self, timer: Timer, ctx: &mut KeyContext<'_, Self>) -> Result<(), BoxError> {
        let start = timer.time.as_millis() + 1 - self.size_ms;
        let id = *ctx.key();
        if let Some(WindowSides { name: Some(name), opened_auction: true }) = ctx.state().remove(&start) {
            ctx.emit(Q8Row { id, name, window_start: EventTime::from_millis(start) });
        }
        if ctx.state().is_empty() {
            ctx.clear_state();
        }
        Ok(())
    }
}
