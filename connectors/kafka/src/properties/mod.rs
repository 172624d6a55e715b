//! [`ClientProperties`]: the librdkafka properties a job gives every Kafka client
//! it creates (source consumers, the group member, the transactional sink's
//! producer and marker consumer, metadata and admin clients), so that one set of
//! settings reaches a secured cluster (TLS, SASL) from every client.
//!
//! Values may name where they are instead of holding them, as Kafka's config
//! providers do: `${env:NAME}` reads an environment variable, `${file:PATH}` a
//! file, when a client is created. Secrets ([`is_secret`]) never leave as text:
//! `Debug`, `Serialize` and every error show them as [`REDACTED`].
//!
//! ```
//! use tidemill_kafka::properties::ClientProperties;
//! let mut props = ClientProperties::new();
//! props.insert("security.protocol", "SASL_SSL");
//! props.insert("sasl.password", "hunter2");
//! props.insert("ssl.key.password", "${env:KEY_PASSWORD}");
//! let shown = format!("{props:?}");
//! assert!(shown.contains("SASL_SSL") && shown.contains("${env:KEY_PASSWORD}"));
//! assert!(!shown.contains("hunter2"));
//! ```

mod reference;
mod secret;
mod sources;

use std::collections::BTreeMap;
use std::fmt;

use rdkafka::ClientConfig;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use reference::ReferenceError;
pub use secret::{is_secret, Redactor, REDACTED};
pub use sources::{env_property_name, PropertiesFileError};

/// librdkafka client properties, by name. Keys are trimmed; a later insert of a
/// key replaces the earlier value.
///
/// From TOML, both `"security.protocol" = "SSL"` and the unquoted
/// `security.protocol = "SSL"` (a nested table to TOML) are read as the property
/// `security.protocol`; numbers and booleans become their text.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ClientProperties(BTreeMap<String, String>);

/// A client property that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PropertyError {
    /// A property the client sets itself (exactly-once or offset handling
    /// depends on it).
    #[error("property {key:?} is set by the {owner} and cannot be overridden")]
    Fixed {
        /// The property.
        key: String,
        /// Which client sets it.
        owner: &'static str,
    },
    /// A NUL byte, which librdkafka cannot take.
    #[error("property {key:?} contains a NUL byte")]
    Nul {
        /// The property.
        key: String,
    },
    /// A `${env:...}` or `${file:...}` value that cannot be read.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
}

impl ClientProperties {
    /// No properties.
    pub fn new() -> Self {
        ClientProperties::default()
    }

    /// Sets `key` to `value` (a value or a reference); returns the value it replaced.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) -> Option<String> {
        self.0.insert(key.into().trim().to_string(), value.into())
    }

    /// Removes `key`; returns its value as given.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.0.remove(key)
    }

    /// The value of `key` as given (a reference is not read).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// The property names.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Whether there are no properties.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every property of `other`, replacing the ones set here: `base.overlay(&higher)`.
    pub fn overlay(&mut self, other: &ClientProperties) {
        self.0.extend(other.0.iter().map(|(k, v)| (k.clone(), v.clone())));
    }

    /// Checks what can be checked before a client exists: none of `fixed` (the
    /// properties `owner` sets itself) is given, no NUL bytes, and every reference
    /// can be read now.
    pub fn check(&self, fixed: &[&str], owner: &'static str) -> Result<(), PropertyError> {
        if let Some(key) = self.keys().find(|k| fixed.contains(k)) {
            return Err(PropertyError::Fixed { key: key.to_string(), owner });
        }
        self.resolved().map(|_| ())
    }

    /// Sets every property on `config`, references read now.
    pub fn apply_to(&self, config: &mut ClientConfig) -> Result<(), PropertyError> {
        for (key, value) in self.resolved()? {
            config.set(key, value);
        }
        Ok(())
    }

    /// A [`Redactor`] of the secrets' values (references read), for text a
    /// client library formats.
    pub fn redactor(&self) -> Result<Redactor, PropertyError> {
        let resolved = self.resolved()?;
        Ok(Redactor::new(resolved.into_iter().filter(|(k, _)| is_secret(k)).map(|(_, v)| v)))
    }

    /// Every property with its value, references read.
    fn resolved(&self) -> Result<Vec<(String, String)>, PropertyError> {
        self.0
            .iter()
            .map(|(key, raw)| {
                let value = reference::resolve(key, raw)?;
                if key.contains('\0') || value.contains('\0') {
                    return Err(PropertyError::Nul { key: key.replace('\0', "\\0") });
                }
                Ok((key.clone(), value))
            })
            .collect()
    }

    /// The properties as they may be shown: secrets as [`REDACTED`], references
    /// as written.
    pub fn shown(&self) -> BTreeMap<&str, &str> {
        self.0
            .iter()
            .map(|(k, v)| {
                let shown = if is_secret(k) && !reference::is_reference(v) { REDACTED } else { v.as_str() };
                (k.as_str(), shown)
            })
            .collect()
    }
}

