//! A debugging sink: one JSON object per line in a local file.

use std::marker::PhantomData;
use std::path::PathBuf;

use serde::Serialize;
use tidemill_runtime::{Batch, Epoch, NodeContext, Sink, SinkError, StagedOutput};
use tokio::fs::File;
use tokio::io::{AsyncWriteExt as _, BufWriter};

/// Writes each record's value as one line of JSON to a file, for debugging and demos.
///
/// The file is truncated at [`open`](Sink::open) (parent folders are created), lines
/// are buffered and flushed to disk at every [`stage`](Sink::stage); [`commit`](Sink::commit)
/// does nothing.
///
/// **Not exactly-once:** lines are visible as soon as they are flushed, before the
/// checkpoint completes, and a restart truncates the file and rewrites from the last
/// checkpoint. Use `tidemill_delta::DeltaAppendSink` for output that counts.
///
/// ```
/// use tidemill_operators::sink::JsonLinesSink;
/// use tidemill_runtime::testing::VecSource;
/// use tidemill_runtime::{Job, NodeContext};
///
/// let folder = tempfile::tempdir()?;
/// let path = folder.path().join("out/numbers.jsonl");
/// let job = Job::builder("write");
/// job.source("numbers", 1, |ctx: &NodeContext| Ok(VecSource::new(std::sync::Arc::new(vec![1, 2]), ctx)))
///     .sink("file", { let path = path.clone(); move |ctx: &NodeContext| Ok(JsonLinesSink::<u32>::new(&path, ctx)) });
/// tokio::runtime::Runtime::new()?.block_on(job.build()?.run())?;
/// assert_eq!(std::fs::read_to_string(&path)?, "1\n2\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct JsonLinesSink<T> {
    path: PathBuf,
    file: Option<BufWriter<File>>,
    lines: u64,
    _values: PhantomData<fn(T)>,
}

impl<T> std::fmt::Debug for JsonLinesSink<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonLinesSink").field("path", &self.path).field("lines", &self.lines).finish()
    }
}

impl<T: Serialize + Send + Sync + 'static> JsonLinesSink<T> {
    /// A sink writing to `path`. The context is accepted for factory symmetry.
    pub fn new(path: impl Into<PathBuf>, _ctx: &NodeContext) -> Self {
        JsonLinesSink { path: path.into(), file: None, lines: 0, _values: PhantomData }
    }

    /// A factory the runtime can call after every restart.
    pub fn factory(path: impl Into<PathBuf>) -> impl Fn(&NodeContext) -> Self + Clone + Send + Sync + 'static {
        let path = path.into();
        move |ctx: &NodeContext| Self::new(path.clone(), ctx)
    }

    /// The output file.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Lines written since open.
    pub fn lines_written(&self) -> u64 {
        self.lines
    }

    /// How errors name the file.
    fn destination(&self) -> String {
        format!("JSON-lines file {}", self.path.display())
    }

    fn file_mut(&mut self) -> Result<&mut BufWriter<File>, SinkError> {
        let destination = self.destination();
        self.file.as_mut().ok_or_else(|| SinkError::write(destination, WrittenBeforeOpen))
    }
}

/// [`JsonLinesSink`] was written to before [`open`](Sink::open) created its file.
#[derive(Debug, thiserror::Error)]
#[error("written before open()")]
pub struct WrittenBeforeOpen;

impl<T: Serialize + Send + Sync + 'static> Sink for JsonLinesSink<T> {
    type In = T;

    async fn open(&mut self) -> Result<(), SinkError> {
        let unavailable = |e: std::io::Error| SinkError::unavailable(self.destination(), e);
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent).await.map_err(unavailable)?;
        }
        let file = File::create(&self.path).await.map_err(unavailable)?;
        self.file = Some(BufWriter::new(file));
        self.lines = 0;
        Ok(())
    }

    async fn write(&mut self, batch: Batch<T>) -> Result<(), SinkError> {
        let mut text = Vec::with_capacity(batch.len() * 64);
        for record in &batch {
            serde_json::to_writer(&mut text, &record.value).map_err(|e| SinkError::write(self.destination(), e))?;
            text.push(b'\n');
        }
        let destination = self.destination();
        self.file_mut()?.write_all(&text).await.map_err(|e| SinkError::write(destination, e))?;
        self.lines += batch.len() as u64;
        Ok(())
    }

    async fn stage(&mut self, _epoch: Epoch) -> Result<StagedOutput, SinkError> {
        let destination = self.destination();
        let io = |e: std::io::Error| SinkError::write(destination.clone(), e);
        let file = self.file_mut()?;
        file.flush().await.map_err(io)?;
        file.get_ref().sync_data().await.map_err(io)?;
        Ok(StagedOutput::default())
    }

    async fn commit(&mut self, _epoch: Epoch, _staged: StagedOutput) -> Result<(), SinkError> {
        Ok(())
    }
}
