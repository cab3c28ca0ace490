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

/// Verifies a log line by line in constant memory: feed lines in order, then finish.
#[derive(Clone, Debug, Default)]
pub struct ChainVerifier {
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
    /// In batched mode, receipts whose signatures wait for one batched check, with their lines.
    batch: Option<Vec<(Unconfirmed, u64)>>,
}

/// How many receipt signatures a batched verifier checks at once.
const SIGNATURE_BATCH: usize = 64;

impl ChainVerifier {
    /// A verifier expecting the genesis next.
    pub fn new() -> Self {
        Self::default()
    }

    /// A verifier that also requires the first `size` events to have Merkle root `root` (from
    /// a checkpoint saved earlier), so a rewritten or truncated log fails.
    pub fn expecting(size: u64, root: Hash32) -> Self {
        ChainVerifier { expected: Some((size, root)), ..Self::default() }
    }

    /// Checks receipt signatures in batches of 64 (about twice as fast on receipt-heavy logs).
    /// Every check is made and the first bad line is still the one named, but a receipt's
    /// signature may be confirmed up to 64 events after [`ChainVerifier::push`] answered its
    /// event: callers that act on each event as it comes should keep single checks (replay
    /// does; see [`agentk_capability::Verifier::verify_batch`] for the one inherent difference).
    pub fn with_batched_signatures(mut self) -> Self {
        self.batch = Some(Vec::new());
        self
    }

    /// Keeps what resuming a ledger needs ([`ChainVerified::receipts`]): one entry per
    /// receipt, so memory grows with the log. Only for logs about to be continued.
    pub fn with_receipt_tally(mut self) -> Self {
        self.receipts = Some(ReceiptTally::default());
        self
    }

    /// Checks every receipt signature still waiting in a batch (a no-op with single checks).
    /// Callers that stop reading early, on a line they refuse themselves, call it first so an
    /// earlier bad signature is the one named.
    pub fn flush(&mut self) -> Result<(), ChainError> {
        let Some(batch) = self.batch.as_mut() else { return Ok(()) };
        let pending = std::mem::take(batch);
        let lines: Vec<u64> = pending.iter().map(|(_, line)| *line).collect();
        match confirm_batch(pending.into_iter().map(|(receipt, _)| receipt).collect()) {
            Ok(_) => Ok(()),
            Err(index) => Err(ChainError::BadBinding { line: lines.get(index).copied().unwrap_or(0) }),
        }
    }

    /// Checks the next line (without its newline) and answers the parsed event.
    pub fn push(&mut self, text: &str) -> Result<EventLine, ChainError> {
        match self.push_line(text) {
            Ok(event) => {
                if self.batch.as_ref().is_some_and(|b| b.len() >= SIGNATURE_BATCH) {
                    self.flush()?;
                }
                Ok(event)
            }
            // A pending bad signature sits on an earlier line: name it first.
            Err(e) => Err(self.flush().err().unwrap_or(e)),
        }
    }

