//! Scale-out through the consumer group (`order-aggregates --group`): processes
//! join and die while the job runs, partitions move between them with their
//! state, and the Delta tables still equal the batch oracle exactly.
//!
//! 1. Process A joins alone and owns all 6 partitions.
//! 2. Process B joins: cooperative rebalancing moves some partitions from A to B.
//!    A suspends those tasks (checkpoint and commit, windows kept open) before the
//!    partitions move, and B resumes them from A's checkpoints.
//! 3. B is killed with SIGKILL once it has checkpointed its own progress; after
//!    the session timeout the group gives B's partitions to the live members,
//!    which resume them from B's checkpoints and replay the rest.
//!    Process C joins right after the kill; B's partitions go to A or C.
//! 4. A and C finish (bounded); a process whose tasks are done leaves once the
//!    group is quiet.
//!
//! Needs the broker `scripts/kafka start` runs (or `KAFKA_BOOTSTRAP_SERVERS`).

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use tidemill_testkit::kafka::{brokers, TopicGuard};
use tidemill_testkit::metrics::{free_local_addr, http_get, poll_until, scrape_until};
use tidemill_tests::binary::{order_aggregates, order_producer};
use tidemill_tests::group::{generator, partition_list, produce, Group, PARTITIONS, WAIT};

#[test]
fn partitions_move_between_processes_with_their_state_and_results_equal_the_oracle() {
    let dir = tempfile::tempdir().unwrap();
    let guard = TopicGuard::unique("orders-group");
    let topic = guard.name.clone();
    let config = generator(91, 60_000);
    produce(&topic, &config);
    let (output, checkpoints) = (dir.path().join("out"), dir.path().join("checkpoints"));
    let group = Group {
        topic: &topic,
        output: &output,
        checkpoints: &checkpoints,
        session_timeout: "6s",
        log: Group::GROUP_LOG,
    };

    let started = std::time::Instant::now();
    let a_metrics = free_local_addr();
    let mut a = group.member("A", Some(a_metrics));
    let first = a.await_partitions("partitions assigned");
    assert_eq!(first.len(), PARTITIONS as usize, "A alone owns every partition: {first:?}");
    poll_until(WAIT, || match (0..PARTITIONS as i32).all(|p| group.task_epoch(p) > 0) {
        true => Ok(()),
        false => Err("A has not checkpointed every partition yet".into()),
    })
    .unwrap();
    // One endpoint for the process: a lag series per partition, each labelled with
    // the task (job) that reads it.
    scrape_until(a_metrics, WAIT, |s| {
        let tasks = s.sum_by("tidemill_source_lag", "tidemill_job", &[("messaging_destination_name", &topic)]);
        let want: BTreeSet<String> = (0..PARTITIONS).map(|p| format!("order-aggregates.p{p}")).collect();
        let got: BTreeSet<String> = tasks.into_keys().collect();
        (got == want).then_some(()).ok_or_else(|| format!("lag series of tasks {got:?}"))
    })
    .unwrap();
    assert_eq!(http_get(a_metrics, "/readyz").map(|r| r.0).ok(), Some(200), "every task of A is running");

    // B joins: the group hands some partitions from A to B.
    let mut b = group.member("B", None);
    let moved = b.await_partitions("partitions assigned");
    let revoked = a.await_partitions("partitions revoked");
    assert!(moved.is_subset(&revoked), "B got only partitions A gave up: moved {moved:?}, revoked {revoked:?}");
    // B checkpoints its own progress on them before it dies.
    group.await_new_checkpoints(&moved, "B");
    eprintln!("{:?}: B checkpointed {moved:?}; SIGKILL", started.elapsed());
    b.kill();

    // C joins at once. After the session timeout the group gives B's partitions
    // to the live members, A or C, which resume them from B's checkpoints.
    let mut c = group.member("C", None);
    a.wait_success();
    c.wait_success();
    eprintln!("{:?}: A and C finished", started.elapsed());
    let a_later: BTreeSet<i32> = a
        .lines()
        .iter()
        .filter(|l| l.contains("partitions assigned"))
        .skip(1)
        .flat_map(|l| partition_list(l))
        .collect();
    let c_got = c.partitions("partitions assigned");
    let resumed: BTreeSet<i32> = a_later.union(&c_got).copied().collect();
    assert!(moved.is_subset(&resumed), "B's partitions {moved:?} went to A ({a_later:?}) or C ({c_got:?})");

    group.assert_tables_equal_the_oracle(&config);
}

