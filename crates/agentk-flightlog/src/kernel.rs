//! The kernel: the only way to obtain a decision, and every decision is recorded before it is
//! returned (F1).

use std::sync::Arc;

use agentk_capability::{Ledger, MintContext, MintError, ReceiptId, SignContext, SigningIdentity};
use agentk_labels::{LabelSet, Outcome as OutputOutcome, SafeText, SyscallKind, propagate};
use agentk_policy::{Capability, Decision, Explanation, Grant, Policy, Request};
use agentk_secrets::{EncodedHandle, HandleId, SecretBroker};
use serde::Serialize;

use crate::event::{
    CheckpointEvent, Effect, EventBody, EventLine, Genesis, GrantRef, Hash32, InputRef, SyscallEvent,
    checkpoint_statement,
};
use crate::merkle::{Frontier, leaf_hash};

/// The longest agent id and target recorded as given; longer ones are denied.
const MAX_AGENT_BYTES: usize = 256;
const MAX_TARGET_BYTES: usize = 4096;
/// The most inputs one syscall may consume; more is denied as malformed. With the limits above
/// it keeps every event line well under [`crate::event::MAX_LINE_BYTES`].
pub const MAX_INPUTS: usize = 256;

/// Where events go. A kernel cannot exist without one, so no decision goes unrecorded.
pub trait RecordSink {
    /// Appends one canonical event line (no newline). An error means the event may not have
    /// been recorded; the kernel then returns no decision.
    fn append(&mut self, line: &str) -> Result<(), SinkError>;
}

/// The sink could not record an event.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the flight log could not record the event: {reason}")]
pub struct SinkError {
    /// What went wrong, without paths or contents.
    pub reason: String,
}

/// An in-memory log, for tests and for embedders that ship lines elsewhere.
#[derive(Clone, Debug, Default)]
pub struct MemoryLog {
    lines: Vec<String>,
}

impl MemoryLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// The lines so far.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }
}

impl RecordSink for MemoryLog {
    fn append(&mut self, line: &str) -> Result<(), SinkError> {
        self.lines.push(line.to_owned());
        Ok(())
    }
}

/// Time, injected: with a fixed clock the kernel is deterministic.
pub trait Clock {
    /// Seconds since the Unix epoch.
    fn now(&self) -> u64;
}

/// Randomness for receipt and handle ids, injected for the same reason.
pub trait Entropy {
    /// Fills `buf`.
    fn fill(&mut self, buf: &mut [u8]);
}

/// The per-log key of input digests. Digests are keyed so that low-entropy content (a short
/// answer, a yes/no) cannot be guessed from the log alone, while an auditor holding the salt
/// can still check a candidate.
pub struct EvidenceSalt([u8; 32]);

impl EvidenceSalt {
    /// A salt from 32 bytes (random, kept beside the log with owner-only permissions).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        EvidenceSalt(bytes)
    }

    /// The evidence for one input: its labels and the keyed digest of its content.
    pub fn input(&self, labels: LabelSet, content: &[u8]) -> InputRef {
        InputRef { labels, digest: Hash32(*blake3::keyed_hash(&self.0, content).as_bytes()), from: None }
    }
}

impl std::fmt::Debug for EvidenceSalt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EvidenceSalt(<redacted>)")
    }
}

/// What a kernel is built from. The policy and the signer are shared (`Arc`) so that many
/// sessions can each run their own kernel, with its own log and ledger, over one policy and one
/// key (see ARCHITECTURE.md).
pub struct KernelParts {
    /// The policy's text, as parsed into `policy` (its hash goes into the genesis record).
    pub policy_text: Arc<str>,
    /// The validated policy.
    pub policy: Arc<Policy>,
    /// The signing key for receipts and handles.
    pub signer: Arc<SigningIdentity>,
    /// The secret broker, if this kernel serves `secret.open`.
    pub broker: Option<Arc<SecretBroker>>,
    /// The clock.
    pub clock: Box<dyn Clock + Send>,
    /// The id source.
    pub entropy: Box<dyn Entropy + Send>,
    /// A random id for this log.
    pub log_id: [u8; 32],
    /// Where the log is written (a service name, never a user path).
    pub origin: String,
    /// Append a signed checkpoint after every this many syscall events (0: only at close).
    pub checkpoint_every: u32,
}

