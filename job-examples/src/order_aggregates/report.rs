//! What `order-aggregates` prints after a run: where the rows went, how many, why
//! records were rejected, and the version and first rows of each table.

use std::fmt::Write as _;
use tidemill_delta::TableLocation;
use tidemill_runtime::JobSummary;

use super::preview::preview_table;
use super::settings::{OrderInput, OrderTables};

/// The report of a finished run: counts per table, dead letters by reason, then for
/// each table its version, file count and first `preview_rows` rows. A table that
/// cannot be read back gets a `cannot preview: ...` line instead of its rows.
pub async fn render_report(
    input: &OrderInput,
    tables: &OrderTables,
    summary: &JobSummary,
    preview_rows: usize,
) -> String {
    let mut out = counts(input, tables, summary);
    for (name, path) in named(tables) {
        out.push('\n');
        out.push_str(&table_section(name, path, preview_rows).await);
    }
    out
}

/// The tables with their sink names, in report order.
fn named(tables: &OrderTables) -> [(&'static str, &TableLocation); 3] {
    [("order_aggregates", &tables.order_aggregates), ("orders", &tables.orders), ("dlq", &tables.dlq)]
}

/// The summary lines: elapsed time, records read, rows committed per table (what
/// readers of the table see, not what was merely written to staged files), dead
/// letters, the lineage and the peak memory.
fn counts(input: &OrderInput, tables: &OrderTables, s: &JobSummary) -> String {
    let from = match input {
        OrderInput::Path(p) => p.display().to_string(),
        OrderInput::Generate(g) => format!("{} generated events (seed {})", g.count, g.seed),
        OrderInput::Kafka(k) => format!("Kafka topic {} at {}", k.topic, k.brokers),
    };
    let written = |name: &str| s.written_by_sink.get(name).copied().unwrap_or(0);
    let committed = |name: &str| s.committed_by_sink.get(name).copied().unwrap_or(0);
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(out, "order-aggregates finished in {:.2?}", s.elapsed);
    let _ = writeln!(out, "  read             {} records from {from}", s.records_in);
    for (name, path) in named(tables) {
        let _ = writeln!(out, "  {name:<16} {:>10} rows committed -> {path}", committed(name));
        if committed(name) != written(name) {
            let _ = writeln!(
                out,
                "  (!) {name}: {} rows were written but only {} are committed",
                written(name),
                committed(name)
            );
        }
    }
    if !s.dead_letters_by_reason.is_empty() {
        let reasons: Vec<String> = s.dead_letters_by_reason.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(out, "  dead letters by reason: {}", reasons.join(", "));
    }
    let _ = writeln!(out, "  late events: {}, restarts: {}", s.late, s.restarts);
    if let Some(lineage) = &s.lineage {
        let _ = writeln!(out, "  lineage: {lineage} (the tables' transaction ids end in @{lineage})");
    }
    if let Some(bytes) = s.peak_resident_bytes {
        let _ = writeln!(out, "  peak memory: {} MiB", bytes >> 20);
    }
    out
}

/// One table's heading and preview (indented), or why there is none.
async fn table_section(name: &str, path: &TableLocation, rows: usize) -> String {
    match preview_table(path, rows).await {
        Ok(preview) => {
            let files = if preview.files == 1 { "file" } else { "files" };
            let mut out = format!(
                "{name} (version {}, {} {files}), first {} rows:\n",
                preview.version,
                preview.files,
                preview.rows.len()
            );
            for line in preview.to_string().lines() {
                let _ = writeln!(out, "  {line}");
            }
            out
        }
        Err(e) => format!("{name}: cannot preview: {e}\n"),
    }
}
