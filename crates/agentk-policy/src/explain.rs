//! Explanations (guarantee P6): which rule fired, on what facts, and what would change it.

use std::fmt;

use agentk_labels::{LabelSet, Outcome, SafeText, SyscallKind, propagate};
use serde::Serialize;

use crate::eval::{Capability, Decision, DefaultDenyCause, Fired, Request};
use crate::model::{CapabilityCondition, Effect, Policy, Rule};

const MAX_TARGET_CHARS: usize = 256;

/// A decision, explained: the facts, the rule, and for a deny what would allow it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Explanation {
    /// `allow` or `deny`.
    pub decision: Effect,
    /// The id of the rule that fired.
    pub rule: String,
    /// The rule's reason.
    pub reason: String,
    /// The requesting agent, escaped and bounded.
    pub agent: String,
    /// The sink: the syscall's name (or a placeholder for a malformed unknown one).
    pub syscall: String,
    /// The sink's target, escaped and bounded.
    pub target: String,
    /// The labels the consumed data carries from its sources.
    pub source_labels: LabelSet,
    /// For an allow, the labels the syscall's output will carry (P7).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_labels: Option<LabelSet>,
    /// The conditions of the fired rule, each as it held.
    pub matched: Vec<Matched>,
    /// What the presented capability amounted to.
    pub capability: CapabilityReport,
    /// For a deny, what would allow it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remedy: Option<Remedy>,
}

/// One condition of the fired rule, as it held for this request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "condition", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Matched {
    /// The rule has no conditions.
    CatchAll,
    /// The syscall kind is unknown.
    UnknownSyscall,
    /// The syscall is one of the rule's.
    Syscall {
        /// Its name.
        syscall: String,
    },
    /// The target matched this pattern.
    Target {
        /// The pattern.
        pattern: String,
    },
    /// The agent matched this pattern.
    Agent {
        /// The pattern.
        pattern: String,
    },
    /// The data carries some of `wanted`: namely `found`.
    LabelsAny {
        /// The rule's `labels_any`.
        wanted: LabelSet,
        /// The data's labels among them.
        found: LabelSet,
    },
    /// The data carries all of `wanted`.
    LabelsAll {
        /// The rule's `labels_all`.
        wanted: LabelSet,
    },
    /// The data carries none of `forbidden`.
    LabelsNone {
        /// The rule's `labels_none`.
        forbidden: LabelSet,
    },
    /// The capability was present, or missing, as the rule asks.
    Capability {
        /// What the rule asks.
        required: CapabilityCondition,
    },
}

/// What the presented capability amounted to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum CapabilityReport {
    /// No grant was presented.
    NotPresented,
    /// The presented grant covers the request.
    Covering {
        /// The grant's id.
        grant: String,
    },
    /// The presented grant does not cover this agent, syscall or target.
    NotCovering {
        /// The grant's id.
        grant: String,
    },
    /// The presented id names no grant.
    UnknownGrant,
}

/// For a deny: the smallest change that would allow it, found by re-evaluating the policy.
/// A grant is only suggested when a grant would in fact change the outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "remedy", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Remedy {
    /// Presenting this existing operator grant would allow it.
    PresentGrant {
        /// The grant to present.
        grant: String,
        /// The rule that would then allow.
        allowing_rule: String,
    },
    /// No grant in the policy covers it; an operator grant for this syscall and target would.
    OperatorGrant {
        /// The syscall to grant.
        syscall: String,
        /// The target to grant.
        target: String,
        /// The rule that would then allow.
        allowing_rule: String,
    },
    /// No grant alone helps: the data's labels decide. Without `labels` (which only a human
    /// declassification can remove) it would be allowed, with a grant if `with_grant`.
    Declassify {
        /// The labels that block it.
        labels: LabelSet,
        /// Whether a covering grant would also be needed.
        with_grant: bool,
        /// The rule that would then allow.
        allowing_rule: String,
    },
    /// Nothing short of changing the policy allows it.
    PolicyForbids,
    /// Unknown syscall kinds are always denied.
    UnknownSyscall,
}

