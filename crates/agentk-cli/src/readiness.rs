//! `agentk readiness`: is this machine and checkout fit to run AgentK for real? Each check is
//! named, answers pass, warn or fail, and carries a one-line fix. Nothing here prints key
//! material or the path of a key file.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use agentk_capability::SignerSource;
use agentk_labels::SafeText;
use serde::Serialize;

use crate::{CliError, Host, exit, keys};

/// How a check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    Pass,
    /// Acceptable for development, not for production (`--strict` fails it).
    Warn,
    Fail,
}

#[derive(Debug, Serialize)]
struct Check {
    name: &'static str,
    status: Status,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<&'static str>,
}

impl Check {
    fn pass(name: &'static str, detail: impl Into<String>) -> Self {
        Check { name, status: Status::Pass, detail: detail.into(), fix: None }
    }

    fn not(name: &'static str, status: Status, detail: impl Into<String>, fix: &'static str) -> Self {
        Check { name, status, detail: detail.into(), fix: Some(fix) }
    }
}

/// The signer: where it comes from, and whether it is the public development key.
fn signer(host: &dyn Host) -> Check {
    const NAME: &str = "signer";
    match keys::active_signer(host) {
        Err(CliError::Signer(e)) => Check::not(NAME, Status::Fail, e.to_string(), e.help()),
        Err(_) => Check::not(NAME, Status::Fail, "the signer could not be loaded", "run `agentk signing-key`"),
        Ok(identity) if identity.is_development() => Check::not(
            NAME,
            Status::Warn,
            "the public development key signs: anyone can forge what it signs",
            "create a key with `agentk keygen --out PATH` and set AGENTK_SIGNING_KEY_FILE to it",
        ),
        Ok(identity) => {
            let source = match identity.source() {
                SignerSource::File => "a key file (owner-only, checked)",
                SignerSource::EnvHex => "AGENTK_SIGNING_KEY_HEX",
                _ => "the embedding program",
            };
            Check::pass(NAME, format!("{} from {source}", identity.public_key().fingerprint()))
        }
    }
}

/// Whether a missing key is an error rather than a silent fall-back to the development key.
fn require_flag(host: &dyn Host) -> Check {
    const NAME: &str = "require-signing-key";
    match host.var("AGENTK_REQUIRE_SIGNING_KEY") {
        Some(value) if value == "1" => {
            Check::pass(NAME, "AGENTK_REQUIRE_SIGNING_KEY=1: the development key is refused")
        }
        _ => Check::not(
            NAME,
            Status::Warn,
            "AGENTK_REQUIRE_SIGNING_KEY is not 1: without a key, the development key signs",
            "set AGENTK_REQUIRE_SIGNING_KEY=1 wherever AgentK runs for real",
        ),
    }
}

/// Runs git in `dir`, and only there: every inherited `GIT_*` variable (a hook's `GIT_DIR`,
/// `GIT_INDEX_FILE`, …) is dropped, and no system or global configuration is read. `None` when
/// git is missing.
fn git(dir: &Path, args: &[&str]) -> Option<std::process::Output> {
    git_with_input(dir, args, None)
}

fn git_with_input(dir: &Path, args: &[&str], input: Option<&[u8]>) -> Option<std::process::Output> {
    use std::io::Write as _;
    let mut command = Command::new("git");
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_none_or(|n| n.starts_with("GIT_")) {
            command.env_remove(name);
        }
    }
    command
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_OPTIONAL_LOCKS", "0")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(if input.is_some() { std::process::Stdio::piped() } else { std::process::Stdio::null() })
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().ok()?;
    if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(bytes).ok()?;
    }
    child.wait_with_output().ok()
}

fn in_work_tree(dir: &Path) -> bool {
    git(dir, &["rev-parse", "--is-inside-work-tree"])
        .is_some_and(|o| o.status.success() && o.stdout.starts_with(b"true"))
}

