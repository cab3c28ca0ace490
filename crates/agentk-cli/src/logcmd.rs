//! Flight-log commands: `verify`, `verify-signatures`, `checkpoint`, `trace-inspect`, `audit`,
//! `evidence-check`, the proofs and `log-recover`. Every reader decides whether the log is
//! accepted through one library function, [`agentk_flightlog::accept::accept`], with the flags
//! of [`LogSource`]; what is here is argument handling and printing.

use std::ffi::OsStr;
use std::io::{Seek, Write};
use std::path::Path;

use agentk_capability::{PublicKey, SigningIdentity, decode_hex, encode_hex};
use agentk_flightlog::accept::{Acceptance, Accepted, Rejection, SignatureChecks, accept};
use agentk_flightlog::event::{EventLine, Hash32};
use agentk_flightlog::file::{FileLogError, recover};
use agentk_flightlog::saved::{ProofFile, SavedCheckpoint, SavedError};
use agentk_labels::SafeText;
use serde::Serialize;

use crate::{CliError, LogSource, TrustArgs, exit, input, keys};

/// An I/O failure reading `path`: "could not answer" (exit 1), never "answered no".
pub(crate) fn read_error(path: &OsStr, error: &std::io::Error) -> CliError {
    CliError::Read {
        path: SafeText::with_limit(&path.to_string_lossy(), 256),
        problem: input::ReadProblem::from_io_error(error),
    }
}

/// Opens a file to stream (a log, an override file, a candidate): regular files only, checked
/// before opening and on the opened handle, so a pipe or a device can neither hang the command
/// nor feed it without end.
pub(crate) fn open(path: &OsStr) -> Result<std::fs::File, CliError> {
    let problem = |problem| CliError::Read { path: SafeText::with_limit(&path.to_string_lossy(), 256), problem };
    let regular = |meta: std::fs::Metadata| match () {
        () if meta.is_dir() => Err(problem(input::ReadProblem::IsDirectory)),
        () if !meta.is_file() => Err(problem(input::ReadProblem::NotRegularFile)),
        () => Ok(()),
    };
    regular(std::fs::metadata(Path::new(path)).map_err(|e| problem(input::ReadProblem::from_io_error(&e)))?)?;
    let file = std::fs::File::open(Path::new(path)).map_err(|e| problem(input::ReadProblem::from_io_error(&e)))?;
    regular(file.metadata().map_err(|e| problem(input::ReadProblem::from_io_error(&e)))?)?;
    Ok(file)
}

/// Reads a saved checkpoint file (a malformed one is a refusal, exit 4, like a bad signature).
fn load_checkpoint(path: &OsStr) -> Result<Result<SavedCheckpoint, Rejection>, CliError> {
    let text = input::read_text(path)?;
    Ok(serde_json::from_str::<SavedCheckpoint>(&text).map_err(|_| Rejection::BadCheckpoint(SavedError::BadCheckpoint)))
}

/// The acceptance a reader's flags ask for, with `signatures` checked.
pub(crate) fn acceptance(
    source: &LogSource,
    signatures: SignatureChecks,
) -> Result<Result<Acceptance, Rejection>, CliError> {
    let checkpoint = match source.checkpoint.as_deref().map(load_checkpoint).transpose()? {
        Some(Err(rejection)) => return Ok(Err(rejection)),
        Some(Ok(saved)) => Some(saved),
        None => None,
    };
    Ok(Ok(Acceptance {
        allow_unsigned_tail: source.allow_unsigned_tail,
        trusted: keys::trusted_signers(&source.trust)?,
        checkpoint,
        signatures,
        ..Acceptance::default()
    }))
}

/// Decides whether the log at `path` is accepted, handing each event to `visit` as it goes:
/// `Ok(Err(..))` is the answer "not accepted" (exit 4); `Err` is "could not answer" (exit 1).
pub(crate) fn read_log(
    path: &OsStr,
    acceptance: Result<Acceptance, Rejection>,
    visit: impl FnMut(&EventLine),
) -> Result<Result<Accepted, Rejection>, CliError> {
    let acceptance = match acceptance {
        Ok(acceptance) => acceptance,
        Err(rejection) => return Ok(Err(rejection)),
    };
    settle(path, accept(open(path)?, &acceptance, visit))
}

/// Sorts a reader's outcome into "answered" (`Ok`) and "could not answer" (`Err`).
pub(crate) fn settle<T>(path: &OsStr, outcome: Result<T, Rejection>) -> Result<Result<T, Rejection>, CliError> {
    match outcome {
        Err(Rejection::Io(error)) => Err(read_error(path, &error)),
        other => Ok(other),
    }
}

