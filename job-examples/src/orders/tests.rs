//! The order data against the generic parts it feeds: the JSON decoder and the
//! JSON-lines file source.

use tidemill_operators::decode::decode_json;
use tidemill_operators::source::JsonLinesFileSource;
use tidemill_runtime::{NodeContext, Source, SourcePoll};

use super::{write_jsonl, EventKind, GeneratorConfig, OrderEvent, OrderGenerator};

/// Every generated event decodes exactly as its tag says.
#[test]
fn generated_events_decode_as_tagged() {
    let config =
        GeneratorConfig { count: 20_000, duplicate_share: 0.1, malformed_share: 0.3, ..GeneratorConfig::default() };
    let mut reasons = std::collections::HashSet::new();
    for event in OrderGenerator::events(&config) {
        let decoded = decode_json::<OrderEvent>(&event.bytes);
        match (&event.kind, decoded) {
            (EventKind::Valid(o) | EventKind::Duplicate(o), Ok(d)) => assert_eq!(&d, o, "event {}", event.seq),
            (EventKind::Malformed(reason), Err(e)) => {
                assert_eq!(e.reason, *reason, "event {}: {:?} {e}", event.seq, String::from_utf8_lossy(&event.bytes));
                reasons.insert(*reason);
            }
            (kind, decoded) => panic!("event {}: tagged {kind:?}, decoded {decoded:?}", event.seq),
        }
    }
    assert_eq!(reasons.len(), 7);
}

async fn read_all(source: &mut JsonLinesFileSource, max: usize) -> Vec<(u32, u64, Vec<u8>)> {
    let mut out = Vec::new();
    loop {
        match source.poll(max).await.unwrap() {
            SourcePoll::Data(batch) => {
                out.extend(batch.into_iter().map(|r| (r.origin.partition.0, r.origin.offset.0, r.value)))
            }
            SourcePoll::Idle => panic!("a file source is never idle"),
            SourcePoll::End => return out,
        }
    }
}

#[tokio::test]
async fn reads_back_what_the_generator_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders.jsonl");
    let config = GeneratorConfig { count: 5_000, duplicate_share: 0.05, malformed_share: 0.2, ..Default::default() };
    assert_eq!(write_jsonl(&config, &path).unwrap(), 5_000);
    let records = read_all(&mut JsonLinesFileSource::open(&path, &NodeContext::for_tests("f")).unwrap(), 1024).await;
    let expected: Vec<_> = OrderGenerator::events(&config).map(|e| (0, e.seq + 1, e.bytes)).collect();
    assert_eq!(records, expected);
}
