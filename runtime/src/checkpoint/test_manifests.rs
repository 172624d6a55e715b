//! Manifests for the checkpoint stores' tests.

use crate::checkpoint::{LineageId, Manifest, ShardCheckpoint};
use crate::counters::ShardCounts;
use crate::time::Epoch;

/// A small manifest of `epoch`.
pub(crate) fn manifest(epoch: u64) -> Manifest {
    manifest_with(epoch, vec![0, 159, 255])
}

/// A manifest of `epoch` whose one shard holds `state`.
pub(crate) fn manifest_with(epoch: u64, state: Vec<u8>) -> Manifest {
    Manifest {
        job: "j".into(),
        lineage: "0123456789abcdef0123456789abcdef".parse::<LineageId>().unwrap(),
        routing: 1,
        epoch: Epoch::new(epoch),
        finished: false,
        created_at: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        shards: vec![ShardCheckpoint { node: "n".into(), shard: 0, shards: 1, state, counts: ShardCounts::default() }],
    }
}
