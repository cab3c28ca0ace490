//! Replay for AgentK flight logs: re-run a recorded session with no side effects, and ask
//! "what if" of it.
//!
//! - [`replay`] (R1) verifies a log and decides every syscall event again through the kernel's
//!   own decision procedure ([`agentk_flightlog::kernel::Rehearsal`]), under the policy the log
//!   was written with. Every recorded decision must come out the same; a divergence is a
//!   verification failure. Allowed `model.call`, `tool.invoke` and `network.send` events get a
//!   synthetic [`stub_output`] digest derived from the event's hash; denied events stay denied
//!   and get none.
//! - [`fork_replay`] (R2) decides every event again under another policy, with the recorded
//!   grant context, and reports each changed decision, why, and transition counts such as
//!   `deny:egress-needs-grant->allow:egress-open`.
//! - [`behavior_replay`] (R3) replaces recorded outputs with [`overrides::Overrides`] (digests
//!   and labels only, never raw text) and follows each changed output downstream through the
//!   inputs that name it (`InputRef::from`), deciding every later event again with the changed
//!   labels.
//!
//! Every function takes an [`Acceptance`] and streams the log once, deciding whether it is
//! accepted ([`agentk_flightlog::accept`], the rule every reader of a log applies) in the same
//! pass that decides its events again, and answers only once the whole log is accepted: a log
//! that is not gives no report. Memory is flat in the log's length: counts
//! are complete, listed rows stop at [`MAX_LISTED`], and a behavior fork keeps only the outputs
//! it changed.
//!
//! # Invariants
//!
//! - **R1** Replay never signs, mints, opens, writes or calls anything: its environment answers
//!   from the record. A log that is not accepted (a chain that does not verify, an unsigned
//!   tail unless the caller allows it, a signer not pinned, a saved checkpoint it does not
//!   extend) gives [`ReplayError`] and no report. Replaying any log the kernel wrote under
//!   the same policy reproduces every decision (property-tested against random sessions).
//! - **R2** Forking against the log's own policy changes nothing.
//! - **R3** Overrides carry digests only; an override must name a recorded, allowed syscall
//!   step by step, syscall and target, or the replay is refused.
//! - Text from the log (agents, targets, rules) reaches reports escaped ([`SafeText`]).
//!
//! # Non-goals
//!
//! Executing tools or models, or guessing at real outputs: stubs are digests with no content.
//! What only the live environment knew (a request too large to record, a secret store that
//! could not open a secret, a receipt that could not be minted at the recorded time) is taken
//! from the record.
//!
//! # Example
//!
//! ```
//! use agentk_flightlog::event::Hash32;
//! use agentk_replay::stub_output;
//!
//! let event = Hash32([7; 32]);
//! assert_eq!(stub_output(&event), stub_output(&event));
//! assert_ne!(stub_output(&event), event);
//! ```
#![forbid(unsafe_code)]

pub mod overrides;
pub mod schema;

use std::collections::BTreeMap;
use std::io::Read;

pub use agentk_flightlog::accept::{Acceptance, Rejection};
use agentk_flightlog::accept::{Accepted, accept};
use agentk_flightlog::event::{Effect, EventBody, EventLine, Hash32, InputRef, SyscallEvent};
use agentk_flightlog::kernel::{Redecided, Rehearsal, policy_hash};
use agentk_labels::{LabelSet, SafeText, Syscall, SyscallKind};
use agentk_policy::{Matched, Policy};
use serde::Serialize;

use crate::overrides::Overrides;

/// The domain-separation context of stub outputs.
pub const STUB_CONTEXT: &str = "agentk replay stub output v1";
/// The domain-separation context of outputs a behavior fork changed downstream.
pub const FORKED_OUTPUT_CONTEXT: &str = "agentk replay forked output v1";
/// The most rows any list in a report holds; counts always cover everything.
pub const MAX_LISTED: usize = 1000;

/// The synthetic output of a replayed event: a digest derived from the event's hash alone, so
/// the same log always replays to the same stubs.
pub fn stub_output(event: &Hash32) -> Hash32 {
    Hash32(blake3::derive_key(STUB_CONTEXT, &event.0))
}

