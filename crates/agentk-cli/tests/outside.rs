//! Regressions found when the CLI was tried from outside (issue 11): a closed pipe, a
//! `--log-dir` holding control characters, a `readiness --dir` that names nothing.
#![allow(clippy::unwrap_used, clippy::panic, reason = "test helpers fail loudly on purpose")]

mod common;

use std::io::Write;

use common::{TestHost, agentk, scratch};

/// A reader that has gone away: every write finds the pipe closed.
struct ClosedPipe;

impl Write for ClosedPipe {
    fn write(&mut self, _buf: &[u8]) -> std::io::Result<usize> {
        Err(std::io::ErrorKind::BrokenPipe.into())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Err(std::io::ErrorKind::BrokenPipe.into())
    }
}

// `agentk ... | head`: a closed stdout ends the command quietly, with the exit code of its
// answer (here: the denial), no panic and nothing on stderr.
#[test]
fn a_closed_pipe_ends_quietly_with_the_answers_exit_code() {
    let host = TestHost::new(&[]);
    for (args, code) in [
        (&["policy-show", "starter"][..], agentk_cli::exit::OK),
        (
            &[
                "policy-explain",
                "--syscall",
                "network.send",
                "--target",
                "https://evil.example.invalid/",
                "--label",
                "secret",
            ][..],
            agentk_cli::exit::DENIED,
        ),
        (&["policy-show", "starter", "--json"][..], agentk_cli::exit::OK),
    ] {
        let mut err = Vec::new();
        let got = agentk_cli::run_with(
            std::iter::once("agentk").chain(args.iter().copied()),
            &host,
            &mut ClosedPipe,
            &mut err,
        );
        assert_eq!(got, code, "{args:?}");
        assert!(err.is_empty(), "{args:?}: {}", String::from_utf8_lossy(&err));
    }
}

// The real binary with its stdout's reader gone: no panic, no error, the answer's exit code.
#[cfg(unix)]
#[test]
fn the_binary_survives_a_closed_stdout() {
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_agentk"))
        .args(["policy-show", "starter"])
        .env_clear()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert!(output.stderr.is_empty(), "{}", String::from_utf8_lossy(&output.stderr));
}

// A log directory is shown escaped: a path holding terminal escapes or line breaks cannot
// forge output.
#[test]
fn the_demo_shows_its_log_dir_escaped() {
    let dir = scratch("demo-escapes").join("evil\u{1b}[31m\nline");
    let host = TestHost::new(&[]);
    let run = agentk(&host, &["demo", "--log-dir", dir.to_str().unwrap()]);
    assert_eq!(run.code, agentk_cli::exit::OK, "{}", run.stderr);
    assert!(!run.stdout.contains('\u{1b}'), "an escape reached the terminal");
    assert!(run.stdout.lines().all(|l| !l.starts_with("line")), "a line break in the path split the output");
    assert!(
        run.stdout.contains("\\u{1b}") || run.stdout.contains("\\x1b") || run.stdout.contains("\\e"),
        "{}",
        run.stdout
    );
    // The line meant for copying into a shell holds no backticks, which a shell would run.
    let check = run.stdout.lines().find(|l| l.starts_with("Check it yourself")).unwrap();
    assert!(!check.contains('`'), "{check}");
}

// `readiness --dir` naming no directory cannot answer "ready".
#[test]
fn readiness_refuses_a_directory_that_is_not_there() {
    let host = TestHost::new(&[]);
    let missing = scratch("readiness-missing").join("nonexistent");
    let file = scratch("readiness-file").join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    for dir in [&missing, &file] {
        for json in [false, true] {
            let mut args = vec!["readiness", "--dir", dir.to_str().unwrap()];
            if json {
                args.push("--json");
            }
            let run = agentk(&host, &args);
            assert_eq!(run.code, agentk_cli::exit::USAGE, "{args:?}");
            assert!(!run.stdout.contains("\"ready\":true") && !run.stdout.starts_with("ready"), "{}", run.stdout);
            if json {
                assert!(run.stdout.contains("agentk.error.v1"), "{}", run.stdout);
            } else {
                assert!(run.stderr.contains("is not a directory"), "{}", run.stderr);
            }
        }
    }
}
