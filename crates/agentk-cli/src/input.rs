//! The one way the CLI reads a user-named file: bounded, regular files only, UTF-8 text only.

use std::ffi::OsStr;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use agentk_labels::SafeText;

use crate::CliError;

/// The largest input file accepted, in bytes. Policies are capped lower by the parser.
pub const MAX_INPUT_BYTES: u64 = agentk_policy::MAX_POLICY_BYTES as u64;

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
    /// The file is larger than [`MAX_INPUT_BYTES`].
    TooLarge {
        /// Its size, in bytes.
        len: u64,
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
            ReadProblem::TooLarge { len } => {
                write!(f, "it is {len} bytes, more than the {MAX_INPUT_BYTES} bytes accepted")
            }
            ReadProblem::Binary => f.write_str("it is a binary file (it holds NUL bytes)"),
            ReadProblem::NotUtf8 { offset } => {
                write!(f, "it is not valid UTF-8 (first bad byte at offset {offset})")
            }
            ReadProblem::PermissionDenied => f.write_str("permission denied"),
            ReadProblem::Io(kind) => write!(f, "{kind}"),
        }
    }
}

impl ReadProblem {
    pub(crate) fn help(&self) -> Option<String> {
        match self {
            ReadProblem::IsDirectory | ReadProblem::NotRegularFile | ReadProblem::Binary => {
                Some("pass the path of a regular text file".to_owned())
            }
            ReadProblem::NotUtf8 { .. } => Some("save the file as UTF-8".to_owned()),
            _ => None,
        }
    }

    pub(crate) fn from_io_error(error: &io::Error) -> Self {
        match error.kind() {
            io::ErrorKind::NotFound => ReadProblem::NotFound,
            io::ErrorKind::PermissionDenied => ReadProblem::PermissionDenied,
            io::ErrorKind::IsADirectory => ReadProblem::IsDirectory,
            kind => ReadProblem::Io(kind),
        }
    }
}

/// Reads `path` as UTF-8 text of at most [`MAX_INPUT_BYTES`].
pub(crate) fn read_text(path: &OsStr) -> Result<String, CliError> {
    let shown = SafeText::with_limit(&path.to_string_lossy(), 256);
    read_bounded(Path::new(path)).map_err(|problem| CliError::Read { path: shown, problem })
}

fn read_bounded(path: &Path) -> Result<String, ReadProblem> {
    // SECURITY: opening a named pipe blocks until a writer comes; refuse anything but a regular
    // file before opening it, then check the opened file again below.
    let before = std::fs::metadata(path).map_err(|e| ReadProblem::from_io_error(&e))?;
    if before.is_dir() {
        return Err(ReadProblem::IsDirectory);
    }
    if !before.is_file() {
        return Err(ReadProblem::NotRegularFile);
    }
    let file = File::open(path).map_err(|e| ReadProblem::from_io_error(&e))?;
    // SECURITY: check the opened file, not the path, so a swap between check and read cannot
    // turn a regular file into a device or pipe that streams forever.
    let meta = file.metadata().map_err(|e| ReadProblem::from_io_error(&e))?;
    if meta.is_dir() {
        return Err(ReadProblem::IsDirectory);
    }
    if !meta.is_file() {
        return Err(ReadProblem::NotRegularFile);
    }
    if meta.len() > MAX_INPUT_BYTES {
        return Err(ReadProblem::TooLarge { len: meta.len() });
    }
    // The file may grow after the size check: read at most one byte past the limit.
    let mut bytes = Vec::new();
    file.take(MAX_INPUT_BYTES + 1).read_to_end(&mut bytes).map_err(|e| ReadProblem::from_io_error(&e))?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(ReadProblem::TooLarge { len: bytes.len() as u64 });
    }
    if bytes.contains(&0) {
        return Err(ReadProblem::Binary);
    }
    String::from_utf8(bytes).map_err(|e| ReadProblem::NotUtf8 { offset: e.utf8_error().valid_up_to() })
}
