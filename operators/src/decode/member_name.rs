//! Object member names as map keys, deserialized as serde_json deserializes them.
//!
//! A key is a string, but serde_json also reads a number or a bool written inside the
//! quotes for a map whose key type is one (`{"7": ..}` for a `HashMap<u32, _>`);
//! the tree deserializer must take the same keys so that both paths agree.

use std::marker::PhantomData;

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, Deserializer, IntoDeserializer, Unexpected, Visitor};

use super::json_tree::JsonTree;
use super::tree_deserializer::{deserialize_numbers, visit_number};

/// An object member's name, as a map key.
pub(super) struct MemberName<'a>(pub(super) &'a str);

impl<'a, E: de::Error> IntoDeserializer<'a, E> for MemberName<'a> {
    type Deserializer = MemberNameDeserializer<'a, E>;

    fn into_deserializer(self) -> Self::Deserializer {
        MemberNameDeserializer { name: self.0, error: PhantomData }
    }
}

/// Deserializes a member name as serde_json's map keys do: a string, or for number
/// and bool keys (`HashMap<u32, _>`), the number or bool written inside the quotes.
pub(super) struct MemberNameDeserializer<'a, E> {
    name: &'a str,
    error: PhantomData<E>,
}

impl<'a, E: de::Error> MemberNameDeserializer<'a, E> {
    /// Visits the number the name spells, with nothing around it (serde_json takes
    /// `"7"` for a `u32` key, not `" 7"` or `"x"`).
    fn visit_number<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, E> {
        let bytes = self.name.as_bytes();
        // A number starts with `-` or a digit and ends with a digit, so this rules
        // out whitespace around it.
        let spells_number =
            matches!(bytes.first(), Some(b'-' | b'0'..=b'9')) && bytes.last().is_some_and(u8::is_ascii_digit);
        match JsonTree::parse(self.name) {
            Ok(number @ (JsonTree::U64(_) | JsonTree::I64(_) | JsonTree::F64(_))) if spells_number => {
                visit_number(&number, visitor)
            }
            _ => Err(E::invalid_type(Unexpected::Str(self.name), &visitor)),
        }
    }
}

impl<'a, E: de::Error> Deserializer<'a> for MemberNameDeserializer<'a, E> {
    type Error = E;

    fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, E> {
        visitor.visit_borrowed_str(self.name)
    }

    fn deserialize_bool<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, E> {
        match self.name {
            "true" => visitor.visit_bool(true),
            "false" => visitor.visit_bool(false),
            _ => Err(E::invalid_type(Unexpected::Str(self.name), &visitor)),
        }
    }

    deserialize_numbers! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
        deserialize_f32 deserialize_f64
    }

    fn deserialize_option<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, E> {
        // A key is never null.
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'a>>(self, _name: &'static str, visitor: V) -> Result<V::Value, E> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, E> {
        visitor.visit_enum(BorrowedStrDeserializer::new(self.name))
    }

    fn deserialize_bytes<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, E> {
        visitor.visit_borrowed_bytes(self.name.as_bytes())
    }

    fn deserialize_byte_buf<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, E> {
        self.deserialize_bytes(visitor)
    }

    serde::forward_to_deserialize_any! {
        <W: Visitor<'a>>
        char str string unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}
