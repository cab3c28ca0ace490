//! Signing identities, public keys, fingerprints and strict hex.

use std::fmt;

use ed25519_dalek::{SigningKey, VerifyingKey};
use zeroize::Zeroizing;

use crate::KeyError;

/// Where the active signing key came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignerSource {
    /// The static development key. Its private half is public knowledge: anything it signs
    /// proves nothing about who signed it.
    Development,
    /// `AGENTK_SIGNING_KEY_HEX`.
    EnvHex,
    /// `AGENTK_SIGNING_KEY_FILE`.
    File,
    /// Supplied by an embedding program.
    Embedded,
}

impl fmt::Display for SignerSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SignerSource::Development => "development key (not secret: signatures prove nothing)",
            SignerSource::EnvHex => "AGENTK_SIGNING_KEY_HEX",
            SignerSource::File => "AGENTK_SIGNING_KEY_FILE",
            SignerSource::Embedded => "embedded",
        })
    }
}

/// The seed of the development key. It is deliberately derived from a public string: it is the
/// same on every machine, so it is only ever a development convenience.
const DEVELOPMENT_SEED_CONTEXT: &str = "agentk development signing key v1 (public, never use in production)";

/// A private signing key and where it came from.
///
/// It is not `Serialize` and its `Debug` shows only the public fingerprint; the secret bytes
/// leave only through [`SigningIdentity::expose_secret_for_key_file`]. The key is zeroized on
/// drop.
pub struct SigningIdentity {
    key: SigningKey,
    /// The key's expansion (RFC 8032 5.1.5), made once: signing would otherwise hash the secret
    /// again for every signature. Zeroized on drop, like the key.
    expanded: ed25519_dalek::hazmat::ExpandedSecretKey,
    source: SignerSource,
}

impl SigningIdentity {
    /// An identity from 32 secret bytes.
    pub fn from_secret(secret: &[u8; 32], source: SignerSource) -> Self {
        let key = SigningKey::from_bytes(secret);
        let expanded = ed25519_dalek::hazmat::ExpandedSecretKey::from(secret);
        SigningIdentity { key, expanded, source }
    }

    /// An identity from 64 lowercase hex characters.
    pub fn from_secret_hex(text: &str, source: SignerSource) -> Result<Self, KeyError> {
        let secret = Zeroizing::new(decode_hex::<32>(text).map_err(|_| KeyError::InvalidSecretKey)?);
        Ok(Self::from_secret(&secret, source))
    }

    /// The development identity. Every report marks it as such.
    pub fn development() -> Self {
        let seed = Zeroizing::new(blake3::derive_key(DEVELOPMENT_SEED_CONTEXT, b""));
        Self::from_secret(&seed, SignerSource::Development)
    }

    /// The development identity's public key, computed once.
    pub fn development_public_key() -> PublicKey {
        static KEY: std::sync::OnceLock<PublicKey> = std::sync::OnceLock::new();
        *KEY.get_or_init(|| Self::development().public_key())
    }

    /// Where the key came from.
    pub fn source(&self) -> SignerSource {
        self.source
    }

    /// Whether this is the development key, however it was loaded (a key file holding the
    /// development key is still the development key).
    pub fn is_development(&self) -> bool {
        self.source == SignerSource::Development || self.public_key() == Self::development_public_key()
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.key.verifying_key())
    }

    /// Signs a 32-byte digest. Callers sign only domain-separated digests, never raw data.
    pub(crate) fn sign_digest(&self, digest: &[u8; 32]) -> Signature {
        // The same deterministic Ed25519 signature `SigningKey::sign` makes (a test holds them
        // equal), from the expansion made once.
        let signature =
            ed25519_dalek::hazmat::raw_sign::<ed25519_dalek::Sha512>(&self.expanded, digest, &self.key.verifying_key());
        Signature(signature.to_bytes())
    }

    /// Signs `bytes` as an artefact of kind `context`: Ed25519 over the blake3 derive-key hash
    /// of `bytes` under the context's name. Returns the digest and the signature. Receipts and
    /// rotation manifests are not among the contexts: they are signed only by this crate.
    pub fn sign_in_context(&self, context: SignContext, bytes: &[u8]) -> ([u8; 32], Signature) {
        let digest = context_digest(context.name(), bytes);
        (digest, self.sign_digest(&digest))
    }

    /// The secret key as 64 lowercase hex characters, for writing a key file. The only way
    /// secret bytes leave this type: grep for it.
    pub fn expose_secret_for_key_file(&self) -> Zeroizing<String> {
        let secret = Zeroizing::new(self.key.to_bytes());
        Zeroizing::new(encode_hex(&*secret))
    }
}

