//! Key rotation manifests (C6): a public record, signed by both the outgoing and the incoming
//! key, that one key replaces another.

use serde::{Deserialize, Serialize};

use crate::RotationError;
use crate::keys::{PublicKey, Signature, SigningIdentity, decode_hex, encode_hex};
use crate::receipt::Timestamp;
use crate::trust::TrustedSigners;
use crate::verify::Verified;

/// Domain-separation context of the rotation payload hash.
pub const ROTATION_CONTEXT: &str = "agentk key rotation v1";

/// The `schema` value of a rotation manifest.
pub const ROTATION_SCHEMA: &str = "agentk.key-rotation.v1";

/// The largest manifest accepted, in bytes.
pub const MAX_ROTATION_BYTES: usize = 16 * 1024;

/// What a rotation manifest states, once verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rotation {
    /// The outgoing key.
    pub previous: PublicKey,
    /// The incoming key.
    pub next: PublicKey,
    /// When the rotation was made.
    pub timestamp: Timestamp,
    /// Whether the outgoing key is the public development key, whose signature proves nothing.
    pub previous_is_development: bool,
}

/// The canonical payload both keys sign (its blake3 hash under [`ROTATION_CONTEXT`]).
#[derive(Serialize)]
struct RotationWireV1 {
    version: u8,
    algorithm: &'static str,
    previous: [u8; 32],
    next: [u8; 32],
    timestamp: u64,
    previous_is_development: bool,
}

fn payload_hash(previous: &PublicKey, next: &PublicKey, timestamp: Timestamp) -> Result<[u8; 32], RotationError> {
    let wire = RotationWireV1 {
        version: 1,
        algorithm: "ed25519",
        previous: previous.to_bytes(),
        next: next.to_bytes(),
        timestamp,
        previous_is_development: *previous == SigningIdentity::development_public_key(),
    };
    let bytes = postcard::to_allocvec(&wire).map_err(|_| RotationError::Malformed)?;
    Ok(crate::keys::context_digest(ROTATION_CONTEXT, &bytes))
}

/// The public JSON manifest. It holds public keys, fingerprints, hashes and signatures only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotationManifest {
    /// Always [`ROTATION_SCHEMA`].
    pub schema: String,
    /// Always `ed25519`.
    pub algorithm: String,
    /// The outgoing public key, hex.
    pub previous_public_key: String,
    /// Its fingerprint.
    pub previous_fingerprint: String,
    /// The incoming public key, hex.
    pub next_public_key: String,
    /// Its fingerprint.
    pub next_fingerprint: String,
    /// Unix seconds.
    pub timestamp: Timestamp,
    /// Whether the outgoing key is the public development key (bound into the payload hash).
    pub previous_is_development: bool,
    /// The payload hash both keys signed, hex.
    pub payload_hash: String,
    /// The outgoing key's signature over the payload hash.
    pub previous_signature: String,
    /// The incoming key's signature over the payload hash: proof its holder took part.
    pub next_signature: String,
}

impl RotationManifest {
    /// Records that `next` replaces `current` at `timestamp`, signed by both.
    pub fn create(
        current: &SigningIdentity,
        next: &SigningIdentity,
        timestamp: Timestamp,
    ) -> Result<Self, RotationError> {
        let (previous_key, next_key) = (current.public_key(), next.public_key());
        if previous_key == next_key {
            return Err(RotationError::SameKey);
        }
        if next.is_development() {
            return Err(RotationError::DevelopmentKey);
        }
        let hash = payload_hash(&previous_key, &next_key, timestamp)?;
        Ok(RotationManifest {
            schema: ROTATION_SCHEMA.to_owned(),
            algorithm: "ed25519".to_owned(),
            previous_public_key: previous_key.to_hex(),
            previous_fingerprint: previous_key.fingerprint().to_string(),
            next_public_key: next_key.to_hex(),
            next_fingerprint: next_key.fingerprint().to_string(),
            timestamp,
            previous_is_development: current.is_development(),
            payload_hash: encode_hex(&hash),
            previous_signature: current.sign_digest(&hash).to_hex(),
            next_signature: next.sign_digest(&hash).to_hex(),
        })
    }

    /// The JSON text, pretty-printed, with a final newline.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).map(|s| s + "\n").unwrap_or_default()
    }

    /// Parses the JSON text. Bounded; unknown fields are refused.
    pub fn from_json(text: &str) -> Result<Self, RotationError> {
        if text.len() > MAX_ROTATION_BYTES {
            return Err(RotationError::Malformed);
        }
        serde_json::from_str(text).map_err(|_| RotationError::Malformed)
    }

    /// Recomputes the payload hash and checks both signatures (strict Ed25519). With
    /// `trusted`, the outgoing key must also be trusted at the rotation's timestamp.
    pub fn verify(&self, trusted: Option<&TrustedSigners>) -> Result<Verified<Rotation>, RotationError> {
        if self.schema != ROTATION_SCHEMA || self.algorithm != "ed25519" {
            return Err(RotationError::Malformed);
        }
        let previous = PublicKey::from_hex(&self.previous_public_key).map_err(|_| RotationError::Malformed)?;
        let next = PublicKey::from_hex(&self.next_public_key).map_err(|_| RotationError::Malformed)?;
        if previous.fingerprint().to_string() != self.previous_fingerprint
            || next.fingerprint().to_string() != self.next_fingerprint
        {
            return Err(RotationError::Malformed);
        }
        if previous == next {
            return Err(RotationError::SameKey);
        }
        if self.previous_is_development != (previous == SigningIdentity::development_public_key()) {
            return Err(RotationError::Malformed);
        }
        let stated = decode_hex::<32>(&self.payload_hash).map_err(|_| RotationError::Malformed)?;
        let hash = payload_hash(&previous, &next, self.timestamp)?;
        if stated != hash {
            return Err(RotationError::HashMismatch);
        }
        let previous_signature = Signature::from_hex(&self.previous_signature).map_err(|_| RotationError::Malformed)?;
        let next_signature = Signature::from_hex(&self.next_signature).map_err(|_| RotationError::Malformed)?;
        if !previous.verify_digest(&hash, &previous_signature) || !next.verify_digest(&hash, &next_signature) {
            return Err(RotationError::BadSignature);
        }
        if let Some(trusted) = trusted {
            trusted
                .check(&previous, self.timestamp)
                .map_err(|_| RotationError::UntrustedPrevious { signer: previous.fingerprint() })?;
        }
        Ok(Verified::new(Rotation {
            previous,
            next,
            timestamp: self.timestamp,
            previous_is_development: self.previous_is_development,
        }))
    }
}
