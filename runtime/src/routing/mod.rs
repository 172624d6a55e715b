//! Shard routing: which shard of a keyed operator a key belongs to.
//!
//! Keyed state (windows, dedup) lives in exactly one shard per key, and a
//! checkpoint stores it per shard. A restored job must therefore send every key to
//! the shard it went to before, whatever compiler, std or chrono version built it.
//! `std::hash::Hash` makes no such promise (its output for `str`, tuples or chrono
//! types may change between releases), so routing does not use it. A key is
//! routed on an explicit byte encoding, defined here and written by its
//! [`RoutingKey`] implementation:
//!
//! ```text
//! routing hash = XXH64(seed 0, encoding of the key)
//! shard        = routing hash % number of shards
//! ```
//!
//! # Encoding, scheme version 2 ([`ROUTING_SCHEME_VERSION`])
//!
//! | key type | bytes |
//! |---|---|
//! | `u8`, `u16`, `u32`, `u64`, `u128` | little-endian, at the type's own width (1, 2, 4, 8, 16 bytes) |
//! | `i8`, `i16`, `i32`, `i64`, `i128` | two's complement, little-endian, at the type's own width |
//! | `usize`, `isize` | as `u64`, `i64` (8 bytes on every platform) |
//! | `bool` | one byte: `0` false, `1` true |
//! | `str`, `String` | the length in bytes as `u64` LE, then the UTF-8 bytes |
//! | `[u8]`, `Vec<u8>` | the length as `u64` LE, then the bytes |
//! | `chrono::DateTime<Tz>` | the instant as `i64` microseconds since 1970-01-01T00:00:00Z, LE (chrono's `timestamp_micros`; nanoseconds below a microsecond are dropped, the time zone does not matter) |
//! | `chrono::NaiveDate` | days since 1970-01-01 as `i32` LE |
//! | [`EventTime`](crate::EventTime) | its milliseconds × 1000 as `i64` LE, saturating at `i64::MIN`/`i64::MAX`: the same bytes as the equal `DateTime` |
//! | `Option<T>` | `0` for `None`; `1`, then the encoding of the value, for `Some` |
//! | `()` | nothing |
//! | tuples of 1 to 6 elements | the elements' encodings, in order, with nothing between them |
//! | `&T`, `Box<T>`, `Rc<T>`, `Arc<T>`, `Cow<T>` | the encoding of `T` |
//!
//! Strings and byte strings are length-prefixed even when they are the whole key:
//! one rule everywhere, and a variable-length part inside a tuple or an option can
//! never be confused with another split (`("ab", "c")` and `("a", "bc")` differ).
//! Every other encoding has a fixed length, so a composite of them is unambiguous
//! too. A string and a byte string with the same bytes route alike, as do
//! `String` and `&str`: only the bytes count, not the Rust type.
//!
//! Equal keys always have equal encodings; different keys may share a shard (that
//! is what sharding is). Floats are not routing keys: `0.0 == -0.0` and `NaN`
//! make byte-wise routing disagree with equality, and keyed operators need `Eq`.
//!
//! # Changing the scheme
//!
//! Changing an encoding, the hash or the shard formula moves keys to other shards,
//! which breaks every checkpoint with keyed state. Such a change needs a new
//! [`ROUTING_SCHEME_VERSION`]; the golden values in this module's tests pin the
//! current scheme so that no change goes unnoticed. Every checkpoint records the
//! version its keyed state was routed with, and a job refuses to restore one taken
//! under another scheme instead of silently re-routing its state.
//!
//! Versions so far:
//!
//! 1. XXH64 (seed 0) over the key's `std::hash::Hash` output, shard = hash %
//!    shards. Not stable across Rust, std or chrono releases; checkpoints routed
//!    with it are refused.
//! 2. XXH64 (seed 0) over the encoding above, shard = hash % shards.
//!
//! # Own key types
//!
//! Implement [`RoutingKey`] by writing the fields' encodings in a fixed order:
//!
//! ```
//! use tidemill_runtime::routing::{routing_hash, RoutingHasher, RoutingKey};
//!
//! struct OrderKey {
//!     order_id: String,
//!     line: u32,
//! }
//!
//! impl RoutingKey for OrderKey {
//!     fn write_routing_bytes(&self, hasher: &mut RoutingHasher) {
//!         self.order_id.write_routing_bytes(hasher);
//!         self.line.write_routing_bytes(hasher);
//!     }
//! }
//!
//! // The same bytes as the tuple of its fields.
//! let key = OrderKey { order_id: "o-1".to_string(), line: 2 };
//! assert_eq!(routing_hash(&key), routing_hash(&("o-1", 2u32)));
//! ```

mod encodings;
#[cfg(test)]
mod tests;

use std::hash::Hasher as _;

/// The version of the routing scheme (encoding, hash and shard formula) described
/// in the [module documentation](self). Keyed state in a checkpoint is only valid
/// under the scheme it was routed with; any change of scheme gets a new number.
///
/// ```
/// assert_eq!(tidemill_runtime::routing::ROUTING_SCHEME_VERSION, 2);
/// ```
pub const ROUTING_SCHEME_VERSION: u32 = 2;

