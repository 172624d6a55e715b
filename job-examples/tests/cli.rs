//! The `order-aggregates` command line: help, usage and input/output errors, a full
//! run with its report and summary, and the precedence of settings.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use chrono::{DateTime, TimeDelta};
use serde_json::Value;
use tidemill_job_examples::order_aggregates::{preview_table, OrderTables};

/// Every long option the CLI defines, besides `--help` and `--version`.
const LONG_OPTIONS: [&str; 40] = [
    "kafka-config",
    "input",
    "generate",
    "output",
    "config",
    "window-size",
    "window-slide",
    "watermark-delay",
    "allowed-lateness",
    "shards",
    "batch-size",
    "edge-capacity",
    "seed",
    "users",
    "jitter",
    "duplicate-share",
    "malformed-share",
    "rate",
    "checkpoint-dir",
    "checkpoint-interval",
    "max-records-per-checkpoint",
    "max-event-time-drift",
    "from-checkpoint",
    "existing-output",
    "max-record-bytes",
    "topic",
    "brokers",
    "bounded",
    "start-offsets",
    "group-id",
    "kafka-consumers",
    "kafka-property",
    "group",
    "repartition",
    "repartition-partitions",
    "session-timeout",
    "metrics-addr",
    "status-show-payloads",
    "summary-json",
    "log",
];

/// The binary, with no `TIDEMILL_*` or `RUST_LOG` from the environment running the tests.
fn order_aggregates() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_order-aggregates"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("TIDEMILL_") {
            command.env_remove(key);
        }
    }
    command.env_remove("RUST_LOG");
    command
}

fn run(command: &mut Command) -> Output {
    command.output().expect("the order-aggregates binary runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_no_tables(output: &Path) {
    let tables = OrderTables::under(output);
    for table in [&tables.order_aggregates, &tables.orders, &tables.dlq] {
        assert!(!table.local_path().unwrap().exists(), "{table} was created");
    }
}

/// The long option names defined in a help text: the first `--name` of each line that
/// starts (after indentation) with `-`.
fn defined_long_options(help: &str) -> BTreeSet<String> {
    help.lines()
        .map(str::trim_start)
        .filter(|line| line.starts_with('-'))
        .filter_map(|line| {
            let start = line.find("--")? + 2;
            let name: String = line[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
            Some(name)
        })
        .collect()
}

#[test]
fn help_succeeds_and_lists_every_long_option() {
    let out = run(order_aggregates().arg("--help"));
    assert!(out.status.success(), "--help failed: {}", stderr(&out));
    let help = stdout(&out);
    let mut expected: BTreeSet<String> = LONG_OPTIONS.iter().map(|s| s.to_string()).collect();
    expected.extend(["help".to_owned(), "version".to_owned()]);
    assert_eq!(defined_long_options(&help), expected, "help text:\n{help}");
    assert!(help.contains("Counts orders per user"), "help lacks the job description:\n{help}");
}

#[test]
fn missing_input_fails_naming_the_path_and_creates_no_tables() {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("no-such-orders.jsonl");
    let output = dir.path().join("out");
    let out = run(order_aggregates().arg("--input").arg(&input).arg("--output").arg(&output));
    assert!(!out.status.success(), "a missing input succeeded: {}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("error:"), "stderr: {err}");
    assert!(err.contains(&input.display().to_string()), "stderr does not name the input: {err}");
    assert_no_tables(&output);
    assert!(!output.exists(), "the output folder was created although the input is missing");
}

#[test]
fn output_under_a_regular_file_fails_naming_the_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"not a folder").expect("write file");
    let output = file.join("out");
    let out = run(order_aggregates().args(["--generate", "100", "--output"]).arg(&output));
    assert!(!out.status.success(), "an unwritable output succeeded: {}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("error: output folder"), "stderr: {err}");
    assert!(err.contains(&output.display().to_string()), "stderr does not name the output: {err}");
}

#[test]
fn neither_input_nor_generate_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = run(order_aggregates().arg("--output").arg(dir.path()));
    assert_eq!(out.status.code(), Some(2), "stderr: {}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("--input") && err.contains("--generate"), "stderr: {err}");
    assert_no_tables(dir.path());
}

#[test]
fn generated_run_reports_tables_previews_and_summary() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = dir.path().join("out");
    let summary_path = dir.path().join("summary.json");
    let out = run(order_aggregates()
        .args(["--generate", "5000", "--output"])
        .arg(&output)
        .arg("--summary-json")
        .arg(&summary_path));
    assert!(out.status.success(), "run failed: {}", stderr(&out));

    let report = stdout(&out);
    let tables = OrderTables::under(&output);
    for (name, table) in
        [("order_aggregates", &tables.order_aggregates), ("orders", &tables.orders), ("dlq", &tables.dlq)]
    {
        assert!(report.contains(&table.to_string()), "report does not name {}:\n{report}", table);
        assert!(report.contains(&format!("{name} (version ")), "report has no preview of {name}:\n{report}");
    }
    assert!(report.contains("user_id"), "report has no user_id header:\n{report}");
    assert!(report.contains("u-"), "report shows no user:\n{report}");
    assert!(!report.contains("cannot preview"), "{report}");

    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(&summary_path).expect("summary written")).expect("summary JSON");
    assert_eq!(summary["records_in"], 5000, "{summary}");
    let by_reason = summary["dead_letters_by_reason"].as_object().expect("dead_letters_by_reason is an object");
    let sum: u64 = by_reason.values().map(|v| v.as_u64().expect("a count")).sum();
    assert_eq!(Some(sum), summary["dead_letters"].as_u64(), "{summary}");
}