/// Whether an allowed event of this syscall gets a stub output (its output comes from outside:
/// a model, a tool, a remote).
pub fn gets_stub(syscall: &SyscallKind) -> bool {
    matches!(syscall.known(), Some(Syscall::ModelCall | Syscall::ToolInvoke | Syscall::NetworkSend))
}

/// Why no report was given.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The log is not accepted ([`agentk_flightlog::accept`]), or could not be read.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The policy given is not the one the log was written with.
    #[error("the log was written under another policy than the one given")]
    PolicyMismatch,
    /// An override names a step whose syscall or target is not the recorded one.
    #[error("override for step {step}: the log records {field} {recorded} there, not {given}")]
    OverrideMismatch {
        /// The step.
        step: u64,
        /// `syscall` or `target`.
        field: &'static str,
        /// The recorded value, escaped.
        recorded: SafeText,
        /// The override's value, escaped.
        given: SafeText,
    },
    /// An override names the genesis or a checkpoint.
    #[error("override for step {step}: that step is not a syscall event")]
    NotASyscall {
        /// The step.
        step: u64,
    },
    /// An override names a step that was denied, so it had no output.
    #[error("override for step {step}: the step was denied, so it has no output to override")]
    DeniedStep {
        /// The step.
        step: u64,
    },
    /// An override names a step past the log's end.
    #[error("override for step {step}: the log has only {events} event(s) (steps 0 to {last})", last = events.saturating_sub(1))]
    StepOutOfRange {
        /// The step.
        step: u64,
        /// Events in the log.
        events: u64,
    },
}

impl ReplayError {
    /// Whether this is a verification failure (the log is not accepted) rather than a problem
    /// with what the caller asked, or a log that could not be read.
    pub fn is_verification_failure(&self) -> bool {
        matches!(self, ReplayError::Rejected(rejection) if !rejection.is_read_failure())
    }
}

/// A decision: allow or deny, and the rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Ruling {
    /// Allowed or denied.
    pub decision: Effect,
    /// The rule, escaped.
    pub rule: String,
}

impl Ruling {
    fn recorded(event: &SyscallEvent) -> Self {
        Ruling { decision: event.decision, rule: SafeText::new(&event.rule).as_str().to_owned() }
    }

    fn replayed(redecided: &Redecided) -> Self {
        Ruling { decision: redecided.effect, rule: SafeText::new(&redecided.rule).as_str().to_owned() }
    }

    /// `allow:rule` or `deny:rule`.
    pub fn key(&self) -> String {
        let decision = match self.decision {
            Effect::Allow => "allow",
            Effect::Deny => "deny",
        };
        format!("{decision}:{}", self.rule)
    }
}

/// Where a step happened: its number, agent, syscall and target, escaped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Site {
    /// The step (`seq`).
    pub step: u64,
    /// The agent.
    pub agent: String,
    /// The syscall.
    pub syscall: String,
    /// The target.
    pub target: String,
}

impl Site {
    fn of(step: u64, event: &SyscallEvent) -> Self {
        Site {
            step,
            agent: SafeText::new(&event.agent).as_str().to_owned(),
            syscall: SafeText::new(&event.syscall).as_str().to_owned(),
            target: SafeText::new(&event.target).as_str().to_owned(),
        }
    }
}

/// A list that keeps its first [`MAX_LISTED`] rows and counts the rest.
#[derive(Clone, Debug, Serialize)]
pub struct Listed<T> {
    /// The rows kept.
    pub rows: Vec<T>,
    /// Rows left out.
    pub omitted: u64,
}

impl<T> Default for Listed<T> {
    fn default() -> Self {
        Listed { rows: Vec::new(), omitted: 0 }
    }
}

impl<T> Listed<T> {
    fn push(&mut self, row: T) {
        self.push_with(|| row);
    }

    /// [`Listed::push`], building the row only if it is kept (most rows of a long log are
    /// only counted).
    fn push_with(&mut self, row: impl FnOnce() -> T) {
        if self.rows.len() < MAX_LISTED {
            self.rows.push(row());
        } else {
            self.omitted += 1;
        }
    }

    /// All rows, kept and omitted.
    pub fn total(&self) -> u64 {
        self.rows.len() as u64 + self.omitted
    }
}

