use std::collections::{HashMap, HashSet};
use std::time::Instant;

use tidemill_runtime::{duration_millis, NodeContext, Offset, Origin, PartitionId, Source, SourcePoll};

use super::source::GENERATOR_SOURCE_KIND;
use super::*;

fn config(count: u64) -> GeneratorConfig {
    GeneratorConfig { count, duplicate_share: 0.05, malformed_share: 0.1, ..GeneratorConfig::default() }
}

fn bytes_of(config: &GeneratorConfig) -> Vec<Vec<u8>> {
    OrderGenerator::events(config).map(|e| e.bytes).collect()
}

#[test]
fn same_seed_same_bytes() {
    let a = bytes_of(&config(5_000));
    assert_eq!(a.len(), 5_000);
    assert_eq!(a, bytes_of(&config(5_000)));
    assert_ne!(a, bytes_of(&GeneratorConfig { seed: 7, ..config(5_000) }));
    // The allocation-free path writes the same bytes.
    let mut generator = OrderGenerator::new(config(5_000)).unwrap();
    let mut buf = Vec::new();
    for expected in &a {
        buf.clear();
        assert!(generator.write_next(&mut buf));
        assert_eq!(&buf, expected);
    }
    assert!(!generator.write_next(&mut buf) && generator.is_done());
}

#[test]
fn shares_are_roughly_respected() {
    let config = GeneratorConfig { count: 50_000, duplicate_share: 0.1, malformed_share: 0.2, ..config(0) };
    let mut counts = HashMap::new();
    for e in OrderGenerator::events(&config) {
        let kind = match e.kind {
            EventKind::Valid(_) => "valid",
            EventKind::Duplicate(_) => "duplicate",
            EventKind::Malformed(_) => "malformed",
        };
        *counts.entry(kind).or_insert(0u64) += 1;
    }
    let share = |k| counts[k] as f64 / 50_000.0;
    assert!((share("duplicate") - 0.1).abs() < 0.01, "{counts:?}");
    assert!((share("malformed") - 0.2).abs() < 0.01, "{counts:?}");
}