/// `.agentk/` (run logs, salts) is ignored by git (F3).
fn run_logs_ignored(dir: &Path) -> Check {
    const NAME: &str = "run-logs-ignored";
    const FIX: &str = "add `.agentk/` to .gitignore";
    if !in_work_tree(dir) {
        return Check::not(NAME, Status::Warn, "not a git work tree: cannot tell", "run readiness in the checkout");
    }
    // The directory itself, a log and a salt (a pattern such as `*.jsonl` covers only some),
    // each by a `.gitignore` file: an exclusion in one clone's `.git/info/exclude` protects no
    // other clone.
    let ignored = [".agentk/", ".agentk/runs/latest.jsonl", ".agentk/runs/latest.salt"].iter().all(|path| {
        git(dir, &["check-ignore", "-v", "--no-index", path]).is_some_and(|o| {
            let source = String::from_utf8_lossy(&o.stdout);
            o.status.success() && source.split(':').next().is_some_and(|file| file.ends_with(".gitignore"))
        })
    });
    if ignored {
        Check::pass(NAME, "git ignores .agentk/")
    } else {
        Check::not(NAME, Status::Fail, "git does not ignore all of .agentk/: run logs or salts could be committed", FIX)
    }
}

/// Public test vectors that look like secrets by name, tracked on purpose (a dummy salt).
const TRACKED_ON_PURPOSE: [&str; 1] = ["fixtures/logs/session.salt"];

/// Whether a tracked path looks like key material, a salt or a run log by its name.
fn looks_secret(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    path.starts_with(".agentk/")
        || path.contains("/.agentk/")
        || [".key", ".pem", ".salt", ".seed", ".hex", ".jwk", ".p12", ".pfx"].iter().any(|ext| name.ends_with(ext))
        || ["id_ed25519", "id_ecdsa", "id_rsa", "id_dsa"].iter().any(|prefix| name.starts_with(prefix))
        || name.contains("signing-key")
}

/// Whether `bytes` are what a key file holds: 64 hex digits and an optional newline.
fn is_key_material(bytes: &[u8]) -> bool {
    let text = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    text.len() == 64 && text.iter().all(u8::is_ascii_hexdigit)
}

/// The object ids of tracked files that hold key material, judged on the index contents (so a
/// key deleted or changed in the working copy, or hidden with skip-worktree, still counts).
/// Only blobs small enough to be a key are read.
fn tracked_keys(dir: &Path, entries: &[(String, Vec<u8>)]) -> Option<std::collections::BTreeSet<String>> {
    let ids: Vec<&str> = entries.iter().map(|(id, _)| id.as_str()).collect();
    let sizes = git_with_input(dir, &["cat-file", "--batch-check"], Some(format!("{}\n", ids.join("\n")).as_bytes()))?;
    let small: Vec<&str> = String::from_utf8_lossy(&sizes.stdout)
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let (id, kind, size) = (fields.next()?, fields.next()?, fields.next()?.parse::<u64>().ok()?);
            (kind == "blob" && size <= 66).then(|| ids.iter().copied().find(|i| *i == id)).flatten()
        })
        .collect();
    let mut keys = std::collections::BTreeSet::new();
    if small.is_empty() {
        return Some(keys);
    }
    let contents = git_with_input(dir, &["cat-file", "--batch"], Some(format!("{}\n", small.join("\n")).as_bytes()))?;
    // Each object: "<id> blob <size>\n<bytes>\n".
    let mut rest = contents.stdout.as_slice();
    while let Some(end) = rest.iter().position(|b| *b == b'\n') {
        let header = String::from_utf8_lossy(rest.get(..end)?).into_owned();
        let size: usize = header.rsplit(' ').next()?.parse().ok()?;
        let body = rest.get(end + 1..end + 1 + size)?;
        if is_key_material(body) {
            keys.insert(header.split(' ').next()?.to_owned());
        }
        rest = rest.get(end + 2 + size..).unwrap_or_default();
    }
    Some(keys)
}