impl<'p> Decision<'p> {
    /// Explains this decision about `request` (which must be the request it decided).
    pub fn explain(&self, request: &Request<'_>) -> Explanation {
        let verdict = self.verdict();
        let policy = verdict.policy;
        let fired = verdict.fired;
        let labels = request.labels();
        let allowed = self.is_allowed();
        Explanation {
            decision: self.effect(),
            rule: fired.rule_id().to_owned(),
            reason: fired.reason().to_owned(),
            agent: SafeText::new(request.agent()).as_str().to_owned(),
            syscall: syscall_text(request.syscall()),
            target: SafeText::with_limit(request.target(), MAX_TARGET_CHARS).as_str().to_owned(),
            source_labels: labels,
            output_labels: allowed.then(|| propagate(request.syscall(), labels, Outcome::Ok)),
            matched: matched(fired, request, labels),
            capability: capability_report(verdict.capability),
            remedy: (!allowed).then(|| remedy(policy, request, fired, verdict.capability)),
        }
    }
}

fn syscall_text(kind: &SyscallKind) -> String {
    match kind {
        SyscallKind::Known(s) => s.name().to_owned(),
        SyscallKind::Unknown(u) => u.name().map_or_else(|| u.to_string(), str::to_owned),
    }
}

fn matched(fired: Fired<'_>, request: &Request<'_>, labels: LabelSet) -> Vec<Matched> {
    let rule: &Rule = match fired {
        Fired::Rule(rule) => rule,
        Fired::DefaultDeny(DefaultDenyCause::UnknownSyscall) => {
            return vec![Matched::UnknownSyscall];
        }
        Fired::DefaultDeny(DefaultDenyCause::NoRuleMatched) => return vec![Matched::CatchAll],
    };
    let when = rule.when();
    let mut out = Vec::new();
    if let (Some(_), Some(syscall)) = (when.syscalls(), request.syscall().known()) {
        out.push(Matched::Syscall { syscall: syscall.name().to_owned() });
    }
    if let Some(p) = when.targets().and_then(|ps| ps.iter().find(|p| p.matches(request.target()))) {
        out.push(Matched::Target { pattern: p.as_str().to_owned() });
    }
    if let Some(p) = when.agents().and_then(|ps| ps.iter().find(|p| p.matches(request.agent()))) {
        out.push(Matched::Agent { pattern: p.as_str().to_owned() });
    }
    if let Some(wanted) = when.labels_any() {
        out.push(Matched::LabelsAny { wanted, found: wanted.meet(labels) });
    }
    if let Some(wanted) = when.labels_all() {
        out.push(Matched::LabelsAll { wanted });
    }
    if let Some(forbidden) = when.labels_none() {
        out.push(Matched::LabelsNone { forbidden });
    }
    if let Some(required) = when.capability() {
        out.push(Matched::Capability { required });
    }
    if out.is_empty() {
        out.push(Matched::CatchAll);
    }
    out
}

fn capability_report(capability: Capability<'_>) -> CapabilityReport {
    match capability {
        Capability::NotPresented => CapabilityReport::NotPresented,
        Capability::Covering(g) => CapabilityReport::Covering { grant: g.id().to_owned() },
        Capability::NotCovering(g) => CapabilityReport::NotCovering { grant: g.id().to_owned() },
        Capability::UnknownGrant => CapabilityReport::UnknownGrant,
    }
}

