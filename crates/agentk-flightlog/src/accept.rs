//! Whether a log is accepted: the one rule every reader applies (`verify`,
//! `verify-signatures`, `checkpoint`, `trace-inspect`, `audit`, `evidence-check`, the proofs,
//! and replay), so none can be weaker than another.
//!
//! A log is accepted when
//!
//! - its chain verifies ([`crate::verify`]: every line canonical, in sequence, chained and
//!   hashed, every checkpoint signed by the genesis signer over the events before it, every
//!   receipt and handle bound to its event, and the receipt and handle signatures that
//!   [`SignatureChecks`] names);
//! - its tail is signed: the last event is a checkpoint, or only the closing checkpoint
//!   follows what it signs (unless [`Acceptance::allow_unsigned_tail`]: a log still being
//!   written);
//! - its signer is one of [`Acceptance::trusted`], when given, with a validity window covering
//!   the times of the log's events;
//! - a [`SavedCheckpoint`] given in [`Acceptance::checkpoint`] is one of *this* log (same log
//!   id and signer, checked on the genesis line) and a prefix of it;
//! - and, with [`Acceptance::refuse_development_signer`], it is not signed by the public
//!   development key.
//!
//! [`accept`] makes one streaming pass, in memory flat in the log's length, spread over threads:
//! lines are parsed, re-serialized, hashed and their receipts decoded in parallel, in chunks;
//! the chain, the Merkle frontier and the checkpoints are checked in line order on the calling
//! thread, which also calls the caller's `visit`; signature batches go back to the workers. The
//! first bad line is the one named, exactly as a line-at-a-time [`ChainVerifier`] names it.
//!
//! [`ChainVerifier`]: crate::verify::ChainVerifier

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::sync::mpsc;
use std::sync::{Mutex, PoisonError};

use agentk_capability::{PublicKey, TrustedSigners, encode_hex};

use crate::event::{EventLine, Hash32, MAX_LINE_BYTES};
use crate::file::FileLogError;
use crate::saved::{SavedCheckpoint, SavedError};
pub use crate::verify::SignatureChecks;
use crate::verify::{BatchResult, ChainError, ChainVerified, Core, Prepared, SignatureBatch, SignatureQueue, prepare};

/// What a reader requires of a log beyond a verified chain. The default is the strictest
/// reading of a closed log: a signed tail, signer not pinned, no saved checkpoint, signatures
/// of uncovered receipts checked.
#[derive(Clone, Debug, Default)]
pub struct Acceptance {
    /// Accept events after the last signed checkpoint (a log still being written). Nothing
    /// stops such a tail from being rewritten by anyone who can write the file.
    pub allow_unsigned_tail: bool,
    /// Require the genesis signer (who signs every checkpoint, receipt and handle) to be one of
    /// these, not revoked, with a validity window covering the log's event times.
    pub trusted: Option<TrustedSigners>,
    /// A checkpoint saved earlier: the log must be the one it signed, and extend it.
    pub checkpoint: Option<SavedCheckpoint>,
    /// Which receipt and handle signatures to check.
    pub signatures: SignatureChecks,
    /// Refuse a log signed by the public development key (whose signatures prove nothing).
    pub refuse_development_signer: bool,
    /// How the work is spread over threads.
    pub spread: Spread,
}

/// How [`accept`] spreads its work. Any setting gives the same answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spread {
    /// Worker threads; 0 means one per core the machine offers (at most 8).
    pub threads: usize,
    /// Lines per chunk of work handed to a worker.
    pub chunk_lines: usize,
}

impl Default for Spread {
    fn default() -> Self {
        Spread { threads: 0, chunk_lines: 256 }
    }
}

impl Spread {
    /// The number of worker threads this spread runs.
    pub fn workers(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get().min(8)),
            n => n,
        }
    }
}

