//! Tidy checks: the project's own rules, enforced by code rather than review.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use agentk_labels::{LabelSet, Syscall};
use serde_json::Value;

/// The crate layers, lowest first. A crate may depend only on crates before it.
pub const LAYERS: [&str; 8] = [
    "agentk-labels",
    "agentk-policy",
    "agentk-capability",
    "agentk-secrets",
    "agentk-flightlog",
    "agentk-replay",
    "agentk-mcp",
    "agentk-cli",
];

/// Every tidy problem in the workspace at `root`.
pub fn all(root: &Path) -> Vec<String> {
    let mut problems = match cargo_metadata(root) {
        Ok(metadata) => layering(&metadata),
        Err(e) => vec![e],
    };
    problems.extend(forbid_unsafe(root));
    problems.extend(crate_docs(root));
    problems.extend(leftovers(root));
    problems.extend(error_messages(root));
    problems.extend(syscalls_documented(root));
    problems.extend(security_record(root));
    problems.extend(run_logs_ignored(root));
    problems.extend(report_schemas(root));
    problems
}

/// Report shapes have one owner: a report schema (`agentk.<name>.v1`) is named in code only in
/// `agentk_replay::schema`, and front ends use its constants (file formats such as receipts,
/// handles, checkpoints, proofs and override files are owned by the crates that parse them).
pub fn report_schemas(root: &Path) -> Vec<String> {
    let owner = root.join("crates/agentk-replay/src/schema.rs");
    let Some(schema) = read(&owner) else { return vec!["crates/agentk-replay/src/schema.rs is missing".to_owned()] };
    let names: Vec<String> = schema
        .lines()
        .filter(|line| line.starts_with("pub const ") && line.contains("\"agentk."))
        .filter_map(|line| line.split('"').nth(1).map(str::to_owned))
        .collect();
    let mut problems = Vec::new();
    // Tests spell the names out on purpose: they pin the public contract.
    for path in rust_files(root).into_iter().filter(|p| !p.components().any(|c| c.as_os_str() == "tests")) {
        if path == owner {
            continue;
        }
        let Some(text) = read(&path) else { continue };
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if let Some(name) = names.iter().find(|name| code.contains(&format!("\"{name}\""))) {
                problems.push(format!(
                    "{}:{}: `{name}` is spelled out; use its constant in agentk_replay::schema",
                    relative(root, &path),
                    n + 1
                ));
            }
        }
    }
    problems
}

/// Run logs and key files stay out of git (F3): `.gitignore` lists `.agentk/` and key files.
pub fn run_logs_ignored(root: &Path) -> Vec<String> {
    let text = read(&root.join(".gitignore")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    [".agentk/", "*.key", "/target/"]
        .iter()
        .filter(|pattern| !lines.contains(pattern))
        .map(|pattern| format!(".gitignore does not list `{pattern}`"))
        .collect()
}

/// Every guarantee id of the product specification, which SECURITY.md must give a status.
pub const GUARANTEE_IDS: &[&str] = &[
    "P1", "P2", "P3", "P4", "P5", "P6", "P7", "C1", "C2", "C3", "C4", "C5", "C6", "C7", "S1", "S2", "S3", "S4", "S5",
    "S6", "S7", "S8", "F1", "F2", "F3", "F4", "F5", "R1", "R2", "R3", "M1", "M2", "M3", "M4", "M5", "M6", "A1", "A2",
    "A3",
];

/// SECURITY.md gives every guarantee id a status, and every test it names exists.
pub fn security_record(root: &Path) -> Vec<String> {
    let Some(text) = read(&root.join("SECURITY.md")) else {
        return vec!["SECURITY.md is missing".to_owned()];
    };
    check_security_record(&text, &rust_files(root))
}

/// The check behind [`security_record`]: `text` is SECURITY.md, `sources` the Rust files.
pub fn check_security_record(text: &str, sources: &[PathBuf]) -> Vec<String> {
    let mut problems = Vec::new();
    let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("| ")).collect();
    let mentioned = |id: &str| {
        rows.iter().any(|row| {
            let first_cell = row.split('|').nth(1).unwrap_or_default();
            first_cell.split([' ', ',']).any(|word| word == id || in_range(word, id))
        })
    };
    for id in GUARANTEE_IDS {
        if !mentioned(id) {
            problems.push(format!("SECURITY.md gives no status for guarantee {id}"));
        }
    }
    let functions: Vec<(String, String)> = sources
        .iter()
        .filter_map(|path| {
            let stem = path.file_stem()?.to_string_lossy().into_owned();
            Some((stem, read(path)?))
        })
        .collect();
    for row in rows {
        for name in row.split('`').skip(1).step_by(2) {
            let Some((file, function)) = name.split_once("::") else {
                continue;
            };
            let function = function.rsplit("::").next().unwrap_or(function);
            if function == "*" || !function.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
                continue;
            }
            let module = file.split("::").next().unwrap_or(file);
            let found = functions.iter().any(|(stem, text)| {
                (stem == module || text.contains(&format!("mod {module}"))) && defines_test(text, function)
            });
            if !found {
                problems.push(format!("SECURITY.md names test `{name}`, which does not exist"));
            }
        }
    }
    problems
}

