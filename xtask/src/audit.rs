//! `cargo xtask audit [--strict] [--json] [--only NAME,...]`: the release gate (A1, A3).
//!
//! Runs every check locally and reports each as pass, fail or skipped with its duration,
//! failures first. Exit 0 only when every check passed (with `--strict`, a skipped check fails
//! too). Nothing here configures a remote, fetches, pushes, tags or publishes: the only git
//! commands it can run are the read-only ones in [`GIT_READ_ONLY`], enforced by [`git`].

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

/// The git subcommands the audit may run. Anything else is refused before a process starts.
pub const GIT_READ_ONLY: [&str; 4] = ["status", "ls-files", "rev-parse", "check-ignore"];

/// Every check, in the order they run.
pub const CHECKS: [&str; 10] =
    ["fmt", "clippy", "test", "doc", "tidy", "deny", "fixtures", "readiness", "smoke", "clean-tree"];

/// How a check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// It passed.
    Pass,
    /// It failed.
    Fail,
    /// It could not run here (a tool is missing); said aloud, never silently.
    Skipped,
}

impl Status {
    fn name(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Skipped => "skipped",
        }
    }
}

/// One check's result.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The check.
    pub name: &'static str,
    /// How it came out.
    pub status: Status,
    /// Seconds it took.
    pub seconds: f64,
    /// What it found (for a failure, the tail of the tool's output).
    pub detail: String,
}

/// What to run.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Also require a real signing key, a clean working tree, no tracked run logs or keys,
    /// and no skipped checks.
    pub strict: bool,
    /// Only these checks (all when empty).
    pub only: Vec<String>,
}

/// Runs git read-only in `dir`. Refuses any subcommand outside [`GIT_READ_ONLY`], and any
/// option that could make git write or reach out (`-c`, `--exec-path`, …), before starting a
/// process.
pub fn git(dir: &Path, args: &[&str]) -> Result<Output, String> {
    let Some(subcommand) = args.first() else { return Err("git: no subcommand".to_owned()) };
    if !GIT_READ_ONLY.contains(subcommand) {
        return Err(format!("git {subcommand}: refused, the audit runs only {GIT_READ_ONLY:?}"));
    }
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        // No pager, no prompts, no optional locks (status would otherwise refresh the index).
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env("GIT_PAGER", "cat")
        .output()
        .map_err(|e| format!("git could not start: {e}"))
}

/// The last lines of a tool's output, with control characters (colour codes) escaped.
fn tail(output: &Output) -> String {
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    let lines: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.chars()
                .flat_map(
                    |c| if c.is_control() && c != '\t' { c.escape_default().collect::<Vec<_>>() } else { vec![c] },
                )
                .collect()
        })
        .collect();
    lines.get(lines.len().saturating_sub(15)..).unwrap_or_default().join("\n")
}

/// Runs a cargo command in `root` and judges it by its exit status.
fn cargo(root: &Path, args: &[&str], env: &[(&str, &str)]) -> (Status, String) {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(root).args(args).env("CARGO_TERM_COLOR", "never");
    for (key, value) in env {
        command.env(key, value);
    }
    match command.output() {
        Ok(output) if output.status.success() => (Status::Pass, String::new()),
        Ok(output) => (Status::Fail, tail(&output)),
        Err(e) => (Status::Fail, format!("cargo could not start: {e}")),
    }
}

fn problems(list: Vec<String>) -> (Status, String) {
    if list.is_empty() { (Status::Pass, String::new()) } else { (Status::Fail, list.join("\n")) }
}

/// `cargo deny check licenses bans sources`, when cargo-deny is installed. Advisories need a
/// network database and are out of scope for a local gate.
fn deny(root: &Path) -> (Status, String) {
    let installed = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["deny", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        return (
            Status::Skipped,
            "cargo-deny is not installed: licenses, bans and sources were NOT checked (cargo install cargo-deny)"
                .to_owned(),
        );
    }
    match cargo(root, &["deny", "--offline", "check", "licenses", "bans", "sources"], &[]) {
        // Offline, cargo-deny needs every crate of every platform in the local cache.
        (Status::Fail, detail) if detail.contains("--offline was specified") => (
            Status::Skipped,
            "cargo-deny could not read every crate offline: licenses, bans and sources were NOT checked (run `cargo fetch` once, then audit again)"
                .to_owned(),
        ),
        other => other,
    }
}

