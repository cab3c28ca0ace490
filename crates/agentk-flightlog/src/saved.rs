//! What leaves the log to be kept elsewhere: a saved signed checkpoint (`agentk checkpoint`)
//! and inclusion and consistency proofs against one (`agentk prove-inclusion`,
//! `agentk prove-consistency`). Both are small JSON files that verify with nothing but
//! themselves (F4); a proof pinned to a saved checkpoint proves membership in, or the
//! append-only growth of, the log that checkpoint signed.

use agentk_capability::{PublicKey, SignContext, Signature, decode_hex, encode_hex};
use serde::{Deserialize, Serialize};

use crate::event::{Hash32, checkpoint_statement};
use crate::merkle::{self, leaf_hash};
use crate::verify::ChainVerified;

/// The saved checkpoint schema.
pub const CHECKPOINT_SCHEMA: &str = "agentk.checkpoint.v1";
/// The inclusion proof schema.
pub const INCLUSION_SCHEMA: &str = "agentk.inclusion-proof.v1";
/// The consistency proof schema.
pub const CONSISTENCY_SCHEMA: &str = "agentk.consistency-proof.v1";

/// Why a saved checkpoint or proof does not verify. Coarse on purpose: the details of a bad
/// signature or path help nobody but an attacker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SavedError {
    /// Not a saved checkpoint of this schema.
    #[error("the checkpoint is malformed or its signature fails")]
    BadCheckpoint,
    /// Not a proof of a schema this build reads.
    #[error("the proof file is malformed")]
    MalformedProof,
    /// The proof's path does not lead to its root.
    #[error("the proof does not verify")]
    ProofFails,
    /// The proof is for another tree than the checkpoint.
    #[error("the proof is for another tree than the checkpoint")]
    OtherTree,
}

/// A signed checkpoint kept outside the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedCheckpoint {
    /// [`CHECKPOINT_SCHEMA`].
    pub schema: String,
    /// The log's id, hex.
    pub log_id: String,
    /// How many events it covers.
    pub size: u64,
    /// The Merkle root over them, hex.
    pub root: String,
    /// The log signer's public key, hex.
    pub signer: String,
    /// The signature over `(log_id, size, root)`, hex.
    pub signature: String,
}

impl SavedCheckpoint {
    /// The latest checkpoint of a verified log, if it has one.
    pub fn of(verified: &ChainVerified) -> Option<Self> {
        let (genesis, last) = (verified.genesis()?, verified.last_checkpoint()?);
        Some(SavedCheckpoint {
            schema: CHECKPOINT_SCHEMA.to_owned(),
            log_id: encode_hex(&genesis.log_id.0),
            size: last.size,
            root: encode_hex(&last.root.0),
            signer: genesis.signer.clone(),
            signature: last.signature.clone(),
        })
    }

    /// Checks that it is well formed and signed by the key it names; answers that key and the
    /// root.
    pub fn check(&self) -> Result<(PublicKey, Hash32), SavedError> {
        let bad = SavedError::BadCheckpoint;
        let log_id = Hash32(decode_hex::<32>(&self.log_id).map_err(|_| bad)?);
        let root = Hash32(decode_hex::<32>(&self.root).map_err(|_| bad)?);
        let signer = PublicKey::from_hex(&self.signer).map_err(|_| bad)?;
        let signature = Signature::from_hex(&self.signature).map_err(|_| bad)?;
        let statement = checkpoint_statement(&log_id, self.size, &root);
        if self.schema != CHECKPOINT_SCHEMA
            || !signer.verify_in_context(SignContext::Checkpoint, &statement, &signature)
        {
            return Err(bad);
        }
        Ok((signer, Hash32(root.0)))
    }
}

/// An inclusion or consistency proof against a tree of `size` events with `root`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofFile {
    /// [`INCLUSION_SCHEMA`] or [`CONSISTENCY_SCHEMA`].
    pub schema: String,
    /// The log's id, hex.
    pub log_id: String,
    /// The tree size the proof is against (a signed checkpoint's).
    pub size: u64,
    /// The tree root the proof is against, hex.
    pub root: String,
    /// Inclusion: the event's index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    /// Inclusion: the event's hash, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_hash: Option<String>,
    /// Consistency: the older size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_size: Option<u64>,
    /// Consistency: the older root, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_root: Option<String>,
    /// The proof's hashes, hex.
    pub path: Vec<String>,
}

fn hash(text: &str) -> Result<Hash32, SavedError> {
    decode_hex::<32>(text).map(Hash32).map_err(|_| SavedError::MalformedProof)
}

fn hex_path(path: &[Hash32]) -> Vec<String> {
    path.iter().map(|h| encode_hex(&h.0)).collect()
}

