//! `agentk mcp-server`: the stdio shell over [`agentk_mcp::server::DecisionServer`] (M4).
//!
//! Standard input is read as bounded lines; each line's answers go to standard output, one
//! frame per line, flushed after every batch. Standard output carries protocol frames only;
//! the one diagnostic line goes to standard error and never repeats input.

use std::io::Write;

use agentk_labels::SafeText;
use agentk_mcp::lines::{Line, LineReader};
use agentk_mcp::server::DecisionServer;

use crate::{CliError, Host, PolicyArgs, commands, exit};

/// The built-in profile every MCP front end uses when no policy is named.
const DEFAULT_PROFILE: &str = "mcp";

/// The most lines handled between two flushes.
const BATCH: usize = 64;

/// Serves MCP on stdin and stdout until stdin ends (exit 0).
pub(crate) fn run(
    host: &dyn Host,
    args: &PolicyArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, CliError> {
    let (policy, source) = match (&args.policy, &args.profile) {
        (Some(path), _) => (commands::load(args)?, path.to_string_lossy().into_owned()),
        (None, profile) => {
            let name = profile.as_deref().unwrap_or(DEFAULT_PROFILE);
            let defaulted = PolicyArgs { policy: None, profile: Some(name.to_owned()) };
            (commands::load(&defaulted)?, format!("<built-in {name}>"))
        }
    };
    writeln!(
        err,
        "agentk: mcp-server on stdio: policy {} ({}), tools decide and explain, nothing executed or recorded",
        SafeText::new(policy.name()),
        SafeText::new(&source),
    )?;
    let mut server = DecisionServer::new(policy, &source);
    let max = server.limits().max_frame_bytes;
    let mut reader = LineReader::new(host.stdin(), max);
    loop {
        let batch = match reader.batch(BATCH) {
            Ok(batch) => batch,
            Err(e) => {
                writeln!(err, "agentk: error: cannot read standard input: {}", e.kind())?;
                return Ok(exit::ERROR);
            }
        };
        if batch.is_empty() {
            return Ok(exit::OK);
        }
        for (_, line) in batch {
            let answers = match line {
                Line::Frame(bytes) => server.handle(&bytes),
                Line::TooLong { max } => vec![DecisionServer::line_too_long(max)],
            };
            for answer in answers {
                out.write_all(&answer)?;
                out.write_all(b"\n")?;
            }
        }
        out.flush()?;
    }
}