/// One replayed step.
#[derive(Clone, Debug, Serialize)]
pub struct ReplayedStep {
    /// Where.
    #[serde(flatten)]
    pub site: Site,
    /// The decision, reproduced.
    #[serde(flatten)]
    pub ruling: Ruling,
    /// For an allowed `model.call`, `tool.invoke` or `network.send`: the synthetic output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stub_output: Option<Hash32>,
}

/// A recorded decision that replay did not reproduce.
#[derive(Clone, Debug, Serialize)]
pub struct Divergence {
    /// Where.
    #[serde(flatten)]
    pub site: Site,
    /// What the log records.
    pub recorded: Ruling,
    /// What replay decided.
    pub replayed: Ruling,
    /// Which parts differ: `decision`, `rule`, `output_labels`, `grant`, `receipt`.
    pub differs: Vec<&'static str>,
}

/// The report of [`replay`].
#[derive(Clone, Debug, Serialize)]
pub struct ReplayReport {
    /// Events in the log (genesis and checkpoints included).
    pub events: u64,
    /// Syscall events replayed.
    pub replayed: u64,
    /// Syscall events whose decision was reproduced exactly.
    pub reproduced: u64,
    /// Allowed events.
    pub allowed: u64,
    /// Denied events.
    pub denied: u64,
    /// Allowed events given a stub output.
    pub stubbed: u64,
    /// Denied events by rule.
    pub blocked_by_rule: BTreeMap<String, u64>,
    /// Decisions not reproduced: each one is a verification failure.
    pub divergences: Listed<Divergence>,
    /// Every step, as replayed.
    pub steps: Listed<ReplayedStep>,
}

impl ReplayReport {
    /// Whether every decision was reproduced.
    pub fn reproduced_all(&self) -> bool {
        self.divergences.total() == 0
    }
}

/// Why a forked decision came out as it did.
#[derive(Clone, Debug, Serialize)]
pub struct Because {
    /// The deciding rule's reason.
    pub reason: String,
    /// The deciding rule's conditions, each as it held.
    pub matched: Vec<Matched>,
    /// For a deny, what would allow it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_allow: Option<String>,
}

/// A decision that a fork changed.
#[derive(Clone, Debug, Serialize)]
pub struct Change {
    /// Where.
    #[serde(flatten)]
    pub site: Site,
    /// What the log records.
    pub recorded: Ruling,
    /// What the fork decided.
    pub replayed: Ruling,
    /// Why the fork decided so.
    pub because: Because,
}

/// Changed decisions and their transition counts.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Changes {
    /// `old->new` transitions (`deny:rule-a->allow:rule-b`) and how often each happened; at
    /// most [`MAX_LISTED`] distinct ones (recorded rule names come from the log, which may be
    /// hostile).
    pub transitions: BTreeMap<String, u64>,
    /// Changes whose transition was not among the first [`MAX_LISTED`] distinct ones.
    pub other_transitions: u64,
    /// The changed decisions.
    pub changed: Listed<Change>,
}

impl Changes {
    fn record(&mut self, change: Change) {
        let key = format!("{}->{}", change.recorded.key(), change.replayed.key());
        let room = self.transitions.len() < MAX_LISTED;
        match self.transitions.get_mut(&key) {
            Some(count) => *count += 1,
            None if room => {
                self.transitions.insert(key, 1);
            }
            None => self.other_transitions += 1,
        }
        self.changed.push(change);
    }
}

/// The report of [`fork_replay`].
#[derive(Clone, Debug, Serialize)]
pub struct ForkReport {
    /// Events in the log.
    pub events: u64,
    /// Syscall events decided again.
    pub replayed: u64,
    /// Syscall events whose decision (verdict or rule) did not change.
    pub unchanged: u64,
    /// Of those, events whose presented grant is defined differently in the other policy (its
    /// hash changed), or covers differently.
    pub regranted: u64,
    /// What changed.
    #[serde(flatten)]
    pub changes: Changes,
}

/// Why an output diverged in a behavior fork.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "cause")]
pub enum Cause {
    /// An override replaced it.
    Override,
    /// It consumed changed outputs of these earlier steps.
    Upstream {
        /// The steps.
        steps: Vec<u64>,
    },
    /// The step's decision changed.
    Decision,
}