/// The hash a key is routed by: XXH64 with seed 0 over the bytes written to it.
///
/// It takes bytes only and is deliberately not a `std::hash::Hasher`, so that no
/// `Hash` implementation, whose output Rust does not keep stable, can feed it.
/// Writing the parts of a key one after another gives the hash of their
/// concatenation, without allocating.
///
/// ```
/// use tidemill_runtime::routing::RoutingHasher;
///
/// let mut hasher = RoutingHasher::new();
/// hasher.write(b"ab");
/// hasher.write(b"c");
/// let mut whole = RoutingHasher::new();
/// whole.write(b"abc");
/// assert_eq!(hasher.finish(), whole.finish());
/// ```
#[derive(Clone)]
pub struct RoutingHasher {
    // Keys are short (the order key is 24 bytes or so), and streaming XXH64 pays
    // its buffering on every small write. So the first `HEAD_CAPACITY` bytes are
    // only copied here and hashed in one shot by `finish`; a longer key moves to
    // the streaming hasher. Both give XXH64 of the concatenation.
    head: [u8; HEAD_CAPACITY],
    head_len: usize,
    stream: Option<twox_hash::XxHash64>,
}

/// How many bytes of a key [`RoutingHasher`] collects before it streams.
const HEAD_CAPACITY: usize = 64;

impl RoutingHasher {
    /// A hasher with nothing written yet (XXH64, seed 0).
    pub fn new() -> Self {
        RoutingHasher { head: [0; HEAD_CAPACITY], head_len: 0, stream: None }
    }

    /// Appends bytes to the hashed input. Write variable-length parts of a key
    /// through the `str` or `[u8]` [`RoutingKey`] implementations instead, which
    /// prefix their length.
    #[inline]
    pub fn write(&mut self, bytes: &[u8]) {
        if let Some(stream) = &mut self.stream {
            stream.write(bytes);
            return;
        }
        let end = self.head_len + bytes.len();
        if end <= HEAD_CAPACITY {
            self.head[self.head_len..end].copy_from_slice(bytes);
            self.head_len = end;
        } else {
            let mut stream = twox_hash::XxHash64::with_seed(0);
            stream.write(&self.head[..self.head_len]);
            stream.write(bytes);
            self.stream = Some(stream);
        }
    }

    /// The hash of everything written so far.
    #[inline]
    pub fn finish(&self) -> u64 {
        match &self.stream {
            Some(stream) => stream.finish(),
            None => twox_hash::XxHash64::oneshot(0, &self.head[..self.head_len]),
        }
    }

    /// How many bytes were written.
    fn written(&self) -> u64 {
        self.stream.as_ref().map_or(self.head_len as u64, |stream| stream.total_len())
    }
}

impl Default for RoutingHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for RoutingHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoutingHasher").field("written", &self.written()).finish()
    }
}

/// A value that [`Stream::key_by`](crate::Stream::key_by) can route by: it writes
/// its documented byte encoding (see the [module documentation](self)) into a
/// [`RoutingHasher`].
///
/// Two equal keys must write the same bytes, and the bytes must not depend on the
/// build (no `Hash`, no pointer values, no `HashMap` iteration order). Implemented
/// for integers, `bool`, strings, byte strings, chrono's `DateTime` and
/// `NaiveDate`, [`EventTime`](crate::EventTime), `Option`, tuples of up to 6
/// elements and references and smart pointers to these.
///
/// ```
/// use tidemill_runtime::routing::{RoutingHasher, RoutingKey};
///
/// let mut by_key = RoutingHasher::new();
/// "u-1".write_routing_bytes(&mut by_key);
/// // A string is its length as u64 LE, then its UTF-8 bytes.
/// let mut by_hand = RoutingHasher::new();
/// by_hand.write(&3u64.to_le_bytes());
/// by_hand.write(b"u-1");
/// assert_eq!(by_key.finish(), by_hand.finish());
/// ```
pub trait RoutingKey {
    /// Writes this key's encoding into `hasher`.
    fn write_routing_bytes(&self, hasher: &mut RoutingHasher);
}

/// The routing hash of `key`: XXH64, seed 0, over its encoding.
///
/// ```
/// use tidemill_runtime::routing::routing_hash;
///
/// assert_eq!(routing_hash("u-1"), routing_hash(&String::from("u-1")));
/// assert_ne!(routing_hash(&("ab", "c")), routing_hash(&("a", "bc")));
/// ```
pub fn routing_hash<K: RoutingKey + ?Sized>(key: &K) -> u64 {
    let mut hasher = RoutingHasher::new();
    key.write_routing_bytes(&mut hasher);
    hasher.finish()
}

/// The shard, of `shards`, that `key` is routed to: its routing hash modulo
/// `shards`. This is the shard `key_by(.., shards)` sends it to.
///
/// # Panics
///
/// If `shards` is 0.
///
/// ```
/// use tidemill_runtime::routing::{routing_hash, routing_shard};
///
/// let shard = routing_shard(&("o-1", 7u32), 4);
/// assert!(shard < 4);
/// assert_eq!(shard as u64, routing_hash(&("o-1", 7u32)) % 4);
/// ```
pub fn routing_shard<K: RoutingKey + ?Sized>(key: &K, shards: usize) -> usize {
    shard_of_hash(routing_hash(key), shards)
}

/// The shard, of `shards`, of a routing hash; the one formula both
/// [`routing_shard`] and the runtime's hash edges use.
#[inline]
pub(crate) fn shard_of_hash(hash: u64, shards: usize) -> usize {
    assert!(shards > 0, "routing needs at least one shard");
    // The remainder is below `shards`, so it fits in usize.
    (hash % shards as u64) as usize
}
