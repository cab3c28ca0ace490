//! The flight recorder's tamper evidence. **Work in progress** (issue "The kernel and its
//! flight recorder"): this first part is the Merkle tree over event hashes that signed
//! checkpoints, inclusion proofs and consistency proofs are built on. The kernel, the JSONL
//! event log, its hash chain, checkpoints and crash safety arrive with the rest of the issue.
//!
//! # Invariants
//!
//! - **F4 (part)** [`merkle::root`] is RFC 9162's tree shape; [`merkle::Frontier`] keeps the
//!   same root while holding at most 64 hashes, whatever the number of leaves; inclusion and
//!   consistency proofs verify with nothing but the proof, the sizes and the roots, and any
//!   change to a proof, a leaf, an index, a size or a root makes verification fail.
//! - Leaf, node and empty-tree hashes use separate named blake3 contexts, so a leaf can never
//!   pass for a node (RFC 9162's `0x00`/`0x01` prefixes, by other means).
//!
//! # Non-goals
//!
//! Everything else in the issue, for now: no event format, no file I/O, no signatures.
//!
//! # Example
//!
//! ```
//! use agentk_flightlog::merkle::{self, Frontier};
//!
//! let leaves: Vec<_> = (0u8..5).map(|i| merkle::leaf_hash(&[i])).collect();
//! let mut frontier = Frontier::new();
//! leaves.iter().for_each(|leaf| frontier.push(*leaf));
//! let root = frontier.root();
//! assert_eq!(root, merkle::root(&leaves));
//!
//! let proof = merkle::inclusion_proof(&leaves, 3)?;
//! assert!(merkle::verify_inclusion(&leaves[3], 3, 5, &proof, &root));
//!
//! let old_root = merkle::root(&leaves[..2]);
//! let consistency = merkle::consistency_proof(&leaves, 2)?;
//! assert!(merkle::verify_consistency(2, 5, &old_root, &root, &consistency));
//! # Ok::<(), merkle::ProofError>(())
//! ```
#![forbid(unsafe_code)]

pub mod merkle;