/// [`read_log`] with the flags of `source` and the default signature checks.
pub(crate) fn read_source(
    path: &OsStr,
    source: &LogSource,
    visit: impl FnMut(&EventLine),
) -> Result<Result<Accepted, Rejection>, CliError> {
    read_log(path, acceptance(source, SignatureChecks::default())?, visit)
}

/// The one-line text of a refusal, with the flag that would accept a log still being written.
pub(crate) fn rejection_text(rejection: &Rejection) -> String {
    match rejection {
        Rejection::UnsignedTail { .. } => {
            format!("{rejection}; --allow-unsigned-tail accepts a log still being written")
        }
        other => other.to_string(),
    }
}

/// Reports a log that was not accepted: `verification failed: ...` on stdout, or with `--json`
/// one `agentk.error.v1` object (with `"verified": false`); exit 4 either way.
pub(crate) fn rejected(rejection: &Rejection, json: bool, out: &mut dyn Write) -> Result<u8, CliError> {
    if json {
        let report = agentk_replay::schema::ErrorReport::unverified(rejection_text(rejection));
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
    } else {
        writeln!(out, "verification failed: {}", rejection_text(rejection))?;
    }
    Ok(exit::VERIFY_FAILED)
}

#[derive(Serialize)]
struct VerifyReport {
    schema: &'static str,
    verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    events: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    signed_events: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    signer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    development_signer: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    root: Option<String>,
}

/// `agentk verify`: whether the log is accepted, and what it holds.
pub(crate) fn verify(path: &OsStr, source: &LogSource, json: bool, out: &mut dyn Write) -> Result<u8, CliError> {
    let outcome = read_source(path, source, |_| {})?;
    let report = match &outcome {
        Ok(v) => VerifyReport {
            schema: agentk_replay::schema::VERIFY,
            verified: true,
            error: None,
            events: Some(v.events()),
            signed_events: Some(v.signed_events()),
            signer: Some(v.signer().fingerprint().to_string()),
            development_signer: v.genesis().map(|g| g.development_signer),
            root: Some(encode_hex(&v.root().0)),
        },
        Err(rejection) => VerifyReport {
            schema: agentk_replay::schema::VERIFY,
            verified: false,
            error: Some(rejection_text(rejection)),
            events: None,
            signed_events: None,
            signer: None,
            development_signer: None,
            root: None,
        },
    };
    if json {
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
    } else if let Ok(v) = &outcome {
        writeln!(
            out,
            "verified: {} events, chain intact; {} covered by signed checkpoints, {} after the last",
            v.events(),
            v.signed_events(),
            v.events() - v.signed_events()
        )?;
        if let Some(signer) = &report.signer {
            writeln!(out, "  signer: {signer}")?;
        }
        if !v.pinned() {
            writeln!(out, "  note: the signer was not pinned (--trusted-public-key or --trusted-signers)")?;
        }
        if report.development_signer == Some(true) {
            writeln!(out, "  warning: signed by the public development key; the signatures prove nothing")?;
        }
        if v.against_checkpoint() {
            writeln!(out, "  consistent with the saved checkpoint")?;
        }
    } else {
        writeln!(out, "verification failed: {}", report.error.unwrap_or_default())?;
    }
    Ok(if outcome.is_ok() { exit::OK } else { exit::VERIFY_FAILED })
}

#[derive(Serialize)]
struct SignerCounts {
    fingerprint: String,
    trusted: bool,
    development: bool,
    checkpoints: u64,
    receipts: u64,
    handles: u64,
}