/// Searches for the smallest change that turns the deny into an allow: first a grant alone,
/// then removing as few labels as possible (without, then with, a grant).
fn remedy(policy: &Policy, request: &Request<'_>, fired: Fired<'_>, capability: Capability<'_>) -> Remedy {
    if matches!(fired, Fired::DefaultDeny(DefaultDenyCause::UnknownSyscall)) {
        return Remedy::UnknownSyscall;
    }
    let labels = request.labels();
    let has_capability = capability.is_present();
    let allows = |labels: LabelSet, capability: bool| match policy.fire(request, labels, capability) {
        fired @ Fired::Rule(_) if fired.effect() == Effect::Allow => Some(fired.rule_id().to_owned()),
        _ => None,
    };
    if !has_capability && let Some(allowing_rule) = allows(labels, true) {
        let syscall = request.syscall().known();
        let existing = syscall.and_then(|s| policy.covering_grant(request.agent(), s, request.target()));
        return match existing {
            Some(grant) => Remedy::PresentGrant { grant: grant.id().to_owned(), allowing_rule },
            None => Remedy::OperatorGrant {
                syscall: syscall_text(request.syscall()),
                target: SafeText::with_limit(request.target(), MAX_TARGET_CHARS).as_str().to_owned(),
                allowing_rule,
            },
        };
    }
    for removed in labels.subsets().filter(|s| !s.is_empty()) {
        let rest = labels.without(removed);
        for with_grant in [has_capability, true] {
            if let Some(allowing_rule) = allows(rest, with_grant) {
                return Remedy::Declassify {
                    labels: removed,
                    with_grant: with_grant && !has_capability,
                    allowing_rule,
                };
            }
        }
    }
    Remedy::PolicyForbids
}

/// The human form, several lines, no trailing newline.
impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} by rule `{}`: {}", self.decision, self.rule, self.reason)?;
        writeln!(f, "  sink: {} on `{}`", self.syscall, self.target)?;
        writeln!(f, "  agent: `{}`", self.agent)?;
        writeln!(f, "  source labels: {}", self.source_labels)?;
        if let Some(output) = self.output_labels {
            writeln!(f, "  output labels: {output}")?;
        }
        let matched: Vec<String> = self.matched.iter().map(ToString::to_string).collect();
        writeln!(f, "  matched: {}", matched.join("; "))?;
        write!(f, "  capability: {}", self.capability)?;
        if let Some(remedy) = &self.remedy {
            write!(f, "\n  to allow: {remedy}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Matched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Matched::CatchAll => f.write_str("catch-all (no conditions)"),
            Matched::UnknownSyscall => f.write_str("syscall kind is unknown"),
            Matched::Syscall { syscall } => write!(f, "syscall is {syscall}"),
            Matched::Target { pattern } => write!(f, "target matches `{pattern}`"),
            Matched::Agent { pattern } => write!(f, "agent matches `{pattern}`"),
            Matched::LabelsAny { wanted, found } => {
                write!(f, "data carries {found} (any of {wanted})")
            }
            Matched::LabelsAll { wanted } => write!(f, "data carries all of {wanted}"),
            Matched::LabelsNone { forbidden } => write!(f, "data carries none of {forbidden}"),
            Matched::Capability { required } => match required {
                CapabilityCondition::Present => f.write_str("a covering grant is presented"),
                CapabilityCondition::Missing => f.write_str("no covering grant is presented"),
            },
        }
    }
}

impl fmt::Display for CapabilityReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CapabilityReport::NotPresented => f.write_str("none presented"),
            CapabilityReport::Covering { grant } => {
                write!(f, "grant `{grant}` covers this request")
            }
            CapabilityReport::NotCovering { grant } => {
                write!(f, "grant `{grant}` was presented but does not cover this agent, syscall and target")
            }
            CapabilityReport::UnknownGrant => f.write_str("the presented grant id is not in the policy"),
        }
    }
}

impl fmt::Display for Remedy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Remedy::PresentGrant { grant, allowing_rule } => {
                write!(f, "present operator grant `{grant}` (rule `{allowing_rule}` would then allow)")
            }
            Remedy::OperatorGrant { syscall, target, allowing_rule } => write!(
                f,
                "an operator grant for {syscall} on `{target}`, presented with the request (rule `{allowing_rule}` would then allow)"
            ),
            Remedy::Declassify { labels, with_grant, allowing_rule } => {
                write!(
                    f,
                    "no grant alone helps; the data would have to lose {labels} through a human declassification"
                )?;
                if *with_grant {
                    f.write_str(", and a covering grant be presented")?;
                }
                write!(f, " (rule `{allowing_rule}` would then allow)")
            }
            Remedy::PolicyForbids => {
                f.write_str("nothing short of a policy change: no grant or declassification allows this")
            }
            Remedy::UnknownSyscall => f.write_str("nothing: unknown syscall kinds are always denied"),
        }
    }
}
