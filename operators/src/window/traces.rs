//! The sampled trace contexts a pane window counted, so that a window result's
//! emit span links to the records it aggregates (see `tidemill_runtime::trace`).
//!
//! Bounded: at most [`PER_PANE`] contexts per pane, so a high sampling ratio
//! cannot grow window state. Not checkpointed: traces are best effort, and after
//! a restore the results link to what arrived since.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use tidemill_runtime::trace::{KeyValue, LinkedSpan, SpanKind, TraceContext};
use tidemill_runtime::Record;

/// At most this many sampled contexts are kept per pane (all keys together).
pub(crate) const PER_PANE: usize = 16;

/// Sampled contexts per pane, with the key they were counted under.
pub(crate) struct PaneTraces<K> {
    panes: BTreeMap<i64, Vec<(K, TraceContext)>>,
}

impl<K> Default for PaneTraces<K> {
    fn default() -> Self {
        PaneTraces { panes: BTreeMap::new() }
    }
}

impl<K: Clone + Eq> PaneTraces<K> {
    /// Remembers that `key`'s accumulator of `pane` counted a sampled record.
    pub(crate) fn note(&mut self, pane: i64, key: &K, cx: TraceContext) {
        let kept = self.panes.entry(pane).or_default();
        if kept.len() < PER_PANE && !kept.iter().any(|(k, c)| *c == cx && k == key) {
            kept.push((key.clone(), cx));
        }
    }

    /// Whether no pane holds a sampled context (the common case: nothing to do).
    pub(crate) fn is_empty(&self) -> bool {
        self.panes.is_empty()
    }

    /// Makes `record` (the result for `key` over `panes`) carry the context of an
    /// emit span linked to every sampled record it counted, if there is one.
    pub(crate) fn trace_result<T>(
        &self,
        panes: RangeInclusive<i64>,
        key: &K,
        window: &str,
        record: Record<T>,
    ) -> Record<T> {
        let contexts = self.panes.range(panes).flat_map(|(_, kept)| kept).filter(|(k, _)| k == key).map(|(_, cx)| *cx);
        let span = LinkedSpan::start(
            "window.emit",
            SpanKind::Internal,
            vec![
                KeyValue::new("tidemill.window", window.to_string()),
                KeyValue::new("tidemill.window.result_time_ms", record.time.as_millis()),
            ],
            contexts,
        );
        match span {
            Some(span) => record.traced(Some(span.context())),
            None => record,
        }
    }

    /// Forgets the panes below `pane` (their state was freed).
    pub(crate) fn free_below(&mut self, pane: i64) {
        self.panes = self.panes.split_off(&pane);
    }

    /// Forgets everything (a restore).
    pub(crate) fn clear(&mut self) {
        self.panes.clear();
    }
}
