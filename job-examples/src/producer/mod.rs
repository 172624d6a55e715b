//! Parts of the `order-producer` tool that are worth testing on their own: the
//! record key, live pacing, and trace-context headers.

mod key;
mod pacing;
mod tracing;

pub use key::{order_key, record_key, KeyField};
pub use pacing::{live_config, Pacer};
pub use tracing::ProducerTracing;