#[test]
fn environment_overrides_config_file_and_windows_follow() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("job.toml");
    std::fs::write(&config, "window_size = \"10m\"\nwindow_slide = \"5m\"\n").expect("write config");
    let output = dir.path().join("out");
    let out = run(order_aggregates()
        .env("TIDEMILL_WINDOW_SLIDE", "10m")
        .args(["--generate", "3000", "--config"])
        .arg(&config)
        .arg("--output")
        .arg(&output));
    assert!(out.status.success(), "run failed: {}", stderr(&out));

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let table = OrderTables::under(&output).order_aggregates;
    let preview = runtime.block_on(preview_table(&table, usize::MAX)).expect("preview order_aggregates");
    assert!(!preview.rows.is_empty(), "no windows were written");
    let column = |name: &str| preview.columns.iter().position(|c| c == name).expect("column present");
    let (start, end) = (column("window_start"), column("window_end"));
    let time = |s: &str| DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("timestamp {s}: {e}"));
    for row in &preview.rows {
        let (window_start, window_end) = (time(&row[start]), time(&row[end]));
        assert_eq!(window_end - window_start, TimeDelta::minutes(10), "window size of {row:?}");
        assert_eq!(window_start.timestamp() % 600, 0, "window start not on a 10-minute slide: {row:?}");
    }
}

#[test]
fn malformed_or_unknown_config_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (text, expected) in [("window_size = \n", "invalid config"), ("window_sise = \"5m\"\n", "unknown field")] {
        let config = dir.path().join("job.toml");
        std::fs::write(&config, text).expect("write config");
        let output = dir.path().join("out");
        let out =
            run(order_aggregates().args(["--generate", "100", "--config"]).arg(&config).arg("--output").arg(&output));
        assert!(!out.status.success(), "config {text:?} was accepted");
        let err = stderr(&out);
        assert!(err.contains("error:") && err.contains(expected), "config {text:?}, stderr: {err}");
        assert!(err.contains(&config.display().to_string()), "stderr does not name the config: {err}");
        assert_no_tables(&output);
    }
}

/// Runs the binary with a deadline: a setting that used to hang the job must not
/// hang the test.
fn run_within(command: &mut Command, limit: std::time::Duration) -> Output {
    use std::io::Read as _;
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the order-aggregates binary starts");
    let deadline = std::time::Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("order-aggregates {:?} still ran after {limit:?}", command.get_args().collect::<Vec<_>>());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    child.stdout.take().expect("stdout").read_to_end(&mut stdout).expect("stdout");
    child.stderr.take().expect("stderr").read_to_end(&mut stderr).expect("stderr");
    Output { status, stdout, stderr }
}

