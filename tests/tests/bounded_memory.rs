//! Bad input in bulk must not grow memory with the input: a 2 GiB file of nothing
//! but malformed lines, and a 2 GiB file that is one line. Each runs through the
//! `order-aggregates` binary, whose summary reports its peak resident memory.
//!
//! The bound stated in docs/guarantees.md: the process's baseline (about 150 MiB
//! with the Delta writer and the metrics loaded) plus, per edge, `edge_capacity`
//! batches of at most 4 MiB of lines (the file source cuts batches there), plus
//! each Delta sink's `target_file_bytes` (64 MiB) of buffered rows. Dead letters
//! keep at most their first `max_record_bytes`; an oversized line keeps its first
//! KiB. The tests allow 700 MiB, against the 2 GiB a whole-input buffer would need.

use std::io::Write as _;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use tidemill_job_examples::order_aggregates::OrderTables;
use tidemill_testkit::delta_reader::{read_rows, summary_of, Engine};
use tidemill_tests::binary::order_aggregates;

const TWO_GIB: u64 = 2 << 30;
const LIMIT: u64 = 700 << 20;

/// Writes `size` bytes to `path` by repeating `unit`.
fn write_repeated(path: &Path, unit: &[u8], size: u64) {
    let mut file = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let chunk: Vec<u8> = unit.iter().copied().cycle().take((1 << 20) / unit.len() * unit.len()).collect();
    let mut written = 0;
    while written < size {
        file.write_all(&chunk).unwrap();
        written += chunk.len() as u64;
    }
    file.flush().unwrap();
}

/// Runs the job on `input`; returns its summary JSON.
fn run(input: &Path, output: &Path) -> Value {
    let summary_path = output.with_extension("summary.json");
    let out = Command::new(order_aggregates())
        .arg("--input")
        .arg(input)
        .arg("--output")
        .arg(output)
        .args(["--metrics-addr", "off", "--summary-json"])
        .arg(&summary_path)
        .output()
        .expect("order-aggregates runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(&std::fs::read_to_string(&summary_path).unwrap()).unwrap()
}

fn peak(summary: &Value) -> u64 {
    summary["peak_resident_bytes"].as_u64().expect("the summary states the peak memory")
}

#[test]
fn two_gib_of_malformed_lines_run_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("garbage.jsonl");
    // 1 KiB lines of broken JSON: about two million dead letters.
    let mut line = br#"{"order_id": "#.to_vec();
    line.resize(1023, b'x');
    line.push(b'\n');
    write_repeated(&input, &line, TWO_GIB);
    let lines = std::fs::metadata(&input).unwrap().len() / line.len() as u64;
    let output = dir.path().join("out");
    let summary = run(&input, &output);
    std::fs::remove_file(&input).unwrap();

    assert_eq!(summary["records_in"], lines);
    assert_eq!(summary["dead_letters_by_reason"]["not_json"], lines);
    assert_eq!(summary["committed_by_sink"]["dlq"], lines);
    let dlq = summary_of(&OrderTables::under(&output).dlq, Engine::DeltaRs);
    assert_eq!(dlq["rows"], lines, "every line is a dead letter, once");
    let peak = peak(&summary);
    eprintln!("peak resident memory: {} MiB for {} MiB of malformed input", peak >> 20, TWO_GIB >> 20);
    assert!(peak < LIMIT, "peak {} MiB", peak >> 20);
}

#[test]
fn one_line_of_two_gib_runs_in_bounded_memory_and_is_a_dead_letter() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("one-line.jsonl");
    write_repeated(&input, b"{\"order_id\":\"aaaaaaaaaaaaaaa", TWO_GIB);
    let size = std::fs::metadata(&input).unwrap().len();
    let output = dir.path().join("out");
    let summary = run(&input, &output);
    std::fs::remove_file(&input).unwrap();

    assert_eq!(summary["dead_letters_by_reason"]["record_too_large"], 1);
    let rows = read_rows(&OrderTables::under(&output).dlq, Engine::DeltaRs);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["reason_code"], "record_too_large");
    assert_eq!(rows[0]["offset"], 1, "line 1");
    assert!(rows[0]["reason"].as_str().unwrap().contains(&format!("record of {size} bytes")), "{}", rows[0]);
    let peak = peak(&summary);
    eprintln!("peak resident memory: {} MiB for one line of {} MiB", peak >> 20, size >> 20);
    assert!(peak < LIMIT, "peak {} MiB", peak >> 20);
}
