//! Signed capability receipts that cannot be forged, replayed or self-granted, and the custody
//! of the key that signs them.
//!
//! A [`Ledger`] mints a receipt only when the policy allows a request on the strength of an
//! operator grant (an [`agentk_policy::Authorization`], which only the policy's evaluation of
//! that very request makes); the receipt binds who, what, where, for how long and after which
//! flight-log event into one canonical proof signed with Ed25519. [`Ledger::reserve`] is the
//! kernel's path: it counts the grant's use under whatever lock guards a shared ledger, and
//! [`Reservation::sign`] signs outside it. A [`Verifier`] turns an
//! [`EncodedReceipt`] back into a [`Verified<Receipt>`], the only form the rest of AgentK
//! accepts, and the ledger lets each receipt be spent once.
//!
//! # Invariants
//!
//! - **C1** The proof is blake3 (derive-key mode, context `agentk capability receipt v1`) over
//!   the one postcard encoding of a versioned wire struct binding receipt id, grant id, agent
//!   id, syscall, target, scope, issue time, expiry, the previous flight-log event hash and the
//!   signer's public key; Ed25519 signs the 32 digest bytes. Decoding refuses bytes that do not
//!   re-encode identically.
//! - **C2** Verification fails closed on a changed proof, signature, key or bound field, on
//!   malformed hex (uppercase included) and wrong lengths, on non-canonical encodings, on
//!   signatures only lax rules accept (`verify_strict`; the batch path applies the same
//!   rules), and on expiry. Crypto failures are coarse.
//! - **C3** Verification can be pinned to [`TrustedSigners`] (keys or a manifest with validity
//!   windows and revocations); any other or revoked key fails. Signers are shown as short
//!   [`Fingerprint`]s.
//! - **C4** [`load_signer`] takes the hex variable, else the key file, else the development key
//!   (always marked as such, in reports and inside every receipt it signs); a set but invalid
//!   value, a malformed file or loose permissions is an error, never a fall-back; the require
//!   flag refuses the development key.
//! - **C6** A [`RotationManifest`] is signed by both keys over a domain-separated payload hash
//!   and holds no private material.
//! - **C7** A receipt is spent at most once, and never at or after its expiry; a grant mints at
//!   most its `uses` receipts, and charging receipts minted elsewhere ([`Ledger::charge`])
//!   never lowers a count. A reserved receipt is spent by the event it is minted for (it binds
//!   that event's predecessor), so the ledger keeps no id for it.
//! - Pure: no I/O, no clock, no randomness. Ids, times and files come in as values or traits.
//!
//! # Non-goals
//!
//! Storing the ledger (the flight log does that), reading the environment or files (callers do,
//! through [`SignerEnv`] and [`KeyFileReader`]), generating keys (that needs OS randomness: the
//! CLI's `keygen`).
//!
//! # Example
//!
//! ```
//! use agentk_capability::{Hash32, Ledger, MintContext, ReceiptId, SigningIdentity, Trust, TrustedSigners, Verifier};
//! use agentk_labels::Syscall;
//! use agentk_policy::{Profile, Request};
//!
//! let policy = Profile::Starter.load()?;
//! let signer = SigningIdentity::from_secret(&[1; 32], agentk_capability::SignerSource::Embedded); // test key
//! let request = Request::new("agent-1", Syscall::SecretOpen, "secret://demo-api").presenting("demo-secret");
//! let mut ledger = Ledger::new();
//! let context = MintContext { id: ReceiptId([9; 16]), now: 1_000, prev_event: Hash32([0; 32]) };
//! let (_, encoded) = ledger.mint(&policy, &request, &signer, context)?;
//!
//! let trusted = TrustedSigners::from_keys([signer.public_key()]);
//! let verified = Verifier::new(Trust::Pinned(&trusted), 1_010).verify(&encoded)?;
//! assert_eq!(verified.target(), "secret://demo-api");
//! ledger.redeem(&verified, 1_010)?;
//! assert!(ledger.redeem(&verified, 1_011).is_err()); // one-shot
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod hash;
mod keys;
mod load;
mod receipt;
mod rotation;
mod trust;
mod verify;