/// Every setting that cannot work, given on the command line, in the environment
/// or in the TOML file, stops the binary with exit status 2 and a message naming
/// the setting, before anything starts (no output folder). `--batch-size 0` used
/// to hang and `--checkpoint-interval 0s` to panic inside the timer.
#[test]
fn every_unusable_setting_is_refused_before_anything_starts() {
    let args: &[(&[&str], &str)] = &[
        (&["--batch-size", "0"], "batch_size"),
        (&["--checkpoint-interval", "0s"], "checkpoint_interval"),
        (&["--edge-capacity", "0"], "edge_capacity"),
        (&["--shards", "0"], "shards"),
        (&["--max-records-per-checkpoint", "100"], "max_records_per_checkpoint"),
        (&["--max-records-per-checkpoint", "0", "--checkpoint-interval", "1s"], "max_records_per_checkpoint"),
        (&["--window-size", "0s"], "window size"),
        (&["--window-slide", "10m"], "slide"),
        (&["--max-event-time-drift", "0s"], "max_event_time_drift"),
        (&["--max-record-bytes", "0"], "max_record_bytes"),
        (&["--users", "0"], "users"),
        (&["--duplicate-share", "2"], "duplicate_share"),
    ];
    let env: &[(&str, &str, &str)] = &[
        ("TIDEMILL_BATCH_SIZE", "0", "batch_size"),
        ("TIDEMILL_CHECKPOINT_INTERVAL", "0s", "checkpoint_interval"),
        ("TIDEMILL_SHARDS", "0", "shards"),
    ];
    let toml: &[(&str, &str)] = &[
        ("[runtime]\nbatch_size = 0\n", "batch_size"),
        ("[runtime]\nidle_timeout = \"0s\"\n", "idle_timeout"),
        ("[runtime]\ncheckpoints_to_keep = 1\n", "checkpoints_to_keep"),
        ("[runtime.restart]\nmultiplier = 0.5\n", "multiplier"),
        ("[metrics]\nprogress_interval = \"0s\"\n", "progress_interval"),
        ("[metrics.scaling]\nwindow = \"0s\"\n", "metrics.scaling.window"),
        ("[metrics.scaling]\ntarget_utilisation = 1.5\n", "metrics.scaling.target_utilisation"),
        ("[metrics.scaling]\nscale_down_utilisation = 0.9\n", "metrics.scaling.scale_down_utilisation"),
        ("target_file_rows = 0\n", "target_file_rows"),
        ("dedup_retention = \"0s\"\n", "dedup_retention"),
        ("[runtime]\nbatch_sise = 10\n", "unknown field"),
    ];
    let dir = tempfile::tempdir().expect("temp dir");
    let output = dir.path().join("out");
    let check = |what: String, out: Output, setting: &str| {
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{what}: exit status {:?}, stderr: {err}", out.status);
        assert!(err.contains("error:") && err.contains(setting), "{what}: stderr does not name `{setting}`: {err}");
        assert!(!output.exists(), "{what}: the output folder was created");
    };
    let limit = std::time::Duration::from_secs(60);
    for (extra, setting) in args {
        let mut command = order_aggregates();
        command.args(["--generate", "100", "--output"]).arg(&output).args(*extra);
        check(format!("{extra:?}"), run_within(&mut command, limit), setting);
    }
    for (key, value, setting) in env {
        let mut command = order_aggregates();
        command.env(key, value).args(["--generate", "100", "--output"]).arg(&output);
        check(format!("{key}={value}"), run_within(&mut command, limit), setting);
    }
    for (text, setting) in toml {
        let config = dir.path().join("job.toml");
        std::fs::write(&config, text).expect("write config");
        let mut command = order_aggregates();
        command.args(["--generate", "100", "--config"]).arg(&config).arg("--output").arg(&output);
        check(format!("config {text:?}"), run_within(&mut command, limit), setting);
    }
}
