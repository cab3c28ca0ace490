//! Trusted signers (C3): pinned public keys, from a list or a versioned TOML manifest.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use crate::keys::{Fingerprint, PublicKey};
use crate::receipt::Timestamp;
use crate::{TrustError, VerifyError};

/// The largest manifest accepted, in bytes.
pub const MAX_MANIFEST_BYTES: usize = 256 * 1024;

/// One trusted key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedSigner {
    label: String,
    key: PublicKey,
    not_before: Option<Timestamp>,
    not_after: Option<Timestamp>,
}

impl TrustedSigner {
    /// The operator's label for the key.
    pub fn label(&self) -> &str {
        &self.label
    }
    /// The key.
    pub fn key(&self) -> PublicKey {
        self.key
    }
}

/// A set of trusted signing keys, with optional validity windows and a revocation list.
/// Revocation wins over trust.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedSigners {
    signers: BTreeMap<[u8; 32], TrustedSigner>,
    revoked: BTreeSet<[u8; 32]>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestV1 {
    version: toml::Spanned<i64>,
    #[serde(default)]
    signers: Vec<SignerEntry>,
    #[serde(default)]
    revoked: Vec<RevokedEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignerEntry {
    label: toml::Spanned<String>,
    public_key: toml::Spanned<String>,
    not_before: Option<Timestamp>,
    not_after: Option<Timestamp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokedEntry {
    public_key: toml::Spanned<String>,
    #[serde(default)]
    #[expect(dead_code, reason = "the reason is for the humans reading the manifest")]
    reason: Option<String>,
}

/// The first line of a parser message, without control characters, at most 160 characters.
fn one_line(message: &str) -> String {
    message.lines().next().unwrap_or_default().chars().filter(|c| !c.is_control()).take(160).collect()
}

impl TrustedSigners {
    /// Trusts exactly `keys`, with no validity windows.
    pub fn from_keys(keys: impl IntoIterator<Item = PublicKey>) -> Self {
        let signers = keys
            .into_iter()
            .map(|key| {
                let signer =
                    TrustedSigner { label: key.fingerprint().to_string(), key, not_before: None, not_after: None };
                (key.to_bytes(), signer)
            })
            .collect();
        TrustedSigners { signers, revoked: BTreeSet::new() }
    }

    /// Parses a trusted-signer manifest:
    ///
    /// ```toml
    /// version = 1
    /// [[signers]]
    /// label = "ops-2026"
    /// public_key = "<64 lowercase hex>"
    /// not_before = 1767225600   # optional, Unix seconds, inclusive
    /// not_after = 1798761600    # optional, Unix seconds, exclusive
    /// [[revoked]]
    /// public_key = "<64 lowercase hex>"
    /// reason = "laptop lost"    # optional
    /// ```
    ///
    /// Unknown keys are errors. Problems are reported with line and column, never with a key.
    pub fn parse_manifest(text: &str) -> Result<Self, TrustError> {
        let at = |span: Option<std::ops::Range<usize>>| {
            let offset = span.map_or(0, |s| s.start).min(text.len());
            let before = text.get(..offset).unwrap_or_default();
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            (line, column)
        };
        if text.len() > MAX_MANIFEST_BYTES {
            return Err(TrustError::TooLarge { max: MAX_MANIFEST_BYTES });
        }
        let manifest: ManifestV1 = toml::from_str(text).map_err(|e| {
            let (line, column) = at(e.span());
            // SECURITY: the parser's message can quote the offending value (a key pasted in the
            // wrong place, say); only unknown-field messages, which name a key, are passed on.
            let message = one_line(e.message());
            let detail = if message.starts_with("unknown field `") {
                message
            } else {
                "not a valid trusted-signer manifest (TOML syntax or value type)".to_owned()
            };
            TrustError::Syntax { line, column, detail }
        })?;
        if *manifest.version.get_ref() != 1 {
            let (line, column) = at(Some(manifest.version.span()));
            return Err(TrustError::UnsupportedVersion { line, column });
        }
        if manifest.signers.is_empty() {
            return Err(TrustError::NoSigners);
        }
        let mut trusted = TrustedSigners::default();
        let mut labels = BTreeSet::new();
        for entry in manifest.signers {
            let (line, column) = at(Some(entry.public_key.span()));
            let key =
                PublicKey::from_hex(entry.public_key.get_ref()).map_err(|_| TrustError::InvalidKey { line, column })?;
            let label = entry.label.get_ref();
            let label_ok =
                !label.trim().is_empty() && label.chars().count() <= 64 && !label.chars().any(char::is_control);
            if !label_ok || !labels.insert(label.clone()) {
                let (line, column) = at(Some(entry.label.span()));
                return Err(TrustError::BadLabel { line, column });
            }
            if let (Some(from), Some(until)) = (entry.not_before, entry.not_after)
                && from >= until
            {
                return Err(TrustError::EmptyWindow { line, column });
            }
            let signer =
                TrustedSigner { label: label.clone(), key, not_before: entry.not_before, not_after: entry.not_after };
            if trusted.signers.insert(key.to_bytes(), signer).is_some() {
                return Err(TrustError::DuplicateKey { line, column });
            }
        }
        for entry in manifest.revoked {
            let (line, column) = at(Some(entry.public_key.span()));
            let key =
                PublicKey::from_hex(entry.public_key.get_ref()).map_err(|_| TrustError::InvalidKey { line, column })?;
            trusted.revoked.insert(key.to_bytes());
        }
        Ok(trusted)
    }

    /// Whether `key` may have signed something issued at `at`.
    pub fn check(&self, key: &PublicKey, at: Timestamp) -> Result<&TrustedSigner, VerifyError> {
        self.check_span(key, at, at.saturating_add(1))
    }

    /// Whether `key` may have signed something valid from `from` until `until` (exclusive):
    /// not revoked, and the whole span inside the key's window. The span counts, not only the
    /// issue time, because the signer chooses the issue time: a retired key must not be able
    /// to sign, backdated, something valid today.
    pub fn check_span(
        &self,
        key: &PublicKey,
        from: Timestamp,
        until: Timestamp,
    ) -> Result<&TrustedSigner, VerifyError> {
        let bytes = key.to_bytes();
        if self.revoked.contains(&bytes) {
            return Err(VerifyError::RevokedSigner { signer: key.fingerprint() });
        }
        let signer = self.signers.get(&bytes).ok_or(VerifyError::UntrustedSigner { signer: key.fingerprint() })?;
        let after_start = signer.not_before.is_none_or(|start| from >= start);
        let before_end = signer.not_after.is_none_or(|end| until <= end);
        if after_start && before_end {
            Ok(signer)
        } else {
            Err(VerifyError::OutsideWindow { signer: key.fingerprint() })
        }
    }

    /// Whether `key` is listed and not revoked, whatever its validity window (for artefacts
    /// that carry no time of their own, such as a log's genesis).
    pub fn lists(&self, key: &PublicKey) -> bool {
        let bytes = key.to_bytes();
        self.signers.contains_key(&bytes) && !self.revoked.contains(&bytes)
    }

    /// How many keys are trusted (revoked ones included).
    pub fn signer_count(&self) -> usize {
        self.signers.len()
    }

    /// How many keys are revoked.
    pub fn revoked_count(&self) -> usize {
        self.revoked.len()
    }

    /// The fingerprints of the trusted keys.
    pub fn fingerprints(&self) -> Vec<Fingerprint> {
        self.signers.values().map(|s| s.key.fingerprint()).collect()
    }
}
