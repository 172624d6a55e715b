//! A first Tidemill job, end to end: page views per user per minute.
//!
//! Reads a folder of JSON-lines files, decodes each line into a [`PageView`]
//! (lines that do not fit go to the dead letters with their reason), stamps event
//! times from the records with a 5 s watermark delay, counts views per user in
//! one-minute windows sliding every 10 s, and writes the counts and the dead
//! letters to two Delta tables. It is the README's "Writing a job" section, compiled.
//!
//! ```sh
//! cargo run -p tidemill-job-examples --example page_views              # on a sample it writes
//! cargo run -p tidemill-job-examples --example page_views -- IN_DIR OUT_DIR
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tidemill_delta::{delta_record, DeadLetterDeltaSink, DeltaAppendSink};
use tidemill_operators::source::JsonLinesFileSource;
use tidemill_operators::window::{Count, SlidingWindow, WindowResult};
use tidemill_operators::{BytesStreamExt, KeyedStreamExt};
use tidemill_runtime::{EventTime, Job, NodeContext};

/// One line of input: `{"user": "u-1", "page": "/home", "at": "2026-01-01T00:00:01Z"}`.
/// (`Serialize` too: a record that fails later, in a key or window function, goes
/// to the dead letters as JSON.)
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
struct PageView {
    user: String,
    #[allow(dead_code)] // decoded (so a line without it is dead-lettered), not aggregated
    page: String,
    #[serde(with = "tidemill_operators::decode::rfc3339")]
    at: DateTime<Utc>,
}

delta_record! {
    /// One row of the output table: views of one user in one window.
    #[derive(Clone, Debug, serde::Serialize)]
    struct ViewsPerMinute {
        window_start: DateTime<Utc>,
        window_end: DateTime<Utc>,
        user: String,
        views: i64,
    }
}

impl ViewsPerMinute {
    fn from_result(r: &WindowResult<String, u64>) -> Self {
        ViewsPerMinute {
            window_start: r.window_start.to_utc(),
            window_end: r.window_end.to_utc(),
            user: r.key.clone(),
            views: i64::try_from(r.value).unwrap_or(i64::MAX),
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let (input, output) = match args.as_slice() {
        [input, output] => (input.clone(), output.clone()),
        [] => {
            let base = std::env::temp_dir().join(format!("tidemill-page-views-{}", std::process::id()));
            (write_sample(&base.join("in"))?, base.join("out"))
        }
        _ => return Err("usage: page_views [IN_DIR OUT_DIR]".into()),
    };

    let job = Job::builder("page-views");
    let views = job
        .source("input", 1, move |ctx: &NodeContext| JsonLinesFileSource::open(&input, ctx))
        .decode_json::<PageView>("decode")
        .assign_timestamps("event_time", |v: &PageView| EventTime::from(v.at), Duration::from_secs(5));
    let counts_table = output.join("views_per_minute");
    views
        .key_by(|v: &PageView| v.user.clone(), 2)
        .window("windows", SlidingWindow::of_size(Duration::from_secs(60)).every(Duration::from_secs(10))?, Count)?
        .map("rows", ViewsPerMinute::from_result)
        .sink("views_per_minute", move |ctx: &NodeContext| Ok(DeltaAppendSink::new(&counts_table, ctx)));
    let dlq_table = output.join("dlq");
    job.dead_letters().sink("dlq", move |ctx: &NodeContext| Ok(DeadLetterDeltaSink::new(&dlq_table, ctx)));

    let summary = job.build()?.run().await?;
    println!("tables under {}", output.display());
    for (sink, rows) in &summary.committed_by_sink {
        println!("  {sink}: {rows} rows committed");
    }
    Ok(())
}

/// Three users' views over two minutes, plus one line that is not JSON and one
/// without a page: the dead-letter table gets those two, with their reasons.
fn write_sample(dir: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let mut lines = Vec::new();
    for second in (0..120).step_by(7) {
        for user in ["u-1", "u-2", "u-3"] {
            lines.push(format!(
                r#"{{"user":"{user}","page":"/p/{second}","at":"2026-01-01T00:{:02}:{:02}Z"}}"#,
                second / 60,
                second % 60
            ));
        }
    }
    lines.push("not json".to_string());
    lines.push(r#"{"user":"u-1","at":"2026-01-01T00:00:05Z"}"#.to_string());
    std::fs::write(dir.join("views.jsonl"), lines.join("\n") + "\n")?;
    Ok(dir.to_path_buf())
}