#[doc(hidden)]
pub use blake3 as __blake3;
pub use hash::{Hash32, HashContext};
pub use keys::{
    Fingerprint, HexError, PublicKey, SignContext, Signature, SignerSource, SigningIdentity, decode_hex,
    decode_hex_vec, encode_hex,
};
pub use load::{KEY_FILE_FORMAT, KeyFile, KeyFileProblem, KeyFileReader, SignerEnv, check_permissions, load_signer};
pub use receipt::{
    EncodedReceipt, Ledger, MAX_RECEIPT_BYTES, MintContext, RECEIPT_CONTEXT, RECEIPT_SCHEMA, Receipt, ReceiptId,
    Reservation, Timestamp, testing,
};
pub use rotation::{MAX_ROTATION_BYTES, ROTATION_CONTEXT, ROTATION_SCHEMA, Rotation, RotationManifest};
pub use trust::{MAX_MANIFEST_BYTES, TrustedSigner, TrustedSigners};
pub use verify::{MAX_RECEIPT_LIFETIME, Trust, Unconfirmed, Verified, Verifier, confirm_batch};

/// A key could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Not 64 lowercase hex characters.
    #[error("secret key is not 64 lowercase hex characters")]
    InvalidSecretKey,
    /// Not a valid, non-weak Ed25519 public key in 64 lowercase hex characters.
    #[error("public key is not a valid Ed25519 key in 64 lowercase hex characters")]
    InvalidPublicKey,
}

/// A receipt was refused. Messages stay coarse on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// Bad hex, wrong lengths, unknown version, unknown syscall, over-long field, invalid key.
    #[error("receipt is malformed")]
    Malformed,
    /// The bytes decode but are not the canonical encoding.
    #[error("receipt is not canonically encoded")]
    NotCanonical,
    /// The stated proof is not the hash of the receipt bytes.
    #[error("receipt proof does not match its contents")]
    ProofMismatch,
    /// The signature does not verify under strict rules.
    #[error("signature verification failed")]
    BadSignature,
    /// The signer is not among the trusted keys.
    #[error("receipt signer {signer} is not trusted")]
    UntrustedSigner {
        /// The signer's fingerprint.
        signer: Fingerprint,
    },
    /// The signer is revoked.
    #[error("receipt signer {signer} is revoked")]
    RevokedSigner {
        /// The signer's fingerprint.
        signer: Fingerprint,
    },
    /// The signer was not trusted when the receipt was issued.
    #[error("receipt signer {signer} was not trusted when the receipt was issued")]
    OutsideWindow {
        /// The signer's fingerprint.
        signer: Fingerprint,
    },
    /// The receipt has expired.
    #[error("receipt has expired")]
    Expired,
    /// The receipt's issue time is in the future.
    #[error("receipt is not valid yet")]
    NotYetValid,
    /// The receipt claims a longer life than any grant gives.
    #[error("receipt lifetime is longer than any grant allows")]
    LifetimeTooLong,
}

/// A receipt could not be minted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MintError {
    /// The policy denied the request.
    #[error("the policy denied the request (rule `{rule}`)")]
    Denied {
        /// The rule that denied it.
        rule: String,
    },
    /// The policy allowed it without a grant, so there is nothing to mint from.
    #[error("the request was allowed without a covering grant; no receipt is minted")]
    NoCoveringGrant,
    /// The grant's use budget is spent.
    #[error("grant `{grant}` has no uses left")]
    BudgetExhausted {
        /// The grant.
        grant: String,
    },
    /// A field is longer than a receipt may carry.
    #[error("receipt field `{field}` is longer than {max} bytes")]
    FieldTooLong {
        /// The field.
        field: &'static str,
        /// The limit.
        max: usize,
    },
    /// The lifetime overflows or is empty.
    #[error("receipt lifetime is invalid")]
    BadLifetime,
    /// Encoding failed.
    #[error("receipt could not be encoded")]
    Encoding,
}

/// A verified receipt could not be spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedeemError {
    /// This receipt id was already spent.
    #[error("receipt was already used")]
    AlreadySpent,
    /// The receipt has expired.
    #[error("receipt has expired")]
    Expired,
    /// The receipt's issue time is in the future.
    #[error("receipt is not valid yet")]
    NotYetValid,
}

