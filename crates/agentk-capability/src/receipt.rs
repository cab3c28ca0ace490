//! Capability receipts: the canonical proof, minting from operator grants, and the one-shot
//! ledger (guarantees C1, C7).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use agentk_labels::Syscall;
use agentk_policy::{Authorization, Decision, Policy, Request};
use serde::{Deserialize, Serialize};

use crate::Hash32;
use crate::keys::{PublicKey, Signature, SigningIdentity, decode_hex, decode_hex_vec, encode_hex};
use crate::verify::Verified;
use crate::{MintError, RedeemError, VerifyError};

/// Domain-separation context of the receipt proof hash.
pub const RECEIPT_CONTEXT: &str = "agentk capability receipt v1";

/// The wire version this crate writes and reads.
const WIRE_VERSION: u8 = 1;

/// Field limits, in bytes. Minting refuses longer values and decoding refuses them too, so a
/// receipt is always small.
pub(crate) const MAX_ID_LEN: usize = 64;
pub(crate) const MAX_AGENT_LEN: usize = 256;
pub(crate) const MAX_TARGET_LEN: usize = 4096;
pub(crate) const MAX_SCOPE_LEN: usize = 64;

/// The largest encoded receipt accepted, in bytes.
pub const MAX_RECEIPT_BYTES: usize = 8192;

/// Seconds since the Unix epoch. Time is always passed in: this crate never reads a clock.
pub type Timestamp = u64;

/// A receipt's unique id: 16 bytes the caller draws from a random source.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReceiptId(pub [u8; 16]);

impl fmt::Display for ReceiptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&encode_hex(&self.0))
    }
}

impl fmt::Debug for ReceiptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReceiptId({self})")
    }
}

/// A capability receipt: one allowed syscall, authorized by one operator grant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    pub(crate) id: ReceiptId,
    pub(crate) grant: String,
    pub(crate) agent: String,
    pub(crate) syscall: Syscall,
    pub(crate) target: String,
    pub(crate) scope: String,
    pub(crate) issued_at: Timestamp,
    pub(crate) expires_at: Timestamp,
    pub(crate) prev_event: Hash32,
    pub(crate) signer: PublicKey,
    pub(crate) development_signer: bool,
}

impl Receipt {
    /// The receipt's id.
    pub fn id(&self) -> ReceiptId {
        self.id
    }
    /// The operator grant it was minted from.
    pub fn grant(&self) -> &str {
        &self.grant
    }
    /// The agent it was issued to.
    pub fn agent(&self) -> &str {
        &self.agent
    }
    /// The one syscall it authorizes.
    pub fn syscall(&self) -> Syscall {
        self.syscall
    }
    /// The one target it authorizes.
    pub fn target(&self) -> &str {
        &self.target
    }
    /// The grant's scope.
    pub fn scope(&self) -> &str {
        &self.scope
    }
    /// When it was issued.
    pub fn issued_at(&self) -> Timestamp {
        self.issued_at
    }
    /// When it stops being valid (exclusive).
    pub fn expires_at(&self) -> Timestamp {
        self.expires_at
    }
    /// The flight-log event it follows.
    pub fn prev_event(&self) -> Hash32 {
        self.prev_event
    }
    /// The key that signed it.
    pub fn signer(&self) -> PublicKey {
        self.signer
    }
    /// Whether the signer is the development key (then the signature proves nothing).
    pub fn is_development_signed(&self) -> bool {
        self.development_signer
    }

    /// The proof hash: what the signature covers, and what secret handles bind to.
    pub fn proof_hash(&self) -> [u8; 32] {
        proof_of(&self.encode().unwrap_or_default())
    }
}

/// The one canonical encoding of a receipt: postcard over this struct, version first.
#[derive(Serialize, Deserialize)]
struct ReceiptWireV1 {
    version: u8,
    id: [u8; 16],
    grant: String,
    agent: String,
    syscall: String,
    target: String,
    scope: String,
    issued_at: u64,
    expires_at: u64,
    prev_event: [u8; 32],
    signer: [u8; 32],
    development_signer: bool,
}

