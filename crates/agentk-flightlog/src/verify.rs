//! Chain verification (F1): stream the lines, stop at the first bad one and name it.

use std::fmt;

use agentk_capability::{PublicKey, Receipt, SignContext, Signature, Trust, Unconfirmed, Verifier, confirm_batch};

use crate::event::{
    CheckpointEvent, Effect, EventBody, EventLine, Genesis, Hash32, MAX_LINE_BYTES, OLDEST_SCHEMA_VERSION,
    SCHEMA_VERSION, SyscallEvent, checkpoint_statement, event_hash_for,
};
use crate::merkle::{Frontier, leaf_hash};

/// Why a log failed verification. Each names the 1-based line where it was found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The log has no lines.
    #[error("the log is empty")]
    Empty,
    /// A line is longer than any event.
    #[error("line {line}: longer than {MAX_LINE_BYTES} bytes")]
    TooLong {
        /// The line.
        line: u64,
    },
    /// A line is not an event, or not in canonical form.
    #[error("line {line}: not a canonical event line")]
    Malformed {
        /// The line.
        line: u64,
    },
    /// An input or an output names as its source an event that does not come before it.
    #[error("line {line}: an input or output names as its source an event that does not come before it")]
    BadInputLink {
        /// The line.
        line: u64,
    },
    /// A schema version this build does not read.
    #[error(
        "line {line}: schema version {found} is not one this build reads (it reads versions 1 to 3); use the AgentK release that wrote the log"
    )]
    UnsupportedVersion {
        /// The line.
        line: u64,
        /// The version found.
        found: u32,
    },
    /// The sequence number is not the line's position.
    #[error("line {line}: sequence number {found}, expected {expected} (an event was inserted, deleted or moved)")]
    OutOfSequence {
        /// The line.
        line: u64,
        /// The number found.
        found: u64,
        /// The number expected.
        expected: u64,
    },
    /// The event does not follow the previous event's hash.
    #[error("line {line}: does not chain to the line before it")]
    BrokenChain {
        /// The line.
        line: u64,
    },
    /// The stated hash is not the event's hash.
    #[error("line {line}: the event's contents do not match its hash")]
    HashMismatch {
        /// The line.
        line: u64,
    },
    /// The first event is not a genesis, or a later one is.
    #[error("line {line}: the genesis record must be the first line, and only the first")]
    MisplacedGenesis {
        /// The line.
        line: u64,
    },
    /// An event's receipt or handle is missing, invalid, signed by another key, or not bound
    /// to the event (its agent, syscall, target and place in the chain); or a deny carries one.
    #[error("line {line}: the event's receipt or handle does not bind to it")]
    BadBinding {
        /// The line.
        line: u64,
    },
    /// A checkpoint in the log does not match the events before it, or its signature fails.
    #[error("line {line}: checkpoint does not match the log or its signature fails")]
    BadCheckpoint {
        /// The line.
        line: u64,
    },
    /// The log differs from a checkpoint saved earlier, within the events it covers.
    #[error("the first {size} events differ from the checkpoint (the log was rewritten)")]
    Rewritten {
        /// The checkpoint's size.
        size: u64,
    },
    /// The log is shorter than a checkpoint saved earlier.
    #[error("the log has {found} events but a checkpoint saved earlier covers {size} (the log was truncated)")]
    Truncated {
        /// Events found.
        found: u64,
        /// The checkpoint's size.
        size: u64,
    },
}

impl ChainError {
    /// The 1-based line where the failure was found, when it is one line's fault (an empty,
    /// truncated or rewritten log is the whole log's).
    pub fn line(&self) -> Option<u64> {
        match self {
            ChainError::TooLong { line }
            | ChainError::Malformed { line }
            | ChainError::BadInputLink { line }
            | ChainError::UnsupportedVersion { line, .. }
            | ChainError::OutOfSequence { line, .. }
            | ChainError::BrokenChain { line }
            | ChainError::HashMismatch { line }
            | ChainError::MisplacedGenesis { line }
            | ChainError::BadBinding { line }
            | ChainError::BadCheckpoint { line } => Some(*line),
            ChainError::Empty | ChainError::Rewritten { .. } | ChainError::Truncated { .. } => None,
        }
    }
}