/// Why a log was not accepted, or could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// The log could not be read: no answer was reached.
    #[error("the log could not be read: {0}")]
    Io(#[source] std::io::Error),
    /// A line is torn (the last line has no newline) or is not UTF-8.
    #[error(transparent)]
    File(FileLogError),
    /// The chain does not verify.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// Events follow the last signed checkpoint.
    #[error("{events} event(s) after the last signed checkpoint (the log was not closed, or its tail was rewritten)")]
    UnsignedTail {
        /// How many.
        events: u64,
    },
    /// The signer is not one of the trusted signers, or not for the times of the log's events.
    #[error("the log's signer is not trusted (revoked, unlisted, or its window does not cover the log's events)")]
    UntrustedSigner {
        /// The signer's fingerprint.
        signer: agentk_capability::Fingerprint,
    },
    /// The saved checkpoint is malformed or its signature fails.
    #[error("the checkpoint is malformed or its signature fails")]
    BadCheckpoint(#[source] SavedError),
    /// The saved checkpoint names another log id or another signer than the genesis record.
    #[error("the checkpoint is a checkpoint of another log (another log id or signer)")]
    OtherLog,
    /// The log is signed by the public development key, which was refused.
    #[error("signed by the public development key: its signatures prove nothing")]
    DevelopmentSigner,
    /// A second pass read other events than the first accepted.
    #[error("the log changed while it was read")]
    Changed,
}

impl Rejection {
    /// Whether no answer was reached (the log could not be read: an error, exit 1) rather than
    /// the answer "not accepted" (exit 4).
    pub fn is_read_failure(&self) -> bool {
        matches!(self, Rejection::Io(_))
    }
}

/// A log that [`accept`] accepted; only it makes one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    verified: ChainVerified,
    signer: PublicKey,
    pinned: bool,
    against_checkpoint: bool,
}

impl std::ops::Deref for Accepted {
    type Target = ChainVerified;

    fn deref(&self) -> &ChainVerified {
        &self.verified
    }
}

impl Accepted {
    /// The verified chain.
    pub fn verified(&self) -> &ChainVerified {
        &self.verified
    }

    /// The log's signer (the genesis key).
    pub fn signer(&self) -> PublicKey {
        self.signer
    }

    /// Whether the signer was pinned ([`Acceptance::trusted`]).
    pub fn pinned(&self) -> bool {
        self.pinned
    }

    /// Whether the log was checked against a saved checkpoint.
    pub fn against_checkpoint(&self) -> bool {
        self.against_checkpoint
    }

    /// Reads the log again (a second pass, for readers that print as they go), handing each
    /// of the events this acceptance covers to `visit`, and checks they are the same events:
    /// the Merkle root over them is this acceptance's. What was accepted then holds for them.
    /// Reading stops after those events (a live log may have grown since).
    pub fn again(&self, reader: impl Read, visit: impl FnMut(&EventLine)) -> Result<(), Rejection> {
        let plan = Plan {
            checks: None,
            expected: Some(Expected { size: self.events(), root: self.root(), identity: None }),
            limit: Some(self.events()),
            spread: Spread::default(),
        };
        match run(reader, &plan, visit) {
            Ok(_) => Ok(()),
            Err(Rejection::Chain(ChainError::Rewritten { .. } | ChainError::Truncated { .. })) => {
                Err(Rejection::Changed)
            }
            Err(other) => Err(other),
        }
    }
}

/// Decides whether the log read from `reader` is accepted under `acceptance`, in one pass,
/// handing each event to `visit` once its line has verified (a later line may still refuse the
/// log, and a receipt's signature may be confirmed only at the end: act on nothing before the
/// answer).
pub fn accept(
    reader: impl Read,
    acceptance: &Acceptance,
    visit: impl FnMut(&EventLine),
) -> Result<Accepted, Rejection> {
    let expected = match &acceptance.checkpoint {
        None => None,
        Some(saved) => {
            let (_, root) = saved.check().map_err(Rejection::BadCheckpoint)?;
            Some(Expected { size: saved.size, root, identity: Some((saved.log_id.clone(), saved.signer.clone())) })
        }
    };
    let plan = Plan { checks: Some(acceptance.signatures), expected, limit: None, spread: acceptance.spread };
    let verified = run(reader, &plan, visit)?;
    let signer = verified
        .genesis()
        .and_then(|g| PublicKey::from_hex(&g.signer).ok())
        .ok_or(Rejection::Chain(ChainError::Malformed { line: 1 }))?;
    // Checkpoints prove the log's signer wrote it; pinning proves the signer is one we trust.
    // A manifest's validity windows apply to the times the log's events carry.
    if let Some(trusted) = &acceptance.trusted {
        let trusted_here = match verified.time_span() {
            Some((first, last)) => trusted.check_span(&signer, first, last.saturating_add(1)).is_ok(),
            None => trusted.lists(&signer),
        };
        if !trusted_here {
            return Err(Rejection::UntrustedSigner { signer: signer.fingerprint() });
        }
    }
    // A signed tail leaves no event that could be rewritten unseen. (The closing checkpoint
    // itself is the one event after what it signs.)
    let unsigned = verified.events().saturating_sub(verified.signed_events());
    if !acceptance.allow_unsigned_tail && (verified.last_checkpoint().is_none() || unsigned > 1) {
        return Err(Rejection::UnsignedTail { events: unsigned });
    }
    if acceptance.refuse_development_signer && verified.genesis().is_some_and(|g| g.development_signer) {
        return Err(Rejection::DevelopmentSigner);
    }
    Ok(Accepted {
        verified,
        signer,
        pinned: acceptance.trusted.is_some(),
        against_checkpoint: acceptance.checkpoint.is_some(),
    })
}

