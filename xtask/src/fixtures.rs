//! `cargo xtask fixtures [--check]`: writes every file under `fixtures/` from the tables here,
//! deterministically, or (with `--check`) lists the files that are stale.
//!
//! Policy vectors: `fixtures/policies/valid/*.toml` must validate;
//! `fixtures/policies/invalid/*.toml` must be refused, and each opens with a header naming the
//! diagnostic code it expects and every diagnostic line the parser reports. Negative vectors
//! outnumber positive ones. The generator refuses to write a vector whose expectation the
//! parser does not meet.
//!
//! Flight-log vectors: `fixtures/logs/` (see [`crate::logfixtures`]).
//! Replay vectors: `fixtures/replay/` (see [`crate::replayfixtures`]).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use agentk_policy::{Policy, PolicyError};

const HEAD: &str = "version = 1\nname = \"fixture\"\n";
const END: &str = "\n[[rules]]\nid = \"default-deny\"\neffect = \"deny\"\nreason = \"nothing else matched\"\n";

/// `(file name, expected diagnostic code, policy text)` for the negative policy vectors.
fn invalid_policies() -> Vec<(&'static str, &'static str, String)> {
    let rule = |extra: &str| format!("\n[[rules]]\nid = \"r1\"\neffect = \"deny\"\nreason = \"fixture\"\n{extra}");
    let grant = |extra: &str| {
        format!("\n[[grants]]\nid = \"g1\"\nagents = [\"*\"]\n{extra}scope = \"s\"\nuses = 1\nttl_seconds = 60\n")
    };
    vec![
        ("unknown-root-key", "unknown-key", format!("{HEAD}versoin = 1\n{END}")),
        ("unknown-when-key", "unknown-key", format!("{HEAD}{}{END}", rule("when.label_any = [\"secret\"]\n"))),
        (
            "value-in-grant",
            "unknown-key",
            format!(
                "{HEAD}{}{END}",
                grant("syscall = \"secret.open\"\ntarget = \"secret://a\"\nvalue = \"dummy-not-a-secret\"\n")
            ),
        ),
        ("unknown-syscall", "unknown-syscall", format!("{HEAD}{}{END}", rule("when.syscalls = [\"kernel.reboot\"]\n"))),
        ("unknown-label", "unknown-label", format!("{HEAD}{}{END}", rule("when.labels_any = [\"classified\"]\n"))),
        (
            "duplicate-rule-id",
            "duplicate-id",
            format!(
                "{HEAD}{}{}{END}",
                rule("when.syscalls = [\"file.patch\"]\n"),
                rule("when.syscalls = [\"agent.spawn\"]\n")
            ),
        ),
        (
            "duplicate-grant-id",
            "duplicate-id",
            format!(
                "{HEAD}{}{}{END}",
                grant("syscall = \"tool.invoke\"\ntarget = \"mcp://a/*\"\n"),
                grant("syscall = \"tool.invoke\"\ntarget = \"mcp://b/*\"\n")
            ),
        ),
        ("empty-list", "empty-list", format!("{HEAD}{}{END}", rule("when.targets = []\n"))),
        ("empty-when", "empty-when", format!("{HEAD}{}{END}", rule("when = {}\n"))),
        (
            "contradictory-rule",
            "contradictory-rule",
            format!("{HEAD}{}{END}", rule("when.labels_all = [\"secret\"]\nwhen.labels_none = [\"secret\"]\n")),
        ),
        (
            "shadowed-rule",
            "shadowed-rule",
            format!(
                "{HEAD}{}\n[[rules]]\nid = \"r2\"\neffect = \"allow\"\nreason = \"fixture\"\nwhen.syscalls = [\"network.send\"]\nwhen.targets = [\"https://api.example.invalid/*\"]\n{END}",
                rule("when.syscalls = [\"network.send\"]\nwhen.targets = [\"https://*\"]\n")
            ),
        ),
        (
            "catch-all-not-last",
            "catch-all-not-last",
            format!("{HEAD}{}{}{END}", rule(""), rule("when.syscalls = [\"model.call\"]\n").replace("r1", "r2")),
        ),
        (
            "catch-all-allows",
            "catch-all-allows",
            format!("{HEAD}\n[[rules]]\nid = \"allow-all\"\neffect = \"allow\"\nreason = \"fixture\"\n"),
        ),
        ("missing-catch-all", "missing-catch-all", format!("{HEAD}{}", rule("when.syscalls = [\"model.call\"]\n"))),
        (
            "reserved-id",
            "reserved-id",
            format!(
                "{HEAD}{}{END}",
                rule("when.syscalls = [\"model.call\"]\n")
                    .replace("r1", "default-deny")
                    .replace("\"deny\"", "\"allow\"")
            ),
        ),
        (
            "secret-grant-glob",
            "secret-grant-not-exact",
            format!("{HEAD}{}{END}", grant("syscall = \"secret.open\"\ntarget = \"secret://*\"\n")),
        ),
        ("unsupported-version", "unsupported-version", format!("version = 2\nname = \"fixture\"\n{END}")),
        ("syntax-error", "syntax", format!("{HEAD}[[rules]\nid = \"r1\"\n")),
        ("wrong-type", "wrong-type", format!("{HEAD}{}{END}", rule("when.syscalls = \"model.call\"\n"))),
        (
            "uses-out-of-range",
            "out-of-range",
            format!(
                "{HEAD}{}{END}",
                grant("syscall = \"tool.invoke\"\ntarget = \"mcp://a/*\"\n").replace("uses = 1", "uses = 0")
            ),
        ),
        ("invalid-pattern", "invalid-pattern", format!("{HEAD}{}{END}", rule("when.targets = [\"https://**\"]\n"))),
        (
            "invalid-effect",
            "invalid-effect",
            format!("{HEAD}{}{END}", rule("when.syscalls = [\"model.call\"]\n").replace("\"deny\"", "\"audit\"")),
        ),
        (
            "allows-everything-split",
            "catch-all-allows",
            format!(
                "{HEAD}\n[[rules]]\nid = \"granted\"\neffect = \"allow\"\nreason = \"fixture\"\nwhen.capability = \"present\"\n\n[[rules]]\nid = \"ungranted\"\neffect = \"allow\"\nreason = \"fixture\"\nwhen.capability = \"missing\"\n{END}"
            ),
        ),
        (
            "shadowed-by-two-rules",
            "shadowed-rule",
            format!(
                "{HEAD}{}{}{}{END}",
                rule("when.syscalls = [\"file.patch\"]\nwhen.labels_any = [\"untrusted\"]\n"),
                rule("when.syscalls = [\"file.patch\"]\nwhen.labels_none = [\"untrusted\"]\n").replace("r1", "r2"),
                rule("when.syscalls = [\"file.patch\"]\nwhen.capability = \"missing\"\n").replace("r1", "r3")
            ),
        ),
        ("missing-rules", "missing-key", HEAD.to_owned()),
    ]
}