/// A log whose chain verified: only [`ChainVerifier::finish`] makes one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainVerified {
    events: u64,
    head: Hash32,
    frontier: Frontier,
    receipts: Option<ReceiptTally>,
    receipt_count: u64,
    handle_count: u64,
    time_span: Option<(u64, u64)>,
    checkpoints: u64,
    signed: u64,
    genesis: Option<Genesis>,
    last_checkpoint: Option<CheckpointEvent>,
}

impl ChainVerified {
    /// Events in the log, the genesis included.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// The last event's hash.
    pub fn head(&self) -> Hash32 {
        self.head
    }

    /// The Merkle root over every event hash.
    pub fn root(&self) -> Hash32 {
        self.frontier.root()
    }

    /// How many events the last signed checkpoint covers; events after it are chained but
    /// not yet signed.
    pub fn signed_events(&self) -> u64 {
        self.signed
    }

    /// The genesis record.
    pub fn genesis(&self) -> Option<&Genesis> {
        self.genesis.as_ref()
    }

    /// The last checkpoint in the log, verified.
    pub fn last_checkpoint(&self) -> Option<&CheckpointEvent> {
        self.last_checkpoint.as_ref()
    }

    /// How many signed checkpoints the log holds.
    pub fn checkpoints(&self) -> u64 {
        self.checkpoints
    }

    /// The Merkle frontier after the last event (to resume appending).
    pub fn frontier(&self) -> &Frontier {
        &self.frontier
    }

    /// How many receipts the log holds.
    pub fn receipt_count(&self) -> u64 {
        self.receipt_count
    }

    /// The earliest and latest syscall event times, if there are any (to judge a signer's
    /// validity window against).
    pub fn time_span(&self) -> Option<(u64, u64)> {
        self.time_span
    }

    /// How many secret handles the log holds.
    pub fn handle_count(&self) -> u64 {
        self.handle_count
    }

    /// The receipts the log holds, per grant and by id, to resume a ledger: `None` unless the
    /// verifier was asked for them ([`ChainVerifier::with_receipt_tally`]).
    pub fn receipts(&self) -> Option<&ReceiptTally> {
        self.receipts.as_ref()
    }
}

/// What a verified log says about receipts, for resuming a ledger. It holds one entry per
/// receipt, so it is kept only on request: plain verification stays in constant memory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReceiptTally {
    /// Receipts minted per grant id.
    pub minted: std::collections::BTreeMap<String, u32>,
    /// Each receipt's id and expiry.
    pub spent: Vec<(agentk_capability::ReceiptId, u64)>,
}

impl fmt::Display for ChainVerified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} events, chain intact", self.events)
    }
}

/// Which receipt and secret-handle signatures verification checks. Checkpoint signatures, the
/// chain and every receipt's and handle's binding to its event are always checked.
///
/// A signed checkpoint signs the Merkle root over every event before it, receipts included,
/// with the same key that must have signed those receipts (the genesis names it, and each
/// receipt must name it too): once a checkpoint covers an event, nobody without the key can
/// change a byte of its receipt, and the key's holder could have signed any receipt anyway. So
/// by default only the receipts and handles no checkpoint covers (an unsigned tail, or a log
/// without checkpoints) have their signatures checked; `Every` checks them all, for an auditor
/// who wants each receipt to stand on its own (`agentk verify-signatures`). The full argument
/// is in `docs/flight-log.md`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SignatureChecks {
    /// Only the signatures of receipts and handles of events no verified checkpoint covers.
    #[default]
    Uncovered,
    /// Every receipt and handle signature.
    Every,
}

/// How many receipt signatures are checked in one batch.
pub const SIGNATURE_BATCH: usize = 64;

/// With [`SignatureChecks::Uncovered`], the most receipt signatures held waiting for a
/// checkpoint to cover them: past it they are checked in batches (memory stays flat on a log
/// without checkpoints), and a failure among them still counts only if no checkpoint covers it.
pub const PENDING_BOUND: usize = 4096;

/// One line parsed, hashed and its receipt decoded: the work that does not depend on the lines
/// before it, so it can be done on any thread. [`Core::push_prepared`] then makes the checks
/// that do, in line order, reporting each line's problems in the same order as a one-line-at-a-
/// time check would.
#[derive(Debug)]
pub(crate) struct Prepared {
    line: u64,
    parsed: Result<Parsed, ChainError>,
}

