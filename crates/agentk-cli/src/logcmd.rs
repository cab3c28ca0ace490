//! Flight-log commands: `verify`, `checkpoint`, `log-recover`.

use std::ffi::OsStr;
use std::io::Write;
use std::path::Path;

use agentk_capability::{PublicKey, SigningIdentity, TrustedSigners, decode_hex, encode_hex};
use agentk_flightlog::event::Hash32;
use agentk_flightlog::file::{FileLogError, recover, verify_reader};
use agentk_flightlog::saved::{ProofFile, SavedCheckpoint, SavedError};
use agentk_flightlog::verify::{ChainVerified, ChainVerifier};
use agentk_labels::SafeText;
use serde::Serialize;

use crate::{CliError, TrustArgs, exit, input, keys};

/// An I/O failure reading `path`: "could not answer" (exit 1), never "answered no".
pub(crate) fn read_error(path: &OsStr, kind: std::io::ErrorKind) -> CliError {
    CliError::Read { path: SafeText::with_limit(&path.to_string_lossy(), 256), problem: input::ReadProblem::Io(kind) }
}

/// Settles a streaming pass over a log: I/O failures become errors, any other failure is a
/// failed verification, reported on `out`, with its exit code.
fn settle(
    outcome: Result<ChainVerified, FileLogError>,
    path: &OsStr,
    out: &mut dyn Write,
) -> Result<Result<ChainVerified, u8>, CliError> {
    match outcome {
        Ok(verified) => Ok(Ok(verified)),
        Err(FileLogError::Io(kind)) => Err(read_error(path, kind)),
        Err(other) => {
            writeln!(out, "verification failed: {other}")?;
            Ok(Err(exit::VERIFY_FAILED))
        }
    }
}

