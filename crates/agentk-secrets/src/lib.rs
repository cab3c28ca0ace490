//! Secrets for agents without secret bytes: opaque signed handles bound to `secret.open`
//! receipts, store adapters that only say whether a secret is there, and secret-reference
//! manifests validated before anything is registered.
//!
//! # Invariants
//!
//! - **S1** A dummy registration is a target and nothing else; no API takes secret bytes.
//! - **S2** [`ExternalRef`] never shows its provider or reference: `Debug` and `Display` print
//!   keyed hashes ([`RedactedId`]), it is not `Serialize`, and the reference leaves only
//!   through [`ExternalRef::expose_reference`].
//! - **S3** In [`Mode::Strict`] a handle for an external reference is minted only when the
//!   store for its provider reports it available; [`Mode::DemoBypassAvailability`] is the only
//!   bypass, and handles minted under it say so.
//! - **S4** [`StoreRegistry`] routes each reference to the one store declaring its provider;
//!   two stores may not declare the same provider, and a store is never asked about another's.
//! - **S5** [`SecretStore`] has one question, availability; no method returns bytes.
//! - **S6** [`EnvStore`] asks only about shape-checked variable names, and only whether they
//!   are set and non-empty, through [`EnvPresence`].
//! - **S7** [`SecretManifest`] validates version, targets, provider ids and reference shapes
//!   before anything is registered; unknown keys (a `value`) are errors; problems carry a
//!   line, never a reference.
//! - **S8** A [`SecretHandle`] is signed under its own context and bound to its receipt's id,
//!   proof hash, target, scope and expiry; [`verify_handle`] fails closed on any mismatch.
//!   Handles hold no secret bytes and no provider references.
//! - Pure: no I/O, clock or randomness; the environment comes in through [`EnvPresence`].
//!
//! # Non-goals
//!
//! Fetching secret values (a later layer hands them to tools without the agent seeing them),
//! spending receipts (the caller's ledger does that), provider adapters other than `env`.
//!
//! # Example
//!
//! ```
//! use agentk_capability::{Hash32, Ledger, MintContext, ReceiptId, SignerSource, SigningIdentity, Trust, Verifier};
//! use agentk_labels::Syscall;
//! use agentk_policy::{Profile, Request};
//! use agentk_secrets::{HandleId, Mode, SecretBroker, SecretTarget, StoreRegistry, verify_handle};
//!
//! let signer = SigningIdentity::from_secret(&[3; 32], SignerSource::Embedded); // test key
//! let policy = Profile::Starter.load()?;
//! let request = Request::new("agent-1", Syscall::SecretOpen, "secret://demo-api").presenting("demo-secret");
//! let context = MintContext { id: ReceiptId([1; 16]), now: 100, prev_event: Hash32([0; 32]) };
//! let (_, encoded) = Ledger::new().mint(&policy, &request, &signer, context)?;
//! let receipt = Verifier::new(Trust::ReceiptKey, 100).verify(&encoded)?;
//!
//! let mut broker = SecretBroker::new(StoreRegistry::new(), Mode::Strict);
//! broker.register_dummy(SecretTarget::parse("secret://demo-api")?)?;
//! let (_, handle) = broker.open(&receipt, &signer, HandleId([2; 16]), 100)?;
//! let verified = verify_handle(&handle, &receipt, Trust::ReceiptKey, 101)?;
//! assert_eq!(verified.target(), "secret://demo-api");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod broker;
mod manifest;
mod provider;
mod reference;
mod store;

pub use broker::{
    EncodedHandle, HANDLE_SCHEMA, HandleId, HandleKind, Mode, Registration, SecretBroker, SecretHandle, VerifiedHandle,
    verify_handle,
};
pub use manifest::{AvailabilityCounts, MAX_MANIFEST_BYTES, ManifestCounts, ManifestProblem, SecretManifest};
pub use provider::{Provider, ShapeError};
pub use reference::{ExternalRef, RedactedId, RedactionKey, SecretTarget};
pub use store::{Availability, EnvPresence, EnvStore, SecretStore, StoreRegistry};

/// A registration or configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretsError {
    /// Not `secret://NAME`.
    #[error("secret target is not `secret://NAME` (1 to 128 of `a-z`, `0-9`, `.`, `_`, `/`, `-`)")]
    InvalidTarget,
    /// The target is already registered.
    #[error("secret target is already registered")]
    DuplicateTarget,
    /// Two stores declare the same provider.
    #[error("store `{added}` declares a provider that store `{existing}` already answers for")]
    OverlappingStores {
        /// The store already registered.
        existing: &'static str,
        /// The store refused.
        added: &'static str,
    },
}

/// A handle could not be minted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The receipt is not for `secret.open`.
    #[error("the receipt does not authorize `secret.open`")]
    NotSecretOpen,
    /// The receipt is expired or not yet valid.
    #[error("the receipt is not live")]
    ReceiptNotLive,
    /// The receipt was signed by another key than the broker's.
    #[error("the receipt was not minted by this broker's signer")]
    ForeignReceipt,
    /// Nothing is registered under the receipt's target.
    #[error("no secret is registered under the receipt's target")]
    NotRegistered,
    /// The store does not have it, or no store supports its provider.
    #[error("the secret is not available ({})", match .0 { Availability::Missing => "missing from its store", _ => "no store supports its provider" })]
    Unavailable(Availability),
}

/// A handle was refused. Coarse on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandleError {
    /// Bad hex or lengths, unknown version, non-canonical encoding, invalid key.
    #[error("secret handle is malformed")]
    Malformed,
    /// The signature does not verify.
    #[error("signature verification failed")]
    BadSignature,
    /// The signer is not the receipt's signer, or (when pinned) not trusted.
    #[error("secret handle signer is not trusted")]
    UntrustedSigner,
    /// The handle is not bound to this receipt.
    #[error("secret handle is not bound to this receipt")]
    BindingMismatch,
    /// The handle has expired or is not valid yet.
    #[error("secret handle is not live")]
    Expired,
}
