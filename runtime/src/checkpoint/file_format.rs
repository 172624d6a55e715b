//! The bytes of a manifest on disk: a readable JSON header, then the shards'
//! state as raw bytes.
//!
//! ```text
//! TIDEMILL-CHECKPOINT 2\n
//! {"job":..,"lineage":..,"routing":2,"epoch":..,"shards":[{"node":..,..},..],"state_lengths":[n0,n1,..]}\n
//! <state of shard 0: n0 bytes><state of shard 1: n1 bytes>...
//! ```
//!
//! Why not one JSON document: operator state is most of a checkpoint (a dedup
//! table of a few million keys is tens of MB), and inside JSON it had to be
//! base64-encoded, escaped and parsed back at every checkpoint. Here it is copied
//! once; the header stays readable with `head -2`.
//!
//! Format 2 added the lineage and the routing scheme. Format 1 files are refused
//! with a clear error rather than guessed at: resuming them without a lineage
//! would commit under an identity an earlier run may have used.

use serde::{Deserialize, Serialize};

use crate::checkpoint::{FormatError, Manifest};

/// The format this version writes and reads.
pub(crate) const FORMAT: u32 = 2;
const MAGIC_PREFIX: &[u8] = b"TIDEMILL-CHECKPOINT ";

#[derive(Serialize, Deserialize)]
struct Header {
    #[serde(flatten)]
    manifest: Manifest,
    /// The length of each shard's state, in the order of `manifest.shards`.
    state_lengths: Vec<u64>,
}

/// A manifest as file contents.
pub(crate) fn encode(manifest: &Manifest) -> Result<Vec<u8>, FormatError> {
    // `ShardCheckpoint::state` is not serialised: the header carries lengths only.
    let state_lengths = manifest.shards.iter().map(|s| s.state.len() as u64).collect();
    let header = Header { manifest: manifest.clone_without_state(), state_lengths };
    let header = serde_json::to_vec(&header).map_err(FormatError::Encode)?;
    let states: usize = manifest.shards.iter().map(|s| s.state.len()).sum();
    let magic = format!("TIDEMILL-CHECKPOINT {FORMAT}\n");
    let mut bytes = Vec::with_capacity(magic.len() + header.len() + 1 + states);
    bytes.extend_from_slice(magic.as_bytes());
    bytes.extend_from_slice(&header);
    bytes.push(b'\n');
    for shard in &manifest.shards {
        bytes.extend_from_slice(&shard.state);
    }
    Ok(bytes)
}

/// The manifest in file contents made by [`encode`].
pub(crate) fn decode(bytes: &[u8]) -> Result<Manifest, FormatError> {
    let rest = bytes.strip_prefix(MAGIC_PREFIX).ok_or(FormatError::BadMagic)?;
    let line_end = rest.iter().position(|&b| b == b'\n').ok_or(FormatError::Unterminated)?;
    let version = String::from_utf8_lossy(&rest[..line_end]).into_owned();
    if version != FORMAT.to_string() {
        return Err(FormatError::Version { found: version, expected: FORMAT });
    }
    let rest = &rest[line_end + 1..];
    let end = rest.iter().position(|&b| b == b'\n').ok_or(FormatError::Unterminated)?;
    let header: Header = serde_json::from_slice(&rest[..end]).map_err(FormatError::Header)?;
    let mut states = &rest[end + 1..];
    let Header { mut manifest, state_lengths } = header;
    if state_lengths.len() != manifest.shards.len() {
        return Err(FormatError::StateCount { lengths: state_lengths.len(), shards: manifest.shards.len() });
    }
    for (shard, len) in manifest.shards.iter_mut().zip(state_lengths) {
        let truncated = || FormatError::Truncated { node: shard.node.clone(), shard: shard.shard };
        let len = usize::try_from(len).map_err(|_| truncated())?;
        if states.len() < len {
            return Err(truncated());
        }
        let (state, next) = states.split_at(len);
        shard.state = state.to_vec();
        states = next;
    }
    if !states.is_empty() {
        return Err(FormatError::Trailing(states.len()));
    }
    Ok(manifest)
}

impl Manifest {
    /// The manifest with every shard's state left out (for the header).
    fn clone_without_state(&self) -> Manifest {
        let shards = self
            .shards
            .iter()
            .map(|s| crate::checkpoint::ShardCheckpoint {
                node: s.node.clone(),
                shard: s.shard,
                shards: s.shards,
                state: Vec::new(),
                counts: s.counts.clone(),
            })
            .collect();
        Manifest {
            job: self.job.clone(),
            lineage: self.lineage.clone(),
            routing: self.routing,
            epoch: self.epoch,
            finished: self.finished,
            created_at: self.created_at,
            shards,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{LineageId, ShardCheckpoint};
    use crate::counters::ShardCounts;
    use crate::time::Epoch;

    fn manifest() -> Manifest {
        let shard = |node: &str, state: Vec<u8>| ShardCheckpoint {
            node: node.into(),
            shard: 0,
            shards: 1,
            state,
            counts: ShardCounts::default(),
        };
        Manifest {
            job: "j".into(),
            lineage: LineageId::new(),
            routing: 1,
            epoch: Epoch::new(7),
            finished: false,
            created_at: chrono::Utc::now(),
            shards: vec![shard("a", vec![0, 10, 255, b'\n']), shard("b", Vec::new()), shard("c", vec![1; 1000])],
        }
    }

    #[test]
    fn round_trips_and_keeps_the_header_readable() {
        let m = manifest();
        let bytes = encode(&m).unwrap();
        assert_eq!(decode(&bytes).unwrap(), m);
        let text = String::from_utf8_lossy(&bytes);
        assert_eq!(text.lines().next(), Some("TIDEMILL-CHECKPOINT 2"));
        let header = text.lines().nth(1).unwrap();
        assert!(header.contains("\"job\":\"j\"") && header.contains("\"state_lengths\":[4,0,1000]"), "{header}");
        assert!(header.contains(&format!("\"lineage\":\"{}\"", m.lineage)), "{header}");
    }

    #[test]
    fn damaged_files_are_errors() {
        let bytes = encode(&manifest()).unwrap();
        assert!(matches!(decode(&bytes[..bytes.len() - 1]), Err(FormatError::Truncated { .. })));
        assert!(matches!(decode(&bytes[..30]), Err(FormatError::Unterminated)));
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(decode(&longer), Err(FormatError::Trailing(1))));
        assert!(matches!(decode(b"{\"job\":1}"), Err(FormatError::BadMagic)));
        let old = b"TIDEMILL-CHECKPOINT 1\n{\"job\":\"j\"}\n";
        let err = decode(old).unwrap_err();
        assert!(matches!(err, FormatError::Version { .. }), "{err}");
        assert!(err.to_string().contains("format 1"), "{err}");
    }
}
