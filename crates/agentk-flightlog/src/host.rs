//! The one place where AgentK touches the machine it runs on: the environment (the signer's
//! variables), key files and their permissions, the system clock, the OS random source, and the
//! owner-only files a run leaves behind (its log and salt). Every other module takes these as
//! values or traits, which is what keeps decisions replayable; front ends (the CLI, the MCP
//! proxy, an embedding agent) share this module instead of each writing their own.

use std::ffi::OsString;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use agentk_capability::{
    KeyFile, KeyFileProblem, KeyFileReader, LoadError, SignerEnv, SigningIdentity, encode_hex, load_signer,
};
use zeroize::Zeroizing;

use crate::file::{FileLog, FileLogError, SyncPolicy};
use crate::kernel::{Clock, Entropy, EvidenceSalt};

/// The environment variable holding the signing key as 64 hex characters (C4).
pub const KEY_HEX_VAR: &str = "AGENTK_SIGNING_KEY_HEX";
/// The environment variable naming the signing key file (C4).
pub const KEY_FILE_VAR: &str = "AGENTK_SIGNING_KEY_FILE";
/// The environment variable that, set to `1`, refuses the development key (C4).
pub const REQUIRE_KEY_VAR: &str = "AGENTK_REQUIRE_SIGNING_KEY";

/// Where run logs go unless told otherwise (git-ignored, F3).
pub const DEFAULT_LOG_DIR: &str = ".agentk/runs";

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
    }
}

/// Ids from the OS random source: 32 bytes drawn once seed a blake3 output stream (a
/// cryptographically secure generator), so drawing an id never fails and costs no system call.
pub struct OsEntropy(blake3::OutputReader);

impl OsEntropy {
    /// Seeds from the OS random source.
    pub fn new() -> io::Result<Self> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut_slice()).map_err(|e| io::Error::other(e.to_string()))?;
        Ok(Self::from_seed(&seed))
    }

    /// A generator from a seed the caller drew (a test seed, or another random source).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let mut hasher = blake3::Hasher::new_derive_key("agentk entropy stream v1");
        hasher.update(seed);
        OsEntropy(hasher.finalize_xof())
    }
}

impl Entropy for OsEntropy {
    fn fill(&mut self, buf: &mut [u8]) {
        self.0.fill(buf);
    }
}

impl fmt::Debug for OsEntropy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OsEntropy(<redacted>)")
    }
}

/// 32 bytes from the OS random source.
pub fn random_bytes() -> io::Result<[u8; 32]> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| io::Error::other(e.to_string()))?;
    Ok(bytes)
}

/// Key files are tiny; anything larger is not one.
const MAX_KEY_FILE_BYTES: u64 = 1024;

/// Reads key files from the real file system, with the permission bits of the file and of the
/// directories that hold it (C4 judges them).
#[derive(Clone, Copy, Debug, Default)]
pub struct OsKeyFiles;

impl KeyFileReader for OsKeyFiles {
    fn read(&self, path: &str) -> Result<KeyFile, KeyFileProblem> {
        let io = |e: io::Error| match e.kind() {
            io::ErrorKind::NotFound => KeyFileProblem::NotFound,
            io::ErrorKind::PermissionDenied => KeyFileProblem::PermissionDenied,
            _ => KeyFileProblem::Io,
        };
        // SECURITY: judge the directory that really holds the key as well as the one holding
        // the name we were given: a symlink from a private directory must not hide a shared
        // one, and a symlink in a shared directory could be repointed.
        let real = std::fs::canonicalize(path).map_err(io)?;
        // SECURITY: opening a named pipe waits for a writer; refuse it before opening.
        if !std::fs::metadata(&real).map_err(io)?.is_file() {
            return Err(KeyFileProblem::NotRegularFile);
        }
        let file = File::open(&real).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        if !meta.is_file() {
            return Err(KeyFileProblem::NotRegularFile);
        }
        if meta.len() > MAX_KEY_FILE_BYTES {
            return Err(KeyFileProblem::TooLarge);
        }
        let mut contents = Zeroizing::new(Vec::new());
        file.take(MAX_KEY_FILE_BYTES + 1).read_to_end(&mut contents).map_err(io)?;
        if contents.len() as u64 > MAX_KEY_FILE_BYTES {
            return Err(KeyFileProblem::TooLarge);
        }
        let parent =
            |p: &Path| p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
        let mut dir_mode: Option<u32> = None;
        for dir in [parent(Path::new(path)), parent(&real)] {
            let dir_meta = std::fs::metadata(dir).map_err(io)?;
            dir_mode = match (dir_mode, mode(&dir_meta)) {
                (Some(a), Some(b)) => Some(a | b),
                (a, b) => a.or(b),
            };
        }
        Ok(KeyFile { contents, file_mode: mode(&meta), dir_mode })
    }
}

#[cfg(unix)]
fn mode(meta: &std::fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    Some(meta.permissions().mode())
}

