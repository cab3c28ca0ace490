//! Replay commands: `replay`, `fork-replay`, `fork-replay-behavior`.

use std::ffi::OsStr;
use std::io::Write;

use agentk_flightlog::accept::{Acceptance, Rejection, SignatureChecks};
use agentk_flightlog::event::Hash32;
use agentk_labels::LabelSet;
use agentk_policy::Policy;
use agentk_replay::overrides::Overrides;
use agentk_replay::{
    Cause, Change, Changes, ReplayError, ReplayReport, behavior_replay as run_behavior, fork_replay as run_fork,
    replay as run_replay,
};

use crate::{CliError, LogSource, exit, logcmd};

/// The acceptance the flags ask for (the same rule as every other reader's), or the refusal
/// already reached (a saved checkpoint that does not check).
fn acceptance(source: &LogSource) -> Result<Result<Acceptance, Rejection>, CliError> {
    logcmd::acceptance(source, SignatureChecks::default())
}

/// A log that is not accepted is an answer (exit 4, an `agentk.error.v1` object under
/// `--json`); a log that could not be read, or any other replay error, is an error (exit 1).
fn settle<T>(
    outcome: Result<T, ReplayError>,
    path: &OsStr,
    json: bool,
    out: &mut dyn Write,
) -> Result<Result<T, u8>, CliError> {
    match outcome {
        Ok(report) => Ok(Ok(report)),
        Err(ReplayError::Rejected(Rejection::Io(error))) => Err(logcmd::read_error(path, &error)),
        Err(ReplayError::Rejected(rejection)) => Ok(Err(logcmd::rejected(&rejection, json, out)?)),
        Err(ReplayError::PolicyMismatch) => Err(CliError::AuditPolicyMismatch),
        Err(e) => Err(CliError::Replay(e)),
    }
}

/// Runs `replay` over the log at `path` once the flags gave an acceptance.
fn run<T>(
    path: &OsStr,
    source: &LogSource,
    json: bool,
    out: &mut dyn Write,
    replay: impl FnOnce(std::fs::File, Acceptance) -> Result<T, ReplayError>,
) -> Result<Result<T, u8>, CliError> {
    let acceptance = match acceptance(source)? {
        Ok(acceptance) => acceptance,
        Err(rejection) => return Ok(Err(logcmd::rejected(&rejection, json, out)?)),
    };
    let outcome = replay(logcmd::open(path)?, acceptance);
    settle(outcome, path, json, out)
}

/// One report object: its schema, whether the log verified, and the report's fields.
fn write_json(
    out: &mut dyn Write,
    schema: &'static str,
    verified: bool,
    report: &impl serde::Serialize,
) -> Result<(), CliError> {
    let envelope = agentk_replay::schema::Envelope { schema, verified, report };
    writeln!(out, "{}", serde_json::to_string(&envelope)?)?;
    Ok(())
}

fn short(hash: &Hash32) -> String {
    hash.to_hex().chars().take(16).collect()
}

fn labels(labels: Option<LabelSet>) -> String {
    labels.map_or_else(|| "(no output)".to_owned(), |l| l.to_string())
}

/// `agentk replay`: exit 0 when every decision is reproduced, 4 when the log does not verify or
/// a decision diverges.
pub(crate) fn replay(
    path: &OsStr,
    source: &LogSource,
    policy_text: &str,
    policy: &Policy,
    json: bool,
    out: &mut dyn Write,
) -> Result<u8, CliError> {
    const SCHEMA: &str = agentk_replay::schema::REPLAY;
    let outcome = run(path, source, json, out, |file, acceptance| run_replay(file, policy_text, policy, acceptance))?;
    let report = match outcome {
        Ok(report) => report,
        Err(code) => return Ok(code),
    };
    let code = if report.reproduced_all() { exit::OK } else { exit::VERIFY_FAILED };
    if json {
        write_json(out, SCHEMA, report.reproduced_all(), &report)?;
        return Ok(code);
    }
    write_replay(&report, out)?;
    Ok(code)
}

fn write_replay(report: &ReplayReport, out: &mut dyn Write) -> Result<(), CliError> {
    let divergences = report.divergences.total();
    writeln!(
        out,
        "replay: {} event(s), {} syscall(s) decided again, {} reproduced, {} divergence(s)",
        report.events, report.replayed, report.reproduced, divergences
    )?;
    writeln!(out, "  allowed {} ({} with a stub output), denied {}", report.allowed, report.stubbed, report.denied)?;
    if !report.blocked_by_rule.is_empty() {
        writeln!(out, "blocked by rule:")?;
        for (rule, count) in &report.blocked_by_rule {
            writeln!(out, "  {count:>6}  {rule}")?;
        }
    }
    writeln!(out, "steps:")?;
    for step in &report.steps.rows {
        let stub = step.stub_output.as_ref().map(|s| format!("  stub {}", short(s))).unwrap_or_default();
        writeln!(
            out,
            "  #{:<5} {}  {} `{}`{stub}",
            step.site.step,
            step.ruling.key(),
            step.site.syscall,
            step.site.target
        )?;
    }
    if report.steps.omitted > 0 {
        writeln!(out, "  ... {} more step(s) not listed", report.steps.omitted)?;
    }
    if divergences > 0 {
        writeln!(out, "DIVERGED (the log's decisions are not what its policy decides):")?;
        for d in &report.divergences.rows {
            writeln!(
                out,
                "  #{} {} `{}`: recorded {}, replayed {} (differs: {})",
                d.site.step,
                d.site.syscall,
                d.site.target,
                d.recorded.key(),
                d.replayed.key(),
                d.differs.join(", ")
            )?;
        }
        if report.divergences.omitted > 0 {
            writeln!(out, "  ... {} more not listed", report.divergences.omitted)?;
        }
    }
    Ok(())
}