/// A topic keyed by `order_id` (the reference job's producer) would split one user's
/// windows over several tasks: group mode refuses it loudly instead of writing
/// partial counts.
#[test]
fn group_mode_on_a_topic_not_keyed_by_user_fails_with_the_fix_in_the_message() {
    let dir = tempfile::tempdir().unwrap();
    let guard = TopicGuard::unique("orders-group-by-order");
    let status = Command::new(order_producer())
        .args(["--brokers", &brokers(), "--topic", &guard.name, "--create-partitions", "2", "--generate", "2000"])
        .stdout(Stdio::null())
        .status()
        .expect("run order-producer");
    assert!(status.success());
    let out = Command::new(order_aggregates())
        .args(["--brokers", &brokers(), "--topic", &guard.name, "--group", "--group-id", &guard.name, "--bounded"])
        .args(["--session-timeout", "6s", "--metrics-addr", "off", "--log", "error"])
        .arg("--output")
        .arg(dir.path().join("out"))
        .arg("--checkpoint-dir")
        .arg(dir.path().join("checkpoints"))
        .output()
        .expect("run order-aggregates");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a topic keyed by order_id was accepted in group mode: {stderr}");
    assert!(stderr.contains("not keyed by user_id") && stderr.contains("--key user-id"), "{stderr}");
}

/// SIGTERM on a group member: its tasks are suspended (checkpoint, commit, open
/// windows kept) and it leaves the group at once, so its partitions move to the
/// other member long before the session timeout (20 s here) would move them.
#[test]
fn a_member_stopped_with_sigterm_hands_its_partitions_over_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let guard = TopicGuard::unique("orders-group-leave");
    let topic = guard.name.clone();
    // 20,000 records per partition: at most 500 per 300 ms checkpoint, A needs
    // at least 12 s for them, so B's partitions still have work when B joins and
    // when it is stopped (with 5,000 A could finish them during the join, and
    // B's tasks ended as finished instead of suspended).
    let config = generator(91, 120_000);
    produce(&topic, &config);
    let (output, checkpoints) = (dir.path().join("out"), dir.path().join("checkpoints"));
    let group = Group {
        topic: &topic,
        output: &output,
        checkpoints: &checkpoints,
        session_timeout: "20s",
        log: Group::GROUP_LOG,
    };

    let mut a = group.member("A", None);
    a.await_partitions("partitions assigned");
    let mut b = group.member("B", None);
    let moved = b.await_partitions("partitions assigned");
    group.await_new_checkpoints(&moved, "B");

    let stopped = std::time::Instant::now();
    b.signal("TERM");
    b.wait_success();
    assert!(b.lines().iter().any(|l| l.contains("task suspended and committed")), "B suspended its tasks");
    // A gets them back well before the 20 s session timeout: B left the group.
    poll_until(Duration::from_secs(10), || {
        let back: BTreeSet<i32> = a
            .lines()
            .iter()
            .filter(|l| l.contains("partitions assigned"))
            .skip(1)
            .flat_map(|l| partition_list(l))
            .collect();
        moved.is_subset(&back).then_some(()).ok_or_else(|| format!("A got back only {back:?} of {moved:?}"))
    })
    .unwrap();
    eprintln!("B's partitions {moved:?} back at A {:?} after SIGTERM", stopped.elapsed());
    a.wait_success();

    group.assert_tables_equal_the_oracle(&config);
}
