//! `cargo xtask`: project automation. See `cargo xtask help`.
#![forbid(unsafe_code)]
#![allow(clippy::print_stdout, clippy::print_stderr, reason = "a command-line tool reports on its streams")]

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  tidy     check crate layering, #![forbid(unsafe_code)], crate docs, leftovers, docs/syscalls.md,
           error-message style, SECURITY.md's record and .gitignore
  fixtures [--check]
           regenerate fixtures/ deterministically, or list stale files and fail
  bench    measure policy decisions per second against Ed25519 and blake3 in the same run
  bench-read [--syscalls N]
           verify, verify-signatures and replay of a mixed log (70% allows with receipts)
  efficacy [--json] [--profile NAME] [--dir DIR]
           the MCP efficacy suite: every scenario of fixtures/efficacy directly and through
           AgentK; fails when the goals of the profile mcp are not met
  fuzz [--seconds N] [--target NAME]
           a bounded cargo-fuzz run of each target in fuzz/ (needs nightly and cargo-fuzz)
  audit [--strict] [--json] [--only CHECK,...]
           the release gate: fmt, clippy, tests, docs, tidy, cargo-deny, fixtures, readiness,
           runtime smokes (and, with --strict, a real key and a clean tree); local only
  help     print this text";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = xtask::workspace_root();
    match args.first().map(String::as_str) {
        Some("tidy") => {
            let problems = xtask::tidy::all(&root);
            for p in &problems {
                eprintln!("tidy: {p}");
            }
            if problems.is_empty() {
                println!("tidy: ok");
                ExitCode::SUCCESS
            } else {
                eprintln!("tidy: {} problem(s)", problems.len());
                ExitCode::FAILURE
            }
        }
        Some("fixtures") if args.get(1).is_some_and(|a| a == "--check") => match xtask::fixtures::stale(&root) {
            Ok(stale) if stale.is_empty() => {
                println!("fixtures: up to date");
                ExitCode::SUCCESS
            }
            Ok(stale) => {
                for file in &stale {
                    eprintln!("fixtures: stale: {file}");
                }
                eprintln!("fixtures: {} stale file(s); run `cargo xtask fixtures`", stale.len());
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("fixtures: error: {e}");
                ExitCode::FAILURE
            }
        },
        Some("fixtures") => match xtask::fixtures::write(&root) {
            Ok(count) => {
                println!("fixtures: wrote {count} file(s)");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("fixtures: error: {e}");
                ExitCode::FAILURE
            }
        },
        Some("bench") => xtask::bench::main(args.get(1..).unwrap_or_default(), &root),
        Some("bench-read") => bench_read(args.get(1..).unwrap_or_default()),
        Some("efficacy") => xtask::efficacy::main(args.get(1..).unwrap_or_default(), &root),
        Some("audit") => audit(args.get(1..).unwrap_or_default(), &root),
        Some("fuzz") => fuzz(args.get(1..).unwrap_or_default(), &root),
        Some("help" | "--help" | "-h") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// `cargo xtask bench-read [--syscalls N]`: the mixed-log reading figures (20,000 and 200,000
/// syscalls unless told otherwise). Run it in release: debug figures mean nothing.
fn bench_read(args: &[String]) -> ExitCode {
    let counts: Vec<u64> = match args {
        [] => vec![20_000, 200_000],
        [flag, n] if flag == "--syscalls" && n.parse::<u64>().is_ok_and(|n| n > 0) => vec![n.parse().unwrap_or(1)],
        _ => {
            eprintln!("bench-read: error: usage: cargo xtask bench-read [--syscalls N]");
            return ExitCode::from(2);
        }
    };
    if cfg!(debug_assertions) {
        eprintln!("bench-read: warning: a debug build; run `cargo run --release -p xtask -- bench-read` for figures");
    }
    for syscalls in counts {
        match xtask::bench_read::mixed_figures(syscalls) {
            Ok(figures) => print!("{figures}"),
            Err(e) => {
                eprintln!("bench-read: error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

fn audit(args: &[String], root: &std::path::Path) -> ExitCode {
    let mut options = xtask::audit::Options::default();
    let mut json = false;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--strict" => options.strict = true,
            "--json" => json = true,
            "--only" => match rest.next() {
                Some(list) => options.only = list.split(',').map(str::to_owned).collect(),
                None => {
                    eprintln!("audit: error: --only takes a comma-separated list of checks");
                    return ExitCode::from(2);
                }
            },
            other => {
                eprintln!("audit: error: unknown argument `{}`\n{USAGE}", other.escape_debug());
                return ExitCode::from(2);
            }
        }
    }
    if options.strict && !options.only.is_empty() {
        eprintln!("audit: error: --strict runs every check; it cannot be combined with --only");
        return ExitCode::from(2);
    }
    if let Some(unknown) = options.only.iter().find(|c| !xtask::audit::CHECKS.contains(&c.as_str())) {
        eprintln!(
            "audit: error: no check `{}`; checks are {}",
            unknown.escape_debug(),
            xtask::audit::CHECKS.join(", ")
        );
        return ExitCode::from(2);
    }
    let outcomes = xtask::audit::run(root, &options);
    if json {
        println!("{}", xtask::audit::to_json(&outcomes, options.strict));
    } else {
        print!("{}", xtask::audit::to_text(&outcomes, options.strict));
    }
    if xtask::audit::passed(&outcomes) { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

fn fuzz(args: &[String], root: &std::path::Path) -> ExitCode {
    let (mut seconds, mut only) = (60u64, None::<String>);
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match (arg.as_str(), rest.next()) {
            ("--seconds", Some(n)) if n.parse::<u64>().is_ok_and(|n| n > 0) => seconds = n.parse().unwrap_or(60),
            ("--target", Some(name)) if xtask::fuzz::TARGETS.iter().any(|(t, _)| t == name) => {
                only = Some(name.clone())
            }
            _ => {
                let targets: Vec<&str> = xtask::fuzz::TARGETS.iter().map(|(t, _)| *t).collect();
                eprintln!("fuzz: error: usage: cargo xtask fuzz [--seconds N] [--target {}]", targets.join("|"));
                return ExitCode::from(2);
            }
        }
    }
    if let Err(e) = xtask::fuzz::available() {
        eprintln!("fuzz: error: {e}");
        return ExitCode::FAILURE;
    }
    let mut failed = false;
    for (target, _) in xtask::fuzz::TARGETS {
        if only.as_deref().is_some_and(|o| o != target) {
            continue;
        }
        match xtask::fuzz::run_target(root, target, seconds) {
            Ok(run) => {
                println!(
                    "{:<20} {:>12} executions in {seconds} s, {} crash(es)",
                    run.target,
                    run.executions,
                    run.crashes.len()
                );
                for crash in &run.crashes {
                    println!("  crash: {}", crash.display());
                }
                failed |= run.failed || !run.crashes.is_empty();
            }
            Err(e) => {
                eprintln!("fuzz: {target}: error: {e}");
                failed = true;
            }
        }
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
