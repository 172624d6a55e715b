//! How a Kafka partition is named outside the connector: in dead letters (the
//! `source_kind` column) and in metric labels. The runtime knows no source
//! system; each connector names its own.

use tidemill_runtime::metrics::PartitionLabels;
use tidemill_runtime::SourceKind;

/// The kind of source a Kafka topic is: `kafka` in the dead-letter table.
pub const KAFKA_SOURCE_KIND: SourceKind = SourceKind::named("kafka");

/// The metric labels of partition `partition` of `topic` read by consumer group
/// `group`: the messaging semantic-convention attributes with
/// `messaging.system` `kafka`.
///
/// ```
/// let labels = tidemill_kafka::kafka_partition_labels("orders", 3, "order-aggregates");
/// let ctx = tidemill_runtime::NodeContext::for_tests("orders");
/// let lag = ctx.metrics.source_partition(labels);
/// lag.record(1_000, 1_250);
/// assert_eq!(lag.lag(), Some(250));
/// ```
pub fn kafka_partition_labels(topic: &str, partition: i32, group: &str) -> PartitionLabels {
    PartitionLabels::messaging("kafka", topic, partition, group)
}