#[derive(Debug)]
struct Parsed {
    event: EventLine,
    /// The event's hash as its version computes it (`None`: its version cannot hold it).
    hash: Option<Hash32>,
    /// The Merkle leaf of the stated hash.
    leaf: Hash32,
    /// For a genesis, its signer key, and whether the development flag tells the truth.
    genesis_key: Option<Option<Box<PublicKey>>>,
    /// For an allow carrying a receipt: the receipt, checked but for (maybe) its signature, and
    /// its handle checked in full; `None` inside when either fails.
    receipt: Option<Option<Box<Checked>>>,
}

/// A receipt whose structure, proof and lifetime were checked; its signature either too
/// (`Confirmed`) or put off (`Deferred`).
#[derive(Clone, Debug)]
enum Checked {
    Deferred(Unconfirmed),
    Confirmed(agentk_capability::Verified<Receipt>),
}

impl Checked {
    fn receipt(&self) -> &Receipt {
        match self {
            Checked::Deferred(unconfirmed) => unconfirmed.unconfirmed(),
            Checked::Confirmed(verified) => verified.get(),
        }
    }
}

/// Parses and checks `text` as line `line` on its own. With `defer`, a receipt's signature is
/// left for a batch (except one that carries a handle: a handle is checked against a verified
/// receipt, so both are checked at once).
pub(crate) fn prepare(text: &str, line: u64, defer: bool) -> Prepared {
    Prepared { line, parsed: parse_line(text, line, defer) }
}

fn parse_line(text: &str, line: u64, defer: bool) -> Result<Parsed, ChainError> {
    if text.len() > MAX_LINE_BYTES {
        return Err(ChainError::TooLong { line });
    }
    let event: EventLine = serde_json::from_str(text).map_err(|_| match version_of(text) {
        // A newer writer may add fields this build cannot parse: say which version it was.
        Some(found) if !(OLDEST_SCHEMA_VERSION..=SCHEMA_VERSION).contains(&found) => {
            ChainError::UnsupportedVersion { line, found }
        }
        _ => ChainError::Malformed { line },
    })?;
    if !(OLDEST_SCHEMA_VERSION..=SCHEMA_VERSION).contains(&event.v) {
        return Err(ChainError::UnsupportedVersion { line, found: event.v });
    }
    // SECURITY: one text per event. A line that parses but is not the canonical
    // serialization (reordered keys, spaces, escapes) is refused, so every byte counts.
    if !crate::event::is_canonical(&event, text) {
        return Err(ChainError::Malformed { line });
    }
    // A version 1 line that carries input links (which version 1 cannot hash) is malformed.
    let hash = event_hash_for(event.v, event.seq, &event.prev, &event.event);
    let mut genesis_key = None;
    let mut receipt = None;
    match &event.event {
        EventBody::Genesis(genesis) => {
            // SECURITY: the flag must tell the truth about the key; the development key's
            // private half is public, so a log signed with it may say anything.
            genesis_key = Some(
                PublicKey::from_hex(&genesis.signer)
                    .ok()
                    .filter(|key| {
                        genesis.development_signer
                            == (*key == agentk_capability::SigningIdentity::development_public_key())
                    })
                    .map(Box::new),
            );
        }
        EventBody::Syscall(syscall) if syscall.decision == Effect::Allow => {
            if let Some(encoded) = &syscall.receipt {
                receipt = Some(check_receipt(encoded, syscall, defer).map(Box::new));
            }
        }
        EventBody::Syscall(_) | EventBody::Checkpoint(_) | EventBody::Output(_) => {}
    }
    let leaf = leaf_hash(&event.hash.0);
    Ok(Parsed { event, hash, leaf, genesis_key, receipt })
}

/// A receipt's checks that need nothing but the event: structure, proof and lifetime at the
/// event's time, and (unless put off) the signature; a handle, in full, against it.
fn check_receipt(encoded: &agentk_capability::EncodedReceipt, event: &SyscallEvent, defer: bool) -> Option<Checked> {
    let verifier = Verifier::new(Trust::ReceiptKey, event.time);
    if defer && event.handle.is_none() {
        return verifier.verify_deferred(encoded).ok().map(Checked::Deferred);
    }
    let verified = verifier.verify(encoded).ok()?;
    if let Some(handle) = &event.handle {
        agentk_secrets::verify_handle(handle, &verified, Trust::ReceiptKey, event.time).ok()?;
    }
    Some(Checked::Confirmed(verified))
}