/// One syscall to mediate.
#[derive(Clone, Debug)]
pub struct SyscallRequest<'a> {
    /// The requesting agent.
    pub agent: &'a str,
    /// The syscall.
    pub syscall: SyscallKind,
    /// The target.
    pub target: &'a str,
    /// The consumed inputs, as evidence (see [`EvidenceSalt::input`]).
    pub inputs: &'a [InputRef],
    /// The operator grant presented, by id.
    pub grant: Option<&'a str>,
}

/// What the kernel decided, after recording it.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    /// Allowed or denied.
    pub verdict: Effect,
    /// The rule that decided.
    pub rule: String,
    /// The policy's explanation.
    pub explanation: Explanation,
    /// For an allow, the output's labels (P7).
    pub output_labels: Option<LabelSet>,
    /// The receipt authorizing an allow on a grant.
    pub receipt: Option<agentk_capability::EncodedReceipt>,
    /// The handle for an allowed `secret.open`.
    pub handle: Option<EncodedHandle>,
    /// The hash of the recorded event.
    pub event: Hash32,
}

/// The kernel failed to record, so it gives no decision. Callers treat this as a deny.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KernelError {
    /// The sink failed.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// An earlier append failed; this kernel decides nothing more (open a new log).
    #[error("the flight log failed earlier; this kernel decides nothing more")]
    Poisoned,
    /// The log to resume has no genesis record.
    #[error("the log cannot be resumed: it has no genesis record")]
    NotResumable,
    /// The log was started under another policy.
    #[error("the log was started under another policy; start a new log")]
    PolicyChanged,
    /// The log was started with another signing key.
    #[error("the log was started with another signing key; start a new log")]
    SignerChanged,
}

/// One session's kernel.
pub struct Kernel<S: RecordSink> {
    policy: Arc<Policy>,
    signer: Arc<SigningIdentity>,
    broker: Option<Arc<SecretBroker>>,
    clock: Box<dyn Clock + Send>,
    entropy: Box<dyn Entropy + Send>,
    ledger: Ledger,
    sink: S,
    seq: u64,
    prev: Hash32,
    frontier: Frontier,
    log_id: Hash32,
    checkpoint_every: u32,
    since_checkpoint: u32,
    /// The size the last checkpoint signed.
    signed_through: Option<u64>,
    /// Set when an append failed: the log's end is then uncertain, so this kernel decides
    /// nothing more.
    poisoned: bool,
}

/// The hash of a policy's text.
pub fn policy_hash(text: &str) -> Hash32 {
    Hash32(blake3::derive_key("agentk policy text v1", text.as_bytes()))
}

/// The hash of a grant's definition.
pub fn grant_hash(grant: &Grant) -> Hash32 {
    let agents: Vec<&str> = grant.agents().iter().map(|p| p.as_str()).collect();
    let definition = (
        grant.id(),
        agents,
        grant.syscall().name(),
        grant.target().as_str(),
        grant.scope(),
        grant.uses(),
        grant.ttl_seconds(),
    );
    Hash32(blake3::derive_key("agentk grant v1", &postcard::to_allocvec(&definition).unwrap_or_default()))
}

impl<S: RecordSink> Kernel<S> {
    /// Builds a kernel over `sink` and records the genesis event.
    pub fn open(parts: KernelParts, sink: S) -> Result<Self, KernelError> {
        let mut kernel = Kernel {
            policy: parts.policy,
            broker: parts.broker,
            clock: parts.clock,
            entropy: parts.entropy,
            ledger: Ledger::new(),
            sink,
            seq: 0,
            prev: Hash32::default(),
            frontier: Frontier::new(),
            signer: Arc::clone(&parts.signer),
            log_id: Hash32(parts.log_id),
            checkpoint_every: parts.checkpoint_every,
            since_checkpoint: 0,
            signed_through: None,
            poisoned: false,
        };
        let genesis = Genesis {
            log_id: Hash32(parts.log_id),
            origin: SafeText::new(&parts.origin).as_str().to_owned(),
            policy_hash: policy_hash(&parts.policy_text),
            signer: parts.signer.public_key().to_hex(),
            development_signer: parts.signer.is_development(),
        };
        kernel.record(EventBody::Genesis(genesis))?;
        Ok(kernel)
    }

