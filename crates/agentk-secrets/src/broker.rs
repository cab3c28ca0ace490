//! The broker (S1, S3, S8): registrations, and signed handles minted from `secret.open`
//! receipts.

use std::collections::BTreeMap;
use std::fmt;

use agentk_capability::{
    PublicKey, Receipt, ReceiptId, SignContext, Signature, SigningIdentity, Timestamp, Trust, Verified, decode_hex_vec,
    encode_hex,
};
use agentk_labels::{Label, LabelSet, Syscall};
use serde::{Deserialize, Serialize};

use crate::reference::{ExternalRef, SecretTarget};
use crate::store::{Availability, StoreRegistry};
use crate::{HandleError, OpenError, SecretsError};

/// The `schema` of an encoded handle.
pub const HANDLE_SCHEMA: &str = "agentk.secret-handle.v1";

const MAX_HANDLE_BYTES: usize = 1024;

/// What stands behind a target.
#[derive(Debug)]
pub enum Registration {
    /// A local dummy for tests and demos. It has a target and nothing else: there is no way to
    /// give it bytes (S1).
    Dummy,
    /// A reference to an external provider.
    External(ExternalRef),
}

/// Whether handles for external references need a store that reports them available.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A handle is minted only when a configured store reports the reference available.
    Strict,
    /// Demo only: availability is not asked, and every handle minted says so.
    DemoBypassAvailability,
}

/// How a handle's secret is held, bound into the handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HandleKind {
    /// A dummy registration.
    Dummy,
    /// An external reference a store reported available.
    External,
    /// An external reference minted in demo mode, without asking any store.
    DemoUnchecked,
}

/// A random handle id, supplied by the caller.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HandleId(pub [u8; 16]);

impl fmt::Debug for HandleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HandleId({})", encode_hex(&self.0))
    }
}

/// An opaque secret handle: what an agent gets instead of secret bytes. It names the target,
/// carries the `secret` label, and is bound to the `secret.open` receipt it came from: same
/// receipt id, proof hash, scope and expiry (S8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretHandle {
    id: HandleId,
    target: String,
    labels: LabelSet,
    kind: HandleKind,
    receipt_id: ReceiptId,
    receipt_proof: [u8; 32],
    scope: String,
    issued_at: Timestamp,
    expires_at: Timestamp,
    signer: PublicKey,
}

impl SecretHandle {
    /// The handle's id.
    pub fn id(&self) -> HandleId {
        self.id
    }
    /// The secret's target name.
    pub fn target(&self) -> &str {
        &self.target
    }
    /// Always `secret`.
    pub fn labels(&self) -> LabelSet {
        self.labels
    }
    /// How the secret is held.
    pub fn kind(&self) -> HandleKind {
        self.kind
    }
    /// The receipt it is bound to.
    pub fn receipt_id(&self) -> ReceiptId {
        self.receipt_id
    }
    /// The receipt's proof hash.
    pub fn receipt_proof(&self) -> [u8; 32] {
        self.receipt_proof
    }
    /// The receipt's scope.
    pub fn scope(&self) -> &str {
        &self.scope
    }
    /// When it was minted.
    pub fn issued_at(&self) -> Timestamp {
        self.issued_at
    }
    /// The receipt's expiry, which is the handle's.
    pub fn expires_at(&self) -> Timestamp {
        self.expires_at
    }
}

#[derive(Serialize, Deserialize)]
struct HandleWireV1 {
    version: u8,
    id: [u8; 16],
    target: String,
    labels: u8,
    kind: HandleKind,
    receipt_id: [u8; 16],
    receipt_proof: [u8; 32],
    scope: String,
    issued_at: u64,
    expires_at: u64,
    signer: [u8; 32],
}

impl SecretHandle {
    fn encode(&self) -> Vec<u8> {
        let wire = HandleWireV1 {
            version: 1,
            id: self.id.0,
            target: self.target.clone(),
            labels: self.labels.bits(),
            kind: self.kind,
            receipt_id: self.receipt_id.0,
            receipt_proof: self.receipt_proof,
            scope: self.scope.clone(),
            issued_at: self.issued_at,
            expires_at: self.expires_at,
            signer: self.signer.to_bytes(),
        };
        postcard::to_allocvec(&wire).unwrap_or_default()
    }