/// `agentk verify-signatures`: what `verify` accepts, with the signer pinned (mandatory), every
/// receipt and handle signature checked on its own, and a log signed by the public development
/// key refused (its signatures prove nothing); reports which key signed what.
pub(crate) fn verify_signatures(
    path: &OsStr,
    source: &LogSource,
    json: bool,
    out: &mut dyn Write,
) -> Result<u8, CliError> {
    if source.trust.keys.is_empty() && source.trust.signers.is_none() {
        return Err(CliError::BadArgument {
            flag: "--trusted-public-key",
            problem: "verify-signatures pins the signer: give --trusted-public-key or --trusted-key-manifest \
                      (`agentk verify` checks integrity alone)"
                .to_owned(),
        });
    }
    let acceptance = acceptance(source, SignatureChecks::Every)?
        .map(|acceptance| Acceptance { refuse_development_signer: true, ..acceptance });
    let outcome = read_log(path, acceptance, |_| {})?;
    let (verified, signers, error) = match &outcome {
        Ok(v) => {
            let counts = SignerCounts {
                fingerprint: v.signer().fingerprint().to_string(),
                trusted: true,
                development: false,
                checkpoints: v.checkpoints(),
                receipts: v.receipt_count(),
                handles: v.handle_count(),
            };
            (true, vec![counts], None)
        }
        Err(rejection) => (false, Vec::new(), Some(rejection_text(rejection))),
    };
    if json {
        let value = serde_json::json!({
            "schema": agentk_replay::schema::VERIFY_SIGNATURES,
            "verified": verified,
            "error": error,
            "signers": signers,
            "events": outcome.as_ref().ok().map(|v| v.events()),
            "signed_events": outcome.as_ref().ok().map(|v| v.signed_events()),
        });
        writeln!(out, "{value}")?;
    } else if let Ok(v) = &outcome {
        writeln!(
            out,
            "signatures verified: {} of {} events covered by signed checkpoints",
            v.signed_events(),
            v.events()
        )?;
        for s in &signers {
            writeln!(
                out,
                "  signer {} (trusted): {} checkpoint(s), {} receipt(s), {} secret handle(s)",
                s.fingerprint, s.checkpoints, s.receipts, s.handles
            )?;
        }
    } else {
        writeln!(out, "signature verification failed: {}", error.unwrap_or_default())?;
    }
    Ok(if verified { exit::OK } else { exit::VERIFY_FAILED })
}

/// `agentk checkpoint`: the accepted log's latest signed checkpoint, to keep elsewhere.
pub(crate) fn checkpoint(path: &OsStr, source: &LogSource, json: bool, out: &mut dyn Write) -> Result<u8, CliError> {
    let accepted = match read_source(path, source, |_| {})? {
        Ok(accepted) => accepted,
        Err(rejection) => return rejected(&rejection, json, out),
    };
    let saved = SavedCheckpoint::of(&accepted).ok_or(CliError::NoCheckpoint)?;
    let text = if json { serde_json::to_string(&saved)? } else { serde_json::to_string_pretty(&saved)? };
    writeln!(out, "{text}")?;
    Ok(exit::OK)
}

/// `agentk log-recover`: reports a torn last line, and drops it with `--apply` once what is kept
/// has verified as a flight log. Regular files only.
pub(crate) fn log_recover(path: &OsStr, apply: bool, json: bool, out: &mut dyn Write) -> Result<u8, CliError> {
    let shown = || SafeText::with_limit(&path.to_string_lossy(), 256);
    let torn = match recover(Path::new(path), apply) {
        Ok(torn) => torn,
        Err(FileLogError::Locked) => return Err(CliError::LogLocked),
        Err(FileLogError::NotRegularFile) => {
            return Err(CliError::Read { path: shown(), problem: input::ReadProblem::NotRegularFile });
        }
        Err(FileLogError::NotAFlightLog(rejection)) if !rejection.is_read_failure() => {
            let refusal = format!("what would be kept is not a flight log ({rejection}); nothing was changed");
            if json {
                let report = agentk_replay::schema::ErrorReport::unverified(refusal);
                writeln!(out, "{}", serde_json::to_string(&report)?)?;
            } else {
                writeln!(out, "verification failed: {refusal}")?;
            }
            return Ok(exit::VERIFY_FAILED);
        }
        Err(FileLogError::Io(e)) => {
            return Err(CliError::Read { path: shown(), problem: input::ReadProblem::from_io_error(&e) });
        }
        Err(_) => {
            return Err(CliError::Read { path: shown(), problem: input::ReadProblem::Io(std::io::ErrorKind::Other) });
        }
    };
    if json {
        let value = serde_json::json!({
            "schema": agentk_replay::schema::LOG_RECOVER,
            "torn": torn.is_some(),
            "offset": torn.map(|t| t.offset),
            "bytes": torn.map(|t| t.bytes),
            "applied": apply && torn.is_some(),
        });
        writeln!(out, "{value}")?;
        return Ok(exit::OK);
    }
    match torn {
        None => writeln!(out, "the log ends cleanly; nothing to recover")?,
        Some(t) if apply => writeln!(out, "dropped the torn last line: {} bytes at offset {}", t.bytes, t.offset)?,
        Some(t) => writeln!(
            out,
            "the last line is torn: {} bytes at offset {} would be lost; run again with --apply to drop them",
            t.bytes, t.offset
        )?,
    }
    Ok(exit::OK)
}

/// One row of `trace-inspect`: what happened, with every input as hash evidence.
#[derive(Serialize)]
struct InspectRow {
    schema: &'static str,
    seq: u64,
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    decision: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    agent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    syscall: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<String>,
    inputs: Vec<InputEvidence>,
    receipt: bool,
    handle: bool,
    /// For an output event: what became of the action, and its output as hash evidence.
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<OutputEvidence>,
}

