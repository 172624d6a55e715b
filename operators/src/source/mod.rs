//! Sources: JSON-lines files and the synthetic order generator, and the order event
//! type of the reference job.

pub mod file;
pub mod generator;
pub mod order;

pub use file::JsonLinesFileSource;
pub use generator::{
    write_jsonl, EventKind, GeneratedEvent, GeneratorConfig, GeneratorError, GeneratorSource, OrderGenerator,
};
pub use order::OrderEvent;
