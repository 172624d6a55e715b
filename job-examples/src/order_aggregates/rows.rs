//! The rows of the order job's three Delta tables.

use crate::orders::OrderEvent;
use chrono::{DateTime, Utc};
use tidemill_delta::delta_record;
use tidemill_operators::window::WindowResult;

delta_record! {
    /// One row of `order_aggregates`: orders of one user in one sliding window.
    #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
    pub struct OrderAggregateRow {
        /// Window start (inclusive), UTC.
        pub window_start: DateTime<Utc>,
        /// Window end (exclusive), UTC.
        pub window_end: DateTime<Utc>,
        /// The user.
        pub user_id: String,
        /// Orders in the window, duplicates included (the reference job's `count(order_id)`).
        pub order_count: i64,
    }
}

impl OrderAggregateRow {
    /// The row for one window result.
    pub fn from_result(r: &WindowResult<String, u64>) -> Self {
        OrderAggregateRow {
            window_start: r.window_start.to_utc(),
            window_end: r.window_end.to_utc(),
            user_id: r.key.clone(),
            order_count: i64::try_from(r.value).unwrap_or(i64::MAX),
        }
    }
}

delta_record! {
    /// One row of `orders`: a valid order, once per `(order_id, event_time)`.
    #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
    pub struct OrderRow {
        /// The order.
        pub order_id: String,
        /// The user.
        pub user_id: String,
        /// The amount.
        pub amount: i64,
        /// When the order happened, UTC.
        pub event_time: DateTime<Utc>,
    }
}

impl From<&OrderEvent> for OrderRow {
    fn from(o: &OrderEvent) -> Self {
        OrderRow {
            order_id: o.order_id.clone(),
            user_id: o.user_id.clone(),
            amount: o.amount,
            event_time: o.event_time,
        }
    }
}