#[derive(Serialize)]
struct OutputEvidence {
    /// The event that allowed the action.
    from: u64,
    outcome: agentk_labels::Outcome,
    labels: agentk_labels::LabelSet,
    digest: String,
}

#[derive(Serialize)]
struct InputEvidence {
    labels: agentk_labels::LabelSet,
    /// The keyed digest, shortened: evidence to match against, never content.
    digest: String,
    /// The earlier event whose output this input is, when recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<u64>,
}

fn short(hash: &Hash32) -> String {
    format!("h:{}", encode_hex(hash.0.get(..8).unwrap_or_default()))
}

/// `agentk trace-inspect LOG`: a redacted review, streamed (one row per event, then blocked
/// events grouped by rule and events grouped by syscall). Nothing is printed before the log is
/// accepted: a first pass decides, a second pass over the same open file prints the rows,
/// checked to be the events the first pass accepted.
pub(crate) fn trace_inspect(path: &OsStr, source: &LogSource, json: bool, out: &mut dyn Write) -> Result<u8, CliError> {
    use std::collections::BTreeMap;

    use agentk_flightlog::event::{Effect, EventBody};

    let file = open(path)?;
    let accepted = match acceptance(source, SignatureChecks::default())? {
        Err(rejection) => return rejected(&rejection, json, out),
        Ok(acceptance) => match settle(path, accept(&file, &acceptance, |_| {}))? {
            Ok(accepted) => accepted,
            Err(rejection) => return rejected(&rejection, json, out),
        },
    };
    (&file).rewind().map_err(|e| read_error(path, &e))?;
    let mut denied_by_rule: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_syscall: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut write_error = None;
    // SECURITY: the second pass is tied to the first by the Merkle root over every accepted
    // event; a file changed in place between the passes fails it (after the rows read so far).
    let second = accepted.again(&file, |event| {
        let mut row = InspectRow {
            schema: agentk_replay::schema::TRACE_INSPECT,
            seq: event.seq,
            kind: "genesis",
            decision: None,
            rule: None,
            agent: None,
            syscall: None,
            target: None,
            inputs: Vec::new(),
            receipt: false,
            handle: false,
            output: None,
        };
        match &event.event {
            EventBody::Genesis(_) => {}
            EventBody::Checkpoint(_) => row.kind = "checkpoint",
            EventBody::Output(o) => {
                row.kind = "output";
                row.output = Some(OutputEvidence {
                    from: o.from,
                    outcome: o.outcome,
                    labels: o.labels,
                    digest: short(&o.digest),
                });
            }
            EventBody::Syscall(s) => {
                let allowed = s.decision == Effect::Allow;
                row.kind = "syscall";
                row.decision = Some(if allowed { "allow" } else { "deny" });
                row.rule = Some(SafeText::new(&s.rule).as_str().to_owned());
                row.agent = Some(SafeText::new(&s.agent).as_str().to_owned());
                row.syscall = Some(SafeText::new(&s.syscall).as_str().to_owned());
                row.target = Some(SafeText::new(&s.target).as_str().to_owned());
                row.inputs = s
                    .inputs
                    .iter()
                    .map(|i| InputEvidence { labels: i.labels, digest: short(&i.digest), from: i.from })
                    .collect();
                row.receipt = s.receipt.is_some();
                row.handle = s.handle.is_some();
                let counts = by_syscall.entry(SafeText::new(&s.syscall).as_str().to_owned()).or_default();
                if allowed {
                    counts.0 += 1;
                } else {
                    counts.1 += 1;
                    *denied_by_rule.entry(SafeText::new(&s.rule).as_str().to_owned()).or_default() += 1;
                }
            }
        }
        let text = if json {
            serde_json::to_string(&row).unwrap_or_default()
        } else {
            let inputs: Vec<String> = row
                .inputs
                .iter()
                .map(|i| match i.from {
                    Some(from) => format!("{} {} from #{from}", i.labels, i.digest),
                    None => format!("{} {}", i.labels, i.digest),
                })
                .collect();
            match row.kind {
                "syscall" => format!(
                    "{:>5}  {:<5} {:<26} {} {} `{}`  inputs: {}{}{}",
                    row.seq,
                    row.decision.unwrap_or_default(),
                    row.rule.as_deref().unwrap_or_default(),
                    row.agent.as_deref().unwrap_or_default(),
                    row.syscall.as_deref().unwrap_or_default(),
                    row.target.as_deref().unwrap_or_default(),
                    if inputs.is_empty() { "none".to_owned() } else { inputs.join("; ") },
                    if row.receipt { "  [receipt]" } else { "" },
                    if row.handle { "  [handle]" } else { "" },
                ),
                "output" => match &row.output {
                    Some(o) => format!(
                        "{:>5}  output of #{} {}  {} {}",
                        row.seq,
                        o.from,
                        if o.outcome == agentk_labels::Outcome::Ok { "ok" } else { "error" },
                        o.labels,
                        o.digest
                    ),
                    None => format!("{:>5}  output", row.seq),
                },
                kind => format!("{:>5}  {kind}", row.seq),
            }
        };
        // Rows are written as they are verified, so memory stays flat in the log's size.
        if write_error.is_none()
            && let Err(e) = writeln!(out, "{text}")
        {
            write_error = Some(e);
        }
    });
    if let Some(e) = write_error {
        return Err(e.into());
    }
    if let Err(rejection) = settle(path, second)? {
        return rejected(&rejection, json, out);
    }
    let verified = accepted;
    if json {
        let value = serde_json::json!({
            "schema": agentk_replay::schema::TRACE_INSPECT_SUMMARY,
            "events": verified.events(),
            "denied_by_rule": denied_by_rule,
            "by_syscall": by_syscall.iter().map(|(k, (a, d))| (k.clone(), serde_json::json!({"allowed": a, "denied": d}))).collect::<BTreeMap<_, _>>(),
        });
        writeln!(out, "{value}")?;
    } else {
        writeln!(out, "\n{} events, chain intact", verified.events())?;
        writeln!(out, "denied, by rule:")?;
        for (rule, count) in &denied_by_rule {
            writeln!(out, "  {rule:<30} {count}")?;
        }
        writeln!(out, "by syscall (allowed, denied):")?;
        for (syscall, (allowed, denied)) in &by_syscall {
            writeln!(out, "  {syscall:<30} {allowed}, {denied}")?;
        }
    }
    Ok(exit::OK)
}