/// `(file name, policy text)` for the positive policy vectors.
fn valid_policies() -> Vec<(&'static str, String)> {
    vec![("minimal", format!("{HEAD}{END}")), ("synthetic-100", agentk_policy::testing::synthetic_policy(100))]
}

/// Every fixture file, relative to the workspace root, with its exact contents.
pub fn expected_files() -> Result<BTreeMap<PathBuf, String>, String> {
    let mut files = BTreeMap::new();
    for (name, text) in valid_policies() {
        Policy::parse(name, &text).map_err(|e| format!("valid fixture `{name}` is refused: {e}"))?;
        let header = "# AgentK fixture (generated by `cargo xtask fixtures`; do not edit)\n# expect: valid\n";
        files.insert(PathBuf::from(format!("fixtures/policies/valid/{name}.toml")), format!("{header}{text}"));
    }
    for (name, code, text) in invalid_policies() {
        let file = format!("{name}.toml");
        files.insert(PathBuf::from(format!("fixtures/policies/invalid/{file}")), negative_vector(&file, code, &text)?);
    }
    for (name, text) in crate::logfixtures::files()? {
        files.insert(PathBuf::from(format!("fixtures/logs/{name}")), text);
    }
    for (name, text) in crate::logfixtures::receipt_files()? {
        files.insert(PathBuf::from(format!("fixtures/receipts/{name}")), text);
    }
    for (name, text) in crate::replayfixtures::files()? {
        files.insert(PathBuf::from(format!("fixtures/replay/{name}")), text);
    }
    Ok(files)
}

/// A negative vector: a header listing every diagnostic the parser reports for the file as
/// written (header included, so positions are exact), then the policy text.
fn negative_vector(file: &str, code: &str, text: &str) -> Result<String, String> {
    let mut lines: Vec<String> = Vec::new();
    // The header holds one line per diagnostic, so two rounds reach a fixed point.
    for _ in 0..3 {
        let mut full = format!(
            "# AgentK fixture (generated by `cargo xtask fixtures`; do not edit)\n# expect: refused\n# code: {code}\n"
        );
        for line in &lines {
            full.push_str(&format!("# diagnostic: {line}\n"));
        }
        full.push_str(text);
        let Err(PolicyError::Invalid { diagnostics, .. }) = Policy::parse(file, &full) else {
            return Err(format!("invalid fixture `{file}` is accepted"));
        };
        if !diagnostics.iter().any(|d| d.kind().code() == code) {
            return Err(format!("invalid fixture `{file}` does not report `{code}`"));
        }
        let found: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
        if found == lines {
            return Ok(full);
        }
        lines = found;
    }
    Err(format!("invalid fixture `{file}`: diagnostics do not settle"))
}

/// Files under `fixtures/` whose contents differ from what the generator writes, plus files
/// it would not write at all.
pub fn stale(root: &Path) -> Result<Vec<String>, String> {
    let expected = expected_files()?;
    let mut stale: Vec<String> = expected
        .iter()
        .filter(|(path, text)| fs::read_to_string(root.join(path)).ok().as_deref() != Some(text.as_str()))
        .map(|(path, _)| path.display().to_string())
        .collect();
    for dir in [
        "fixtures/policies/valid",
        "fixtures/policies/invalid",
        "fixtures/logs",
        "fixtures/receipts",
        "fixtures/replay",
    ] {
        let Ok(entries) = fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = PathBuf::from(dir).join(entry.file_name());
            if !expected.contains_key(&path) {
                stale.push(format!("{} (not generated; remove it)", path.display()));
            }
        }
    }
    stale.sort();
    Ok(stale)
}

/// Writes every fixture.
pub fn write(root: &Path) -> Result<usize, String> {
    let files = expected_files()?;
    for (path, text) in &files {
        let full = root.join(path);
        if let Some(dir) = full.parent() {
            fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        fs::write(&full, text).map_err(|e| format!("cannot write {}: {e}", full.display()))?;
    }
    Ok(files.len())
}
