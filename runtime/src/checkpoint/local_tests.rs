use super::*;
use crate::checkpoint::test_manifests::{self, manifest, manifest_with};

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str().map(str::to_string))
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[tokio::test]
async fn saves_reads_the_newest_and_prunes() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalCheckpointStore::new(dir.path().join("chk"));
    test_manifests::saves_reads_the_newest_and_prunes(&store).await;
    assert!(leftovers(store.dir()).is_empty(), "no temporary files left");
}

#[tokio::test]
async fn a_corrupt_newest_manifest_is_an_error_naming_the_file_not_a_silent_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalCheckpointStore::new(dir.path());
    store.save(&manifest(1)).await.unwrap();
    std::fs::write(dir.path().join(LocalCheckpointStore::file_name(2)), b"{not json").unwrap();
    let err = store.latest().await.unwrap_err();
    assert!(matches!(err, CheckpointError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("epoch-00000000000000000002.ckpt"), "{err}");
    // It is still listed, so that no later epoch reuses its number.
    assert_eq!(store.epochs().await.unwrap(), vec![Epoch::new(1), Epoch::new(2)]);
}

#[tokio::test]
async fn an_epoch_is_written_once_so_a_second_writer_is_fenced() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalCheckpointStore::new(dir.path());
    store.save(&manifest(4)).await.unwrap();
    let other = LocalCheckpointStore::new(dir.path());
    let err = other.save(&manifest(4)).await.expect_err("epoch 4 exists");
    assert!(matches!(err, CheckpointError::Fenced { .. }), "{err}");
    assert!(!err.is_transient());
    assert_eq!(store.latest().await.unwrap().map(|m| m.epoch.get()), Some(4));
    other.save(&manifest(5)).await.expect("a new epoch is fine");
    assert!(leftovers(dir.path()).is_empty(), "no temporary files left");
}

/// A writer that stalled between its checks and the link (a process frozen
/// there) while another owner took the job over, fenced the writer's epoch and
/// has pruned it since: the file name is free again, but newer epochs stand above
/// it. The publication is undone and refused, as if the fence were still there.
#[tokio::test]
async fn an_epoch_below_another_owners_epochs_is_fenced_even_after_they_pruned_it() {
    let dir = tempfile::tempdir().unwrap();
    let zombie = LocalCheckpointStore::new(dir.path());
    zombie.save(&manifest(2)).await.unwrap();
    // The new owner resumes 2, fences 3 and goes on; here 3 is removed as its
    // pruning removes it, while 2 is kept as if the zombie had checked it before.
    let owner = LocalCheckpointStore::new(dir.path());
    owner.latest().await.unwrap();
    for e in 3..=6 {
        owner.save(&manifest(e)).await.unwrap();
    }
    std::fs::remove_file(owner.file_of(Epoch::new(3))).unwrap();
    let err = zombie.save(&manifest(3)).await.expect_err("epochs 4 to 6 stand above 3");
    assert!(matches!(err, CheckpointError::Fenced { .. }), "{err}");
    assert_eq!(owner.epochs_blocking().unwrap(), vec![2, 4, 5, 6], "the refused epoch is not left published");
    assert!(leftovers(dir.path()).is_empty(), "no temporary files left");
}

/// Two writers publishing the same epoch at the same moment, many times: exactly
/// one wins each round, and the published file is exactly the winner's bytes (with
/// one shared temporary file name, the loser could truncate or interleave them).
#[test]
fn racing_writers_of_one_epoch_never_publish_a_mixed_file() {
    let dir = tempfile::tempdir().unwrap();
    for round in 1..=200u64 {
        // Large, distinct states, so that interleaved or truncated writes would show.
        let a = manifest_with(round, vec![0xAA; 256 * 1024]);
        let b = manifest_with(round, vec![0xBB; 300 * 1024]);
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
        let writers: Vec<_> = [a.clone(), b.clone()]
            .into_iter()
            .map(|m| {
                let store = LocalCheckpointStore::new(dir.path());
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    let bytes = file_format::encode(&m).unwrap();
                    barrier.wait();
                    store.save_blocking(m.epoch.get(), &bytes)
                })
            })
            .collect();
        let results: Vec<_> = writers.into_iter().map(|w| w.join().unwrap()).collect();
        let won: Vec<usize> = results.iter().enumerate().filter(|(_, r)| r.is_ok()).map(|(i, _)| i).collect();
        assert_eq!(won.len(), 1, "round {round}: exactly one writer publishes: {results:?}");
        let lost = &results[1 - won[0]];
        assert!(matches!(lost, Err(CheckpointError::Fenced { .. })), "round {round}: {lost:?}");
        let published = LocalCheckpointStore::new(dir.path()).load_blocking(round).unwrap();
        let winner = if won[0] == 0 { &a } else { &b };
        assert_eq!(&published, winner, "round {round}: the published file is the winner's, whole");
    }
    assert!(leftovers(dir.path()).is_empty(), "no temporary files left");
}

#[tokio::test]
async fn a_folder_deleted_under_a_running_job_refuses_the_next_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let chk = dir.path().join("chk");
    let store = LocalCheckpointStore::new(&chk);
    store.save(&manifest(1)).await.unwrap();
    std::fs::remove_dir_all(&chk).unwrap();
    let err = store.save(&manifest(2)).await.unwrap_err();
    assert!(matches!(err, CheckpointError::Lost { .. }), "{err}");
    assert!(!chk.exists(), "the folder is not silently created again");
    // Deleted and created again empty (replaced): refused as well.
    std::fs::create_dir_all(&chk).unwrap();
    let err = store.save(&manifest(2)).await.unwrap_err();
    assert!(err.to_string().contains("deleted or replaced"), "{err}");
    // A handle that resumed epoch 1 of a folder is bound to it the same way.
    let other = dir.path().join("other");
    let writer = LocalCheckpointStore::new(&other);
    writer.save(&manifest(1)).await.unwrap();
    let resumed = LocalCheckpointStore::new(&other);
    resumed.latest().await.unwrap();
    std::fs::remove_file(resumed.file_of(Epoch::new(1))).unwrap();
    assert!(matches!(resumed.save(&manifest(2)).await, Err(CheckpointError::Lost { .. })));
}