/// No key-like files or run logs are tracked by git. Only a count is printed, never paths.
fn no_key_files_tracked(dir: &Path) -> Check {
    const NAME: &str = "no-key-files-tracked";
    if !in_work_tree(dir) {
        return Check::not(NAME, Status::Warn, "not a git work tree: cannot tell", "run readiness in the checkout");
    }
    let Some(output) = git(dir, &["ls-files", "-z", "--stage"]).filter(|o| o.status.success()) else {
        return Check::not(NAME, Status::Fail, "git ls-files failed", "run readiness in the checkout");
    };
    // Each entry: "<mode> <object id> <stage>\t<path>".
    let entries: Vec<(String, Vec<u8>)> = output
        .stdout
        .split(|b| *b == 0)
        .filter_map(|entry| {
            let tab = entry.iter().position(|b| *b == b'\t')?;
            let id = String::from_utf8_lossy(entry.get(..tab)?).split(' ').nth(1)?.to_owned();
            Some((id, entry.get(tab + 1..)?.to_vec()))
        })
        .filter(|(_, path)| !TRACKED_ON_PURPOSE.contains(&String::from_utf8_lossy(path).as_ref()))
        .collect();
    let Some(keys) = tracked_keys(dir, &entries) else {
        return Check::not(NAME, Status::Fail, "git cat-file failed", "run readiness in the checkout");
    };
    let count =
        entries.iter().filter(|(id, path)| keys.contains(id) || looks_secret(&String::from_utf8_lossy(path))).count();
    if count == 0 {
        Check::pass(NAME, "no key-like files or run logs are tracked")
    } else {
        Check::not(
            NAME,
            Status::Fail,
            format!("{count} tracked file(s) look like keys, salts or run logs"),
            "list them with `git ls-files`, then `git rm --cached` them and rotate any key they held",
        )
    }
}

/// The built-in starter policy validates.
fn starter_policy() -> Check {
    match agentk_policy::Profile::Starter.load() {
        Ok(_) => Check::pass("starter-policy", "the built-in starter policy validates"),
        Err(_) => {
            Check::not("starter-policy", Status::Fail, "the built-in starter policy is refused", "report this build")
        }
    }
}

/// `agentk readiness`: exit 0 when nothing failed (and, with `strict`, nothing warned), 4
/// otherwise.
pub(crate) fn run(host: &dyn Host, dir: &Path, strict: bool, json: bool, out: &mut dyn Write) -> Result<u8, CliError> {
    // A checkout that is not there cannot be judged: "could not answer", never "ready".
    if !std::fs::metadata(dir).is_ok_and(|meta| meta.is_dir()) {
        return Err(CliError::BadArgument {
            flag: "--dir",
            problem: format!("{} is not a directory", SafeText::with_limit(&dir.to_string_lossy(), 256)),
        });
    }
    let checks = [signer(host), require_flag(host), run_logs_ignored(dir), no_key_files_tracked(dir), starter_policy()];
    let failing = |c: &&Check| c.status == Status::Fail || strict && c.status == Status::Warn;
    let ready = !checks.iter().any(|c| failing(&c));
    if json {
        let report = serde_json::json!({"schema": agentk_replay::schema::READINESS, "ready": ready, "strict": strict, "checks": checks});
        writeln!(out, "{report}")?;
    } else {
        for check in &checks {
            let status = match check.status {
                Status::Pass => "pass",
                Status::Warn if strict => "FAIL",
                Status::Warn => "warn",
                Status::Fail => "FAIL",
            };
            writeln!(out, "{status:<4}  {:<22} {}", check.name, check.detail)?;
            if let (Some(fix), true) = (check.fix, check.status != Status::Pass) {
                writeln!(out, "      {:<22} fix: {fix}", "")?;
            }
        }
        let verdict = if ready { "ready" } else { "not ready" };
        writeln!(out, "{verdict}{}", if strict { " (strict: warnings fail)" } else { "" })?;
    }
    Ok(if ready { exit::OK } else { exit::VERIFY_FAILED })
}
