//! The kernel: the only way to obtain a decision, and every decision is recorded before it is
//! returned (F1).
//!
//! Requests reach it in batches ([`Kernel::submit`]; [`Kernel::decide`] is a batch of one). A
//! batch is decided in order, its events are sealed into the hash chain in memory, and then
//! written with one write (and, under sync policy `always`, one `fdatasync`) before any of its
//! decisions is returned: group commit where the caller waits. Nothing already returned ever
//! sits in a user-space buffer, so a crash can lose only decisions nobody has seen.

use std::sync::Arc;

use agentk_capability::{Hash32, MintContext, MintError, ReceiptId, SignContext, SigningIdentity};
use agentk_labels::{LabelSet, Outcome, SafeText, Syscall, SyscallKind, propagate};
use agentk_policy::{Authorization, Capability, Decision, Effect, Explanation, Grant, Policy, Request};
use agentk_secrets::{EncodedHandle, HandleId, SecretBroker};
use serde::Serialize;

use crate::event::{
    CheckpointEvent, EventBody, EventLine, Genesis, GrantRef, InputRef, OutputEvent, SyscallEvent, checkpoint_statement,
};
use crate::ledger::{JournalEntry, LedgerError, SharedLedger};
use crate::merkle::{Frontier, leaf_hash};

/// The longest agent id and target recorded as given; longer ones are denied.
const MAX_AGENT_BYTES: usize = 256;
const MAX_TARGET_BYTES: usize = 4096;
/// The most inputs one syscall may consume; more is denied as malformed. With the limits above
/// it keeps every event line well under [`crate::event::MAX_LINE_BYTES`].
pub const MAX_INPUTS: usize = 256;

/// Where events go. A kernel cannot exist without one, so no decision goes unrecorded.
pub trait RecordSink {
    /// Appends one batch: `lines` holds `events` complete event lines back to back, each ending
    /// in a newline. Answers once the batch has been handed to the operating system (and is on
    /// disk, where the sink's sync policy says so). An error means any of them may be missing:
    /// the kernel then returns no decision from the batch and decides nothing more.
    fn append(&mut self, lines: &[u8], events: usize) -> Result<(), SinkError>;

    /// Makes everything appended so far durable, whatever the sink's own policy (a transport
    /// that syncs on a timer calls this). Sinks with nothing to sync answer at once.
    fn sync(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// The sink could not record a batch of events.
#[derive(Debug, thiserror::Error)]
#[error("the flight log could not record the event")]
pub struct SinkError {
    /// What went wrong.
    #[from]
    pub source: std::io::Error,
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

    /// The lines so far (without their newlines).
    pub fn lines(&self) -> &[String] {
        &self.lines
    }
}

impl RecordSink for MemoryLog {
    fn append(&mut self, lines: &[u8], _events: usize) -> Result<(), SinkError> {
        let text = std::str::from_utf8(lines).map_err(std::io::Error::other)?;
        self.lines.extend(text.split_terminator('\n').map(str::to_owned));
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

/// The per-log key of input and output digests. Digests are keyed so that low-entropy content
/// (a short answer, a yes/no) cannot be guessed from the log alone, while an auditor holding
/// the salt can still check a candidate.
pub struct EvidenceSalt([u8; 32]);

impl EvidenceSalt {
    /// A salt from 32 bytes (random, kept beside the log with owner-only permissions).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        EvidenceSalt(bytes)
    }

    /// The keyed digest of `content`.
    pub fn digest(&self, content: &[u8]) -> Hash32 {
        Hash32(*blake3::keyed_hash(&self.0, content).as_bytes())
    }

    /// The evidence for one input: its labels and the keyed digest of its content.
    pub fn input(&self, labels: LabelSet, content: &[u8]) -> InputRef {
        InputRef { labels, digest: self.digest(content), from: None }
    }

    /// The salt as the text of a salt file (64 lowercase hex characters and a newline), to keep
    /// beside a log with owner-only permissions. The only way the bytes leave: grep for it.
    pub fn expose_for_salt_file(&self) -> zeroize::Zeroizing<String> {
        zeroize::Zeroizing::new(format!("{}\n", agentk_capability::encode_hex(&self.0)))
    }
}

impl std::fmt::Debug for EvidenceSalt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EvidenceSalt(<redacted>)")
    }
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
    /// The consumed inputs, as evidence (see [`Kernel::input`]).
    pub inputs: &'a [InputRef],
    /// The operator grant presented, by id.
    pub grant: Option<&'a str>,
}

impl<'a> SyscallRequest<'a> {
    /// A request by `agent` for `syscall` on `target`, consuming nothing, presenting no grant.
    pub fn new(agent: &'a str, syscall: impl Into<SyscallKind>, target: &'a str) -> Self {
        SyscallRequest { agent, syscall: syscall.into(), target, inputs: &[], grant: None }
    }

    /// The same request consuming `inputs`.
    #[must_use]
    pub fn consuming(mut self, inputs: &'a [InputRef]) -> Self {
        self.inputs = inputs;
        self
    }