/// What [`Core::push_prepared`] found on a line that verified.
#[derive(Debug)]
pub(crate) struct Pushed {
    /// The event.
    pub(crate) event: EventLine,
    /// A receipt whose signature is still to be checked, with its line.
    pub(crate) deferred: Option<(Unconfirmed, u64)>,
    /// Whether the line was a checkpoint that verified: it covers every event before it.
    pub(crate) checkpoint: bool,
}

/// The checks that depend on the lines before: sequence, chain, genesis, checkpoints, bindings
/// to the signer and the chain, and the Merkle frontier. Everything but signature batching.
#[derive(Clone, Debug, Default)]
pub(crate) struct Core {
    next_seq: u64,
    prev: Hash32,
    frontier: Frontier,
    genesis: Option<Genesis>,
    signer: Option<PublicKey>,
    signed: u64,
    last_checkpoint: Option<CheckpointEvent>,
    expected: Option<(u64, Hash32)>,
    receipts: Option<ReceiptTally>,
    receipt_count: u64,
    handle_count: u64,
    time_span: Option<(u64, u64)>,
    checkpoints: u64,
}

impl Core {
    /// Events verified so far.
    pub(crate) fn events(&self) -> u64 {
        self.next_seq
    }

    /// The Merkle root over the events verified so far.
    pub(crate) fn root(&self) -> Hash32 {
        self.frontier.root()
    }

    /// The genesis record, once verified.
    pub(crate) fn genesis(&self) -> Option<&Genesis> {
        self.genesis.as_ref()
    }

    /// Checks a prepared line against the lines before it.
    pub(crate) fn push_prepared(&mut self, prepared: Prepared) -> Result<Pushed, ChainError> {
        let line = prepared.line;
        let Parsed { event, hash, leaf, genesis_key, receipt } = prepared.parsed?;
        if event.seq != self.next_seq {
            return Err(ChainError::OutOfSequence { line, found: event.seq, expected: self.next_seq });
        }
        let is_genesis = matches!(event.event, EventBody::Genesis(_));
        if is_genesis != (self.next_seq == 0) {
            return Err(ChainError::MisplacedGenesis { line });
        }
        if event.prev != self.prev {
            return Err(ChainError::BrokenChain { line });
        }
        match hash {
            None => return Err(ChainError::Malformed { line }),
            Some(hash) if hash != event.hash => return Err(ChainError::HashMismatch { line }),
            Some(_) => {}
        }
        let mut deferred = None;
        let mut checkpoint = false;
        match &event.event {
            EventBody::Genesis(genesis) => {
                let Some(Some(key)) = genesis_key else { return Err(ChainError::Malformed { line }) };
                self.signer = Some(*key);
                self.genesis = Some(genesis.clone());
            }
            EventBody::Checkpoint(body) => {
                self.check_checkpoint(body, line)?;
                checkpoint = true;
            }
            // An output names the earlier event that allowed its action.
            EventBody::Output(output) if output.from == 0 || output.from >= event.seq => {
                return Err(ChainError::BadInputLink { line });
            }
            EventBody::Output(_) => {}
            EventBody::Syscall(syscall) => {
                if syscall.inputs.iter().any(|input| input.from.is_some_and(|from| from == 0 || from >= event.seq)) {
                    return Err(ChainError::BadInputLink { line });
                }
                let checked = self.check_bindings(syscall, &event.prev, receipt, line)?;
                let (first, last) = self.time_span.unwrap_or((syscall.time, syscall.time));
                self.time_span = Some((first.min(syscall.time), last.max(syscall.time)));
                if let Some(checked) = checked {
                    self.receipt_count += 1;
                    self.handle_count += u64::from(syscall.handle.is_some());
                    if let Some(tally) = self.receipts.as_mut() {
                        let receipt = checked.receipt();
                        let count = tally.minted.entry(receipt.grant().to_owned()).or_default();
                        *count = count.saturating_add(1);
                        tally.spent.push((receipt.id(), receipt.expires_at()));
                    }
                    if let Checked::Deferred(unconfirmed) = *checked {
                        deferred = Some((unconfirmed, line));
                    }
                }
            }
        }
        self.prev = event.hash;
        self.frontier.push(leaf);
        self.next_seq += 1;
        if let Some((size, root)) = self.expected
            && self.next_seq == size
            && self.frontier.root() != root
        {
            return Err(ChainError::Rewritten { size });
        }
        Ok(Pushed { event, deferred, checkpoint })
    }

