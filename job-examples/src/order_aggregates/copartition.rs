//! [`KeyedByUser`]: in group mode, proves record by record that the topic is keyed
//! by `user_id`, so that a task per partition holds whole windows.
//!
//! A task sees one partition. If the producer keyed orders by anything else (the
//! the reference job's producer keys by `order_id`), one user's orders are spread over several
//! tasks, and each would write its own partial count of the user's windows: wrong
//! results, silently. This check turns that into a loud failure of the task, with
//! the fix in the message. It costs one JSON scan per record (the producer's own
//! [`record_key`]), in group mode only.

use tidemill_kafka::KafkaRecord;
use tidemill_runtime::{Batch, Operator, OperatorError, Output};

use crate::producer::{record_key, KeyField};

/// A record's Kafka key is not its `user_id`: the topic is not co-partitioned by
/// user, and the tasks would each count part of a user's windows.
#[derive(Debug, thiserror::Error)]
#[error(
    "the topic is not keyed by user_id (partition {partition}, offset {offset}: key {key:?}, user_id {user:?}); \
     --group runs one task per partition and needs one user's orders in one partition: \
     produce with `order-producer --key user-id`, add --repartition (a repartition topic re-keys by user_id), \
     or run without --group"
)]
pub struct NotKeyedByUser {
    /// The record's partition.
    pub partition: u32,
    /// The record's offset.
    pub offset: u64,
    /// Its Kafka key (lossy UTF-8), if any.
    pub key: Option<String>,
    /// Its `user_id`.
    pub user: String,
}

/// Passes records on unchanged; fails on the first well-formed order whose Kafka
/// key is not its `user_id`. Records that are not JSON objects with a string
/// `user_id` pass (decode sends them to the dead-letter queue): their partition
/// does not matter.
#[derive(Debug, Default)]
pub struct KeyedByUser;

impl Operator for KeyedByUser {
    type In = KafkaRecord;
    type Out = KafkaRecord;

    fn process(&mut self, batch: Batch<KafkaRecord>, out: &mut Output<KafkaRecord>) -> Result<(), OperatorError> {
        for record in &batch {
            // The same reading of the field as `order-producer --key user-id`.
            let Some(user) = record_key(&record.value.payload, KeyField::UserId) else { continue };
            if record.value.key.as_deref() != Some(user.as_bytes()) {
                let key = record.value.key.as_deref().map(|k| String::from_utf8_lossy(k).into_owned());
                return Err(OperatorError::failed(NotKeyedByUser {
                    partition: record.origin.partition.0,
                    offset: record.origin.offset.0,
                    key,
                    user: user.to_string(),
                }));
            }
        }
        out.emit_all(batch);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidemill_runtime::{ErrorChain, OperatorHarness};

    fn record(key: Option<&str>, payload: &str) -> KafkaRecord {
        KafkaRecord {
            key: key.map(|k| k.as_bytes().to_vec()),
            payload: payload.as_bytes().to_vec(),
            headers: Vec::new(),
            timestamp: None,
        }
    }

    #[test]
    fn records_keyed_by_user_pass_and_others_fail_the_task() {
        let mut h = OperatorHarness::new(KeyedByUser);
        let good = [
            record(Some("u-1"), r#"{"order_id":"o-1","user_id":"u-1"}"#),
            record(None, "not json"),
            record(Some("o-9"), r#"{"order_id":"o-9","user_id":17}"#),
        ];
        h.push_values(good.clone()).unwrap();
        assert_eq!(h.take_values().len(), 3, "well-keyed and malformed records pass");
        let err = h.push_values([record(Some("o-2"), r#"{"order_id":"o-2","user_id":"u-2"}"#)]).unwrap_err();
        assert!(ErrorChain(&err).to_string().contains("--key user-id"), "{err}");
        let err = h.push_values([record(None, r#"{"user_id":"u-3"}"#)]).unwrap_err();
        assert!(ErrorChain(&err).to_string().contains("not keyed by user_id"), "{err}");
    }
}
