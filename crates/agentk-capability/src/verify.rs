//! Verification (C2, C3): the only way to obtain a [`Verified`] receipt.

use std::ops::Deref;

use crate::VerifyError;

/// The longest a receipt may live, in seconds: the longest grant lifetime a policy accepts.
pub const MAX_RECEIPT_LIFETIME: u64 = 30 * 24 * 60 * 60;
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
    /// checks to name the first bad receipt when the batch fails.
    ///
    /// It refuses everything [`Verifier::verify`] refuses for structure, trust, lifetime, weak
    /// keys and R encodings (non-canonical or small-order R). One difference remains, inherent
    /// to batching: a signature whose R carries a small-order component passes the batch
    /// equation when its random coefficient happens to absorb it (half the time for an
    /// order-2 component), where strict single verification always refuses it. Only the
    /// private key's holder can make such a signature, and it binds the same proof an honest
    /// signature would; receipts signed by the public development key, which anyone can make,
    /// are therefore always checked one by one. Where two verifiers must agree bit for bit
    /// (replay), use [`Verifier::verify`].
    pub fn verify_batch(&self, encoded: &[EncodedReceipt]) -> Result<Vec<Verified<Receipt>>, (usize, VerifyError)> {
        let mut checked = Vec::with_capacity(encoded.len());
        for (index, item) in encoded.iter().enumerate() {
            let parts = self.check_structure(item).map_err(|e| (index, e))?;
            checked.push(parts);
        }
        let items: Vec<_> =
            checked.iter().map(|(receipt, proof, signature)| (receipt.signer, proof, signature)).collect();
        check_signatures(&items).map_err(|index| (index, VerifyError::BadSignature))?;
        checked
            .into_iter()
            .enumerate()
            .map(|(index, (receipt, _, _))| {
                self.check_lifetime(&receipt).map_err(|e| (index, e))?;
                Ok(Verified::new(receipt))
            })
            .collect()
    }

    /// Everything [`Verifier::verify`] checks except the signature equation, which is put off
    /// so that many can be checked at once by [`confirm_batch`]. The answer is not a
    /// [`Verified`] receipt: its fields may be cross-checked, but only confirming makes one.
    pub fn verify_deferred(&self, encoded: &EncodedReceipt) -> Result<Unconfirmed, VerifyError> {
        let (receipt, proof, signature) = self.check_structure(encoded)?;
        self.check_lifetime(&receipt)?;
        Ok(Unconfirmed { receipt, proof, signature })
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
        let is_development = receipt.signer == crate::SigningIdentity::development_public_key();
        if receipt.development_signer != is_development {
            return Err(VerifyError::Malformed);
        }
        if let Trust::Pinned(signers) = self.trust {
            signers.check_span(&receipt.signer, receipt.issued_at, receipt.expires_at)?;
        }
        Ok((receipt, proof, signature))
    }

    fn check_lifetime(&self, receipt: &Receipt) -> Result<(), VerifyError> {
        // No grant lives longer than this, so no honest receipt does either.
        if receipt.expires_at.saturating_sub(receipt.issued_at) > MAX_RECEIPT_LIFETIME {
            return Err(VerifyError::LifetimeTooLong);
        }
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
/// the key is of small order. Keys are refused at parse time when weak; R is checked here on
/// its encoding alone, which costs a few byte comparisons instead of a point decompression.
fn strict_small_order_free(key: &PublicKey, _proof: &[u8; 32], signature: &crate::keys::Signature) -> bool {
    let bytes = signature.to_bytes();
    let mut y = [0u8; 32];
    y.copy_from_slice(bytes.get(..32).unwrap_or(&[0; 32]));
    // The top bit is x's sign; the rest is y. A point is small-order exactly when its y is
    // the y of one of the eight torsion points (negating x keeps the order).
    if let Some(top) = y.last_mut() {
        *top &= 0x7f;
    }
    is_canonical_y(&y) && !small_order_ys().contains(&y) && !key.0.is_weak()
}

/// Whether `y` (255 bits, little-endian) is below p = 2^255 - 19.
fn is_canonical_y(y: &[u8; 32]) -> bool {
    let (low, rest) = y.split_first().map_or((0, &[][..]), |(l, r)| (*l, r));
    let (top, middle) = rest.split_last().map_or((0, &[][..]), |(t, m)| (*t, m));
    !(top == 0x7f && middle.iter().all(|&b| b == 0xff) && low >= 0xed)
}

/// The y-coordinates (sign bit cleared) of the eight small-order points.
fn small_order_ys() -> &'static [[u8; 32]] {
    static YS: std::sync::OnceLock<Vec<[u8; 32]>> = std::sync::OnceLock::new();
    YS.get_or_init(|| {
        curve25519_dalek::constants::EIGHT_TORSION
            .iter()
            .map(|point| {
                let mut y = point.compress().0;
                if let Some(top) = y.last_mut() {
                    *top &= 0x7f;
                }
                y
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_order_encodings_are_recognised() {
        // Five distinct y values: 1 (identity), p-1 (order 2), 0 (order 4), and the two of order 8.
        let mut ys = small_order_ys().to_vec();
        ys.sort_unstable();
        ys.dedup();
        assert_eq!(ys.len(), 5);
        for y in ys {
            let point = curve25519_dalek::edwards::CompressedEdwardsY(y).decompress().unwrap();
            assert!(point.is_small_order());
        }
    }

    #[test]
    fn canonical_y_bound_is_p() {
        let mut p = [0xff; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        assert!(!is_canonical_y(&p));
        p[0] = 0xec;
        assert!(is_canonical_y(&p));
    }
}

/// A receipt that passed every check but its signature (see [`Verifier::verify_deferred`]).
#[derive(Clone, Debug)]
pub struct Unconfirmed {
    receipt: Receipt,
    proof: [u8; 32],
    signature: crate::keys::Signature,
}

impl Unconfirmed {
    /// The receipt's fields, not yet vouched for by its signature.
    pub fn unconfirmed(&self) -> &Receipt {
        &self.receipt
    }
}

/// Checks the signatures of receipts from [`Verifier::verify_deferred`] in one batch (with
/// the same strictness and the one inherent difference documented on
/// [`Verifier::verify_batch`]), answering them verified, or the index of the first whose
/// signature fails on its own.
pub fn confirm_batch(items: Vec<Unconfirmed>) -> Result<Vec<Verified<Receipt>>, usize> {
    let refs: Vec<_> = items.iter().map(|u| (u.receipt.signer, &u.proof, &u.signature)).collect();
    check_signatures(&refs)?;
    Ok(items.into_iter().map(|u| Verified::new(u.receipt)).collect())
}

/// One batched check of `(key, proof, signature)` triples, falling back to single checks to
/// name the first bad one. Development-key signatures are always checked one by one (anyone
/// can make them), and every signature is held to the strict single rules on R as well.
fn check_signatures(items: &[(PublicKey, &[u8; 32], &crate::keys::Signature)]) -> Result<(), usize> {
    let development = crate::SigningIdentity::development_public_key();
    for (index, (key, proof, signature)) in items.iter().enumerate() {
        if *key == development && !key.verify_digest(proof, signature) {
            return Err(index);
        }
    }
    let messages: Vec<&[u8]> = items.iter().map(|(_, proof, _)| proof.as_slice()).collect();
    let signatures: Vec<ed25519_dalek::Signature> =
        items.iter().map(|(_, _, s)| ed25519_dalek::Signature::from_bytes(&s.to_bytes())).collect();
    let keys: Vec<ed25519_dalek::VerifyingKey> = items.iter().map(|(key, _, _)| key.0).collect();
    if ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_err() {
        return Err(items.iter().position(|(key, proof, signature)| !key.verify_digest(proof, signature)).unwrap_or(0));
    }
    match items.iter().position(|(key, proof, signature)| !strict_small_order_free(key, proof, signature)) {
        Some(index) => Err(index),
        None => Ok(()),
    }
}