/// [`ReceiptWireV1`] borrowed, for encoding without copying the strings: the same fields in the
/// same order with the same serde types, so the same bytes (a test holds the two to it).
#[derive(Serialize)]
struct ReceiptWireV1Ref<'a> {
    version: u8,
    id: [u8; 16],
    grant: &'a str,
    agent: &'a str,
    syscall: &'a str,
    target: &'a str,
    scope: &'a str,
    issued_at: u64,
    expires_at: u64,
    prev_event: [u8; 32],
    signer: [u8; 32],
    development_signer: bool,
}

impl Receipt {
    fn to_wire(&self) -> ReceiptWireV1Ref<'_> {
        ReceiptWireV1Ref {
            version: WIRE_VERSION,
            id: self.id.0,
            grant: &self.grant,
            agent: &self.agent,
            syscall: self.syscall.name(),
            target: &self.target,
            scope: &self.scope,
            issued_at: self.issued_at,
            expires_at: self.expires_at,
            prev_event: self.prev_event.0,
            signer: self.signer.to_bytes(),
            development_signer: self.development_signer,
        }
    }

    /// The canonical bytes.
    pub(crate) fn encode(&self) -> Result<Vec<u8>, VerifyError> {
        postcard::to_allocvec(&self.to_wire()).map_err(|_| VerifyError::Malformed)
    }

    /// Decodes canonical bytes: refuses anything that does not re-encode to the same bytes,
    /// an unknown version or syscall, over-long fields, and an invalid key.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Receipt, VerifyError> {
        if bytes.len() > MAX_RECEIPT_BYTES {
            return Err(VerifyError::Malformed);
        }
        let wire: ReceiptWireV1 = postcard::from_bytes(bytes).map_err(|_| VerifyError::Malformed)?;
        if wire.version != WIRE_VERSION {
            return Err(VerifyError::Malformed);
        }
        let receipt = Receipt {
            id: ReceiptId(wire.id),
            syscall: wire.syscall.parse().map_err(|_| VerifyError::Malformed)?,
            signer: PublicKey::from_bytes(&wire.signer).map_err(|_| VerifyError::Malformed)?,
            grant: wire.grant,
            agent: wire.agent,
            target: wire.target,
            scope: wire.scope,
            issued_at: wire.issued_at,
            expires_at: wire.expires_at,
            prev_event: Hash32(wire.prev_event),
            development_signer: wire.development_signer,
        };
        receipt.check_bounds().map_err(|_| VerifyError::Malformed)?;
        if receipt.encode()? != bytes {
            return Err(VerifyError::NotCanonical);
        }
        Ok(receipt)
    }

    fn check_bounds(&self) -> Result<(), MintError> {
        for (field, value, max) in [
            ("grant", &self.grant, MAX_ID_LEN),
            ("agent", &self.agent, MAX_AGENT_LEN),
            ("target", &self.target, MAX_TARGET_LEN),
            ("scope", &self.scope, MAX_SCOPE_LEN),
        ] {
            if value.len() > max {
                return Err(MintError::FieldTooLong { field, max });
            }
        }
        if self.expires_at <= self.issued_at {
            return Err(MintError::BadLifetime);
        }
        Ok(())
    }
}

/// The proof hash: blake3 in derive-key mode under [`RECEIPT_CONTEXT`] over the canonical bytes.
pub(crate) fn proof_of(bytes: &[u8]) -> [u8; 32] {
    crate::keys::context_digest(RECEIPT_CONTEXT, bytes)
}

/// A signed receipt as it travels: the canonical bytes, the proof and the signature, each in
/// lowercase hex. This is untrusted until [`crate::Verifier`] turns it into a
/// [`Verified<Receipt>`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncodedReceipt {
    /// Always `agentk.receipt.v1`.
    pub schema: String,
    /// The canonical receipt bytes, hex.
    pub receipt: String,
    /// The proof hash, hex.
    pub proof: String,
    /// The Ed25519 signature over the proof, hex.
    pub signature: String,
}

/// The `schema` value of an [`EncodedReceipt`].
pub const RECEIPT_SCHEMA: &str = "agentk.receipt.v1";

impl EncodedReceipt {
    /// The JSON text form.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses the JSON text form. Bounded: longer text is refused before parsing.
    pub fn from_json(text: &str) -> Result<Self, VerifyError> {
        if text.len() > 4 * MAX_RECEIPT_BYTES {
            return Err(VerifyError::Malformed);
        }
        serde_json::from_str(text).map_err(|_| VerifyError::Malformed)
    }

