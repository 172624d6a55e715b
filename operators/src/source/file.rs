//! [`JsonLinesFileSource`]: reads JSON-lines files, one record per line.

use std::path::{Path, PathBuf};

use chrono::Utc;
use serde::{Deserialize, Serialize};
use tidemill_runtime::{
    DeadLetter, EventTime, NodeContext, Offset, Origin, PartitionId, PartitionInfo, Record, Source, SourceError,
    SourceId, SourceKind, SourcePoll, StateSnapshot,
};
use tokio::fs::File;

use super::FileSourceError;
use tokio::io::{AsyncBufReadExt, AsyncSeekExt, BufReader};

/// The kind of source a file is: `file` in the dead-letter table.
pub(crate) const FILE_SOURCE_KIND: SourceKind = SourceKind::named("file");

/// Read buffer size: large, because every refill of a tokio file is a trip to the
/// blocking thread pool.
const READ_BUFFER: usize = 1 << 20;
/// A batch is cut once its lines hold this many bytes, whatever `max_records`
/// says: with long lines, a record-count batch alone would not bound memory.
const BATCH_BYTES: usize = 4 << 20;

/// A bounded source of raw lines from a file or a folder of files.
///
/// A folder is read file by file in file-name order; hidden files (names starting
/// with `.`) and anything that is not a regular file are skipped. Each line, without
/// its `\n` or `\r\n`, is one record, even an empty one, so that every line is
/// accounted for (an empty line fails decoding as `not_json`); a final newline does
/// not make an extra record. Bytes are passed on as they are, UTF-8 or not.
///
/// A record's origin is `{source: ctx.source_id, partition: file index, offset:
/// 1-based line number}` and its time is ingestion time. With several shards, shard
/// `i` reads the files whose index is `i` modulo the shard count.
///
/// A line longer than the job's `max_record_bytes` is never held whole in memory:
/// its first bytes go to the dead letters as `record_too_large`, the rest is read
/// past. A batch is cut at 4 MiB of lines.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use tidemill_operators::source::JsonLinesFileSource;
/// use tidemill_operators::BytesStreamExt;
/// use tidemill_runtime::testing::{CollectSink, Collected};
/// use tidemill_runtime::{Job, NodeContext, ReasonCode};
///
/// let folder = tempfile::tempdir()?;
/// std::fs::write(folder.path().join("a.jsonl"), "{\"id\": 1}\nnot json\n{\"id\": 2}\n")?;
/// #[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
/// struct Row { id: u32 }
///
/// let (rows, dead): (Arc<Mutex<Collected<Row>>>, Arc<Mutex<Collected<_>>>) = Default::default();
/// let job = Job::builder("read");
/// let input = folder.path().to_path_buf();
/// let decoded = job
///     .source("files", 1, move |ctx: &NodeContext| JsonLinesFileSource::open(&input, ctx))
///     .decode_json::<Row>("decode");
/// let into = rows.clone();
/// decoded.sink("rows", move |_: &NodeContext| Ok(CollectSink::new(into.clone())));
/// let into = dead.clone();
/// job.dead_letters().sink("dlq", move |_: &NodeContext| Ok(CollectSink::new(into.clone())));
/// tokio::runtime::Runtime::new()?.block_on(job.build()?.run())?;
///
/// let ids: Vec<u32> = rows.lock().unwrap().committed.iter().map(|r| r.value.id).collect();
/// assert_eq!(ids, vec![1, 2]);
/// let dead = dead.lock().unwrap();
/// assert_eq!((dead.committed[0].value.reason, dead.committed[0].origin.offset.0), (ReasonCode::NotJson, 2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct JsonLinesFileSource {
    source: SourceId,
    /// The node, as the stage of oversized lines' dead letters.
    stage: std::sync::Arc<str>,
    max_record_bytes: usize,
    /// Oversized lines since the last `take_dead_letters`.
    too_large: Vec<DeadLetter>,
    /// The files of this shard, with their index in the whole listing.
    files: Vec<(u32, PathBuf)>,
    /// Position into `files`.
    next: usize,
    /// Lines and bytes already read from the current file.
    line: u64,
    byte: u64,
    reader: Option<BufReader<File>>,
}