/// Why a verification answered "no" (exit 4) rather than "could not answer" (exit 1).
pub(crate) enum Failure {
    Log(FileLogError),
    Checkpoint(&'static str),
    UnsignedTail(u64),
}

/// Opens a file to stream (a log, an override file, a candidate): regular files only, so a
/// pipe or a device can neither hang the command nor feed it without end.
pub(crate) fn open(path: &OsStr) -> Result<std::fs::File, CliError> {
    let problem = |problem| CliError::Read { path: SafeText::with_limit(&path.to_string_lossy(), 256), problem };
    let meta = std::fs::metadata(Path::new(path)).map_err(|e| problem(input::ReadProblem::from_io_error(&e)))?;
    if meta.is_dir() {
        return Err(problem(input::ReadProblem::IsDirectory));
    }
    if !meta.is_file() {
        return Err(problem(input::ReadProblem::NotRegularFile));
    }
    std::fs::File::open(Path::new(path)).map_err(|e| problem(input::ReadProblem::from_io_error(&e)))
}

/// Parses and checks a saved checkpoint: well formed and signed by the key it names.
fn load_checkpoint(path: &OsStr) -> Result<Result<(SavedCheckpoint, PublicKey, Hash32), Failure>, CliError> {
    let text = input::read_text(path)?;
    let Ok(saved) = serde_json::from_str::<SavedCheckpoint>(&text) else {
        return Ok(Err(Failure::Checkpoint("the checkpoint file is malformed")));
    };
    Ok(match saved.check() {
        Ok((signer, root)) => Ok((saved, signer, root)),
        Err(_) => Err(Failure::Checkpoint("the checkpoint is malformed or its signature fails")),
    })
}

fn verify_log(path: &OsStr, checkpoint: Option<&OsStr>) -> Result<Result<ChainVerified, Failure>, CliError> {
    let expected = match checkpoint {
        None => None,
        Some(file) => match load_checkpoint(file)? {
            Ok(loaded) => Some(loaded),
            Err(failure) => return Ok(Err(failure)),
        },
    };
    // `verify` only answers at the end, so receipt signatures can be checked in batches.
    let verifier = match &expected {
        Some((saved, _, root)) => ChainVerifier::expecting(saved.size, *root),
        None => ChainVerifier::new(),
    }
    .with_batched_signatures();
    let verified = match verify_reader(open(path)?, verifier) {
        Ok(verified) => verified,
        Err(FileLogError::Io(kind)) => return Err(read_error(path, kind)),
        Err(other) => return Ok(Err(Failure::Log(other))),
    };
    if let Some((saved, signer, _)) = expected {
        let genesis = verified.genesis();
        let same_log = genesis.is_some_and(|g| encode_hex(&g.log_id.0) == saved.log_id && g.signer == signer.to_hex());
        if !same_log {
            return Ok(Err(Failure::Checkpoint("the checkpoint belongs to another log or another signer")));
        }
    }
    Ok(Ok(verified))
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

pub(crate) fn failure_text(failure: &Failure) -> String {
    match failure {
        Failure::Log(e) => e.to_string(),
        Failure::Checkpoint(text) => (*text).to_owned(),
        Failure::UnsignedTail(n) => format!(
            "{n} event(s) after the last signed checkpoint (the log was not closed, or its tail was rewritten); --allow-unsigned-tail accepts a log still being written"
        ),
    }
}

/// What `agentk verify` is asked to require.
pub(crate) struct VerifyOptions<'a> {
    pub(crate) checkpoint: Option<&'a OsStr>,
    pub(crate) allow_unsigned_tail: bool,
    pub(crate) trust: &'a TrustArgs,
}

/// Verifies `path` and applies what `options` require: a pinned signer, a signed tail.
pub(crate) fn verify_pinned(
    path: &OsStr,
    options: &VerifyOptions<'_>,
) -> Result<(Option<TrustedSigners>, Result<ChainVerified, Failure>), CliError> {
    let trusted = keys::trusted_signers(options.trust)?;
    let mut outcome = verify_log(path, options.checkpoint)?;
    if let Ok(v) = &outcome {
        // Checkpoints prove the log's signer wrote it; pinning proves the signer is one we
        // trust, and requiring a signed tail leaves no event that could be rewritten unseen.
        let signer = v.genesis().and_then(|g| PublicKey::from_hex(&g.signer).ok());
        // A manifest's validity windows apply to the times the log's events carry.
        let pinned_ok = match (&trusted, signer, v.time_span()) {
            (Some(trusted), Some(signer), Some((first, last))) => {
                trusted.check_span(&signer, first, last.saturating_add(1)).is_ok()
            }
            (Some(trusted), Some(signer), None) => trusted.lists(&signer),
            (Some(_), None, _) => false,
            (None, _, _) => true,
        };
        let unsigned = v.events().saturating_sub(v.signed_events());
        if !pinned_ok {
            outcome = Err(Failure::Checkpoint(
                "the log's signer is not trusted (revoked, unlisted, or its window does not cover the log's events)",
            ));
        } else if !options.allow_unsigned_tail && (v.last_checkpoint().is_none() || unsigned > 1) {
            // (The closing checkpoint itself is the one event after what it signs.)
            outcome = Err(Failure::UnsignedTail(unsigned));
        }
    }
    Ok((trusted, outcome))
}

pub(crate) fn verify(
    path: &OsStr,
    options: &VerifyOptions<'_>,
    json: bool,
    out: &mut dyn Write,
) -> Result<u8, CliError> {
    let checkpoint = options.checkpoint;
    let (trusted, outcome) = verify_pinned(path, options)?;
    let report = match &outcome {
        Ok(v) => {
            let genesis = v.genesis();
            VerifyReport {
                schema: "agentk.verify.v1",
                verified: true,
                error: None,
                events: Some(v.events()),
                signed_events: Some(v.signed_events()),
                signer: genesis.and_then(|g| PublicKey::from_hex(&g.signer).ok()).map(|k| k.fingerprint().to_string()),
                development_signer: genesis.map(|g| g.development_signer),
                root: Some(encode_hex(&v.root().0)),
            }
        }
        Err(failure) => VerifyReport {
            schema: "agentk.verify.v1",
            verified: false,
            error: Some(failure_text(failure)),
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
        if trusted.is_none() {
            writeln!(out, "  note: the signer was not pinned (--trusted-public-key or --trusted-signers)")?;
        }
        if report.development_signer == Some(true) {
            writeln!(out, "  warning: signed by the public development key; the signatures prove nothing")?;
        }
        if checkpoint.is_some() {
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

/// `agentk verify-signatures`: the full verification of `verify`, with the signer pinned (a
/// log signed by the public development key fails: its signatures prove nothing), reporting
/// which key signed what.
pub(crate) fn verify_signatures(
    path: &OsStr,
    options: &VerifyOptions<'_>,
    json: bool,
    out: &mut dyn Write,
) -> Result<u8, CliError> {
    if options.trust.keys.is_empty() && options.trust.signers.is_none() {
        return Err(CliError::BadArgument {
            flag: "--trusted-public-key",
            problem: "verify-signatures pins the signer: give --trusted-public-key or --trusted-key-manifest \
                      (`agentk verify` checks integrity alone)"
                .to_owned(),
        });
    }
    let (_, mut outcome) = verify_pinned(path, options)?;
    if outcome.as_ref().is_ok_and(|v| v.genesis().is_some_and(|g| g.development_signer)) {
        outcome = Err(Failure::Checkpoint("signed by the public development key: its signatures prove nothing"));
    }
    let (verified, signers, error) = match &outcome {
        Ok(v) => {
            let signer = v.genesis().and_then(|g| PublicKey::from_hex(&g.signer).ok());
            let counts = signer.map(|key| SignerCounts {
                fingerprint: key.fingerprint().to_string(),
                trusted: true,
                development: false,
                checkpoints: v.checkpoints(),
                receipts: v.receipt_count(),
                handles: v.handle_count(),
            });
            (true, counts.into_iter().collect::<Vec<_>>(), None)
        }
        Err(failure) => (false, Vec::new(), Some(failure_text(failure))),
    };
    if json {
        let value = serde_json::json!({
            "schema": "agentk.verify-signatures.v1",
            "verified": verified,
            "error": error,
            "signers": signers,
            "events": outcome.as_ref().ok().map(ChainVerified::events),
            "signed_events": outcome.as_ref().ok().map(ChainVerified::signed_events),
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

pub(crate) fn checkpoint(path: &OsStr, json: bool, out: &mut dyn Write) -> Result<u8, CliError> {
    let verified = match verify_log(path, None)? {
        Ok(verified) => verified,
        Err(failure) => {
            writeln!(out, "verification failed: {}", failure_text(&failure))?;
            return Ok(exit::VERIFY_FAILED);
        }
    };
    let saved = SavedCheckpoint::of(&verified).ok_or(CliError::NoCheckpoint)?;
    let text = if json { serde_json::to_string(&saved)? } else { serde_json::to_string_pretty(&saved)? };
    writeln!(out, "{text}")?;
    Ok(exit::OK)
}

pub(crate) fn log_recover(path: &OsStr, apply: bool, json: bool, out: &mut dyn Write) -> Result<u8, CliError> {
    let torn = recover(Path::new(path), apply).map_err(|e| match e {
        FileLogError::Locked => CliError::LogLocked,
        other => CliError::Read {
            path: SafeText::with_limit(&path.to_string_lossy(), 256),
            problem: match other {
                FileLogError::Io(kind) => input::ReadProblem::Io(kind),
                _ => input::ReadProblem::Io(std::io::ErrorKind::Other),
            },
        },
    })?;
    if json {
        let value = serde_json::json!({
            "schema": "agentk.log-recover.v1",
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
/// events grouped by rule and events grouped by syscall). The log must verify first.
pub(crate) fn trace_inspect(path: &OsStr, json: bool, out: &mut dyn Write) -> Result<u8, CliError> {
    use std::collections::BTreeMap;

    use agentk_flightlog::event::{Effect, EventBody};

    let mut denied_by_rule: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_syscall: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut write_error = None;
    let outcome = agentk_flightlog::file::for_each_event(open(path)?, ChainVerifier::new(), |event| {
        let mut row = InspectRow {
            schema: "agentk.trace-inspect.v1",
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
    let verified = match settle(outcome, path, out)? {
        Ok(verified) => verified,
        Err(code) => return Ok(code),
    };
    if json {
        let value = serde_json::json!({
            "schema": "agentk.trace-inspect.summary.v1",
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
pub(crate) fn prove(path: &OsStr, event: Option<u64>, from: Option<u64>, out: &mut dyn Write) -> Result<u8, CliError> {
    use agentk_flightlog::merkle::{Frontier, RangeRoots, consistency_ranges, inclusion_ranges, leaf_hash};

    let failed = |out: &mut dyn Write, failure: Failure| -> Result<u8, CliError> {
        writeln!(out, "verification failed: {}", failure_text(&failure))?;
        Ok(exit::VERIFY_FAILED)
    };
    let stream = |verifier: ChainVerifier, visit: &mut dyn FnMut(&agentk_flightlog::event::EventLine)| {
        match agentk_flightlog::file::for_each_event(open(path)?, verifier, visit) {
            Ok(verified) => Ok(Ok(verified)),
            Err(FileLogError::Io(kind)) => Err(read_error(path, kind)),
            Err(other) => Ok(Err(Failure::Log(other))),
        }
    };
    let verified = match stream(ChainVerifier::new(), &mut |_| {})? {
        Ok(verified) => verified,
        Err(failure) => return failed(out, failure),
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
    let second = stream(ChainVerifier::expecting(size, root), &mut |line| {
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
    })?;
    if let Err(failure) = second {
        return failed(out, failure);
    }
    let Some(path_roots) = roots.finish() else {
        return failed(out, Failure::Checkpoint("the log changed while the proof was made"));
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
            Some(cp) => match load_checkpoint(cp)? {
                Ok((saved, key, _)) => {
                    signer = Some(key);
                    let checked = file.verify_against(&saved).map_err(saved_text);
                    match (checked, anchors.old_checkpoint) {
                        (Err(e), _) => Err(e),
                        (Ok(()), None) => Ok("verified against the saved checkpoint"),
                        (Ok(()), Some(old)) => match load_checkpoint(old)? {
                            Ok((older, old_key, _)) if old_key == key => file
                                .extends(&older)
                                .map(|()| "verified: the saved checkpoint extends the older one")
                                .map_err(saved_text),
                            Ok(_) => Err("the older checkpoint has another signer"),
                            Err(Failure::Checkpoint(text)) => Err(text),
                            Err(_) => Err("the checkpoint is malformed or its signature fails"),
                        },
                    }
                }
                Err(Failure::Checkpoint(text)) => Err(text),
                Err(_) => Err("the checkpoint is malformed or its signature fails"),
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
                "schema": "agentk.verify-proof.v1",
                "verified": true,
                "note": note,
                "signer": fingerprint,
                "development_signer": signer.as_ref().map(|_| development),
                "pinned": trusted.is_some(),
            }),
            Err(error) => serde_json::json!({"schema": "agentk.verify-proof.v1", "verified": false, "error": error}),
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
    let outcome =
        agentk_flightlog::file::for_each_event(open(path)?, ChainVerifier::new(), |event| match &event.event {
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
                let mut request = agentk_policy::Request::new(&s.agent, SyscallKind::parse(&s.syscall), &s.target)
                    .with_labels(labels);
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
        });
    let verified = match settle(outcome, path, out)? {
        Ok(verified) => verified,
        Err(code) => return Ok(code),
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
            "schema": "agentk.audit.v1",
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

/// `agentk evidence-check`: does a candidate content match an input recorded in the log? Only
/// an auditor holding the log's salt can answer, which is the point of keying the digests.
pub(crate) fn evidence_check(
    path: &OsStr,
    event: u64,
    input_index: usize,
    candidate: &OsStr,
    salt: Option<&OsStr>,
    json: bool,
    out: &mut dyn Write,
) -> Result<u8, CliError> {
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
            problem: input::ReadProblem::TooLarge { len: content.len() as u64 },
        });
    }
    let mut recorded = None;
    let outcome = agentk_flightlog::file::for_each_event(open(path)?, ChainVerifier::new(), |line| {
        if line.seq == event
            && let EventBody::Syscall(s) = &line.event
        {
            recorded = s.inputs.get(input_index).map(|i| i.digest);
        }
    });
    if let Err(code) = settle(outcome, path, out)? {
        return Ok(code);
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
        let value = serde_json::json!({"schema": "agentk.evidence-check.v1", "event": event, "input": input_index, "matches": matches});
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
    fn chain_errors_are_verification_failures() {
        // A chain error is an answer ("no"), not a failure to answer.
        let failure = super::Failure::Log(agentk_flightlog::file::FileLogError::Chain(
            agentk_flightlog::verify::ChainError::Empty,
        ));
        assert_eq!(super::failure_text(&failure), "the log is empty");
    }
}
