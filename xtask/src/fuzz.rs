//! `cargo xtask fuzz [--seconds N] [--target NAME]`: a short, bounded cargo-fuzz run of every
//! target in `fuzz/`, each seeded from the fixtures, reporting executions and crashes.
//!
//! Needs cargo-fuzz and a nightly toolchain (`cargo install cargo-fuzz`, `rustup toolchain
//! install nightly`); without them it says so and fails. Corpora and crash artifacts stay under
//! `fuzz/corpus` and `fuzz/artifacts` (git-ignored); a crash found is kept as a regression
//! fixture by hand, under `fixtures/fuzz/<target>/`, and replayed by the tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Every fuzz target, with the fixture directories that seed its corpus.
pub const TARGETS: [(&str, &[&str]); 5] = [
    ("policy_parse", &["fixtures/policies/valid", "fixtures/policies/invalid", "fixtures/replay"]),
    ("flightlog_lines", &["fixtures/logs", "fixtures/compat"]),
    ("receipt_and_handle", &["fixtures/logs"]),
    ("secret_manifest", &["fuzz/seeds/secret_manifest"]),
    ("behavior_overrides", &["fixtures/replay"]),
];

/// One target's run.
#[derive(Debug)]
pub struct FuzzRun {
    /// The target.
    pub target: &'static str,
    /// Inputs executed.
    pub executions: u64,
    /// Crash, timeout or leak artifacts written.
    pub crashes: Vec<PathBuf>,
    /// Whether cargo-fuzz itself reported failure.
    pub failed: bool,
}

/// Copies the seed files into the target's corpus directory (one file each; log files are
/// also split into one line per seed).
fn seed(root: &Path, target: &str, dirs: &[&str]) -> Result<PathBuf, String> {
    let corpus = root.join("fuzz/corpus").join(target);
    std::fs::create_dir_all(&corpus).map_err(|e| format!("{}: {e}", corpus.display()))?;
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else { continue };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let Ok(bytes) = std::fs::read(&path) else { continue };
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let _ = std::fs::write(corpus.join(format!("seed-{name}")), &bytes);
            if name.ends_with(".jsonl") {
                for (i, line) in bytes.split(|b| *b == b'\n').enumerate().take(64) {
                    let _ = std::fs::write(corpus.join(format!("seed-{name}-{i}")), line);
                }
            }
        }
    }
    Ok(corpus)
}

/// Runs one target for `seconds`.
pub fn run_target(root: &Path, target: &'static str, dirs: &[&str], seconds: u64) -> Result<FuzzRun, String> {
    let corpus = seed(root, target, dirs)?;
    let artifacts = root.join("fuzz/artifacts").join(target);
    std::fs::create_dir_all(&artifacts).map_err(|e| format!("{}: {e}", artifacts.display()))?;
    let before: Vec<PathBuf> = list(&artifacts);
    let output = Command::new("cargo")
        .current_dir(root.join("fuzz"))
        .args(["+nightly", "fuzz", "run", target])
        .arg(&corpus)
        .args(["--", &format!("-max_total_time={seconds}"), "-print_final_stats=1", "-rss_limit_mb=2048"])
        .env("CARGO_TERM_COLOR", "never")
        .output()
        .map_err(|e| format!("cargo could not start: {e}"))?;
    let log = String::from_utf8_lossy(&output.stderr);
    let executions = log
        .lines()
        .find_map(|l| l.strip_prefix("stat::number_of_executed_units:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    let crashes = list(&artifacts).into_iter().filter(|p| !before.contains(p)).collect();
    Ok(FuzzRun { target, executions, crashes, failed: !output.status.success() })
}

fn list(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).map(|e| e.filter_map(Result::ok).map(|e| e.path()).collect()).unwrap_or_default()
}

/// Whether cargo-fuzz and a nightly toolchain are available.
pub fn available() -> Result<(), String> {
    let ok = |args: &[&str]| Command::new("cargo").args(args).output().is_ok_and(|o| o.status.success());
    if !ok(&["+nightly", "--version"]) {
        return Err("no nightly toolchain: run `rustup toolchain install nightly`".to_owned());
    }
    if !ok(&["+nightly", "fuzz", "--version"]) {
        return Err("cargo-fuzz is not installed: run `cargo install cargo-fuzz`".to_owned());
    }
    Ok(())
}