impl fmt::Debug for ClientProperties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.shown()).finish()
    }
}

/// Secrets are written as [`REDACTED`]: a serialised configuration (a report, a
/// stored copy) never holds one. Use references to keep a config file secret-free.
impl Serialize for ClientProperties {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.shown().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ClientProperties {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let tree = BTreeMap::<String, Node>::deserialize(deserializer)?;
        let mut props = ClientProperties::new();
        flatten("", tree, &mut props);
        Ok(props)
    }
}

/// A TOML/JSON value under `[kafka.properties]`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Node {
    Text(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
    Table(BTreeMap<String, Node>),
}

fn flatten(prefix: &str, tree: BTreeMap<String, Node>, into: &mut ClientProperties) {
    for (key, node) in tree {
        let key = if prefix.is_empty() { key } else { format!("{prefix}.{key}") };
        match node {
            Node::Text(v) => into.insert(key, v),
            Node::Integer(v) => into.insert(key, v.to_string()),
            Node::Float(v) => into.insert(key, v.to_string()),
            Node::Bool(v) => into.insert(key, v.to_string()),
            Node::Table(sub) => {
                flatten(&key, sub, into);
                None
            }
        };
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for ClientProperties {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut props = ClientProperties::new();
        for (k, v) in iter {
            props.insert(k, v);
        }
        props
    }
}

impl<K: Into<String>, V: Into<String>> Extend<(K, V)> for ClientProperties {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_dotted_keys_and_quoted_keys_are_the_same_property() {
        let props: ClientProperties = toml::from_str(
            r#"
            "security.protocol" = "SASL_SSL"
            sasl.mechanism = "SCRAM-SHA-512"
            linger.ms = 5
            enable.ssl.certificate.verification = true
            "#,
        )
        .unwrap();
        assert_eq!(props.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(props.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(props.get("linger.ms"), Some("5"));
        assert_eq!(props.get("enable.ssl.certificate.verification"), Some("true"));
    }

    #[test]
    fn secrets_are_redacted_when_serialised_but_references_are_shown() {
        let props: ClientProperties =
            [("sasl.password", "hunter2"), ("ssl.key.password", "${env:KEY_PW}"), ("sasl.username", "alice")]
                .into_iter()
                .collect();
        let json = serde_json::to_string(&props).unwrap();
        assert!(!json.contains("hunter2"), "{json}");
        assert!(json.contains(r#""sasl.password":"***""#) && json.contains("${env:KEY_PW}") && json.contains("alice"));
    }

    #[test]
    fn fixed_properties_nul_bytes_and_missing_references_are_refused_without_the_value() {
        let fixed: ClientProperties = [("group.id", "x")].into_iter().collect();
        assert!(matches!(fixed.check(&["group.id"], "source"), Err(PropertyError::Fixed { .. })));
        let nul: ClientProperties = [("sasl.password", "a\0hunter2")].into_iter().collect();
        let e = nul.check(&[], "source").unwrap_err().to_string();
        assert!(!e.contains("hunter2"), "{e}");
        let missing: ClientProperties = [("sasl.password", "${env:TIDEMILL_UNSET_FOR_TEST}")].into_iter().collect();
        assert!(matches!(missing.check(&[], "source"), Err(PropertyError::Reference(_))));
    }

    #[test]
    fn applied_properties_hold_the_referenced_values() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "s3cr3t-value\n").unwrap();
        let props: ClientProperties =
            [("sasl.password", format!("${{file:{}}}", file.display()))].into_iter().collect();
        let mut config = ClientConfig::new();
        props.apply_to(&mut config).unwrap();
        assert_eq!(config.get("sasl.password"), Some("s3cr3t-value"));
        assert_eq!(props.redactor().unwrap().redact("x s3cr3t-value y"), "x *** y");
    }
}
