//! The public JSON output shapes: every `agentk.*.v1` object a front end prints (the CLI today,
//! the MCP layer and the HTTP gateway next) is named here, and the shapes front ends share are
//! defined here, so a shape changes in one place and under one version.
//!
//! File formats that are inputs as much as outputs (`agentk.receipt.v1`,
//! `agentk.secret-handle.v1`, `agentk.checkpoint.v1`, the proof files, rotation and override
//! files, the ledger journal) are owned by the crate that parses them; this module owns reports.
//!
//! Rules every shape here keeps: one object (or, for streams, one object per line), a `schema`
//! field first, field names in `snake_case`, values from outside escaped and bounded, keys and
//! secrets never present (fingerprints instead). A field is added under the same version only
//! when old readers can ignore it; any other change is a new version.

use serde::Serialize;

/// An error stopped the command, or the log it read was not accepted (then `verified` is
/// `false`).
pub const ERROR: &str = "agentk.error.v1";
/// `agentk demo`.
pub const DEMO: &str = "agentk.demo.v1";
/// `agentk demo mcp`: the scripted MCP world run directly and through the mediator.
pub const DEMO_MCP: &str = "agentk.demo-mcp.v1";
/// `cargo xtask efficacy --json`: the MCP efficacy suite's figures.
pub const EFFICACY: &str = "agentk.efficacy.v1";
/// `agentk policy-check`.
pub const POLICY_CHECK: &str = "agentk.policy-check.v1";
/// `agentk policy-explain`: one decision and its explanation.
pub const POLICY_EXPLAIN: &str = "agentk.policy-explain.v1";
/// `agentk policy-show`.
pub const POLICY_SHOW: &str = "agentk.policy-show.v1";
/// `agentk keygen`.
pub const KEYGEN: &str = "agentk.keygen.v1";
/// `agentk signing-key`.
pub const SIGNING_KEY: &str = "agentk.signing-key.v1";
/// `agentk key-rotate`.
pub const KEY_ROTATE: &str = "agentk.key-rotate.v1";
/// `agentk key-rotate-verify`.
pub const KEY_ROTATE_VERIFY: &str = "agentk.key-rotate-verify.v1";
/// `agentk receipt-verify`.
pub const RECEIPT_VERIFY: &str = "agentk.receipt-verify.v1";
/// `agentk trusted-signers-check`.
pub const TRUSTED_SIGNERS_CHECK: &str = "agentk.trusted-signers-check.v1";
/// `agentk secret-refs-check`.
pub const SECRET_REFS_CHECK: &str = "agentk.secret-refs-check.v1";
/// `agentk secret-refs-store-check`.
pub const SECRET_REFS_STORE_CHECK: &str = "agentk.secret-refs-store-check.v1";
/// `agentk verify`.
pub const VERIFY: &str = "agentk.verify.v1";
/// `agentk verify-signatures`.
pub const VERIFY_SIGNATURES: &str = "agentk.verify-signatures.v1";
/// `agentk verify-proof`.
pub const VERIFY_PROOF: &str = "agentk.verify-proof.v1";
/// One event of `agentk trace-inspect --json` (JSON Lines).
pub const TRACE_INSPECT: &str = "agentk.trace-inspect.v1";
/// The closing summary of `agentk trace-inspect --json`.
pub const TRACE_INSPECT_SUMMARY: &str = "agentk.trace-inspect.summary.v1";
/// `agentk audit`.
pub const AUDIT: &str = "agentk.audit.v1";
/// `agentk evidence-check`.
pub const EVIDENCE_CHECK: &str = "agentk.evidence-check.v1";
/// `agentk log-recover`.
pub const LOG_RECOVER: &str = "agentk.log-recover.v1";
/// `agentk readiness`.
pub const READINESS: &str = "agentk.readiness.v1";
/// `agentk replay` ([`crate::ReplayReport`]).
pub const REPLAY: &str = "agentk.replay.v1";
/// `agentk fork-replay` ([`crate::ForkReport`]).
pub const FORK_REPLAY: &str = "agentk.fork-replay.v1";
/// `agentk fork-replay-behavior` ([`crate::BehaviorReport`]).
pub const FORK_REPLAY_BEHAVIOR: &str = "agentk.fork-replay-behavior.v1";
/// `agentk mcp-lines`: one line per mediated MCP message.
pub const MCP_DECISION: &str = "agentk.mcp-decision.v1";
/// `agentk mcp-pins --json`.
pub const MCP_PINS: &str = "agentk.mcp-pins-report.v1";
/// `cargo xtask bench --json`.
pub const BENCH: &str = "agentk.bench.v1";
/// `cargo xtask audit --json` (the release gate; `agentk audit` is [`AUDIT`]).
pub const RELEASE_AUDIT: &str = "agentk.release-audit.v1";

