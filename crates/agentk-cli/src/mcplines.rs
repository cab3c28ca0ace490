//! `agentk mcp-lines`: mediates a recorded MCP transcript read on standard input, one JSON-RPC
//! message per line, client and server messages interleaved as they happened. Nothing is
//! executed or forwarded; every decision lands in a new flight log, and one JSON line per
//! mediated message (`agentk.mcp-decision.v1`) or bad line (an object with `error`) goes to
//! standard output, in input order.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use agentk_flightlog::host::OsEntropy;
use agentk_flightlog::kernel::{Clock, Kernel};
use agentk_labels::SafeText;
use agentk_mcp::frame::FrameError;
use agentk_mcp::lines::{Line, LineReader};
use agentk_mcp::pins::Digest;
use agentk_mcp::session::{Config, Mediated, Session, Step};
use agentk_policy::Policy;
use serde::Serialize;

use crate::{CliError, Host, keys};

/// The most lines decided as one batch.
pub(crate) const BATCH_LINES: usize = 256;

/// Time for the session's kernel: the host's clock, read once (a transcript has no time of
/// its own).
struct FixedClock(u64);

impl Clock for FixedClock {
    fn now(&self) -> u64 {
        self.0
    }
}

/// One decision line.
#[derive(Serialize)]
struct DecisionLine<'a> {
    schema: &'static str,
    /// The input line (1-based).
    line: u64,
    #[serde(flatten)]
    mediated: &'a Mediated,
}

/// One error line: a line that could not be mediated.
#[derive(Serialize)]
struct ErrorLine {
    line: u64,
    error: LineError,
}

#[derive(Serialize)]
struct LineError {
    /// The JSON-RPC code a live session would answer with, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<i64>,
    message: String,
}

impl LineError {
    fn of(error: &FrameError) -> Self {
        LineError { code: Some(error.code()), message: error.to_string() }
    }
}

/// What a run came to, for the summary.
#[derive(Default)]
struct Tally {
    allowed: u64,
    denied: u64,
    recorded: u64,
    bad: u64,
}

/// Checks a server id: it becomes the host part of every target (`mcp://ID/TOOL`). It never
/// starts with `.` nor with `-` (given as its own argument, `--server-id -x` reads as flags).
pub(crate) fn check_server_id(id: &str) -> Result<(), CliError> {
    let fine = !id.is_empty()
        && id.len() <= 128
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !id.starts_with(['.', '-']);
    if fine {
        Ok(())
    } else {
        Err(CliError::BadArgument {
            flag: "--server-id",
            problem: format!(
                "{} is not a server id: use 1 to 128 letters, digits, '-', '_' or '.', not starting with '-' or '.'",
                SafeText::with_limit(id, 64)
            ),
        })
    }
}

/// What to mediate as: the server, where the log goes, the operator's pins.
pub(crate) struct Run<'a> {
    pub(crate) server_id: &'a str,
    pub(crate) log_dir: &'a Path,
    pub(crate) pins: BTreeMap<String, Digest>,
}

pub(crate) fn run(
    host: &dyn Host,
    policy_text: Arc<str>,
    policy: Policy,
    run: Run<'_>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, CliError> {
    let Run { server_id, log_dir, pins } = run;
    check_server_id(server_id)?;
    let signer = Arc::new(keys::active_signer(host)?);
    let mut seed = [0u8; 32];
    host.random(&mut seed).map_err(|_| CliError::Randomness)?;
    let (kernel, path) = Kernel::builder()
        .policy(policy_text, Arc::new(policy))
        .signer(signer)
        .clock(FixedClock(host.now()))
        .entropy(OsEntropy::from_seed(&seed))
        .log_dir(log_dir)
        .origin(&format!("agentk mcp-lines mcp://{server_id}"))
        .open_run()
        .map_err(CliError::Build)?;
    let mut config = Config::new(server_id);
    // A transcript's answers carry the ids their requests were sent with.
    config.remap_ids = false;
    config.pins = pins;
    let max = config.limits.max_frame_bytes;
    let mut session = Session::new(kernel, config);
    let mut reader = LineReader::new(host.stdin(), max);
    let mut tally = Tally::default();
    loop {
        let lines = reader.batch(BATCH_LINES).map_err(CliError::Input)?;
        if lines.is_empty() {
            break;
        }
        let mut numbers = Vec::with_capacity(lines.len());
        let mut frames: Vec<&[u8]> = Vec::with_capacity(lines.len());
        let mut printed: Vec<(u64, String)> = Vec::new();
        for (number, line) in &lines {
            match line {
                Line::Frame(bytes) => {
                    numbers.push(*number);
                    frames.push(bytes);
                }
                Line::TooLong { max } => {
                    tally.bad += 1;
                    let error = LineError::of(&FrameError::TooLarge { max: *max });
                    printed.push((*number, serde_json::to_string(&ErrorLine { line: *number, error })?));
                }
            }
        }
        let step = session.handle_transcript(&frames)?;
        report(&step, &numbers, &mut tally, &mut printed)?;
        // Input order: a line's decisions (a tools/list answer has one per tool) stay together.
        printed.sort_by_key(|(number, _)| *number);
        for (_, text) in printed {
            writeln!(out, "{text}")?;
        }
        out.flush()?;
    }
    let events = session.kernel().events();
    drop(session.close()?);
    writeln!(
        err,
        "agentk: mcp-lines: {} allowed, {} denied, {} answers recorded, {} bad lines; log {} ({} events, closed with a signed checkpoint)",
        tally.allowed,
        tally.denied,
        tally.recorded,
        tally.bad,
        SafeText::with_limit(&path.display().to_string(), 256),
        events + 1,
    )?;
    Ok(crate::exit::OK)
}

/// The lines one step prints, by input line.
fn report(step: &Step, numbers: &[u64], tally: &mut Tally, printed: &mut Vec<(u64, String)>) -> Result<(), CliError> {
    let line_of = |frame: usize| numbers.get(frame).copied().unwrap_or_default();
    for mediated in &step.mediated {
        match mediated.decision.as_str() {
            "allow" => tally.allowed += 1,
            "deny" => tally.denied += 1,
            _ => tally.recorded += 1,
        }
        let line = line_of(mediated.frame);
        let text =
            serde_json::to_string(&DecisionLine { schema: agentk_replay::schema::MCP_DECISION, line, mediated })?;
        printed.push((line, text));
    }
    for (frame, error) in &step.refused {
        tally.bad += 1;
        let line = line_of(*frame);
        printed.push((line, serde_json::to_string(&ErrorLine { line, error: LineError::of(error) })?));
    }
    for (frame, why) in &step.dropped {
        tally.bad += 1;
        let line = line_of(*frame);
        let error = LineError { code: None, message: format!("not mediated: {why}") };
        printed.push((line, serde_json::to_string(&ErrorLine { line, error })?));
    }
    Ok(())
}
