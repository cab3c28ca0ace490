//! Typed syscall policies that validate before use, decide first-match-wins, and explain
//! every decision.
//!
//! A policy is a TOML file of ordered rules and operator grants (the format is documented in
//! `docs/policy.md`). [`Policy::parse`] validates it completely before it can be used, and
//! [`Policy::evaluate`] decides a [`Request`] into a [`Decision`] that names the rule that fired
//! and, through [`Decision::explain`], says why and what would change it.
//!
//! # Invariants
//!
//! - **P1** An unknown syscall kind is denied by the built-in rule `default-deny` before any
//!   policy rule is consulted; evaluation has no error path, so nothing escapes a decision.
//! - **P5** A [`Policy`] value exists only after validation. Unknown keys, syscalls or labels,
//!   duplicate ids, empty lists, contradictory conditions, rules shadowed by an earlier rule,
//!   a catch-all that is not last, a catch-all that allows, and a missing catch-all are each
//!   reported with line and column, all at once, and the policy is refused.
//! - **P6** Every [`Decision`] names its rule; its [`Explanation`] gives the source labels, the
//!   sink syscall and target, the matched conditions, the capability state and, for a deny, the
//!   smallest change that would allow it. A grant is suggested only when re-evaluation shows
//!   a grant alone would allow the request.
//! - Capabilities come from the operator: a [`Request`] can only name a [`Grant`] written in the
//!   policy, and it counts only if it covers the request's agent, syscall and target.
//! - The starter policy keeps **P2** (no `network.send` of `secret` or `private` data), **P3**
//!   (`secret.open` needs a grant for that exact target) and **P4** (`tool.invoke`,
//!   `resource.read` and `prompt.get` refuse `secret`, `private`, `untrusted` and
//!   `poisoned-suspect` data even with a grant).
//! - Evaluation is pure and deterministic: no I/O, clock or randomness.
//!
//! # Non-goals
//!
//! This crate does not read files (callers pass text), mint or check signed receipts
//! (`agentk-capability`), count grant uses or expiry (that needs a clock and state), or record
//! decisions (`agentk-flightlog`).
//!
//! # Example
//!
//! ```
//! use agentk_labels::{LabelSet, Syscall};
//! use agentk_policy::{Profile, Request, Remedy};
//!
//! let policy = Profile::Starter.load()?;
//! let labels: LabelSet = "private,untrusted".parse()?;
//! let request = Request::new("agent-1", Syscall::NetworkSend, "https://evil.example.invalid/")
//!     .with_labels(labels);
//! let decision = policy.evaluate(&request);
//! assert!(!decision.is_allowed());
//! assert_eq!(decision.rule_id(), "egress-sensitive-data");
//!
//! let why = decision.explain(&request);
//! assert!(matches!(why.remedy, Some(Remedy::Declassify { .. })));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod builtin;
mod diag;
mod eval;
mod explain;
mod index;
mod model;
mod parse;
mod pattern;
#[doc(hidden)]
pub mod testing;

use agentk_labels::SafeText;

pub use builtin::Profile;
pub use diag::{Contradiction, Diagnostic, DiagnosticKind, KeyPath};
pub use eval::{Authorization, Capability, Decision, DefaultDenyCause, Fired, Request, Verdict};
pub use explain::{CapabilityReport, Explanation, Matched, Remedy};
pub use model::{CapabilityCondition, Conditions, Effect, Grant, Policy, Rule, ToolClass, ToolRule};
pub use parse::{DEFAULT_DENY, KERNEL_RULE_IDS, MAX_POLICY_BYTES};
pub use pattern::{Pattern, PatternProblem};

/// What can go wrong when loading a policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The policy failed validation; every problem found is listed.
    #[error("policy {source_name} is invalid: {} problem(s)", diagnostics.len())]
    Invalid {
        /// The name the caller gave the source (usually its path).
        source_name: SafeText,
        /// The problems, in source order.
        diagnostics: Vec<Diagnostic>,
    },
    /// No built-in policy has that name.
    #[error("unknown built-in policy {name}")]
    UnknownProfile {
        /// The name asked for.
        name: SafeText,
    },
}

impl Policy {
    /// Parses and validates a policy. `source_name` names the text in errors (a path, or
    /// `<built-in starter>`). Every problem is reported, not only the first.
    pub fn parse(source_name: &str, text: &str) -> Result<Policy, PolicyError> {
        parse::parse(text).map_err(|diagnostics| PolicyError::Invalid {
            source_name: SafeText::with_limit(source_name, 256),
            diagnostics,
        })
    }
}
