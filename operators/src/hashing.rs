//! Hash maps for operator state.
//!
//! Operator state is keyed by user data (user ids, order ids) and looked up once or
//! more per record, so the hasher matters: std's SipHash costs several times what
//! foldhash does on short keys. State maps are per process and never iterated into
//! output order (results are sorted), so a randomly seeded fast hasher is fine here;
//! routing between shards, which must agree across processes and builds, uses the
//! runtime's `RoutingKey` encoding instead (`tidemill_runtime::routing`).

use std::collections::HashMap;

/// A `HashMap` with foldhash's fast, randomly seeded hasher.
pub type FastHashMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
