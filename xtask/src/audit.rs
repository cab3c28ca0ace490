//! `cargo xtask audit [--strict] [--json] [--only NAME,...]`: the release gate (A1, A3).
//!
//! Runs every check locally and reports each as pass, fail or skipped with its duration,
//! failures first. Exit 0 only when every check passed (with `--strict`, a skipped check fails
//! too). Nothing here configures a remote, fetches, pushes, tags or publishes: the audit's own
//! git commands are the read-only ones in [`GIT_READ_ONLY`], enforced by [`git`]; every child
//! process (git, cargo, the test suite, `agentk`) starts with git's repository-redirecting
//! variables removed ([`scrub`]), so a hook's `GIT_DIR` can never point the test suite's
//! scratch repositories at the real one.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

/// The git subcommands the audit may run. Anything else is refused before a process starts.
pub const GIT_READ_ONLY: [&str; 4] = ["status", "ls-files", "rev-parse", "check-ignore"];

/// Every check, in the order they run.
pub const CHECKS: [&str; 11] =
    ["fmt", "clippy", "test", "doc", "tidy", "deny", "fixtures", "fuzz-build", "readiness", "smoke", "clean-tree"];

/// Removes every `GIT_*` variable the audit inherited from `command`'s environment (git
/// exports several to hooks: `GIT_DIR`, `GIT_INDEX_FILE`, `GIT_OBJECT_DIRECTORY`, …), so an
/// audit started from a hook never points the test suite's scratch repositories at the real
/// one; and gives git no system or global configuration.
pub fn scrub(command: &mut Command) -> &mut Command {
    scrub_from(command, std::env::vars_os().map(|(name, _)| name))
}

/// [`scrub`], given the names of the inherited variables.
pub fn scrub_from(command: &mut Command, inherited: impl IntoIterator<Item = std::ffi::OsString>) -> &mut Command {
    for name in inherited {
        if name.to_str().is_none_or(|n| n.starts_with("GIT_")) {
            command.env_remove(name);
        }
    }
    command.env("GIT_CONFIG_NOSYSTEM", "1").env("GIT_CONFIG_GLOBAL", "/dev/null")
}

/// The one way the audit (and `cargo xtask fuzz`) starts a process: scrubbed (see [`scrub`]).
pub fn command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new(program);
    scrub(&mut command);
    command
}

fn cargo_program() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

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