    /// Receipts and handles (C, S8 at mediation time): an allow on a covering grant carries a
    /// receipt, signed by the log's key, verifying at the event's time, naming the event's
    /// agent, syscall and target and bound to the previous event; a handle binds to that
    /// receipt; a deny carries neither.
    fn check_bindings(
        &self,
        event: &SyscallEvent,
        prev: &Hash32,
        receipt: Option<Option<Box<Checked>>>,
        line: u64,
    ) -> Result<Option<Box<Checked>>, ChainError> {
        let bad = ChainError::BadBinding { line };
        let covering = event.grant.as_ref().is_some_and(|g| g.covering);
        match (event.decision, &event.receipt, &event.handle) {
            (Effect::Deny, None, None) => return Ok(None),
            (Effect::Deny, _, _) | (Effect::Allow, None, Some(_)) => return Err(bad),
            (Effect::Allow, None, None) => return if covering { Err(bad) } else { Ok(None) },
            (Effect::Allow, Some(_), _) if !covering => return Err(bad),
            (Effect::Allow, Some(_), _) => {}
        }
        let (Some(Some(checked)), Some(signer)) = (receipt, &self.signer) else {
            return Err(bad);
        };
        let receipt = checked.receipt();
        let bound = receipt.signer() == *signer
            && receipt.prev_event().0 == prev.0
            && receipt.agent() == event.agent
            && receipt.syscall().name() == event.syscall
            && receipt.target() == event.target
            && event.grant.as_ref().is_some_and(|g| g.id == receipt.grant());
        if !bound {
            return Err(bad);
        }
        Ok(Some(checked))
    }

    fn check_checkpoint(&mut self, checkpoint: &CheckpointEvent, line: u64) -> Result<(), ChainError> {
        let (Some(signer), Some(genesis)) = (&self.signer, &self.genesis) else {
            return Err(ChainError::BadCheckpoint { line });
        };
        let statement = checkpoint_statement(&genesis.log_id, checkpoint.size, &checkpoint.root);
        let signature = Signature::from_hex(&checkpoint.signature).map_err(|_| ChainError::BadCheckpoint { line })?;
        let matches = checkpoint.size == self.next_seq && checkpoint.root.0 == self.frontier.root().0;
        if !matches || !signer.verify_in_context(SignContext::Checkpoint, &statement, &signature) {
            return Err(ChainError::BadCheckpoint { line });
        }
        self.signed = checkpoint.size;
        self.checkpoints += 1;
        self.last_checkpoint = Some(checkpoint.clone());
        Ok(())
    }

    /// Ends verification (every signature must have been settled by the caller).
    pub(crate) fn finish(self) -> Result<ChainVerified, ChainError> {
        // A checkpoint saved earlier makes an emptied log a truncated one.
        if let Some((size, _)) = self.expected
            && self.next_seq < size
        {
            return Err(ChainError::Truncated { found: self.next_seq, size });
        }
        if self.next_seq == 0 {
            return Err(ChainError::Empty);
        }
        Ok(ChainVerified {
            events: self.next_seq,
            head: self.prev,
            signed: self.signed,
            genesis: self.genesis,
            last_checkpoint: self.last_checkpoint,
            frontier: self.frontier,
            receipts: self.receipts,
            receipt_count: self.receipt_count,
            handle_count: self.handle_count,
            time_span: self.time_span,
            checkpoints: self.checkpoints,
        })
    }
}

/// Receipt signatures put off for batched checks, in line order, and what became of those
/// already checked.
#[derive(Clone, Debug)]
pub(crate) struct SignatureQueue {
    checks: SignatureChecks,
    pending: Vec<(Unconfirmed, u64)>,
    /// Bumped by every verified checkpoint: batches taken under an older epoch are covered.
    epoch: u64,
    /// The first line whose signature failed and still counts.
    failed: Option<u64>,
}

/// Receipts whose signatures are checked together, taken from a [`SignatureQueue`].
#[derive(Debug)]
pub(crate) struct SignatureBatch {
    epoch: u64,
    items: Vec<(Unconfirmed, u64)>,
}

