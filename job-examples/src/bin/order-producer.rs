//! `order-producer`: writes order events to a Kafka topic, generated (the same
//! deterministic events as `order-aggregates --generate`) or replayed from a
//! JSON-lines file, keyed by `order_id`. With `--rate` it paces the records; with
//! `--live` as well, event times follow the wall clock (a live stream, for latency
//! measurements).

// mimalloc: one small allocation per record in the hot loop.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clap::{ArgGroup, Parser};
use tidemill_job_examples::kafka_client::{self, KafkaClientArgs};
use tidemill_job_examples::orders::{GeneratorConfig, OrderGenerator};
use tidemill_job_examples::producer::{
    live_config, record_key, send_when_room, DeliveryCounter, KeyField, Pacer, ProducerTracing,
};
use tidemill_kafka::rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use tidemill_kafka::rdkafka::client::DefaultClientContext;
use tidemill_kafka::rdkafka::error::RDKafkaErrorCode;
use tidemill_kafka::rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use tidemill_kafka::rdkafka::ClientConfig;
use tidemill_kafka::{topic_partition_count, ClientProperties};
use tidemill_runtime::ErrorChain;

/// How long to wait for metadata and topic creation.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Produces order events to a Kafka topic, keyed by `order_id` or `user_id` (--key;
/// lines that are not a JSON object with that field as a string, malformed ones
/// included, are produced without a key), with many records in flight; exits non-zero if any delivery
/// failed.
#[derive(Debug, Parser)]
#[command(name = "order-producer", version)]
#[command(group(ArgGroup::new("input").required(true).args(["generate", "replay", "duration"])))]
struct Cli {
    /// Kafka bootstrap servers [default: bootstrap.servers of the Kafka client
    /// properties, else 127.0.0.1:9092].
    #[arg(long, value_name = "HOST:PORT,...", env = "KAFKA_BOOTSTRAP_SERVERS")]
    brokers: Option<String>,

    /// The topic to write to.
    #[arg(long)]
    topic: String,

    /// The order field that keys each record: order-id (the reference job's producer) or
    /// user-id (one user's orders share a partition, as `order-aggregates --group`
    /// needs).
    #[arg(long, value_name = "FIELD", value_enum, default_value_t = KeyField::OrderId)]
    key: KeyField,

    /// Create the topic with N partitions if it does not exist (without this, a
    /// missing topic is an error).
    #[arg(long, value_name = "N")]
    create_partitions: Option<u32>,

    /// Replication factor of a created topic [default: the broker's default].
    #[arg(long, value_name = "N", requires = "create_partitions")]
    replication_factor: Option<i32>,

    /// Generate this many order events (deterministic, with out-of-order, duplicate
    /// and malformed ones; see --seed, --users, --jitter and the --*-share options).
    #[arg(long, value_name = "N")]
    generate: Option<u64>,

    /// Replay this JSON-lines file, one record per line, malformed lines included.
    #[arg(long, value_name = "FILE")]
    replay: Option<PathBuf>,

    /// Send at most N records per second: record n is not sent before n/N seconds
    /// after the first (sleeps of at least 1 ms, so records go out in small bursts)
    /// [default: as fast as possible].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    rate: Option<u64>,

    /// With --rate: generate for this long, i.e. rate × duration events (instead of
    /// --generate N).
    #[arg(long, value_name = "DURATION", requires = "rate", value_parser = humantime::parse_duration)]
    duration: Option<Duration>,

    /// With --rate: a live stream. Event times start at the wall clock when sending
    /// starts and advance 1/rate per event, so each generated event's time is its
    /// scheduled send time minus its jitter (see --jitter).
    #[arg(long, requires = "rate", conflicts_with = "replay")]
    live: bool,

    /// Generator: random seed [default: 42].
    #[arg(long, value_name = "N", conflicts_with = "replay")]
    seed: Option<u64>,

    /// Generator: distinct users [default: 1000].
    #[arg(long, value_name = "N", conflicts_with = "replay")]
    users: Option<u32>,

    /// Generator: largest out-of-order jitter of event times [default: 2s].
    #[arg(long, value_name = "DURATION", conflicts_with = "replay", value_parser = humantime::parse_duration)]
    jitter: Option<Duration>,

