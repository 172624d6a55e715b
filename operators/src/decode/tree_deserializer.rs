//! A serde `Deserializer` over a [`JsonTree`], generic over its error type.
//!
//! serde_json's deserializers report errors as `serde_json::Error`, which keeps only
//! a message. Replaying a parsed record through this deserializer instead lets the
//! slow path pick the error type, and so see which of serde's error constructors
//! (`missing_field`, `invalid_type`, ...) the failure came from.
//!
//! It accepts and refuses what serde_json's `from_str` does, for each method a
//! `Deserialize` impl may call (modelled on serde_json's own deserializers): a
//! number only for the number methods, a string for `str`, `null` as `None` for
//! `Option`, an object or an array for a struct, a string or a one-member object for
//! an enum, and map keys as [`MemberName`]s. Where serde_json reports a syntax error
//! for valid JSON (an array longer than a tuple, an enum object with two members,
//! `null` for an enum) this reports a type error instead.

use std::marker::PhantomData;

use serde::de::value::{BorrowedStrDeserializer, MapDeserializer, SeqDeserializer};
use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer, Unexpected, VariantAccess, Visitor,
};

use super::json_tree::JsonTree;
use super::member_name::MemberName;

/// Deserializes from a borrowed [`JsonTree`]; every error is built with `E`'s
/// constructors.
pub(super) struct TreeDeserializer<'a, E> {
    tree: &'a JsonTree,
    error: PhantomData<E>,
}

impl<'a, E> TreeDeserializer<'a, E> {
    /// A deserializer for `tree`.
    pub(super) fn new(tree: &'a JsonTree) -> Self {
        TreeDeserializer { tree, error: PhantomData }
    }
}

impl<'a, E: de::Error> IntoDeserializer<'a, E> for &'a JsonTree {
    type Deserializer = TreeDeserializer<'a, E>;

    fn into_deserializer(self) -> Self::Deserializer {
        TreeDeserializer::new(self)
    }
}

impl<'a, E: de::Error> TreeDeserializer<'a, E> {
    /// The type error for this value, as serde_json reports it: the visitor is not
    /// called.
    fn invalid_type(&self, visitor: &dyn de::Expected) -> E {
        E::invalid_type(self.tree.unexpected(), visitor)
    }

    /// Visits a number (for the number methods of `Deserializer`).
    fn visit_number<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, E> {
        visit_number(self.tree, visitor)
    }
}

/// The number methods of a `Deserializer` (`deserialize_i8` ... `deserialize_f64`):
/// each calls the deserializer's own `visit_number`.
macro_rules! deserialize_numbers {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, E> {
            self.visit_number(visitor)
        }
    )*};
}
pub(super) use deserialize_numbers;

/// Visits a number as serde_json's parser does; anything else is a type error.
pub(super) fn visit_number<'de, V: Visitor<'de>, E: de::Error>(tree: &JsonTree, visitor: V) -> Result<V::Value, E> {
    match *tree {
        JsonTree::U64(n) => visitor.visit_u64(n),
        JsonTree::I64(n) => visitor.visit_i64(n),
        JsonTree::F64(n) => visitor.visit_f64(n),
        _ => Err(E::invalid_type(tree.unexpected(), &visitor)),
    }
}

/// Visits an array's elements; elements the visitor left unread are an error.
fn visit_array<'a, V: Visitor<'a>, E: de::Error>(elements: &'a [JsonTree], visitor: V) -> Result<V::Value, E> {
    let mut access = SeqDeserializer::new(elements.iter());
    let value = visitor.visit_seq(&mut access)?;
    access.end()?;
    Ok(value)
}

/// Visits an object's members in text order (duplicates included); members the
/// visitor left unread are an error.
fn visit_object<'a, V: Visitor<'a>, E: de::Error>(
    members: &'a [(String, JsonTree)],
    visitor: V,
) -> Result<V::Value, E> {
    let mut access = MapDeserializer::new(members.iter().map(|(name, value)| (MemberName(name), value)));
    let value = visitor.visit_map(&mut access)?;
    access.end()?;
    Ok(value)
}

