//! `cargo xtask`: project automation. See `cargo xtask help`.
#![forbid(unsafe_code)]
#![allow(clippy::print_stdout, clippy::print_stderr, reason = "a command-line tool reports on its streams")]

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  tidy     check crate layering, #![forbid(unsafe_code)], crate docs, leftovers and docs/syscalls.md
  fixtures [--check]
           regenerate fixtures/ deterministically, or list stale files and fail
  bench    measure policy decisions per second against Ed25519 and blake3 in the same run
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
