//! An operator that panics on some records, in a job reading a real Kafka topic:
//! the job goes on without a restart, exactly those records are dead letters
//! (reason `user_function_panic`, with their Kafka partition and offset), and
//! everything else equals a batch recomputation of the same input.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use futures::future::join_all;
use tidemill_kafka::rdkafka::producer::{FutureProducer, FutureRecord};
use tidemill_kafka::rdkafka::ClientConfig;
use tidemill_kafka::{KafkaSource, KafkaSourceConfig};
use tidemill_operators::BytesStreamExt;
use tidemill_runtime::testing::{CollectSink, Collected};
use tidemill_runtime::{DeadLetter, Job, ReasonCode};

mod support;
use support::{brokers, create_topic, delete_topic, unique, Order};

const PARTITIONS: i32 = 3;
const ORDERS: usize = 3_000;

/// The user whose orders make the operator panic.
const CURSED: &str = "u-13";

fn order(i: usize) -> String {
    format!(
        r#"{{"order_id":"o-{i}","user_id":"u-{}","amount":{},"event_time":"2026-01-01T00:00:{:02}.000Z"}}"#,
        i % 50,
        i + 1,
        i % 60
    )
}

/// Produces the orders round-robin over the partitions; returns
/// `order_id -> (partition, offset)`.
async fn produce(topic: &str) -> BTreeMap<String, (i32, i64)> {
    let producer: FutureProducer = ClientConfig::new().set("bootstrap.servers", brokers()).create().expect("producer");
    let payloads: Vec<String> = (0..ORDERS).map(order).collect();
    let sends = payloads.iter().enumerate().map(|(i, p)| {
        let record: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(topic).partition(i as i32 % PARTITIONS).payload(p.as_bytes());
        producer.send_result(record).map_err(|(e, _)| e).expect("enqueued")
    });
    let mut positions = BTreeMap::new();
    for (i, delivery) in join_all(sends.collect::<Vec<_>>()).await.into_iter().enumerate() {
        let delivery = delivery.expect("not cancelled").map_err(|(e, _)| e).expect("delivered");
        positions.insert(format!("o-{i}"), (delivery.partition, delivery.offset));
    }
    positions
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_operator_sends_its_records_to_the_dlq_and_the_job_goes_on() {
    let topic = unique("panics");
    create_topic(&topic, PARTITIONS).await;
    let positions = produce(&topic).await;

    let config = KafkaSourceConfig::new(brokers(), &topic).bounded();
    let job = Job::builder(&unique("panics"));
    let out: Arc<Mutex<Collected<Order>>> = Arc::default();
    let dead: Arc<Mutex<Collected<DeadLetter>>> = Arc::default();
    let (o, d) = (out.clone(), dead.clone());
    job.source("orders", PARTITIONS as usize, move |ctx| KafkaSource::new(config.clone(), ctx))
        .decode_json::<Order>("decode")
        .map("enrich", |o: &Order| {
            if o.user_id == CURSED {
                panic!("no enrichment for {}", o.user_id);
            }
            o.clone()
        })
        .sink("collect", move |_| Ok(CollectSink::new(o.clone())));
    job.dead_letters().sink("dlq", move |_| Ok(CollectSink::new(d.clone())));
    let summary = job.build().unwrap().run().await.unwrap();

    // The oracle: the same input, filtered in one batch.
    let cursed: BTreeSet<String> =
        (0..ORDERS).filter(|i| format!("u-{}", i % 50) == CURSED).map(|i| format!("o-{i}")).collect();
    let expected: BTreeSet<String> = positions.keys().filter(|id| !cursed.contains(*id)).cloned().collect();
    let got: Vec<String> = out.lock().unwrap().committed.iter().map(|r| r.value.order_id.clone()).collect();
    assert_eq!(got.len(), expected.len(), "every other order once");
    assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), expected);

    assert_eq!(summary.restarts, 0, "a panic in a user function is not a failure of the job");
    let letters: Vec<DeadLetter> = dead.lock().unwrap().committed.iter().map(|r| r.value.clone()).collect();
    assert_eq!(letters.len(), cursed.len(), "every cursed order is a dead letter");
    for letter in &letters {
        assert_eq!(letter.reason, ReasonCode::UserFunctionPanic);
        assert_eq!(letter.detail, format!("no enrichment for {CURSED}"));
        assert_eq!(&*letter.stage, "enrich");
        let order: Order = serde_json::from_slice(&letter.payload).expect("the payload is the order");
        let (partition, offset) = positions[&order.order_id];
        assert_eq!(letter.origin.partition.0, partition as u32, "{}", order.order_id);
        assert_eq!(letter.origin.offset.0, offset as u64, "{}", order.order_id);
    }
    delete_topic(&topic).await;
}
