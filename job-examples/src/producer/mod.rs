//! Parts of the `order-producer` tool that are worth testing on their own: the
//! record key, live pacing, and trace-context headers; and the delivery counter
//! both example producers (`order-producer`, `nexmark --produce-to`) use.

mod deliveries;
mod key;
mod pacing;
mod tracing;

pub use deliveries::{send_when_room, DeliveryCounter};
pub use key::{order_key, record_key, KeyField};
pub use pacing::{live_config, Pacer};
pub use tracing::ProducerTracing;