/// Runs git read-only in `dir`: the first argument must be a subcommand in [`GIT_READ_ONLY`]
/// (so no option such as `-c` can come before it), and the process starts with git's
/// redirecting variables removed and no system or global configuration.
pub fn git(dir: &Path, args: &[&str]) -> Result<Output, String> {
    let Some(subcommand) = args.first() else { return Err("git: no subcommand".to_owned()) };
    if !GIT_READ_ONLY.contains(subcommand) {
        return Err(format!("git {subcommand}: refused, the audit runs only {GIT_READ_ONLY:?}"));
    }
    command("git")
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
    let mut child = command(cargo_program());
    child.current_dir(root).args(args).env("CARGO_TERM_COLOR", "never");
    for (key, value) in env {
        child.env(key, value);
    }
    match child.output() {
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
    let installed = command(cargo_program()).args(["deny", "--version"]).output().is_ok_and(|o| o.status.success());
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

/// The `agentk` binary, built for the checks that run it: its path is the one cargo reports
/// for the artifact it just built, whatever the target directory settings.
fn agentk_binary(root: &Path) -> Result<PathBuf, String> {
    let mut build = command(cargo_program());
    build.current_dir(root).env("CARGO_TERM_COLOR", "never").args([
        "build",
        "--locked",
        "-p",
        "agentk-cli",
        "--bin",
        "agentk",
        "--message-format=json-render-diagnostics",
    ]);
    let output = build.output().map_err(|e| format!("cargo could not start: {e}"))?;
    if !output.status.success() {
        return Err(format!("agentk did not build:\n{}", tail(&output)));
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .rev()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m.get("reason").and_then(serde_json::Value::as_str) == Some("compiler-artifact"))
        .find_map(|m| m.get("executable").and_then(serde_json::Value::as_str).map(PathBuf::from))
        .ok_or_else(|| "cargo reported no agentk executable".to_owned())
}

fn readiness(root: &Path, strict: bool) -> (Status, String) {
    let binary = match agentk_binary(root) {
        Ok(binary) => binary,
        Err(e) => return (Status::Fail, e),
    };
    let mut run = command(binary);
    run.args(["readiness", "--dir"]).arg(root);
    if strict {
        run.arg("--strict");
    }
    match run.output() {
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
    let dir = match private_dir("agentk-audit-smoke") {
        Ok(dir) => dir,
        Err(e) => return (Status::Fail, e),
    };
    let result = smoke_in(&binary, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    match result {
        Ok(()) => (Status::Pass, String::new()),
        Err(e) => (Status::Fail, e),
    }
}

/// A new directory only this user can use, under the system's temporary directory. It must not
/// exist yet: a directory someone else made first is never reused.
fn private_dir(prefix: &str) -> Result<PathBuf, String> {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(&dir).map_err(|e| format!("scratch directory: {e}"))?;
    Ok(dir)
}

fn smoke_in(binary: &Path, dir: &Path) -> Result<(), String> {
    let key = dir.join("audit-smoke.key");
    let log = dir.join("runs").join("latest.jsonl");
    let run = |args: &[&std::ffi::OsStr]| -> Result<Output, String> {
        let mut agentk = command(binary);
        // Only the fresh key signs: no signer from the caller's environment takes precedence.
        for (name, _) in std::env::vars_os() {
            if name.to_str().is_some_and(|n| n.starts_with("AGENTK_")) {
                agentk.env_remove(name);
            }
        }
        agentk
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

/// Ignored paths a clean release tree may hold: build output and run logs.
pub const IGNORED_ALLOWED: [&str; 6] =
    ["target/", ".agentk/", "fuzz/target/", "fuzz/corpus/", "fuzz/artifacts/", "fuzz/coverage/"];

/// The working tree has no changes, no untracked files, no files git was told to stop looking
/// at (`--skip-worktree`, `--assume-unchanged`), and no ignored files outside build output and
/// run logs (strict only).
pub fn clean_tree(root: &Path) -> (Status, String) {
    let lines = |args: &[&str]| -> Result<Vec<String>, String> {
        let output = git(root, args)?;
        if !output.status.success() {
            return Err(tail(&output));
        }
        Ok(String::from_utf8_lossy(&output.stdout).lines().filter(|l| !l.is_empty()).map(str::to_owned).collect())
    };
    let judged = (|| {
        let changed = lines(&["status", "--porcelain", "--untracked-files=all"])?;
        // `ls-files -v` marks skip-worktree files `S` and assume-unchanged files in lowercase.
        let hidden = lines(&["ls-files", "-v"])?
            .into_iter()
            .filter(|l| l.starts_with('S') || l.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
            .count();
        let ignored = lines(&["status", "--porcelain", "--ignored=matching", "--untracked-files=all"])?
            .into_iter()
            .filter_map(|l| l.strip_prefix("!! ").map(str::to_owned))
            .filter(|path| !IGNORED_ALLOWED.iter().any(|allowed| path.starts_with(allowed)))
            .count();
        Ok::<_, String>((changed.len(), hidden, ignored))
    })();
    match judged {
        Ok((0, 0, 0)) => (Status::Pass, String::new()),
        Ok((changed, hidden, ignored)) => (
            Status::Fail,
            format!(
                "{changed} changed or untracked, {hidden} hidden from git (skip-worktree or assume-unchanged), {ignored} ignored outside build output and run logs; a release tree holds only what is committed"
            ),
        ),
        Err(e) => (Status::Fail, e),
    }
}

/// The fuzz targets still build (`cargo +nightly fuzz build`), when nightly and cargo-fuzz are
/// installed; skipped aloud otherwise.
fn fuzz_build(root: &Path) -> (Status, String) {
    if let Err(missing) = crate::fuzz::available() {
        return (Status::Skipped, format!("the fuzz targets were NOT built: {missing}"));
    }
    let mut build = command("cargo");
    build.current_dir(root.join("fuzz")).args(["+nightly", "fuzz", "build"]).env("CARGO_TERM_COLOR", "never");
    match build.output() {
        Ok(output) if output.status.success() => (Status::Pass, String::new()),
        Ok(output) => (Status::Fail, tail(&output)),
        Err(e) => (Status::Fail, format!("cargo could not start: {e}")),
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
        "fuzz-build" => fuzz_build(root),
        "fixtures" => match crate::fixtures::stale(root) {
            Ok(stale) => problems(stale.into_iter().map(|f| format!("stale: {f}")).collect()),
            Err(e) => (Status::Fail, e),
        },
        "readiness" => readiness(root, strict),
        "smoke" => smoke(root),
        "clean-tree" if strict => clean_tree(root),
        "clean-tree" => (Status::Skipped, "not run: only --strict requires a clean tree".to_owned()),
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
    let ran: Vec<&str> = outcomes.iter().map(|o| o.name).collect();
    let omitted: Vec<&str> = CHECKS.iter().copied().filter(|c| !ran.contains(c)).collect();
    // A release verdict: every check ran, and none was skipped.
    let complete = omitted.is_empty() && outcomes.iter().all(|o| o.status != Status::Skipped);
    serde_json::json!({
        "schema": agentk_replay::schema::RELEASE_AUDIT,
        "passed": passed(outcomes),
        "strict": strict,
        "complete": complete,
        "omitted": omitted,
        "checks": checks,
    })
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
    let omitted = CHECKS.len().saturating_sub(outcomes.len());
    let skipped = outcomes.iter().filter(|o| o.status == Status::Skipped).count();
    if omitted + skipped > 0 {
        text.push_str(&format!(" ({} check(s) not run: not a release verdict)", omitted + skipped));
    }
    if strict {
        text.push_str(" (strict)");
    }
    text.push('\n');
    text
}
