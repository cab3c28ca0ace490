//! Grant budgets and one-shot receipts shared by many kernels (C7 across sessions): a gateway
//! runs one kernel per session, each with its own log, over one policy; a grant of 10 uses must
//! stay 10 in all, and a restart must not refill it.
//!
//! A [`SharedLedger`] is a [`Ledger`] behind a lock, optionally backed by a journal file. The
//! lock is held only to count (never while signing). A kernel reserves a receipt under the
//! lock, signs it outside, and before its batch of events is written, appends the receipts it
//! is about to hand out to the journal (one write per batch, synced like the log). Order is
//! what makes it safe: journal first, then the log, then the answer. A crash between the two
//! writes leaves a use counted that no log shows, which can only make the budget stricter,
//! never looser.
//!
//! Every use is counted once, against the log whose event carries its receipt: a kernel that
//! resumes a log charges the ledger only for that log's receipts the ledger has not counted yet,
//! so resuming several logs into one ledger adds them up, and resuming a log the journal already
//! counted adds nothing.
//!
//! The journal is a JSON Lines file: a header naming the policy it counts for, then one line
//! per receipt (grant id, receipt id, expiry, the log it was handed out in). It is created once
//! ([`SharedLedger::create`]) and afterwards only opened ([`SharedLedger::open`]): a journal
//! that has gone missing is refused, never silently replaced by an empty one. It must be an
//! owner-only regular file, and is exclusively locked by the process that owns the ledger. A
//! torn last line (a crash mid-write) is dropped when the journal is opened: the batch it
//! belonged to was never acknowledged. Any other malformed line refuses the journal (fail
//! closed: a budget that cannot be read is not assumed unused). A journal must reach the disk
//! at least as often as the logs it counts for (the builder refuses a weaker sync policy), or a
//! power failure could keep a log's receipts and lose their count.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use agentk_capability::{
    Hash32, Ledger, MintContext, MintError, Receipt, Reservation, SigningIdentity, decode_hex, encode_hex,
};
use agentk_policy::Authorization;
use serde::{Deserialize, Serialize};

use crate::file::SyncPolicy;

/// The journal's header schema.
pub const JOURNAL_SCHEMA: &str = "agentk.ledger.v1";
/// The longest journal line accepted, in bytes.
const MAX_JOURNAL_LINE: u64 = 4096;

/// Why a shared ledger could not be opened or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// The journal file could not be read or written.
    #[error("the ledger journal could not be read or written")]
    Io(#[from] std::io::Error),
    /// Another process holds the journal.
    #[error("the ledger journal is locked by another process")]
    Locked,
    /// A journal line is not a ledger entry.
    #[error(
        "ledger journal line {line} is malformed; the journal is refused (budgets it counts cannot be assumed unused)"
    )]
    Malformed {
        /// The line.
        line: u64,
    },
    /// The journal (or the ledger) counts for another policy.
    #[error("the ledger counts grants of another policy; open a new ledger for this policy")]
    OtherPolicy,
    /// The journal to open is not there (it is created once, with `SharedLedger::create`).
    #[error("the ledger journal does not exist; budgets it counted cannot be assumed unused")]
    Missing,
    /// The journal to create already exists.
    #[error("the ledger journal already exists; open it instead of creating it")]
    Exists,
    /// The journal is not an owner-only regular file.
    #[error("the ledger journal is not an owner-only regular file")]
    NotPrivate,
    /// A thread panicked while holding the ledger: its counts are no longer trusted.
    #[error("the ledger is unusable: a thread failed while updating it")]
    Poisoned,
}

/// One receipt a kernel is about to hand out, as the journal records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JournalEntry {
    grant: String,
    receipt: String,
    expires_at: u64,
    /// The log whose event carries the receipt.
    log: Hash32,
}

impl JournalEntry {
    pub(crate) fn of(receipt: &Receipt, log: Hash32) -> Self {
        JournalEntry {
            grant: receipt.grant().to_owned(),
            receipt: encode_hex(&receipt.id().0),
            expires_at: receipt.expires_at(),
            log,
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JournalHeader {
    schema: String,
    policy_hash: Hash32,
}

struct Journal {
    file: File,
    sync: SyncPolicy,
    unsynced: u32,
    committed: u64,
}

struct State {
    ledger: Ledger,
    /// The policy whose grants this ledger counts; set by the journal or the first kernel.
    policy: Option<Hash32>,
    journal: Option<Journal>,
    /// Receipts counted per log and grant, so a log's receipts are charged once.
    per_log: BTreeMap<Hash32, BTreeMap<String, u32>>,
}

impl State {
    fn empty(policy: Option<Hash32>) -> Self {
        State { ledger: Ledger::new(), policy, journal: None, per_log: BTreeMap::new() }
    }

    fn count(&mut self, log: Hash32, grant: &str, delta: i64) {
        let counts = self.per_log.entry(log).or_default();
        let count = counts.entry(grant.to_owned()).or_default();
        *count = if delta < 0 { count.saturating_sub(1) } else { count.saturating_add(1) };
    }
}

/// A ledger many kernels share (each with its own log). Cloning it shares it.
#[derive(Clone)]
pub struct SharedLedger {
    state: Arc<Mutex<State>>,
    /// The journal's sync policy, when a journal backs it (fixed when it is made).
    journal_sync: Option<SyncPolicy>,
}

impl std::fmt::Debug for SharedLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedLedger")
    }
}

impl Default for SharedLedger {
    fn default() -> Self {
        Self::in_memory()
    }
}

impl SharedLedger {
    /// A ledger kept in memory: budgets hold across the kernels that share it for as long as
    /// the process lives (a kernel that resumes a log also charges what that log spent).
    pub fn in_memory() -> Self {
        SharedLedger { state: Arc::new(Mutex::new(State::empty(None))), journal_sync: None }
    }