    /// Generator: share of duplicated events, 0..1 [default: 0.01].
    #[arg(long, value_name = "SHARE", conflicts_with = "replay")]
    duplicate_share: Option<f64>,

    /// Generator: share of malformed events, 0..1 [default: 0.01].
    #[arg(long, value_name = "SHARE", conflicts_with = "replay")]
    malformed_share: Option<f64>,

    /// Kafka client properties (TLS, SASL, `linger.ms`, ...) for the producer and
    /// the admin client; see docs/kafka-security.md.
    #[command(flatten)]
    kafka: KafkaClientArgs,

    /// Log filter (tracing EnvFilter syntax).
    #[arg(long, value_name = "FILTER", env = "RUST_LOG", default_value = "warn")]
    log: String,

    /// Share of records (0..1) given a producer span and a W3C `traceparent`
    /// header; spans go over OTLP (`OTEL_EXPORTER_OTLP_*`, default localhost:4318).
    #[arg(long, value_name = "RATIO")]
    trace_sample: Option<tidemill_runtime::trace::SampleRatio>,
}

/// Where the records come from.
enum Input {
    Generate(Box<OrderGenerator>),
    Replay(BufReader<File>, PathBuf),
}

/// Records per chunk handed from the reading thread to the sending one.
const CHUNK_RECORDS: usize = 1024;

/// Records, back to back in one buffer, and where each one ends.
struct Chunk {
    data: Vec<u8>,
    ends: Vec<usize>,
}

impl Input {
    /// Appends the next record to `buf`; `false` at the end.
    fn append_next(&mut self, buf: &mut Vec<u8>) -> Result<bool, String> {
        match self {
            Input::Generate(generator) => Ok(generator.write_next(buf)),
            Input::Replay(reader, path) => {
                let n = reader.read_until(b'\n', buf).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                if n > 0 && buf.last() == Some(&b'\n') {
                    buf.pop();
                    if n > 1 && buf.last() == Some(&b'\r') {
                        buf.pop();
                    }
                }
                Ok(n > 0)
            }
        }
    }