/// What one pass checks.
struct Plan {
    /// Which signatures; `None` checks none (a second pass, proven equal to an accepted one).
    checks: Option<SignatureChecks>,
    expected: Option<Expected>,
    /// Stop after this many events.
    limit: Option<u64>,
    spread: Spread,
}

/// The first `size` events must have Merkle root `root`; with `identity`, the genesis must
/// name this log id and signer (hex).
struct Expected {
    size: u64,
    root: Hash32,
    identity: Option<(String, String)>,
}

/// How a chunk of lines ended, found by the reader.
enum End {
    /// More lines follow.
    More,
    /// The end of the file (or of the lines asked for).
    Eof,
    /// A torn last line, or a line too long to be an event.
    Framing(Rejection),
    /// Reading failed.
    Io(std::io::Error),
}

/// Lines read, to be prepared by a worker.
struct Chunk {
    first_line: u64,
    bytes: Vec<u8>,
    /// Where each line ends in `bytes` (its newline excluded).
    ends: Vec<usize>,
}

/// A chunk's lines, prepared.
#[expect(clippy::large_enum_variant, reason = "held in one vector per chunk: boxing would allocate per line")]
enum LineOutcome {
    Prepared(Prepared),
    NotUtf8 { line: u64 },
}

enum Job {
    Lines { index: u64, chunk: Chunk, defer: bool },
    Signatures(SignatureBatch),
}

enum Done {
    /// A chunk prepared, with its buffer back for the next chunk.
    Lines {
        index: u64,
        lines: Vec<LineOutcome>,
        bytes: Vec<u8>,
    },
    Signatures(BatchResult),
    Panicked(Box<dyn std::any::Any + Send>),
}

fn work(job: Job) -> Done {
    match job {
        Job::Lines { index, chunk, defer } => {
            let mut start = 0;
            let mut lines = Vec::with_capacity(chunk.ends.len());
            for (line, end) in (chunk.first_line..).zip(&chunk.ends) {
                let bytes = chunk.bytes.get(start..*end).unwrap_or_default();
                start = end + 1;
                lines.push(match std::str::from_utf8(bytes) {
                    Ok(text) => LineOutcome::Prepared(prepare(text, line, defer)),
                    Err(_) => LineOutcome::NotUtf8 { line },
                });
            }
            Done::Lines { index, lines, bytes: chunk.bytes }
        }
        Job::Signatures(batch) => Done::Signatures(batch.check()),
    }
}

/// Reads lines in chunks, bounded: a line is read to at most one byte past the longest event.
struct Lines<R> {
    reader: BufReader<R>,
    line: u64,
    offset: u64,
    limit: Option<u64>,
}

impl<R: Read> Lines<R> {
    /// Reads the next chunk of lines into `bytes` (a buffer handed back by a worker).
    fn next_chunk(&mut self, max_lines: usize, mut bytes: Vec<u8>) -> (Chunk, End) {
        bytes.clear();
        let mut chunk = Chunk { first_line: self.line + 1, bytes, ends: Vec::with_capacity(max_lines) };
        while chunk.ends.len() < max_lines && chunk.bytes.len() < max_lines * 4096 {
            if self.limit.is_some_and(|limit| self.line >= limit) {
                return (chunk, End::Eof);
            }
            let start = chunk.bytes.len();
            // SECURITY: read at most one byte past the longest line, so a hostile file without
            // newlines cannot make us buffer it whole.
            let read = match (&mut self.reader).take(MAX_LINE_BYTES as u64 + 2).read_until(b'\n', &mut chunk.bytes) {
                Ok(read) => read,
                Err(e) => {
                    chunk.bytes.truncate(start);
                    return (chunk, End::Io(e));
                }
            };
            if read == 0 {
                return (chunk, End::Eof);
            }
            self.line += 1;
            if chunk.bytes.last() != Some(&b'\n') {
                let end = if read > MAX_LINE_BYTES {
                    Rejection::Chain(ChainError::TooLong { line: self.line })
                } else {
                    Rejection::File(FileLogError::TornTail { line: self.line, offset: self.offset })
                };
                chunk.bytes.truncate(start);
                return (chunk, End::Framing(end));
            }
            chunk.ends.push(chunk.bytes.len() - 1);
            self.offset += read as u64;
        }
        (chunk, End::More)
    }
}

