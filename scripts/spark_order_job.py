#!/usr/bin/env python3
"""The reference order job in Spark Structured Streaming, for scripts/bench-vs-spark.

    spark_order_job.py --brokers B --topic T --output DIR [--max-offsets-per-trigger N]

This is the system-design article's Spark code, as written there, with only what
a benchmark on one machine needs changed:

  * the topic is read from the earliest offset and the queries run with
    `trigger(availableNow=True)`, so the job ends when it has read what the topic
    held at the start (Tidemill's `--bounded`);
  * paths are local folders instead of s3:// URLs; Spark runs in local mode on
    every core, with 8 GB of driver memory (the 1 GB default runs out);
  * the article's two foreachBatch functions (the MERGE that deduplicates orders on
    `(order_id, event_time)`, and the DLQ split on a null `order_id`) run in one
    foreachBatch over the parsed stream, so the topic is read twice (windows, and
    orders with the DLQ) rather than three times: this favours Spark.

Everything else is the article's: from_json with its schema, a 10 minute
watermark, 5 minute windows sliding by 1 minute by user_id counting order_id,
appended to Delta; `maxOffsetsPerTrigger` 50,000 where the article caps micro
batches. Prints one line: `spark: <seconds> s` for the queries (JVM start-up
excluded; the script's wall time includes it).
"""

import argparse
import os
import time

from pyspark.sql import SparkSession
from pyspark.sql.functions import col, count, from_json, lit, window
from pyspark.sql.types import LongType, StringType, StructType, TimestampType


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--brokers", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--jars", required=True, help="comma-separated jar paths")
    parser.add_argument("--max-offsets-per-trigger", type=int, default=0, help="0: uncapped")
    args = parser.parse_args()

    spark = (
        SparkSession.builder.master("local[*]")
        .appName("order-aggregates-spark")
        .config("spark.jars", args.jars)
        .config("spark.driver.memory", "8g")
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("WARN")

    # Schema enforcement at the consumer (the article's schema).
    event_schema = (
        StructType()
        .add("order_id", StringType())
        .add("user_id", StringType())
        .add("amount", LongType())
        .add("event_time", TimestampType())
    )
    reader = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", args.brokers)
        .option("subscribe", args.topic)
        .option("startingOffsets", "earliest")
        .option("failOnDataLoss", "false")
    )
    if args.max_offsets_per_trigger > 0:
        reader = reader.option("maxOffsetsPerTrigger", args.max_offsets_per_trigger)
    parsed = reader.load().select(from_json(col("value").cast("string"), event_schema).alias("data")).select("data.*")

    out = lambda name: os.path.join(args.output, name)  # noqa: E731
    checkpoints = lambda name: os.path.join(args.output, "_checkpoints", name)  # noqa: E731

    # Windowed aggregation with watermark for late event tolerance.
    aggregated = (
        parsed.withWatermark("event_time", "10 minutes")
        .groupBy(window(col("event_time"), "5 minutes", "1 minute"), col("user_id"))
        .agg(count("order_id").alias("order_count"))
    )

    def orders_and_dlq(micro_batch_df, batch_id):
        from delta import DeltaTable

        valid = micro_batch_df.filter(col("order_id").isNotNull())
        invalid = (
            micro_batch_df.filter(col("order_id").isNull())
            .withColumn("failure_reason", lit("null order_id"))
            .withColumn("batch_id", lit(batch_id))
        )
        target_path = out("orders")
        if DeltaTable.isDeltaTable(spark, target_path):
            target = DeltaTable.forPath(spark, target_path)
            target.alias("t").merge(
                valid.alias("s"), "t.order_id = s.order_id AND t.event_time = s.event_time"
            ).whenNotMatchedInsertAll().execute()
        else:
            valid.write.format("delta").save(target_path)
        invalid.write.format("delta").mode("append").save(out("dlq"))

    started = time.monotonic()
    queries = [
        aggregated.writeStream.format("delta")
        .outputMode("append")
        .trigger(availableNow=True)
        .option("checkpointLocation", checkpoints("order_aggregates"))
        .start(out("order_aggregates")),
        parsed.writeStream.foreachBatch(orders_and_dlq)
        .trigger(availableNow=True)
        .option("checkpointLocation", checkpoints("orders"))
        .start(),
    ]
    for query in queries:
        query.awaitTermination()
    print(f"spark: {time.monotonic() - started:.2f} s", flush=True)
    spark.stop()


if __name__ == "__main__":
    main()
