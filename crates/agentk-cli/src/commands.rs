//! One function per command. Each returns its exit code or a [`CliError`].

use std::ffi::OsString;
use std::io::Write;

use agentk_labels::{SafeText, SyscallKind};
use agentk_policy::{Diagnostic, Policy, PolicyError, Profile, Request};
use serde::Serialize;

use crate::{
    CliError, Command, Host, PolicyArgs, demo, exit, input, keys, logcmd, mcplines, mcppins, readiness, replaycmd,
    secrets,
};

pub(crate) fn dispatch(
    command: Command,
    host: &dyn Host,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, CliError> {
    match command {
        Command::Keygen { out: path, json } => keys::keygen(host, &path, json, out),
        Command::SigningKey { json } => keys::signing_key(host, json, out),
        Command::KeyRotate { current, next_out, manifest, json } => {
            keys::key_rotate(host, &current, &next_out, &manifest, json, out)
        }
        Command::KeyRotateVerify { manifest, trust, json } => keys::key_rotate_verify(&manifest, &trust, json, out),
        Command::ReceiptVerify { receipt, trust, now, json } => {
            keys::receipt_verify(&receipt, &trust, now.unwrap_or_else(|| host.now()), json, out)
        }
        Command::TrustedSignersCheck { manifest, json } => keys::trusted_signers_check(&manifest, json, out),
        Command::SecretRefsCheck { manifest, json } => secrets::refs_check(host, &manifest, json, out),
        Command::SecretRefsStoreCheck { manifest, json } => secrets::refs_store_check(host, &manifest, json, out),
        Command::Verify { log, source, json } => logcmd::verify(&log, &source, json, out),
        Command::VerifySignatures { log, source, json } => logcmd::verify_signatures(&log, &source, json, out),
        Command::Checkpoint { log, source, json } => logcmd::checkpoint(&log, &source, json, out),
        Command::TraceInspect { log, source, json } => logcmd::trace_inspect(&log, &source, json, out),
        Command::EvidenceCheck { log, event, input, candidate, salt, source, json } => {
            let query = logcmd::EvidenceQuery { event, input, candidate: &candidate, salt: salt.as_deref() };
            logcmd::evidence_check(&log, &source, &query, json, out)
        }
        Command::Readiness { dir, strict, json } => readiness::run(host, std::path::Path::new(&dir), strict, json, out),
        Command::Replay { log, policy, source, json } => {
            let (text, policy) = load_with_text(&policy)?;
            replaycmd::replay(&log, &source, &text, &policy, json, out)
        }
        Command::ForkReplay { log, policy, source, json } => {
            if policy.policy.is_none() && policy.profile.is_none() {
                return Err(CliError::BadArgument {
                    flag: "--policy",
                    problem: "fork-replay needs the other policy: --policy FILE or --profile NAME".to_owned(),
                });
            }
            let other = load(&policy)?;
            replaycmd::fork_replay(&log, &source, &other, json, out)
        }
        Command::ForkReplayBehavior { log, behavior, policy, source, json } => {
            let (text, policy) = load_with_text(&policy)?;
            replaycmd::behavior_replay(&log, &source, &behavior, &text, &policy, json, out)
        }
        Command::Audit { log, policy, source, json } => {
            let (text, policy) = load_with_text(&policy)?;
            logcmd::audit(&log, &source, &text, &policy, json, out)
        }
        Command::ProveInclusion { log, event, source } => logcmd::prove(&log, Some(event), None, &source, out),
        Command::ProveConsistency { log, from, source } => logcmd::prove(&log, None, Some(from), &source, out),
        Command::VerifyProof { proof, checkpoint, old_checkpoint, trust, json } => {
            let anchors = logcmd::ProofAnchors {
                checkpoint: checkpoint.as_deref(),
                old_checkpoint: old_checkpoint.as_deref(),
                trust: &trust,
            };
            logcmd::verify_proof(&proof, &anchors, json, out)
        }
        Command::LogRecover { log, apply, json } => logcmd::log_recover(&log, apply, json, out),
        Command::Demo { which: Some(crate::DemoKind::Mcp), json, policy, .. } => {
            let (text, policy) = load_with_default(&policy, "mcp")?;
            demo::mcp(text, policy, json, out)
        }
        Command::Demo { which: None, json, policy, log_dir } => {
            let (text, policy) = load_with_text(&policy)?;
            demo::run(host, text, policy, std::path::Path::new(&log_dir), json, out)
        }
        Command::McpLines { policy, server_id, log_dir, pins } => {
            let (text, policy) = load_with_default(&policy, "mcp")?;
            let pins = match pins {
                Some(path) => mcppins::load(std::path::Path::new(&path))?.accepted(&server_id),
                None => std::collections::BTreeMap::new(),
            };
            let run = mcplines::Run { server_id: &server_id, log_dir: std::path::Path::new(&log_dir), pins };
            mcplines::run(host, text, policy, run, out, err)
        }
        Command::McpProxy {
            policy,
            server_id,
            log_dir,
            pins,
            approvals_dir,
            ask_approval,
            env,
            timeout,
            sync,
            command,
        } => {
            let (text, policy) = load_with_default(&policy, "mcp")?;
            let run = crate::mcpproxy::Run {
                server_id: server_id.as_deref(),
                log_dir: std::path::Path::new(&log_dir),
                pins: std::path::Path::new(&pins),
                approvals: std::path::Path::new(&approvals_dir),
                ask_approval,
                env: &env,
                timeout: std::time::Duration::from_secs(timeout),
                sync,
                command: &command,
            };
            crate::mcpproxy::run(host, text, policy, &run, err)
        }
        Command::McpGateway {
            listen,
            token_file,
            allowed_origins,
            policy,
            server_id,
            log_dir,
            pins,
            approvals_dir,
            env,
            timeout,
            sync,
            ledger,
            max_sessions,
            idle_timeout,
            upstream,
            command,
        } => {
            let (text, policy) = load_with_default(&policy, "mcp")?;
            let run = crate::mcpgateway::Run {
                listen: &listen,
                token_file: token_file.as_deref().map(std::path::Path::new),
                allowed_origins: &allowed_origins,
                server_id: server_id.as_deref(),
                upstream: upstream.as_deref(),
                log_dir: std::path::Path::new(&log_dir),
                pins: std::path::Path::new(&pins),
                approvals: std::path::Path::new(&approvals_dir),
                env: &env,
                timeout: std::time::Duration::from_secs(timeout),
                sync,
                ledger: ledger.as_deref().map(std::path::Path::new),
                max_sessions: usize::try_from(max_sessions).unwrap_or(usize::MAX),
                idle_timeout: std::time::Duration::from_secs(idle_timeout),
                command: &command,
            };
            crate::mcpgateway::run(host, text, policy, &run, err)
        }
        Command::McpPins { pins, accept, json } => mcppins::run(std::path::Path::new(&pins), &accept, json, out),
        Command::PolicyCheck { file, json } => policy_check(&file, json, out, err),
        Command::PolicyExplain { policy, syscall, target, labels, agent, capability, grant, json } => {
            let policy = load(&policy)?;
            let labels = crate::parse_labels(&labels)?;
            let kind = SyscallKind::parse(&syscall);
            let mut request = Request::new(&agent, kind.clone(), &target).with_labels(labels);
            let covering =
                kind.known().and_then(|s| policy.covering_grant(&agent, s, &target)).map(|g| g.id().to_owned());
            if capability && covering.is_none() {
                writeln!(err, "agentk: note: no grant in the policy covers this request; deciding without one")?;
            }
            if let Some(id) = grant.as_deref().or(covering.as_deref().filter(|_| capability)) {
                request = request.presenting(id);
            }
            policy_explain(&policy, &request, json, out)
        }
        Command::PolicyShow { name, json } => policy_show(&name, json, out),
        Command::McpServer { policy } => crate::mcpserver::run(host, &policy, out, err),
        Command::McpWrap(args) => crate::mcpwrap::run(&args, out, err),
        Command::Approve(args) => crate::approve::run(host, &args, out),
    }
}

/// Loads the policy a command asked for: `--policy FILE`, `--profile NAME`, or `starter`.
pub(crate) fn load(args: &PolicyArgs) -> Result<Policy, CliError> {
    Ok(load_with_text(args)?.1)
}

/// [`load`], also answering the policy's text (the flight log records its hash).
pub(crate) fn load_with_text(args: &PolicyArgs) -> Result<(std::sync::Arc<str>, Policy), CliError> {
    load_with_default(args, "starter")
}

/// [`load_with_text`], with another built-in profile when none is named.
pub(crate) fn load_with_default(args: &PolicyArgs, default: &str) -> Result<(std::sync::Arc<str>, Policy), CliError> {
    if let Some(path) = &args.policy {
        let text = input::read_text(path)?;
        let policy = Policy::parse(&path.to_string_lossy(), &text)?;
        return Ok((text.into(), policy));
    }
    let profile: Profile = args.profile.as_deref().unwrap_or(default).parse()?;
    Ok((profile.source().into(), profile.load()?))
}

#[derive(Serialize)]
struct DiagnosticJson {
    code: &'static str,
    line: usize,
    column: usize,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    help: Option<String>,
}

impl From<&Diagnostic> for DiagnosticJson {
    fn from(d: &Diagnostic) -> Self {
        DiagnosticJson {
            code: d.kind().code(),
            line: d.line(),
            column: d.column(),
            message: d.kind().to_string(),
            help: d.help(),
        }
    }
}

fn policy_check(file: &OsString, json: bool, out: &mut dyn Write, err: &mut dyn Write) -> Result<u8, CliError> {
    let text = input::read_text(file)?;
    let source = file.to_string_lossy();
    match Policy::parse(&source, &text) {
        Ok(policy) => {
            if json {
                let value = serde_json::json!({
                    "schema": agentk_replay::schema::POLICY_CHECK,
                    "valid": true,
                    "policy": policy.name(),
                    "rules": policy.rules().len(),
                    "grants": policy.grants().len(),
                });
                writeln!(out, "{value}")?;
            } else {
                writeln!(
                    out,
                    "policy {} is valid: {} rules, {} grants",
                    SafeText::new(policy.name()),
                    policy.rules().len(),
                    policy.grants().len()
                )?;
            }
            Ok(exit::OK)
        }
        Err(PolicyError::Invalid { source_name, diagnostics }) => {
            if json {
                let list: Vec<DiagnosticJson> = diagnostics.iter().map(DiagnosticJson::from).collect();
                let value = serde_json::json!({
                    "schema": agentk_replay::schema::POLICY_CHECK,
                    "valid": false,
                    "diagnostics": list,
                });
                writeln!(out, "{value}")?;
            } else {
                write_diagnostics(source_name.as_str(), &diagnostics, err)?;
                writeln!(err, "agentk: error: policy is invalid: {} problem(s)", diagnostics.len())?;
            }
            Ok(exit::ERROR)
        }
        Err(other) => Err(other.into()),
    }
}

/// `file:line:col: error: message` and an indented help line, per diagnostic.
pub(crate) fn write_diagnostics(source: &str, diagnostics: &[Diagnostic], err: &mut dyn Write) -> std::io::Result<()> {
    for d in diagnostics {
        writeln!(err, "{source}:{}:{}: error: {}", d.line(), d.column(), d.kind())?;
        if let Some(help) = d.help() {
            writeln!(err, "  help: {help}")?;
        }
    }
    Ok(())
}

fn policy_explain(policy: &Policy, request: &Request<'_>, json: bool, out: &mut dyn Write) -> Result<u8, CliError> {
    let decision = policy.evaluate(request);
    let explanation = decision.explain(request);
    if json {
        let report = agentk_replay::schema::DecisionReport {
            schema: agentk_replay::schema::POLICY_EXPLAIN,
            policy: policy.name(),
            explanation: &explanation,
        };
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
    } else {
        writeln!(out, "{explanation}")?;
    }
    Ok(if decision.is_allowed() { exit::OK } else { exit::DENIED })
}

fn policy_show(name: &str, json: bool, out: &mut dyn Write) -> Result<u8, CliError> {
    let profile: Profile = name.parse()?;
    if json {
        let value = serde_json::json!({
            "schema": agentk_replay::schema::POLICY_SHOW,
            "name": profile.name(),
            "toml": profile.source(),
        });
        writeln!(out, "{value}")?;
    } else {
        write!(out, "{}", profile.source())?;
    }
    Ok(exit::OK)
}
