//! The one 32-byte hash type: event hashes, Merkle tree hashes, digests and roots alike.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::keys::{decode_hex, encode_hex};

/// A 32-byte hash (blake3 under a named context, wherever it comes from), written as 64
/// lowercase hex characters in text and as 32 raw bytes in binary encodings.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash32(pub [u8; 32]);

impl Hash32 {
    /// Parses 64 lowercase hex digits.
    pub fn from_hex(text: &str) -> Option<Hash32> {
        decode_hex::<32>(text).ok().map(Hash32)
    }

    /// The 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        encode_hex(&self.0)
    }

    /// blake3 in derive-key mode under `context` over `bytes`.
    pub fn derive(context: &str, bytes: &[u8]) -> Hash32 {
        Hash32(blake3::derive_key(context, bytes))
    }
}

impl fmt::Debug for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash32({}…)", encode_hex(self.0.get(..8).unwrap_or_default()))
    }
}

impl fmt::Display for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&encode_hex(&self.0))
    }
}

impl Serialize for Hash32 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&encode_hex(&self.0))
        } else {
            self.0.serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for Hash32 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
            decode_hex::<32>(&text).map(Hash32).map_err(serde::de::Error::custom)
        } else {
            <[u8; 32]>::deserialize(deserializer).map(Hash32)
        }
    }
}
