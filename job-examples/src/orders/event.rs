//! The order event of the reference order job (see docs/order-job.md):
//! `{"order_id": string, "user_id": string, "amount": integer, "event_time": RFC 3339 UTC}`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tidemill_runtime::EventTime;

/// One order event as producers send it.
///
/// Serialises to exactly the bytes the [`OrderGenerator`](super::OrderGenerator)
/// writes for it: fields in this order, no spaces, `event_time` with milliseconds
/// and `Z`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OrderEvent {
    /// Unique id of the order (duplicates of an event repeat it).
    pub order_id: String,
    /// The user who placed the order.
    pub user_id: String,
    /// Order amount, an integer (e.g. cents).
    pub amount: i64,
    /// When the order happened.
    #[serde(with = "tidemill_operators::decode::rfc3339")]
    pub event_time: DateTime<Utc>,
}

impl OrderEvent {
    /// The event time as a Tidemill [`EventTime`] (milliseconds), for timestamp assigners.
    pub fn time(&self) -> EventTime {
        EventTime::from(self.event_time)
    }

    /// The key the reference job deduplicates on (its Delta MERGE condition):
    /// `(order_id, event_time)`.
    pub fn dedup_key(&self) -> (String, DateTime<Utc>) {
        (self.order_id.clone(), self.event_time)
    }
}