/// Makes a proof over a log of any length in flat memory, in two streaming passes: the first
/// verifies the log and finds its latest signed checkpoint; the second, verified against that
/// checkpoint (so it reads the same events), feeds the leaves to [`RangeRoots`].
pub(crate) fn prove(
    path: &OsStr,
    event: Option<u64>,
    from: Option<u64>,
    source: &LogSource,
    out: &mut dyn Write,
) -> Result<u8, CliError> {
    use agentk_flightlog::merkle::{Frontier, RangeRoots, consistency_ranges, inclusion_ranges, leaf_hash};

    let file = open(path)?;
    let verified = match acceptance(source, SignatureChecks::default())? {
        Err(rejection) => return rejected(&rejection, false, out),
        Ok(acceptance) => match settle(path, accept(&file, &acceptance, |_| {}))? {
            Ok(accepted) => accepted,
            Err(rejection) => return rejected(&rejection, false, out),
        },
    };
    let (Some(genesis), Some(last)) = (verified.genesis(), verified.last_checkpoint()) else {
        return Err(CliError::NoCheckpoint);
    };
    let (log_id, size, root) = (genesis.log_id, last.size, Hash32(last.root.0));
    let (ranges, old) = match (event, from) {
        (Some(index), _) => (inclusion_ranges(index, size), None),
        (None, Some(old)) => (consistency_ranges(old, size), Some(old)),
        (None, None) => (Err(agentk_flightlog::merkle::ProofError::NoSuchLeaf { index: 0, size }), None),
    };
    let mut roots = RangeRoots::new(ranges.map_err(CliError::Proof)?);
    let (mut old_frontier, mut event_hash) = (Frontier::new(), Hash32::default());
    (&file).rewind().map_err(|e| read_error(path, &e))?;
    let second = verified.again(&file, |line| {
        if line.seq >= size {
            return;
        }
        let leaf = leaf_hash(&line.hash.0);
        roots.push(line.seq, leaf);
        if old.is_some_and(|old| line.seq < old) {
            old_frontier.push(leaf);
        }
        if event == Some(line.seq) {
            event_hash = line.hash;
        }
    });
    if let Err(rejection) = settle(path, second)? {
        return rejected(&rejection, false, out);
    }
    let Some(path_roots) = roots.finish() else {
        return rejected(&Rejection::Changed, false, out);
    };
    let proof = match (event, old) {
        (Some(index), _) => ProofFile::inclusion_from(&log_id, size, &root, index, &event_hash, &path_roots),
        (None, Some(old)) => ProofFile::consistency_from(&log_id, size, &root, old, &old_frontier.root(), &path_roots),
        (None, None) => {
            return Err(CliError::Proof(agentk_flightlog::merkle::ProofError::NoSuchLeaf { index: 0, size }));
        }
    };
    writeln!(out, "{}", serde_json::to_string_pretty(&proof)?)?;
    Ok(exit::OK)
}

