//! The order job across processes that share no disk: each member of the
//! consumer group runs in its own empty working folder, with the Kafka broker and
//! the S3 server as the only shared parts (checkpoints and tables on S3). Members
//! are killed with SIGKILL at random moments and started again, one more member
//! joins mid-run and one leaves with SIGTERM; at the end the tables on S3, read
//! back by both independent readers, equal the batch oracle, and no working
//! folder holds a file.
//!
//! Needs the broker (`scripts/kafka start`) and the S3 server (`scripts/s3 start`).

use std::path::Path;
use std::process::Command;

use tidemill_delta::TableLocation;
use tidemill_testkit::kafka::{brokers, TopicGuard};
use tidemill_testkit::process::LoggedChild;
use tidemill_testkit::s3::S3Store;
use tidemill_tests::binary::order_aggregates;
use tidemill_tests::churn::{churn, NodeFolders};
use tidemill_tests::group::{assert_members_wrote_the_oracle, generator, produce_into, Group, WAIT};

const PARTITIONS: u32 = 12;
const EVENTS: u64 = 200_000;
const KILLS: usize = 12;

struct Cluster {
    topic: String,
    output: TableLocation,
    checkpoints: String,
    s3: S3Store,
}

impl Cluster {
    /// Starts a member in `folder` (its working directory, holding nothing shared).
    fn member(&self, name: &str, folder: &Path) -> LoggedChild {
        let mut c = Command::new(order_aggregates());
        c.current_dir(folder)
            .args(["--brokers", &brokers(), "--topic", &self.topic, "--group", "--group-id", &self.topic, "--bounded"])
            .args(["--session-timeout", "6s", "--checkpoint-interval", "300ms", "--max-records-per-checkpoint", "500"])
            .args(["--shards", "1", "--kafka-consumers", "1", "--metrics-addr", "off", "--log", Group::GROUP_LOG])
            .arg("--output")
            .arg(&self.output)
            .args(["--checkpoint-dir", &self.checkpoints])
            .envs(self.s3.env.iter().map(|(k, v)| (k, v)))
            .env_remove("TIDEMILL_FAILPOINT");
        LoggedChild::spawn(name, c)
    }
}

#[test]
fn members_without_shared_disk_survive_sigkills_joins_and_leaves_with_exact_tables_on_s3() {
    let s3 = S3Store::get();
    let guard = TopicGuard::unique("orders-group-s3");
    let config = generator(57, EVENTS);
    produce_into(&guard.name, PARTITIONS, &config);
    let prefix = tidemill_testkit::kafka::unique("group-on-s3");
    let cluster = Cluster {
        topic: guard.name.clone(),
        output: TableLocation::parse(&s3.url(&format!("{prefix}/out"))).unwrap(),
        checkpoints: s3.url(&format!("{prefix}/chk")),
        s3,
    };
    let folders = NodeFolders::new();
    let mut members = churn(&folders, KILLS, 3, |name, folder| cluster.member(name, folder));
    assert_members_wrote_the_oracle(&mut members, 3 * WAIT, &cluster.output, &config);
    folders.assert_empty(4);
}
