//! The kernel: the only way to obtain a decision, and every decision is recorded before it is
//! returned (F1).

use std::sync::Arc;

use agentk_capability::{EventHash, Ledger, MintContext, MintError, ReceiptId, SignContext, SigningIdentity};
use agentk_labels::{LabelSet, Outcome as OutputOutcome, SafeText, SyscallKind, propagate};
use agentk_policy::{Capability, Explanation, Grant, Policy, Request};
use agentk_secrets::{EncodedHandle, HandleId, SecretBroker};
use serde::Serialize;

use crate::event::{
    CheckpointEvent, EventBody, EventLine, Genesis, GrantRef, Hash32, InputRef, SyscallEvent, Verdict,
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
        InputRef { labels, digest: Hash32(*blake3::keyed_hash(&self.0, content).as_bytes()) }
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
    pub verdict: Verdict,
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

    fn id16(&mut self) -> [u8; 16] {
        let mut id = [0u8; 16];
        self.entropy.fill(&mut id);
        id
    }

    /// Mediates one syscall: decides it, mints a receipt (and a handle for `secret.open`) when
    /// it is allowed on a grant, records the event, and only then answers. Anything that fails
    /// on the way to an allow turns it into a deny; a failure to record answers no decision.
    pub fn syscall(&mut self, request: &SyscallRequest<'_>) -> Result<Outcome, KernelError> {
        if self.poisoned {
            return Err(KernelError::Poisoned);
        }
        let now = self.clock.now();
        let labels = request.inputs.iter().fold(LabelSet::EMPTY, |set, input| set | input.labels);
        // SECURITY: a request whose event could not be verified later (too long a line) is
        // denied up front and recorded without its inputs.
        let oversized = request.agent.len() > MAX_AGENT_BYTES
            || request.target.len() > MAX_TARGET_BYTES
            || request.inputs.len() > MAX_INPUTS
            || request.grant.is_some_and(|g| g.len() > MAX_AGENT_BYTES);
        let mut policy_request =
            Request::new(request.agent, request.syscall.clone(), request.target).with_labels(labels);
        if let Some(grant) = request.grant {
            policy_request = policy_request.presenting(grant);
        }
        let policy = Arc::clone(&self.policy);
        let decision = policy.evaluate(&policy_request);
        let explanation = decision.explain(&policy_request);
        let capability = decision.verdict().capability();
        let grant_ref = request.grant.map(|id| {
            let (hash, covering) = match capability {
                Capability::Covering(g) => (grant_hash(g), true),
                Capability::NotCovering(g) => (grant_hash(g), false),
                Capability::NotPresented | Capability::UnknownGrant => (Hash32::default(), false),
            };
            GrantRef { id: SafeText::new(id).as_str().to_owned(), hash, covering }
        });

        let mut verdict = Verdict::Deny;
        let mut kernel_deny: Option<(&str, &str)> = None;
        if oversized {
            kernel_deny = Some(("malformed-request", "the request is larger than the kernel records"));
        } else if decision.is_allowed() {
            verdict = Verdict::Allow;
        }
        let is_secret_open = request.syscall.known() == Some(agentk_labels::Syscall::SecretOpen);
        // Refuse before spending the grant when no handle could be opened.
        if verdict == Verdict::Allow && is_secret_open {
            let openable = self.broker.as_ref().is_some_and(|broker| broker.can_open(request.target).is_ok());
            if !openable {
                verdict = Verdict::Deny;
                kernel_deny = Some(("secret-unavailable", "no secret store can open this secret now"));
            }
        }
        let (mut receipt, mut handle) = (None, None);
        if verdict == Verdict::Allow && capability.is_present() {
            let context = MintContext { id: ReceiptId(self.id16()), now, prev_event: EventHash(self.prev.0) };
            match self.ledger.mint_and_spend(&policy, &policy_request, &self.signer, context) {
                Ok((verified, encoded)) => {
                    if is_secret_open {
                        let handle_id = HandleId(self.id16());
                        let opened =
                            self.broker.as_ref().and_then(|b| b.open(&verified, &self.signer, handle_id, now).ok());
                        match opened {
                            Some((_, encoded_handle)) => handle = Some(encoded_handle),
                            None => {
                                // The receipt is never handed out and the log will not show
                                // it: refund its use, as a resumed ledger would count it.
                                self.ledger.void(&verified);
                                verdict = Verdict::Deny;
                                kernel_deny = Some(("secret-unavailable", "no secret store could open this secret"));
                            }
                        }
                    }
                    if verdict == Verdict::Allow {
                        receipt = Some(encoded);
                    }
                }
                Err(MintError::BudgetExhausted { .. }) => {
                    verdict = Verdict::Deny;
                    kernel_deny = Some(("grant-exhausted", "the grant's use budget is spent"));
                }
                Err(_) => {
                    verdict = Verdict::Deny;
                    kernel_deny = Some(("receipt-unavailable", "no receipt could be minted for this request now"));
                }
            }
        }
        let mut explanation = explanation;
        let rule = match kernel_deny {
            // The kernel overrode the policy's allow (or its request was malformed): the
            // explanation says so, so the caller never reads an allow for a deny.
            Some((id, reason)) => {
                explanation.decision = agentk_policy::Effect::Deny;
                explanation.rule = id.to_owned();
                explanation.reason = reason.to_owned();
                explanation.output_labels = None;
                explanation.remedy = None;
                id.to_owned()
            }
            None => decision.rule_id().to_owned(),
        };
        let output_labels = (verdict == Verdict::Allow).then(|| propagate(&request.syscall, labels, OutputOutcome::Ok));
        let syscall_text = match &request.syscall {
            SyscallKind::Known(s) => s.name().to_owned(),
            // A plausible unknown name is recorded as given (replay reads it back as the same
            // unknown kind); anything else only as its length.
            SyscallKind::Unknown(u) => u.name().map_or_else(|| u.to_string(), str::to_owned),
        };
        let event = SyscallEvent {
            time: now,
            agent: bounded(request.agent, MAX_AGENT_BYTES),
            syscall: syscall_text,
            target: bounded(request.target, MAX_TARGET_BYTES),
            inputs: if oversized { Vec::new() } else { request.inputs.to_vec() },
            grant: grant_ref,
            decision: verdict,
            rule: rule.clone(),
            output_labels,
            receipt: receipt.clone(),
            handle: handle.clone(),
        };
        let hash = self.record(EventBody::Syscall(Box::new(event)))?;
        self.since_checkpoint += 1;
        if self.checkpoint_every > 0 && self.since_checkpoint >= self.checkpoint_every {
            self.checkpoint()?;
        }
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

/// The text as given when it fits; otherwise a bounded, escaped stand-in (the request was
/// denied as malformed, so replay needs no more).
fn bounded(text: &str, max: usize) -> String {
    if text.len() <= max { text.to_owned() } else { SafeText::with_limit(text, 64).to_string() }
}
