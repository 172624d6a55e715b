//! The object-store checkpoint store against the real S3-compatible server
//! (`scripts/s3 start`): the same contract the local store keeps.

use super::*;
use crate::checkpoint::test_manifests::manifest;
use tidemill_testkit::s3::S3Store;

/// A store under a prefix no other test run uses.
fn fresh_store() -> (ObjectCheckpointStore, String) {
    let s3 = S3Store::get();
    let url = s3.url(&format!("checkpoint-tests/{}", uuid::Uuid::new_v4().simple()));
    (ObjectCheckpointStore::from_url_with(&url, s3.options()).expect("configure the store"), url)
}

/// A second handle on the same prefix: another owner of the job.
fn other_handle(url: &str) -> ObjectCheckpointStore {
    ObjectCheckpointStore::from_url_with(url, S3Store::get().options()).expect("configure the store")
}

#[tokio::test]
async fn saves_reads_the_newest_and_prunes_on_s3() {
    let (store, url) = fresh_store();
    crate::checkpoint::test_manifests::saves_reads_the_newest_and_prunes(&store).await;
    // A nested prefix's manifests are not this store's.
    other_handle(&format!("{url}/p1")).save(&manifest(99)).await.unwrap();
    assert_eq!(store.epochs().await.unwrap(), vec![Epoch::new(2), Epoch::new(10)]);
}

#[tokio::test]
async fn of_two_writers_of_one_epoch_exactly_one_wins() {
    let (store, url) = fresh_store();
    let other = other_handle(&url);
    let (a, b) = (manifest(5), crate::checkpoint::test_manifests::manifest_with(5, vec![7; 64]));
    let (first, second) = tokio::join!(store.save(&a), other.save(&b));
    let fenced = [&first, &second].iter().filter(|r| matches!(r, Err(CheckpointError::Fenced { .. }))).count();
    assert_eq!((first.is_ok() as usize + second.is_ok() as usize, fenced), (1, 1), "{first:?} {second:?}");
    let stored = store.load(Epoch::new(5)).await.unwrap();
    assert_eq!(stored, if first.is_ok() { a } else { b }, "the winner's manifest, whole");
}

#[tokio::test]
async fn a_stalled_writer_below_the_newest_epoch_is_fenced_and_withdrawn() {
    let (store, url) = fresh_store();
    let new_owner = other_handle(&url);
    for e in [7, 8] {
        new_owner.save(&manifest(e)).await.unwrap();
    }
    let err = store.save(&manifest(6)).await.unwrap_err();
    assert!(matches!(err, CheckpointError::Fenced { .. }), "{err}");
    assert_eq!(store.epochs().await.unwrap(), vec![Epoch::new(7), Epoch::new(8)], "epoch 6 withdrawn");
}

#[tokio::test]
async fn a_store_whose_anchor_vanished_refuses_to_write_on() {
    let (store, url) = fresh_store();
    store.save(&manifest(1)).await.unwrap();
    let other = other_handle(&url);
    other.save(&manifest(2)).await.unwrap();
    other.prune(1).await.unwrap();
    let err = store.save(&manifest(3)).await.unwrap_err();
    assert!(matches!(err, CheckpointError::Lost { .. }), "{err}");
}

#[tokio::test]
async fn an_unreachable_store_is_a_transient_error_naming_the_url() {
    let url = S3Store::get().url("checkpoint-tests/unreachable");
    // A port nothing listens on; no retries, so the test is quick.
    let unreachable = object_store::aws::AmazonS3Builder::from_env()
        .with_url(&url)
        .with_endpoint("http://127.0.0.1:9")
        .with_allow_http(true)
        .with_retry(object_store::RetryConfig { max_retries: 0, ..Default::default() })
        .build()
        .unwrap();
    let store = ObjectCheckpointStore::new(Arc::new(unreachable), "checkpoint-tests/unreachable", url.clone());
    let err = store.epochs().await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(err.to_string().contains(&url), "{err}");
}
