//! Where client properties come from besides code and TOML: a Java/librdkafka
//! `client.properties` file, and `<PREFIX>_*` environment variables.

use std::path::{Path, PathBuf};

use super::ClientProperties;

/// A properties file that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum PropertiesFileError {
    /// The file cannot be opened.
    #[error("cannot read Kafka client properties from {}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not in the properties format. The parser's own message is not
    /// kept: it may quote the offending line, which may hold a secret.
    #[error("{}: line {line} is not a valid property line", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The line number.
        line: usize,
    },
}

impl ClientProperties {
    /// The properties of a `client.properties` file, in the format Kafka's Java
    /// clients and tools read (`key=value`, `key: value` or `key value` lines,
    /// `#` and `!` comments, `\` continuations and escapes). The `java-properties`
    /// crate parses it.
    pub fn from_properties_file(path: &Path) -> Result<Self, PropertiesFileError> {
        let file = std::fs::File::open(path)
            .map_err(|source| PropertiesFileError::Unreadable { path: path.to_path_buf(), source })?;
        let map = java_properties::read(std::io::BufReader::new(file)).map_err(|e| PropertiesFileError::Syntax {
            path: path.to_path_buf(),
            line: e.line_number().unwrap_or_default(),
        })?;
        Ok(map.into_iter().collect())
    }

    /// The properties given as environment variables `<prefix><NAME>`, the name
    /// mapped by [`env_property_name`]; `reserved` variables (other settings that
    /// share the prefix) are not properties.
    ///
    /// ```
    /// use tidemill_kafka::properties::ClientProperties;
    /// let vars = [("TIDEMILL_KAFKA_SASL_MECHANISM", "PLAIN"), ("TIDEMILL_KAFKA_CONSUMERS", "2"), ("HOME", "/root")];
    /// let props = ClientProperties::from_env_vars(
    ///     "TIDEMILL_KAFKA_",
    ///     &["TIDEMILL_KAFKA_CONSUMERS"],
    ///     vars.iter().map(|(k, v)| (k.to_string(), v.to_string())),
    /// );
    /// assert_eq!(props.get("sasl.mechanism"), Some("PLAIN"));
    /// assert_eq!(props.keys().count(), 1);
    /// ```
    pub fn from_env_vars(prefix: &str, reserved: &[&str], vars: impl IntoIterator<Item = (String, String)>) -> Self {
        vars.into_iter()
            .filter(|(name, _)| !reserved.contains(&name.as_str()))
            .filter_map(|(name, value)| {
                let rest = name.strip_prefix(prefix).filter(|r| !r.is_empty())?;
                Some((env_property_name(rest), value))
            })
            .collect()
    }
}

/// The property an environment variable's name (after its prefix) stands for,
/// as Confluent's images map `KAFKA_*`: lower case, `_` for `.`, `__` for `_`.
///
/// ```
/// use tidemill_kafka::properties::env_property_name;
/// assert_eq!(env_property_name("SASL_PASSWORD"), "sasl.password");
/// assert_eq!(env_property_name("SSL__KEY_PEM"), "ssl_key.pem");
/// ```
pub fn env_property_name(name: &str) -> String {
    name.to_ascii_lowercase().split("__").map(|part| part.replace('_', ".")).collect::<Vec<_>>().join("_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_properties_file_reads_as_kafka_tools_read_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("client.properties");
        std::fs::write(
            &path,
            "# comment\n! other comment\nsecurity.protocol=SASL_SSL\nsasl.mechanism: SCRAM-SHA-512\n\
             sasl.username alice\nssl.ca.location=/etc/ca\\\n  .pem\n",
        )
        .unwrap();
        let props = ClientProperties::from_properties_file(&path).unwrap();
        assert_eq!(props.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(props.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(props.get("sasl.username"), Some("alice"));
        assert_eq!(props.get("ssl.ca.location"), Some("/etc/ca.pem"));
        assert!(matches!(
            ClientProperties::from_properties_file(&dir.path().join("missing")),
            Err(PropertiesFileError::Unreadable { .. })
        ));
    }
}
