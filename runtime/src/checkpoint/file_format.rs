//! The bytes of a manifest on disk: a readable JSON header, then the shards'
//! state as raw bytes.
//!
//! ```text
//! TIDEMILL-CHECKPOINT 1\n
//! {"job":..,"epoch":..,"shards":[{"node":..,"state":"",..},..],"state_lengths":[n0,n1,..]}\n
//! <state of shard 0: n0 bytes><state of shard 1: n1 bytes>...
//! ```
//!
//! Why not one JSON document: operator state is most of a checkpoint (a dedup
//! table of a few million keys is tens of MB), and inside JSON it had to be
//! base64-encoded, escaped and parsed back at every checkpoint. Here it is copied
//! once; the header stays readable with `head -2`.

use serde::{Deserialize, Serialize};

use crate::checkpoint::{Manifest, ShardCheckpoint};

const MAGIC: &[u8] = b"TIDEMILL-CHECKPOINT 1\n";

#[derive(Serialize, Deserialize)]
struct Header {
    #[serde(flatten)]
    manifest: Manifest,
    /// The length of each shard's state, in the order of `manifest.shards`.
    state_lengths: Vec<u64>,
}

/// A manifest as file contents.
pub(crate) fn encode(manifest: &Manifest) -> Result<Vec<u8>, String> {
    let shards = manifest
        .shards
        .iter()
        .map(|s| ShardCheckpoint {
            node: s.node.clone(),
            shard: s.shard,
            shards: s.shards,
            state: Vec::new(),
            counts: s.counts.clone(),
        })
        .collect();
    let header_manifest = Manifest {
        job: manifest.job.clone(),
        epoch: manifest.epoch,
        finished: manifest.finished,
        created_at: manifest.created_at,
        shards,
    };
    let state_lengths = manifest.shards.iter().map(|s| s.state.len() as u64).collect();
    let header = serde_json::to_vec(&Header { manifest: header_manifest, state_lengths }).map_err(|e| e.to_string())?;
    let states: usize = manifest.shards.iter().map(|s| s.state.len()).sum();
    let mut bytes = Vec::with_capacity(MAGIC.len() + header.len() + 1 + states);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&header);
    bytes.push(b'\n');
    for shard in &manifest.shards {
        bytes.extend_from_slice(&shard.state);
    }
    Ok(bytes)
}

/// The manifest in file contents made by [`encode`].
pub(crate) fn decode(bytes: &[u8]) -> Result<Manifest, String> {
    let rest = bytes.strip_prefix(MAGIC).ok_or("not a Tidemill checkpoint (bad magic line)")?;
    let end = rest.iter().position(|&b| b == b'\n').ok_or("checkpoint header is not terminated")?;
    let header: Header = serde_json::from_slice(&rest[..end]).map_err(|e| format!("checkpoint header: {e}"))?;
    let mut states = &rest[end + 1..];
    let Header { mut manifest, state_lengths } = header;
    if state_lengths.len() != manifest.shards.len() {
        return Err(format!("{} state lengths for {} shards", state_lengths.len(), manifest.shards.len()));
    }
    for (shard, len) in manifest.shards.iter_mut().zip(state_lengths) {
        let len = usize::try_from(len).map_err(|_| "state length out of range")?;
        if states.len() < len {
            return Err(format!("checkpoint truncated in the state of {}[{}]", shard.node, shard.shard));
        }
        let (state, next) = states.split_at(len);
        shard.state = state.to_vec();
        states = next;
    }
    if !states.is_empty() {
        return Err(format!("{} bytes after the last state", states.len()));
    }
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let header = text.lines().nth(1).unwrap();
        assert!(header.contains("\"job\":\"j\"") && header.contains("\"state_lengths\":[4,0,1000]"), "{header}");
    }

    #[test]
    fn damaged_files_are_errors() {
        let bytes = encode(&manifest()).unwrap();
        assert!(decode(&bytes[..bytes.len() - 1]).unwrap_err().contains("truncated"));
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer).unwrap_err().contains("after the last state"));
        assert!(decode(b"{\"job\":1}").unwrap_err().contains("magic"));
    }
}