fn write_changes(changes: &Changes, out: &mut dyn Write) -> Result<(), CliError> {
    if !changes.transitions.is_empty() {
        writeln!(out, "transitions:")?;
        for (transition, count) in &changes.transitions {
            writeln!(out, "  {count:>6}  {transition}")?;
        }
    }
    if !changes.changed.rows.is_empty() {
        writeln!(out, "changed decisions:")?;
    }
    for Change { site, recorded, replayed, because } in &changes.changed.rows {
        writeln!(
            out,
            "  #{} {} `{}` (agent `{}`): {} -> {}",
            site.step,
            site.syscall,
            site.target,
            site.agent,
            recorded.key(),
            replayed.key()
        )?;
        writeln!(out, "      because: {}", because.reason)?;
        let matched: Vec<String> = because.matched.iter().map(ToString::to_string).collect();
        writeln!(out, "      matched: {}", matched.join("; "))?;
        if let Some(to_allow) = &because.to_allow {
            writeln!(out, "      to allow: {to_allow}")?;
        }
    }
    if changes.changed.omitted > 0 {
        writeln!(out, "  ... {} more not listed", changes.changed.omitted)?;
    }
    Ok(())
}

/// `agentk fork-replay`: exit 0 with the report (changes are findings, not failures).
pub(crate) fn fork_replay(
    path: &OsStr,
    source: &LogSource,
    other: &Policy,
    json: bool,
    out: &mut dyn Write,
) -> Result<u8, CliError> {
    const SCHEMA: &str = agentk_replay::schema::FORK_REPLAY;
    let outcome = run(path, source, json, out, |file, acceptance| run_fork(file, other, acceptance))?;
    let report = match outcome {
        Ok(report) => report,
        Err(code) => return Ok(code),
    };
    if json {
        write_json(out, SCHEMA, true, &report)?;
        return Ok(exit::OK);
    }
    writeln!(
        out,
        "fork replay: {} event(s), {} syscall(s) decided again under the other policy, {} changed, {} unchanged",
        report.events,
        report.replayed,
        report.changes.changed.total(),
        report.unchanged
    )?;
    write_changes(&report.changes, out)?;
    Ok(exit::OK)
}

/// `agentk fork-replay-behavior`: exit 0 with the report.
pub(crate) fn behavior_replay(
    path: &OsStr,
    source: &LogSource,
    behavior: &OsStr,
    policy_text: &str,
    policy: &Policy,
    json: bool,
    out: &mut dyn Write,
) -> Result<u8, CliError> {
    const SCHEMA: &str = agentk_replay::schema::FORK_REPLAY_BEHAVIOR;
    let overrides = Overrides::read(logcmd::open(behavior)?)?;
    let outcome = run(path, source, json, out, |file, acceptance| {
        run_behavior(file, policy_text, policy, &overrides, acceptance)
    })?;
    let report = match outcome {
        Ok(report) => report,
        Err(code) => return Ok(code),
    };
    if json {
        write_json(out, SCHEMA, true, &report)?;
        return Ok(exit::OK);
    }
    writeln!(
        out,
        "behavior fork: {} event(s), {} syscall(s) decided again, {} override(s), {} output(s) diverge, {} decision(s) changed",
        report.events,
        report.replayed,
        report.overrides,
        report.outputs.total(),
        report.changes.changed.total()
    )?;
    if !report.outputs.rows.is_empty() {
        writeln!(out, "diverging outputs:")?;
    }
    for change in &report.outputs.rows {
        let cause = match &change.cause {
            Cause::Override => "overridden".to_owned(),
            Cause::Decision => "its decision changed".to_owned(),
            Cause::Upstream { steps } => {
                let steps: Vec<String> = steps.iter().map(|s| format!("#{s}")).collect();
                format!("consumed changed output of {}", steps.join(", "))
            }
        };
        let output = change.output.as_ref().map_or_else(|| "none (now denied)".to_owned(), short);
        writeln!(
            out,
            "  #{} {} `{}`: {cause}; labels {} -> {}; output {output}",
            change.site.step,
            change.site.syscall,
            change.site.target,
            labels(change.recorded_labels),
            labels(change.labels)
        )?;
        if !change.lost_inputs.is_empty() {
            let lost: Vec<String> = change.lost_inputs.iter().map(|s| format!("#{s}")).collect();
            writeln!(out, "      inputs gone (their step is now denied): {}", lost.join(", "))?;
        }
    }
    if report.outputs.omitted > 0 {
        writeln!(out, "  ... {} more not listed", report.outputs.omitted)?;
    }
    write_changes(&report.changes, out)?;
    Ok(exit::OK)
}
