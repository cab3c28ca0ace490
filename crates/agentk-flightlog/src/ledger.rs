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
//! The journal is a JSON Lines file: a header naming the policy it counts for, then one line
//! per receipt (grant id, receipt id, expiry). It is owner-only and exclusively locked by the
//! process that owns the ledger. A torn last line (a crash mid-write) is dropped when the
//! journal is opened: the batch it belonged to was never acknowledged. Any other malformed line
//! refuses the journal (fail closed: a budget that cannot be read is not assumed unused).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use agentk_capability::{
    Hash32, Ledger, MintContext, MintError, Receipt, ReceiptId, Reservation, SigningIdentity, decode_hex, encode_hex,
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
}

impl JournalEntry {
    pub(crate) fn of(receipt: &Receipt) -> Self {
        JournalEntry {
            grant: receipt.grant().to_owned(),
            receipt: encode_hex(&receipt.id().0),
            expires_at: receipt.expires_at(),
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
}

/// A ledger many kernels share (each with its own log). Cloning it shares it.
#[derive(Clone)]
pub struct SharedLedger {
    state: Arc<Mutex<State>>,
    /// Whether a journal backs it (fixed when it is made).
    journalled: bool,
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
    /// the process lives (a kernel that resumes a log also takes back what that log spent).
    pub fn in_memory() -> Self {
        SharedLedger {
            state: Arc::new(Mutex::new(State { ledger: Ledger::new(), policy: None, journal: None })),
            journalled: false,
        }
    }

    /// Opens the journal at `path` for the policy whose text is `policy_text`, or creates it
    /// (owner-only), and locks it. Every receipt it records counts again, so a restart cannot
    /// refill a budget. `now` judges which spent ids are still worth remembering.
    pub fn open(path: &Path, policy_text: &str, sync: SyncPolicy, now: u64) -> Result<Self, LedgerError> {
        let policy = crate::kernel::policy_hash(policy_text);
        let (file, created) = match crate::host::create_new(path, 0o600) {
            Ok(_) => (OpenOptions::new().read(true).append(true).open(path)?, true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                (OpenOptions::new().read(true).append(true).open(path)?, false)
            }
            Err(e) => return Err(e.into()),
        };
        file.try_lock().map_err(|_| LedgerError::Locked)?;
        let mut ledger = Ledger::new();
        let mut journal = Journal { file, sync, unsynced: 0, committed: 0 };
        if created || journal.file.metadata()?.len() == 0 {
            let header =
                serde_json::to_string(&JournalHeader { schema: JOURNAL_SCHEMA.to_owned(), policy_hash: policy })
                    .map_err(std::io::Error::other)?;
            journal.append(format!("{header}\n").as_bytes(), 1)?;
            journal.sync_now()?;
        } else {
            let (minted, spent, committed) = read_journal(&journal.file, &policy)?;
            ledger.absorb(&minted, spent, now);
            // SECURITY: a torn last line belonged to a batch that was never acknowledged; cut
            // it off so the next entry is not glued onto it.
            journal.file.set_len(committed)?;
            journal.committed = committed;
        }
        Ok(SharedLedger {
            state: Arc::new(Mutex::new(State { ledger, policy: Some(policy), journal: Some(journal) })),
            journalled: true,
        })
    }

    /// Whether a journal backs this ledger (so a restart keeps its counts).
    pub fn is_journalled(&self) -> bool {
        self.journalled
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

    /// Reserves (counts and spends) a receipt; the caller signs it outside the lock.
    pub(crate) fn reserve<'s>(
        &self,
        authorization: &Authorization<'_, '_>,
        signer: &'s SigningIdentity,
        context: MintContext,
    ) -> Result<Result<Reservation<'s>, MintError>, LedgerError> {
        Ok(self.lock()?.ledger.reserve(authorization, signer, context))
    }

    /// Gives back the use of a reserved receipt that was never handed out.
    pub(crate) fn void(&self, receipt: &Receipt) -> Result<(), LedgerError> {
        self.lock()?.ledger.void(receipt);
        Ok(())
    }

    /// Takes in what a resumed log says was minted and spent.
    pub(crate) fn absorb(&self, tally: &crate::verify::ReceiptTally, now: u64) -> Result<(), LedgerError> {
        self.lock()?.ledger.absorb(&tally.minted, tally.spent.iter().copied(), now);
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
        let due = match self.sync {
            SyncPolicy::Always => true,
            SyncPolicy::Batch { events } => self.unsynced >= events.max(1),
            SyncPolicy::Never => false,
        };
        if written.is_ok() && due {
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

type Tally = (BTreeMap<String, u32>, Vec<(ReceiptId, u64)>, u64);

/// Reads a journal: its header must name `policy`; answers the counts per grant, the spent ids,
/// and the length of its whole lines.
fn read_journal(file: &File, policy: &Hash32) -> Result<Tally, LedgerError> {
    let mut reader = BufReader::new(file);
    reader.rewind()?;
    let (mut minted, mut spent) = (BTreeMap::<String, u32>::new(), Vec::new());
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
            let id = decode_hex::<16>(&entry.receipt).map_err(|_| malformed())?;
            let count = minted.entry(entry.grant).or_default();
            *count = count.saturating_add(1);
            spent.push((ReceiptId(id), entry.expires_at));
        }
        committed += read as u64;
    }
    if line == 0 || committed == 0 {
        // An empty or header-less journal counts nothing and is refused: it was not made by us.
        return Err(LedgerError::Malformed { line: 1 });
    }
    Ok((minted, spent, committed))
}