    fn decode(bytes: &[u8]) -> Result<Self, HandleError> {
        if bytes.len() > MAX_HANDLE_BYTES {
            return Err(HandleError::Malformed);
        }
        let wire: HandleWireV1 = postcard::from_bytes(bytes).map_err(|_| HandleError::Malformed)?;
        let handle = SecretHandle {
            id: HandleId(wire.id),
            target: wire.target,
            labels: LabelSet::from_bits(wire.labels).ok_or(HandleError::Malformed)?,
            kind: wire.kind,
            receipt_id: ReceiptId(wire.receipt_id),
            receipt_proof: wire.receipt_proof,
            scope: wire.scope,
            issued_at: wire.issued_at,
            expires_at: wire.expires_at,
            signer: PublicKey::from_bytes(&wire.signer).map_err(|_| HandleError::Malformed)?,
        };
        if wire.version != 1 || handle.encode() != bytes {
            return Err(HandleError::Malformed);
        }
        Ok(handle)
    }
}

/// A signed handle as it travels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncodedHandle {
    /// Always [`HANDLE_SCHEMA`].
    pub schema: String,
    /// The canonical handle bytes, hex.
    pub handle: String,
    /// Ed25519 over the handle bytes under [`SignContext::SecretHandle`], hex.
    pub signature: String,
}

impl EncodedHandle {
    /// The JSON text form.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses the JSON text form (bounded).
    pub fn from_json(text: &str) -> Result<Self, HandleError> {
        if text.len() > 4 * MAX_HANDLE_BYTES {
            return Err(HandleError::Malformed);
        }
        serde_json::from_str(text).map_err(|_| HandleError::Malformed)
    }
}

/// Registrations and stores: the one place secret handles are minted.
#[derive(Debug)]
pub struct SecretBroker {
    registrations: BTreeMap<SecretTarget, Registration>,
    stores: StoreRegistry,
    mode: Mode,
}

impl SecretBroker {
    /// A broker over `stores`, in `mode`.
    pub fn new(stores: StoreRegistry, mode: Mode) -> Self {
        SecretBroker { registrations: BTreeMap::new(), stores, mode }
    }

    /// Registers a local dummy secret: a target, and nothing else (S1).
    pub fn register_dummy(&mut self, target: SecretTarget) -> Result<(), SecretsError> {
        self.register(target, Registration::Dummy)
    }

    /// Registers an external reference.
    pub fn register_external(&mut self, target: SecretTarget, reference: ExternalRef) -> Result<(), SecretsError> {
        self.register(target, Registration::External(reference))
    }

    fn register(&mut self, target: SecretTarget, registration: Registration) -> Result<(), SecretsError> {
        if self.registrations.contains_key(&target) {
            return Err(SecretsError::DuplicateTarget);
        }
        self.registrations.insert(target, registration);
        Ok(())
    }

    /// What stands behind `target`, if anything.
    pub fn registration(&self, target: &SecretTarget) -> Option<&Registration> {
        self.registrations.get(target)
    }

    /// Whether a handle could be opened for `target` now: it is registered, and (in strict
    /// mode) its store reports it available. Lets a caller refuse before spending a grant.
    pub fn can_open(&self, target: &str) -> Result<HandleKind, OpenError> {
        let target = SecretTarget::parse(target).map_err(|_| OpenError::NotRegistered)?;
        match self.registrations.get(&target) {
            None => Err(OpenError::NotRegistered),
            Some(Registration::Dummy) => Ok(HandleKind::Dummy),
            Some(Registration::External(_)) if self.mode == Mode::DemoBypassAvailability => {
                Ok(HandleKind::DemoUnchecked)
            }
            Some(Registration::External(reference)) => match self.stores.availability(reference) {
                Availability::Available => Ok(HandleKind::External),
                other => Err(OpenError::Unavailable(other)),
            },
        }
    }