    /// The decoded parts: receipt bytes, proof, signature. Checks hex and lengths only.
    pub(crate) fn parts(&self) -> Result<(Vec<u8>, [u8; 32], Signature), VerifyError> {
        if self.schema != RECEIPT_SCHEMA || self.receipt.len() > 2 * MAX_RECEIPT_BYTES {
            return Err(VerifyError::Malformed);
        }
        let bytes = decode_hex_vec(&self.receipt).map_err(|_| VerifyError::Malformed)?;
        let proof = decode_hex::<32>(&self.proof).map_err(|_| VerifyError::Malformed)?;
        let signature = Signature::from_hex(&self.signature).map_err(|_| VerifyError::Malformed)?;
        Ok((bytes, proof, signature))
    }
}

/// What minting needs besides the policy decision: the caller's random id, clock and
/// position in the flight log.
#[derive(Clone, Copy, Debug)]
pub struct MintContext {
    /// A fresh random id.
    pub id: ReceiptId,
    /// The current time.
    pub now: Timestamp,
    /// The hash of the flight-log event this receipt follows.
    pub prev_event: Hash32,
}

/// The one-shot ledger (C7): the only way to mint a receipt, and the only way to spend one.
///
/// Minting evaluates the policy itself, so a receipt exists only for a request the policy
/// allowed on the strength of a covering operator grant; the grant's use budget is counted
/// here. Spending refuses a receipt id already spent and a receipt past its expiry. Spent ids
/// are forgotten once their receipt has expired (it is refused on expiry anyway), so memory
/// stays bounded by the receipts still alive. One ledger serves one policy.
#[derive(Debug, Default)]
pub struct Ledger {
    minted: BTreeMap<String, u32>,
    spent: BTreeMap<ReceiptId, Timestamp>,
    /// The same ids ordered by expiry, so forgetting expired ones costs O(log n) per spend
    /// instead of a scan of every live id.
    expiring: BTreeSet<(Timestamp, ReceiptId)>,
    /// The latest time seen by `redeem`. Expiry is judged against it too, so a clock that
    /// steps back cannot revive a receipt whose id was already forgotten.
    high_water: Timestamp,
}

