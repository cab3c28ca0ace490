//! Evaluation: first matching rule wins, no match denies, unknown syscalls always deny.

use agentk_labels::{LabelSet, Syscall, SyscallKind};

use crate::model::{Effect, Grant, Policy, Rule};
use crate::parse::DEFAULT_DENY;

/// One syscall to decide: who asks, for what, on which target, with data carrying which labels,
/// presenting which operator grant (if any).
///
/// The request never defines a capability: it can only name a grant the operator wrote into
/// the policy, and the policy checks that the grant covers this agent, syscall and target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request<'a> {
    agent: &'a str,
    syscall: SyscallKind,
    target: &'a str,
    labels: LabelSet,
    grant: Option<&'a str>,
}

impl<'a> Request<'a> {
    /// A request by `agent` for `syscall` on `target`, with unlabelled data and no grant.
    pub fn new(agent: &'a str, syscall: impl Into<SyscallKind>, target: &'a str) -> Self {
        Request { agent, syscall: syscall.into(), target, labels: LabelSet::EMPTY, grant: None }
    }

    /// Sets the labels of the data the syscall consumes (the join of its inputs).
    #[must_use]
    pub fn with_labels(mut self, labels: LabelSet) -> Self {
        self.labels = labels;
        self
    }

    /// Presents the operator grant with id `grant`.
    #[must_use]
    pub fn presenting(mut self, grant: &'a str) -> Self {
        self.grant = Some(grant);
        self
    }

    /// The requesting agent.
    pub fn agent(&self) -> &'a str {
        self.agent
    }

    /// The syscall asked for.
    pub fn syscall(&self) -> &SyscallKind {
        &self.syscall
    }

    /// The target.
    pub fn target(&self) -> &'a str {
        self.target
    }

    /// The labels of the data.
    pub fn labels(&self) -> LabelSet {
        self.labels
    }

    /// The presented grant id.
    pub fn grant(&self) -> Option<&'a str> {
        self.grant
    }
}

/// The facts one rule is matched against: the request, with labels and capability state as
/// given (the request's own, or the "what if" of an explanation).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Probe<'a> {
    pub(crate) syscall: Syscall,
    pub(crate) target: &'a str,
    pub(crate) agent: &'a str,
    pub(crate) labels: LabelSet,
    pub(crate) capability: bool,
}

/// What the presented capability amounts to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capability<'p> {
    /// No grant was presented.
    NotPresented,
    /// The presented grant covers this agent, syscall and target.
    Covering(&'p Grant),
    /// The presented grant exists but does not cover this request.
    NotCovering(&'p Grant),
    /// The presented id names no grant in the policy.
    UnknownGrant,
}

impl Capability<'_> {
    /// Whether the request holds a covering capability.
    pub fn is_present(&self) -> bool {
        matches!(self, Capability::Covering(_))
    }
}

/// Why the built-in `default-deny` fired rather than a policy rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultDenyCause {
    /// The syscall kind is not one this version knows (P1).
    UnknownSyscall,
    /// No rule matched. A validated policy ends in a catch-all, so this is a fail-closed guard.
    NoRuleMatched,
}

/// What decided the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fired<'p> {
    /// A policy rule.
    Rule(&'p Rule),
    /// The built-in deny.
    DefaultDeny(DefaultDenyCause),
}

impl<'p> Fired<'p> {
    /// The id of the rule that fired (`default-deny` for the built-in deny).
    pub fn rule_id(&self) -> &'p str {
        match self {
            Fired::Rule(rule) => rule.id(),
            Fired::DefaultDeny(_) => DEFAULT_DENY,
        }
    }

    /// The rule's reason.
    pub fn reason(&self) -> &'p str {
        match self {
            Fired::Rule(rule) => rule.reason(),
            Fired::DefaultDeny(DefaultDenyCause::UnknownSyscall) => "unknown syscall kinds are always denied",
            Fired::DefaultDeny(DefaultDenyCause::NoRuleMatched) => "no rule matched the request",
        }
    }

    /// The effect.
    pub fn effect(&self) -> Effect {
        match self {
            Fired::Rule(rule) => rule.effect(),
            Fired::DefaultDeny(_) => Effect::Deny,
        }
    }
}

/// The facts behind a decision.
#[derive(Clone, Copy, Debug)]
pub struct Verdict<'p> {
    pub(crate) policy: &'p Policy,
    pub(crate) fired: Fired<'p>,
    pub(crate) capability: Capability<'p>,
}