    /// Creates a new journal at `path` (owner-only; never over an existing file) for the policy
    /// whose text is `policy_text`, locks it, and answers an empty ledger backed by it.
    pub fn create(path: &Path, policy_text: &str, sync: SyncPolicy) -> Result<Self, LedgerError> {
        let policy = crate::kernel::policy_hash(policy_text);
        let file = crate::host::create_new(path, 0o600).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => LedgerError::Exists,
            _ => LedgerError::Io(e),
        })?;
        drop(file);
        let file = OpenOptions::new().read(true).append(true).open(path)?;
        file.try_lock().map_err(|_| LedgerError::Locked)?;
        let mut journal = Journal { file, sync, unsynced: 0, committed: 0 };
        let header = serde_json::to_string(&JournalHeader { schema: JOURNAL_SCHEMA.to_owned(), policy_hash: policy })
            .map_err(std::io::Error::other)?;
        journal.append(format!("{header}\n").as_bytes(), 1)?;
        journal.sync_now()?;
        let state = State { journal: Some(journal), ..State::empty(Some(policy)) };
        Ok(SharedLedger { state: Arc::new(Mutex::new(state)), journal_sync: Some(sync) })
    }

    /// Opens the existing journal at `path`, which must count for the policy whose text is
    /// `policy_text`, locks it, and counts again every receipt it records, so a restart cannot
    /// refill a budget. A missing journal is refused (create it once with
    /// [`SharedLedger::create`]), as is one that group or others may read or write.
    pub fn open(path: &Path, policy_text: &str, sync: SyncPolicy) -> Result<Self, LedgerError> {
        let policy = crate::kernel::policy_hash(policy_text);
        // SECURITY: judge the file itself (no symlink is followed to a file someone else
        // controls), before and after opening it.
        let before = std::fs::symlink_metadata(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => LedgerError::Missing,
            _ => LedgerError::Io(e),
        })?;
        if !before.is_file() {
            return Err(LedgerError::NotPrivate);
        }
        let file = OpenOptions::new().read(true).append(true).open(path)?;
        if !private_file(&file.metadata()?) {
            return Err(LedgerError::NotPrivate);
        }
        file.try_lock().map_err(|_| LedgerError::Locked)?;
        let mut journal = Journal { file, sync, unsynced: 0, committed: 0 };
        let (per_log, committed) = read_journal(&journal.file, &policy)?;
        let mut state = State::empty(Some(policy));
        for counts in per_log.values() {
            for (grant, count) in counts {
                state.ledger.charge(grant, *count);
            }
        }
        state.per_log = per_log;
        // SECURITY: a torn last line belonged to a batch that was never acknowledged; cut it
        // off so the next entry is not glued onto it.
        journal.file.set_len(committed)?;
        journal.committed = committed;
        state.journal = Some(journal);
        Ok(SharedLedger { state: Arc::new(Mutex::new(state)), journal_sync: Some(sync) })
    }

    /// Whether a journal backs this ledger (so a restart keeps its counts).
    pub fn is_journalled(&self) -> bool {
        self.journal_sync.is_some()
    }

    /// The journal's sync policy, if a journal backs this ledger.
    pub fn journal_sync(&self) -> Option<SyncPolicy> {
        self.journal_sync
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, LedgerError> {
        self.state.lock().map_err(|_| LedgerError::Poisoned)
    }

    /// Ties the ledger to the policy a kernel decides with: a ledger counts one policy's grants.
    pub(crate) fn attach(&self, policy: Hash32) -> Result<(), LedgerError> {
        let mut state = self.lock()?;
        match state.policy {
            None => {
                state.policy = Some(policy);
                Ok(())
            }
            Some(mine) if mine == policy => Ok(()),
            Some(_) => Err(LedgerError::OtherPolicy),
        }
    }

    /// How many receipts have been minted from `grant`, across every kernel sharing it.
    pub fn minted(&self, grant: &str) -> Result<u32, LedgerError> {
        Ok(self.lock()?.ledger.minted(grant))
    }

    /// Reserves (counts and spends) a receipt for an event of `log`; the caller signs it outside
    /// the lock.
    pub(crate) fn reserve<'s>(
        &self,
        log: Hash32,
        authorization: &Authorization<'_, '_>,
        signer: &'s SigningIdentity,
        context: MintContext,
    ) -> Result<Result<Reservation<'s>, MintError>, LedgerError> {
        let mut state = self.lock()?;
        let reserved = state.ledger.reserve(authorization, signer, context);
        if reserved.is_ok() {
            state.count(log, authorization.grant().id(), 1);
        }
        Ok(reserved)
    }

    /// Gives back the use of a reserved receipt that was never handed out.
    pub(crate) fn refund(&self, log: Hash32, grant: &str) -> Result<(), LedgerError> {
        let mut state = self.lock()?;
        state.ledger.refund(grant);
        state.count(log, grant, -1);
        Ok(())
    }

    /// Charges the receipts a resumed log holds that this ledger has not counted for that log
    /// yet (none, when the journal already did; all of them, for a fresh ledger).
    pub(crate) fn absorb_log(&self, log: Hash32, minted: &BTreeMap<String, u32>) -> Result<(), LedgerError> {
        let mut state = self.lock()?;
        for (grant, count) in minted {
            let known = state.per_log.get(&log).and_then(|counts| counts.get(grant)).copied().unwrap_or(0);
            if *count > known {
                state.ledger.charge(grant, count - known);
                state.per_log.entry(log).or_default().insert(grant.clone(), *count);
            }
        }
        Ok(())
    }

    /// Records receipts about to be handed out in the journal (a no-op for an in-memory
    /// ledger): one write, synced as the journal's policy says, before the log is written.
    pub(crate) fn commit(&self, entries: &[JournalEntry], buffer: &mut Vec<u8>) -> Result<(), LedgerError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut state = self.lock()?;
        let Some(journal) = state.journal.as_mut() else { return Ok(()) };
        buffer.clear();
        for entry in entries {
            serde_json::to_writer(&mut *buffer, entry).map_err(std::io::Error::other)?;
            buffer.push(b'\n');
        }
        journal.append(buffer, entries.len())?;
        Ok(())
    }
}