/// The checks made in line order, on the calling thread.
struct Sequential<'p, V> {
    core: Core,
    queue: SignatureQueue,
    plan: &'p Plan,
    visit: V,
}

impl<V: FnMut(&EventLine)> Sequential<'_, V> {
    /// Checks one prepared line; answers the signature batches now due.
    fn line(&mut self, outcome: LineOutcome, due: &mut Vec<SignatureBatch>) -> Result<(), Rejection> {
        let prepared = match outcome {
            LineOutcome::Prepared(prepared) => prepared,
            LineOutcome::NotUtf8 { line } => return Err(Rejection::File(FileLogError::NotUtf8 { line })),
        };
        let pushed = self.core.push_prepared(prepared)?;
        if let Some(expected) = &self.plan.expected {
            // A checkpoint of another log is named as such before anything it would find.
            if let (Some((log_id, signer)), Some(genesis)) = (&expected.identity, self.core.genesis())
                && self.core.events() == 1
                && (encode_hex(&genesis.log_id.0) != *log_id || genesis.signer != *signer)
            {
                return Err(Rejection::OtherLog);
            }
            if self.core.events() == expected.size && self.core.root() != expected.root {
                return Err(Rejection::Chain(ChainError::Rewritten { size: expected.size }));
            }
        }
        if pushed.checkpoint {
            self.queue.covered();
        }
        if let (Some((receipt, line)), Some(_)) = (pushed.deferred, self.plan.checks) {
            due.extend(self.queue.push(receipt, line));
        }
        (self.visit)(&pushed.event);
        Ok(())
    }
}

/// One pass over the log: workers prepare chunks of lines and check signature batches; this
/// thread reads, checks in order and visits.
fn run(reader: impl Read, plan: &Plan, visit: impl FnMut(&EventLine)) -> Result<ChainVerified, Rejection> {
    let workers = plan.spread.workers().max(1);
    let chunk_lines = plan.spread.chunk_lines.max(1);
    let mut lines = Lines { reader: BufReader::with_capacity(1 << 16, reader), line: 0, offset: 0, limit: plan.limit };
    let mut sequential =
        Sequential { core: Core::default(), queue: SignatureQueue::new(plan.checks.unwrap_or_default()), plan, visit };
    let defer = true;
    let (job_tx, job_rx) = mpsc::channel::<Job>();
    let (done_tx, done_rx) = mpsc::channel::<Done>();
    let job_rx = Mutex::new(job_rx);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let (job_rx, done_tx) = (&job_rx, done_tx.clone());
            let worker = move || {
                loop {
                    let job = job_rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
                    let Ok(job) = job else { break };
                    let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(job)))
                        .unwrap_or_else(Done::Panicked);
                    if done_tx.send(done).is_err() {
                        break;
                    }
                }
            };
            // A thread that cannot be started leaves the work to the others (and to none: then
            // the first send fails and the pass reports it).
            let _ = std::thread::Builder::new().name("agentk-accept".to_owned()).spawn_scoped(scope, worker);
        }
        drop(done_tx);
        let mut pipeline = Pipeline {
            jobs: job_tx,
            done: done_rx,
            ready: BTreeMap::new(),
            signatures_out: 0,
            in_flight: 2 * workers,
            buffers: Vec::new(),
        };
        let outcome = pipeline.drive(&mut lines, &mut sequential, chunk_lines, defer);
        // Whatever the outcome, every signature batch sent must come back before answering: an
        // earlier bad signature is named before a later bad line.
        let outcome = pipeline.settle_all(&mut sequential, outcome);
        drop(pipeline);
        outcome
    })?;
    if let Some(failure) = sequential.queue.failed() {
        return Err(failure.into());
    }
    if let Some(expected) = &plan.expected
        && sequential.core.events() < expected.size
    {
        return Err(ChainError::Truncated { found: sequential.core.events(), size: expected.size }.into());
    }
    Ok(sequential.core.finish()?)
}

