//! A group member frozen (SIGSTOP) for longer than the session timeout loses its
//! partitions to another process; resumed (SIGCONT), its commits are refused,
//! and the tables still equal the batch oracle exactly.
//!
//! The sequence:
//! 1. 60,000 generated orders keyed by user in a fresh topic of 6 partitions.
//!    Process A joins the group alone, owns every partition and runs a task per
//!    partition; each checkpoints into `<checkpoints>/p<N>` and commits to the
//!    shared tables (at most 500 records per partition between checkpoints, so
//!    A is mid-run).
//! 2. Once every task of A has a checkpoint, A is frozen with SIGSTOP. Its
//!    newest checkpoint of partition N, epoch E(N), is durable; one more may be
//!    in flight inside A, and it can only be epoch E(N) + 1: a task starts a
//!    checkpoint only after the previous one's manifest is written.
//! 3. Process B joins. A sends no heartbeats, so after the 6 s session timeout
//!    the group gives every partition to B. B's task for partition N resumes
//!    E(N) (committing what A had staged for it, idempotently) and first writes
//!    the *fence*: a manifest of epoch E(N) + 1, the highest epoch in the store
//!    plus one. Then it goes on with E(N) + 2, ...
//! 4. A is resumed with SIGCONT once B has fenced every partition. A's tasks
//!    must not commit anything new, and cannot: a task makes an epoch visible
//!    only after writing its manifest, and a manifest file is written at most
//!    once (published with a hard link that fails if the epoch exists). A's next
//!    manifest is epoch E(N) + 1, which is B's fence. Once B has pruned that
//!    fence, A's save is refused all the same: before writing, because the
//!    epoch A last wrote is gone too (a lost store); or, if A froze in the
//!    middle of the save, after its link, because B's newer epochs stand above
//!    it (fenced). Either way A's task fails with a fatal checkpoint error and
//!    stops. Independently, A's consumer finds its membership expired and
//!    revokes the partitions as *lost*, which aborts the tasks without a
//!    checkpoint. Whichever comes first, at least one of the two is in A's log.
//!    A may then join the group again as a new member and take partitions over
//!    from B the ordinary way (B suspends and commits them, A's new tasks resume
//!    B's checkpoints and fence B): that is a new owner, not a zombie.
//! 5. B (and A, if it rejoined) run to the end; the tables equal the oracle:
//!    every window once with its count, every distinct order, every malformed
//!    record once.
//!
//! Needs the broker `scripts/kafka start` runs (or `KAFKA_BOOTSTRAP_SERVERS`).

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::Utc;
use tidemill_testkit::kafka::TopicGuard;
use tidemill_testkit::metrics::poll_until;
use tidemill_testkit::process::{field, line_time};
use tidemill_tests::group::{generator, partition_list, produce, task_partition, Group, PARTITIONS, WAIT};

/// The group's events, the tasks' checkpoints and commits, and the sinks' Delta
/// commits (with their epochs).
const LOG: &str = "warn,tidemill_kafka::group=info,tidemill_runtime::actors::supervisor=info,\
                   tidemill_delta::delta_append=info";
/// A task's checkpoint file was written.
const SAVED: &str = "checkpoint complete";
/// Lines that report an epoch made visible (or found visible) in the tables.
const COMMITS: [&str; 3] = ["checkpoint committed", "Delta commit", "Delta epoch already committed"];
/// A's checkpoint refused because B wrote the epoch (`CheckpointError::Fenced`).
const FENCED: &str = "already written by another owner";
/// A's checkpoint refused because B pruned the epoch A stood on (`CheckpointError::Lost`).
const STORE_LOST: &str = "the checkpoint store was deleted or replaced";
/// A's task aborted because A's group membership expired.
const ASSIGNMENT_LOST: &str = "task aborted: the partition's assignment was lost";

