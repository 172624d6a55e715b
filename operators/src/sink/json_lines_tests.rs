//! JsonLinesSink.

use serde_json::{json, Value};
use tidemill_runtime::{Epoch, EventTime, NodeContext, Origin, Record, Sink, SinkError, StagedOutput};

use super::{JsonLinesSink, WrittenBeforeOpen};

fn record(v: Value) -> Record<Value> {
    Record::new(v, EventTime::from_millis(0), Origin::INTERNAL)
}

#[tokio::test]
async fn writes_one_object_per_line_flushes_at_stage_and_truncates_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out/debug.jsonl");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, "old content\n").unwrap();
    let ctx = NodeContext::for_tests("debug");

    let mut sink = JsonLinesSink::<Value>::new(&path, &ctx);
    sink.open().await.unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "", "open truncates");
    sink.write(vec![record(json!({"a": 1, "s": "x\ny"})), record(json!({"a": 2}))]).await.unwrap();
    sink.write(vec![record(json!([1, 2]))]).await.unwrap();
    assert_eq!(sink.stage(Epoch::new(1)).await.unwrap(), StagedOutput::default());
    sink.commit(Epoch::new(1), StagedOutput::default()).await.unwrap();

    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines, vec![json!({"a": 1, "s": "x\ny"}), json!({"a": 2}), json!([1, 2])]);
    assert_eq!(sink.lines_written(), 3);

    let mut again = JsonLinesSink::<Value>::factory(&path)(&ctx);
    again.open().await.unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
}

#[tokio::test]
async fn unwritable_path_and_write_before_open_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let path = file.join("out.jsonl");
    let mut sink = JsonLinesSink::<Value>::new(&path, &NodeContext::for_tests("debug"));
    let err = sink.write(vec![record(json!(1))]).await.unwrap_err();
    assert!(matches!(&err, SinkError::Write { source, .. } if source.is::<WrittenBeforeOpen>()), "{err:?}");
    let err = sink.open().await.unwrap_err();
    assert!(
        matches!(&err, SinkError::Unavailable { destination, .. } if destination.contains(&path.display().to_string())),
        "{err:?}"
    );
}