#[cfg(not(unix))]
fn mode(_meta: &std::fs::Metadata) -> Option<u32> {
    None
}

/// The signer the environment chooses (C4), with environment variables read through `var`:
/// `AGENTK_SIGNING_KEY_HEX`, else the file `AGENTK_SIGNING_KEY_FILE` names (refused when group
/// or others may read it or write its directory), else the development key, always marked as
/// such; `AGENTK_REQUIRE_SIGNING_KEY=1` refuses the development key. An invalid value is an
/// error, never a silent fall-back.
pub fn load_signer_with(var: &dyn Fn(&str) -> Option<OsString>) -> Result<SigningIdentity, LoadError> {
    let text = |name: &str| var(name).map(|v| v.to_string_lossy().into_owned());
    let env = SignerEnv {
        key_hex: text(KEY_HEX_VAR).map(Zeroizing::new),
        key_file: text(KEY_FILE_VAR),
        require: text(REQUIRE_KEY_VAR),
    };
    load_signer(&env, &OsKeyFiles)
}

/// [`load_signer_with`] over the process environment: exactly the CLI's rules.
pub fn signer_from_env() -> Result<SigningIdentity, LoadError> {
    load_signer_with(&|name| std::env::var_os(name))
}

/// Why a file could not be read as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadProblem {
    /// Nothing is at that path.
    NotFound,
    /// The path is a directory.
    IsDirectory,
    /// The path is a device, socket or pipe.
    NotRegularFile,
    /// The file is larger than the reader accepts.
    TooLarge {
        /// Its size, in bytes.
        len: u64,
        /// The most accepted, in bytes.
        max: u64,
    },
    /// The file holds NUL bytes: it is binary, not a text file.
    Binary,
    /// The file is not valid UTF-8.
    NotUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// Permission denied.
    PermissionDenied,
    /// Another I/O error.
    Io(io::ErrorKind),
}

impl fmt::Display for ReadProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadProblem::NotFound => f.write_str("no such file"),
            ReadProblem::IsDirectory => f.write_str("it is a directory"),
            ReadProblem::NotRegularFile => f.write_str("it is not a regular file"),
            ReadProblem::TooLarge { len, max } => write!(f, "it is {len} bytes, more than the {max} bytes accepted"),
            ReadProblem::Binary => f.write_str("it is a binary file (it holds NUL bytes)"),
            ReadProblem::NotUtf8 { offset } => {
                write!(f, "it is not valid UTF-8 (first bad byte at offset {offset})")
            }
            ReadProblem::PermissionDenied => f.write_str("permission denied"),
            ReadProblem::Io(kind) => write!(f, "{kind}"),
        }
    }
}

impl std::error::Error for ReadProblem {}

impl ReadProblem {
    /// A hint for the user, if there is one.
    pub fn help(&self) -> Option<String> {
        match self {
            ReadProblem::IsDirectory | ReadProblem::NotRegularFile | ReadProblem::Binary => {
                Some("pass the path of a regular text file".to_owned())
            }
            ReadProblem::NotUtf8 { .. } => Some("save the file as UTF-8".to_owned()),
            _ => None,
        }
    }

    /// The problem an I/O error amounts to.
    pub fn from_io_error(error: &io::Error) -> Self {
        match error.kind() {
            io::ErrorKind::NotFound => ReadProblem::NotFound,
            io::ErrorKind::PermissionDenied => ReadProblem::PermissionDenied,
            io::ErrorKind::IsADirectory => ReadProblem::IsDirectory,
            kind => ReadProblem::Io(kind),
        }
    }
}

/// Opens a file to read: regular files only, checked before opening (so a named pipe cannot
/// hang the reader waiting for a writer) and again on the opened handle (so a swap between the
/// check and the open cannot hand back a device that streams forever).
pub fn open_regular(path: &Path) -> Result<File, ReadProblem> {
    let before = std::fs::metadata(path).map_err(|e| ReadProblem::from_io_error(&e))?;
    if before.is_dir() {
        return Err(ReadProblem::IsDirectory);
    }
    if !before.is_file() {
        return Err(ReadProblem::NotRegularFile);
    }
    let file = File::open(path).map_err(|e| ReadProblem::from_io_error(&e))?;
    let meta = file.metadata().map_err(|e| ReadProblem::from_io_error(&e))?;
    if meta.is_dir() {
        return Err(ReadProblem::IsDirectory);
    }
    if !meta.is_file() {
        return Err(ReadProblem::NotRegularFile);
    }
    Ok(file)
}