    /// Continues a log that `verified` describes (see [`crate::file::FileLog::open_append`]):
    /// the chain, the Merkle frontier, grant budgets and spent receipts all carry over, so a
    /// restart neither breaks the chain nor refills a budget. The policy and the signer must
    /// be the ones the log was started with.
    pub fn resume(parts: KernelParts, sink: S, verified: &crate::verify::ChainVerified) -> Result<Self, KernelError> {
        let genesis = verified.genesis().ok_or(KernelError::NotResumable)?;
        if genesis.policy_hash != policy_hash(&parts.policy_text) {
            return Err(KernelError::PolicyChanged);
        }
        if genesis.signer != parts.signer.public_key().to_hex() {
            return Err(KernelError::SignerChanged);
        }
        // SECURITY: without the tally a resumed ledger would start empty and refill budgets.
        let tally = verified.receipts().ok_or(KernelError::NotResumable)?;
        let latest_time = verified.time_span().map_or(0, |(_, last)| last);
        Ok(Kernel {
            policy: parts.policy,
            signer: parts.signer,
            broker: parts.broker,
            clock: parts.clock,
            entropy: parts.entropy,
            ledger: Ledger::resume(tally.minted.clone(), tally.spent.iter().copied(), latest_time),
            sink,
            seq: verified.events(),
            prev: verified.head(),
            frontier: verified.frontier().clone(),
            log_id: genesis.log_id,
            checkpoint_every: parts.checkpoint_every,
            since_checkpoint: 0,
            signed_through: verified.last_checkpoint().map(|c| c.size),
            poisoned: false,
        })
    }

    /// The sink.
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// Events recorded so far, the genesis included.
    pub fn events(&self) -> u64 {
        self.seq
    }

    fn record(&mut self, event: EventBody) -> Result<Hash32, KernelError> {
        if self.poisoned {
            return Err(KernelError::Poisoned);
        }
        let line = EventLine::seal(self.seq, self.prev, event);
        if let Err(e) = self.sink.append(&line.to_line()) {
            self.poisoned = true;
            return Err(e.into());
        }
        self.seq += 1;
        self.prev = line.hash;
        self.frontier.push(leaf_hash(&line.hash.0));
        Ok(line.hash)
    }

    /// Mediates one syscall: decides it, mints a receipt (and a handle for `secret.open`) when
    /// it is allowed on a grant, records the event, and only then answers. Anything that fails
    /// on the way to an allow turns it into a deny; a failure to record answers no decision.
    pub fn syscall(&mut self, request: &SyscallRequest<'_>) -> Result<Outcome, KernelError> {
        if self.poisoned {
            return Err(KernelError::Poisoned);
        }
        let now = self.clock.now();
        // SECURITY: a request whose event could not be verified later (too long a line, an
        // input naming a source that is not an earlier event) is denied up front and
        // recorded without its inputs.
        let malformed = request.agent.len() > MAX_AGENT_BYTES
            || request.target.len() > MAX_TARGET_BYTES
            || request.inputs.len() > MAX_INPUTS
            || request.grant.is_some_and(|g| g.len() > MAX_AGENT_BYTES)
            || request.inputs.iter().any(|input| input.from.is_some_and(|from| from == 0 || from >= self.seq));
        let inputs = if malformed { &[][..] } else { request.inputs };
        let policy_request = policy_request(request.agent, &request.syscall, request.target, inputs, request.grant);
        let policy = Arc::clone(&self.policy);
        let mut environment = LiveEnvironment {
            ledger: &mut self.ledger,
            signer: &self.signer,
            broker: self.broker.as_deref(),
            entropy: &mut *self.entropy,
            prev: self.prev,
        };
        let judged = judge(&policy, &policy_request, malformed, now, &mut environment);
        let mut explanation = judged.decision.explain(&policy_request);
        if let Some(rule) = judged.kernel_rule {
            rule.overrule(&mut explanation);
        }
        let rule = judged.rule().to_owned();
        let syscall_text = match &request.syscall {
            SyscallKind::Known(s) => s.name().to_owned(),
            // A plausible unknown name is recorded as given (replay reads it back as the same
            // unknown kind); anything else only as its length.
            SyscallKind::Unknown(u) => u.name().map_or_else(|| u.to_string(), str::to_owned),
        };
        let Judged { verdict, output_labels, grant, authorized, .. } = judged;
        let event = SyscallEvent {
            time: now,
            agent: bounded(request.agent, MAX_AGENT_BYTES),
            syscall: syscall_text,
            target: bounded(request.target, MAX_TARGET_BYTES),
            inputs: inputs.to_vec(),
            grant,
            decision: verdict,
            rule: rule.clone(),
            output_labels,
            receipt: authorized.receipt.clone(),
            handle: authorized.handle.clone(),
        };
        let hash = self.record(EventBody::Syscall(Box::new(event)))?;
        self.since_checkpoint += 1;
        if self.checkpoint_every > 0 && self.since_checkpoint >= self.checkpoint_every {
            self.checkpoint()?;
        }
        let Authorized { receipt, handle } = authorized;
        Ok(Outcome { verdict, rule, explanation, output_labels, receipt, handle, event: hash })
    }