/// Whether `text` defines test `function`: as a function, or as the first argument of a
/// test-generating macro (`invalid!(name, ...)`).
fn defines_test(text: &str, function: &str) -> bool {
    text.contains(&format!("fn {function}("))
        || text.contains(&format!("!({function},"))
        || text.contains(&format!("!(\n    {function},\n"))
}

/// Whether `word` is a range like `S1–S8` that holds `id`.
fn in_range(word: &str, id: &str) -> bool {
    let Some((from, to)) = word.split_once('–') else {
        return false;
    };
    let split = |s: &str| {
        let (letter, number) = s.split_at(s.len().min(1));
        number.parse::<u32>().ok().map(|n| (letter.to_owned(), n))
    };
    match (split(from), split(to), split(id)) {
        (Some((a, lo)), Some((b, hi)), Some((c, n))) => a == b && b == c && (lo..=hi).contains(&n),
        _ => false,
    }
}

/// `cargo metadata` for the workspace members, offline.
pub fn cargo_metadata(root: &Path) -> Result<Value, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(root)
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !output.status.success() {
        return Err(format!("cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr).trim()));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| format!("cargo metadata printed bad JSON: {e}"))
}

/// Layering problems in `cargo metadata` output: a crate depending on itself or a crate above
/// it (normal, build or dev dependency), anything depending on `agentk-cli` or `xtask`, and
/// `agentk-*` crates missing from [`LAYERS`].
pub fn layering(metadata: &Value) -> Vec<String> {
    let rank = |name: &str| LAYERS.iter().position(|l| *l == name);
    let mut problems = Vec::new();
    let packages = metadata.get("packages").and_then(Value::as_array).cloned().unwrap_or_default();
    if packages.is_empty() {
        problems.push("cargo metadata lists no packages".to_owned());
    }
    for package in &packages {
        let name = package.get("name").and_then(Value::as_str).unwrap_or("?");
        if name.starts_with("agentk-") && rank(name).is_none() {
            problems.push(format!("crate `{name}` is not in the layer list; add it to xtask::tidy::LAYERS"));
        }
        let deps = package["dependencies"].as_array().cloned().unwrap_or_default();
        for dep in deps {
            let dep_name = dep.get("name").and_then(Value::as_str).unwrap_or("?");
            if dep_name == "xtask" || (dep_name == "agentk-cli" && name != "agentk-cli") {
                problems.push(format!("`{name}` depends on `{dep_name}`, which nothing may depend on"));
            }
            if let (Some(mine), Some(theirs)) = (rank(name), rank(dep_name))
                && theirs >= mine
            {
                problems.push(format!(
                    "`{name}` (layer {mine}) depends on `{dep_name}` (layer {theirs}); crates depend only downward"
                ));
            }
        }
    }
    problems
}

/// Every `lib.rs` and `main.rs` of the workspace forbids unsafe code.
pub fn forbid_unsafe(root: &Path) -> Vec<String> {
    crate_roots(root)
        .into_iter()
        .filter(|path| read(path).is_none_or(|text| !text.contains("#![forbid(unsafe_code)]")))
        .map(|path| format!("{} lacks #![forbid(unsafe_code)]", relative(root, &path)))
        .collect()
}

/// Every library crate's `//!` doc has the sections house style asks for.
pub fn crate_docs(root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    for path in crate_roots(root).into_iter().filter(|p| p.ends_with("lib.rs")) {
        let text = read(&path).unwrap_or_default();
        if !text.starts_with("//!") {
            problems.push(format!("{} does not open with a //! crate doc", relative(root, &path)));
        }
        let doc: String = text.lines().take_while(|l| l.starts_with("//!")).collect::<Vec<_>>().join("\n");
        for section in ["# Invariants", "# Non-goals", "# Example"] {
            if !doc.contains(&format!("//! {section}")) {
                problems.push(format!("{} crate doc lacks `{section}`", relative(root, &path)));
            }
        }
    }
    problems
}

/// No leftover debugging or placeholder macros, and no ignored tests, in any Rust source.
pub fn leftovers(root: &Path) -> Vec<String> {
    // Built at run time so this file does not flag itself.
    let needles = [
        ["todo", "!("].concat(),
        ["dbg", "!("].concat(),
        ["unimplemented", "!("].concat(),
        ["#[", "ignore"].concat(),
        ["#[", "should_panic"].concat(),
    ];
    let mut problems = Vec::new();
    for path in rust_files(root) {
        let Some(text) = read(&path) else { continue };
        for (n, line) in text.lines().enumerate() {
            if let Some(needle) = needles.iter().find(|needle| line.contains(needle.as_str())) {
                problems.push(format!("{}:{}: leftover `{needle}`", relative(root, &path), n + 1));
            }
        }
    }
    problems
}

/// Error messages follow the house style: one line, no final period, starting lowercase (an
/// all-caps name such as an environment variable may lead).
pub fn error_messages(root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let sources = rust_files(root)
        .into_iter()
        .filter(|p| p.starts_with(root.join("crates")) && p.components().any(|c| c.as_os_str() == "src"));
    for path in sources {
        let Some(text) = read(&path) else { continue };
        let mut rest = text.as_str();
        while let Some(at) = rest.find("#[error(") {
            let after = rest.get(at + 8..).unwrap_or_default();
            rest = after;
            let Some(message) = string_literal(after.trim_start()) else { continue };
            if let Some(problem) = check_error_message(&message) {
                let line = text.len() - after.len();
                let line = text.get(..line).map_or(0, |t| t.lines().count());
                problems.push(format!("{}:{line}: error message {problem}: \"{message}\"", relative(root, &path)));
            }
        }
    }
    problems
}

/// The value of the Rust string literal (plain or raw) `text` starts with, escapes resolved
/// (`\\n` becomes a line break); `None` if it does not start with one.
fn string_literal(text: &str) -> Option<String> {
    if let Some(raw) = text.strip_prefix('r') {
        let hashes = raw.chars().take_while(|c| *c == '#').count();
        let body = raw.get(hashes..)?.strip_prefix('"')?;
        let end = format!("\"{}", "#".repeat(hashes));
        return body.find(&end).and_then(|at| body.get(..at)).map(str::to_owned);
    }
    let mut chars = text.strip_prefix('"')?.chars();
    let mut value = String::new();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(value),
            '\\' => match chars.next()? {
                'n' => value.push('\n'),
                'r' => value.push('\r'),
                't' => value.push('\t'),
                // A continuation: the line break and the next line's indentation vanish.
                '\n' => {
                    while chars.clone().next().is_some_and(char::is_whitespace) {
                        chars.next();
                    }
                }
                'x' => {
                    let code: String = chars.by_ref().take(2).collect();
                    value.push(char::from(u8::from_str_radix(&code, 16).ok()?));
                }
                'u' => {
                    let code: String = chars.by_ref().skip(1).take_while(|c| *c != '}').collect();
                    value.push(char::from_u32(u32::from_str_radix(&code, 16).ok()?)?);
                }
                other => value.push(other),
            },
            other => value.push(other),
        }
    }
    None
}