impl<'p> Verdict<'p> {
    /// What decided.
    pub fn fired(&self) -> Fired<'p> {
        self.fired
    }

    /// The id of the rule that fired.
    pub fn rule_id(&self) -> &'p str {
        self.fired.rule_id()
    }

    /// The rule's reason.
    pub fn reason(&self) -> &'p str {
        self.fired.reason()
    }

    /// What the presented capability amounted to.
    pub fn capability(&self) -> Capability<'p> {
        self.capability
    }

    /// The policy that decided.
    pub fn policy(&self) -> &'p Policy {
        self.policy
    }
}

/// A policy decision. Not an error: both arms carry the rule that fired, and
/// [`Decision::explain`] says why in full (P6).
#[derive(Clone, Copy, Debug)]
#[must_use]
pub enum Decision<'p> {
    /// The syscall may proceed.
    Allow(Verdict<'p>),
    /// The syscall is refused.
    Deny(Verdict<'p>),
}

impl<'p> Decision<'p> {
    /// The verdict behind either arm.
    pub fn verdict(&self) -> &Verdict<'p> {
        match self {
            Decision::Allow(v) | Decision::Deny(v) => v,
        }
    }

    /// Whether the syscall may proceed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow(_))
    }

    /// The effect.
    pub fn effect(&self) -> Effect {
        match self {
            Decision::Allow(_) => Effect::Allow,
            Decision::Deny(_) => Effect::Deny,
        }
    }

    /// The id of the rule that fired.
    pub fn rule_id(&self) -> &'p str {
        self.verdict().rule_id()
    }
}

/// A decision to allow exactly one request on the strength of an operator grant that covers
/// it: what a capability receipt is minted from. Only [`Policy::authorize`] makes one, from the
/// evaluation of the request it carries, so a receipt can never be minted for a request the
/// policy did not allow, nor for another request than the one evaluated.
#[derive(Clone, Copy, Debug)]
pub struct Authorization<'p, 'r> {
    decision: Decision<'p>,
    grant: &'p Grant,
    request: &'r Request<'r>,
}

impl<'p, 'r> Authorization<'p, 'r> {
    /// The decision (an allow).
    pub fn decision(&self) -> Decision<'p> {
        self.decision
    }

    /// The covering grant.
    pub fn grant(&self) -> &'p Grant {
        self.grant
    }

    /// The request it allows.
    pub fn request(&self) -> &'r Request<'r> {
        self.request
    }
}

impl Policy {
    /// Decides `request` once, and when it is allowed on a presented grant that covers it,
    /// answers the [`Authorization`] to mint a receipt from; any other decision (a deny, or an
    /// allow that needs no grant) comes back as `Err`.
    pub fn authorize<'p, 'r>(&'p self, request: &'r Request<'r>) -> Result<Authorization<'p, 'r>, Decision<'p>> {
        let decision = self.evaluate(request);
        match decision {
            Decision::Allow(verdict) => match verdict.capability {
                Capability::Covering(grant) => Ok(Authorization { decision, grant, request }),
                _ => Err(decision),
            },
            Decision::Deny(_) => Err(decision),
        }
    }

    /// Decides `request`. Deterministic: the same policy and request always give the same
    /// decision. Never fails: anything that cannot be decided is denied.
    pub fn evaluate<'p>(&'p self, request: &Request<'_>) -> Decision<'p> {
        let capability = self.capability_of(request);
        let fired = self.fire(request, request.labels, capability.is_present());
        let verdict = Verdict { policy: self, fired, capability };
        match fired.effect() {
            Effect::Allow => Decision::Allow(verdict),
            Effect::Deny => Decision::Deny(verdict),
        }
    }

    /// What the presented grant amounts to for this request.
    pub fn capability_of<'p>(&'p self, request: &Request<'_>) -> Capability<'p> {
        let Some(id) = request.grant else {
            return Capability::NotPresented;
        };
        let Some(grant) = self.grant(id) else {
            return Capability::UnknownGrant;
        };
        match request.syscall.known() {
            Some(syscall) if grant.covers(request.agent, syscall, request.target) => Capability::Covering(grant),
            _ => Capability::NotCovering(grant),
        }
    }

    /// The rule that fires for `request` with `labels` and capability state `capability`
    /// (the request's own labels and grant are ignored; explanations ask "what if").
    pub(crate) fn fire(&self, request: &Request<'_>, labels: LabelSet, capability: bool) -> Fired<'_> {
        let SyscallKind::Known(syscall) = request.syscall else {
            return Fired::DefaultDeny(DefaultDenyCause::UnknownSyscall);
        };
        let probe = Probe { syscall, target: request.target, agent: request.agent, labels, capability };
        self.index
            .first_match(&self.rules, &probe)
            .map_or(Fired::DefaultDeny(DefaultDenyCause::NoRuleMatched), Fired::Rule)
    }
}