/// The `agentk` binary, built once for the checks that run it.
fn agentk_binary(root: &Path) -> Result<PathBuf, String> {
    match cargo(root, &["build", "--locked", "--quiet", "-p", "agentk-cli"], &[]) {
        (Status::Pass, _) => {}
        (_, detail) => return Err(format!("agentk did not build:\n{detail}")),
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    Ok(target.join("debug").join("agentk"))
}

fn readiness(root: &Path, strict: bool) -> (Status, String) {
    let binary = match agentk_binary(root) {
        Ok(binary) => binary,
        Err(e) => return (Status::Fail, e),
    };
    let mut command = Command::new(binary);
    command.args(["readiness", "--dir"]).arg(root);
    if strict {
        command.arg("--strict");
    }
    match command.output() {
        Ok(output) if output.status.success() => (Status::Pass, String::new()),
        Ok(output) => (Status::Fail, tail(&output)),
        Err(e) => (Status::Fail, format!("agentk could not start: {e}")),
    }
}

/// The runtime smokes: with a fresh key, the demo writes a log; `verify`, `verify-signatures`
/// (pinned to that key), `replay` and `trace-inspect` succeed on it; a tampered copy fails
/// `verify` with exit 4.
fn smoke(root: &Path) -> (Status, String) {
    let binary = match agentk_binary(root) {
        Ok(binary) => binary,
        Err(e) => return (Status::Fail, e),
    };
    let dir = std::env::temp_dir().join(format!("agentk-audit-smoke-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let result = smoke_in(&binary, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    match result {
        Ok(()) => (Status::Pass, String::new()),
        Err(e) => (Status::Fail, e),
    }
}

fn smoke_in(binary: &Path, dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("scratch directory: {e}"))?;
    let key = dir.join("audit-smoke.key");
    let log = dir.join("runs").join("latest.jsonl");
    let run = |args: &[&std::ffi::OsStr]| -> Result<Output, String> {
        Command::new(binary)
            .args(args)
            .env("AGENTK_SIGNING_KEY_FILE", &key)
            .env("AGENTK_REQUIRE_SIGNING_KEY", "1")
            .output()
            .map_err(|e| format!("agentk could not start: {e}"))
    };
    let expect = |what: &str, output: Output, code: i32| -> Result<Output, String> {
        if output.status.code() == Some(code) {
            Ok(output)
        } else {
            Err(format!("{what}: exit {:?}, expected {code}\n{}", output.status.code(), tail(&output)))
        }
    };
    let os = |s: &str| std::ffi::OsString::from(s);
    expect("keygen", run(&[&os("keygen"), &os("--out"), key.as_os_str()])?, 0)?;
    let signing = expect("signing-key", run(&[&os("signing-key"), &os("--json")])?, 0)?;
    let public = serde_json::from_slice::<serde_json::Value>(&signing.stdout)
        .ok()
        .and_then(|v| v.get("public_key").and_then(serde_json::Value::as_str).map(str::to_owned))
        .ok_or("signing-key --json gave no public_key")?;
    expect("demo", run(&[&os("demo"), &os("--log-dir"), dir.join("runs").as_os_str()])?, 0)?;
    expect("verify", run(&[&os("verify"), log.as_os_str()])?, 0)?;
    expect(
        "verify-signatures",
        run(&[&os("verify-signatures"), log.as_os_str(), &os("--trusted-public-key"), &os(&public)])?,
        0,
    )?;
    expect("replay", run(&[&os("replay"), log.as_os_str()])?, 0)?;
    expect("trace-inspect", run(&[&os("trace-inspect"), log.as_os_str()])?, 0)?;
    // Tamper: change one character inside the second event's target.
    let text = std::fs::read_to_string(&log).map_err(|e| format!("reading the demo log: {e}"))?;
    let tampered_text = text.replacen("news.example.invalid", "newz.example.invalid", 1);
    if tampered_text == text {
        return Err("the demo log has no event to tamper with".to_owned());
    }
    let tampered = dir.join("tampered.jsonl");
    std::fs::write(&tampered, tampered_text).map_err(|e| format!("writing the tampered copy: {e}"))?;
    expect("verify of a tampered copy", run(&[&os("verify"), tampered.as_os_str()])?, 4)?;
    Ok(())
}

/// The working tree has no changes and no untracked files (strict only).
pub fn clean_tree(root: &Path) -> (Status, String) {
    match git(root, &["status", "--porcelain", "--untracked-files=normal"]) {
        Ok(output) if output.status.success() && output.stdout.is_empty() => (Status::Pass, String::new()),
        Ok(output) if output.status.success() => {
            let count = output.stdout.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count();
            (Status::Fail, format!("{count} changed or untracked path(s); commit or remove them"))
        }
        Ok(output) => (Status::Fail, tail(&output)),
        Err(e) => (Status::Fail, e),
    }
}

/// Runs one check by name.
pub fn check(root: &Path, name: &str, strict: bool) -> (Status, String) {
    match name {
        "fmt" => cargo(root, &["fmt", "--all", "--check", "--", "--color", "never"], &[]),
        "clippy" => cargo(root, &["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"], &[]),
        "test" => cargo(root, &["test", "--workspace", "--locked"], &[]),
        "doc" => cargo(root, &["doc", "--workspace", "--no-deps", "--locked"], &[("RUSTDOCFLAGS", "-D warnings")]),
        "tidy" => problems(crate::tidy::all(root)),
        "deny" => deny(root),
        "fixtures" => match crate::fixtures::stale(root) {
            Ok(stale) => problems(stale.into_iter().map(|f| format!("stale: {f}")).collect()),
            Err(e) => (Status::Fail, e),
        },
        "readiness" => readiness(root, strict),
        "smoke" => smoke(root),
        "clean-tree" if strict => clean_tree(root),
        "clean-tree" => (Status::Pass, "not required without --strict".to_owned()),
        other => (Status::Fail, format!("no such check `{other}`")),
    }
}

/// Runs the selected checks in order and answers their outcomes, failures first.
pub fn run(root: &Path, options: &Options) -> Vec<Outcome> {
    let selected: Vec<&'static str> =
        CHECKS.iter().copied().filter(|c| options.only.is_empty() || options.only.iter().any(|o| o == c)).collect();
    let mut outcomes: Vec<Outcome> = selected
        .into_iter()
        .map(|name| {
            let start = Instant::now();
            let (mut status, detail) = check(root, name, options.strict);
            if options.strict && status == Status::Skipped {
                status = Status::Fail;
            }
            Outcome { name, status, seconds: start.elapsed().as_secs_f64(), detail }
        })
        .collect();
    outcomes.sort_by_key(|o| match o.status {
        Status::Fail => 0,
        Status::Skipped => 1,
        Status::Pass => 2,
    });
    outcomes
}

/// Whether the audit passed: every check passed (a skipped one passes only without
/// `--strict`, and `run` already turned it into a failure there).
pub fn passed(outcomes: &[Outcome]) -> bool {
    outcomes.iter().all(|o| o.status != Status::Fail)
}

/// The report as one JSON object (schema `agentk.audit.v1`).
pub fn to_json(outcomes: &[Outcome], strict: bool) -> serde_json::Value {
    let checks: Vec<serde_json::Value> = outcomes
        .iter()
        .map(|o| {
            serde_json::json!({
                "name": o.name,
                "status": o.status.name(),
                "seconds": (o.seconds * 10.0).round() / 10.0,
                "detail": o.detail,
            })
        })
        .collect();
    serde_json::json!({"schema": "agentk.audit.v1", "passed": passed(outcomes), "strict": strict, "checks": checks})
}

/// The human report: failures first, each with its detail.
pub fn to_text(outcomes: &[Outcome], strict: bool) -> String {
    let mut text = String::new();
    for o in outcomes {
        text.push_str(&format!("{:<8} {:<11} {:>7.1} s\n", o.status.name(), o.name, o.seconds));
        if o.status != Status::Pass || !o.detail.is_empty() {
            for line in o.detail.lines() {
                text.push_str(&format!("           {line}\n"));
            }
        }
    }
    let failed = outcomes.iter().filter(|o| o.status == Status::Fail).count();
    let verdict = if failed == 0 { "audit: passed".to_owned() } else { format!("audit: FAILED ({failed} check(s))") };
    text.push_str(&verdict);
    if strict {
        text.push_str(" (strict)");
    }
    text.push('\n');
    text
}
