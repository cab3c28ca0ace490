//! The log on disk (F5): one JSONL file, appended only, written by one writer at a time, synced
//! as the caller chose; and the streaming reader that verifies it and reports a torn last line.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, Write};
use std::path::Path;

use crate::event::MAX_LINE_BYTES;
use crate::kernel::{RecordSink, SinkError};
use crate::verify::{ChainError, ChainVerified, ChainVerifier};

/// When appended events reach the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncPolicy {
    /// `fdatasync` after every batch, before its decisions are returned: nothing acknowledged
    /// is ever lost, even to a power failure.
    Always,
    /// `fdatasync` once at least `events` events have been written since the last one, and
    /// when the log is closed. Every batch is still handed to the operating system before its
    /// decisions are returned, so a crash of the process loses nothing acknowledged; a power
    /// failure can lose the events written since the last sync.
    Batch {
        /// The window, in events (at least 1).
        events: u32,
    },
    /// Leave syncing to the operating system (a crash of the process still loses nothing
    /// acknowledged; a power failure may).
    Never,
}

impl SyncPolicy {
    /// Whether a sync is due with `unsynced` events written since the last one.
    pub(crate) fn due(self, unsynced: u32) -> bool {
        match self {
            SyncPolicy::Always => true,
            SyncPolicy::Batch { events } => unsynced >= events.max(1),
            SyncPolicy::Never => false,
        }
    }
}

/// An open log file, exclusively locked for writing.
#[derive(Debug)]
pub struct FileLog {
    file: File,
    policy: SyncPolicy,
    unsynced: u32,
    /// The file's length after the last event that was fully written (and synced, when the
    /// policy syncs it). A failed append cuts the file back to it.
    committed: u64,
}

/// Why a log file could not be opened, written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileLogError {
    /// The file exists (new logs are never written over old ones).
    #[error("the log file already exists")]
    Exists,
    /// Another writer holds the log.
    #[error("the log is locked by another writer")]
    Locked,
    /// The last line has no newline: a write was cut short by a crash.
    #[error("line {line} is torn (cut short at byte {offset}); `agentk log-recover` can drop it")]
    TornTail {
        /// The torn line's number.
        line: u64,
        /// The byte offset where it starts.
        offset: u64,
    },
    /// The chain failed verification.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// A line is not UTF-8.
    #[error("line {line} is not UTF-8")]
    NotUtf8 {
        /// The line.
        line: u64,
    },
    /// Another I/O error (kept as the source).
    #[error("flight log I/O failed: {}", .0.kind())]
    Io(#[source] std::io::Error),
    /// The path is not a regular file (a pipe, a device, a directory): nothing was read.
    #[error("not a regular file")]
    NotRegularFile,
    /// What recovery would keep is not a flight log (no genesis, or a chain that does not
    /// verify): nothing was changed.
    #[error("what would be kept is not a flight log: {0}")]
    NotAFlightLog(#[source] Box<crate::accept::Rejection>),
}

impl From<std::io::Error> for FileLogError {
    fn from(e: std::io::Error) -> Self {
        FileLogError::Io(e)
    }
}

impl FileLog {
    /// Creates a new log file (owner-only on Unix) and locks it. Never opens an existing file.
    pub fn create(path: &Path, policy: SyncPolicy) -> Result<Self, FileLogError> {
        let mut options = OpenOptions::new();
        options.append(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => FileLogError::Exists,
            _ => FileLogError::Io(e),
        })?;
        file.try_lock().map_err(|_| FileLogError::Locked)?;
        // The new name must survive a crash too: sync the directory that holds it.
        #[cfg(unix)]
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)?.sync_all()?;
        }
        Ok(FileLog { file, policy, unsynced: 0, committed: 0 })
    }

    /// Opens an existing log to append to it: locks it, then verifies it whole (a torn tail is
    /// refused: run recovery first), and answers what a kernel needs to continue it.
    pub fn open_append(path: &Path, policy: SyncPolicy) -> Result<(Self, ChainVerified), FileLogError> {
        // SECURITY: opening a named pipe waits for a writer: refuse anything but a regular
        // file before opening, and check the opened file again.
        if !std::fs::metadata(path)?.is_file() {
            return Err(FileLogError::NotRegularFile);
        }
        let file = OpenOptions::new().read(true).append(true).open(path)?;
        if !file.metadata()?.is_file() {
            return Err(FileLogError::NotRegularFile);
        }
        file.try_lock().map_err(|_| FileLogError::Locked)?;
        let verified = verify_reader(&file, ChainVerifier::new().with_batched_signatures().with_receipt_tally())?;
        let committed = file.metadata()?.len();
        Ok((FileLog { file, policy, unsynced: 0, committed }, verified))
    }

    /// Syncs whatever is not yet on disk.
    pub fn sync(&mut self) -> Result<(), FileLogError> {
        self.file.sync_data()?;
        self.unsynced = 0;
        Ok(())
    }
}

impl RecordSink for FileLog {
    fn sync(&mut self) -> Result<(), SinkError> {
        if self.unsynced > 0 {
            self.file.sync_data()?;
            self.unsynced = 0;
        }
        Ok(())
    }