impl Ledger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// A ledger resumed from a verified record: `minted` counts the receipts already minted
    /// per grant, `spent` the receipts already spent with their expiry, and `now` the latest
    /// time recorded. Budgets and one-shot use carry over a restart.
    pub fn resume(
        minted: BTreeMap<String, u32>,
        spent: impl IntoIterator<Item = (ReceiptId, Timestamp)>,
        now: Timestamp,
    ) -> Self {
        let mut ledger = Ledger { minted, high_water: now, ..Ledger::default() };
        for (id, expires_at) in spent {
            if expires_at > now {
                // An id named twice is remembered until its latest expiry.
                let kept = ledger.spent.entry(id).or_insert(expires_at);
                *kept = (*kept).max(expires_at);
            }
        }
        ledger.expiring = ledger.spent.iter().map(|(id, expires_at)| (*expires_at, *id)).collect();
        ledger
    }

    /// Mints a receipt for `request`, if `policy` allows it on a covering grant whose budget
    /// is not used up. The policy is evaluated once. The receipt is not spent: it is for
    /// presenting elsewhere, and [`Ledger::redeem`] spends it.
    pub fn mint(
        &mut self,
        policy: &Policy,
        request: &Request<'_>,
        signer: &SigningIdentity,
        context: MintContext,
    ) -> Result<(Receipt, EncodedReceipt), MintError> {
        let authorization = match policy.authorize(request) {
            Ok(authorization) => authorization,
            Err(Decision::Deny(verdict)) => return Err(MintError::Denied { rule: verdict.rule_id().to_owned() }),
            Err(Decision::Allow(_)) => return Err(MintError::NoCoveringGrant),
        };
        let receipt = self.count(&authorization, signer, context)?;
        let (bytes, encoded) = seal(&receipt, signer)?;
        drop(bytes);
        Ok((receipt, encoded))
    }

    /// Counts one use of the authorization's grant and builds the receipt it mints, refusing a
    /// spent budget and a lifetime that cannot start at `context.now`.
    fn count(
        &mut self,
        authorization: &Authorization<'_, '_>,
        signer: &SigningIdentity,
        context: MintContext,
    ) -> Result<Receipt, MintError> {
        let (grant, request) = (authorization.grant(), authorization.request());
        let used = self.minted.get(grant.id()).copied().unwrap_or(0);
        if used >= grant.uses() {
            return Err(MintError::BudgetExhausted { grant: grant.id().to_owned() });
        }
        let expires_at = context.now.checked_add(grant.ttl_seconds()).ok_or(MintError::BadLifetime)?;
        let receipt = Receipt {
            id: context.id,
            grant: grant.id().to_owned(),
            agent: request.agent().to_owned(),
            syscall: grant.syscall(),
            target: request.target().to_owned(),
            scope: grant.scope().to_owned(),
            issued_at: context.now,
            expires_at,
            prev_event: context.prev_event,
            signer: signer.public_key(),
            development_signer: signer.is_development(),
        };
        receipt.check_bounds()?;
        match self.minted.get_mut(grant.id()) {
            Some(count) => *count = used + 1,
            None => {
                self.minted.insert(grant.id().to_owned(), used + 1);
            }
        }
        Ok(receipt)
    }

    /// Reserves a receipt for the one event the caller is about to record: the kernel's path,
    /// where the receipt authorizes the very event that carries it. It is spent by that event:
    /// it binds the previous event's hash, which the verifier holds it to, so it can authorize
    /// no other event, and the ledger keeps no id for it (memory stays flat however many allows
    /// a session makes). Counting is cheap and done here; the signature is made by
    /// [`Reservation::sign`], so a ledger shared behind a lock is held only for the count. The
    /// policy is not evaluated again: the [`Authorization`] is its decision on exactly this
    /// request.
    pub fn reserve<'s>(
        &mut self,
        authorization: &Authorization<'_, '_>,
        signer: &'s SigningIdentity,
        context: MintContext,
    ) -> Result<Reservation<'s>, MintError> {
        let receipt = self.count(authorization, signer, context)?;
        self.high_water = self.high_water.max(context.now);
        if self.high_water >= receipt.expires_at {
            // Born expired (the clock stepped back past its lifetime): it is never handed out,
            // so it does not use the grant.
            self.void(&receipt);
            return Err(MintError::BadLifetime);
        }
        Ok(Reservation { receipt: Verified::new(receipt), signer })
    }

    /// [`Ledger::reserve`] and [`Reservation::sign`] in one call.
    pub fn mint_and_spend(
        &mut self,
        authorization: &Authorization<'_, '_>,
        signer: &SigningIdentity,
        context: MintContext,
    ) -> Result<(Verified<Receipt>, EncodedReceipt), MintError> {
        self.reserve(authorization, signer, context)?.sign()
    }

    /// Takes back a receipt from [`Ledger::reserve`] that was never handed out (the event it
    /// was minted for was recorded as a deny without it): its grant gets the use back, so the
    /// budget agrees with what the log shows. Never call it for a receipt that left the kernel.
    pub fn void(&mut self, receipt: &Receipt) {
        self.refund(receipt.grant());
    }

    /// Gives `grant` back one use (see [`Ledger::void`]).
    pub fn refund(&mut self, grant: &str) {
        if let Some(count) = self.minted.get_mut(grant) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.minted.remove(grant);
            }
        }
    }

    /// Counts `uses` more receipts of `grant`, minted elsewhere (in a log being resumed, say).
    /// Counts only ever grow through it, so it can never refill a budget; callers make sure a
    /// receipt is charged once.
    pub fn charge(&mut self, grant: &str, uses: u32) {
        if uses == 0 {
            return;
        }
        match self.minted.get_mut(grant) {
            Some(count) => *count = count.saturating_add(uses),
            None => {
                self.minted.insert(grant.to_owned(), uses);
            }
        }
    }

    /// How many receipts have been minted from `grant`.
    pub fn minted(&self, grant: &str) -> u32 {
        self.minted.get(grant).copied().unwrap_or(0)
    }

    /// Spends a verified receipt for one event at `now`. A second spend of the same id, or a
    /// spend at or after expiry (judged against the latest `now` this ledger has seen), is
    /// refused.
    pub fn redeem(&mut self, receipt: &Verified<Receipt>, now: Timestamp) -> Result<(), RedeemError> {
        self.high_water = self.high_water.max(now);
        if self.high_water >= receipt.expires_at {
            return Err(RedeemError::Expired);
        }
        if now < receipt.issued_at {
            return Err(RedeemError::NotYetValid);
        }
        if self.spent.contains_key(&receipt.id) {
            return Err(RedeemError::AlreadySpent);
        }
        while let Some(&(expires_at, id)) = self.expiring.first()
            && expires_at <= self.high_water
        {
            self.expiring.pop_first();
            // Only the entry this expiry belongs to (the index and the map stay one to one).
            if self.spent.get(&id) == Some(&expires_at) {
                self.spent.remove(&id);
            }
        }
        self.spent.insert(receipt.id, receipt.expires_at);
        self.expiring.insert((receipt.expires_at, receipt.id));
        Ok(())
    }

    /// How many spent ids are remembered (those whose receipts have not yet expired).
    pub fn remembered(&self) -> usize {
        self.spent.len()
    }
}

