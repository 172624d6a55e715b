//! The sampled trace contexts each key of a keyed process function has seen, so
//! that what the key emits later (a join's match, a timer's result) continues the
//! traces of the records behind it, on both sides of a join.
//!
//! Bounded: at most [`PER_KEY`] contexts per key and [`MAX_KEYS`] keys, so a high
//! sampling ratio cannot grow operator state without limit. Not checkpointed:
//! traces are best effort (as a window's are), and after a restore the results
//! link to what arrived since. A key's contexts are forgotten with its state.

use std::collections::HashMap;
use std::hash::Hash;

use tidemill_runtime::trace::TraceContext;

/// At most this many sampled contexts are kept per key.
pub(crate) const PER_KEY: usize = 16;
/// At most this many keys keep contexts; further keys are not traced until some
/// are cleared.
pub(crate) const MAX_KEYS: usize = 4096;

/// Sampled contexts per key.
pub(crate) struct KeyTraces<K> {
    keys: HashMap<K, Vec<TraceContext>>,
}

impl<K> Default for KeyTraces<K> {
    fn default() -> Self {
        KeyTraces { keys: HashMap::new() }
    }
}

impl<K: Hash + Eq + Clone> KeyTraces<K> {
    /// Remembers that a sampled record of `key` came.
    pub(crate) fn note(&mut self, key: &K, cx: TraceContext) {
        if !self.keys.contains_key(key) && self.keys.len() >= MAX_KEYS {
            return;
        }
        let kept = self.keys.entry(key.clone()).or_default();
        if kept.len() < PER_KEY && !kept.contains(&cx) {
            kept.push(cx);
        }
    }

    /// The contexts `key` has seen, oldest first (usually none).
    pub(crate) fn of(&self, key: &K) -> &[TraceContext] {
        if self.keys.is_empty() {
            return &[];
        }
        self.keys.get(key).map_or(&[], Vec::as_slice)
    }

    /// Forgets `key` (its state was cleared).
    pub(crate) fn forget(&mut self, key: &K) {
        if !self.keys.is_empty() {
            self.keys.remove(key);
        }
    }

    /// Forgets everything (a restore).
    pub(crate) fn clear(&mut self) {
        self.keys.clear();
    }
}