#[test]
fn every_malformed_reason_appears() {
    let reasons: HashSet<_> = OrderGenerator::events(&config(2_000))
        .filter_map(|e| match e.kind {
            EventKind::Malformed(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(reasons, MALFORMED_REASONS.into_iter().collect());
}

#[test]
fn valid_events_are_serde_json_of_the_order_and_duplicates_repeat_them() {
    let mut valid: HashMap<String, Vec<u8>> = HashMap::new();
    let mut users = HashSet::new();
    for e in OrderGenerator::events(&config(20_000)) {
        assert!(!e.bytes.contains(&b'\n') && !e.bytes.contains(&b'\r'), "event {}", e.seq);
        match e.kind {
            EventKind::Valid(o) => {
                assert_eq!(o.order_id, format!("o-{}", e.seq), "order ids are unique");
                assert_eq!(serde_json::to_vec(&o).unwrap(), e.bytes);
                users.insert(o.user_id.clone());
                assert!(valid.insert(o.order_id, e.bytes).is_none());
            }
            EventKind::Duplicate(o) => assert_eq!(valid[&o.order_id], e.bytes, "event {}", e.seq),
            EventKind::Malformed(_) => {}
        }
    }
    assert_eq!(users.len(), 1_000, "20k orders reach every one of 1000 users");
}

#[test]
fn event_times_lag_the_nominal_time_by_at_most_the_jitter() {
    let config = GeneratorConfig { max_jitter: Duration::from_millis(750), ..config(20_000) };
    let jitter = 750;
    let (mut newest, mut lowest_jitter, mut highest_jitter) = (i64::MIN, i64::MAX, i64::MIN);
    for e in OrderGenerator::events(&config) {
        let (EventKind::Valid(o) | EventKind::Duplicate(o)) = &e.kind else { continue };
        let t = o.time().as_millis();
        if matches!(e.kind, EventKind::Valid(_)) {
            let lag = config.nominal_millis(e.seq) - t;
            assert!((0..=jitter).contains(&lag), "event {}: lag {lag}", e.seq);
            (lowest_jitter, highest_jitter) = (lowest_jitter.min(lag), highest_jitter.max(lag));
        }
        // The documented out-of-orderness bound holds for duplicates too.
        assert!(newest.saturating_sub(t) <= duration_millis(config.max_out_of_orderness()), "event {}", e.seq);
        newest = newest.max(t);
    }
    assert!(lowest_jitter < 10 && highest_jitter > jitter - 10, "jitter uses its range");
}

#[test]
fn skip_to_matches_generating() {
    let all = bytes_of(&config(3_000));
    let mut generator = OrderGenerator::new(config(3_000)).unwrap();
    generator.skip_to(1_234);
    assert_eq!(generator.position(), 1_234);
    let rest: Vec<_> = generator.map(|e| e.bytes).collect();
    assert_eq!(rest, all[1_234..]);
}

#[test]
fn invalid_configs_are_rejected() {
    for bad in [
        GeneratorConfig { users: 0, ..config(1) },
        GeneratorConfig { events_per_second_event_time: 0.0, ..config(1) },
        GeneratorConfig { duplicate_share: 0.7, malformed_share: 0.4, ..config(1) },
        GeneratorConfig { malformed_share: f64::NAN, ..config(1) },
        GeneratorConfig { rate_limit: Some(0), ..config(1) },
        GeneratorConfig { events_per_second_event_time: 1e-9, ..config(1_000) },
    ] {
        assert!(matches!(bad.validate(), Err(GeneratorError::InvalidConfig(_))), "{bad:?}");
    }
}

#[test]
fn config_reads_from_json_with_defaults() {
    let c: GeneratorConfig =
        serde_json::from_str(r#"{"seed": 9, "max_jitter": "500ms", "start": "2026-02-01T00:00:00Z"}"#).unwrap();
    assert_eq!((c.seed, c.max_jitter, c.count), (9, Duration::from_millis(500), 1_000_000));
    assert_eq!(c.start.to_rfc3339(), "2026-02-01T00:00:00+00:00");
}

async fn drain(source: &mut GeneratorSource, max: usize) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    loop {
        match source.poll(max).await.unwrap() {
            SourcePoll::Data(batch) => {
                assert!(batch.len() <= max);
                out.extend(batch.into_iter().map(|r| (r.origin.offset.0, r.value)));
            }
            SourcePoll::Idle => {}
            SourcePoll::End => return out,
        }
    }
}

#[tokio::test]
async fn source_yields_the_sequence_and_restores() {
    let ctx = NodeContext::for_tests("generator");
    let expected: Vec<_> = bytes_of(&config(2_000)).into_iter().enumerate().map(|(i, b)| (i as u64, b)).collect();
    let mut source = GeneratorSource::new(config(2_000), &ctx).unwrap();
    let info = ctx.catalog.lookup(&Origin::INTERNAL);
    assert!(info.is_none());
    let mut head = Vec::new();
    while head.len() < 700 {
        let SourcePoll::Data(batch) = source.poll(100).await.unwrap() else { panic!("data expected") };
        head.extend(batch.into_iter().map(|r| (r.origin.offset.0, r.value)));
    }
    let snapshot = source.snapshot().unwrap();
    let mut restored = GeneratorSource::new(config(2_000), &ctx).unwrap();
    restored.restore(&snapshot).unwrap();
    head.extend(drain(&mut restored, 256).await);
    assert_eq!(head, expected);
    let origin = Origin { source: ctx.source_id, partition: PartitionId(0), offset: Offset(0) };
    let info = ctx.catalog.lookup(&origin).unwrap();
    assert_eq!((info.kind, info.name.as_str()), (GENERATOR_SOURCE_KIND, "generator(seed=42)"));
}

#[tokio::test]
async fn source_honours_the_rate_limit() {
    let ctx = NodeContext::for_tests("generator");
    // 400 records at 1000/s with a 100-record burst: about 0.3 s.
    let config = GeneratorConfig { rate_limit: Some(1_000), ..config(400) };
    let mut source = GeneratorSource::new(config, &ctx).unwrap();
    let started = Instant::now();
    let records = drain(&mut source, 1024).await;
    let elapsed = started.elapsed();
    assert_eq!(records.len(), 400);
    assert!(elapsed >= Duration::from_millis(270), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
}

/// Generation speed (debug builds are ~20x slower than release): run with
/// `cargo test -p tidemill-operators --lib generation_speed -- --ignored --nocapture`.
#[test]
#[ignore]
fn generation_speed() {
    let config = GeneratorConfig { count: 2_000_000, ..GeneratorConfig::default() };
    let mut generator = OrderGenerator::new(config).unwrap();
    let mut buf = Vec::with_capacity(1 << 20);
    let started = Instant::now();
    let mut bytes = 0;
    while generator.write_next(&mut buf) {
        if buf.len() > 1 << 20 {
            bytes += buf.len();
            buf.clear();
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!("{:.2} M events/s, {:.0} MB/s", 2.0 / secs, (bytes + buf.len()) as f64 / secs / 1e6);
}