    /// Appends a signed checkpoint over every event so far.
    pub fn checkpoint(&mut self) -> Result<Hash32, KernelError> {
        let size = self.seq;
        let root = Hash32(self.frontier.root().0);
        let statement = checkpoint_statement(&self.log_id, size, &root);
        let (_, signature) = self.signer.sign_in_context(SignContext::Checkpoint, &statement);
        self.since_checkpoint = 0;
        let hash = self.record(EventBody::Checkpoint(CheckpointEvent { size, root, signature: signature.to_hex() }))?;
        self.signed_through = Some(size);
        Ok(hash)
    }

    /// Closes the log with a final checkpoint, so its whole length is signed, and gives back
    /// the sink.
    pub fn close(mut self) -> Result<S, KernelError> {
        if self.poisoned {
            return Err(KernelError::Poisoned);
        }
        // A checkpoint as the last event already signs everything before it.
        if self.signed_through.is_none_or(|size| self.seq != size + 1) {
            self.checkpoint()?;
        }
        Ok(self.sink)
    }
}

/// The rules the kernel itself applies, after the policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KernelRule {
    /// The request was larger than the kernel records, or an input named a source that is
    /// not an earlier event.
    MalformedRequest,
    /// The policy allowed a `secret.open`, but no secret store could open the secret.
    SecretUnavailable,
    /// The policy allowed on a grant whose use budget is spent.
    GrantExhausted,
    /// The policy allowed on a grant, but no receipt could be minted (its lifetime could not
    /// start at the kernel's time).
    ReceiptUnavailable,
}

impl KernelRule {
    /// Every kernel rule.
    pub const ALL: [KernelRule; 4] = [
        KernelRule::MalformedRequest,
        KernelRule::SecretUnavailable,
        KernelRule::GrantExhausted,
        KernelRule::ReceiptUnavailable,
    ];

    /// The rule id recorded for it (one of [`agentk_policy::KERNEL_RULE_IDS`], which no policy
    /// rule may take).
    pub const fn id(self) -> &'static str {
        match self {
            KernelRule::MalformedRequest => "malformed-request",
            KernelRule::SecretUnavailable => "secret-unavailable",
            KernelRule::GrantExhausted => "grant-exhausted",
            KernelRule::ReceiptUnavailable => "receipt-unavailable",
        }
    }

    /// The reason given for it.
    pub const fn reason(self) -> &'static str {
        match self {
            KernelRule::MalformedRequest => "the request is larger than the kernel records, or malformed",
            KernelRule::SecretUnavailable => "no secret store could open this secret",
            KernelRule::GrantExhausted => "the grant's use budget is spent",
            KernelRule::ReceiptUnavailable => "no receipt could be minted for this request now",
        }
    }

    /// Makes `explanation` say that this rule overrode the policy's allow (or that the
    /// request was malformed), so no caller reads an allow for a deny.
    fn overrule(self, explanation: &mut Explanation) {
        explanation.decision = agentk_policy::Effect::Deny;
        explanation.rule = self.id().to_owned();
        explanation.reason = self.reason().to_owned();
        explanation.output_labels = None;
        explanation.remedy = None;
    }

    /// The kernel rule a recorded rule id names, if it names one.
    pub fn from_id(id: &str) -> Option<KernelRule> {
        KernelRule::ALL.into_iter().find(|rule| rule.id() == id)
    }
}

