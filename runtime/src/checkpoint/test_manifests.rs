//! Manifests for the checkpoint stores' tests, and the part of the store
//! contract every store's tests check the same way.

use crate::checkpoint::{CheckpointStore, LineageId, Manifest, ShardCheckpoint};
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

/// An empty `store` saves epochs 1, 2 and 10, reads the newest and any other back
/// as saved, and keeps the newest two when pruned.
pub(crate) async fn saves_reads_the_newest_and_prunes(store: &dyn CheckpointStore) {
    assert_eq!(store.latest().await.unwrap(), None);
    for e in [1, 2, 10] {
        store.save(&manifest(e)).await.unwrap();
    }
    assert_eq!(store.latest().await.unwrap(), Some(manifest(10)));
    assert_eq!(store.load(Epoch::new(2)).await.unwrap(), manifest(2));
    store.prune(2).await.unwrap();
    assert_eq!(store.epochs().await.unwrap(), vec![Epoch::new(2), Epoch::new(10)]);
}
