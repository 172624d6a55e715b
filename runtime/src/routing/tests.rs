//! Golden values of routing scheme 2, and the properties the encoding promises.

use std::borrow::Cow;
use std::rc::Rc;
use std::sync::Arc;

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, TimeZone, Utc};

use super::*;
use crate::time::EventTime;

/// 2024-05-01T12:34:56.789123Z, an order's event time with microseconds.
fn order_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 12, 34, 56).unwrap() + Duration::microseconds(789_123)
}

/// A key, the bytes the scheme says it encodes to, its routing hash and its shard
/// of 2, 4 and 12 shards.
struct Golden {
    name: &'static str,
    key: Box<dyn RoutingKey>,
    bytes: Vec<u8>,
    hash: u64,
    shards_of_2_4_12: [usize; 3],
}

fn length_prefixed(bytes: &[u8]) -> Vec<u8> {
    [&(bytes.len() as u64).to_le_bytes()[..], bytes].concat()
}

/// The golden values of routing scheme 2.
///
/// These numbers were computed once, and checked against an independent XXH64
/// implementation over the bytes listed here. They must never change: a different
/// number means keys move to other shards, which misplaces the keyed state of
/// every existing checkpoint. A deliberate change of the scheme is a breaking
/// change that needs a new `ROUTING_SCHEME_VERSION` (and new values here).
fn golden() -> Vec<Golden> {
    let g = |name, key: Box<dyn RoutingKey>, bytes: Vec<u8>, hash, shards_of_2_4_12| Golden {
        name,
        key,
        bytes,
        hash,
        shards_of_2_4_12,
    };
    vec![
        g("short ASCII string", Box::new("u-1"), length_prefixed(b"u-1"), 0xfea0_665b_3ffa_8a10, [0, 0, 0]),
        g(
            "non-ASCII string",
            Box::new("Zoë 🦀"),
            length_prefixed("Zoë 🦀".as_bytes()),
            0xe3de_1556_0a7e_2087,
            [1, 3, 7],
        ),
        g("empty string", Box::<String>::default(), length_prefixed(b""), 0x34c9_6acd_cadb_1bbb, [1, 3, 11]),
        g(
            "string longer than one 32-byte XXH64 stripe",
            Box::new("a key long enough to span more than one 32-byte stripe"),
            length_prefixed(b"a key long enough to span more than one 32-byte stripe"),
            0xbb38_4922_ae09_a074,
            [0, 0, 8],
        ),
        g(
            "string longer than the hasher's 64-byte head",
            Box::new("a key longer than the 64 bytes a routing hasher collects before it streams"),
            length_prefixed(b"a key longer than the 64 bytes a routing hasher collects before it streams"),
            0x420a_8e2b_5b4c_a014,
            [0, 0, 8],
        ),
        g(
            "i64",
            Box::new(1_234_567_890_123i64),
            1_234_567_890_123i64.to_le_bytes().to_vec(),
            0xd9d5_580c_14aa_025d,
            [1, 1, 5],
        ),
        g("negative i32", Box::new(-42i32), vec![0xd6, 0xff, 0xff, 0xff], 0x5252_6926_b915_2734, [0, 0, 4]),
        g(
            "u128",
            Box::new(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210u128),
            0x0123_4567_89ab_cdef_fedc_ba98_7654_3210u128.to_le_bytes().to_vec(),
            0x2db1_fc27_338b_8dc3,
            [1, 3, 7],
        ),
        g("usize (as u64)", Box::new(7usize), 7u64.to_le_bytes().to_vec(), 0x0876_cd40_6afd_e455, [1, 1, 5]),
        g("bool", Box::new(true), vec![1], 0x8a41_2781_1b21_e730, [0, 0, 8]),
        g(
            "order key (String, DateTime<Utc>)",
            Box::new(("o-1001".to_string(), order_time())),
            [length_prefixed(b"o-1001"), 1_714_566_896_789_123i64.to_le_bytes().to_vec()].concat(),
            0x8dd2_16dc_d2a9_4293,
            [1, 3, 3],
        ),
        g(
            "EventTime (micros)",
            Box::new(EventTime::from_millis(1_714_566_896_789)),
            1_714_566_896_789_000i64.to_le_bytes().to_vec(),
            0x3fd3_24d1_810a_fa5b,
            [1, 3, 3],
        ),
        g(
            "NaiveDate (days)",
            Box::new(NaiveDate::from_ymd_opt(2024, 5, 1).unwrap()),
            19_844i32.to_le_bytes().to_vec(),
            0xe20d_90fd_a87f_8fe4,
            [0, 0, 0],
        ),
        g("None", Box::new(None::<u32>), vec![0], 0xe934_a84a_db05_2768, [0, 0, 0]),
        g("Some", Box::new(Some(7u32)), vec![1, 7, 0, 0, 0], 0x9c10_b54f_1b64_c2cc, [0, 0, 0]),
        g(
            "nested tuple",
            Box::new((1u8, ("a", true), Some(-1i16))),
            [vec![1], length_prefixed(b"a"), vec![1], vec![1, 0xff, 0xff]].concat(),
            0x44dd_86bb_f386_ca94,
            [0, 0, 8],
        ),
        // XXH64 of no bytes at all, the published test vector.
        g("unit", Box::new(()), vec![], 0xef46_db37_51d8_e999, [1, 1, 9]),
    ]
}

