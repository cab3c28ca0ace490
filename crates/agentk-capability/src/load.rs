//! Choosing the signing key (C4), as a pure function of injected inputs: the environment
//! values and a key-file reader. The real environment and file system are read by the caller
//! (the CLI, later the kernel), so every case is testable without touching either.

use zeroize::Zeroizing;

use crate::LoadError;
use crate::keys::{SignerSource, SigningIdentity};

/// The three environment variables that choose the signer, as read by the caller.
#[derive(Default)]
pub struct SignerEnv {
    /// `AGENTK_SIGNING_KEY_HEX`, if set.
    pub key_hex: Option<Zeroizing<String>>,
    /// `AGENTK_SIGNING_KEY_FILE`, if set.
    pub key_file: Option<String>,
    /// `AGENTK_REQUIRE_SIGNING_KEY`, if set.
    pub require: Option<String>,
}

impl std::fmt::Debug for SignerEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignerEnv")
            .field("key_hex", &self.key_hex.as_ref().map(|_| "<redacted>"))
            .field("key_file", &self.key_file.as_ref().map(|_| "<path>"))
            .field("require", &self.require)
            .finish()
    }
}

/// A key file as read: its bytes and, on Unix, the permission bits of the file and of its
/// directory.
pub struct KeyFile {
    /// The file's contents (at most a few hundred bytes are ever needed).
    pub contents: Zeroizing<Vec<u8>>,
    /// The file's mode bits, where the platform has them.
    pub file_mode: Option<u32>,
    /// The containing directory's mode bits, where the platform has them.
    pub dir_mode: Option<u32>,
}

/// Reads key files. The CLI implements it over the real file system; tests over a map.
pub trait KeyFileReader {
    /// Reads the key file at `path`, or says why not.
    fn read(&self, path: &str) -> Result<KeyFile, KeyFileProblem>;
}

/// Why a key file could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyFileProblem {
    /// Nothing is there.
    NotFound,
    /// Not a regular file.
    NotRegularFile,
    /// Permission denied.
    PermissionDenied,
    /// Larger than any key file.
    TooLarge,
    /// Another I/O error.
    Io,
}

/// The key file format: the 32-byte secret as 64 lowercase hex characters, optionally followed
/// by one newline, and nothing else.
pub const KEY_FILE_FORMAT: &str = "64 lowercase hex characters and an optional final newline";

/// Chooses the signer: `AGENTK_SIGNING_KEY_HEX`, else `AGENTK_SIGNING_KEY_FILE`, else the
/// development key. A set but invalid value is an error, never a fall-back to the next source.
/// With `AGENTK_REQUIRE_SIGNING_KEY=1` the development key is refused, however it was given. Key files must not be
/// readable by group or others, nor sit in a directory writable by them.
pub fn load_signer(env: &SignerEnv, files: &dyn KeyFileReader) -> Result<SigningIdentity, LoadError> {
    let required = match env.require.as_deref() {
        None | Some("" | "0") => false,
        Some("1") => true,
        Some(_) => return Err(LoadError::InvalidRequireFlag),
    };
    let configured = if let Some(hex) = &env.key_hex {
        SigningIdentity::from_secret_hex(hex, SignerSource::EnvHex).map_err(|_| LoadError::InvalidHex)?
    } else if let Some(path) = &env.key_file {
        let file = files.read(path).map_err(LoadError::KeyFile)?;
        check_permissions(&file)?;
        let contents = file.contents.as_slice();
        let hex = contents.strip_suffix(b"\n").unwrap_or(contents);
        let hex = std::str::from_utf8(hex).map_err(|_| LoadError::MalformedKeyFile)?;
        SigningIdentity::from_secret_hex(hex, SignerSource::File).map_err(|_| LoadError::MalformedKeyFile)?
    } else {
        SigningIdentity::development()
    };
    // SECURITY: the development key is refused however it arrives, including when it was
    // pasted into the variable or a key file.
    if required && configured.is_development() {
        return Err(LoadError::DevelopmentKeyRefused);
    }
    Ok(configured)
}

/// Owner-only key files in directories only the owner can write.
pub fn check_permissions(file: &KeyFile) -> Result<(), LoadError> {
    if file.file_mode.is_some_and(|mode| mode & 0o077 != 0) {
        return Err(LoadError::LooseFilePermissions);
    }
    if file.dir_mode.is_some_and(|mode| mode & 0o022 != 0) {
        return Err(LoadError::LooseDirectoryPermissions);
    }
    Ok(())
}
