//! The Kafka key of a JSON-lines order: its `order_id`.

use std::borrow::Cow;

use serde::Deserialize;

/// The key of a line: its `order_id` if the line is a JSON object whose `order_id`
/// is a string; `None` otherwise (not UTF-8, not JSON, not an object, no `order_id`,
/// or one that is not a string).
pub fn order_key(line: &[u8]) -> Option<Cow<'_, str>> {
    #[derive(Deserialize)]
    struct Keyed<'a> {
        #[serde(borrow, default)]
        order_id: Option<Cow<'a, str>>,
    }
    let text = std::str::from_utf8(line).ok()?;
    // A derived struct deserializer also accepts an array: only objects count.
    if !text.trim_start().starts_with('{') {
        return None;
    }
    serde_json::from_str::<Keyed<'_>>(text).ok()?.order_id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_keyed_by_a_string_order_id() {
        let key = |line: &str| order_key(line.as_bytes()).map(|k| k.into_owned());
        assert_eq!(key(r#"{"order_id":"o-1","user_id":"u-7","amount":5}"#).as_deref(), Some("o-1"));
        assert_eq!(key(r#"  {"amount":5, "order_id" : "o-2"} "#).as_deref(), Some("o-2"));
        assert_eq!(key(r#"{"order_id":"o-\u00e9\n"}"#).as_deref(), Some("o-é\n"), "escapes are decoded");
        assert_eq!(key(r#"{"order_id":"","x":[1,{"order_id":"inner"}]}"#).as_deref(), Some(""));
        for unkeyed in [
            r#"{"order_id":17}"#,
            r#"{"order_id":null}"#,
            r#"{"user_id":"u-1"}"#,
            r#"["o-1"]"#,
            r#""o-1""#,
            r#"{"order_id":"o-1""#,
            r#"{"order_id":"o-1"} trailing"#,
            r#"{"order_id":"o-1","order_id":"o-2"}"#,
            "",
            "not json",
        ] {
            assert_eq!(key(unkeyed), None, "{unkeyed}");
        }
        assert_eq!(order_key(b"{\"order_id\":\"o-\xff\"}"), None, "not UTF-8");
    }
}
