//! Members of a consumer group that come and go: killed with SIGKILL at random
//! moments and started again, one more joining and later leaving with SIGTERM.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use tidemill_testkit::process::LoggedChild;

use crate::group::WAIT;

/// The working folders of the members, one per node (`node-<i>`), each empty
/// at first and holding nothing shared.
pub struct NodeFolders(tempfile::TempDir);

impl NodeFolders {
    /// A new root.
    pub fn new() -> Self {
        NodeFolders(tempfile::tempdir().expect("temporary folder"))
    }

    /// Node `i`'s folder, created if missing.
    pub fn node(&self, i: usize) -> PathBuf {
        let path = self.0.path().join(format!("node-{i}"));
        std::fs::create_dir_all(&path).expect("node folder");
        path
    }

    /// Fails if node `0..nodes` wrote anything into its folder.
    pub fn assert_empty(&self, nodes: usize) {
        for i in 0..nodes {
            let left: Vec<_> = std::fs::read_dir(self.node(i)).unwrap().flatten().map(|e| e.file_name()).collect();
            assert!(left.is_empty(), "node-{i} wrote nothing locally: {left:?}");
        }
    }
}

impl Default for NodeFolders {
    fn default() -> Self {
        Self::new()
    }
}

/// Starts three members (`start(name, folder)`), then `kills` times waits a
/// random 0.8 to 2.5 s (the moment is the test's random variable, not a
/// synchronisation) and kills member `kill % 3` with SIGKILL, starting it again
/// at once in the same folder. After a third of the kills a fourth member joins;
/// after two thirds it leaves with SIGTERM and must exit 0. Returns the members
/// still running; fails unless most kills hit a running member.
pub fn churn(
    folders: &NodeFolders,
    kills: usize,
    seed: u64,
    start: impl Fn(&str, &Path) -> LoggedChild,
) -> Vec<LoggedChild> {
    let mut members: Vec<LoggedChild> = (0..3).map(|i| start(&format!("m{i}"), &folders.node(i))).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut killed_running = 0;
    for kill in 0..kills {
        std::thread::sleep(Duration::from_millis(rng.random_range(800..2500)));
        let victim = kill % 3;
        if members[victim].exited().is_none() {
            killed_running += 1;
        }
        members[victim].kill();
        members[victim] = start(&format!("m{victim}-{kill}"), &folders.node(victim));
        if kill == kills / 3 {
            members.push(start("joiner", &folders.node(3)));
        }
        if kill == 2 * kills / 3 {
            let mut leaver = members.pop().expect("the joiner");
            leaver.signal("TERM");
            assert!(leaver.wait_timeout(WAIT).success(), "a member stopped with SIGTERM exits 0:\n{}", leaver.tail(20));
        }
    }
    assert!(killed_running >= kills / 2, "most kills hit a running member ({killed_running} of {kills})");
    members
}