/// A saved checkpoint file, parsed and its signature checked, with its signer.
fn checked_checkpoint(path: &OsStr) -> Result<Result<(SavedCheckpoint, PublicKey), &'static str>, CliError> {
    Ok(match load_checkpoint(path)? {
        Ok(saved) => match saved.check() {
            Ok((key, _)) => Ok((saved, key)),
            Err(error) => Err(saved_text(error)),
        },
        Err(_) => Err("the checkpoint file is malformed"),
    })
}

fn saved_text(error: SavedError) -> &'static str {
    match error {
        SavedError::MalformedProof => "the proof file is malformed",
        SavedError::ProofFails => "the proof does not verify",
        SavedError::OtherTree => "the proof is for another tree than the checkpoint",
        _ => "the checkpoint is malformed or its signature fails",
    }
}

/// Checks a proof file. With a saved checkpoint, the proof's tree must be that checkpoint's
/// (whose signature is checked); without, only its internal consistency is checked.
/// What `agentk verify-proof` checks the proof against.
pub(crate) struct ProofAnchors<'a> {
    /// The saved checkpoint whose tree the proof must be about.
    pub(crate) checkpoint: Option<&'a OsStr>,
    /// For a consistency proof, the saved older checkpoint whose tree it must extend.
    pub(crate) old_checkpoint: Option<&'a OsStr>,
    /// Signers the checkpoints must be from.
    pub(crate) trust: &'a TrustArgs,
}

pub(crate) fn verify_proof(
    proof: &OsStr,
    anchors: &ProofAnchors<'_>,
    json: bool,
    out: &mut dyn Write,
) -> Result<u8, CliError> {
    let text = input::read_text(proof)?;
    let trusted = keys::trusted_signers(anchors.trust)?;
    if anchors.checkpoint.is_none() && (anchors.old_checkpoint.is_some() || trusted.is_some()) {
        return Err(CliError::BadArgument {
            flag: "--checkpoint",
            problem: "an older checkpoint or a pinned signer needs the checkpoint the proof is against".to_owned(),
        });
    }
    let mut signer: Option<PublicKey> = None;
    let verdict: Result<&'static str, &'static str> = match serde_json::from_str::<ProofFile>(&text) {
        Err(_) => Err("the proof file is malformed"),
        Ok(file) => match anchors.checkpoint {
            None => {
                file.verify().map(|()| "verified (not pinned to a checkpoint: pass --checkpoint)").map_err(saved_text)
            }
            Some(cp) => match checked_checkpoint(cp)? {
                Ok((saved, key)) => {
                    signer = Some(key);
                    let checked = file.verify_against(&saved).map_err(saved_text);
                    match (checked, anchors.old_checkpoint) {
                        (Err(e), _) => Err(e),
                        (Ok(()), None) => Ok("verified against the saved checkpoint"),
                        (Ok(()), Some(old)) => match checked_checkpoint(old)? {
                            Ok((older, old_key)) if old_key == key => file
                                .extends(&older)
                                .map(|()| "verified: the saved checkpoint extends the older one")
                                .map_err(saved_text),
                            Ok(_) => Err("the older checkpoint has another signer"),
                            Err(text) => Err(text),
                        },
                    }
                }
                Err(text) => Err(text),
            },
        },
    };
    // A checkpoint proves who wrote the log only when its signer is one you trust.
    let development = signer.as_ref().is_some_and(|k| *k == SigningIdentity::development_public_key());
    let verdict = match (verdict, &trusted, &signer) {
        (Ok(_), Some(trusted), Some(key)) if development || !trusted.lists(key) => {
            Err("the checkpoint's signer is not trusted (revoked, unlisted, or the development key)")
        }
        (other, _, _) => other,
    };
    let fingerprint = signer.as_ref().map(|k| k.fingerprint().to_string());
    if json {
        let value = match verdict {
            Ok(note) => serde_json::json!({
                "schema": agentk_replay::schema::VERIFY_PROOF,
                "verified": true,
                "note": note,
                "signer": fingerprint,
                "development_signer": signer.as_ref().map(|_| development),
                "pinned": trusted.is_some(),
            }),
            Err(error) => {
                serde_json::json!({"schema": agentk_replay::schema::VERIFY_PROOF, "verified": false, "error": error})
            }
        };
        writeln!(out, "{value}")?;
    } else {
        match verdict {
            Ok(note) => {
                writeln!(out, "{note}")?;
                if let Some(fingerprint) = &fingerprint {
                    writeln!(out, "  signer: {fingerprint}")?;
                }
                if development {
                    writeln!(
                        out,
                        "  warning: the checkpoint is signed with the public development key: anyone can make one; it proves nothing about who wrote the log"
                    )?;
                } else if signer.is_some() && trusted.is_none() {
                    writeln!(out, "  note: the signer was not pinned (--trusted-public-key or --trusted-signers)")?;
                }
            }
            Err(error) => writeln!(out, "verification failed: {error}")?,
        }
    }
    Ok(if verdict.is_ok() { exit::OK } else { exit::VERIFY_FAILED })
}