    /// Reads (or generates) the records on a thread of their own, a few chunks
    /// ahead of the sender, so that the two share the work on two cores.
    fn spawn(mut self) -> (mpsc::Receiver<Result<Chunk, String>>, thread::JoinHandle<()>) {
        let (tx, rx) = mpsc::sync_channel(8);
        let reader = thread::spawn(move || loop {
            let mut chunk =
                Chunk { data: Vec::with_capacity(CHUNK_RECORDS * 128), ends: Vec::with_capacity(CHUNK_RECORDS) };
            while chunk.ends.len() < CHUNK_RECORDS {
                match self.append_next(&mut chunk.data) {
                    Ok(true) => chunk.ends.push(chunk.data.len()),
                    Ok(false) => break,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
            let last = chunk.ends.len() < CHUNK_RECORDS;
            if (!chunk.ends.is_empty() && tx.send(Ok(chunk)).is_err()) || last {
                return;
            }
        });
        (rx, reader)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tidemill_job_examples::cli::run_main(&cli.log, || run(&cli).map_err(Into::into))
}

/// The input; a live generator's event times start at `live_start`.
fn input(cli: &Cli, live_start: DateTime<Utc>) -> Result<Input, String> {
    if let Some(path) = &cli.replay {
        let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        return Ok(Input::Replay(BufReader::with_capacity(1 << 20, file), path.clone()));
    }
    let count = match (cli.generate, cli.duration, cli.rate) {
        (Some(n), _, _) => n,
        (None, Some(d), Some(rate)) => (d.as_secs_f64() * rate as f64).round() as u64,
        _ => 0,
    };
    let mut config = GeneratorConfig { count, ..GeneratorConfig::default() };
    config.seed = cli.seed.unwrap_or(config.seed);
    config.users = cli.users.unwrap_or(config.users);
    config.max_jitter = cli.jitter.unwrap_or(config.max_jitter);
    config.duplicate_share = cli.duplicate_share.unwrap_or(config.duplicate_share);
    config.malformed_share = cli.malformed_share.unwrap_or(config.malformed_share);
    if let (true, Some(rate)) = (cli.live, cli.rate) {
        config = live_config(config, rate, live_start);
    }
    Ok(Input::Generate(Box::new(OrderGenerator::new(config).map_err(|e| e.to_string())?)))
}

/// Creates the topic if asked and missing; returns its partition count.
async fn ensure_topic(cli: &Cli, brokers: &str, props: &ClientProperties) -> Result<usize, String> {
    let existing = topic_partition_count(brokers, &cli.topic, ADMIN_TIMEOUT, props);
    let missing = existing.as_ref().is_err_and(|e| e.is_missing_topic());
    let (Some(partitions), true) = (cli.create_partitions, missing) else {
        if let (Some(wanted), Ok(count)) = (cli.create_partitions, &existing) {
            if *count != wanted as usize {
                tracing::warn!(topic = %cli.topic, "topic exists with {count} partitions, not {wanted}: left as it is");
            }
        }
        return existing.map_err(|e| match e {
            e if e.is_missing_topic() => {
                format!("topic {} does not exist (pass --create-partitions N to create it)", cli.topic)
            }
            e => format!("cannot read the metadata of topic {}: {}", cli.topic, ErrorChain(&e)),
        });
    };
    let mut admin_config = ClientConfig::new();
    props.apply_to(&mut admin_config).map_err(|e| ErrorChain(&e).to_string())?;
    let admin: AdminClient<DefaultClientContext> =
        admin_config.set("bootstrap.servers", brokers).create().map_err(|e| e.to_string())?;
    let partitions_i32 = i32::try_from(partitions).map_err(|_| "too many partitions".to_string())?;
    let topic =
        NewTopic::new(&cli.topic, partitions_i32, TopicReplication::Fixed(cli.replication_factor.unwrap_or(-1)));
    let opts = AdminOptions::new().operation_timeout(Some(ADMIN_TIMEOUT));
    let results = admin.create_topics([&topic], &opts).await.map_err(|e| format!("cannot create the topic: {e}"))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => return Err(format!("cannot create topic {name}: {code}")),
        }
    }
    eprintln!("created topic {} with {partitions} partitions", cli.topic);
    Ok(partitions as usize)
}

fn run(cli: &Cli) -> Result<(), String> {
    let mut props = cli.kafka.merge_with_env(&ClientProperties::new()).map_err(|e| ErrorChain(&e).to_string())?;
    let brokers = kafka_client::brokers(cli.brokers.as_deref(), &mut props);
    tidemill_job_examples::cli::redact_output(props.redactor().map_err(|e| ErrorChain(&e).to_string())?);
    // Built here to report a bad configuration before touching Kafka; a live input
    // is built again once the topic is ready, so its event times start at the send.
    let mut input = input(cli, Utc::now())?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    // rdkafka clients are created inside a tokio runtime.
    let _entered = runtime.enter();
    let partitions = runtime.block_on(ensure_topic(cli, &brokers, &props))?;

    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &brokers)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("compression.type", "lz4")
        .set("batch.size", "65536")
        .set("linger.ms", "5")
        // A delivery report per record costs more than producing it: only failures
        // are reported; after a successful flush, every other record was delivered.
        .set("delivery.report.only.error", "true");
    props.apply_to(&mut config).map_err(|e| ErrorChain(&e).to_string())?;
    let producer: ThreadedProducer<DeliveryCounter> = config
        .create_with_context(DeliveryCounter::default())
        .map_err(|e| format!("cannot create the producer: {e}"))?;
    let tracing = ProducerTracing::start(cli.trace_sample)?;

