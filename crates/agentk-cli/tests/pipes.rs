//! Named pipes are refused before they are opened (opening one for reading waits for a writer):
//! policies, logs (every reader, and log-recover), override files and key files alike. In its own test binary: creating the
//! pipe starts a process, and a process forked while another test holds a log open would keep
//! that log's lock until it execs.
#![allow(clippy::unwrap_used, clippy::panic, reason = "test helpers fail loudly on purpose")]

mod common;

use agentk_cli::exit;

#[cfg(unix)]
#[test]
fn a_named_pipe_is_refused_without_waiting_for_a_writer() {
    let dir = common::scratch("named-pipes");
    let fifo = dir.join("agentk-test.fifo").display().to_string();
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let host = common::TestHost::new(&[]);
    for args in [
        vec!["policy-check", fifo.as_str()],
        vec!["verify", fifo.as_str()],
        vec!["replay", fifo.as_str()],
        vec!["fork-replay-behavior", "fixtures-do-not-matter.jsonl", "--behavior", fifo.as_str()],
        vec!["trace-inspect", fifo.as_str()],
        vec!["audit", fifo.as_str()],
        vec!["checkpoint", fifo.as_str()],
        // Issue 11 item 3: log-recover used to wait for a writer.
        vec!["log-recover", fifo.as_str()],
        vec!["log-recover", fifo.as_str(), "--apply"],
    ] {
        let run = common::agentk(&host, &args);
        assert_eq!(run.code, exit::ERROR, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains("not a regular file"), "{args:?}: {}", run.stderr);
    }
    // A key file too (the signer is loaded before anything else).
    let host = common::TestHost::new(&[("AGENTK_SIGNING_KEY_FILE", fifo.as_str())]);
    let run = common::agentk(&host, &["signing-key"]);
    assert_eq!(run.code, exit::ERROR, "{}", run.stderr);
    assert!(run.stderr.contains("not a regular file"), "{}", run.stderr);
}