    /// The same request presenting the operator grant `grant`.
    #[must_use]
    pub fn presenting(mut self, grant: &'a str) -> Self {
        self.grant = Some(grant);
        self
    }
}

/// An allowed action, as the kernel decided it: what an output can be recorded for. Only an
/// allow makes one ([`Decided::action`]), and it names its kernel's log, so an output can never
/// be pinned on a denied request or on another log's event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Action {
    log: Hash32,
    /// The kernel that decided it (a process-unique number): a kernel sharing the log id but
    /// not the history cannot take it.
    instance: u64,
    seq: u64,
    syscall: Syscall,
    labels: LabelSet,
}

impl Action {
    /// The `seq` of the event that allowed it.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The labels its output carries at least (P7).
    pub fn labels(&self) -> LabelSet {
        self.labels
    }
}

/// What became of an allowed action, to record as an output event.
#[derive(Clone, Copy, Debug)]
pub struct OutputRecord<'a> {
    /// The allowed action.
    pub action: Action,
    /// The output itself; only its keyed digest reaches the log.
    pub content: &'a [u8],
    /// Labels the output carries beyond those the decision gave it (`untrusted`, `external`
    /// for a tool's answer, say). Labels only grow: the decision's labels are always kept.
    pub labels: LabelSet,
    /// Whether the action succeeded. An error adds `poisoned-suspect` (error text is a classic
    /// carrier of injected instructions).
    pub outcome: Outcome,
}