    /// Mints a handle for the `secret.open` that `receipt` authorizes, at `now`. The receipt
    /// must be for `secret.open`, unexpired, and name a registered target; an external
    /// reference must be reported available by its store unless the broker is in demo mode.
    /// Spending the receipt (once) is the caller's job, through its ledger.
    pub fn open(
        &self,
        receipt: &Verified<Receipt>,
        signer: &SigningIdentity,
        id: HandleId,
        now: Timestamp,
    ) -> Result<(SecretHandle, EncodedHandle), OpenError> {
        if receipt.syscall() != Syscall::SecretOpen {
            return Err(OpenError::NotSecretOpen);
        }
        // SECURITY: a `Verified<Receipt>` may have been checked for integrity only (any key).
        // The broker honours only receipts its own signer minted.
        if receipt.signer() != signer.public_key() {
            return Err(OpenError::ForeignReceipt);
        }
        if now >= receipt.expires_at() || now < receipt.issued_at() {
            return Err(OpenError::ReceiptNotLive);
        }
        let target = SecretTarget::parse(receipt.target()).map_err(|_| OpenError::NotRegistered)?;
        let kind = self.can_open(target.as_str())?;
        let handle = SecretHandle {
            id,
            target: target.as_str().to_owned(),
            labels: LabelSet::of(Label::Secret),
            kind,
            receipt_id: receipt.id(),
            receipt_proof: receipt.proof_hash(),
            scope: receipt.scope().to_owned(),
            issued_at: now,
            expires_at: receipt.expires_at(),
            signer: signer.public_key(),
        };
        let bytes = handle.encode();
        let (_, signature) = signer.sign_in_context(SignContext::SecretHandle, &bytes);
        let encoded = EncodedHandle {
            schema: HANDLE_SCHEMA.to_owned(),
            handle: encode_hex(&bytes),
            signature: signature.to_hex(),
        };
        Ok((handle, encoded))
    }
}

/// Verifies a handle and its binding to `receipt`, at `now`: canonical encoding, the same
/// signer as the receipt (and, when pinned, a trusted one), strict signature, the same receipt id, proof hash, target, scope and expiry, and
/// unexpired. Fails closed on any mismatch.
pub fn verify_handle(
    encoded: &EncodedHandle,
    receipt: &Verified<Receipt>,
    trust: Trust<'_>,
    now: Timestamp,
) -> Result<VerifiedHandle, HandleError> {
    if encoded.schema != HANDLE_SCHEMA || encoded.handle.len() > 2 * MAX_HANDLE_BYTES {
        return Err(HandleError::Malformed);
    }
    let bytes = decode_hex_vec(&encoded.handle).map_err(|_| HandleError::Malformed)?;
    let signature = Signature::from_hex(&encoded.signature).map_err(|_| HandleError::Malformed)?;
    let handle = SecretHandle::decode(&bytes)?;
    // SECURITY: the handle must come from the key that signed its receipt, whatever the trust
    // mode; otherwise anyone holding a receipt could sign a handle for it with their own key.
    if handle.signer != receipt.signer() {
        return Err(HandleError::UntrustedSigner);
    }
    if let Trust::Pinned(signers) = trust {
        signers
            .check_span(&handle.signer, handle.issued_at, handle.expires_at)
            .map_err(|_| HandleError::UntrustedSigner)?;
    }
    if !handle.signer.verify_in_context(SignContext::SecretHandle, &bytes, &signature) {
        return Err(HandleError::BadSignature);
    }
    let bound = handle.receipt_id == receipt.id()
        && handle.receipt_proof == receipt.proof_hash()
        && handle.target == receipt.target()
        && handle.scope == receipt.scope()
        && handle.expires_at == receipt.expires_at()
        && handle.labels == LabelSet::of(Label::Secret);
    if !bound {
        return Err(HandleError::BindingMismatch);
    }
    if now >= handle.expires_at || now < handle.issued_at {
        return Err(HandleError::Expired);
    }
    Ok(VerifiedHandle(handle))
}

/// A handle that passed [`verify_handle`]; only that function constructs one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedHandle(SecretHandle);

impl std::ops::Deref for VerifiedHandle {
    type Target = SecretHandle;

    fn deref(&self) -> &SecretHandle {
        &self.0
    }
}
