//! The one way the CLI reads a user-named file: bounded, regular files only, UTF-8 text only
//! (the library's `agentk_flightlog::host::read_text`, with the CLI's size limit).

use std::ffi::OsStr;
use std::path::Path;

use agentk_labels::SafeText;

use crate::CliError;

/// The largest input file accepted, in bytes. Policies are capped lower by the parser.
pub const MAX_INPUT_BYTES: u64 = agentk_policy::MAX_POLICY_BYTES as u64;

pub use agentk_flightlog::host::ReadProblem;

/// Reads `path` as UTF-8 text of at most [`MAX_INPUT_BYTES`] (regular files only, no NUL bytes).
pub(crate) fn read_text(path: &OsStr) -> Result<String, CliError> {
    let shown = SafeText::with_limit(&path.to_string_lossy(), 256);
    agentk_flightlog::host::read_text(Path::new(path), MAX_INPUT_BYTES)
        .map_err(|problem| CliError::Read { path: shown, problem })
}