impl Journal {
    fn append(&mut self, bytes: &[u8], entries: usize) -> std::io::Result<()> {
        let mut written = self.file.write_all(bytes);
        self.unsynced = self.unsynced.saturating_add(u32::try_from(entries).unwrap_or(u32::MAX));
        if written.is_ok() && self.sync.due(self.unsynced) {
            written = self.sync_now();
        }
        match written {
            Ok(()) => {
                self.committed += bytes.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Leave no fragment behind for the next entry to be glued onto.
                let _ = self.file.set_len(self.committed);
                Err(e)
            }
        }
    }

    fn sync_now(&mut self) -> std::io::Result<()> {
        self.file.sync_data()?;
        self.unsynced = 0;
        Ok(())
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        if self.sync != SyncPolicy::Never && self.unsynced > 0 {
            let _ = self.file.sync_data();
        }
    }
}

/// Receipts per log and grant.
type PerLog = BTreeMap<Hash32, BTreeMap<String, u32>>;

#[cfg(unix)]
fn private_file(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.is_file() && meta.permissions().mode() & 0o077 == 0
}

#[cfg(not(unix))]
fn private_file(meta: &std::fs::Metadata) -> bool {
    meta.is_file()
}

/// Reads a journal: its header must name `policy`; answers the receipts it counts per log and
/// grant, and the length of its whole lines.
fn read_journal(file: &File, policy: &Hash32) -> Result<(PerLog, u64), LedgerError> {
    let mut reader = BufReader::new(file);
    reader.rewind()?;
    let mut per_log = PerLog::new();
    let (mut line, mut committed) = (0u64, 0u64);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let read = std::io::Read::take(&mut reader, MAX_JOURNAL_LINE + 1).read_until(b'\n', &mut buf)?;
        if read == 0 {
            break;
        }
        line += 1;
        let Some(content) = buf.strip_suffix(b"\n") else {
            if buf.len() as u64 > MAX_JOURNAL_LINE {
                return Err(LedgerError::Malformed { line });
            }
            // A torn last line: dropped (see the module doc).
            break;
        };
        let malformed = || LedgerError::Malformed { line };
        if line == 1 {
            let header: JournalHeader = serde_json::from_slice(content).map_err(|_| malformed())?;
            if header.schema != JOURNAL_SCHEMA {
                return Err(malformed());
            }
            if header.policy_hash != *policy {
                return Err(LedgerError::OtherPolicy);
            }
        } else {
            let entry: JournalEntry = serde_json::from_slice(content).map_err(|_| malformed())?;
            decode_hex::<16>(&entry.receipt).map_err(|_| malformed())?;
            let count = per_log.entry(entry.log).or_default().entry(entry.grant).or_default();
            *count = count.saturating_add(1);
        }
        committed += read as u64;
    }
    if line == 0 || committed == 0 {
        // An empty or header-less journal counts nothing and is refused: it was not made by us.
        return Err(LedgerError::Malformed { line: 1 });
    }
    Ok((per_log, committed))
}