/// What checking a [`SignatureBatch`] found: the first line whose signature fails, if any.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BatchResult {
    epoch: u64,
    failed: Option<u64>,
}

impl SignatureBatch {
    /// Checks every signature (one batched equation, single checks to name the first bad one).
    pub(crate) fn check(self) -> BatchResult {
        let lines: Vec<u64> = self.items.iter().map(|(_, line)| *line).collect();
        let failed = match confirm_batch(self.items.into_iter().map(|(receipt, _)| receipt).collect()) {
            Ok(_) => None,
            Err(index) => Some(lines.get(index).copied().unwrap_or(0)),
        };
        BatchResult { epoch: self.epoch, failed }
    }
}

impl SignatureQueue {
    pub(crate) fn new(checks: SignatureChecks) -> Self {
        SignatureQueue { checks, pending: Vec::new(), epoch: 0, failed: None }
    }

    /// Queues a receipt's signature; answers the batches now due.
    pub(crate) fn push(&mut self, receipt: Unconfirmed, line: u64) -> Vec<SignatureBatch> {
        self.pending.push((receipt, line));
        let bound = match self.checks {
            SignatureChecks::Every => SIGNATURE_BATCH,
            SignatureChecks::Uncovered => PENDING_BOUND,
        };
        if self.pending.len() >= bound { self.take() } else { Vec::new() }
    }

    /// Every signature still waiting, in batches of [`SIGNATURE_BATCH`].
    pub(crate) fn take(&mut self) -> Vec<SignatureBatch> {
        let mut batches = Vec::with_capacity(self.pending.len().div_ceil(SIGNATURE_BATCH));
        let mut rest = std::mem::take(&mut self.pending).into_iter().peekable();
        while rest.peek().is_some() {
            batches.push(SignatureBatch { epoch: self.epoch, items: rest.by_ref().take(SIGNATURE_BATCH).collect() });
        }
        batches
    }

    /// A checkpoint verified. Under [`SignatureChecks::Uncovered`] the signatures it covers
    /// (every one so far) need no check: those waiting are dropped, and failures among those
    /// already taken no longer count.
    pub(crate) fn covered(&mut self) {
        if self.checks == SignatureChecks::Uncovered {
            self.pending.clear();
            self.epoch += 1;
            self.failed = None;
        }
    }

    /// Records what a batch taken from this queue found.
    pub(crate) fn settle(&mut self, result: BatchResult) {
        let covered = self.checks == SignatureChecks::Uncovered && result.epoch < self.epoch;
        if let (Some(line), false) = (result.failed, covered) {
            self.failed = Some(self.failed.map_or(line, |first| first.min(line)));
        }
    }

    /// The first line whose signature failed and still counts.
    pub(crate) fn failed(&self) -> Option<ChainError> {
        self.failed.map(|line| ChainError::BadBinding { line })
    }

    /// Whether a failure already found stands whatever comes next (no checkpoint can cover it).
    pub(crate) fn decided(&self) -> bool {
        self.checks == SignatureChecks::Every && self.failed.is_some()
    }
}