impl ProofFile {
    /// Proves that the event with `hashes[index]` is in the tree over `hashes` (the event hashes
    /// of a log up to a checkpoint of `hashes.len()` events). For a log too long to hold, see
    /// [`ProofFile::inclusion_from`] with [`merkle::RangeRoots`].
    pub fn inclusion(log_id: &Hash32, hashes: &[Hash32], index: u64) -> Result<Self, merkle::ProofError> {
        let leaves: Vec<Hash32> = hashes.iter().map(|h| leaf_hash(&h.0)).collect();
        let path = merkle::inclusion_proof(&leaves, index)?;
        let event = usize::try_from(index).ok().and_then(|i| hashes.get(i)).copied().unwrap_or_default();
        Ok(Self::inclusion_from(log_id, leaves.len() as u64, &merkle::root(&leaves), index, &event, &path))
    }

    /// An inclusion proof from its parts: the tree (`size`, `root`), the event and the path.
    pub fn inclusion_from(
        log_id: &Hash32,
        size: u64,
        root: &Hash32,
        index: u64,
        event: &Hash32,
        path: &[Hash32],
    ) -> Self {
        ProofFile {
            schema: INCLUSION_SCHEMA.to_owned(),
            log_id: encode_hex(&log_id.0),
            size,
            root: encode_hex(&root.0),
            index: Some(index),
            event_hash: Some(encode_hex(&event.0)),
            old_size: None,
            old_root: None,
            path: hex_path(path),
        }
    }

    /// Proves that the tree over the first `old_size` of `hashes` is a prefix of the tree over
    /// all of them.
    pub fn consistency(log_id: &Hash32, hashes: &[Hash32], old_size: u64) -> Result<Self, merkle::ProofError> {
        let leaves: Vec<Hash32> = hashes.iter().map(|h| leaf_hash(&h.0)).collect();
        let path = merkle::consistency_proof(&leaves, old_size)?;
        let old = leaves.get(..usize::try_from(old_size).unwrap_or(usize::MAX)).unwrap_or_default();
        let size = leaves.len() as u64;
        Ok(Self::consistency_from(log_id, size, &merkle::root(&leaves), old_size, &merkle::root(old), &path))
    }

    /// A consistency proof from its parts: the newer tree (`size`, `root`), the older one and
    /// the path.
    pub fn consistency_from(
        log_id: &Hash32,
        size: u64,
        root: &Hash32,
        old_size: u64,
        old_root: &Hash32,
        path: &[Hash32],
    ) -> Self {
        ProofFile {
            schema: CONSISTENCY_SCHEMA.to_owned(),
            log_id: encode_hex(&log_id.0),
            size,
            root: encode_hex(&root.0),
            index: None,
            event_hash: None,
            old_size: Some(old_size),
            old_root: Some(encode_hex(&old_root.0)),
            path: hex_path(path),
        }
    }

    /// Checks the proof on its own: its path leads from the event (or the older root) to its
    /// root.
    pub fn verify(&self) -> Result<(), SavedError> {
        let root = hash(&self.root)?;
        let path: Vec<Hash32> = self.path.iter().map(|p| hash(p)).collect::<Result<_, _>>()?;
        let valid = match (self.schema.as_str(), self.index, &self.event_hash, self.old_size, &self.old_root) {
            (INCLUSION_SCHEMA, Some(index), Some(event), None, None) => {
                merkle::verify_inclusion(&leaf_hash(&hash(event)?.0), index, self.size, &path, &root)
            }
            (CONSISTENCY_SCHEMA, None, None, Some(old), Some(old_root)) => {
                merkle::verify_consistency(old, self.size, &hash(old_root)?, &root, &path)
            }
            _ => return Err(SavedError::MalformedProof),
        };
        if valid { Ok(()) } else { Err(SavedError::ProofFails) }
    }

    /// For a consistency proof, checks that its older tree is the one `older` signed (whose
    /// signature is checked). With [`ProofFile::verify_against`] on the newer checkpoint, and
    /// the caller checking that both checkpoints name the same signer (this checks only
    /// `older`), it proves the log only grew between the two.
    pub fn extends(&self, older: &SavedCheckpoint) -> Result<(), SavedError> {
        self.verify()?;
        let (_, old_root) = older.check()?;
        let same = self.schema == CONSISTENCY_SCHEMA
            && self.old_size == Some(older.size)
            && self.old_root.as_deref().map(hash).transpose()? == Some(old_root)
            && self.log_id == older.log_id;
        if same { Ok(()) } else { Err(SavedError::OtherTree) }
    }

    /// Checks the proof and that it is against the tree `checkpoint` signed (whose signature is
    /// checked too).
    pub fn verify_against(&self, checkpoint: &SavedCheckpoint) -> Result<(), SavedError> {
        self.verify()?;
        let (_, root) = checkpoint.check()?;
        let same = self.size == checkpoint.size && hash(&self.root)? == root && self.log_id == checkpoint.log_id;
        if same { Ok(()) } else { Err(SavedError::OtherTree) }
    }
}