/// `agentk audit LOG`: who did what, what was denied and why, and what grant or approval
/// would have allowed each deny, re-derived from the policy the log was written under (its
/// hash must match the genesis record).
pub(crate) fn audit(
    path: &OsStr,
    source: &LogSource,
    policy_text: &str,
    policy: &agentk_policy::Policy,
    json: bool,
    out: &mut dyn Write,
) -> Result<u8, CliError> {
    use std::collections::BTreeMap;

    use agentk_flightlog::event::{Effect, EventBody};
    use agentk_labels::{LabelSet, SyscallKind};

    // Memory stays flat however long (or hostile) the log: at most AUDIT_LISTED agents and
    // denies are kept in full; the counts cover everything.
    const AUDIT_LISTED: usize = 1000;
    let expected_policy = agentk_flightlog::kernel::policy_hash(policy_text);
    let mut by_agent: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let (mut other_agents, mut denies_omitted, mut denied_total) = ((0u64, 0u64), 0u64, 0u64);
    let mut denies: Vec<serde_json::Value> = Vec::new();
    let mut wrong_policy = false;
    let outcome = read_source(path, source, |event| match &event.event {
        EventBody::Genesis(genesis) => wrong_policy = genesis.policy_hash != expected_policy,
        EventBody::Checkpoint(_) | EventBody::Output(_) => {}
        EventBody::Syscall(s) => {
            let agent = SafeText::new(&s.agent).as_str().to_owned();
            let room = by_agent.len() < AUDIT_LISTED;
            let counts = match by_agent.get_mut(&agent) {
                Some(counts) => counts,
                None if room => by_agent.entry(agent.clone()).or_default(),
                None => &mut other_agents,
            };
            if s.decision == Effect::Allow {
                counts.0 += 1;
                return;
            }
            counts.1 += 1;
            denied_total += 1;
            if denies.len() >= AUDIT_LISTED {
                denies_omitted += 1;
                return;
            }
            // Re-derive the explanation with the recorded facts: labels are the join of the
            // recorded inputs, the grant is the one presented.
            let labels = s.inputs.iter().fold(LabelSet::EMPTY, |set, input| set | input.labels);
            let mut request =
                agentk_policy::Request::new(&s.agent, SyscallKind::parse(&s.syscall), &s.target).with_labels(labels);
            if let Some(grant) = &s.grant {
                request = request.presenting(&grant.id);
            }
            let explanation = policy.evaluate(&request).explain(&request);
            let remedy = explanation.remedy.as_ref().map(ToString::to_string);
            denies.push(serde_json::json!({
                "seq": event.seq,
                "agent": agent,
                "syscall": SafeText::new(&s.syscall).as_str(),
                "target": SafeText::new(&s.target).as_str(),
                "rule": SafeText::new(&s.rule).as_str(),
                "reason": if explanation.rule == s.rule { Some(explanation.reason.clone()) } else { None },
                "to_allow": remedy,
            }));
        }
    })?;
    let verified = match outcome {
        Ok(verified) => verified,
        Err(rejection) => return rejected(&rejection, json, out),
    };
    if wrong_policy {
        return Err(CliError::AuditPolicyMismatch);
    }
    if json {
        let agents: BTreeMap<&String, serde_json::Value> = by_agent
            .iter()
            .map(|(a, (allowed, denied))| (a, serde_json::json!({"allowed": allowed, "denied": denied})))
            .collect();
        let value = serde_json::json!({
            "schema": agentk_replay::schema::AUDIT,
            "events": verified.events(),
            "policy": policy.name(),
            "agents": agents,
            "other_agents": {"allowed": other_agents.0, "denied": other_agents.1},
            "denied": denied_total,
            "denies": denies,
            "denies_omitted": denies_omitted,
        });
        writeln!(out, "{value}")?;
        return Ok(exit::OK);
    }
    writeln!(out, "audit of {} events under policy {}", verified.events(), SafeText::new(policy.name()))?;
    writeln!(out, "who did what (allowed, denied):")?;
    for (agent, (allowed, denied)) in &by_agent {
        writeln!(out, "  `{agent}`: {allowed}, {denied}")?;
    }
    if other_agents != (0, 0) {
        writeln!(out, "  (other agents, not listed): {}, {}", other_agents.0, other_agents.1)?;
    }
    writeln!(out, "denied, and what would have allowed it:")?;
    for deny in &denies {
        let field = |k: &str| deny.get(k).and_then(serde_json::Value::as_str).unwrap_or_default().to_owned();
        writeln!(
            out,
            "  #{} `{}` {} `{}`: rule `{}`",
            deny["seq"],
            field("agent"),
            field("syscall"),
            field("target"),
            field("rule")
        )?;
        if let Some(reason) = deny.get("reason").and_then(serde_json::Value::as_str) {
            writeln!(out, "      why: {reason}")?;
        }
        match deny.get("to_allow").and_then(serde_json::Value::as_str) {
            Some(remedy) => writeln!(out, "      to allow: {remedy}")?,
            None => writeln!(out, "      to allow: decided by the kernel, not the policy (see the rule)")?,
        }
    }
    if denies_omitted > 0 {
        writeln!(out, "  ... {denies_omitted} more denies not listed ({denied_total} in all)")?;
    }
    Ok(exit::OK)
}

