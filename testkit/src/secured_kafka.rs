//! The shared test broker's SASL_SSL listener (SCRAM-SHA-512, a self-signed CA),
//! which `scripts/kafka start` opens beside the plain one.

use std::path::PathBuf;

/// How a client reaches the secured listener.
#[derive(Clone, Debug)]
pub struct SecuredListener {
    /// `host:port` of the SASL_SSL listener.
    pub bootstrap: String,
    /// Its `client.properties` (protocol, mechanism, user, password, CA).
    pub client_config: PathBuf,
}

impl SecuredListener {
    /// `KAFKA_SECURE_BOOTSTRAP` and `KAFKA_SECURE_CLIENT_CONFIG`, or what
    /// `scripts/kafka secure-env` prints for the local broker. Panics with the
    /// script's message when there is none: a test of the secured listener must
    /// not pass without one.
    pub fn get() -> Self {
        if let (Ok(bootstrap), Ok(config)) =
            (std::env::var("KAFKA_SECURE_BOOTSTRAP"), std::env::var("KAFKA_SECURE_CLIENT_CONFIG"))
        {
            return SecuredListener { bootstrap, client_config: PathBuf::from(config) };
        }
        let exports = crate::script_exports(
            "kafka",
            "secure-env",
            "set KAFKA_SECURE_BOOTSTRAP and KAFKA_SECURE_CLIENT_CONFIG for an external broker",
        );
        let value = |name: &str| {
            exports
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("scripts/kafka secure-env printed no {name}: {exports:?}"))
        };
        SecuredListener {
            bootstrap: value("KAFKA_SECURE_BOOTSTRAP"),
            client_config: value("KAFKA_SECURE_CLIENT_CONFIG").into(),
        }
    }

    /// A property of the client configuration (e.g. `sasl.password`).
    pub fn property(&self, key: &str) -> String {
        self.properties()
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("{} has no {key}", self.client_config.display()))
    }

    /// The client configuration's `key=value` lines, comments left out.
    pub fn properties(&self) -> Vec<(String, String)> {
        let text = std::fs::read_to_string(&self.client_config)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", self.client_config.display()));
        text.lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect()
    }
}