    let mut pacer = cli.rate.map(Pacer::new);
    if let (true, Some(pacer)) = (cli.live, &pacer) {
        let start = DateTime::<Utc>::from(pacer.started_wall);
        input = self::input(cli, start)?;
        eprintln!("live: event times start at {start}, {} events/s", pacer.rate);
    }
    let started = Instant::now();
    let (chunks, reader) = input.spawn();
    let (mut sent, mut bytes, mut keyed) = (0u64, 0u64, 0u64);
    for chunk in chunks {
        let chunk = chunk?;
        let mut start = 0;
        for &end in &chunk.ends {
            let payload = &chunk.data[start..end];
            start = end;
            let key = record_key(payload, cli.key);
            keyed += u64::from(key.is_some());
            if let Some(pacer) = &mut pacer {
                pacer.wait(sent);
            }
            let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&cli.topic).payload(payload);
            if let Some(key) = &key {
                record = record.key(key.as_bytes());
            }
            if let Some(headers) = tracing.as_ref().and_then(|t| t.headers_for(sent, &cli.topic, key.as_deref())) {
                record = record.headers(headers);
            }
            send_when_room(&producer, record).map_err(|e| format!("cannot enqueue record #{sent}: {e}"))?;
            sent += 1;
            bytes += payload.len() as u64;
        }
    }
    reader.join().map_err(|_| "the reading thread panicked".to_string())?;
    producer.flush(Duration::from_secs(600)).map_err(|e| format!("flush failed: {e}"))?;
    let elapsed = started.elapsed().as_secs_f64();

    let context = producer.context();
    let failed = context.failed();
    let delivered = sent.saturating_sub(failed);
    let rate = delivered as f64 / elapsed.max(f64::MIN_POSITIVE);
    println!(
        "produced {delivered} of {sent} records ({keyed} keyed, {:.1} MB) to topic {} ({partitions} partitions) \
         in {elapsed:.2} s: {rate:.0} records/s",
        bytes as f64 / 1e6,
        cli.topic
    );
    if let Some(pacer) = &pacer {
        println!("paced at {} records/s: at most {} ms behind schedule", pacer.rate, pacer.max_behind.as_millis());
    }
    if failed > 0 {
        let first = context.first_error().unwrap_or_default();
        return Err(format!("{failed} deliveries failed (first error: {first})"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_generated_event_gets_the_key_of_its_order() {
        use tidemill_job_examples::orders::EventKind;
        let config = GeneratorConfig { count: 2_000, duplicate_share: 0.1, malformed_share: 0.2, ..Default::default() };
        for event in OrderGenerator::events(&config) {
            let key = record_key(&event.bytes, KeyField::OrderId).map(std::borrow::Cow::into_owned);
            match event.kind {
                EventKind::Valid(o) | EventKind::Duplicate(o) => assert_eq!(key, Some(o.order_id)),
                // Malformed events may still carry a string order_id; they are produced either way.
                EventKind::Malformed(_) => {}
            }
        }
    }

    #[test]
    fn cli_parses() {
        let cli = Cli::try_parse_from([
            "order-producer",
            "--topic",
            "orders",
            "--generate",
            "10",
            "--seed",
            "7",
            "--property",
            "linger.ms=20",
        ])
        .unwrap();
        assert_eq!(cli.kafka.properties, vec!["linger.ms=20".to_string()]);
        assert!(Cli::try_parse_from(["order-producer", "--topic", "t"]).is_err(), "an input is required");
        assert!(Cli::try_parse_from(["order-producer", "--topic", "t", "--replay", "f", "--seed", "1"]).is_err());
        assert!(Cli::try_parse_from(["order-producer", "--topic", "t", "--generate", "1", "--replay", "f"]).is_err());
    }

    #[test]
    fn live_options_parse_and_size_the_input() {
        let parse = |args: &[&str]| Cli::try_parse_from(["order-producer", "--topic", "t"].iter().chain(args));
        let cli = parse(&["--rate", "1000", "--duration", "2.5s", "--live", "--jitter", "50ms"]).unwrap();
        let Input::Generate(generator) = input(&cli, Utc::now()).unwrap() else { panic!("a generated input") };
        assert_eq!(generator.config().count, 2_500, "rate × duration events");
        assert_eq!(generator.config().events_per_second_event_time, 1_000.0);
        assert!(parse(&["--rate", "10", "--generate", "5", "--live"]).is_ok());
        assert!(parse(&["--rate", "10", "--replay", "f"]).is_ok(), "a replay can be paced");
        assert!(parse(&["--duration", "1s"]).is_err(), "--duration needs --rate");
        assert!(parse(&["--generate", "5", "--live"]).is_err(), "--live needs --rate");
        assert!(parse(&["--rate", "10", "--replay", "f", "--live"]).is_err(), "a replay is not live");
        assert!(parse(&["--rate", "10", "--generate", "5", "--duration", "1s"]).is_err(), "one input");
        assert!(parse(&["--rate", "0", "--generate", "5"]).is_err());
    }
}
