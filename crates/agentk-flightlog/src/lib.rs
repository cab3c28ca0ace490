//! The kernel and its flight recorder: the entry point for embedding AgentK. The
//! [`kernel::Kernel`] decides, mints and records every syscall into a [`kernel::RecordSink`]
//! before answering; [`builder::KernelBuilder`] builds one in a line with the defaults a user
//! expects; the [`event`] format with its hash chain and signed checkpoints; streaming
//! [`verify`]; [`accept`], the one rule every reader applies to decide whether a log is accepted
//! (one pass, spread over threads); the JSONL [`file`](mod@file) sink with its lock, sync policies and torn-tail
//! recovery; the [`merkle`] tree and its proofs; [`ledger::SharedLedger`], grant budgets shared
//! by many kernels; [`host`], the one module that touches the machine (environment, key files,
//! clock, randomness, run files); and [`kernel::Rehearsal`], the kernel's decision procedure in
//! a side-effect-free environment, for replay.
//!
//! # Invariants
//!
//! - **F1 (chain)** Every decision, allowed or denied, is appended to the sink as one event
//!   before it is returned: [`kernel::Kernel::submit`] decides a batch in order, seals its
//!   events into the chain and writes them with one write (one sync under `always`) before
//!   answering any of them; nothing already answered waits in a user-space buffer, so a crash
//!   loses no decision anyone has seen. If the sink fails, no decision of that batch is
//!   returned and the kernel decides nothing more. Each event line is canonical JSON whose hash
//!   covers every field and the previous event's hash; [`verify::ChainVerifier`] finds any
//!   changed byte, dropped, duplicated, reordered or inserted line, and names the line. (Tail
//!   truncation is caught by the signed-tail rule and a saved checkpoint.)
//! - Inputs and outputs reach the log only as labels and keyed digests
//!   ([`kernel::EvidenceSalt`]); raw content never does.
//! - An allow on a grant carries a receipt minted and spent for that event and bound to the
//!   previous event's hash; an allowed `secret.open` carries a handle bound to that receipt;
//!   a deny carries neither. The policy is evaluated once per decision, and a receipt is
//!   minted only from the policy's [`agentk_policy::Authorization`] of that very request.
//! - **P7** An output event keeps every label its allowing decision gave the output (labels
//!   only grow), an error adds `poisoned-suspect`, and the kernel records one only for an
//!   [`kernel::Action`] an allow of this very kernel handed out (the verifier checks only that
//!   an output's link points backwards).
//! - **C7 across sessions** Kernels sharing a [`ledger::SharedLedger`] never mint more
//!   receipts from a grant than its uses; every use is counted once, against the log that
//!   carries its receipt, so resuming several logs adds them up and a journalled ledger counts
//!   them again after a restart: no restart refills a budget. A missing journal is refused.
//! - Every line the kernel writes is one a verifier reads: a request whose line would be too
//!   long is decided again as malformed and recorded in bounded form, and what it had reserved
//!   is given back. A kernel dropped while a batch unwinds signs nothing it did not write.
//! - **F4 (part)** [`merkle::root`] is RFC 9162's tree shape; [`merkle::Frontier`] keeps the
//!   same root in at most 64 hashes; inclusion and consistency proofs verify with nothing but
//!   the proof, the sizes and the roots.
//! - Deterministic with a fixed [`kernel::Clock`] and [`kernel::Entropy`].
//! - The live kernel and [`kernel::Rehearsal`] decide through one function; a rehearsal has no
//!   signer, ledger, broker or sink, so it cannot act.
//!
//! # Non-goals
//!
//! Mediating a protocol (the MCP layer does, over this kernel); choosing where secrets live
//! (`agentk-secrets`). Only [`host`] reads the environment or the clock or draws randomness,
//! and only [`host`], [`file`](mod@file) and [`ledger`] touch the file system; the kernel takes
//! all of them injected, which is what keeps replay exact.
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

pub mod accept;
/// The README's Rust examples, compiled (and, unless marked `no_run`, run) as doctests so they
/// stay true. They live here, the lowest crate that has everything they use.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeExample;

pub mod builder;
pub mod event;
pub mod file;
pub mod host;
pub mod kernel;
pub mod ledger;
mod line;
pub mod merkle;
pub mod saved;
pub mod verify;