struct Pipeline {
    jobs: mpsc::Sender<Job>,
    done: mpsc::Receiver<Done>,
    /// Chunks prepared, waiting for their turn.
    ready: BTreeMap<u64, Vec<LineOutcome>>,
    /// Chunk buffers handed back, for the next chunks (fresh ones would cost page faults).
    buffers: Vec<Vec<u8>>,
    signatures_out: usize,
    /// Chunks read ahead of the one being checked.
    in_flight: usize,
}

impl Pipeline {
    fn send(&mut self, job: Job) -> Result<(), Rejection> {
        if matches!(job, Job::Signatures(_)) {
            self.signatures_out += 1;
        }
        self.jobs.send(job).map_err(|_| worker_lost())
    }

    /// Waits for one result and files it.
    fn receive<V>(&mut self, sequential: &mut Sequential<'_, V>) -> Result<(), Rejection> {
        let done = self.done.recv().map_err(|_| worker_lost())?;
        self.file(done, sequential);
        Ok(())
    }

    fn file<V>(&mut self, done: Done, sequential: &mut Sequential<'_, V>) {
        match done {
            Done::Lines { index, lines, bytes } => {
                self.ready.insert(index, lines);
                self.buffers.push(bytes);
            }
            Done::Signatures(result) => {
                self.signatures_out = self.signatures_out.saturating_sub(1);
                sequential.queue.settle(result);
            }
            Done::Panicked(payload) => std::panic::resume_unwind(payload),
        }
    }

    fn drive<R: Read, V: FnMut(&EventLine)>(
        &mut self,
        lines: &mut Lines<R>,
        sequential: &mut Sequential<'_, V>,
        chunk_lines: usize,
        defer: bool,
    ) -> Result<(), Rejection> {
        let (mut next, mut sent) = (0u64, 0u64);
        let mut ends: BTreeMap<u64, End> = BTreeMap::new();
        let mut reading = true;
        let mut due = Vec::new();
        loop {
            while reading && sent - next < self.in_flight as u64 {
                let buffer = self.buffers.pop().unwrap_or_default();
                let (chunk, end) = lines.next_chunk(chunk_lines, buffer);
                reading = matches!(end, End::More);
                if chunk.ends.is_empty() {
                    self.ready.insert(sent, Vec::new());
                    self.buffers.push(chunk.bytes);
                } else {
                    self.send(Job::Lines { index: sent, chunk, defer })?;
                }
                ends.insert(sent, end);
                sent += 1;
            }
            if next == sent {
                return Ok(());
            }
            let prepared = loop {
                if let Some(prepared) = self.ready.remove(&next) {
                    break prepared;
                }
                self.receive(sequential)?;
            };
            for outcome in prepared {
                sequential.line(outcome, &mut due)?;
                for batch in due.drain(..) {
                    self.send(Job::Signatures(batch))?;
                }
                // Every signature counts: a failure found is the answer (with any earlier
                // one still out).
                if sequential.queue.decided() {
                    return Ok(());
                }
            }
            match ends.remove(&next) {
                Some(End::More) | None => {}
                Some(End::Eof) => return Ok(()),
                Some(End::Framing(rejection)) => return Err(rejection),
                Some(End::Io(e)) => return Err(Rejection::Io(e)),
            }
            next += 1;
            // File whatever has come back meanwhile, so a failure stops the pass early.
            while let Ok(done) = self.done.try_recv() {
                self.file(done, sequential);
            }
        }
    }

    /// Checks every signature still waiting and waits for every batch out; a signature failure
    /// (always on an earlier line than anything found after it) wins over `outcome`.
    fn settle_all<V>(
        &mut self,
        sequential: &mut Sequential<'_, V>,
        outcome: Result<(), Rejection>,
    ) -> Result<(), Rejection> {
        let waiting = if sequential.plan.checks.is_some() { sequential.queue.take() } else { Vec::new() };
        for batch in waiting {
            self.send(Job::Signatures(batch))?;
        }
        while self.signatures_out > 0 {
            self.receive(sequential)?;
        }
        match sequential.queue.failed() {
            Some(failure) => Err(failure.into()),
            None => outcome,
        }
    }
}

fn worker_lost() -> Rejection {
    Rejection::Io(std::io::Error::other("a verification thread stopped"))
}
