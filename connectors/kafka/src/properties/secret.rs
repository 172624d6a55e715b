//! Which client properties are secrets, and how their values are hidden.

/// What a secret's value is shown as wherever configuration is printed, logged,
/// serialised or put in an error.
pub const REDACTED: &str = "***";

/// Properties that hold a secret without saying so in their name: a JAAS line or
/// OAUTHBEARER settings embed passwords, a PEM key is the key itself.
const SECRET_PROPERTIES: [&str; 4] = ["sasl.jaas.config", "sasl.oauthbearer.config", "ssl.key.pem", "ssl_key.pem"];

/// Whether the property `key` holds a secret: any name ending in `password` or
/// `secret` (`sasl.password`, `ssl.key.password`, `ssl.keystore.password`,
/// `sasl.oauthbearer.client.secret`, ...), and the few named in
/// `SECRET_PROPERTIES`. Case does not matter.
///
/// ```
/// use tidemill_kafka::properties::is_secret;
/// assert!(is_secret("sasl.password"));
/// assert!(is_secret("ssl.keystore.password"));
/// assert!(is_secret("sasl.oauthbearer.client.secret"));
/// assert!(is_secret("sasl.jaas.config"));
/// assert!(!is_secret("sasl.username"));
/// ```
pub fn is_secret(key: &str) -> bool {
    let key = key.trim().to_ascii_lowercase();
    key.ends_with("password") || key.ends_with("secret") || SECRET_PROPERTIES.contains(&key.as_str())
}

/// Replaces every occurrence of the given secret values in a text with
/// [`REDACTED`]: the last line of defence for text Tidemill does not format
/// itself (a client library's error or log line that quotes a value).
///
/// ```
/// use tidemill_kafka::properties::Redactor;
/// let r = Redactor::new(["hunter2"]);
/// assert_eq!(r.redact("login with hunter2 failed"), "login with *** failed");
/// ```
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    /// Longest first, so that a secret containing another is replaced whole.
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor of these values; values shorter than 4 characters are left
    /// out (redacting every `a` or `1` would garble text and hide nothing).
    pub fn new<S: Into<String>>(secrets: impl IntoIterator<Item = S>) -> Self {
        let mut secrets: Vec<String> = secrets.into_iter().map(Into::into).filter(|s| s.chars().count() >= 4).collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor { secrets }
    }

    /// This redactor with more secret values (the same rules as [`new`](Self::new)).
    ///
    /// ```
    /// use tidemill_kafka::properties::Redactor;
    /// let r = Redactor::new(["hunter2"]).and(["s3-secret-key"]);
    /// assert_eq!(r.redact("hunter2 s3-secret-key"), "*** ***");
    /// ```
    pub fn and<S: Into<String>>(self, more: impl IntoIterator<Item = S>) -> Self {
        Redactor::new(self.secrets.into_iter().chain(more.into_iter().map(Into::into)))
    }

    /// Whether there is nothing to redact.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// `text` with every secret replaced by [`REDACTED`].
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_ending_in_password_or_secret_are_secrets_in_any_case() {
        for key in ["sasl.password", "ssl.key.password", "SSL.KEYSTORE.PASSWORD", "my.client_secret", "ssl.key.pem"] {
            assert!(is_secret(key), "{key}");
        }
        for key in ["security.protocol", "sasl.mechanism", "ssl.ca.location", "password.hint.length"] {
            assert!(!is_secret(key), "{key}");
        }
    }

    #[test]
    fn the_longest_secret_is_replaced_first_and_short_ones_are_ignored() {
        let r = Redactor::new(["abcd", "abcdefgh", "x"]);
        assert_eq!(r.redact("abcdefgh abcd x"), "*** *** x");
        assert!(Redactor::new(["ab"]).is_empty());
    }
}