/// A receipt counted and spent by [`Ledger::reserve`], not yet signed.
#[derive(Debug)]
#[must_use = "a reservation uses a grant; sign it or void it"]
pub struct Reservation<'s> {
    receipt: Verified<Receipt>,
    signer: &'s SigningIdentity,
}

impl Reservation<'_> {
    /// The receipt that will be signed.
    pub fn receipt(&self) -> &Receipt {
        self.receipt.get()
    }

    /// Signs the receipt with the signer it was reserved for. Answers it as verified (this
    /// ledger minted and signed it) without paying for a signature check.
    pub fn sign(self) -> Result<(Verified<Receipt>, EncodedReceipt), MintError> {
        let (_, encoded) = seal(self.receipt.get(), self.signer)?;
        Ok((self.receipt, encoded))
    }
}

/// Encodes, hashes and signs a receipt.
fn seal(receipt: &Receipt, signer: &SigningIdentity) -> Result<(Vec<u8>, EncodedReceipt), MintError> {
    let bytes = receipt.encode().map_err(|_| MintError::Encoding)?;
    let proof = proof_of(&bytes);
    let signature = signer.sign_digest(&proof);
    let encoded = EncodedReceipt {
        schema: RECEIPT_SCHEMA.to_owned(),
        receipt: encode_hex(&bytes),
        proof: encode_hex(&proof),
        signature: signature.to_hex(),
    };
    Ok((bytes, encoded))
}

/// Builds receipts from parts, for tests and fixtures that need receipts no policy would mint
/// (expired ones, forged ones). Hidden and not part of the API. It needs the signing identity,
/// so it gives nothing to anyone who does not already hold the key; the guarantee that
/// receipts come only from [`Ledger::mint`] is about what an agent can obtain, and agents never
/// hold the key.
#[doc(hidden)]
pub mod testing {
    use super::*;

    /// Signs `receipt` as given.
    pub fn sign(receipt: &Receipt, signer: &SigningIdentity) -> EncodedReceipt {
        let bytes = receipt.encode().unwrap_or_default();
        let proof = proof_of(&bytes);
        EncodedReceipt {
            schema: RECEIPT_SCHEMA.to_owned(),
            receipt: encode_hex(&bytes),
            proof: encode_hex(&proof),
            signature: signer.sign_digest(&proof).to_hex(),
        }
    }

    /// Encodes `receipt` canonically.
    pub fn encode(receipt: &Receipt) -> Vec<u8> {
        receipt.encode().unwrap_or_default()
    }

    /// The proof hash of `bytes`.
    pub fn proof(bytes: &[u8]) -> [u8; 32] {
        proof_of(bytes)
    }

    /// Signs a digest with `signer`.
    pub fn sign_digest(signer: &SigningIdentity, digest: &[u8; 32]) -> Signature {
        signer.sign_digest(digest)
    }

    /// A receipt with every field given.
    #[expect(clippy::too_many_arguments, reason = "a test constructor mirrors the struct")]
    pub fn receipt(
        id: [u8; 16],
        grant: &str,
        agent: &str,
        syscall: Syscall,
        target: &str,
        scope: &str,
        issued_at: Timestamp,
        expires_at: Timestamp,
        prev_event: [u8; 32],
        signer: &SigningIdentity,
    ) -> Receipt {
        Receipt {
            id: ReceiptId(id),
            grant: grant.to_owned(),
            agent: agent.to_owned(),
            syscall,
            target: target.to_owned(),
            scope: scope.to_owned(),
            issued_at,
            expires_at,
            prev_event: Hash32(prev_event),
            signer: signer.public_key(),
            development_signer: signer.is_development(),
        }
    }
}
