//! The vocabulary of every AgentK decision: taint labels, label sets, syscall kinds and the
//! rule that says which labels a syscall's output carries.
//!
//! # Invariants
//!
//! - **P1** Every syscall name, however malformed, parses into a [`SyscallKind`]; a name that is
//!   not one of the [`Syscall`]s becomes [`SyscallKind::Unknown`]. Parsing a syscall name cannot
//!   fail, so no caller can skip a decision by sending a name the kernel does not know.
//! - **P7** Labels only grow along a data flow: [`propagate`] returns at least the join of the
//!   inputs' labels for every syscall and outcome, and it is monotone in its input.
//! - A [`LabelSet`] is a `Copy` bitset over the six [`Label`]s. It has one text form
//!   (canonical order, comma separated, `none` for the empty set) that parses back to the
//!   same set; parsing rejects unknown names.
//! - Text that came from outside (a syscall name, an unknown label) is only ever shown through
//!   [`SafeText`], which bounds its length and escapes control characters.
//!
//! # Non-goals
//!
//! This crate decides nothing (that is `agentk-policy`), does no I/O and reads no clock or
//! randomness. `trusted` is a provenance marker, not a clearance: joining it with `untrusted`
//! keeps both, and policies decide on the taint labels.
//!
//! # Example
//!
//! ```
//! use agentk_labels::{Label, LabelSet, Outcome, Syscall, SyscallKind, propagate};
//!
//! let page: LabelSet = "untrusted,external".parse()?;
//! let notes = LabelSet::of(Label::Private);
//!
//! // A model call that reads both carries both.
//! let answer = propagate(&SyscallKind::Known(Syscall::ModelCall), page | notes, Outcome::Ok);
//! assert!(answer.contains(Label::Private) && answer.contains(Label::Untrusted));
//!
//! // A tool response is external data, and an error response is suspect too.
//! let err = propagate(&SyscallKind::parse("tool.response"), LabelSet::EMPTY, Outcome::Error);
//! assert_eq!(err.to_string(), "untrusted,external,poisoned-suspect");
//!
//! // Unknown names are not an error: they are a kind that policy always denies.
//! assert!(SyscallKind::parse("kernel.reboot").is_unknown());
//! # Ok::<(), agentk_labels::LabelError>(())
//! ```
#![forbid(unsafe_code)]

pub mod json;
mod label;
mod propagate;
mod set;
mod syscall;
mod text;

pub use label::Label;
pub use propagate::{Outcome, propagate};
pub use set::{LabelSet, LabelSetIter};
pub use syscall::{Syscall, SyscallKind, UnknownSyscall};
pub use text::{LineIndex, SafeText};

/// What can go wrong when reading labels from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LabelError {
    /// The name is not one of the six labels.
    #[error("unknown label {name}")]
    UnknownLabel {
        /// The offending name, bounded and escaped for display.
        name: SafeText,
    },
    /// The text is not a syscall name this version knows.
    #[error("unknown syscall {name}")]
    UnknownSyscall {
        /// The offending name, bounded and escaped for display.
        name: SafeText,
    },
}