#[test]
fn scheme_version_is_two() {
    // Bump together with the golden values, never alone.
    assert_eq!(ROUTING_SCHEME_VERSION, 2);
}

#[test]
fn every_key_encodes_to_its_documented_bytes() {
    for g in golden() {
        let of_bytes = twox_hash::XxHash64::oneshot(0, &g.bytes);
        assert_eq!(routing_hash(g.key.as_ref()), of_bytes, "{}: the encoding is not the documented bytes", g.name);
    }
}

#[test]
fn golden_hashes_and_shards_are_unchanged() {
    for g in golden() {
        let hash = routing_hash(g.key.as_ref());
        assert_eq!(hash, g.hash, "{}: routing hash changed (0x{hash:016x}): a breaking change", g.name);
        let shards = [2, 4, 12].map(|n| routing_shard(g.key.as_ref(), n));
        assert_eq!(shards, g.shards_of_2_4_12, "{}: shards changed: a breaking change", g.name);
    }
}

#[test]
fn variable_length_parts_cannot_be_split_differently() {
    assert_ne!(routing_hash(&("ab", "c")), routing_hash(&("a", "bc")));
    assert_ne!(routing_hash(&("", "ab")), routing_hash(&("ab", "")));
    assert_ne!(routing_hash(&(b"ab".to_vec(), b"c".to_vec())), routing_hash(&(b"a".to_vec(), b"bc".to_vec())));
    assert_ne!(routing_hash(&(Some("a"), "b")), routing_hash(&(None::<&str>, "ab")));
}

#[test]
fn date_time_and_event_time_of_one_instant_route_alike() {
    let at = Utc.with_ymd_and_hms(2024, 5, 1, 12, 34, 56).unwrap() + Duration::milliseconds(789);
    assert_eq!(routing_hash(&at), routing_hash(&EventTime::from(at)));
    let before_epoch = Utc.with_ymd_and_hms(1969, 12, 31, 23, 59, 59).unwrap() + Duration::milliseconds(1);
    assert_eq!(routing_hash(&before_epoch), routing_hash(&EventTime::from(before_epoch)));
    assert_eq!(routing_hash(&("o-1", at)), routing_hash(&("o-1", EventTime::from(at))));
}

#[test]
fn an_instant_routes_alike_in_every_time_zone() {
    let utc = order_time();
    let paris = utc.with_timezone(&FixedOffset::east_opt(2 * 3600).unwrap());
    assert_eq!(routing_hash(&utc), routing_hash(&paris));
}

#[test]
fn event_times_beyond_i64_microseconds_saturate() {
    assert_eq!(routing_hash(&EventTime::MAX), routing_hash(&i64::MAX));
    assert_eq!(routing_hash(&EventTime::MIN), routing_hash(&i64::MIN));
}

#[test]
fn the_epoch_is_day_zero() {
    assert_eq!(routing_hash(&NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()), routing_hash(&0i32));
    assert_eq!(routing_hash(&NaiveDate::from_ymd_opt(1969, 12, 31).unwrap()), routing_hash(&-1i32));
}

#[test]
fn pointers_and_owned_forms_route_as_their_target() {
    let expected = routing_hash("u-1");
    assert_eq!(routing_hash(&String::from("u-1")), expected);
    assert_eq!(routing_hash(&&"u-1"), expected);
    assert_eq!(routing_hash(&Box::<str>::from("u-1")), expected);
    assert_eq!(routing_hash(&Arc::<str>::from("u-1")), expected);
    assert_eq!(routing_hash(&Rc::<str>::from("u-1")), expected);
    assert_eq!(routing_hash(&Cow::Borrowed("u-1")), expected);
    assert_eq!(routing_hash(&Cow::<str>::Owned("u-1".into())), expected);
    assert_eq!(routing_hash(&b"u-1".to_vec()), expected, "a string routes as its UTF-8 bytes");
    assert_eq!(routing_hash(&-3isize), routing_hash(&-3i64));
}

#[test]
fn writing_in_parts_equals_hashing_the_concatenation() {
    // Inputs around the 64-byte head and the 32-byte XXH64 stripe, written in
    // parts of every size, so that the head, the switch to streaming and the
    // streaming itself all meet the one-shot hash.
    let input: Vec<u8> = (0..=200u8).map(|b| b.wrapping_mul(37)).collect();
    for len in [0, 1, 31, 32, 33, 63, 64, 65, 96, 128, 200] {
        let whole = &input[..len];
        for part in [1, 3, 8, 31, 64, 65, 200] {
            let mut hasher = RoutingHasher::new();
            for chunk in whole.chunks(part) {
                hasher.write(chunk);
            }
            assert_eq!(hasher.finish(), twox_hash::XxHash64::oneshot(0, whole), "{len} bytes in parts of {part}");
        }
    }
}

#[test]
#[should_panic(expected = "at least one shard")]
fn zero_shards_is_refused() {
    routing_shard("u-1", 0);
}
