//! The rows of the Nexmark queries' Delta tables. Column names are those of the
//! queries' SQL, so a table and the SQL result compare column by column.

use serde::Serialize;
use tidemill_delta::delta_record;
use tidemill_runtime::EventTime;

delta_record! {
    /// q0: every bid, unchanged.
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct Q0Row {
        /// The auction.
        pub auction: i64,
        /// The bidder.
        pub bidder: i64,
        /// Price in cents.
        pub price: i64,
        /// Channel.
        pub channel: String,
        /// URL.
        pub url: String,
        /// Event time.
        pub date_time: EventTime,
        /// Padding.
        pub extra: String,
    }
}

delta_record! {
    /// q1: every bid, its price in euros (`0.908 * price`).
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct Q1Row {
        /// The auction.
        pub auction: i64,
        /// The bidder.
        pub bidder: i64,
        /// `0.908 * price`.
        pub price: f64,
        /// Event time.
        pub date_time: EventTime,
        /// Padding.
        pub extra: String,
    }
}

delta_record! {
    /// q2: bids on every 123rd auction.
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct Q2Row {
        /// The auction (a multiple of 123).
        pub auction: i64,
        /// Price in cents.
        pub price: i64,
    }
}

delta_record! {
    /// q3: sellers in Oregon, Idaho or California with an auction in category 10.
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct Q3Row {
        /// The seller's name.
        pub name: String,
        /// The seller's city.
        pub city: String,
        /// The seller's state.
        pub state: String,
        /// The auction.
        pub id: i64,
    }
}

delta_record! {
    /// q5: the auctions with the most bids in each 10 s window sliding by 2 s.
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct Q5Row {
        /// The auction.
        pub auction: i64,
        /// Its bids in the window.
        pub num: i64,
        /// Window start (inclusive).
        pub window_start: EventTime,
        /// Window end (exclusive).
        pub window_end: EventTime,
    }
}

delta_record! {
    /// q7: the highest bids of each 10 s tumbling window (all of them on a tie).
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct Q7Row {
        /// The auction.
        pub auction: i64,
        /// The price, the window's highest.
        pub price: i64,
        /// The bidder.
        pub bidder: i64,
        /// The bid's time.
        pub date_time: EventTime,
        /// End of the window (exclusive).
        pub window_end: EventTime,
    }
}

delta_record! {
    /// q8: people who opened an auction in the 10 s tumbling window they joined in.
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct Q8Row {
        /// The person.
        pub id: i64,
        /// Their name.
        pub name: String,
        /// Window start.
        pub window_start: EventTime,
    }
}

delta_record! {
    /// q11: bids per bidder per session (10 s of inactivity ends one).
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct Q11Row {
        /// The bidder.
        pub bidder: i64,
        /// Bids in the session.
        pub bid_count: i64,
        /// The session's first bid.
        pub session_start: EventTime,
        /// The session's last bid plus the gap.
        pub session_end: EventTime,
    }
}

delta_record! {
    /// q4: the average closing price of the auctions of a category, after each
    /// auction of the category closes (a changelog: the newest row per category,
    /// the one with the most auctions, is the current value).
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct Q4Row {
        /// The category.
        pub category: i64,
        /// Average winning price of its closed auctions.
        pub avg_price: f64,
        /// Closed auctions (with a winning bid) counted so far.
        pub auctions: i64,
    }
}

delta_record! {
    /// q6: a seller's average winning price over their last ten closed auctions,
    /// after each auction of theirs closes (a changelog, one row per closed auction).
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct Q6Row {
        /// The seller.
        pub seller: i64,
        /// The auction whose close this row follows.
        pub auction: i64,
        /// When it closed.
        pub expires: EventTime,
        /// Average winning price of the seller's last (at most ten) closed auctions,
        /// this one included, in the order they closed.
        pub avg_price: f64,
        /// How many auctions the average covers (1 to 10).
        pub auctions: i64,
    }
}

delta_record! {
    /// q9: each auction with its winning bid (the highest, the earliest of equal
    /// ones), once the auction has closed.
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct Q9Row {
        /// The auction.
        pub id: i64,
        /// Item name.
        pub item_name: String,
        /// Description.
        pub description: String,
        /// Opening bid.
        pub initial_bid: i64,
        /// Reserve price.
        pub reserve: i64,
        /// When the auction opened.
        pub date_time: EventTime,
        /// When it closed.
        pub expires: EventTime,
        /// The seller.
        pub seller: i64,
        /// The category.
        pub category: i64,
        /// The winning bid's auction (the same id).
        pub auction: i64,
        /// The winner.
        pub bidder: i64,
        /// The winning price.
        pub price: i64,
        /// When the winning bid was made.
        pub bid_date_time: EventTime,
    }
}

delta_record! {
    /// q13: bids joined with a bounded side table on `auction % 10000`.
    #[derive(Clone, Debug, PartialEq, Serialize)]
    pub struct Q13Row {
        /// The auction.
        pub auction: i64,
        /// The bidder.
        pub bidder: i64,
        /// Price in cents.
        pub price: i64,
        /// Event time.
        pub date_time: EventTime,
        /// The side table's value for the key.
        pub value: String,
    }
}