impl<'a, E: de::Error> Deserializer<'a> for TreeDeserializer<'a, E> {
    type Error = E;

    fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, E> {
        match self.tree {
            JsonTree::Null => visitor.visit_unit(),
            JsonTree::Bool(b) => visitor.visit_bool(*b),
            JsonTree::U64(_) | JsonTree::I64(_) | JsonTree::F64(_) => visit_number(self.tree, visitor),
            JsonTree::String(s) => visitor.visit_borrowed_str(s),
            JsonTree::Array(elements) => visit_array(elements, visitor),
            JsonTree::Object(members) => visit_object(members, visitor),
        }
    }

    fn deserialize_bool<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, E> {
        match self.tree {
            JsonTree::Bool(b) => visitor.visit_bool(*b),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    deserialize_numbers! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
        deserialize_f32 deserialize_f64
    }

    fn deserialize_char<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, E> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, E> {
        match self.tree {
            JsonTree::String(s) => visitor.visit_borrowed_str(s),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_string<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, E> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, E> {
        match self.tree {
            JsonTree::String(s) => visitor.visit_borrowed_bytes(s.as_bytes()),
            JsonTree::Array(elements) => visit_array(elements, visitor),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, E> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, E> {
        match self.tree {
            JsonTree::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, E> {
        match self.tree {
            JsonTree::Null => visitor.visit_unit(),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'a>>(self, _name: &'static str, visitor: V) -> Result<V::Value, E> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'a>>(self, _name: &'static str, visitor: V) -> Result<V::Value, E> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, E> {
        match self.tree {
            JsonTree::Array(elements) => visit_array(elements, visitor),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_tuple<V: Visitor<'a>>(self, _len: usize, visitor: V) -> Result<V::Value, E> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, E> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, E> {
        match self.tree {
            JsonTree::Object(members) => visit_object(members, visitor),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, E> {
        // Like serde_json, a struct may also come as an array of its field values
        // (the decoder rules that out for the record itself, not for nested values).
        match self.tree {
            JsonTree::Array(elements) => visit_array(elements, visitor),
            JsonTree::Object(members) => visit_object(members, visitor),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_enum<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, E> {
        match self.tree {
            // A unit variant: `"Cash"`.
            JsonTree::String(variant) => visitor.visit_enum(BorrowedStrDeserializer::new(variant)),
            // Any variant with its content: `{"Card": {...}}`.
            JsonTree::Object(members) => match members.as_slice() {
                [(variant, content)] => visitor.visit_enum(TreeEnumAccess { variant, content, error: PhantomData }),
                _ => Err(E::invalid_value(Unexpected::Map, &"an object with a single member")),
            },
            _ => Err(self.invalid_type(&"a string or an object")),
        }
    }

    fn deserialize_identifier<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, E> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, E> {
        visitor.visit_unit()
    }
}

/// An enum written as a one-member object: the member's name is the variant.
struct TreeEnumAccess<'a, E> {
    variant: &'a str,
    content: &'a JsonTree,
    error: PhantomData<E>,
}

impl<'a, E: de::Error> EnumAccess<'a> for TreeEnumAccess<'a, E> {
    type Error = E;
    type Variant = TreeDeserializer<'a, E>;

    fn variant_seed<S: DeserializeSeed<'a>>(self, seed: S) -> Result<(S::Value, Self::Variant), E> {
        let variant = seed.deserialize(BorrowedStrDeserializer::new(self.variant))?;
        Ok((variant, TreeDeserializer::new(self.content)))
    }
}

/// The content of a variant written as `{"Variant": content}`.
impl<'a, E: de::Error> VariantAccess<'a> for TreeDeserializer<'a, E> {
    type Error = E;

    fn unit_variant(self) -> Result<(), E> {
        // serde_json takes `{"Cash": null}` for a unit variant.
        de::Deserialize::deserialize(self)
    }

    fn newtype_variant_seed<S: DeserializeSeed<'a>>(self, seed: S) -> Result<S::Value, E> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'a>>(self, _len: usize, visitor: V) -> Result<V::Value, E> {
        self.deserialize_seq(visitor)
    }

    fn struct_variant<V: Visitor<'a>>(self, fields: &'static [&'static str], visitor: V) -> Result<V::Value, E> {
        self.deserialize_struct("", fields, visitor)
    }
}