    fn push_line(&mut self, text: &str) -> Result<EventLine, ChainError> {
        let line = self.next_seq + 1;
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
        if event.to_line() != text {
            return Err(ChainError::Malformed { line });
        }
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
        // A version 1 line that carries input links (which version 1 cannot hash) is malformed.
        match event_hash_for(event.v, event.seq, &event.prev, &event.event) {
            None => return Err(ChainError::Malformed { line }),
            Some(hash) if hash != event.hash => return Err(ChainError::HashMismatch { line }),
            Some(_) => {}
        }
        match &event.event {
            EventBody::Genesis(genesis) => {
                let key = PublicKey::from_hex(&genesis.signer).map_err(|_| ChainError::Malformed { line })?;
                // SECURITY: the flag must tell the truth about the key; the development key's
                // private half is public, so a log signed with it may say anything.
                if genesis.development_signer != (key == agentk_capability::SigningIdentity::development_public_key()) {
                    return Err(ChainError::Malformed { line });
                }
                self.signer = Some(key);
                self.genesis = Some(genesis.clone());
            }
            EventBody::Checkpoint(checkpoint) => self.check_checkpoint(checkpoint, line)?,
            // An output names the earlier event that allowed its action.
            EventBody::Output(output) if output.from == 0 || output.from >= event.seq => {
                return Err(ChainError::BadInputLink { line });
            }
            EventBody::Output(_) => {}
            EventBody::Syscall(syscall) => {
                if syscall.inputs.iter().any(|input| input.from.is_some_and(|from| from == 0 || from >= event.seq)) {
                    return Err(ChainError::BadInputLink { line });
                }
                let receipt = self.check_bindings(syscall, &event.prev, line)?;
                let (first, last) = self.time_span.unwrap_or((syscall.time, syscall.time));
                self.time_span = Some((first.min(syscall.time), last.max(syscall.time)));
                if receipt.is_some() {
                    self.receipt_count += 1;
                    self.handle_count += u64::from(syscall.handle.is_some());
                }
                if let (Some(tally), Some(receipt)) = (self.receipts.as_mut(), receipt) {
                    let count = tally.minted.entry(receipt.grant().to_owned()).or_default();
                    *count = count.saturating_add(1);
                    tally.spent.push((receipt.id(), receipt.expires_at()));
                }
            }
        }
        self.prev = event.hash;
        self.frontier.push(leaf_hash(&event.hash.0));
        self.next_seq += 1;
        if let Some((size, root)) = self.expected
            && self.next_seq == size
            && self.frontier.root() != root
        {
            return Err(ChainError::Rewritten { size });
        }
        Ok(event)
    }

    /// Receipts and handles (C, S8 at mediation time): an allow on a covering grant carries a
    /// receipt, signed by the log's key, verifying at the event's time, naming the event's
    /// agent, syscall and target and bound to the previous event; a handle binds to that
    /// receipt; a deny carries neither.
    fn check_bindings(
        &mut self,
        event: &SyscallEvent,
        prev: &Hash32,
        line: u64,
    ) -> Result<Option<Receipt>, ChainError> {
        let bad = ChainError::BadBinding { line };
        let covering = event.grant.as_ref().is_some_and(|g| g.covering);
        match (event.decision, &event.receipt, &event.handle) {
            (Effect::Deny, None, None) => return Ok(None),
            (Effect::Deny, _, _) | (Effect::Allow, None, Some(_)) => return Err(bad),
            (Effect::Allow, None, None) => return if covering { Err(bad) } else { Ok(None) },
            (Effect::Allow, Some(_), _) if !covering => return Err(bad),
            (Effect::Allow, Some(_), _) => {}
        }
        let (Some(encoded), Some(signer)) = (&event.receipt, &self.signer) else {
            return Err(bad);
        };
        let verifier = Verifier::new(Trust::ReceiptKey, event.time);
        // A handle needs its receipt verified first; other receipts may wait for a batch.
        let (receipt, pending, verified) = match (&self.batch, &event.handle) {
            (Some(_), None) => {
                let pending = verifier.verify_deferred(encoded).map_err(|_| bad.clone())?;
                (pending.unconfirmed().clone(), Some(pending), None)
            }
            _ => {
                let verified = verifier.verify(encoded).map_err(|_| bad.clone())?;
                (verified.get().clone(), None, Some(verified))
            }
        };
        let bound = receipt.signer() == *signer
            && receipt.prev_event().0 == prev.0
            && receipt.agent() == event.agent
            && receipt.syscall().name() == event.syscall
            && receipt.target() == event.target
            && event.grant.as_ref().is_some_and(|g| g.id == receipt.grant());
        if !bound {
            return Err(bad);
        }
        if let Some(handle) = &event.handle {
            let Some(verified) = &verified else { return Err(bad) };
            agentk_secrets::verify_handle(handle, verified, Trust::ReceiptKey, event.time).map_err(|_| bad)?;
        }
        if let (Some(pending), Some(batch)) = (pending, self.batch.as_mut()) {
            batch.push((pending, line));
        }
        Ok(Some(receipt))
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

    /// Ends verification.
    pub fn finish(mut self) -> Result<ChainVerified, ChainError> {
        self.flush()?;
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
