//! `--dump-events DIR`: the generated events as JSON lines, one file per kind
//! (`person.jsonl`, `auction.jsonl`, `bid.jsonl`), for checking a query's result
//! with another engine.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::event::NexmarkEvent;
use super::source::NexmarkConfig;

/// The dump could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the event dump {path}")]
pub struct DumpError {
    /// The file or folder.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// Writes every event `config` generates under `dir` (created if missing).
/// Times are milliseconds since the Unix epoch, as in the events.
pub fn dump_events(config: &NexmarkConfig, dir: &Path) -> Result<(), DumpError> {
    let fail = |path: &Path| {
        let path = path.to_path_buf();
        move |source: std::io::Error| DumpError { path, source }
    };
    std::fs::create_dir_all(dir).map_err(fail(dir))?;
    let open = |kind: &str| -> Result<(PathBuf, BufWriter<File>), DumpError> {
        let path = dir.join(format!("{kind}.jsonl"));
        let file = File::create(&path).map_err(fail(&path))?;
        Ok((path, BufWriter::new(file)))
    };
    let mut people = open("person")?;
    let mut auctions = open("auction")?;
    let mut bids = open("bid")?;
    for event in config.events_iter() {
        let ((path, file), json) = match &event {
            NexmarkEvent::Person(p) => (&mut people, serde_json::to_vec(p)),
            NexmarkEvent::Auction(a) => (&mut auctions, serde_json::to_vec(a)),
            NexmarkEvent::Bid(b) => (&mut bids, serde_json::to_vec(b)),
        };
        let json = json.map_err(|e| fail(path)(e.into()))?;
        file.write_all(&json).and_then(|()| file.write_all(b"\n")).map_err(fail(path))?;
    }
    for (path, mut file) in [people, auctions, bids] {
        file.flush().map_err(fail(&path))?;
    }
    Ok(())
}