/// One item of a batch.
#[derive(Clone, Debug)]
pub enum Submission<'a> {
    /// A syscall to decide.
    Syscall(SyscallRequest<'a>),
    /// A syscall the front end withholds before any policy is asked (for MCP: a tool never
    /// listed, flagged as steering the agent, or changed since it was pinned): recorded, and
    /// denied by the kernel rule `withheld`.
    Withheld(SyscallRequest<'a>),
    /// An output to record.
    Output(OutputRecord<'a>),
}

/// What the kernel decided about a syscall, after recording it.
#[derive(Clone, Debug, Serialize)]
pub struct Decided {
    /// Allowed or denied.
    pub effect: Effect,
    /// The rule that decided: a policy rule, or a kernel rule (see [`Decided::kernel_rule`]).
    pub rule: String,
    /// For an allow, the output's labels (P7).
    pub output_labels: Option<LabelSet>,
    /// The receipt authorizing an allow on a grant.
    pub receipt: Option<agentk_capability::EncodedReceipt>,
    /// The handle for an allowed `secret.open`.
    pub handle: Option<EncodedHandle>,
    /// The recorded event's position in the log.
    pub seq: u64,
    /// The recorded event's hash.
    pub event: Hash32,
    #[serde(skip)]
    kernel_rule: Option<KernelRule>,
    #[serde(skip)]
    action: Option<Action>,
}

impl Decided {
    /// Whether the syscall may proceed.
    pub fn is_allowed(&self) -> bool {
        self.effect == Effect::Allow
    }

    /// The kernel rule that overrode the policy, if one did.
    pub fn kernel_rule(&self) -> Option<KernelRule> {
        self.kernel_rule
    }

    /// For an allow, the action whose output [`Kernel::record_output`] records.
    pub fn action(&self) -> Option<Action> {
        self.action
    }
}

/// `Kernel::explain` was given another request than the one its decision answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the request is not the one this decision answered")]
pub struct MismatchedRequest;

/// A syscall event that would not fit in a line, and the grant whose use it reserved.
struct TooLong {
    granted: Option<String>,
}

impl Decided {
    /// A deny that no event records: only ever seen by a caller whose batch is then refused
    /// (the kernel is poisoned before the batch is written).
    fn unrecorded() -> Self {
        Decided {
            effect: Effect::Deny,
            rule: KernelRule::MalformedRequest.id().to_owned(),
            output_labels: None,
            receipt: None,
            handle: None,
            seq: 0,
            event: Hash32::default(),
            kernel_rule: Some(KernelRule::MalformedRequest),
            action: None,
        }
    }
}

/// An output, after recording it.
#[derive(Clone, Debug, Serialize)]
pub struct OutputRecorded {
    /// The output event's position in the log.
    pub seq: u64,
    /// The output event's hash.
    pub event: Hash32,
    /// The labels recorded for the output.
    pub labels: LabelSet,
    /// The output's keyed digest.
    pub digest: Hash32,
}

impl OutputRecorded {
    /// The output as an input of a later request: its labels and digest, linked to this event.
    pub fn as_input(&self) -> InputRef {
        InputRef { labels: self.labels, digest: self.digest, from: Some(self.seq) }
    }
}

/// What one item of a batch became.
#[derive(Clone, Debug)]
#[expect(clippy::large_enum_variant, reason = "moved once per decision; boxing would allocate on the hot path")]
pub enum Recorded {
    /// A decided syscall.
    Decided(Decided),
    /// A recorded output.
    Output(OutputRecorded),
}

/// The kernel failed to record, so it gives no decision. Callers treat this as a deny.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KernelError {
    /// The sink failed.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// The shared ledger could not record the receipts of a batch.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
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
    /// An output was submitted for an action this log does not hold.
    #[error("the output names an action this log does not hold")]
    ForeignAction,
}

/// What a kernel is built from (see [`crate::builder::KernelBuilder`], the public way in).
pub(crate) struct Parts {
    pub(crate) policy_text: Arc<str>,
    pub(crate) policy: Arc<Policy>,
    pub(crate) signer: Arc<SigningIdentity>,
    pub(crate) broker: Option<Arc<SecretBroker>>,
    pub(crate) clock: Box<dyn Clock + Send>,
    pub(crate) entropy: Box<dyn Entropy + Send>,
    pub(crate) ledger: SharedLedger,
    pub(crate) salt: EvidenceSalt,
    pub(crate) log_id: [u8; 32],
    pub(crate) origin: String,
    pub(crate) checkpoint_every: u32,
}

/// One session's kernel: decides, mints and records every syscall into its sink before
/// answering. Build one with [`Kernel::builder`].
pub struct Kernel<S: RecordSink = crate::file::FileLog> {
    policy: Arc<Policy>,
    signer: Arc<SigningIdentity>,
    broker: Option<Arc<SecretBroker>>,
    clock: Box<dyn Clock + Send>,
    entropy: Box<dyn Entropy + Send>,
    ledger: SharedLedger,
    grants: GrantHashes,
    salt: EvidenceSalt,
    /// `None` only once closed.
    sink: Option<S>,
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
    /// This kernel's process-unique number (see [`Action`]).
    instance: u64,
    /// Set when an event of the batch being sealed cannot be written as a verifiable line.
    batch_refused: bool,
    /// The batch being sealed, reused between batches.
    buffer: Vec<u8>,
    /// Receipts the batch hands out, for a journalled ledger.
    journal: Vec<JournalEntry>,
    journal_buffer: Vec<u8>,
}

/// Numbers kernels within the process (see [`Action`]).
static NEXT_INSTANCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// The hash of a policy's text.
pub fn policy_hash(text: &str) -> Hash32 {
    Hash32(blake3::derive_key("agentk policy text v1", text.as_bytes()))
}

/// The hashes of a policy's grant definitions, computed once (every allow on a grant records
/// its grant's hash).
#[derive(Clone, Debug, Default)]
struct GrantHashes(std::collections::BTreeMap<String, Hash32>);

impl GrantHashes {
    fn of(policy: &Policy) -> Self {
        GrantHashes(policy.grants().iter().map(|g| (g.id().to_owned(), grant_hash(g))).collect())
    }

    fn get(&self, grant: &Grant) -> Hash32 {
        self.0.get(grant.id()).copied().unwrap_or_else(|| grant_hash(grant))
    }
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

impl Kernel<crate::file::FileLog> {
    /// A builder with the defaults a user expects: the built-in `starter` policy, the signer
    /// from the environment (C4), a new log with its salt under `.agentk/runs/`, the system
    /// clock and OS randomness. Every part is replaceable.
    pub fn builder() -> crate::builder::KernelBuilder {
        crate::builder::KernelBuilder::new()
    }
}

impl<S: RecordSink> Kernel<S> {
    fn from_parts(parts: Parts, sink: S) -> Result<Self, KernelError> {
        parts.ledger.attach(policy_hash(&parts.policy_text))?;
        Ok(Kernel {
            grants: GrantHashes::of(&parts.policy),
            policy: parts.policy,
            signer: parts.signer,
            broker: parts.broker,
            clock: parts.clock,
            entropy: parts.entropy,
            ledger: parts.ledger,
            salt: parts.salt,
            sink: Some(sink),
            seq: 0,
            prev: Hash32::default(),
            frontier: Frontier::new(),
            log_id: Hash32(parts.log_id),
            checkpoint_every: parts.checkpoint_every,
            since_checkpoint: 0,
            signed_through: None,
            poisoned: false,
            instance: NEXT_INSTANCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            batch_refused: false,
            buffer: Vec::with_capacity(4096),
            journal: Vec::new(),
            journal_buffer: Vec::new(),
        })
    }

    /// Builds a kernel over `sink` and records the genesis event.
    pub(crate) fn open(parts: Parts, sink: S) -> Result<Self, KernelError> {
        let genesis = Genesis {
            log_id: Hash32(parts.log_id),
            origin: SafeText::new(&parts.origin).as_str().to_owned(),
            policy_hash: policy_hash(&parts.policy_text),
            signer: parts.signer.public_key().to_hex(),
            development_signer: parts.signer.is_development(),
        };
        let mut kernel = Self::from_parts(parts, sink)?;
        kernel.buffer.clear();
        kernel.seal(EventBody::Genesis(genesis));
        kernel.write(1)?;
        Ok(kernel)
    }

    /// Continues a log that `verified` describes (see [`crate::file::FileLog::open_append`]):
    /// the chain, the Merkle frontier, grant budgets and spent receipts all carry over, so a
    /// restart neither breaks the chain nor refills a budget. The policy and the signer must
    /// be the ones the log was started with.
    pub(crate) fn resume(parts: Parts, sink: S, verified: &crate::verify::ChainVerified) -> Result<Self, KernelError> {
        let genesis = verified.genesis().ok_or(KernelError::NotResumable)?;
        if genesis.policy_hash != policy_hash(&parts.policy_text) {
            return Err(KernelError::PolicyChanged);
        }
        if genesis.signer != parts.signer.public_key().to_hex() {
            return Err(KernelError::SignerChanged);
        }
        // SECURITY: without the tally a resumed ledger would start empty and refill budgets.
        let tally = verified.receipts().ok_or(KernelError::NotResumable)?;
        // The ledger must serve this policy before it is charged anything.
        parts.ledger.attach(genesis.policy_hash)?;
        parts.ledger.absorb_log(genesis.log_id, &tally.minted)?;
        let log_id = genesis.log_id.0;
        let mut kernel = Self::from_parts(Parts { log_id, ..parts }, sink)?;
        kernel.seq = verified.events();
        kernel.prev = verified.head();
        kernel.frontier = verified.frontier().clone();
        kernel.signed_through = verified.last_checkpoint().map(|c| c.size);
        Ok(kernel)
    }

    /// Makes every event recorded so far durable ([`RecordSink::sync`]). A failure poisons the
    /// kernel, as a failed append does: what reached the disk is then uncertain.
    pub fn sync(&mut self) -> Result<(), KernelError> {
        if self.poisoned {
            return Err(KernelError::Poisoned);
        }
        let Some(sink) = self.sink.as_mut() else { return Err(KernelError::Poisoned) };
        if let Err(e) = sink.sync() {
            self.poisoned = true;
            return Err(e.into());
        }
        Ok(())
    }

    /// The sink (`None` once closed).
    pub fn sink(&self) -> Option<&S> {
        self.sink.as_ref()
    }

    /// Events recorded so far, the genesis included.
    pub fn events(&self) -> u64 {
        self.seq
    }

    /// The log's id.
    pub fn log_id(&self) -> Hash32 {
        self.log_id
    }

    /// The policy this kernel decides with.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The time on the kernel's clock (Unix seconds): what its receipts and events are dated by.
    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// The salt that keys this log's digests.
    pub fn salt(&self) -> &EvidenceSalt {
        &self.salt
    }

    /// The evidence for one input consumed from outside (fresh content: a page, a user's
    /// message): its labels and the keyed digest of `content`. Only the digest is recorded.
    pub fn input(&self, labels: LabelSet, content: &[u8]) -> InputRef {
        self.salt.input(labels, content)
    }

    /// The output of an allowed syscall as an input of a later request, for an output the
    /// caller consumes without recording it as an output event: the decision's output labels,
    /// the keyed digest of `content`, and a link to the deciding event. `None` for a deny.
    pub fn output_of(&self, decided: &Decided, content: &[u8]) -> Option<InputRef> {
        let labels = decided.output_labels?;
        Some(self.salt.input(labels, content).output_of(decided.seq))
    }

    /// Seals `event` as the next one and appends its line to the batch buffer.
    fn seal(&mut self, event: EventBody) -> (u64, Hash32) {
        let (seq, hash, _) = self.seal_and_return(event);
        (seq, hash)
    }

    /// [`Kernel::seal`], handing the event back.
    fn seal_and_return(&mut self, event: EventBody) -> (u64, Hash32, EventBody) {
        match self.try_seal(event) {
            Ok(sealed) => sealed,
            // Only syscall events can grow past the limit; every other event is bounded by
            // construction. Should one not fit, the batch is refused rather than written.
            Err(event) => {
                self.batch_refused = true;
                (self.seq, Hash32::default(), event)
            }
        }
    }

    /// Seals `event` as the next one and appends its line to the batch buffer, unless the
    /// line would be longer than a verifier reads: then nothing changes and the event comes
    /// back as the error.
    fn try_seal(&mut self, event: EventBody) -> Result<(u64, Hash32, EventBody), EventBody> {
        let line = EventLine::seal(self.seq, self.prev, event);
        let start = self.buffer.len();
        line.write_to(&mut self.buffer);
        if self.buffer.len() - start > crate::event::MAX_LINE_BYTES {
            self.buffer.truncate(start);
            return Err(line.event);
        }
        self.buffer.push(b'\n');
        let seq = self.seq;
        self.seq += 1;
        self.prev = line.hash;
        self.frontier.push(leaf_hash(&line.hash.0));
        Ok((seq, line.hash, line.event))
    }

    /// Writes the sealed batch: the ledger's journal first, then the log. A failure poisons the
    /// kernel: the log's end is then uncertain.
    fn write(&mut self, events: usize) -> Result<(), KernelError> {
        let journalled = self.ledger.commit(&self.journal, &mut self.journal_buffer);
        self.journal.clear();
        if let Err(e) = journalled {
            self.poisoned = true;
            return Err(e.into());
        }
        let Some(sink) = self.sink.as_mut() else {
            self.poisoned = true;
            return Err(KernelError::Poisoned);
        };
        if let Err(e) = sink.append(&self.buffer, events) {
            self.poisoned = true;
            return Err(e.into());
        }
        Ok(())
    }

    /// Mediates one syscall: a batch of one (see [`Kernel::submit`]).
    pub fn decide(&mut self, request: &SyscallRequest<'_>) -> Result<Decided, KernelError> {
        let mut decided = self.decide_batch(std::slice::from_ref(request))?;
        decided.pop().ok_or(KernelError::Poisoned)
    }

    /// Mediates a batch of syscalls (see [`Kernel::submit`]).
    pub fn decide_batch(&mut self, requests: &[SyscallRequest<'_>]) -> Result<Vec<Decided>, KernelError> {
        self.run_batch(requests.len(), |kernel, i, now| {
            requests.get(i).map(|request| kernel.decide_one(request, now, false))
        })
    }

    /// Records what became of an allowed action: a batch of one (see [`Kernel::submit`]).
    pub fn record_output(&mut self, output: &OutputRecord<'_>) -> Result<OutputRecorded, KernelError> {
        let batch = [Submission::Output(*output)];
        match self.submit(&batch)?.pop() {
            Some(Recorded::Output(recorded)) => Ok(recorded),
            _ => Err(KernelError::Poisoned),
        }
    }

    /// The batch entry point. Decides each syscall in order (mints a receipt, and a handle for
    /// `secret.open`, when it is allowed on a grant; anything that fails on the way to an allow
    /// turns it into a deny) and records each output, seals every event into the chain, then
    /// writes them all with one write (one sync under `always`) and only then answers, in the
    /// order given. A failure to record answers nothing and poisons the kernel.
    ///
    /// An output naming an action this log does not hold is refused before anything is
    /// decided.
    pub fn submit(&mut self, batch: &[Submission<'_>]) -> Result<Vec<Recorded>, KernelError> {
        for item in batch {
            // SECURITY: an output must name an allow this log already holds; anything else
            // (another log's action, or one from a kernel that shares this log's id but not its
            // history) would record a link the verifier refuses.
            if let Submission::Output(output) = item
                && (output.action.log != self.log_id
                    || output.action.instance != self.instance
                    || output.action.seq == 0
                    || output.action.seq >= self.seq)
            {
                return Err(KernelError::ForeignAction);
            }
        }
        self.run_batch(batch.len(), |kernel, i, now| {
            batch.get(i).map(|item| match item {
                Submission::Syscall(request) => Recorded::Decided(kernel.decide_one(request, now, false)),
                Submission::Withheld(request) => Recorded::Decided(kernel.decide_one(request, now, true)),
                Submission::Output(output) => Recorded::Output(kernel.record_one(output, now)),
            })
        })
    }

    fn run_batch<T>(
        &mut self,
        len: usize,
        mut each: impl FnMut(&mut Self, usize, u64) -> Option<T>,
    ) -> Result<Vec<T>, KernelError> {
        if self.poisoned || self.sink.is_none() {
            return Err(KernelError::Poisoned);
        }
        let now = self.clock.now();
        self.buffer.clear();
        self.journal.clear();
        let first = self.seq;
        // SECURITY: sealing moves the chain ahead of the file until the batch is written. Should
        // anything unwind out of this batch (a panicking sink, store or entropy source), the
        // kernel stays poisoned, so its drop does not sign events that were never written.
        self.poisoned = true;
        let mut results = Vec::with_capacity(len);
        for i in 0..len {
            if let Some(recorded) = each(self, i, now) {
                results.push(recorded);
            }
            self.since_checkpoint += 1;
            if self.checkpoint_every > 0 && self.since_checkpoint >= self.checkpoint_every {
                self.seal_checkpoint();
            }
        }
        if std::mem::take(&mut self.batch_refused) {
            // Nothing of this batch is written, and the kernel stays poisoned.
            return Err(KernelError::Poisoned);
        }
        let events = usize::try_from(self.seq - first).unwrap_or(usize::MAX);
        if events > 0 {
            self.write(events)?;
        }
        self.poisoned = false;
        Ok(results)
    }

    fn decide_one(&mut self, request: &SyscallRequest<'_>, now: u64, withheld: bool) -> Decided {
        // SECURITY: a request whose event could not be verified later (too long a line, an
        // input naming a source that is not an earlier event) is denied up front and
        // recorded without its inputs.
        let malformed = request.agent.len() > MAX_AGENT_BYTES
            || request.target.len() > MAX_TARGET_BYTES
            || request.inputs.len() > MAX_INPUTS
            || request.grant.is_some_and(|g| g.len() > MAX_AGENT_BYTES)
            || request.inputs.iter().any(|input| input.from.is_some_and(|from| from == 0 || from >= self.seq));
        let journal_mark = self.journal.len();
        match self.decide_as(request, now, malformed, withheld) {
            Ok(decided) => decided,
            // SECURITY: within every bound, a request can still make a line longer than a
            // verifier reads (escapes expand control characters sixfold, and a receipt repeats
            // the agent and target): it is not recorded as given. Whatever it was granted is
            // taken back, and it is decided again as malformed, in bounded form.
            Err(TooLong { granted }) => {
                self.journal.truncate(journal_mark);
                if let Some(grant) = granted.as_deref() {
                    let _ = self.ledger.refund(self.log_id, grant);
                }
                match self.decide_as(request, now, true, withheld) {
                    Ok(decided) => decided,
                    // INVARIANT: a malformed event holds no inputs, receipt or handle and its
                    // texts are bounded to a few hundred bytes; should it still not fit, the
                    // batch is refused as a whole rather than recorded unverifiable.
                    Err(_) => {
                        self.batch_refused = true;
                        Decided::unrecorded()
                    }
                }
            }
        }
    }

    /// Decides `request` (as malformed, when `malformed`) and seals its event, unless the line
    /// would be longer than a verifier reads.
    fn decide_as(
        &mut self,
        request: &SyscallRequest<'_>,
        now: u64,
        malformed: bool,
        withheld: bool,
    ) -> Result<Decided, TooLong> {
        let inputs = if malformed { &[][..] } else { request.inputs };
        let policy_request = policy_request(request.agent, &request.syscall, request.target, inputs, request.grant);
        let policy = Arc::clone(&self.policy);
        let mut environment = LiveEnvironment {
            log: self.log_id,
            grants: &self.grants,
            ledger: &self.ledger,
            signer: &self.signer,
            broker: self.broker.as_deref(),
            entropy: &mut *self.entropy,
            prev: self.prev,
            journal: &mut self.journal,
        };
        let judged = judge(&policy, &policy_request, Gate { malformed, withheld }, now, &mut environment);
        let rule = judged.rule().to_owned();
        let syscall_text = match &request.syscall {
            SyscallKind::Known(s) => s.name().to_owned(),
            // A plausible unknown name is recorded as given (replay reads it back as the same
            // unknown kind); anything else only as its length.
            SyscallKind::Unknown(u) => u.name().map_or_else(|| u.to_string(), str::to_owned),
        };
        let kernel_rule = judged.kernel_rule;
        let Judged { effect, output_labels, grant, authorized, .. } = judged;
        let granted = authorized.receipt.as_ref().and(request.grant).map(str::to_owned);
        let event = SyscallEvent {
            time: now,
            agent: bounded(request.agent, MAX_AGENT_BYTES, malformed),
            syscall: syscall_text,
            target: bounded(request.target, MAX_TARGET_BYTES, malformed),
            inputs: inputs.to_vec(),
            grant,
            decision: effect,
            rule,
            output_labels,
            receipt: authorized.receipt,
            handle: authorized.handle,
        };
        let (seq, hash, body) = self.try_seal(EventBody::Syscall(Box::new(event))).map_err(|_| TooLong { granted })?;
        let action = match (effect, output_labels, request.syscall.known()) {
            (Effect::Allow, Some(labels), Some(syscall)) => {
                Some(Action { log: self.log_id, instance: self.instance, seq, syscall, labels })
            }
            _ => None,
        };
        // The rule, receipt and handle go back to the caller as recorded (moved, not copied).
        let (rule, receipt, handle) = match body {
            EventBody::Syscall(event) => (event.rule, event.receipt, event.handle),
            _ => (String::new(), None, None),
        };
        Ok(Decided { effect, rule, output_labels, receipt, handle, seq, event: hash, kernel_rule, action })
    }

    fn record_one(&mut self, output: &OutputRecord<'_>, now: u64) -> OutputRecorded {
        let action = output.action;
        // P7: the output keeps every label the decision gave it, and an error is suspect.
        let labels = propagate(&SyscallKind::Known(action.syscall), action.labels | output.labels, output.outcome);
        let digest = self.salt.digest(output.content);
        let event = OutputEvent { time: now, from: action.seq, digest, labels, outcome: output.outcome };
        let (seq, hash) = self.seal(EventBody::Output(event));
        OutputRecorded { seq, event: hash, labels, digest }
    }

    /// Why `decided` (this kernel's answer to `request`) came out as it did: the policy's
    /// explanation (source labels, sink, rule, reason, and for a deny the smallest change that
    /// would allow it), or the kernel rule that overrode it. Pure: it re-evaluates the policy
    /// and records nothing; explanations cost nothing on the hot path unless asked for. A
    /// request the policy does not decide as `decided` says (another request than the one
    /// decided) is refused rather than explained.
    pub fn explain(&self, request: &SyscallRequest<'_>, decided: &Decided) -> Result<Explanation, MismatchedRequest> {
        let malformed = decided.kernel_rule == Some(KernelRule::MalformedRequest);
        let inputs = if malformed { &[][..] } else { request.inputs };
        let policy_request = policy_request(request.agent, &request.syscall, request.target, inputs, request.grant);
        let decision = self.policy.evaluate(&policy_request);
        let consistent = match decided.kernel_rule {
            // The policy's own decision, as recorded.
            None => decision.rule_id() == decided.rule && decision.effect() == decided.effect,
            // A kernel rule overrides an allow; a malformed or withheld request is refused
            // whatever the policy would have decided.
            Some(KernelRule::MalformedRequest | KernelRule::Withheld) => true,
            Some(_) => decision.is_allowed() && decided.effect == Effect::Deny,
        };
        if !consistent {
            return Err(MismatchedRequest);
        }
        let mut explanation = decision.explain(&policy_request);
        if let Some(rule) = decided.kernel_rule {
            rule.overrule(&mut explanation);
        }
        Ok(explanation)
    }

    fn seal_checkpoint(&mut self) -> Hash32 {
        let size = self.seq;
        let root = self.frontier.root();
        let statement = checkpoint_statement(&self.log_id, size, &root);
        let (_, signature) = self.signer.sign_in_context(SignContext::Checkpoint, &statement);
        self.since_checkpoint = 0;
        let (_, hash) = self.seal(EventBody::Checkpoint(CheckpointEvent { size, root, signature: signature.to_hex() }));
        self.signed_through = Some(size);
        hash
    }

    /// Appends a signed checkpoint over every event so far.
    pub fn checkpoint(&mut self) -> Result<Hash32, KernelError> {
        if self.poisoned || self.sink.is_none() {
            return Err(KernelError::Poisoned);
        }
        self.buffer.clear();
        self.poisoned = true;
        let hash = self.seal_checkpoint();
        self.write(1)?;
        self.poisoned = false;
        Ok(hash)
    }

    /// Closes the log with a final checkpoint, so its whole length is signed, and gives back
    /// the sink. A kernel dropped without closing closes itself the same way (best effort:
    /// errors cannot be reported from a drop).
    pub fn close(mut self) -> Result<S, KernelError> {
        self.close_log()?;
        self.sink.take().ok_or(KernelError::Poisoned)
    }

    /// Gives back the sink without a closing checkpoint: the log ends with an unsigned tail, as
    /// after a crash, and readers refuse it unless told to accept an unsigned tail. For handing
    /// a live log on to another writer, and for tests of what a crash leaves behind.
    pub fn into_unclosed_sink(mut self) -> Option<S> {
        self.sink.take()
    }

    fn close_log(&mut self) -> Result<(), KernelError> {
        if self.poisoned || self.sink.is_none() {
            return Err(KernelError::Poisoned);
        }
        // A checkpoint as the last event already signs everything before it.
        if self.signed_through.is_none_or(|size| self.seq != size + 1) {
            self.checkpoint()?;
        }
        Ok(())
    }
}

impl<S: RecordSink> Drop for Kernel<S> {
    fn drop(&mut self) {
        if self.sink.is_some() && !self.poisoned {
            let _ = self.close_log();
        }
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
    /// The front end withholds the target before any policy is asked (for MCP: a tool never
    /// listed, flagged as steering the agent, or changed since it was pinned).
    Withheld,
}

impl KernelRule {
    /// Every kernel rule.
    pub const ALL: [KernelRule; 5] = [
        KernelRule::MalformedRequest,
        KernelRule::SecretUnavailable,
        KernelRule::GrantExhausted,
        KernelRule::ReceiptUnavailable,
        KernelRule::Withheld,
    ];

    /// The rule id recorded for it: its entry in [`agentk_policy::KERNEL_RULE_IDS`], the one
    /// list of kernel rule ids, which the policy validator refuses to any policy rule.
    pub const fn id(self) -> &'static str {
        use agentk_policy::KERNEL_RULE_IDS as IDS;
        match self {
            KernelRule::MalformedRequest => IDS[0],
            KernelRule::SecretUnavailable => IDS[1],
            KernelRule::GrantExhausted => IDS[2],
            KernelRule::ReceiptUnavailable => IDS[3],
            KernelRule::Withheld => IDS[4],
        }
    }

    /// The reason given for it.
    pub const fn reason(self) -> &'static str {
        match self {
            KernelRule::MalformedRequest => "the request is larger than the kernel records, or malformed",
            KernelRule::SecretUnavailable => "no secret store could open this secret",
            KernelRule::GrantExhausted => "the grant's use budget is spent",
            KernelRule::ReceiptUnavailable => "no receipt could be minted for this request now",
            KernelRule::Withheld => {
                "the front end withholds this target (a tool never listed, flagged as steering the agent, or changed since the operator accepted it)"
            }
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

    /// The hash of `grant`'s definition.
    fn grant_hash(&self, grant: &Grant) -> Hash32;

    /// Authorizes an allow on a covering grant: mints and spends a receipt, and for a
    /// `secret.open` opens a handle bound to it.
    fn authorize(
        &mut self,
        authorization: &Authorization<'_, '_>,
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
    log: Hash32,
    grants: &'a GrantHashes,
    ledger: &'a SharedLedger,
    signer: &'a SigningIdentity,
    broker: Option<&'a SecretBroker>,
    entropy: &'a mut (dyn Entropy + Send),
    prev: Hash32,
    journal: &'a mut Vec<JournalEntry>,
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

    fn grant_hash(&self, grant: &Grant) -> Hash32 {
        self.grants.get(grant)
    }

    fn authorize(
        &mut self,
        authorization: &Authorization<'_, '_>,
        secret_open: bool,
        now: u64,
    ) -> Result<Authorized, KernelRule> {
        let context = MintContext { id: ReceiptId(self.id16()), now, prev_event: self.prev };
        // The ledger's lock is held only to count; the signature is made outside it. A ledger
        // that cannot be used (a thread failed while holding it) mints nothing: fail closed.
        let reservation = match self.ledger.reserve(self.log, authorization, self.signer, context) {
            Ok(Ok(reservation)) => reservation,
            Ok(Err(MintError::BudgetExhausted { .. })) => return Err(KernelRule::GrantExhausted),
            Ok(Err(_)) | Err(_) => return Err(KernelRule::ReceiptUnavailable),
        };
        let (verified, receipt) = match reservation.sign() {
            Ok(signed) => signed,
            Err(_) => return Err(KernelRule::ReceiptUnavailable),
        };
        if secret_open {
            let handle_id = HandleId(self.id16());
            let opened = self.broker.and_then(|broker| broker.open(&verified, self.signer, handle_id, now).ok());
            let Some((_, handle)) = opened else {
                // The receipt is never handed out and the log will not show it: refund its
                // use, as a resumed ledger would count it.
                let _ = self.ledger.refund(self.log, verified.grant());
                return Err(KernelRule::SecretUnavailable);
            };
            if self.ledger.is_journalled() {
                self.journal.push(JournalEntry::of(verified.get(), self.log));
            }
            return Ok(Authorized { receipt: Some(receipt), handle: Some(handle) });
        }
        if self.ledger.is_journalled() {
            self.journal.push(JournalEntry::of(verified.get(), self.log));
        }
        Ok(Authorized { receipt: Some(receipt), handle: None })
    }
}

/// What the kernel's own rules know before the policy is asked.
#[derive(Clone, Copy, Debug, Default)]
struct Gate {
    /// The request is larger than the kernel records, or malformed.
    malformed: bool,
    /// The front end withholds the target.
    withheld: bool,
}

/// One decision, before it is recorded.
struct Judged<'p> {
    decision: Decision<'p>,
    /// Whether the environment authorized the allow (a receipt was, or would be, minted).
    receipted: bool,
    effect: Effect,
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
    gate: Gate,
    now: u64,
    environment: &mut impl Environment,
) -> Judged<'p> {
    let Gate { malformed, withheld } = gate;
    // The policy is evaluated once: an allow on a covering grant comes back as the
    // authorization a receipt is minted from.
    let authorized_by = policy.authorize(request);
    let decision = match &authorized_by {
        Ok(authorization) => authorization.decision(),
        Err(decision) => *decision,
    };
    let capability = decision.verdict().capability();
    let grant = request.grant().map(|id| {
        let (hash, covering) = match capability {
            // A malformed request is recorded in bounded form, so its grant is not judged
            // against it: replay could not judge it the same way.
            _ if malformed => (Hash32::default(), false),
            Capability::Covering(g) => (environment.grant_hash(g), true),
            Capability::NotCovering(g) => (environment.grant_hash(g), false),
            Capability::NotPresented | Capability::UnknownGrant => (Hash32::default(), false),
        };
        GrantRef { id: SafeText::new(id).as_str().to_owned(), hash, covering }
    });
    let secret_open = request.syscall().known() == Some(Syscall::SecretOpen);
    let mut authorized = Authorized::default();
    let mut receipted = false;
    let kernel_rule = if malformed {
        Some(KernelRule::MalformedRequest)
    } else if withheld {
        Some(KernelRule::Withheld)
    } else if !decision.is_allowed() {
        None
    // Refuse before spending the grant when no handle could be opened.
    } else if secret_open && !environment.secret_openable(request.target()) {
        Some(KernelRule::SecretUnavailable)
    } else if let Ok(authorization) = &authorized_by {
        match environment.authorize(authorization, secret_open, now) {
            Ok(granted) => {
                authorized = granted;
                receipted = true;
                None
            }
            Err(rule) => Some(rule),
        }
    } else if secret_open {
        // SECURITY: a handle is bound to its receipt, and a receipt needs a covering grant. A
        // policy that allows `secret.open` without one gets a deny, never a bare allow.
        Some(KernelRule::ReceiptUnavailable)
    } else {
        None
    };
    let allowed = kernel_rule.is_none() && decision.is_allowed();
    let effect = if allowed { Effect::Allow } else { Effect::Deny };
    let output_labels = allowed.then(|| propagate(request.syscall(), request.labels(), Outcome::Ok));
    Judged { decision, receipted, effect, kernel_rule, output_labels, grant, authorized }
}

/// Replay's side of the decision procedure (R1–R3): re-decides recorded events through the
/// kernel's own decision procedure (the one [`Kernel::submit`] uses), in an environment that
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
    pub effect: Effect,
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
        let secret_open = SyscallKind::parse(&recorded.syscall).known() == Some(Syscall::SecretOpen);
        self.effect == recorded.decision
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
    fn grant_hash(&self, grant: &Grant) -> Hash32 {
        grant_hash(grant)
    }

    fn secret_openable(&self, _target: &str) -> bool {
        self.recorded != Some(KernelRule::SecretUnavailable)
    }

    fn authorize(
        &mut self,
        authorization: &Authorization<'_, '_>,
        secret_open: bool,
        _now: u64,
    ) -> Result<Authorized, KernelRule> {
        let grant = authorization.grant();
        let used = self.minted.get(grant.id()).copied().unwrap_or(0);
        // A budget shared with other kernels can be spent where this log does not see it: a
        // recorded `grant-exhausted` is honoured, as the live ledger knew more than the log.
        if used >= grant.uses() || self.recorded == Some(KernelRule::GrantExhausted) {
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
        // What the front end withheld only the live run knew: taken from the record.
        let withheld = kernel_rule == Some(KernelRule::Withheld);
        let judged = judge(self.policy, &request, Gate { malformed, withheld }, recorded.time, &mut environment);
        let mut grant = judged.grant.clone();
        // The presented id is the recorded one (escaped and bounded when it was recorded);
        // replay judges the grant it names, and keeps the id as recorded.
        if let (Some(mine), Some(recorded)) = (grant.as_mut(), recorded.grant.as_ref()) {
            mine.id.clone_from(&recorded.id);
        }
        Redecided {
            effect: judged.effect,
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

/// The text as given when it fits and the request is not malformed; otherwise a bounded,
/// escaped stand-in (the request is denied as malformed, so replay needs no more).
fn bounded(text: &str, max: usize, malformed: bool) -> String {
    if text.len() <= max && !malformed { text.to_owned() } else { SafeText::with_limit(text, 64).to_string() }
}
