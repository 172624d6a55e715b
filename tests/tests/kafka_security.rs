//! The order job and the order producer against the broker's SASL_SSL listener
//! (SCRAM-SHA-512 over TLS with a self-signed CA, opened by `scripts/kafka start`).
//!
//! - The producer writes generated orders over it; the job reads them over it
//!   into Delta, stopped with SIGTERM mid-run and resumed `--bounded`: the tables
//!   equal the batch oracle (exactly once). The password is given every way the
//!   job takes it (TOML table, properties file, variable, `--kafka-property`
//!   with `${env:..}` and `${file:..}` references) and appears in none of stdout,
//!   stderr, `/metrics`, the checkpoint files, the summary JSON or the tables.
//! - A wrong password, an unknown CA and a plaintext client on the secured port
//!   each fail within seconds with an error that names the cause, not the secret.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tidemill_job_examples::orders::{GeneratorConfig, OrderGenerator};
use tidemill_testkit::kafka::TopicGuard;
use tidemill_testkit::metrics::{free_local_addr, http_get, scrape_until};
use tidemill_testkit::process::LoggedChild;
use tidemill_testkit::secured_kafka::SecuredListener;
use tidemill_tests::binary::{order_aggregates, order_producer};
use tidemill_tests::kafka::produce_generated_with;
use tidemill_tests::order_oracle::OrderOracle;
use tidemill_tests::order_tables::assert_kafka_tables_equal;

const EVENTS: u64 = 20_000;
/// Debug build, two shared cores, TLS: generous, and only a bound on failure.
const STEP_TIMEOUT: Duration = Duration::from_secs(180);
/// A failed login or handshake must end the job this fast (its metadata
/// timeout is 5 s).
const FAIL_FAST: Duration = Duration::from_secs(60);

fn generator() -> GeneratorConfig {
    GeneratorConfig {
        seed: 4242,
        count: EVENTS,
        users: 300,
        duplicate_share: 0.02,
        malformed_share: 0.02,
        ..GeneratorConfig::default()
    }
}

/// Every file under `dir` (recursively), with its bytes.
fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push((path.display().to_string(), std::fs::read(&path).expect("read file")));
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn order_job_reads_sasl_ssl_into_delta_exactly_once_and_never_shows_the_password() {
    let listener = SecuredListener::get();
    let password = listener.property("sasl.password");
    assert!(password.len() >= 12, "a recognisable password");
    let guard = TopicGuard::unique("secured-orders");
    let topic = guard.name.clone();
    let config = generator();
    let client_config = listener.client_config.display().to_string();
    produce_generated_with(&listener.bootstrap, &topic, 3, "order-id", &config, &["--kafka-config", &client_config]);

    // The password every way the job takes it; the last one given wins, and all
    // hold the right one.
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("job.toml");
    let mut toml = String::from("[kafka.properties]\n");
    for (key, value) in listener.properties() {
        toml.push_str(&format!("{key} = {value:?}\n"));
    }
    std::fs::write(&settings, toml).unwrap();
    let password_file = dir.path().join("sasl-password");
    std::fs::write(&password_file, format!("{password}\n")).unwrap();
    let (output, checkpoints, summary) =
        (dir.path().join("out"), dir.path().join("checkpoints"), dir.path().join("summary.json"));
    let job = |bounded: bool| {
        let mut c = Command::new(order_aggregates());
        c.args(["--brokers", &listener.bootstrap, "--topic", &topic, "--group-id", &topic])
            .arg("--config")
            .arg(&settings)
            .args(["--kafka-config", &client_config])
            .args(["--kafka-property", "sasl.password=${env:TEST_SASL_PASSWORD}"])
            .arg("--kafka-property")
            .arg(format!("sasl.password=${{file:{}}}", password_file.display()))
            .env("TIDEMILL_KAFKA_SASL_PASSWORD", &password)
            .env("TEST_SASL_PASSWORD", &password)
            .arg("--output")
            .arg(&output)
            .arg("--checkpoint-dir")
            .arg(&checkpoints)
            .args(["--checkpoint-interval", "300ms", "--log", "debug"]);
        if bounded {
            c.arg("--bounded").arg("--summary-json").arg(&summary);
        }
        c
    };

    // Unbounded until every record is read and checkpointed, then SIGTERM.
    let addr = free_local_addr();
    let mut running = job(false);
    running.args(["--metrics-addr", &addr.to_string()]);
    let mut first = LoggedChild::spawn("order-aggregates (unbounded)", running);
    scrape_until(addr, STEP_TIMEOUT, |s| {
        first.alive()?;
        let read = s.sum("tidemill_records_in_total", &[("tidemill_node", "kafka")]);
        let epoch = s.value("tidemill_checkpoint_last_committed_epoch", &[]).unwrap_or(0.0);
        (read == EVENTS as f64 && epoch >= 1.0).then_some(()).ok_or(format!("read {read}, epoch {epoch}"))
    })
    .unwrap_or_else(|e| panic!("{e}; log:\n{}", first.tail(40)));
    let (status, metrics) = http_get(addr, "/metrics").expect("GET /metrics");
    assert_eq!(status, 200);
    first.signal("TERM");
    first.wait_success(STEP_TIMEOUT);

    // Resumed, bounded: every window fires, the tables are complete.
    let second = job(true).output().expect("run order-aggregates --bounded");
    let (stdout, stderr) = (second.stdout, second.stderr);
    assert!(second.status.success(), "bounded run failed: {}", String::from_utf8_lossy(&stderr));
    let oracle = OrderOracle::compute(OrderGenerator::events(&config), 5 * 60_000, 60_000);
    assert_kafka_tables_equal(&output, &oracle);

    let mut places: Vec<(String, Vec<u8>)> = vec![
        ("stderr of the unbounded run".into(), first.lines().join("\n").into_bytes()),
        ("/metrics".into(), metrics.into_bytes()),
        ("stdout of the bounded run".into(), stdout),
        ("stderr of the bounded run".into(), stderr),
        ("summary JSON".into(), std::fs::read(&summary).expect("summary JSON")),
    ];
    assert!(places[0].1.len() > 1_000 && places[3].1.len() > 1_000, "debug logs were written");
    places.extend(files_under(&checkpoints));
    places.extend(files_under(&output));
    for (place, bytes) in &places {
        assert!(!contains(bytes, &password), "the password appears in {place}");
    }
}