impl fmt::Debug for SigningIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningIdentity")
            .field("public", &self.public_key().fingerprint())
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// An Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub(crate) VerifyingKey);

impl PublicKey {
    /// Parses 64 lowercase hex characters. Refuses other lengths, uppercase, and points that
    /// do not decode; weak (small-order) keys are refused too.
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let bytes = decode_hex::<32>(text).map_err(|_| KeyError::InvalidPublicKey)?;
        Self::from_bytes(&bytes)
    }

    /// From the 32 encoded bytes.
    ///
    /// Decompressing a point costs about a third of a signature check, and a log or a batch
    /// usually names one signer over and over, so the last key each thread accepted is kept:
    /// the same bytes always decode to the same key.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, KeyError> {
        thread_local! {
            static LAST: std::cell::Cell<Option<PublicKey>> = const { std::cell::Cell::new(None) };
        }
        if let Some(last) = LAST.get()
            && last.0.as_bytes() == bytes
        {
            return Ok(last);
        }
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::InvalidPublicKey)?;
        if key.is_weak() {
            return Err(KeyError::InvalidPublicKey);
        }
        LAST.set(Some(PublicKey(key)));
        Ok(PublicKey(key))
    }

    /// The 32 encoded bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// 64 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        encode_hex(&self.to_bytes())
    }

    /// A short, stable name for the key: `ak1:` and 16 hex characters of a domain-separated
    /// hash. Reports show this, never the whole key.
    pub fn fingerprint(&self) -> Fingerprint {
        let hash = blake3::derive_key("agentk key fingerprint v1", &self.to_bytes());
        let mut short = [0u8; 8];
        short.copy_from_slice(hash.get(..8).unwrap_or(&[0; 8]));
        Fingerprint(short)
    }

    /// Strict verification of a signature made by [`SigningIdentity::sign_in_context`].
    pub fn verify_in_context(&self, context: SignContext, bytes: &[u8], signature: &Signature) -> bool {
        self.verify_digest(&context_digest(context.name(), bytes), signature)
    }

    /// Strict verification of a signature over a 32-byte digest.
    pub(crate) fn verify_digest(&self, digest: &[u8; 32], signature: &Signature) -> bool {
        let signature = ed25519_dalek::Signature::from_bytes(&signature.0);
        self.0.verify_strict(digest, &signature).is_ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.fingerprint())
    }
}

/// The kinds of artefact other crates may sign with a [`SigningIdentity`], each under its own
/// domain-separation context, so a signature made for one kind can never verify as another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignContext {
    /// A secret handle (`agentk secret handle v1`).
    SecretHandle,
    /// A flight-log checkpoint (`agentk log checkpoint v1`).
    Checkpoint,
    /// A human approval of one exact MCP action (`agentk human approval v1`), T5.
    HumanApproval,
}

impl SignContext {
    /// The context string.
    pub const fn name(self) -> &'static str {
        match self {
            SignContext::SecretHandle => "agentk secret handle v1",
            SignContext::Checkpoint => "agentk log checkpoint v1",
            SignContext::HumanApproval => "agentk human approval v1",
        }
    }
}