/// The policy request for a syscall: the join of the inputs' labels, and the grant presented.
fn policy_request<'a>(
    agent: &'a str,
    syscall: &SyscallKind,
    target: &'a str,
    inputs: &[InputRef],
    grant: Option<&'a str>,
) -> Request<'a> {
    let labels = inputs.iter().fold(LabelSet::EMPTY, |set, input| set | input.labels);
    let request = Request::new(agent, syscall.clone(), target).with_labels(labels);
    match grant {
        Some(grant) => request.presenting(grant),
        None => request,
    }
}

/// The policy request a recorded event stands for, with `inputs` as its inputs.
fn replayed_request<'a>(recorded: &'a SyscallEvent, inputs: &[InputRef]) -> Request<'a> {
    let syscall = SyscallKind::parse(&recorded.syscall);
    let grant = recorded.grant.as_ref().map(|g| g.id.as_str());
    policy_request(&recorded.agent, &syscall, &recorded.target, inputs, grant)
}

/// What a decision consults beyond the policy. The live kernel mints, spends and opens for
/// real; replay answers from the record and its own budget count, with no side effects. Both
/// go through [`judge`], so the live path and the replay path cannot drift apart.
trait Environment {
    /// Whether a secret store can open `target` now.
    fn secret_openable(&self, target: &str) -> bool;

    /// Authorizes an allow on the covering `grant`: mints and spends a receipt, and for a
    /// `secret.open` opens a handle bound to it.
    fn authorize(
        &mut self,
        policy: &Policy,
        request: &Request<'_>,
        grant: &Grant,
        secret_open: bool,
        now: u64,
    ) -> Result<Authorized, KernelRule>;
}

/// What an authorized allow carries.
#[derive(Default)]
struct Authorized {
    receipt: Option<agentk_capability::EncodedReceipt>,
    handle: Option<EncodedHandle>,
}

struct LiveEnvironment<'a> {
    ledger: &'a mut Ledger,
    signer: &'a SigningIdentity,
    broker: Option<&'a SecretBroker>,
    entropy: &'a mut (dyn Entropy + Send),
    prev: Hash32,
}

impl LiveEnvironment<'_> {
    fn id16(&mut self) -> [u8; 16] {
        let mut id = [0u8; 16];
        self.entropy.fill(&mut id);
        id
    }
}

impl Environment for LiveEnvironment<'_> {
    fn secret_openable(&self, target: &str) -> bool {
        self.broker.is_some_and(|broker| broker.can_open(target).is_ok())
    }

    fn authorize(
        &mut self,
        policy: &Policy,
        request: &Request<'_>,
        _grant: &Grant,
        secret_open: bool,
        now: u64,
    ) -> Result<Authorized, KernelRule> {
        let context = MintContext { id: ReceiptId(self.id16()), now, prev_event: Hash32(self.prev.0) };
        let (verified, receipt) = match self.ledger.mint_and_spend(policy, request, self.signer, context) {
            Ok(minted) => minted,
            Err(MintError::BudgetExhausted { .. }) => return Err(KernelRule::GrantExhausted),
            Err(_) => return Err(KernelRule::ReceiptUnavailable),
        };
        if !secret_open {
            return Ok(Authorized { receipt: Some(receipt), handle: None });
        }
        let handle_id = HandleId(self.id16());
        match self.broker.and_then(|broker| broker.open(&verified, self.signer, handle_id, now).ok()) {
            Some((_, handle)) => Ok(Authorized { receipt: Some(receipt), handle: Some(handle) }),
            None => {
                // The receipt is never handed out and the log will not show it: refund its
                // use, as a resumed ledger would count it.
                self.ledger.void(&verified);
                Err(KernelRule::SecretUnavailable)
            }
        }
    }
}

