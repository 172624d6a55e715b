//! [`LineageId`]: which run of a job a checkpoint, and the output committed with
//! it, belongs to.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The identity of one line of checkpoints: created when a job starts without a
/// checkpoint, recorded in every manifest, and kept by every restart and every
/// process that resumes those checkpoints.
///
/// Sinks put it into the identity of their transactions (a Delta sink commits
/// under `<app id>@<lineage>`), so that a new run of a job, whose epochs start at
/// 1 again, can never be mistaken for a replay of an earlier run and have its
/// commits skipped as "already committed".
///
/// ```
/// use tidemill_runtime::checkpoint::LineageId;
///
/// let a = LineageId::new();
/// let b = LineageId::new();
/// assert_ne!(a, b);
/// assert_eq!(a.as_str().len(), 32);
/// assert_eq!(a.as_str().parse::<LineageId>().unwrap(), a);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LineageId(String);

impl LineageId {
    /// A new, random lineage (128 bits, as 32 lower-case hex digits).
    pub fn new() -> Self {
        LineageId(uuid::Uuid::new_v4().simple().to_string())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for LineageId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for LineageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A lineage id that is not 32 lower-case hex digits.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a lineage id (32 lower-case hex digits): {0:?}")]
pub struct BadLineageId(String);

impl std::str::FromStr for LineageId {
    type Err = BadLineageId;

    fn from_str(s: &str) -> Result<Self, BadLineageId> {
        let hex = s.len() == 32 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if hex {
            Ok(LineageId(s.to_string()))
        } else {
            Err(BadLineageId(s.to_string()))
        }
    }
}

impl TryFrom<String> for LineageId {
    type Error = BadLineageId;

    fn try_from(s: String) -> Result<Self, BadLineageId> {
        s.parse()
    }
}

impl From<LineageId> for String {
    fn from(id: LineageId) -> String {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_32_hex_digits_are_a_lineage() {
        assert!("0123456789abcdef0123456789abcdef".parse::<LineageId>().is_ok());
        assert!("0123456789ABCDEF0123456789abcdef".parse::<LineageId>().is_err());
        assert!("abc".parse::<LineageId>().is_err());
        let json = serde_json::to_string(&LineageId::new()).unwrap();
        assert_eq!(json.len(), 34);
        assert!(serde_json::from_str::<LineageId>("\"x\"").is_err());
    }
}
