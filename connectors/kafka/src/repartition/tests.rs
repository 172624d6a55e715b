//! The writer and the reader together, without a broker: what one writes, as a
//! `read_committed` consumer would read it back, goes through the other.

use tidemill_runtime::{EventTime, Offset, OperatorHarness, Origin, PartitionId, Record, SourceId, Watermark};

use super::*;
use crate::{KafkaRecord, OutgoingRecord};

type Order = (String, u64);
type Writer = RepartitionWriter<Order, fn(&Order) -> String>;

fn writer(upstream: u32, partitions: u32) -> OperatorHarness<Writer> {
    OperatorHarness::new(RepartitionWriter::new(
        UpstreamTask(upstream),
        partitions,
        (|o: &Order| o.0.clone()) as fn(&Order) -> String,
    ))
}

/// The records `written` for `partition`, as the reader's source passes them on.
fn read_back(written: &[OutgoingRecord], partition: i32) -> Vec<Record<KafkaRecord>> {
    written
        .iter()
        .filter(|r| r.partition == Some(partition))
        .enumerate()
        .map(|(offset, r)| {
            let record = KafkaRecord {
                key: r.key.clone(),
                payload: r.value.clone().unwrap_or_default(),
                headers: r.headers.iter().map(|(k, v)| (k.clone(), v.clone().unwrap_or_default())).collect(),
                timestamp: None,
            };
            let origin =
                Origin { source: SourceId(0), partition: PartitionId(partition as u32), offset: Offset(offset as u64) };
            Record::new(record, EventTime::MIN, origin)
        })
        .collect()
}

#[test]
fn records_go_to_their_keys_partition_with_their_time_and_watermarks_to_every_partition() {
    let mut w = writer(3, 4);
    let orders: Vec<(Order, i64)> = (0..40).map(|i| ((format!("u-{}", i % 7), i), 1_000 + i as i64)).collect();
    w.push_timed(orders.clone()).unwrap();
    w.push_watermark(900).unwrap();
    w.push_watermark(900).unwrap();
    let written = w.take_values();
    assert_eq!(written.len(), 40 + 4, "one watermark per partition, not repeated");
    for partition in 0..4 {
        let mut reader = OperatorHarness::new(RepartitionReader::<Order>::new(4));
        reader.push(read_back(&written, partition)).unwrap();
        for record in reader.take_output() {
            let expected = tidemill_runtime::routing_shard(&record.value.0, 4) as i32;
            assert_eq!(expected, partition, "{:?} is in the partition of its key", record.value);
            assert_eq!(record.time.as_millis(), 1_000 + record.value.1 as i64, "event time kept");
        }
    }
}

#[test]
fn a_lagging_upstream_holds_the_watermark_back_so_its_records_are_not_late() {
    let (mut ahead, mut behind) = (writer(0, 1), writer(1, 1));
    let mut reader = OperatorHarness::new(RepartitionReader::<Order>::new(2));
    ahead.push_timed([(("u-1".into(), 1), 10_000)]).unwrap();
    ahead.push_watermark(9_000).unwrap();
    reader.push(read_back(&ahead.take_values(), 0)).unwrap();
    assert_eq!(reader.take_watermarks(), Vec::<EventTime>::new(), "upstream 1 has said nothing: no watermark");

    behind.push_timed([(("u-2".into(), 2), 500)]).unwrap();
    behind.push_watermark(400).unwrap();
    reader.push(read_back(&behind.take_values(), 0)).unwrap();
    assert_eq!(reader.take_watermarks(), vec![EventTime::from_millis(400)], "the minimum: the lagging upstream's");
    let times: Vec<i64> = reader.take_output().iter().map(|r| r.time.as_millis()).collect();
    assert_eq!(times, vec![10_000, 500], "both records pass, the lagging one behind a watermark below it");

    // The lagging upstream's input goes idle: the other one alone sets the pace.
    behind.push_watermark_on(0, Watermark::Idle).unwrap();
    reader.push(read_back(&behind.take_values(), 0)).unwrap();
    assert_eq!(reader.take_watermarks(), vec![EventTime::from_millis(9_000)]);
}

#[test]
fn ends_of_every_upstream_finish_the_stream_and_survive_a_restore() {
    let (mut a, mut b) = (writer(0, 2), writer(1, 2));
    a.push_end().unwrap();
    let mut reader = OperatorHarness::new(RepartitionReader::<Order>::new(2));
    reader.push(read_back(&a.take_values(), 1)).unwrap();
    let snapshot = reader.push_barrier().unwrap();

    let mut restored = OperatorHarness::new(RepartitionReader::<Order>::new(2));
    restored.restore(&snapshot).unwrap();
    assert_eq!(restored.take_watermarks(), Vec::<EventTime>::new());
    b.push_timed([(("u-3".into(), 3), 70)]).unwrap();
    b.push_end().unwrap();
    restored.push(read_back(&b.take_values(), 1)).unwrap();
    assert_eq!(restored.take_watermarks(), vec![EventTime::MAX], "both ended: +inf, everything fires");
}

#[test]
fn undecodable_records_and_unknown_controls_are_dead_letters() {
    let mut reader = OperatorHarness::new(RepartitionReader::<Order>::new(1));
    let garbage = OutgoingRecord::value(vec![0xff, 0xff]).with_partition(0);
    let odd = OutgoingRecord::value("")
        .with_partition(0)
        .with_header(CONTROL_HEADER, "pause")
        .with_header(UPSTREAM_HEADER, "0");
    reader.push(read_back(&[garbage, odd], 0)).unwrap();
    assert!(reader.take_output().is_empty());
    let dead = reader.take_dead_letters();
    assert_eq!(dead.len(), 2);
    assert!(dead.iter().all(|d| d.reason == tidemill_runtime::ReasonCode::WrongType), "{dead:?}");
    assert!(dead[1].detail.contains("pause"), "{}", dead[1].detail);
}