/// One decision, before it is recorded.
struct Judged<'p> {
    decision: Decision<'p>,
    /// Whether the environment authorized the allow (a receipt was, or would be, minted).
    receipted: bool,
    verdict: Effect,
    kernel_rule: Option<KernelRule>,
    output_labels: Option<LabelSet>,
    grant: Option<GrantRef>,
    authorized: Authorized,
}

impl Judged<'_> {
    fn rule(&self) -> &str {
        match self.kernel_rule {
            Some(rule) => rule.id(),
            None => self.decision.rule_id(),
        }
    }
}

/// The decision procedure, shared by the live kernel and replay: the policy decides, then the
/// kernel's own rules (malformed request, secret availability, grant budget, receipt) may
/// turn an allow into a deny; an allow's output labels follow P7.
fn judge<'p>(
    policy: &'p Policy,
    request: &Request<'_>,
    malformed: bool,
    now: u64,
    environment: &mut impl Environment,
) -> Judged<'p> {
    let decision = policy.evaluate(request);
    let capability = decision.verdict().capability();
    let grant = request.grant().map(|id| {
        let (hash, covering) = match capability {
            // A malformed request is recorded in bounded form, so its grant is not judged
            // against it: replay could not judge it the same way.
            _ if malformed => (Hash32::default(), false),
            Capability::Covering(g) => (grant_hash(g), true),
            Capability::NotCovering(g) => (grant_hash(g), false),
            Capability::NotPresented | Capability::UnknownGrant => (Hash32::default(), false),
        };
        GrantRef { id: SafeText::new(id).as_str().to_owned(), hash, covering }
    });
    let secret_open = request.syscall().known() == Some(agentk_labels::Syscall::SecretOpen);
    let mut authorized = Authorized::default();
    let mut receipted = false;
    let kernel_rule = if malformed {
        Some(KernelRule::MalformedRequest)
    } else if !decision.is_allowed() {
        None
    // Refuse before spending the grant when no handle could be opened.
    } else if secret_open && !environment.secret_openable(request.target()) {
        Some(KernelRule::SecretUnavailable)
    } else if let Capability::Covering(covering) = capability {
        match environment.authorize(policy, request, covering, secret_open, now) {
            Ok(granted) => {
                authorized = granted;
                receipted = true;
                None
            }
            Err(rule) => Some(rule),
        }
    } else {
        None
    };
    let allowed = kernel_rule.is_none() && decision.is_allowed();
    let verdict = if allowed { Effect::Allow } else { Effect::Deny };
    let output_labels = allowed.then(|| propagate(request.syscall(), request.labels(), OutputOutcome::Ok));
    Judged { decision, receipted, verdict, kernel_rule, output_labels, grant, authorized }
}

/// Replay's side of the decision procedure (R1–R3): re-decides recorded events through the
/// kernel's own decision procedure (the one [`Kernel::syscall`] uses), in an environment that
/// has no side effects. Nothing is minted, signed, opened or written. Grant budgets are counted afresh, under the policy replayed;
/// what only the live environment knew is taken from the record: that a request was malformed
/// (its oversized fields are not recorded), that no secret store could open a secret, and that
/// no receipt could be minted at the recorded time.
pub struct Rehearsal<'p> {
    policy: &'p Policy,
    minted: std::collections::BTreeMap<String, u32>,
}

/// A recorded event decided again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Redecided {
    /// Allowed or denied.
    pub verdict: Effect,
    /// The rule that decided.
    pub rule: String,
    /// For an allow, the output's labels.
    pub output_labels: Option<LabelSet>,
    /// The presented grant, as the kernel would record it.
    pub grant: Option<GrantRef>,
    /// Whether the allow carries a receipt (and a handle, for `secret.open`).
    pub receipt: bool,
}