/// An output a behavior fork changed.
#[derive(Clone, Debug, Serialize)]
pub struct OutputChange {
    /// Where.
    #[serde(flatten)]
    pub site: Site,
    /// Why.
    #[serde(flatten)]
    pub cause: Cause,
    /// The output's labels as recorded (none if the step was denied).
    pub recorded_labels: Option<LabelSet>,
    /// The output's labels in the fork (none if the step is now denied).
    pub labels: Option<LabelSet>,
    /// The output in the fork: the override's digest, a digest derived from the changed
    /// inputs, or none when the step is now denied.
    pub output: Option<Hash32>,
    /// Inputs that no longer exist because the step producing them is now denied.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lost_inputs: Vec<u64>,
}

/// The report of [`behavior_replay`].
#[derive(Clone, Debug, Serialize)]
pub struct BehaviorReport {
    /// Events in the log.
    pub events: u64,
    /// Syscall events decided again.
    pub replayed: u64,
    /// Overrides applied.
    pub overrides: usize,
    /// Outputs that diverge from the recorded run.
    pub outputs: Listed<OutputChange>,
    /// Decisions downstream that changed.
    #[serde(flatten)]
    pub changes: Changes,
}

/// Decides whether the log is accepted ([`accept`]: one pass), handing each verified event to
/// `visit`, and answers only once the whole log is accepted. The first `visit` error stops the
/// visits (the pass still runs to the end: a log that is not accepted says so first).
fn walk(
    reader: impl Read,
    acceptance: &Acceptance,
    mut visit: impl FnMut(&EventLine) -> Result<(), ReplayError>,
) -> Result<Accepted, ReplayError> {
    let mut failure = None;
    let accepted = accept(reader, acceptance, |event| {
        if failure.is_none()
            && let Err(e) = visit(event)
        {
            failure = Some(e);
        }
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(accepted)
}

/// Refuses a log written under another policy than `policy_text`.
fn check_policy(event: &EventLine, policy_text: &str) -> Result<(), ReplayError> {
    match &event.event {
        EventBody::Genesis(genesis) if genesis.policy_hash != policy_hash(policy_text) => {
            Err(ReplayError::PolicyMismatch)
        }
        _ => Ok(()),
    }
}

fn because(rehearsal: &Rehearsal<'_>, event: &SyscallEvent, inputs: &[InputRef], redecided: &Redecided) -> Because {
    let explanation = rehearsal.explain(event, inputs, redecided);
    Because {
        reason: explanation.reason,
        matched: explanation.matched,
        to_allow: explanation.remedy.map(|remedy| remedy.to_string()),
    }
}

/// Which parts of a recorded event a replayed decision does not reproduce.
fn differences(recorded: &SyscallEvent, replayed: &Redecided) -> Vec<&'static str> {
    let mut differs = Vec::new();
    if recorded.decision != replayed.effect {
        differs.push("decision");
    }
    if recorded.rule != replayed.rule {
        differs.push("rule");
    }
    if recorded.output_labels != replayed.output_labels {
        differs.push("output_labels");
    }
    if recorded.grant != replayed.grant {
        differs.push("grant");
    }
    if !replayed.reproduces(recorded) && differs.is_empty() {
        differs.push("receipt");
    }
    differs
}

/// Deterministic replay (R1): verifies the log read from `reader`, refuses it unless it was
/// written under `policy_text` (parsed as `policy`), and decides every syscall event again.
pub fn replay(
    reader: impl Read,
    policy_text: &str,
    policy: &Policy,
    acceptance: impl Into<Acceptance>,
) -> Result<ReplayReport, ReplayError> {
    let mut rehearsal = Rehearsal::new(policy);
    let mut report = ReplayReport {
        events: 0,
        replayed: 0,
        reproduced: 0,
        allowed: 0,
        denied: 0,
        stubbed: 0,
        blocked_by_rule: BTreeMap::new(),
        divergences: Listed::default(),
        steps: Listed::default(),
    };
    let verified = walk(reader, &acceptance.into(), |line| {
        check_policy(line, policy_text)?;
        let EventBody::Syscall(event) = &line.event else { return Ok(()) };
        let redecided = rehearsal.decide(event, &event.inputs);
        report.replayed += 1;
        if redecided.reproduces(event) {
            report.reproduced += 1;
        } else {
            report.divergences.push_with(|| Divergence {
                site: Site::of(line.seq, event),
                recorded: Ruling::recorded(event),
                replayed: Ruling::replayed(&redecided),
                differs: differences(event, &redecided),
            });
        }
        let mut stub = None;
        match redecided.effect {
            Effect::Allow => {
                report.allowed += 1;
                if gets_stub(&SyscallKind::parse(&event.syscall)) {
                    stub = Some(stub_output(&line.hash));
                    report.stubbed += 1;
                }
            }
            Effect::Deny => {
                report.denied += 1;
                let rule = SafeText::new(&redecided.rule);
                match report.blocked_by_rule.get_mut(rule.as_str()) {
                    Some(count) => *count += 1,
                    None => {
                        report.blocked_by_rule.insert(rule.as_str().to_owned(), 1);
                    }
                }
            }
        }
        report.steps.push_with(|| ReplayedStep {
            site: Site::of(line.seq, event),
            ruling: Ruling::replayed(&redecided),
            stub_output: stub,
        });
        Ok(())
    })?;
    report.events = verified.events();
    Ok(report)
}

/// Fork replay (R2): verifies the log and decides every syscall event again under `other`,
/// with the recorded inputs and grant context; reports each decision that changed.
pub fn fork_replay(
    reader: impl Read,
    other: &Policy,
    acceptance: impl Into<Acceptance>,
) -> Result<ForkReport, ReplayError> {
    let mut rehearsal = Rehearsal::new(other);
    let mut report = ForkReport { events: 0, replayed: 0, unchanged: 0, regranted: 0, changes: Changes::default() };
    let verified = walk(reader, &acceptance.into(), |line| {
        let EventBody::Syscall(event) = &line.event else { return Ok(()) };
        let redecided = rehearsal.decide(event, &event.inputs);
        report.replayed += 1;
        // (Compared before anything is escaped: a rule that SafeText leaves alone compares as
        // itself, and one it changes is compared escaped below.)
        if redecided.effect == event.decision && redecided.rule == event.rule {
            report.unchanged += 1;
            report.regranted += u64::from(redecided.grant != event.grant);
            return Ok(());
        }
        let (recorded, replayed) = (Ruling::recorded(event), Ruling::replayed(&redecided));
        if recorded == replayed {
            report.unchanged += 1;
            report.regranted += u64::from(redecided.grant != event.grant);
        } else {
            let because = because(&rehearsal, event, &event.inputs, &redecided);
            report.changes.record(Change { site: Site::of(line.seq, event), recorded, replayed, because });
        }
        Ok(())
    })?;
    report.events = verified.events();
    Ok(report)
}

/// An output the behavior fork changed: its digest (none when the step is now denied) and the
/// labels its consumers now see (none: they keep their recorded labels).
struct Forked {
    output: Option<Hash32>,
    labels: Option<LabelSet>,
    /// The output's labels as recorded: a consumer's input loses these and gains `labels`,
    /// keeping whatever else it carried.
    recorded: Option<LabelSet>,
}

/// Behavior fork replay (R3): verifies the log (written under `policy_text`), replaces the
/// outputs `overrides` name, and decides every later event again with the inputs that consumed
/// a changed output changed too.
pub fn behavior_replay(
    reader: impl Read,
    policy_text: &str,
    policy: &Policy,
    overrides: &Overrides,
    acceptance: impl Into<Acceptance>,
) -> Result<BehaviorReport, ReplayError> {
    let mut rehearsal = Rehearsal::new(policy);
    let mut forked: BTreeMap<u64, Forked> = BTreeMap::new();
    let mut report = BehaviorReport {
        events: 0,
        replayed: 0,
        overrides: overrides.len(),
        outputs: Listed::default(),
        changes: Changes::default(),
    };
    let verified = walk(reader, &acceptance.into(), |line| {
        check_policy(line, policy_text)?;
        let EventBody::Syscall(event) = &line.event else {
            // An output event of a changed action changes with it: a consumer that names the
            // output event (as the MCP mediator's traced arguments do) sees the fork too, with
            // the output event's recorded labels replaced.
            if let EventBody::Output(output) = &line.event
                && let Some(changed) = forked.get(&output.from)
            {
                let changed = Forked { output: changed.output, labels: changed.labels, recorded: Some(output.labels) };
                forked.insert(line.seq, changed);
            }
            return match overrides.get(line.seq) {
                Some(_) => Err(ReplayError::NotASyscall { step: line.seq }),
                None => Ok(()),
            };
        };
        report.replayed += 1;
        // The inputs as the fork sees them: a changed upstream output replaces the recorded
        // digest (and labels, when they changed); a now-denied one is gone.
        let (mut upstream, mut lost) = (Vec::new(), Vec::new());
        let inputs: Vec<InputRef> = event
            .inputs
            .iter()
            .filter_map(|input| {
                let Some((from, changed)) = input.from.and_then(|from| forked.get(&from).map(|f| (from, f))) else {
                    return Some(input.clone());
                };
                upstream.push(from);
                let Some(digest) = changed.output else {
                    lost.push(from);
                    return None;
                };
                let labels = match changed.labels {
                    Some(labels) => input.labels.without(changed.recorded.unwrap_or(LabelSet::EMPTY)) | labels,
                    None => input.labels,
                };
                Some(InputRef { labels, digest, from: input.from })
            })
            .collect();
        upstream.sort_unstable();
        upstream.dedup();
        let redecided = rehearsal.decide(event, &inputs);
        let (recorded, replayed) = (Ruling::recorded(event), Ruling::replayed(&redecided));
        let decision_changed = recorded != replayed;
        let site = Site::of(line.seq, event);
        if decision_changed {
            let because = because(&rehearsal, event, &inputs, &redecided);
            report.changes.record(Change { site: site.clone(), recorded, replayed, because });
        }
        let allowed = redecided.effect == Effect::Allow;
        let changed = if let Some(replacement) = overrides.get(line.seq) {
            if replacement.syscall != event.syscall {
                return Err(mismatch(line.seq, "syscall", &event.syscall, &replacement.syscall));
            }
            if replacement.target != event.target {
                return Err(mismatch(line.seq, "target", &event.target, &replacement.target));
            }
            if event.decision == Effect::Deny {
                return Err(ReplayError::DeniedStep { step: line.seq });
            }
            // P7: an output carries at least what the kernel propagated from its inputs; an
            // override may add labels, never remove those.
            let propagated = redecided.output_labels.unwrap_or(LabelSet::EMPTY);
            let labels = replacement.labels.map(|labels| labels | propagated).or(redecided.output_labels);
            Some((Cause::Override, allowed.then_some(replacement.output), labels.filter(|_| allowed)))
        } else if !upstream.is_empty() || decision_changed {
            let cause = if upstream.is_empty() { Cause::Decision } else { Cause::Upstream { steps: upstream } };
            let output = allowed.then(|| forked_output(&line.hash, &inputs));
            Some((cause, output, redecided.output_labels))
        } else {
            None
        };
        if let Some((cause, output, labels)) = changed {
            let consumers_see = labels.filter(|labels| Some(*labels) != event.output_labels);
            forked.insert(line.seq, Forked { output, labels: consumers_see, recorded: event.output_labels });
            report.outputs.push(OutputChange {
                site,
                cause,
                recorded_labels: event.output_labels,
                labels,
                output,
                lost_inputs: lost,
            });
        }
        Ok(())
    })?;
    report.events = verified.events();
    if let Some(beyond) = overrides.iter().find(|o| o.step >= verified.events()) {
        return Err(ReplayError::StepOutOfRange { step: beyond.step, events: verified.events() });
    }
    Ok(report)
}

fn mismatch(step: u64, field: &'static str, recorded: &str, given: &str) -> ReplayError {
    ReplayError::OverrideMismatch {
        step,
        field,
        recorded: SafeText::with_limit(recorded, 128),
        given: SafeText::with_limit(given, 128),
    }
}

/// The output of a step whose inputs a behavior fork changed: derived from the event's hash
/// and the inputs it now consumes, so the same fork always gives the same digest.
fn forked_output(event: &Hash32, inputs: &[InputRef]) -> Hash32 {
    let mut hasher = blake3::Hasher::new_derive_key(FORKED_OUTPUT_CONTEXT);
    hasher.update(&event.0);
    for input in inputs {
        hasher.update(&[input.labels.bits()]);
        hasher.update(&input.digest.0);
    }
    Hash32(*hasher.finalize().as_bytes())
}