/// The largest candidate `evidence-check` reads, in bytes.
const MAX_CANDIDATE_BYTES: u64 = 16 << 20;

/// What `agentk evidence-check` asks: is `candidate` input `input` of event `event`, under
/// the salt in `salt` (default: beside the log)?
pub(crate) struct EvidenceQuery<'a> {
    pub(crate) event: u64,
    pub(crate) input: usize,
    pub(crate) candidate: &'a OsStr,
    pub(crate) salt: Option<&'a OsStr>,
}

/// `agentk evidence-check`: does a candidate content match an input recorded in the log? Only
/// an auditor holding the log's salt can answer, which is the point of keying the digests. The
/// log must be accepted first.
pub(crate) fn evidence_check(
    path: &OsStr,
    source: &LogSource,
    query: &EvidenceQuery<'_>,
    json: bool,
    out: &mut dyn Write,
) -> Result<u8, CliError> {
    let EvidenceQuery { event, input: input_index, candidate, salt } = *query;
    use std::io::Read;

    use agentk_flightlog::event::EventBody;

    let salt_path = match salt {
        Some(salt) => std::path::PathBuf::from(salt),
        None => Path::new(path).with_extension("salt"),
    };
    let salt_text = input::read_text(salt_path.as_os_str())?;
    let salt = decode_hex::<32>(salt_text.trim_end_matches('\n')).map_err(|_| CliError::BadArgument {
        flag: "--salt",
        problem: "the salt file does not hold 64 lowercase hex characters".to_owned(),
    })?;
    let mut content = Vec::new();
    open(candidate)?.take(MAX_CANDIDATE_BYTES + 1).read_to_end(&mut content)?;
    if content.len() as u64 > MAX_CANDIDATE_BYTES {
        return Err(CliError::Read {
            path: SafeText::with_limit(&candidate.to_string_lossy(), 256),
            problem: input::ReadProblem::TooLarge { len: content.len() as u64, max: MAX_CANDIDATE_BYTES },
        });
    }
    let mut recorded = None;
    let outcome = read_source(path, source, |line| {
        if line.seq == event
            && let EventBody::Syscall(s) = &line.event
        {
            recorded = s.inputs.get(input_index).map(|i| i.digest);
        }
    })?;
    if let Err(rejection) = outcome {
        return rejected(&rejection, json, out);
    }
    let Some(recorded) = recorded else {
        return Err(CliError::BadArgument {
            flag: "--event",
            problem: format!("event {event} has no input {input_index}"),
        });
    };
    let candidate_digest =
        agentk_flightlog::kernel::EvidenceSalt::from_bytes(salt).input(agentk_labels::LabelSet::EMPTY, &content).digest;
    let matches = candidate_digest == recorded;
    if json {
        let value = serde_json::json!({"schema": agentk_replay::schema::EVIDENCE_CHECK, "event": event, "input": input_index, "matches": matches});
        writeln!(out, "{value}")?;
    } else if matches {
        writeln!(out, "match: the candidate is input {input_index} of event {event}")?;
    } else {
        writeln!(out, "no match: the candidate is not input {input_index} of event {event}")?;
    }
    Ok(if matches { exit::OK } else { exit::VERIFY_FAILED })
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_unsigned_tail_names_the_flag_that_accepts_it() {
        let text = super::rejection_text(&super::Rejection::UnsignedTail { events: 3 });
        assert!(text.ends_with("--allow-unsigned-tail accepts a log still being written"), "{text}");
    }
}
