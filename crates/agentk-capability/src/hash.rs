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

/// A blake3 derive-key context whose key is derived once per thread: hashing under it then
/// costs only the material's own compressions (plain `blake3::derive_key` hashes the context
/// string again on every call, which doubles the cost of hashing 32 bytes), and no hasher is
/// built or moved per call (a `blake3::Hasher` is nearly 2 KiB). Declare one with
/// [`hash_context!`](crate::hash_context) as a `static`.
pub struct HashContext {
    context: &'static str,
    local: &'static std::thread::LocalKey<std::cell::RefCell<Option<blake3::Hasher>>>,
}

impl HashContext {
    #[doc(hidden)]
    pub const fn from_parts(
        context: &'static str,
        local: &'static std::thread::LocalKey<std::cell::RefCell<Option<blake3::Hasher>>>,
    ) -> Self {
        HashContext { context, local }
    }

    /// The context string.
    pub fn name(&self) -> &'static str {
        self.context
    }

    /// Runs `f` with this thread's hasher for the context, reset and ready for the material,
    /// and answers the digest of what `f` fed it.
    pub fn hash_with(&self, f: impl FnOnce(&mut blake3::Hasher)) -> Hash32 {
        self.local.with(|cell| match cell.try_borrow_mut() {
            Ok(mut slot) => {
                let hasher = slot.get_or_insert_with(|| blake3::Hasher::new_derive_key(self.context));
                hasher.reset();
                f(hasher);
                Hash32(*hasher.finalize().as_bytes())
            }
            // Re-entered from inside `f` (never done here): a fresh hasher gives the same digest.
            Err(_) => {
                let mut hasher = blake3::Hasher::new_derive_key(self.context);
                f(&mut hasher);
                Hash32(*hasher.finalize().as_bytes())
            }
        })
    }

    /// `blake3::derive_key(context, bytes)`.
    pub fn hash(&self, bytes: &[u8]) -> Hash32 {
        self.hash_with(|hasher| {
            hasher.update(bytes);
        })
    }
}

/// Declares a `static` [`HashContext`]: `hash_context!(static NAME = "agentk something v1");`.
#[macro_export]
macro_rules! hash_context {
    ($vis:vis static $name:ident = $context:expr;) => {
        $vis static $name: $crate::HashContext = {
            ::std::thread_local! {
                static LOCAL: ::std::cell::RefCell<::std::option::Option<$crate::__blake3::Hasher>> =
                    const { ::std::cell::RefCell::new(::std::option::Option::None) };
            }
            $crate::HashContext::from_parts($context, &LOCAL)
        };
    };
}

impl fmt::Debug for HashContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HashContext({:?})", self.context)
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
            let mut text = [0u8; 64];
            crate::keys::hex_into(&self.0, &mut text);
            // INVARIANT: hex digits are ASCII, so this never fails.
            serializer.serialize_str(std::str::from_utf8(&text).unwrap_or_default())
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