/// blake3 in derive-key mode under `context`.
pub(crate) fn context_digest(context: &'static str, bytes: &[u8]) -> [u8; 32] {
    crate::hash_context!(static RECEIPT = crate::RECEIPT_CONTEXT;);
    if context == RECEIPT.name() {
        return RECEIPT.hash(bytes).0;
    }
    let mut hasher = blake3::Hasher::new_derive_key(context);
    hasher.update(bytes);
    *hasher.finalize().as_bytes()
}

/// A short key fingerprint, `ak1:` and 16 hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint([u8; 8]);

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ak1:{}", encode_hex(&self.0))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl serde::Serialize for Fingerprint {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// An Ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub(crate) [u8; 64]);

impl Signature {
    /// Parses 128 lowercase hex characters.
    pub fn from_hex(text: &str) -> Result<Self, HexError> {
        decode_hex::<64>(text).map(Signature)
    }

    /// 128 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        encode_hex(&self.0)
    }

    /// The 64 bytes.
    pub fn to_bytes(&self) -> [u8; 64] {
        self.0
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({}…)", encode_hex(self.0.get(..4).unwrap_or_default()))
    }
}

/// Why hex text was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    /// Not exactly the expected number of characters.
    #[error("expected {expected} hex characters, found {found}")]
    WrongLength {
        /// Characters expected.
        expected: usize,
        /// Characters found.
        found: usize,
    },
    /// A character other than `0-9` and `a-f` (uppercase is refused: one text, one value).
    #[error("hex may hold only `0-9` and `a-f`")]
    BadCharacter,
}

/// The two lowercase hex digits of every byte value.
#[expect(clippy::indexing_slicing, reason = "a const table: indices are below 256 and 16 by construction")]
const HEX_PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut table = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = [DIGITS[i >> 4], DIGITS[i & 0xf]];
        i += 1;
    }
    table
};

/// Writes the lowercase hex of `bytes` into `out` (two digits per byte; stops at the shorter).
pub(crate) fn hex_into(bytes: &[u8], out: &mut [u8]) {
    for (&b, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair.copy_from_slice(HEX_PAIRS.get(usize::from(b)).unwrap_or(b"00"));
    }
}

/// Lowercase hex of `bytes`.
pub fn encode_hex(bytes: &[u8]) -> String {
    let mut out = vec![0u8; bytes.len() * 2];
    hex_into(bytes, &mut out);
    // INVARIANT: hex digits are ASCII, so this never fails.
    String::from_utf8(out).unwrap_or_default()
}

/// Decodes exactly `N` bytes from `2N` lowercase hex characters.
pub fn decode_hex<const N: usize>(text: &str) -> Result<[u8; N], HexError> {
    if text.len() != N * 2 {
        // The same errors as decoding any length would give, then the length.
        decode_hex_vec(text)?;
        return Err(HexError::WrongLength { expected: N * 2, found: text.len() });
    }
    let mut out = [0u8; N];
    decode_into(text.as_bytes(), &mut out)?;
    Ok(out)
}

/// Decodes lowercase hex of any even length.
pub fn decode_hex_vec(text: &str) -> Result<Vec<u8>, HexError> {
    if !text.len().is_multiple_of(2) {
        return Err(HexError::WrongLength { expected: text.len() + 1, found: text.len() });
    }
    let mut out = vec![0u8; text.len() / 2];
    decode_into(text.as_bytes(), &mut out)?;
    Ok(out)
}

