//! [`RoutingKey`] for the standard, chrono and Tidemill types, each writing the
//! encoding documented in the [module documentation](super). Every function here
//! is part of routing scheme 2: changing what one writes needs a new
//! `ROUTING_SCHEME_VERSION`.

use std::borrow::Cow;
use std::rc::Rc;
use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone};

use super::{RoutingHasher, RoutingKey};
use crate::time::EventTime;

/// Integers: little-endian at their own width, independent of the platform's
/// byte order.
macro_rules! fixed_width_integers {
    ($($t:ty),*) => {$(
        impl RoutingKey for $t {
            fn write_routing_bytes(&self, hasher: &mut RoutingHasher) {
                hasher.write(&self.to_le_bytes());
            }
        }
    )*};
}

fixed_width_integers!(u8, u16, u32, u64, u128, i8, i16, i32, i64, i128);

/// `usize` and `isize` as 64 bits, so that a 32-bit and a 64-bit process route alike.
impl RoutingKey for usize {
    fn write_routing_bytes(&self, hasher: &mut RoutingHasher) {
        (*self as u64).write_routing_bytes(hasher);
    }
}

impl RoutingKey for isize {
    fn write_routing_bytes(&self, hasher: &mut RoutingHasher) {
        (*self as i64).write_routing_bytes(hasher);
    }
}

impl RoutingKey for bool {
    fn write_routing_bytes(&self, hasher: &mut RoutingHasher) {
        hasher.write(&[u8::from(*self)]);
    }
}

/// Byte strings: the length as `u64` LE, then the bytes. The prefix keeps a
/// variable-length part of a composite key from running into the next part.
impl RoutingKey for [u8] {
    fn write_routing_bytes(&self, hasher: &mut RoutingHasher) {
        (self.len() as u64).write_routing_bytes(hasher);
        hasher.write(self);
    }
}

impl RoutingKey for Vec<u8> {
    fn write_routing_bytes(&self, hasher: &mut RoutingHasher) {
        self.as_slice().write_routing_bytes(hasher);
    }
}

/// Strings: their UTF-8 bytes as a byte string (length-prefixed).
impl RoutingKey for str {
    fn write_routing_bytes(&self, hasher: &mut RoutingHasher) {
        self.as_bytes().write_routing_bytes(hasher);
    }
}

impl RoutingKey for String {
    fn write_routing_bytes(&self, hasher: &mut RoutingHasher) {
        self.as_str().write_routing_bytes(hasher);
    }
}

/// An instant as microseconds since the Unix epoch, whatever its time zone
/// (equal instants in different zones are equal `DateTime`s). chrono's range,
/// about ±262,000 years, fits in `i64` microseconds.
impl<Tz: TimeZone> RoutingKey for DateTime<Tz> {
    fn write_routing_bytes(&self, hasher: &mut RoutingHasher) {
        self.timestamp_micros().write_routing_bytes(hasher);
    }
}

/// Days from 0001-01-01 (day 1 of the common era) to 1970-01-01.
const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;

/// A date as days since 1970-01-01. chrono's range, about ±262,000 years, fits in
/// `i32` days.
impl RoutingKey for NaiveDate {
    fn write_routing_bytes(&self, hasher: &mut RoutingHasher) {
        (self.num_days_from_ce() - UNIX_EPOCH_DAYS_FROM_CE).write_routing_bytes(hasher);
    }
}

/// Event time as microseconds, like a `DateTime`, so that keying by a record's
/// `EventTime` or by the `DateTime` it came from routes alike. Times beyond
/// `i64` microseconds (about ±292,000 years, including `MIN` and `MAX`) saturate:
/// they share a shard, which is harmless.
impl RoutingKey for EventTime {
    fn write_routing_bytes(&self, hasher: &mut RoutingHasher) {
        self.as_millis().saturating_mul(1000).write_routing_bytes(hasher);
    }
}

/// A tag byte, then the value: `None` and `Some` of anything never collide by
/// construction.
impl<T: RoutingKey> RoutingKey for Option<T> {
    fn write_routing_bytes(&self, hasher: &mut RoutingHasher) {
        match self {
            None => hasher.write(&[0]),
            Some(value) => {
                hasher.write(&[1]);
                value.write_routing_bytes(hasher);
            }
        }
    }
}

/// References and smart pointers route as what they point to.
macro_rules! transparent_pointers {
    ($($pointer:ty),*) => {$(
        impl<T: RoutingKey + ?Sized> RoutingKey for $pointer {
            fn write_routing_bytes(&self, hasher: &mut RoutingHasher) {
                (**self).write_routing_bytes(hasher);
            }
        }
    )*};
}

transparent_pointers!(&T, Box<T>, Rc<T>, Arc<T>);

impl<T: RoutingKey + ToOwned + ?Sized> RoutingKey for Cow<'_, T> {
    fn write_routing_bytes(&self, hasher: &mut RoutingHasher) {
        (**self).write_routing_bytes(hasher);
    }
}

/// The empty key (one shard for everything) writes nothing.
impl RoutingKey for () {
    fn write_routing_bytes(&self, _hasher: &mut RoutingHasher) {}
}

/// Tuples: the elements in order, with no separator; each element's own encoding
/// is self-delimiting (fixed width or length-prefixed).
macro_rules! tuples {
    ($(($($name:ident),+)),*) => {$(
        impl<$($name: RoutingKey),+> RoutingKey for ($($name,)+) {
            #[allow(non_snake_case)]
            fn write_routing_bytes(&self, hasher: &mut RoutingHasher) {
                let ($($name,)+) = self;
                $($name.write_routing_bytes(hasher);)+
            }
        }
    )*};
}

tuples!((A), (A, B), (A, B, C), (A, B, C, D), (A, B, C, D, E), (A, B, C, D, E, F));
