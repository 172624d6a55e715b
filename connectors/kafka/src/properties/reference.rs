//! Property values that name where the value is: `${env:NAME}` and
//! `${file:PATH}`, after Kafka's own config providers, so that a secret need not
//! be written on the command line or in a config file.

use std::path::PathBuf;

/// A reference to the value of a property that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    /// `${env:NAME}` names a variable that is not set (or not UTF-8).
    #[error("property {key}: environment variable {variable} is not set")]
    MissingVariable {
        /// The property.
        key: String,
        /// The variable.
        variable: String,
    },
    /// `${file:PATH}` names a file that cannot be read.
    #[error("property {key}: cannot read {}", path.display())]
    Unreadable {
        /// The property.
        key: String,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `${...}` that is neither form.
    #[error("property {key}: unknown reference {reference:?} (expected ${{env:NAME}} or ${{file:PATH}})")]
    Unknown {
        /// The property.
        key: String,
        /// The reference, without the value of anything.
        reference: String,
    },
}

/// The value of property `key` given as `raw`: the variable's value for
/// `${env:NAME}`, the file's contents without trailing line breaks for
/// `${file:PATH}`, `raw` itself for anything else.
pub(crate) fn resolve(key: &str, raw: &str) -> Result<String, ReferenceError> {
    let Some(inner) = raw.trim().strip_prefix("${").and_then(|r| r.strip_suffix('}')) else {
        return Ok(raw.to_string());
    };
    if let Some(variable) = inner.strip_prefix("env:") {
        return std::env::var(variable)
            .map_err(|_| ReferenceError::MissingVariable { key: key.to_string(), variable: variable.to_string() });
    }
    if let Some(path) = inner.strip_prefix("file:") {
        let path = PathBuf::from(path);
        return match std::fs::read_to_string(&path) {
            Ok(text) => Ok(text.trim_end_matches(['\r', '\n']).to_string()),
            Err(source) => Err(ReferenceError::Unreadable { key: key.to_string(), path, source }),
        };
    }
    // Only the reference's kind: whatever follows might be a mistyped secret.
    let kind = inner.split(':').next().unwrap_or_default();
    Err(ReferenceError::Unknown { key: key.to_string(), reference: format!("${{{kind}:...}}") })
}

/// Whether `raw` is a reference (and so safe to show: it names, not holds, a value).
pub(crate) fn is_reference(raw: &str) -> bool {
    let raw = raw.trim();
    raw.starts_with("${env:") || raw.starts_with("${file:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_and_file_references_are_read_and_plain_values_kept() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "from-file\n").unwrap();
        assert_eq!(resolve("k", &format!("${{file:{}}}", file.display())).unwrap(), "from-file");
        assert_eq!(resolve("k", "${env:PATH}").unwrap(), std::env::var("PATH").unwrap());
        assert_eq!(resolve("k", "plain").unwrap(), "plain");
        assert!(matches!(
            resolve("k", "${env:TIDEMILL_NOT_SET_ANYWHERE}"),
            Err(ReferenceError::MissingVariable { .. })
        ));
        assert!(matches!(resolve("k", "${file:/nonexistent/x}"), Err(ReferenceError::Unreadable { .. })));
        let unknown = resolve("k", "${vault:hunter2}").unwrap_err().to_string();
        assert!(!unknown.contains("hunter2"), "{unknown}");
    }
}