    fn append(&mut self, lines: &[u8], events: usize) -> Result<(), SinkError> {
        // One write per batch: every line and its newline together, appended.
        let mut written = self.file.write_all(lines);
        self.unsynced = self.unsynced.saturating_add(u32::try_from(events).unwrap_or(u32::MAX));
        if written.is_ok() && self.policy.due(self.unsynced) {
            written = self.file.sync_data();
            self.unsynced = 0;
        }
        match written {
            Ok(()) => {
                self.committed += lines.len() as u64;
                Ok(())
            }
            Err(e) => {
                // SECURITY: leave no fragment for the next line to be glued onto: cut back to
                // the last whole batch. (If even that fails, the writer is poisoned anyway.)
                let _ = self.file.set_len(self.committed);
                Err(SinkError { source: e })
            }
        }
    }
}

impl Drop for FileLog {
    fn drop(&mut self) {
        // Best effort: a close syncs the last batch (errors here cannot be reported).
        if self.policy != SyncPolicy::Never && self.unsynced > 0 {
            let _ = self.file.sync_data();
        }
    }
}

/// Verifies a log file in constant memory, line by line. A last line without its newline is
/// reported as torn (with its offset), never accepted and never silently dropped.
pub fn verify_file(path: &Path) -> Result<ChainVerified, FileLogError> {
    verify_reader(File::open(path)?, ChainVerifier::new().with_batched_signatures())
}

/// [`verify_file`] over any reader, with a verifier of the caller's (one expecting a saved
/// checkpoint, say).
pub fn verify_reader(reader: impl Read, verifier: ChainVerifier) -> Result<ChainVerified, FileLogError> {
    for_each_event(reader, verifier, |_| {})
}

/// [`verify_reader`], handing each verified event to `visit` as it goes: inspection streams
/// the log without holding it. An event is visited only once its line has verified; a later
/// bad line still fails the whole call.
pub fn for_each_event(
    reader: impl Read,
    mut verifier: ChainVerifier,
    mut visit: impl FnMut(&crate::event::EventLine),
) -> Result<ChainVerified, FileLogError> {
    let mut reader = BufReader::new(reader);
    let mut buf = Vec::with_capacity(1024);
    let (mut line, mut offset) = (0u64, 0u64);
    loop {
        buf.clear();
        // SECURITY: read at most one byte past the longest line, so a hostile file without
        // newlines cannot make us buffer it whole.
        let read = (&mut reader).take(MAX_LINE_BYTES as u64 + 2).read_until(b'\n', &mut buf)?;
        if read == 0 {
            break;
        }
        line += 1;
        // A bad line found here must not hide a bad signature still waiting in a batch on an
        // earlier line: check those first.
        let Some(content) = buf.strip_suffix(b"\n") else {
            verifier.flush()?;
            if buf.len() > MAX_LINE_BYTES {
                return Err(ChainError::TooLong { line }.into());
            }
            return Err(FileLogError::TornTail { line, offset });
        };
        let Ok(text) = std::str::from_utf8(content) else {
            verifier.flush()?;
            return Err(FileLogError::NotUtf8 { line });
        };
        visit(&verifier.push(text)?);
        offset += read as u64;
    }
    Ok(verifier.finish()?)
}

/// What [`recover`] found at the end of a log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// Where the torn line starts: the file is cut back to this length.
    pub offset: u64,
    /// How many bytes the torn line has.
    pub bytes: u64,
}

/// Finds a torn last line (bytes after the last newline). With `apply`, truncates the file to
/// drop it, once what it keeps has verified as a flight log (a chain from a genesis; its tail
/// need not be signed, as after a crash); without, only reports. A log without a torn tail is
/// left untouched. Regular files only, checked before opening (a named pipe would block the
/// open) and on the opened handle.
pub fn recover(path: &Path, apply: bool) -> Result<Option<TornTail>, FileLogError> {
    if !std::fs::metadata(path)?.is_file() {
        return Err(FileLogError::NotRegularFile);
    }
    let mut file = OpenOptions::new().read(true).write(apply).open(path)?;
    if !file.metadata()?.is_file() {
        return Err(FileLogError::NotRegularFile);
    }
    if apply {
        file.try_lock().map_err(|_| FileLogError::Locked)?;
    }
    // Scan back from the end in bounded chunks for the last newline: memory stays flat in the
    // log's size.
    let len = file.metadata()?.len();
    let mut end = len;
    let mut keep = 0u64;
    let mut chunk = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let window = chunk.get_mut(..(end - start) as usize).unwrap_or_default();
        file.seek(std::io::SeekFrom::Start(start))?;
        file.read_exact(window)?;
        if let Some(i) = window.iter().rposition(|&b| b == b'\n') {
            keep = start + i as u64 + 1;
            break;
        }
        end = start;
    }
    if keep == len {
        return Ok(None);
    }
    let torn = TornTail { offset: keep, bytes: len - keep };
    if apply {
        // SECURITY: truncate only a flight log: what is kept must verify as one.
        file.rewind()?;
        let keeps = crate::accept::Acceptance { allow_unsigned_tail: true, ..Default::default() };
        match crate::accept::accept((&file).take(keep), &keeps, |_| {}) {
            Ok(_) => {}
            Err(crate::accept::Rejection::Io(e)) => return Err(e.into()),
            Err(rejection) => return Err(FileLogError::NotAFlightLog(Box::new(rejection))),
        }
        file.set_len(torn.offset)?;
        file.sync_all()?;
    }
    Ok(Some(torn))
}