/// What is wrong with one error message, if anything.
pub fn check_error_message(message: &str) -> Option<&'static str> {
    let first_word = message.split([' ', ':', '=']).next().unwrap_or_default();
    let shouting =
        first_word.len() > 1 && first_word.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if message.ends_with('.') {
        Some("ends with a period")
    } else if message.contains(['\n', '\r']) {
        Some("spans lines")
    } else if message.chars().next().is_some_and(char::is_uppercase) && !shouting {
        Some("starts with a capital")
    } else {
        None
    }
}

/// `docs/syscalls.md` documents every syscall, with the four sections, and its "Labels
/// emitted" line names exactly the labels the code adds.
pub fn syscalls_documented(root: &Path) -> Vec<String> {
    let Some(doc) = read(&root.join("docs/syscalls.md")) else {
        return vec!["docs/syscalls.md is missing".to_owned()];
    };
    check_syscall_doc(&doc)
}

/// The check behind [`syscalls_documented`], on the document's text.
pub fn check_syscall_doc(doc: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for &syscall in Syscall::ALL {
        let heading = format!("## `{}`", syscall.name());
        let Some(start) = doc.find(&heading) else {
            problems.push(format!("docs/syscalls.md has no section `{heading}`"));
            continue;
        };
        let rest = doc.get(start + heading.len()..).unwrap_or_default();
        let section = rest.split("\n## ").next().unwrap_or_default();
        for part in ["**Threat model:**", "**Labels consumed:**", "**Labels emitted:**", "**Failure modes:**"] {
            if !section.contains(part) {
                problems.push(format!("docs/syscalls.md `{}` lacks {part}", syscall.name()));
            }
        }
        let emitted_line = section.lines().find(|l| l.contains("**Labels emitted:**")).unwrap_or_default();
        let documented: LabelSet =
            emitted_line.split('`').skip(1).step_by(2).filter_map(|word| word.parse().ok()).collect();
        if documented != syscall.adds() {
            problems.push(format!(
                "docs/syscalls.md says `{}` adds `{documented}`, the code adds `{}`",
                syscall.name(),
                syscall.adds()
            ));
        }
    }
    problems
}

fn crate_roots(root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(root.join("crates"))
        .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    dirs.push(root.join("xtask"));
    dirs.sort();
    dirs.iter().flat_map(|dir| [dir.join("src/lib.rs"), dir.join("src/main.rs")]).filter(|p| p.exists()).collect()
}

fn rust_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.join("crates"), root.join("xtask"), root.join("fuzz/fuzz_targets")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                if path.file_name().is_none_or(|n| n != "target") {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn read(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok()
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).display().to_string()
}
