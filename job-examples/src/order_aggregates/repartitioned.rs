//! The order job scaled out over a topic that is **not** keyed by `user_id` (the
//! reference producer keys by `order_id`): two stages, each a set of consumer-group
//! tasks, joined by the repartition topic `<group>-repartition`.
//!
//! ```text
//! stage 1, task p<i> (input partition i):
//!   kafka[i] -> decode -> event_time -> repartition_writer -> KafkaSink(<group>-repartition, by user_id)
//!              dead letters --------------------------------------------------> dlq
//! stage 2, task r<j> (repartition partition j):
//!   repartition[j] -> repartition_reader (watermark = min over stage-1 tasks) -+-> dedup -> orders
//!                                                                             +-> windows -> order_aggregates
//!              dead letters (late orders) ------------------------------------> dlq
//! ```
//!
//! Both stages are built from the same two functions as the single-process job
//! ([`decode_stage`](super::decode_stage), [`keyed_stage`](super::keyed_stage)):
//! the job is written once, and only the exchange by `user_id` differs (in
//! memory, or through Kafka). Dedup is in stage 2, behind the exchange: the
//! duplicates of an order share its `user_id`, hence a repartition partition,
//! whose count is fixed, while the input partition of an `order_id` changes
//! when the input topic gains partitions.
//!
//! Task names (checkpoint folders, Delta and Kafka transaction ids):
//! `order-aggregates.p<i>` under `<checkpoint dir>/p<i>`, and
//! `order-aggregates.r<j>` under `<checkpoint dir>/r<j>`.

use tidemill_delta::TableLocation;
use tidemill_kafka::repartition::{
    RepartitionReader, RepartitionSource, RepartitionTopic, RepartitionWriter, UpstreamCount, UpstreamTask,
};
use tidemill_kafka::{GroupConfig, KafkaSink, KafkaSinkConfig, KafkaSourceConfig, OutgoingRecord};
use tidemill_runtime::{Job, JobBuilder, NodeContext, SourceError};

use super::group::{GroupOptions, TaskPlace};
use super::{decode_stage, job_builder, kafka_source, keyed_stage, prepare_output, DeltaOrderSinks, OrderJobError};
use super::{OrderEvent, OrderSinks};

/// The exchange between the two stages: the repartition topic, and how many
/// stage-1 tasks write it (the input topic's partitions).
#[derive(Clone, Debug)]
pub struct Exchange {
    /// The repartition topic.
    pub topic: RepartitionTopic,
    /// The stage-1 tasks, one per input partition.
    pub upstreams: u32,
    /// The consumer group of the job's processes.
    pub group_id: String,
}

impl Exchange {
    /// The exchange of the job reading `source` (of `input_partitions`
    /// partitions) in `group`: topic `<group>-repartition` with `partitions`
    /// partitions (default: as many as the input).
    pub fn of(
        source: &KafkaSourceConfig,
        group: &GroupOptions,
        input_partitions: u32,
        partitions: Option<u32>,
    ) -> Self {
        let name = format!("{}-repartition", group.group_id());
        let partitions = partitions.unwrap_or(input_partitions);
        let topic = RepartitionTopic::new(&source.brokers, name, partitions, source.properties.clone());
        Exchange { topic, upstreams: input_partitions, group_id: group.group_id() }
    }

    /// The consumer group of the stage-2 tasks: `<group>-repartition`, over the
    /// repartition topic.
    pub fn group_config(&self, source: &KafkaSourceConfig, group: &GroupOptions) -> GroupConfig {
        let mut config = group.group_config(source);
        config.topic = self.topic.name.clone();
        config.group_id = format!("{}-repartition", group.group_id());
        config
    }
}

/// Builds stage-1 task `p<partition>` at `place`: the input partition decoded,
/// timed, and written by `user_id` to the repartition topic.
pub fn build_first_stage(
    source: &KafkaSourceConfig,
    exchange: &Exchange,
    place: TaskPlace<'_>,
) -> Result<Job, OrderJobError> {
    let (name, task) = place.named('p')?;
    let job = job_builder(&name, &task, Default::default())?;
    let sinks = DeltaOrderSinks::new(place.output, task.target_file_rows);
    let orders = decode_stage(&kafka_source(&job, &place.source(source))?, &task);
    let (upstream, partitions) = (UpstreamTask(place.partition as u32), exchange.topic.partitions);
    let mut sink = KafkaSinkConfig::new(&exchange.topic.brokers, &exchange.topic.name);
    sink.properties = exchange.topic.properties.clone();
    // One transactional producer per stage-1 task of this group: named after the
    // group, not the job, or two jobs' tasks p<i> would fence each other.
    sink.transactional_id = Some(format!("tidemill-{}.p{}-repartition", exchange.group_id, place.partition));
    orders
        .operator("repartition_writer", move |_: &NodeContext| {
            RepartitionWriter::new(upstream, partitions, |o: &OrderEvent| o.user_id.clone())
        })
        .sink("repartition", KafkaSink::factory(sink, |record: OutgoingRecord| record));
    finish(job, &sinks, place.output)
}

/// Builds stage-2 task `r<partition>` at `place`: that repartition partition's
/// orders, with the watermark of all stage-1 tasks (the input topic's
/// partitions, watched for new ones), deduplicated into `orders` and windowed
/// into `order_aggregates`.
pub fn build_second_stage(
    source: &KafkaSourceConfig,
    exchange: &Exchange,
    place: TaskPlace<'_>,
) -> Result<Job, OrderJobError> {
    let (name, task) = place.named('r')?;
    let mut topic = KafkaSourceConfig::new(&exchange.topic.brokers, &exchange.topic.name);
    topic.properties = exchange.topic.properties.clone();
    topic.consumers = source.consumers;
    let config = place.source(&topic);
    let job = job_builder(&name, &task, Default::default())?;
    let sinks = DeltaOrderSinks::new(place.output, task.target_file_rows).with_orders_shards(task.shards);
    // Shared by the source, which watches the input topic, and the reader.
    let upstreams = UpstreamCount::new(exchange.upstreams);
    let (counted, input) = (upstreams.clone(), source.topic.clone());
    let orders = job
        .source("repartition", 1, move |ctx: &NodeContext| {
            Ok::<_, SourceError>(RepartitionSource::new(config.clone(), counted.clone(), ctx)?.watch_input(&input))
        })
        .operator("repartition_reader", move |_: &NodeContext| {
            RepartitionReader::<OrderEvent>::with_count(upstreams.clone())
        });
    keyed_stage(&orders, &task, &sinks)?;
    finish(job, &sinks, place.output)
}

/// Gives the task's dead letters their table and builds it.
fn finish(job: JobBuilder, sinks: &DeltaOrderSinks, output: &TableLocation) -> Result<Job, OrderJobError> {
    sinks.dead_letters(job.dead_letters());
    prepare_output(output)?;
    Ok(job.build()?)
}
