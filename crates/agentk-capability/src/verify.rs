//! Verification (C2, C3): the only way to obtain a [`Verified`] receipt.

use std::ops::Deref;

use crate::VerifyError;
use crate::keys::PublicKey;
use crate::receipt::{EncodedReceipt, Receipt, Timestamp, proof_of};
use crate::trust::TrustedSigners;

/// A value that passed verification. Only this crate's verifiers construct one, so code that
/// takes a `Verified<Receipt>` cannot be handed an unchecked receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified<T>(T);

impl<T> Verified<T> {
    pub(crate) fn new(value: T) -> Self {
        Verified(value)
    }

    /// The verified value.
    pub fn get(&self) -> &T {
        &self.0
    }

    /// Gives up the proof of verification.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Verified<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// Which signers a verifier accepts.
#[derive(Clone, Copy, Debug)]
pub enum Trust<'t> {
    /// Any valid signature by the key the receipt names. This proves the receipt is intact
    /// and was signed by that key, not that the key is one you trust.
    ReceiptKey,
    /// Only keys in this set (not revoked, and inside their validity window when the receipt
    /// was issued).
    Pinned(&'t TrustedSigners),
}

/// Verifies encoded receipts against a trust policy and a clock reading.
#[derive(Clone, Copy, Debug)]
pub struct Verifier<'t> {
    trust: Trust<'t>,
    now: Timestamp,
}

impl<'t> Verifier<'t> {
    /// A verifier that trusts `trust` and judges expiry at `now`.
    pub fn new(trust: Trust<'t>, now: Timestamp) -> Self {
        Verifier { trust, now }
    }

    /// Checks, in order: hex and lengths, canonical decoding, the proof against the bytes,
    /// the signer against the trust policy, the signature (strict Ed25519), and the lifetime.
    /// Any failure is a refusal; the error says which step, coarsely.
    pub fn verify(&self, encoded: &EncodedReceipt) -> Result<Verified<Receipt>, VerifyError> {
        let (receipt, proof, signature) = self.check_structure(encoded)?;
        if !receipt.signer.verify_digest(&proof, &signature) {
            return Err(VerifyError::BadSignature);
        }
        self.check_lifetime(&receipt)?;
        Ok(Verified::new(receipt))
    }

    /// Verifies many receipts with one batched signature check, falling back to one-by-one
    /// checks to name the first bad receipt when the batch fails. Accepts exactly what
    /// [`Verifier::verify`] accepts, receipt by receipt (the batch equation, like strict
    /// verification, is cofactorless, and weak keys are refused when keys are parsed).
    pub fn verify_batch(
        &self,
        encoded: &[EncodedReceipt],
    ) -> Result<Vec<Verified<Receipt>>, (usize, VerifyError)> {
        let mut checked = Vec::with_capacity(encoded.len());
        for (index, item) in encoded.iter().enumerate() {
            let parts = self.check_structure(item).map_err(|e| (index, e))?;
            checked.push(parts);
        }
        let messages: Vec<&[u8]> = checked
            .iter()
            .map(|(_, proof, _)| proof.as_slice())
            .collect();
        let signatures: Vec<ed25519_dalek::Signature> = checked
            .iter()
            .map(|(_, _, s)| ed25519_dalek::Signature::from_bytes(&s.to_bytes()))
            .collect();
        let keys: Vec<ed25519_dalek::VerifyingKey> =
            checked.iter().map(|(r, _, _)| r.signer.0).collect();
        if ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_err() {
            // Name the first receipt that fails on its own.
            for (index, (receipt, proof, signature)) in checked.iter().enumerate() {
                if !receipt.signer.verify_digest(proof, signature) {
                    return Err((index, VerifyError::BadSignature));
                }
            }
            return Err((0, VerifyError::BadSignature));
        }
        // The batch passed; hold each signature to the strict single rules as well, so the two
        // paths can never disagree on a crafted signature.
        for (index, (receipt, proof, signature)) in checked.iter().enumerate() {
            if !strict_small_order_free(&receipt.signer, proof, signature) {
                return Err((index, VerifyError::BadSignature));
            }
        }
        checked
            .into_iter()
            .enumerate()
            .map(|(index, (receipt, _, _))| {
                self.check_lifetime(&receipt).map_err(|e| (index, e))?;
                Ok(Verified::new(receipt))
            })
            .collect()
    }

    fn check_structure(
        &self,
        encoded: &EncodedReceipt,
    ) -> Result<(Receipt, [u8; 32], crate::keys::Signature), VerifyError> {
        let (bytes, proof, signature) = encoded.parts()?;
        let receipt = Receipt::decode(&bytes)?;
        if proof_of(&bytes) != proof {
            return Err(VerifyError::ProofMismatch);
        }
        let is_development = receipt.signer == crate::SigningIdentity::development().public_key();
        if receipt.development_signer != is_development {
            return Err(VerifyError::Malformed);
        }
        if let Trust::Pinned(signers) = self.trust {
            signers.check(&receipt.signer, receipt.issued_at)?;
        }
        Ok((receipt, proof, signature))
    }

    fn check_lifetime(&self, receipt: &Receipt) -> Result<(), VerifyError> {
        if self.now >= receipt.expires_at {
            return Err(VerifyError::Expired);
        }
        if self.now < receipt.issued_at {
            return Err(VerifyError::NotYetValid);
        }
        Ok(())
    }
}

/// What `verify_strict` checks beyond the cofactorless equation the batch also checks: that
/// R is canonically encoded (strict verification compares encodings) and that neither R nor
/// the key is of small order.
fn strict_small_order_free(
    key: &PublicKey,
    _proof: &[u8; 32],
    signature: &crate::keys::Signature,
) -> bool {
    let bytes = signature.to_bytes();
    let mut r = [0u8; 32];
    r.copy_from_slice(bytes.get(..32).unwrap_or(&[0; 32]));
    let r_ok = curve25519_dalek::edwards::CompressedEdwardsY(r)
        .decompress()
        .is_some_and(|point| !point.is_small_order() && point.compress().0 == r);
    r_ok && !key.0.is_weak()
}