/// The position saved at a checkpoint. The file name is kept to detect a folder
/// whose content changed between the checkpoint and the restore.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Position {
    next: usize,
    file: Option<String>,
    line: u64,
    byte: u64,
}

fn unreadable(path: &Path, e: impl Into<tidemill_runtime::BoxError>) -> SourceError {
    SourceError::unreadable(path.display().to_string(), e)
}

impl JsonLinesFileSource {
    /// Opens a file or a folder of files, checking now that everything can be read,
    /// so that a wrong path fails before the job starts. Registers each file in
    /// `ctx.catalog` under its index.
    pub fn open(path: impl AsRef<Path>, ctx: &NodeContext) -> Result<Self, SourceError> {
        let path = path.as_ref();
        let meta = std::fs::metadata(path).map_err(|e| unreadable(path, e))?;
        let all = if meta.is_dir() { list_folder(path)? } else { vec![path.to_path_buf()] };
        if all.is_empty() {
            tracing::warn!(path = %path.display(), "file source folder has no files to read");
        }
        let shards = ctx.shards.max(1);
        let mut files = Vec::new();
        for (index, file) in all.into_iter().enumerate().filter(|(i, _)| i % shards == ctx.shard) {
            std::fs::File::open(&file).map_err(|e| unreadable(&file, e))?;
            let index = u32::try_from(index).map_err(|_| unreadable(path, FileSourceError::TooManyFiles))?;
            let info = PartitionInfo { kind: FILE_SOURCE_KIND, name: file.display().to_string(), partition: None };
            ctx.catalog.register(ctx.source_id, PartitionId(index), info);
            files.push((index, file));
        }
        Ok(JsonLinesFileSource {
            source: ctx.source_id,
            stage: ctx.node.clone(),
            max_record_bytes: ctx.run.max_record_bytes,
            too_large: Vec::new(),
            files,
            next: 0,
            line: 0,
            byte: 0,
            reader: None,
        })
    }

    /// The files this source reads, in order.
    pub fn files(&self) -> impl Iterator<Item = &Path> {
        self.files.iter().map(|(_, p)| p.as_path())
    }

    /// Opens the current file at the saved byte offset.
    async fn open_current(&mut self) -> Result<(), SourceError> {
        let path = &self.files[self.next].1;
        let mut file = File::open(path).await.map_err(|e| unreadable(path, e))?;
        if self.byte > 0 {
            let len = file.metadata().await.map_err(|e| unreadable(path, e))?.len();
            if len < self.byte {
                return Err(unreadable(path, FileSourceError::ShorterThanCheckpoint { len, offset: self.byte }));
            }
            file.seek(std::io::SeekFrom::Start(self.byte)).await.map_err(|e| unreadable(path, e))?;
        }
        self.reader = Some(BufReader::with_capacity(READ_BUFFER, file));
        Ok(())
    }
}

