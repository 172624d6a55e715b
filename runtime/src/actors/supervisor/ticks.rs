//! When checkpoints are triggered: on the multiples of the interval since the
//! Unix epoch, not `interval` after each job started.
//!
//! Jobs that run side by side, the partition tasks of one process, or the
//! processes of a group, then take their checkpoints together, and their sinks
//! commit within moments of each other. A Delta table's committer gathers those
//! commits into one table version instead of one per task.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ractor::ActorRef;

use crate::actors::messages::SupervisorMsg;

/// Sends `TriggerCheckpoint` to `supervisor` at every multiple of `every` on the
/// wall clock, until the supervisor is gone. A tick missed (a suspended process)
/// is skipped, not made up.
pub(super) fn start(supervisor: ActorRef<SupervisorMsg>, every: Duration) {
    let first = tokio::time::Instant::now() + until_next_multiple(SystemTime::now(), every);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(first, every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            ticks.tick().await;
            if supervisor.cast(SupervisorMsg::TriggerCheckpoint).is_err() {
                return;
            }
        }
    });
}

/// The time from `now` to the next multiple of `every` since the Unix epoch.
fn until_next_multiple(now: SystemTime, every: Duration) -> Duration {
    let every_ns = every.as_nanos().max(1);
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
    let wait = every_ns - since_epoch % every_ns;
    Duration::from_nanos(u64::try_from(wait).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_tick_is_the_next_multiple_of_the_interval() {
        let at = |ms| UNIX_EPOCH + Duration::from_millis(ms);
        let second = Duration::from_secs(1);
        assert_eq!(until_next_multiple(at(10_250), second), Duration::from_millis(750));
        assert_eq!(until_next_multiple(at(10_000), second), second, "on a tick: the next one");
        assert_eq!(until_next_multiple(at(29_999), Duration::from_secs(30)), Duration::from_millis(1));
    }
}
