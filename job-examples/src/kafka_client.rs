//! How the example binaries take Kafka client properties, the way Kafka users set
//! them: a `client.properties` file (`--kafka-config`), `TIDEMILL_KAFKA_*`
//! variables, repeated `--kafka-property key=value`, and (in `order-aggregates`)
//! a `[kafka.properties]` table in the TOML config. Every Kafka client of the
//! job gets the merged set.
//!
//! Precedence, lowest first: the TOML table, the file, the variables, the
//! command line. A value may be `${env:NAME}` or `${file:PATH}` to keep a
//! secret off the command line.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tidemill_kafka::properties::{ClientProperties, PropertiesFileError};

/// The brokers when neither `--brokers` nor a `bootstrap.servers` property names any.
pub const DEFAULT_BROKERS: &str = "127.0.0.1:9092";

/// Takes `bootstrap.servers` out of `props` (the job sets that property from its
/// brokers) and returns the brokers: `explicit` (`--brokers` or
/// `KAFKA_BOOTSTRAP_SERVERS`) if given, else that property (a `client.properties`
/// file usually has one), else [`DEFAULT_BROKERS`].
///
/// ```
/// use tidemill_job_examples::kafka_client::brokers;
/// use tidemill_kafka::ClientProperties;
/// let mut props: ClientProperties = [("bootstrap.servers", "kafka-1:9094")].into_iter().collect();
/// assert_eq!(brokers(None, &mut props.clone()), "kafka-1:9094");
/// assert_eq!(brokers(Some("other:9092"), &mut props), "other:9092");
/// assert!(props.is_empty());
/// ```
pub fn brokers(explicit: Option<&str>, props: &mut ClientProperties) -> String {
    let from_properties = props.remove("bootstrap.servers");
    explicit.map(str::to_string).or(from_properties).unwrap_or_else(|| DEFAULT_BROKERS.to_string())
}

/// The variables' prefix: `TIDEMILL_KAFKA_SASL_PASSWORD` is `sasl.password`.
pub const ENV_PREFIX: &str = "TIDEMILL_KAFKA_";

/// Variables with the prefix that are other settings, not client properties.
pub const RESERVED_VARIABLES: [&str; 1] = ["TIDEMILL_KAFKA_CONSUMERS"];

/// The Kafka client options of a binary's command line.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct KafkaClientArgs {
    /// Kafka client properties file, in the client.properties format of Kafka's
    /// tools (`security.protocol=SASL_SSL`, `sasl.mechanism=...`,
    /// `ssl.ca.location=...`), for every Kafka client the job creates. Variables
    /// TIDEMILL_KAFKA_<NAME> (e.g. TIDEMILL_KAFKA_SASL_PASSWORD) and
    /// --kafka-property override it.
    #[arg(long = "kafka-config", value_name = "FILE")]
    pub config_file: Option<PathBuf>,

    /// A librdkafka client property for every Kafka client (repeatable), e.g.
    /// `--kafka-property security.protocol=SASL_SSL`; a value `${env:NAME}` or
    /// `${file:PATH}` is read from there. Properties the job sets itself (group.id,
    /// offsets, transactions) are refused.
    #[arg(long = "kafka-property", visible_alias = "property", value_name = "KEY=VALUE")]
    pub properties: Vec<String>,
}

/// `[kafka]` in a TOML config: `[kafka.properties]` holds client properties.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaClientSettings {
    /// librdkafka client properties for every Kafka client of the job.
    pub properties: ClientProperties,
}

/// Kafka client options that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KafkaClientArgsError {
    /// The `--kafka-config` file.
    #[error(transparent)]
    File(#[from] PropertiesFileError),
    /// A `--kafka-property` that is not `KEY=VALUE`. The argument is not shown: it
    /// may hold a secret.
    #[error("--kafka-property number {0} is not KEY=VALUE")]
    NotKeyValue(usize),
}

impl KafkaClientArgs {
    /// The properties of every source, over `base` (the TOML table): `base`, then
    /// the file, then `TIDEMILL_KAFKA_*` in `vars`, then `--kafka-property`.
    ///
    /// ```
    /// use tidemill_job_examples::kafka_client::KafkaClientArgs;
    /// use tidemill_kafka::ClientProperties;
    /// let args = KafkaClientArgs { config_file: None, properties: vec!["sasl.username=alice".into()] };
    /// let vars = [("TIDEMILL_KAFKA_SASL_USERNAME".to_string(), "bob".to_string())];
    /// let merged = args.merge(&ClientProperties::new(), vars).unwrap();
    /// assert_eq!(merged.get("sasl.username"), Some("alice"));
    /// ```
    pub fn merge(
        &self,
        base: &ClientProperties,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<ClientProperties, KafkaClientArgsError> {
        let mut merged = base.clone();
        if let Some(path) = &self.config_file {
            merged.overlay(&ClientProperties::from_properties_file(path)?);
        }
        merged.overlay(&ClientProperties::from_env_vars(ENV_PREFIX, &RESERVED_VARIABLES, vars));
        for (i, arg) in self.properties.iter().enumerate() {
            match arg.split_once('=') {
                Some((key, value)) if !key.trim().is_empty() => merged.insert(key.trim(), value),
                _ => return Err(KafkaClientArgsError::NotKeyValue(i + 1)),
            };
        }
        Ok(merged)
    }

    /// [`merge`](Self::merge) with this process's environment.
    pub fn merge_with_env(&self, base: &ClientProperties) -> Result<ClientProperties, KafkaClientArgsError> {
        self.merge(base, std::env::vars())
    }

    /// Whether any option was given.
    pub fn is_given(&self) -> bool {
        self.config_file.is_some() || !self.properties.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn toml_then_file_then_variables_then_command_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("client.properties");
        std::fs::write(&file, "a=file\nb=file\nc=file\n").unwrap();
        let base: ClientProperties = [("a", "toml"), ("b", "toml"), ("c", "toml"), ("d", "toml")].into_iter().collect();
        let args = KafkaClientArgs { config_file: Some(file), properties: vec!["a=cli".into()] };
        let merged =
            args.merge(&base, vars(&[("TIDEMILL_KAFKA_A", "env"), ("TIDEMILL_KAFKA_B", "env"), ("OTHER_C", "x")]));
        let merged = merged.unwrap();
        assert_eq!(
            [merged.get("a"), merged.get("b"), merged.get("c"), merged.get("d")],
            [Some("cli"), Some("env"), Some("file"), Some("toml")]
        );
    }

    #[test]
    fn the_consumers_variable_is_no_property_and_a_bad_argument_is_not_echoed() {
        let merged = KafkaClientArgs::default()
            .merge(&ClientProperties::new(), vars(&[("TIDEMILL_KAFKA_CONSUMERS", "2")]))
            .unwrap();
        assert!(merged.is_empty());
        let args = KafkaClientArgs { config_file: None, properties: vec!["sasl.password:hunter2".into()] };
        let e = args.merge(&ClientProperties::new(), []).unwrap_err().to_string();
        assert!(!e.contains("hunter2"), "{e}");
    }
}