/// Verifies a log line by line in constant memory: feed lines in order, then finish.
#[derive(Clone, Debug)]
pub struct ChainVerifier {
    core: Core,
    /// Whether receipt signatures are put off for batched checks.
    defer: bool,
    queue: SignatureQueue,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainVerifier {
    /// A verifier expecting the genesis next, checking every receipt signature as its line is
    /// pushed.
    pub fn new() -> Self {
        ChainVerifier { core: Core::default(), defer: false, queue: SignatureQueue::new(SignatureChecks::Every) }
    }

    /// A verifier that also requires the first `size` events to have Merkle root `root` (from
    /// a checkpoint saved earlier), so a rewritten or truncated log fails.
    pub fn expecting(size: u64, root: Hash32) -> Self {
        let mut verifier = Self::new();
        verifier.core.expected = Some((size, root));
        verifier
    }

    /// Checks receipt signatures in batches of 64 (about twice as fast on receipt-heavy logs).
    /// Every check is made and the first bad line is still the one named, but a receipt's
    /// signature may be confirmed up to 64 events after [`ChainVerifier::push`] answered its
    /// event: callers that act on each event as it comes should keep single checks (see
    /// [`agentk_capability::Verifier::verify_batch`] for the one inherent difference).
    pub fn with_batched_signatures(self) -> Self {
        self.checking(SignatureChecks::Every)
    }

    /// Checks the receipt and handle signatures `checks` names, in batches (see
    /// [`ChainVerifier::with_batched_signatures`]). With [`SignatureChecks::Uncovered`], a
    /// receipt's signature is confirmed only once no checkpoint covered it (at the end of the
    /// log, or past [`PENDING_BOUND`] waiting ones), so only [`ChainVerifier::finish`] answers
    /// for it.
    pub fn checking(mut self, checks: SignatureChecks) -> Self {
        self.defer = true;
        self.queue = SignatureQueue::new(checks);
        self
    }

    /// Keeps what resuming a ledger needs ([`ChainVerified::receipts`]): one entry per
    /// receipt, so memory grows with the log. Only for logs about to be continued.
    pub fn with_receipt_tally(mut self) -> Self {
        self.core.receipts = Some(ReceiptTally::default());
        self
    }

    /// Checks every receipt signature still waiting in a batch (a no-op with single checks).
    /// Callers that stop reading early, on a line they refuse themselves, call it first so an
    /// earlier bad signature is the one named.
    pub fn flush(&mut self) -> Result<(), ChainError> {
        for batch in self.queue.take() {
            self.queue.settle(batch.check());
        }
        self.queue.failed().map_or(Ok(()), Err)
    }

    /// Checks the next line (without its newline) and answers the parsed event.
    pub fn push(&mut self, text: &str) -> Result<EventLine, ChainError> {
        let prepared = prepare(text, self.core.next_seq + 1, self.defer);
        match self.core.push_prepared(prepared) {
            Ok(pushed) => {
                if pushed.checkpoint {
                    self.queue.covered();
                }
                if let Some((receipt, line)) = pushed.deferred {
                    for batch in self.queue.push(receipt, line) {
                        self.queue.settle(batch.check());
                    }
                }
                match self.queue.failed() {
                    Some(failure) if self.queue.decided() => Err(failure),
                    _ => Ok(pushed.event),
                }
            }
            // A pending bad signature sits on an earlier line: name it first.
            Err(e) => Err(self.flush().err().unwrap_or(e)),
        }
    }

    /// Ends verification.
    pub fn finish(mut self) -> Result<ChainVerified, ChainError> {
        self.flush()?;
        self.core.finish()
    }
}

/// Verifies a whole log held as lines.
pub fn verify_lines<'a>(lines: impl IntoIterator<Item = &'a str>) -> Result<ChainVerified, ChainError> {
    let mut verifier = ChainVerifier::new();
    for line in lines {
        verifier.push(line)?;
    }
    verifier.finish()
}

/// The schema version of a line that did not parse as an event of this version, if it has one.
fn version_of(text: &str) -> Option<u32> {
    #[derive(serde::Deserialize)]
    struct Versioned {
        v: u32,
    }
    serde_json::from_str::<Versioned>(text).ok().map(|versioned| versioned.v)
}

#[cfg(test)]
mod tests {
    use super::{BatchResult, ChainError, SignatureChecks, SignatureQueue};

    // A failure found in a batch taken before a checkpoint covered its lines stops counting
    // under `Uncovered` (the checkpoint vouches for them), and stands under `Every`; a failure
    // taken after the checkpoint counts under both.
    #[test]
    fn a_covering_checkpoint_clears_failures_only_when_checking_uncovered_signatures() {
        for (checks, stands) in [(SignatureChecks::Uncovered, false), (SignatureChecks::Every, true)] {
            let mut queue = SignatureQueue::new(checks);
            let before = queue.epoch;
            queue.settle(BatchResult { epoch: before, failed: Some(3) });
            queue.covered();
            assert_eq!(queue.failed().is_some(), stands, "{checks:?}: settled, then covered");
            let mut queue = SignatureQueue::new(checks);
            queue.covered();
            queue.settle(BatchResult { epoch: before, failed: Some(5) });
            assert_eq!(queue.failed().is_some(), stands, "{checks:?}: covered while out");
            queue.settle(BatchResult { epoch: queue.epoch, failed: Some(9) });
            let first = if stands { 5 } else { 9 };
            assert_eq!(queue.failed(), Some(ChainError::BadBinding { line: first }), "{checks:?}");
            assert_eq!(queue.decided(), stands);
        }
    }
}