impl Redecided {
    /// Whether `recorded` shows exactly this decision: verdict, rule, output labels, grant
    /// and whether a receipt (and a handle for `secret.open`) was handed out.
    pub fn reproduces(&self, recorded: &SyscallEvent) -> bool {
        let secret_open = SyscallKind::parse(&recorded.syscall).known() == Some(agentk_labels::Syscall::SecretOpen);
        self.verdict == recorded.decision
            && self.rule == recorded.rule
            && self.output_labels == recorded.output_labels
            && self.grant == recorded.grant
            && self.receipt == recorded.receipt.is_some()
            && (self.receipt && secret_open) == recorded.handle.is_some()
    }
}

struct RecordedEnvironment<'a> {
    minted: &'a mut std::collections::BTreeMap<String, u32>,
    recorded: Option<KernelRule>,
}

impl Environment for RecordedEnvironment<'_> {
    fn secret_openable(&self, _target: &str) -> bool {
        self.recorded != Some(KernelRule::SecretUnavailable)
    }

    fn authorize(
        &mut self,
        _policy: &Policy,
        _request: &Request<'_>,
        grant: &Grant,
        secret_open: bool,
        _now: u64,
    ) -> Result<Authorized, KernelRule> {
        let used = self.minted.get(grant.id()).copied().unwrap_or(0);
        if used >= grant.uses() {
            return Err(KernelRule::GrantExhausted);
        }
        // A receipt that could not be minted, or whose handle could not be opened, used no
        // budget live either (it was refunded). Only `secret.open` can lack a secret.
        match self.recorded {
            Some(KernelRule::ReceiptUnavailable) => return Err(KernelRule::ReceiptUnavailable),
            Some(KernelRule::SecretUnavailable) if secret_open => return Err(KernelRule::SecretUnavailable),
            _ => {}
        }
        self.minted.insert(grant.id().to_owned(), used + 1);
        Ok(Authorized::default())
    }
}

impl<'p> Rehearsal<'p> {
    /// A rehearsal under `policy`, with every grant's budget unused.
    pub fn new(policy: &'p Policy) -> Self {
        Rehearsal { policy, minted: std::collections::BTreeMap::new() }
    }

    /// Decides `recorded` again with `inputs` in its place (the recorded inputs, for a plain
    /// or policy-fork replay; changed ones, for a behavior fork). Counts grant budgets as the
    /// kernel would.
    pub fn decide(&mut self, recorded: &SyscallEvent, inputs: &[InputRef]) -> Redecided {
        let request = replayed_request(recorded, inputs);
        let kernel_rule = KernelRule::from_id(&recorded.rule);
        let mut environment = RecordedEnvironment { minted: &mut self.minted, recorded: kernel_rule };
        // A malformed request is recorded without its inputs; one recorded with inputs was not.
        let malformed = kernel_rule == Some(KernelRule::MalformedRequest) && recorded.inputs.is_empty();
        let judged = judge(self.policy, &request, malformed, recorded.time, &mut environment);
        let mut grant = judged.grant.clone();
        // The presented id is the recorded one (escaped and bounded when it was recorded);
        // replay judges the grant it names, and keeps the id as recorded.
        if let (Some(mine), Some(recorded)) = (grant.as_mut(), recorded.grant.as_ref()) {
            mine.id.clone_from(&recorded.id);
        }
        Redecided {
            verdict: judged.verdict,
            rule: judged.rule().to_owned(),
            output_labels: judged.output_labels,
            receipt: judged.receipted,
            grant,
        }
    }

    /// Why `redecided` (from [`Rehearsal::decide`] with the same event and inputs) came out as
    /// it did: the policy's explanation, or the kernel rule that overrode it. Budgets are not
    /// touched.
    pub fn explain(&self, recorded: &SyscallEvent, inputs: &[InputRef], redecided: &Redecided) -> Explanation {
        let request = replayed_request(recorded, inputs);
        let mut explanation = self.policy.evaluate(&request).explain(&request);
        if let Some(rule) = KernelRule::from_id(&redecided.rule) {
            rule.overrule(&mut explanation);
        }
        explanation
    }
}

/// The text as given when it fits; otherwise a bounded, escaped stand-in (the request was
/// denied as malformed, so replay needs no more).
fn bounded(text: &str, max: usize) -> String {
    if text.len() <= max { text.to_owned() } else { SafeText::with_limit(text, 64).to_string() }
}
