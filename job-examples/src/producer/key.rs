//! The Kafka key of a JSON-lines order: its `order_id` (the reference job's producer) or its
//! `user_id` (co-partitioned with the windows, for jobs scaled out through a
//! consumer group).

use std::borrow::Cow;

use serde::Deserialize;

/// Which field of an order keys its Kafka record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyField {
    /// `order_id`, as the reference job's producer: duplicates of an order share a partition.
    #[default]
    OrderId,
    /// `user_id`: one user's orders (duplicates included) share a partition, so a
    /// task per partition holds whole windows (`order-aggregates --group`).
    UserId,
}

/// The key of a line: its `order_id` if the line is a JSON object whose `order_id`
/// is a string; `None` otherwise (not UTF-8, not JSON, not an object, no `order_id`,
/// or one that is not a string).
pub fn order_key(line: &[u8]) -> Option<Cow<'_, str>> {
    record_key(line, KeyField::OrderId)
}

/// The key of a line by `field`: that field if the line is a JSON object where it
/// is a string; `None` otherwise.
pub fn record_key(line: &[u8], field: KeyField) -> Option<Cow<'_, str>> {
    // One struct per field: a line whose *other* field has the wrong type (a
    // malformed order with a numeric `order_id`) is still keyed by this one.
    #[derive(Deserialize)]
    struct ByOrder<'a> {
        #[serde(borrow, default)]
        order_id: Option<Cow<'a, str>>,
    }
    #[derive(Deserialize)]
    struct ByUser<'a> {
        #[serde(borrow, default)]
        user_id: Option<Cow<'a, str>>,
    }
    let text = std::str::from_utf8(line).ok()?;
    // A derived struct deserializer also accepts an array: only objects count.
    if !text.trim_start().starts_with('{') {
        return None;
    }
    match field {
        KeyField::OrderId => serde_json::from_str::<ByOrder<'_>>(text).ok()?.order_id,
        KeyField::UserId => serde_json::from_str::<ByUser<'_>>(text).ok()?.user_id,
    }
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

    #[test]
    fn records_can_be_keyed_by_user_id() {
        let line = br#"{"order_id":"o-1","user_id":"u-7","amount":5}"#;
        assert_eq!(record_key(line, KeyField::UserId).as_deref(), Some("u-7"));
        assert_eq!(record_key(line, KeyField::OrderId).as_deref(), Some("o-1"));
        assert_eq!(record_key(br#"{"order_id":"o-1","user_id":7}"#, KeyField::UserId), None);
        let other_field_malformed = br#"{"order_id":17,"user_id":"u-7"}"#;
        assert_eq!(record_key(other_field_malformed, KeyField::UserId).as_deref(), Some("u-7"));
    }
}
