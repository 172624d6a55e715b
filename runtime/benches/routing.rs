//! Cost of routing one record, in ns, on the order job's keys: the current
//! `RoutingKey` scheme against the scheme it replaced (XXH64 over the key's
//! `std::hash::Hash` output), kept here only as the baseline.
//!
//! `cargo bench -p tidemill-runtime --bench routing -- [--records N] [--distinct D] [--runs R]`
//!
//! Two rows per key: `hash` hashes a borrowed key; `key_by edge` does what a hash
//! edge does per record (the job's key function, which clones the id, then the
//! hash, then the shard of 2). Each row routes N records (default 1,000,000),
//! cycling through D distinct orders (default 1024, one batch: an edge routes a
//! batch that was just decoded, so it is in cache; with D = N the numbers measure
//! memory more than hashing). Each row runs R times; the report gives the median
//! and the fastest run.

use std::hash::{Hash, Hasher};
use std::hint::black_box;
use std::time::Instant;

use chrono::{DateTime, TimeZone, Utc};
use tidemill_runtime::routing::{routing_hash, routing_shard, RoutingKey};

/// The fields of an order event that the order job keys by.
struct Order {
    order_id: String,
    user_id: String,
    event_time: DateTime<Utc>,
}

/// Orders shaped like the generator's (`o-<seq>`, `u-<user>`), with event times
/// spread over a day at microsecond resolution, from a fixed-seed LCG.
fn orders(n: usize) -> Vec<Order> {
    let start = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..n)
        .map(|seq| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            Order {
                order_id: format!("o-{seq}"),
                user_id: format!("u-{}", (state >> 33) % 10_000),
                event_time: start + chrono::Duration::microseconds(((state >> 20) % 86_400_000_000) as i64),
            }
        })
        .collect()
}

/// The replaced scheme: XXH64, seed 0, over whatever `Hash` feeds the hasher.
fn hash_of_std_hash<K: Hash + ?Sized>(key: &K) -> u64 {
    let mut hasher = twox_hash::XxHash64::with_seed(0);
    key.hash(&mut hasher);
    hasher.finish()
}

/// The shard count, hidden from the optimiser: an edge learns it at run time, so
/// both schemes pay a real division, as in the collector.
fn shards() -> usize {
    black_box(2)
}

fn new_shard<K: RoutingKey>(key: K) -> usize {
    routing_shard(&key, shards())
}

fn old_shard<K: Hash>(key: K) -> usize {
    (hash_of_std_hash(&key) % shards() as u64) as usize
}

/// ns per record of `f` over `records` records cycling through `orders`.
fn ns_per_record(orders: &[Order], records: usize, f: &dyn Fn(&Order) -> u64) -> f64 {
    let started = Instant::now();
    let checksum = orders.iter().cycle().take(records).fold(0u64, |sum, o| sum.wrapping_add(f(black_box(o))));
    black_box(checksum);
    started.elapsed().as_nanos() as f64 / records as f64
}

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let records = arg(&args, "--records", 1_000_000).max(1);
    let distinct = arg(&args, "--distinct", 1024).clamp(1, records);
    let runs = arg(&args, "--runs", 7).max(1);
    let orders = orders(distinct);
    type Row = (&'static str, Box<dyn Fn(&Order) -> u64>);
    let rows: Vec<Row> = vec![
        ("loop only (reads the user_id's length)", Box::new(|o| o.user_id.len() as u64)),
        (
            "(order_id, event_time) hash, Hash (old)",
            Box::new(|o| hash_of_std_hash(&(o.order_id.as_str(), o.event_time))),
        ),
        ("(order_id, event_time) hash, RoutingKey", Box::new(|o| routing_hash(&(o.order_id.as_str(), o.event_time)))),
        ("user_id hash, Hash (old)", Box::new(|o| hash_of_std_hash(o.user_id.as_str()))),
        ("user_id hash, RoutingKey", Box::new(|o| routing_hash(o.user_id.as_str()))),
        (
            "(order_id, event_time) key_by edge, Hash (old)",
            Box::new(|o| old_shard((o.order_id.clone(), o.event_time)) as u64),
        ),
        (
            "(order_id, event_time) key_by edge, RoutingKey",
            Box::new(|o| new_shard((o.order_id.clone(), o.event_time)) as u64),
        ),
        ("user_id key_by edge, Hash (old)", Box::new(|o| old_shard(o.user_id.clone()) as u64)),
        ("user_id key_by edge, RoutingKey", Box::new(|o| new_shard(o.user_id.clone()) as u64)),
    ];
    // Every run measures every row once, so that a busy moment of the machine
    // falls on all rows alike rather than on one.
    let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(runs); rows.len()];
    for _ in 0..runs {
        for ((_, f), row_samples) in rows.iter().zip(&mut samples) {
            row_samples.push(ns_per_record(&orders, records, f.as_ref()));
        }
    }
    println!("routing {records} records over {distinct} distinct orders, {runs} runs; ns per record");
    println!("| row | median | fastest |");
    println!("|---|---|---|");
    for ((name, _), mut row_samples) in rows.iter().zip(samples) {
        row_samples.sort_by(f64::total_cmp);
        println!("| {name} | {:.1} | {:.1} |", row_samples[runs / 2], row_samples[0]);
    }
}