/// Every report schema, once.
pub const ALL: [&str; 31] = [
    ERROR,
    DEMO,
    DEMO_MCP,
    EFFICACY,
    POLICY_CHECK,
    POLICY_EXPLAIN,
    POLICY_SHOW,
    KEYGEN,
    SIGNING_KEY,
    KEY_ROTATE,
    KEY_ROTATE_VERIFY,
    RECEIPT_VERIFY,
    TRUSTED_SIGNERS_CHECK,
    SECRET_REFS_CHECK,
    SECRET_REFS_STORE_CHECK,
    VERIFY,
    VERIFY_SIGNATURES,
    VERIFY_PROOF,
    TRACE_INSPECT,
    TRACE_INSPECT_SUMMARY,
    AUDIT,
    EVIDENCE_CHECK,
    LOG_RECOVER,
    READINESS,
    REPLAY,
    FORK_REPLAY,
    FORK_REPLAY_BEHAVIOR,
    MCP_DECISION,
    MCP_PINS,
    BENCH,
    RELEASE_AUDIT,
];

/// The error object: what stopped the command, a hint when there is one, the individual
/// problems when there are several (a manifest's), and, when the command read a log that was
/// not accepted, `verified: false`.
#[derive(Clone, Debug, Serialize)]
pub struct ErrorReport {
    /// [`ERROR`].
    pub schema: &'static str,
    /// The one-line message.
    pub error: String,
    /// A hint, if there is one.
    pub help: Option<String>,
    /// Each problem, when there are several.
    pub problems: Vec<String>,
    /// `Some(false)` when a log was read and not accepted (exit 4); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
}

impl ErrorReport {
    /// An error with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        ErrorReport { schema: ERROR, error: message.into(), help: None, problems: Vec::new(), verified: None }
    }

    /// The error of a log that was not accepted.
    pub fn unverified(message: impl Into<String>) -> Self {
        ErrorReport { verified: Some(false), ..Self::new(message) }
    }
}

/// A report in its envelope: the schema, whether the log it came from verified, then the
/// report's own fields (the replay family's shape).
#[derive(Clone, Debug, Serialize)]
pub struct Envelope<'a, T> {
    /// The report's schema.
    pub schema: &'static str,
    /// Whether the log verified (and, for replay, every decision was reproduced).
    pub verified: bool,
    /// The report.
    #[serde(flatten)]
    pub report: &'a T,
}

/// One decision as a report: the schema, the policy's name, and the explanation's fields
/// (`agentk policy-explain`; the MCP layer answers denials in this shape).
#[derive(Clone, Debug, Serialize)]
pub struct DecisionReport<'a> {
    /// [`POLICY_EXPLAIN`].
    pub schema: &'static str,
    /// The policy's name.
    pub policy: &'a str,
    /// The explanation.
    #[serde(flatten)]
    pub explanation: &'a agentk_policy::Explanation,
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_schema_is_named_once_and_versioned() {
        let mut seen = std::collections::BTreeSet::new();
        for name in super::ALL {
            assert!(name.starts_with("agentk.") && name.ends_with(".v1"), "{name}");
            assert!(seen.insert(name), "{name} twice");
        }
        let error = serde_json::to_value(super::ErrorReport::unverified("x")).unwrap_or_default();
        assert_eq!(error.get("schema").and_then(|s| s.as_str()), Some(super::ERROR));
        assert_eq!(error.get("verified"), Some(&serde_json::Value::Bool(false)));
    }
}
