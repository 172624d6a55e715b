//! One committer per Delta table per process: the epochs of every sink writing
//! a table from this process (sink shards, and in group mode the partition tasks)
//! go into the table's log together, as one version.
//!
//! Why: every Delta commit is a race for the next `_delta_log/<version>.json`.
//! When each of 16 partition tasks of 3 processes committed each of the 3 tables
//! on its own, every checkpoint made 16 x 3 x 3 writers race for the same
//! versions; each loser re-reads the log and tries again, so the total work grew
//! with the square of the writers (the retry limit had to go to 500). Checkpoint
//! ticks are aligned to the wall clock (see the supervisor), so the tasks of a
//! process finish their checkpoints within moments of each other. Sinks register
//! with the committer of their table when they open; after the first epoch
//! arrives the committer waits until every registered sink has handed one in (at
//! most [`MAX_LINGER`]), then commits them as one version carrying every sink's
//! `txn` actions. Epochs that arrive while that commit is in flight go into the
//! next one. What races for versions is one committer per process.
//!
//! Exactly-once is unchanged: each sink's epoch is skipped when the table
//! already records its `txn`; a version holds all of its epochs or none.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use dashmap::DashMap;
use deltalake::kernel::Add;
use deltalake::DeltaTable;
use tokio::sync::{mpsc, oneshot};

use super::error::DeltaSinkError;
use super::identity::SinkIdentity;
use super::table::{self, CommitOutcome};

/// How long the committer waits at most after the first epoch of a version for
/// the other registered sinks of the process to hand theirs in (a sink with
/// nothing to commit in an interval hands in nothing). A job with one sink per
/// table never waits.
const MAX_LINGER: Duration = Duration::from_millis(250);
/// Most sink epochs in one version.
const MAX_APPENDS: usize = 256;
/// The tag on each data file's add action naming the sink (its `txn` app id)
/// that wrote it.
pub(crate) const APP_ID_TAG: &str = "tidemill.appId";

/// One sink epoch to commit.
pub(crate) struct Append {
    pub adds: Vec<Add>,
    pub identity: SinkIdentity,
    pub txn_version: i64,
}

struct Request {
    append: Append,
    reply: oneshot::Sender<Result<CommitOutcome, Arc<DeltaSinkError>>>,
}

/// The committer of one table in this process.
#[derive(Clone)]
struct Committer {
    queue: mpsc::UnboundedSender<Request>,
    /// Sinks of the process writing the table (see [`register`]).
    sinks: Arc<AtomicUsize>,
}

/// The committers of this process, by table location.
static COMMITTERS: LazyLock<DashMap<String, Committer>> = LazyLock::new(DashMap::new);

