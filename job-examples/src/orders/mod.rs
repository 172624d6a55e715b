//! The order job's own data: the order event its producers send, and a seeded
//! generator of such events (valid, duplicated, malformed and late ones) for
//! demos, tests and benchmarks.

mod event;
pub mod generator;

#[cfg(test)]
mod tests;

pub use event::OrderEvent;
pub use generator::{
    write_jsonl, EventKind, GeneratedEvent, GeneratorConfig, GeneratorConfigError, GeneratorError, GeneratorSource,
    OrderGenerator,
};