/// Each byte's value as a lowercase hex digit, or `0xff` (logs and receipts are mostly hex, so
/// decoding is a table lookup per character with one check at the end, not a branch each).
#[expect(clippy::indexing_slicing, reason = "a const table: indices are below 256 by construction")]
const HEX_VALUES: [u8; 256] = {
    let mut table = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

/// Decodes the pairs of `text` into `out` (as many as fit); any character that is not a
/// lowercase hex digit fails the whole decoding.
fn decode_into(text: &[u8], out: &mut [u8]) -> Result<(), HexError> {
    let value = |c: &u8| HEX_VALUES.get(usize::from(*c)).copied().unwrap_or(0xff);
    let mut invalid = 0u8;
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let (hi, lo) = match pair {
            [hi, lo] => (value(hi), value(lo)),
            _ => (0xff, 0xff),
        };
        invalid |= hi | lo;
        *byte = hi << 4 | lo;
    }
    // A digit is below 16; 0xff marks anything else.
    if invalid & 0xf0 != 0 { Err(HexError::BadCharacter) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The expansion made once signs exactly as `SigningKey::sign` does (Ed25519 is
    // deterministic), for several keys and digests; and hex from the table is every byte's.
    #[test]
    fn cached_expansion_signs_as_the_plain_key_does() {
        use ed25519_dalek::Signer;
        for seed in [[0u8; 32], [1; 32], [0xff; 32], *blake3::hash(b"test key").as_bytes()] {
            let identity = SigningIdentity::from_secret(&seed, SignerSource::Embedded); // test keys
            let plain = SigningKey::from_bytes(&seed);
            for digest in [[0u8; 32], [7; 32], *blake3::hash(&seed).as_bytes()] {
                assert_eq!(identity.sign_digest(&digest).0, plain.sign(&digest).to_bytes());
            }
        }
        let all: Vec<u8> = (0..=255).collect();
        let expected: String = all.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(encode_hex(&all), expected);
    }

    #[test]
    fn hex_is_strict_lowercase() {
        assert_eq!(decode_hex::<2>("0aff"), Ok([0x0a, 0xff]));
        assert_eq!(decode_hex::<2>("0AFF"), Err(HexError::BadCharacter));
        assert_eq!(decode_hex::<2>("0aff0"), Err(HexError::WrongLength { expected: 6, found: 5 }));
        assert_eq!(decode_hex::<2>("0aff00"), Err(HexError::WrongLength { expected: 4, found: 6 }));
        assert_eq!(decode_hex::<1>("g0"), Err(HexError::BadCharacter));
        assert_eq!(decode_hex::<1>("é"), Err(HexError::BadCharacter));
        assert_eq!(encode_hex(&[0x0a, 0xff]), "0aff");
    }

    proptest::proptest! {
        // The fixed-length fast path answers exactly what decoding any length and then
        // checking the length answers, errors included, and round-trips with encode_hex.
        #[test]
        fn fixed_length_decoding_agrees_with_the_general_one(text in "[0-9a-fA-G]{0,10}", bytes in proptest::array::uniform4(0u8..)) {
            let general = decode_hex_vec(&text).and_then(|v| {
                <[u8; 4]>::try_from(v.as_slice()).map_err(|_| HexError::WrongLength { expected: 8, found: text.len() })
            });
            proptest::prop_assert_eq!(decode_hex::<4>(&text), general);
            proptest::prop_assert_eq!(decode_hex::<4>(&encode_hex(&bytes)), Ok(bytes));
        }
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let identity = SigningIdentity::from_secret(&[7; 32], SignerSource::Embedded);
        let secret_hex = identity.expose_secret_for_key_file();
        let debug = format!("{identity:?}");
        assert!(!debug.contains(secret_hex.as_str()), "{debug}");
        assert!(!debug.contains(&identity.public_key().to_hex()), "{debug}");
        assert!(debug.contains("ak1:"), "{debug}");
    }

    #[test]
    fn development_key_is_fixed_and_marked() {
        let a = SigningIdentity::development();
        let b = SigningIdentity::development();
        assert_eq!(a.public_key(), b.public_key());
        assert!(a.is_development());
    }

    #[test]
    fn weak_public_keys_are_refused() {
        // The identity point: small order, so any signature "verifies" under lax rules.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(PublicKey::from_bytes(&identity), Err(KeyError::InvalidPublicKey));
    }
}
