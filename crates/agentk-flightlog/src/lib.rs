//! The kernel and its flight recorder: the [`kernel::Kernel`], which decides, mints and records
//! every syscall into a [`kernel::RecordSink`] before answering (and resumes a log after a
//! restart); the [`event`] format with its hash chain and signed checkpoints; streaming
//! [`verify`]; the JSONL [`file`](mod@file) sink with its lock, sync policies and torn-tail recovery; the
//! [`merkle`] tree and its proofs; and [`kernel::Rehearsal`], the kernel's decision procedure
//! in a side-effect-free environment, for replay.
//!
//! # Invariants
//!
//! - **F1 (chain)** Every call of [`kernel::Kernel::syscall`], allowed or denied, appends exactly
//!   one event to the sink before it returns; if the sink fails, no decision is returned. Each
//!   event line is canonical JSON whose hash covers every field and the previous event's hash;
//!   [`verify::ChainVerifier`] finds any changed byte, dropped, duplicated, reordered or
//!   inserted line, and names the line. (Tail truncation is caught by the signed-tail rule and a saved checkpoint.)
//! - Inputs reach the log only as labels and keyed digests ([`kernel::EvidenceSalt`]); raw
//!   content never does.
//! - An allow on a grant carries a receipt minted and spent for that event and bound to the
//!   previous event's hash; an allowed `secret.open` carries a handle bound to that receipt;
//!   a deny carries neither.
//! - **F4 (part)** [`merkle::root`] is RFC 9162's tree shape; [`merkle::Frontier`] keeps the
//!   same root in at most 64 hashes; inclusion and consistency proofs verify with nothing but
//!   the proof, the sizes and the roots.
//! - Deterministic with a fixed [`kernel::Clock`] and [`kernel::Entropy`].
//! - The live kernel and [`kernel::Rehearsal`] decide through one function; a rehearsal has no
//!   signer, ledger, broker or sink, so it cannot act.
//!
//! # Non-goals
//!
//! Reading the environment or the file system (callers supply the sink, clock and entropy).
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

pub mod builder;
pub mod event;
pub mod file;
pub mod host;
pub mod kernel;
pub mod ledger;
pub mod merkle;
pub mod saved;
pub mod verify;
