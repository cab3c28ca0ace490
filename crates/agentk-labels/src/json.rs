//! JSON read strictly: an object that repeats a key is refused, not resolved.
//!
//! Readers disagree on a repeated key (most keep the last, some the first, some refuse), so
//! whatever AgentK decides about a document that repeats one could be about a different
//! document than the one a peer acts on (an MCP server reading a call's arguments, a reviewer
//! reading an override file). [`UniqueKeys`] reads a value as `serde_json` does and fails with
//! [`REPEATED_KEY`] instead.
//!
//! ```
//! use agentk_labels::json::UniqueKeys;
//! assert!(serde_json::from_str::<UniqueKeys>(r#"{"to":"a","cc":{"to":"b"}}"#).is_ok());
//! let error = serde_json::from_str::<UniqueKeys>(r#"{"to":"a","\u0074o":"b"}"#).unwrap_err();
//! assert!(error.to_string().starts_with(agentk_labels::json::REPEATED_KEY));
//! ```

use serde_json::Value;

/// The start of the error message for a repeated key.
pub const REPEATED_KEY: &str = "repeated key";

/// A JSON value whose objects never repeat a key.
#[derive(Clone, Debug, PartialEq)]
pub struct UniqueKeys(pub Value);

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(Visitor).map(UniqueKeys)
    }
}

struct Visitor;

impl<'de> serde::de::Visitor<'de> for Visitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(UniqueKeys(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(serde::de::Error::custom(REPEATED_KEY));
            }
            let UniqueKeys(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}