/// The signing key could not be chosen. Messages name the problem, never the key or the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// `AGENTK_SIGNING_KEY_HEX` is set but not 64 lowercase hex characters.
    #[error("AGENTK_SIGNING_KEY_HEX is set but is not 64 lowercase hex characters")]
    InvalidHex,
    /// The key file could not be read.
    #[error("AGENTK_SIGNING_KEY_FILE cannot be read: {}", describe(*.0))]
    KeyFile(KeyFileProblem),
    /// The key file does not hold a key in the documented format.
    #[error(
        "AGENTK_SIGNING_KEY_FILE does not hold a key (expected 64 lowercase hex characters and an optional final newline)"
    )]
    MalformedKeyFile,
    /// The key file is readable by group or others.
    #[error("AGENTK_SIGNING_KEY_FILE is readable by group or others")]
    LooseFilePermissions,
    /// The key file's directory is writable by group or others.
    #[error("the directory of AGENTK_SIGNING_KEY_FILE is writable by group or others")]
    LooseDirectoryPermissions,
    /// `AGENTK_REQUIRE_SIGNING_KEY=1` and the key is the development key (configured or not).
    #[error("AGENTK_REQUIRE_SIGNING_KEY=1 refuses the development key, and no other signing key is configured")]
    DevelopmentKeyRefused,
    /// `AGENTK_REQUIRE_SIGNING_KEY` is neither `1` nor `0`.
    #[error("AGENTK_REQUIRE_SIGNING_KEY must be `1` or `0`")]
    InvalidRequireFlag,
}

impl LoadError {
    /// A hint on how to fix it.
    pub fn help(&self) -> &'static str {
        match self {
            LoadError::InvalidHex | LoadError::MalformedKeyFile => "create a key with `agentk keygen --out PATH`",
            LoadError::KeyFile(_) => "check the path in AGENTK_SIGNING_KEY_FILE",
            LoadError::LooseFilePermissions => "run `chmod 600` on the key file",
            LoadError::LooseDirectoryPermissions => "run `chmod go-w` on the key file's directory",
            LoadError::DevelopmentKeyRefused => "set AGENTK_SIGNING_KEY_FILE to a key made by `agentk keygen`",
            LoadError::InvalidRequireFlag => "set AGENTK_REQUIRE_SIGNING_KEY=1 or unset it",
        }
    }
}

fn describe(problem: KeyFileProblem) -> &'static str {
    match problem {
        KeyFileProblem::NotFound => "no such file",
        KeyFileProblem::NotRegularFile => "not a regular file",
        KeyFileProblem::PermissionDenied => "permission denied",
        KeyFileProblem::TooLarge => "too large to be a key file",
        KeyFileProblem::Io => "I/O error",
    }
}

/// A trusted-signer manifest was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// Larger than accepted.
    #[error("trusted-signer manifest is larger than {max} bytes")]
    TooLarge {
        /// The limit.
        max: usize,
    },
    /// Not valid TOML for the format (including unknown keys).
    #[error("{line}:{column}: {detail}")]
    Syntax {
        /// Line.
        line: usize,
        /// Column.
        column: usize,
        /// The parser's description: one line, bounded, without control characters.
        detail: String,
    },
    /// `version` is not 1.
    #[error("{line}:{column}: unsupported trusted-signer manifest version")]
    UnsupportedVersion {
        /// Line.
        line: usize,
        /// Column.
        column: usize,
    },
    /// No `[[signers]]`.
    #[error("trusted-signer manifest lists no signers")]
    NoSigners,
    /// A key that is not a valid public key.
    #[error("{line}:{column}: not a valid Ed25519 public key in 64 lowercase hex characters")]
    InvalidKey {
        /// Line.
        line: usize,
        /// Column.
        column: usize,
    },
    /// A blank, over-long or repeated label.
    #[error("{line}:{column}: labels must be unique, 1 to 64 characters")]
    BadLabel {
        /// Line.
        line: usize,
        /// Column.
        column: usize,
    },
    /// `not_before` is not before `not_after`.
    #[error("{line}:{column}: not_before must be earlier than not_after")]
    EmptyWindow {
        /// Line.
        line: usize,
        /// Column.
        column: usize,
    },
    /// The same key listed twice.
    #[error("{line}:{column}: key listed twice")]
    DuplicateKey {
        /// Line.
        line: usize,
        /// Column.
        column: usize,
    },
}

/// A rotation manifest was refused or could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RotationError {
    /// Bad JSON, unknown field, wrong schema, bad hex, mismatched fingerprint.
    #[error("rotation manifest is malformed")]
    Malformed,
    /// The stated payload hash is not the hash of the stated fields.
    #[error("rotation manifest payload hash does not match its contents")]
    HashMismatch,
    /// A signature does not verify.
    #[error("signature verification failed")]
    BadSignature,
    /// Both keys are the same.
    #[error("the next key is the current key")]
    SameKey,
    /// Rotating to the development key.
    #[error("cannot rotate to the development key")]
    DevelopmentKey,
    /// The outgoing key is not trusted.
    #[error("outgoing key {signer} is not trusted")]
    UntrustedPrevious {
        /// Its fingerprint.
        signer: Fingerprint,
    },
}
