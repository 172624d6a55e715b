//! Which checkpoint a job starts from ([`FromCheckpoint`]).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::checkpoint::{CheckpointError, CheckpointStore, Manifest, ManifestMismatch};
use crate::time::Epoch;

/// Which checkpoint of the store a job resumes.
///
/// `Latest` is what a restart wants. `Previous` and `Epoch` exist for when the
/// newest manifest cannot be used (damaged, truncated): the job resumes the
/// chosen one, and every sink first undoes what it committed for later epochs of
/// the same lineage, so the output is exactly once again (see
/// `docs/guarantees.md`).
///
/// ```
/// use tidemill_runtime::checkpoint::FromCheckpoint;
///
/// assert_eq!("previous".parse::<FromCheckpoint>().unwrap(), FromCheckpoint::Previous);
/// assert_eq!("12".parse::<FromCheckpoint>().unwrap().to_string(), "epoch 12");
/// assert!("newest".parse::<FromCheckpoint>().is_err());
/// ```
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum FromCheckpoint {
    /// The manifest with the highest epoch (an error if it cannot be read).
    #[default]
    Latest,
    /// The manifest before the highest one.
    Previous,
    /// The manifest of exactly this epoch.
    Epoch(Epoch),
}

impl fmt::Display for FromCheckpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FromCheckpoint::Latest => f.write_str("latest"),
            FromCheckpoint::Previous => f.write_str("previous"),
            FromCheckpoint::Epoch(e) => write!(f, "epoch {e}"),
        }
    }
}

/// Text that is neither `latest`, `previous` nor an epoch number.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("expected `latest`, `previous` or an epoch number, got {0:?}")]
pub struct BadFromCheckpoint(String);

impl std::str::FromStr for FromCheckpoint {
    type Err = BadFromCheckpoint;

    fn from_str(s: &str) -> Result<Self, BadFromCheckpoint> {
        match s {
            "latest" => Ok(FromCheckpoint::Latest),
            "previous" => Ok(FromCheckpoint::Previous),
            n => {
                n.parse::<u64>().map(|n| FromCheckpoint::Epoch(Epoch::new(n))).map_err(|_| BadFromCheckpoint(s.into()))
            }
        }
    }
}

/// What a job finds in its store when it starts.
pub(crate) struct Selected {
    /// The manifest to resume, if any.
    pub(crate) manifest: Option<Manifest>,
    /// The highest epoch in the store (any manifest, readable or not): new
    /// epochs are numbered after it, so no manifest is ever written twice.
    pub(crate) highest: Epoch,
}

/// Loads the manifest `from` names and checks it belongs to `job` and `routing`.
pub(crate) async fn select(
    store: &dyn CheckpointStore,
    from: FromCheckpoint,
    job: &str,
    routing: u32,
) -> Result<Selected, CheckpointError> {
    let epochs = store.epochs().await?;
    let highest = epochs.last().copied().unwrap_or(Epoch::ZERO);
    let missing = |wanted: String| CheckpointError::Missing {
        location: store.location(),
        wanted,
        available: format!("{:?}", epochs.iter().map(|e| e.get()).collect::<Vec<_>>()),
    };
    let epoch = match from {
        FromCheckpoint::Latest => epochs.last().copied(),
        FromCheckpoint::Previous if epochs.len() >= 2 => Some(epochs[epochs.len() - 2]),
        FromCheckpoint::Previous => return Err(missing("previous (it needs two)".into())),
        FromCheckpoint::Epoch(e) if epochs.contains(&e) => Some(e),
        FromCheckpoint::Epoch(e) => return Err(missing(format!("epoch {e}"))),
    };
    let Some(epoch) = epoch else { return Ok(Selected { manifest: None, highest }) };
    let manifest = store.load(epoch).await?;
    if manifest.job != job {
        return Err(CheckpointError::Mismatch {
            epoch,
            reason: ManifestMismatch::OtherJob {
                location: store.location(),
                found: manifest.job,
                expected: job.to_string(),
            },
        });
    }
    if manifest.routing != routing {
        return Err(CheckpointError::Mismatch {
            epoch,
            reason: ManifestMismatch::Routing { found: manifest.routing, expected: routing },
        });
    }
    Ok(Selected { manifest: Some(manifest), highest })
}
