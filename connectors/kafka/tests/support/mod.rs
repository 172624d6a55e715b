//! What the Kafka tests of this crate share: the order record they write, and the
//! broker helpers of `tidemill-testkit` under short names.

#![allow(dead_code, unused_imports)] // Each test file uses its own subset.

/// An order event as the tests write them: the order job's schema, checked the
/// same way (all four fields required, `event_time` in RFC 3339).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Order {
    /// Unique id of the order.
    pub order_id: String,
    /// The user who placed it.
    pub user_id: String,
    /// Its amount.
    pub amount: i64,
    /// When it happened.
    #[serde(with = "tidemill_operators::decode::rfc3339")]
    pub event_time: chrono::DateTime<chrono::Utc>,
}

pub use tidemill_testkit::kafka::{admin, brokers, create_topic, delete_topic, unique, TIMEOUT};