/// Runs `order-aggregates` on the secured listener with `args` and returns its
/// stderr once it has failed (as it must, within [`FAIL_FAST`]).
fn failing_job(listener: &SecuredListener, args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Command::new(order_aggregates());
    c.args(["--brokers", &listener.bootstrap, "--topic", "tidemill-test-secured-refused", "--bounded"])
        .args(args)
        .arg("--output")
        .arg(dir.path().join("out"))
        .arg("--checkpoint-dir")
        .arg(dir.path().join("checkpoints"));
    let mut child = LoggedChild::spawn("order-aggregates (refused)", c);
    let status = child.wait_timeout(FAIL_FAST);
    assert_eq!(status.code(), Some(1), "a refused connection is a failure; log:\n{}", child.tail(20));
    child.lines().join("\n")
}

#[test]
fn a_wrong_password_an_unknown_ca_and_a_plaintext_client_fail_fast_naming_the_cause() {
    let listener = SecuredListener::get();
    let password = listener.property("sasl.password");
    let client_config = listener.client_config.display().to_string();
    let wrong = "not-the-password-7c1e9a";
    let wrong_property = format!("sasl.password={wrong}");

    let base = ["--kafka-config", client_config.as_str(), "--kafka-property", wrong_property.as_str()];
    let log = failing_job(&listener, &base);
    assert!(log.contains("SASL authentication error") && log.contains("invalid credentials"), "{log}");
    let group: Vec<&str> = base.iter().copied().chain(["--group", "--session-timeout", "6s"]).collect();
    let log_group = failing_job(&listener, &group);
    assert!(log_group.contains("SASL authentication error"), "group mode: {log_group}");
    for log in [&log, &log_group] {
        assert!(!log.contains(wrong) && !log.contains(&password), "a secret in the error: {log}");
    }

    // A CA that did not sign the broker's certificate.
    let dir = tempfile::tempdir().unwrap();
    let other_ca = dir.path().join("other-ca.pem");
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=other-ca", "-keyout"])
        .arg(dir.path().join("other-ca.key"))
        .arg("-out")
        .arg(&other_ca)
        .output()
        .expect("run openssl");
    assert!(made.status.success(), "openssl: {}", String::from_utf8_lossy(&made.stderr));
    let ca_property = format!("ssl.ca.location={}", other_ca.display());
    let log = failing_job(&listener, &["--kafka-config", &client_config, "--kafka-property", &ca_property]);
    assert!(log.contains("SSL handshake failed") && log.contains("certificate verify failed"), "{log}");
    assert!(!log.contains(&password), "{log}");

    // No client properties at all: plaintext on a TLS port.
    let log = failing_job(&listener, &[]);
    assert!(log.contains("security.protocol"), "the error hints at the protocol: {log}");

    // The producer says the same for a wrong password.
    let producer = Command::new(order_producer())
        .args(["--brokers", &listener.bootstrap, "--topic", "tidemill-test-secured-refused", "--generate", "1"])
        .args(["--kafka-config", &client_config, "--kafka-property", &wrong_property])
        .output()
        .expect("run order-producer");
    let stderr = String::from_utf8_lossy(&producer.stderr);
    assert!(!producer.status.success() && stderr.contains("SASL authentication error"), "{stderr}");
    assert!(!stderr.contains(wrong) && !stderr.contains(&password), "{stderr}");
}
