//! Secret targets and external references (S1, S2).

use std::fmt;

use zeroize::Zeroizing;

use crate::SecretsError;
use crate::provider::{Provider, ShapeError};

/// The name a policy and a receipt use for a secret: `secret://` and 1 to 128 of
/// `a-z 0-9 . _ / -`, without empty, `.` or `..` segments. Targets are names, not secrets.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SecretTarget(String);

impl SecretTarget {
    /// Parses and checks a target.
    pub fn parse(text: &str) -> Result<Self, SecretsError> {
        let name = text.strip_prefix("secret://").ok_or(SecretsError::InvalidTarget)?;
        let ok = (1..=128).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._/-".contains(&b))
            && name.split('/').all(|segment| !segment.is_empty() && segment != "." && segment != "..");
        if ok { Ok(SecretTarget(text.to_owned())) } else { Err(SecretsError::InvalidTarget) }
    }

    /// The target text, `secret://…`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SecretTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`", self.0)
    }
}

/// The key behind redacted ids. Keyed hashes of low-entropy values (an environment-variable
/// name, say) cannot be reversed by guessing without it. The caller supplies it (random per
/// run, or fixed per deployment when reports must be compared across runs).
pub struct RedactionKey(Zeroizing<[u8; 32]>);

impl RedactionKey {
    /// A key from 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        RedactionKey(Zeroizing::new(bytes))
    }

    fn id(&self, kind: &[u8], value: &str) -> RedactedId {
        let mut hasher = blake3::Hasher::new_keyed(&self.0);
        hasher.update(kind);
        hasher.update(&[0]);
        hasher.update(value.as_bytes());
        let mut short = [0u8; 8];
        short.copy_from_slice(hasher.finalize().as_bytes().get(..8).unwrap_or(&[0; 8]));
        RedactedId(short)
    }
}

impl fmt::Debug for RedactionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RedactionKey(<redacted>)")
    }
}

/// A short keyed hash standing in for a value that must not be shown: `h:` and 16 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RedactedId([u8; 8]);

impl fmt::Display for RedactedId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "h:{}", agentk_capability::encode_hex(&self.0))
    }
}

impl fmt::Debug for RedactedId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A reference to a secret held by an external provider: which provider, and where.
///
/// Neither part is ever shown: `Debug` and `Display` print keyed hashes, the type is not
/// `Serialize`, and the reference leaves only through [`ExternalRef::expose_reference`], for a
/// store adapter's look-up.
pub struct ExternalRef {
    provider: Provider,
    reference: Zeroizing<String>,
    provider_id: RedactedId,
    reference_id: RedactedId,
}

impl ExternalRef {
    /// Checks the provider id and the reference's shape, then builds the reference.
    pub fn new(provider: &str, reference: &str, key: &RedactionKey) -> Result<Self, ShapeError> {
        let parsed = Provider::parse(provider)?;
        parsed.check_reference(reference)?;
        Ok(ExternalRef {
            provider_id: key.id(b"provider", parsed.id()),
            reference_id: key.id(b"reference", reference),
            provider: parsed,
            reference: Zeroizing::new(reference.to_owned()),
        })
    }

    /// The provider, for routing to the store that supports it.
    pub fn provider(&self) -> &Provider {
        &self.provider
    }

    /// The provider's redacted id.
    pub fn provider_id(&self) -> RedactedId {
        self.provider_id
    }

    /// The reference's redacted id.
    pub fn reference_id(&self) -> RedactedId {
        self.reference_id
    }

    /// The reference itself, for a store adapter's availability check. The only way out:
    /// grep for it.
    pub fn expose_reference(&self) -> &str {
        &self.reference
    }
}

impl fmt::Debug for ExternalRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExternalRef")
            .field("provider", &self.provider_id)
            .field("reference", &self.reference_id)
            .finish()
    }
}

impl fmt::Display for ExternalRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.provider_id, self.reference_id)
    }
}
