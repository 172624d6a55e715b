//! [`GroupHandle`]: the consumer-group member a task's Kafka sources commit
//! their offsets through.
//!
//! The handle is passed to the task's build function by
//! [`PartitionTasks`](super::PartitionTasks) and put into the task's
//! [`KafkaSourceConfig`](crate::KafkaSourceConfig) with
//! [`in_group`](crate::KafkaSourceConfig::in_group), so that a source reaches
//! exactly the member of the tasks it belongs to: two groups, or two jobs with
//! the same group id, in one process never see each other's member.

use std::sync::Arc;

use rdkafka::error::KafkaResult;

use super::member::GroupMember;

/// A shared reference to this process's member of one consumer group. Equal
/// handles refer to the same member.
#[derive(Clone)]
pub struct GroupHandle(Arc<GroupMember>);

impl GroupHandle {
    pub(crate) fn new(member: Arc<GroupMember>) -> Self {
        GroupHandle(member)
    }

    /// The consumer group's id.
    pub fn group_id(&self) -> &str {
        self.0.group()
    }

    /// Commits `offset` of `topic`/`partition` to the group through the member
    /// (the broker refuses commits of a non-member to a group with members).
    pub(crate) fn commit(&self, topic: &str, partition: i32, offset: i64) -> KafkaResult<()> {
        self.0.commit(topic, partition, offset)
    }
}

impl PartialEq for GroupHandle {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for GroupHandle {}

impl std::fmt::Debug for GroupHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("GroupHandle").field(&self.group_id()).finish()
    }
}
