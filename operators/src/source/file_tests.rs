//! Tests of the JSON-lines file source.

use std::fs;

use super::*;
use tidemill_runtime::ReasonCode;

async fn read_all(source: &mut JsonLinesFileSource, max: usize) -> Vec<(u32, u64, Vec<u8>)> {
    let mut out = Vec::new();
    loop {
        match source.poll(max).await.unwrap() {
            SourcePoll::Data(batch) => {
                assert!(!batch.is_empty() && batch.len() <= max);
                out.extend(batch.into_iter().map(|r| (r.origin.partition.0, r.origin.offset.0, r.value)));
            }
            SourcePoll::Idle => panic!("a file source is never idle"),
            SourcePoll::End => return out,
        }
    }
}

fn lines(records: &[(u32, u64, Vec<u8>)]) -> Vec<(u32, u64, String)> {
    records.iter().map(|(p, o, v)| (*p, *o, String::from_utf8_lossy(v).into_owned())).collect()
}

#[tokio::test]
async fn folder_is_read_in_name_order_with_line_numbers() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("b.jsonl"), "b1\r\n\nb3").unwrap(); // CRLF, empty line, no final newline
    fs::write(dir.path().join("a.jsonl"), "a1\na2\n").unwrap();
    fs::write(dir.path().join(".hidden"), "h1\n").unwrap();
    fs::write(dir.path().join("c.jsonl"), "").unwrap();
    fs::create_dir(dir.path().join("d")).unwrap();
    let ctx = NodeContext::for_tests("files");
    let mut source = JsonLinesFileSource::open(dir.path(), &ctx).unwrap();
    let names: Vec<_> = source.files().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["a.jsonl", "b.jsonl", "c.jsonl"]);
    let records = read_all(&mut source, 2).await;
    let expected = [(0, 1, "a1"), (0, 2, "a2"), (1, 1, "b1"), (1, 2, ""), (1, 3, "b3")];
    assert_eq!(lines(&records), expected.map(|(p, o, s)| (p, o, s.to_string())));
    let info = ctx.catalog.lookup(&Origin { source: ctx.source_id, partition: PartitionId(1), offset: Offset(2) });
    let info = info.unwrap();
    assert_eq!(info.kind, FILE_SOURCE_KIND);
    assert!(info.name.ends_with("b.jsonl"), "{}", info.name);
    // Ended sources stay ended.
    assert!(matches!(source.poll(10).await.unwrap(), SourcePoll::End));
}

#[tokio::test]
async fn a_line_over_the_limit_is_a_dead_letter_with_its_first_bytes_and_never_held_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.jsonl");
    let long = "y".repeat(50_000);
    let no_end = "z".repeat(3_000);
    fs::write(&path, format!("short\n{long}\nafter\n{}\r\n{no_end}", "w".repeat(200))).unwrap();
    let mut ctx = NodeContext::for_tests("files");
    ctx.run.max_record_bytes = 200;
    let mut source = JsonLinesFileSource::open(&path, &ctx).unwrap();
    let records = read_all(&mut source, 100).await;
    let dead = source.take_dead_letters();
    assert_eq!(lines(&records), vec![(0, 1, "short".into()), (0, 3, "after".into()), (0, 4, "w".repeat(200))]);
    assert_eq!(dead.len(), 2, "the long line and the unterminated last one");
    assert!(dead.iter().all(|d| d.reason == ReasonCode::RecordTooLarge && &*d.stage == "files"));
    assert_eq!(dead[0].origin.offset, Offset(2));
    assert_eq!(dead[0].payload, b"y".repeat(DeadLetter::TRUNCATED_PAYLOAD));
    assert!(dead[0].detail.contains("record of 50000 bytes"), "{}", dead[0].detail);
    assert_eq!(dead[1].origin.offset, Offset(5));
    assert!(dead[1].detail.contains("record of 3000 bytes"), "{}", dead[1].detail);
    // Resuming after the long line reads on from the right place.
    let mut again = JsonLinesFileSource::open(&path, &ctx).unwrap();
    let SourcePoll::Data(first) = again.poll(2).await.unwrap() else { panic!() };
    assert_eq!(first.len(), 2, "short and after; the long line was skipped");
    let snapshot = again.snapshot().unwrap();
    let mut resumed = JsonLinesFileSource::open(&path, &ctx).unwrap();
    resumed.restore(&snapshot).unwrap();
    assert_eq!(lines(&read_all(&mut resumed, 100).await), vec![(0, 4, "w".repeat(200))]);
}

#[tokio::test]
async fn non_utf8_bytes_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.jsonl");
    fs::write(&path, b"{\"a\":\"\xff\"}\n\xc3(\n").unwrap();
    let mut source = JsonLinesFileSource::open(&path, &NodeContext::for_tests("f")).unwrap();
    let records = read_all(&mut source, 100).await;
    assert_eq!(records[0].2, b"{\"a\":\"\xff\"}".to_vec());
    assert_eq!(records[1].2, b"\xc3(".to_vec());
}

#[test]
fn missing_path_fails_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.jsonl");
    let err = JsonLinesFileSource::open(&missing, &NodeContext::for_tests("f")).unwrap_err();
    match err {
        SourceError::Unreadable { what, reason } => {
            assert!(what.ends_with("nope.jsonl"), "{what}");
            assert!(reason.to_string().contains("No such file"), "{reason}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn file_removed_after_open_fails_while_reading() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gone.jsonl");
    fs::write(&path, "x\n").unwrap();
    let mut source = JsonLinesFileSource::open(&path, &NodeContext::for_tests("f")).unwrap();
    fs::remove_file(&path).unwrap();
    let err = source.poll(10).await.unwrap_err();
    assert!(matches!(err, SourceError::Unreadable { ref what, .. } if what.ends_with("gone.jsonl")), "{err}");
}

#[tokio::test]
async fn snapshot_and_restore_resume_where_they_left_off() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("1.jsonl"), "a\nb\nc\n").unwrap();
    fs::write(dir.path().join("2.jsonl"), "d\ne\n").unwrap();
    let ctx = NodeContext::for_tests("f");
    let all = read_all(&mut JsonLinesFileSource::open(dir.path(), &ctx).unwrap(), 100).await;
    // Snapshot at every position, mid-file and at file ends.
    for taken in 0..=all.len() {
        let mut source = JsonLinesFileSource::open(dir.path(), &ctx).unwrap();
        let mut head = Vec::new();
        while head.len() < taken {
            let SourcePoll::Data(batch) = source.poll(taken - head.len()).await.unwrap() else { panic!() };
            head.extend(batch.into_iter().map(|r| (r.origin.partition.0, r.origin.offset.0, r.value)));
        }
        let snapshot = source.snapshot().unwrap();
        let mut restored = JsonLinesFileSource::open(dir.path(), &ctx).unwrap();
        restored.restore(&snapshot).unwrap();
        head.extend(read_all(&mut restored, 100).await);
        assert_eq!(head, all, "restored after {taken} records");
    }
    // A folder that changed under the checkpoint is refused.
    let mut source = JsonLinesFileSource::open(dir.path(), &ctx).unwrap();
    source.poll(4).await.unwrap();
    let snapshot = source.snapshot().unwrap();
    fs::rename(dir.path().join("2.jsonl"), dir.path().join("3.jsonl")).unwrap();
    let mut changed = JsonLinesFileSource::open(dir.path(), &ctx).unwrap();
    assert!(matches!(changed.restore(&snapshot), Err(SourceError::State(cause)) if cause.is::<FileSourceError>()));
}