#[test]
fn a_frozen_member_that_lost_its_partitions_commits_nothing_after_it_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let guard = TopicGuard::unique("orders-fencing");
    let config = generator(93, 60_000);
    produce(&guard.name, &config);
    let (output, checkpoints) = (dir.path().join("out"), dir.path().join("checkpoints"));
    let group =
        Group { topic: &guard.name, output: &output, checkpoints: &checkpoints, session_timeout: "6s", log: LOG };
    let all: Vec<i32> = (0..PARTITIONS as i32).collect();

    let started = Instant::now();
    let mut a = group.member("A", None);
    assert_eq!(a.await_partitions("partitions assigned").len(), all.len(), "A alone owns every partition");
    poll_until(WAIT, || match all.iter().all(|p| group.task_epoch(*p) > 0) {
        true => Ok(()),
        false => Err("A has not checkpointed every partition yet".into()),
    })
    .unwrap();
    a.freeze();
    // A is frozen: these files cannot change until B writes.
    let durable: BTreeMap<i32, u64> = all.iter().map(|p| (*p, group.task_epoch(*p))).collect();
    eprintln!("{:?}: A frozen; its durable epochs {durable:?}", started.elapsed());

    let mut b = group.member("B", None);
    let fences: BTreeMap<i32, u64> = b.await_lines(WAIT, "a fence for every partition", |lines| {
        let fences: BTreeMap<i32, u64> = lines
            .iter()
            .filter(|l| l.contains("fence checkpoint written"))
            .filter_map(|l| Some((task_partition(l)?, field(l, "fence")?.parse().ok()?)))
            .collect();
        (fences.len() == all.len()).then_some(fences)
    });
    let expected: BTreeMap<i32, u64> = durable.iter().map(|(p, e)| (*p, e + 1)).collect();
    assert_eq!(fences, expected, "B resumed A's newest checkpoints and fenced the epoch after each");
    eprintln!("{:?}: B owns every partition and fenced {fences:?}; SIGCONT A", started.elapsed());

    let resumed_at = Utc::now();
    a.signal("CONT");
    // Every task A had is over: A exited, or each was aborted as lost.
    poll_until(WAIT, || {
        let aborted = a.lines_with(ASSIGNMENT_LOST).len();
        match a.exited().is_some() || aborted >= all.len() {
            true => Ok(()),
            false => Err(format!("A's old tasks have not ended: {aborted} aborted, A running")),
        }
    })
    .unwrap_or_else(|e| panic!("{e}; A's log:\n{}", a.tail(60)));

    let lines = a.lines();
    let refused = |what: &str| lines.iter().any(|l| l.contains(what) && line_time(l) >= Some(resumed_at));
    let (fenced, store_lost, lost) = (refused(FENCED), refused(STORE_LOST), refused(ASSIGNMENT_LOST));
    assert!(fenced || store_lost || lost, "A was neither fenced nor did it lose its assignment:\n{}", a.tail(60));
    let zombie = old_task_lines(&lines, resumed_at, &all);
    let violations: Vec<&String> = zombie
        .iter()
        .filter(|(p, l)| {
            let epoch: Option<u64> = field(l, "epoch").and_then(|e| e.parse().ok());
            // Only an epoch that was durable before the freeze (which B resumed and
            // committed too, the same files) may still be reported; nothing newer.
            let reports = l.contains(SAVED) || COMMITS.iter().any(|c| l.contains(c));
            reports && epoch.is_none_or(|e| e > durable[p])
        })
        .map(|(_, l)| *l)
        .collect();
    assert!(violations.is_empty(), "A's old tasks wrote or committed a new epoch after resuming: {violations:#?}");
    eprintln!(
        "{:?}: A after SIGCONT: fenced {fenced}, store lost {store_lost}, assignment lost {lost}; \
         {} lines of its old tasks, none writing or committing a new epoch",
        started.elapsed(),
        zombie.len()
    );

    b.wait_success();
    let a_status = a.wait_timeout(3 * WAIT);
    if !a_status.success() {
        // Only a refused checkpoint may end A with an error.
        let why = a.tail(5);
        assert!(why.contains(FENCED) || why.contains(STORE_LOST), "A failed ({a_status}) otherwise:\n{why}");
    }
    eprintln!("{:?}: B finished; A exited with {a_status}", started.elapsed());

    group.assert_tables_equal_the_oracle(&config);
}

/// A's log lines after `resumed_at` that belong to the tasks it had before it
/// froze, with their partition: for partition N, the lines of task N until A is
/// assigned N again (after it rejoined the group as a new member, a new task).
fn old_task_lines<'a>(lines: &'a [String], resumed_at: chrono::DateTime<Utc>, all: &[i32]) -> Vec<(i32, &'a String)> {
    let after: Vec<&String> = lines.iter().filter(|l| line_time(l) >= Some(resumed_at)).collect();
    let mut out = Vec::new();
    for p in all {
        let reassigned = after
            .iter()
            .position(|l| l.contains("partitions assigned") && partition_list(l).contains(p))
            .unwrap_or(after.len());
        out.extend(after[..reassigned].iter().filter(|l| task_partition(l) == Some(*p)).map(|l| (*p, *l)));
    }
    out
}