/// A sink's registration with its table's committer; dropping it (the sink)
/// deregisters.
#[derive(Debug)]
pub(crate) struct Registration {
    sinks: Arc<AtomicUsize>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.sinks.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Registers a sink of the table at `location` (opened as `table`), so that the
/// committer waits for its epochs to commit them with the others'.
pub(crate) fn register(location: &str, table: &DeltaTable) -> Registration {
    let sinks = committer_for(location, table).sinks;
    sinks.fetch_add(1, Ordering::Relaxed);
    Registration { sinks }
}

/// The table's committer, started (with a handle cloned from `table`) on first
/// use, and again when the runtime it ran on has gone: a committer whose runtime
/// shut down (a test's, a finished job's) has closed its queue.
fn committer_for(location: &str, table: &DeltaTable) -> Committer {
    COMMITTERS
        .entry(location.to_string())
        .and_modify(|c| {
            if c.queue.is_closed() {
                c.queue = start(table.clone(), c.sinks.clone());
            }
        })
        .or_insert_with(|| {
            let sinks = Arc::new(AtomicUsize::new(0));
            Committer { queue: start(table.clone(), sinks.clone()), sinks }
        })
        .clone()
}

/// Commits `append` to the table at `location` through the process's committer
/// of that table.
pub(crate) async fn commit(
    location: &str,
    table: &DeltaTable,
    append: Append,
) -> Result<CommitOutcome, Arc<DeltaSinkError>> {
    let (reply, answer) = oneshot::channel();
    let mut request = Request { append, reply };
    // A committer that stops between the lookup and the send is replaced.
    for _ in 0..2 {
        match committer_for(location, table).queue.send(request) {
            Ok(()) => break,
            Err(mpsc::error::SendError(back)) => request = back,
        }
    }
    answer.await.map_err(|_| Arc::new(DeltaSinkError::CommitterStopped))?
}

fn start(table: DeltaTable, sinks: Arc<AtomicUsize>) -> mpsc::UnboundedSender<Request> {
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(run(table, receiver, sinks));
    sender
}

async fn run(mut table: DeltaTable, mut queue: mpsc::UnboundedReceiver<Request>, sinks: Arc<AtomicUsize>) {
    let mut carried: VecDeque<Request> = VecDeque::new();
    loop {
        let first = match carried.pop_front() {
            Some(request) => request,
            None => match queue.recv().await {
                Some(request) => request,
                None => return,
            },
        };
        let mut batch = vec![first];
        let linger = tokio::time::sleep(MAX_LINGER);
        tokio::pin!(linger);
        while batch.len() < MAX_APPENDS.min(sinks.load(Ordering::Relaxed)) {
            if let Some(request) = carried.pop_front() {
                batch.push(request);
                continue;
            }
            tokio::select! {
                request = queue.recv() => match request {
                    Some(request) => batch.push(request),
                    None => break,
                },
                () = &mut linger => break,
            }
        }
        // One `txn` per app id per version: a second epoch of the same sink (a
        // restarted pipeline's, while the old one's is queued) waits for the next.
        let mut app_ids = HashSet::new();
        let (now, later): (Vec<_>, Vec<_>) =
            batch.into_iter().partition(|r| app_ids.insert(r.append.identity.app_id.clone()));
        carried.extend(later);
        commit_batch(&mut table, now).await;
    }
}

/// Commits the epochs of `batch` not committed yet as one version and answers
/// every request.
async fn commit_batch(table: &mut DeltaTable, batch: Vec<Request>) {
    if let Err(e) = table.update_state().await {
        let e = Arc::new(DeltaSinkError::ReadLog(e));
        batch.into_iter().for_each(|r| drop(r.reply.send(Err(e.clone()))));
        return;
    }
    let mut pending = Vec::with_capacity(batch.len());
    for request in batch {
        match check(table, &request.append).await {
            Ok(None) => pending.push(request),
            Ok(Some(outcome)) => drop(request.reply.send(Ok(outcome))),
            Err(e) => drop(request.reply.send(Err(Arc::new(e)))),
        }
    }
    if pending.is_empty() {
        return;
    }
    let appends = pending.len();
    let mut adds = Vec::new();
    let mut txns = Vec::with_capacity(2 * appends);
    for request in &mut pending {
        // Whose file is whose in a shared version: a sink that later undoes its
        // epochs (see rollback.rs) removes its own files only.
        for add in &mut request.append.adds {
            let tags = add.tags.get_or_insert_with(Default::default);
            tags.insert(APP_ID_TAG.to_string(), Some(request.append.identity.app_id.clone()));
        }
        adds.append(&mut request.append.adds);
        txns.extend(table::epoch_transactions(&request.append.identity, request.append.txn_version));
    }
    let result = table::commit_blind_append(table, adds, txns)
        .await
        .map(|(version, retries)| CommitOutcome::Committed { version, retries, appends })
        .map_err(Arc::new);
    for request in pending {
        drop(request.reply.send(result.clone()));
    }
}

/// `Some` when the epoch is in the table already; `Err` when a staged file is gone.
async fn check(table: &DeltaTable, append: &Append) -> Result<Option<CommitOutcome>, DeltaSinkError> {
    let snapshot = table.snapshot().map_err(DeltaSinkError::ReadLog)?;
    let done = snapshot
        .transaction_version(table.log_store().as_ref(), &append.identity.app_id)
        .await
        .map_err(DeltaSinkError::ReadLog)?;
    if let Some(done) = done.filter(|done| *done >= append.txn_version) {
        return Ok(Some(CommitOutcome::AlreadyCommitted { txn_version: done }));
    }
    table::check_staged_files(table, &append.adds).await?;
    Ok(None)
}