/// The regular, non-hidden files of a folder, sorted by file name.
fn list_folder(dir: &Path) -> Result<Vec<PathBuf>, SourceError> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| unreadable(dir, e))? {
        let entry = entry.map_err(|e| unreadable(dir, e))?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        // `metadata` follows symlinks: a link to a file counts as a file.
        let path = entry.path();
        if std::fs::metadata(&path).map_err(|e| unreadable(&path, e))?.is_file() {
            files.push(path);
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

/// One line as read: its bytes (without the line end), or its first bytes if it
/// was longer than the limit.
struct Line {
    bytes: Vec<u8>,
    /// Bytes consumed from the file, line end included.
    consumed: u64,
    /// The line's length without its line end.
    length: u64,
    /// Longer than the limit: `bytes` holds only its start.
    truncated: bool,
}

/// Reads one line of at most `limit` bytes; a longer one is consumed to its end
/// while only its first [`DeadLetter::TRUNCATED_PAYLOAD`] bytes are kept. `None`
/// at the end of the file.
async fn read_line(reader: &mut BufReader<File>, limit: usize) -> std::io::Result<Option<Line>> {
    let mut bytes = Vec::with_capacity(128);
    let mut consumed = 0u64;
    let mut truncated = false;
    let mut ended = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            if consumed == 0 {
                return Ok(None);
            }
            break;
        }
        let (chunk, ends) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        let taken = chunk.len();
        if !truncated {
            if bytes.len() + taken > limit.saturating_add(2) {
                // Over the limit (with room for a `\r\n` end): keep the start only.
                let keep = DeadLetter::TRUNCATED_PAYLOAD.saturating_sub(bytes.len()).min(taken);
                bytes.extend_from_slice(&chunk[..keep]);
                truncated = true;
            } else {
                bytes.extend_from_slice(chunk);
            }
        }
        consumed += taken as u64;
        reader.consume(taken);
        if ends {
            ended = true;
            break;
        }
    }
    let mut end = 0;
    if !truncated {
        if bytes.last() == Some(&b'\n') {
            bytes.pop();
            end += 1;
            if bytes.last() == Some(&b'\r') {
                bytes.pop();
                end += 1;
            }
        }
        if bytes.len() > limit {
            // Fits only counting its line end: still too large.
            truncated = true;
            bytes.truncate(DeadLetter::TRUNCATED_PAYLOAD);
        }
    }
    let length = if truncated { consumed - u64::from(ended) } else { consumed - end };
    Ok(Some(Line { bytes, consumed, length, truncated }))
}

impl Source for JsonLinesFileSource {
    type Out = Vec<u8>;

    const EMITS_DEAD_LETTERS: bool = true;

    async fn poll(&mut self, max_records: usize) -> Result<SourcePoll<Vec<u8>>, SourceError> {
        let now = EventTime::from(Utc::now());
        let mut batch = Vec::with_capacity(max_records.min(4096));
        let mut bytes = 0;
        while batch.len() < max_records && bytes < BATCH_BYTES && self.next < self.files.len() {
            if self.reader.is_none() {
                self.open_current().await?;
            }
            let (index, path) = &self.files[self.next];
            let (index, path) = (*index, path.clone());
            let Some(reader) = self.reader.as_mut() else { continue };
            let line = read_line(reader, self.max_record_bytes).await.map_err(|e| unreadable(&path, e))?;
            let Some(line) = line else {
                // End of this file: on to the next.
                self.reader = None;
                self.next += 1;
                self.line = 0;
                self.byte = 0;
                continue;
            };
            self.byte += line.consumed;
            self.line += 1;
            let origin = Origin { source: self.source, partition: PartitionId(index), offset: Offset(self.line) };
            if line.truncated {
                let letter =
                    DeadLetter::too_large(&line.bytes, line.length, self.max_record_bytes, origin, self.stage.clone());
                self.too_large.push(letter);
                continue;
            }
            bytes += line.bytes.len();
            batch.push(Record::new(line.bytes, now, origin));
        }
        if batch.is_empty() && self.next >= self.files.len() {
            return Ok(SourcePoll::End);
        }
        Ok(SourcePoll::Data(batch))
    }

    fn take_dead_letters(&mut self) -> Vec<DeadLetter> {
        std::mem::take(&mut self.too_large)
    }

    fn snapshot(&self) -> Result<StateSnapshot, SourceError> {
        let file = self.files.get(self.next).map(|(_, p)| p.display().to_string());
        StateSnapshot::encode(&Position { next: self.next, file, line: self.line, byte: self.byte })
            .map_err(SourceError::state)
    }

    fn restore(&mut self, snapshot: &StateSnapshot) -> Result<(), SourceError> {
        let p: Position = snapshot.decode().map_err(SourceError::state)?;
        let file = self.files.get(p.next).map(|(_, f)| f.display().to_string());
        if p.next > self.files.len() || file != p.file {
            return Err(SourceError::state(FileSourceError::InputChanged {
                index: p.next,
                checkpointed: p.file.map(PathBuf::from),
                listed: file.map(PathBuf::from),
            }));
        }
        self.next = p.next;
        self.line = p.line;
        self.byte = p.byte;
        self.reader = None;
        Ok(())
    }
}

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;