/// Reads `path` as UTF-8 text of at most `max` bytes: regular files only (see
/// [`open_regular`]), no NUL bytes.
pub fn read_text(path: &Path, max: u64) -> Result<String, ReadProblem> {
    let file = open_regular(path)?;
    let len = file.metadata().map_err(|e| ReadProblem::from_io_error(&e))?.len();
    if len > max {
        return Err(ReadProblem::TooLarge { len, max });
    }
    // The file may grow after the size check: read at most one byte past the limit.
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes).map_err(|e| ReadProblem::from_io_error(&e))?;
    if bytes.len() as u64 > max {
        return Err(ReadProblem::TooLarge { len: bytes.len() as u64, max });
    }
    if bytes.contains(&0) {
        return Err(ReadProblem::Binary);
    }
    String::from_utf8(bytes).map_err(|e| ReadProblem::NotUtf8 { offset: e.utf8_error().valid_up_to() })
}

/// Creates a file that must not exist yet, with `mode` set by the same call that creates it (no
/// moment where another user could open it with looser permissions).
pub fn create_new(path: &Path, mode: u32) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    options.open(path)
}

/// Writes `bytes` to a new file at `path` (never over an existing one) with `mode`, and syncs
/// it to disk. For secrets and salts, `mode` is `0o600`.
pub fn write_new(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let mut file = create_new(path, mode)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Creates `dir` and its missing parents, owner-only (`0o700`) where they are new: run logs
/// and salts are private to the user who runs the kernel.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// The salt file beside a log: the same name with the extension `salt`.
pub fn salt_path(log: &Path) -> PathBuf {
    log.with_extension("salt")
}

/// Reads a salt file: 64 lowercase hex characters and a newline, owner-only on Unix (judged
/// on the file that was opened, not on the path).
pub fn read_salt(path: &Path) -> Result<EvidenceSalt, RunFileError> {
    let file = open_regular(path).map_err(RunFileError::Read)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = file.metadata().map_err(|e| RunFileError::Read(ReadProblem::from_io_error(&e)))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(RunFileError::SaltPermissions);
        }
    }
    let mut text = zeroize::Zeroizing::new(String::new());
    file.take(129).read_to_string(&mut text).map_err(|e| RunFileError::Read(ReadProblem::from_io_error(&e)))?;
    let bytes = agentk_capability::decode_hex::<32>(text.trim_end_matches('\n')).map_err(|_| RunFileError::BadSalt)?;
    Ok(EvidenceSalt::from_bytes(bytes))
}

/// Why a run's files could not be created or opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunFileError {
    /// The log directory could not be created.
    #[error("the log directory could not be created")]
    Directory(#[source] io::Error),
    /// The log directory may be written by group or others.
    #[error("the log directory may be written by group or others; use an owner-only directory")]
    DirectoryNotPrivate,
    /// The log file could not be created or opened.
    #[error(transparent)]
    Log(#[from] FileLogError),
    /// The salt file could not be written.
    #[error("the salt file could not be written")]
    WriteSalt(#[source] io::Error),
    /// The salt file could not be read.
    #[error("the salt file could not be read: {0}")]
    Read(#[source] ReadProblem),
    /// The salt file is readable or writable by others.
    #[error("the salt file is accessible to group or others; it must be owner-only")]
    SaltPermissions,
    /// The salt file does not hold a salt.
    #[error("the salt file does not hold 64 lowercase hex characters")]
    BadSalt,
}

/// A new run's files: the log (created new, owner-only, locked) and its salt beside it.
#[derive(Debug)]
pub struct NewRun {
    /// The log's path.
    pub path: PathBuf,
    /// The open log.
    pub log: FileLog,
    /// The salt that keys the log's digests.
    pub salt: EvidenceSalt,
}

/// Creates a new run in `dir` (created owner-only if missing): `<time>-<id>.jsonl` and its salt
/// `<time>-<id>.salt`, where `id` is the first 8 bytes of `log_id` in hex. The salt is written
/// (owner-only, synced) before the log exists, so a log is never left without its salt.
pub fn create_run(
    dir: &Path,
    now: u64,
    log_id: &[u8; 32],
    salt: [u8; 32],
    sync: SyncPolicy,
) -> Result<NewRun, RunFileError> {
    create_private_dir(dir).map_err(RunFileError::Directory)?;
    // SECURITY: a directory others may write lets them remove or replace a run's files (the
    // files themselves are created exclusively and owner-only, but a directory entry is not).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(dir).map_err(RunFileError::Directory)?;
        let sticky = meta.permissions().mode() & 0o1000 != 0;
        if meta.permissions().mode() & 0o022 != 0 && !sticky {
            return Err(RunFileError::DirectoryNotPrivate);
        }
    }
    let stem = format!("{now}-{}", encode_hex(log_id.get(..8).unwrap_or_default()));
    let path = dir.join(format!("{stem}.jsonl"));
    let salt_file = salt_path(&path);
    write_new(&salt_file, format!("{}\n", encode_hex(&salt)).as_bytes(), 0o600).map_err(RunFileError::WriteSalt)?;
    let log = FileLog::create(&path, sync)?;
    Ok(NewRun { path, log, salt: EvidenceSalt::from_bytes(salt) })
}
