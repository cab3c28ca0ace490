//! R1–R3 through the CLI, on the session log and replay vectors in `fixtures/` (made by
//! `cargo xtask fixtures`): reports are snapshotted in human and JSON form, every tampered log
//! is refused before any report, and every negative override file is refused as its
//! expectation says.
#![allow(clippy::unwrap_used, clippy::panic, reason = "test helpers fail loudly on purpose")]

use std::path::{Path, PathBuf};

mod common;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn path(relative: &str) -> String {
    fixtures().join(relative).display().to_string()
}

/// Runs `agentk` hermetically, answering the exit code, stdout, and a stable transcript.
fn agentk(args: &[&str]) -> (u8, String, String) {
    let run = common::agentk(&common::TestHost::new(&[]), args);
    let dir = fixtures().display().to_string();
    let text =
        format!("exit: {}\n--- stdout\n{}--- stderr\n{}", run.code, run.stdout, run.stderr).replace(&dir, "$FIXTURES");
    (run.code, run.stdout, text)
}

// guarantee: R1 (replay reproduces every decision of the session fixture, with stub outputs
// for allowed model.call, tool.invoke and network.send only)
#[test]
fn replay_of_the_session_fixture_reproduces_every_decision() {
    let log = path("logs/session.jsonl");
    let (code, _, text) = agentk(&["replay", &log]);
    insta::assert_snapshot!("replay_session", text);
    assert_eq!(code, agentk_cli::exit::OK);
    let (code, stdout, text) = agentk(&["replay", &log, "--json"]);
    insta::assert_snapshot!("replay_session_json", text);
    assert_eq!(code, agentk_cli::exit::OK);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["verified"], true);
    assert_eq!(report["replayed"], report["reproduced"]);
    for step in report["steps"]["rows"].as_array().unwrap() {
        let stubbed = step.get("stub_output").is_some();
        let wants_stub = step["decision"] == "allow"
            && ["model.call", "tool.invoke", "network.send"].contains(&step["syscall"].as_str().unwrap());
        assert_eq!(stubbed, wants_stub, "{step}");
    }
}

// guarantee: R1 (an unverifiable log gives no report: exit 4)
#[test]
fn replay_refuses_every_tampered_log() {
    for name in ["flipped-deny", "dropped-deny", "unsigned-tail", "torn", "newer-schema"] {
        let log = path(&format!("logs/{name}.jsonl"));
        for command in ["replay", "fork-replay"] {
            let (code, stdout, _) = agentk(&[command, &log, "--profile", "starter"]);
            assert_eq!(code, agentk_cli::exit::VERIFY_FAILED, "{command} {name}: {stdout}");
            assert!(stdout.starts_with("verification failed"), "{command} {name}: {stdout}");
        }
        let (code, stdout, _) = agentk(&["replay", &log, "--json"]);
        assert_eq!(code, agentk_cli::exit::VERIFY_FAILED);
        let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!((&report["verified"], report.get("steps")), (&serde_json::Value::Bool(false), None), "{name}");
    }
    let (_, _, text) = agentk(&["replay", &path("logs/newer-schema.jsonl")]);
    insta::assert_snapshot!("replay_newer_schema", text);
    // A log still being written replays when the caller says so.
    let (code, _, _) = agentk(&["replay", &path("logs/unsigned-tail.jsonl"), "--allow-unsigned-tail"]);
    assert_eq!(code, agentk_cli::exit::OK);
}

#[test]
fn replay_refuses_a_policy_the_log_was_not_written_with() {
    let (code, _, text) = agentk(&["replay", &path("logs/session.jsonl"), "--profile", "coding"]);
    assert_eq!(code, agentk_cli::exit::ERROR);
    insta::assert_snapshot!("replay_wrong_policy", text);
}

// guarantee: R2 (a fork against another policy reports each changed decision, why, and the
// transition counts; against the log's own policy it changes nothing)
#[test]
fn fork_replay_reports_changed_decisions() {
    let log = path("logs/session.jsonl");
    let other = path("replay/other-policy.toml");
    let (code, _, text) = agentk(&["fork-replay", &log, "--policy", &other]);
    insta::assert_snapshot!("fork_replay_other_policy", text);
    assert_eq!(code, agentk_cli::exit::OK);
    let (_, stdout, text) = agentk(&["fork-replay", &log, "--policy", &other, "--json"]);
    insta::assert_snapshot!("fork_replay_other_policy_json", text);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["transitions"]["deny:egress-sensitive-data->allow:browser-egress"], 1);

    let (code, stdout, _) = agentk(&["fork-replay", &log, "--profile", "starter", "--json"]);
    assert_eq!(code, agentk_cli::exit::OK);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["changed"]["rows"], serde_json::json!([]));
    assert_eq!(report["transitions"], serde_json::json!({}));
    assert_eq!(report["unchanged"], report["replayed"]);
}

// guarantee: R3 (a hashed override changes an output's labels; later decisions that consumed
// it are decided again, not only diffed)
#[test]
fn behavior_fork_follows_a_changed_output_downstream() {
    let log = path("logs/session.jsonl");
    let overrides = path("replay/overrides.json");
    let (code, _, text) = agentk(&["fork-replay-behavior", &log, "--behavior", &overrides]);
    insta::assert_snapshot!("fork_replay_behavior", text);
    assert_eq!(code, agentk_cli::exit::OK);
    let (_, stdout, text) = agentk(&["fork-replay-behavior", &log, "--behavior", &overrides, "--json"]);
    insta::assert_snapshot!("fork_replay_behavior_json", text);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["transitions"]["allow:observe->deny:memory-write-poisoned"], 1);
    let causes: Vec<&str> =
        report["outputs"]["rows"].as_array().unwrap().iter().map(|o| o["cause"].as_str().unwrap()).collect();
    assert_eq!(causes, ["override", "upstream", "upstream"]);
}

// guarantee: R3 (raw outputs, mismatched, duplicate, out-of-range and denied steps are
// refused with a clear error each, as `fixtures/replay/expect.json` says)
#[test]
fn override_vectors_are_refused_as_expected() {
    let expect: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("replay/expect.json")).unwrap()).unwrap();
    let files = expect["files"].as_object().unwrap();
    assert!(files.len() >= 9, "{files:?}");
    let log = path("logs/session.jsonl");
    for (name, want) in files {
        let (code, _, text) = agentk(&["fork-replay-behavior", &log, "--behavior", &path(&format!("replay/{name}"))]);
        assert_eq!(u64::from(code), want["exit"].as_u64().unwrap(), "{name}: {text}");
        if let Some(says) = want["error_contains"].as_str() {
            assert!(text.contains(says), "{name}: {text}");
            assert!(!text.contains("dummy raw tool output"), "{name} echoes the raw output: {text}");
            insta::assert_snapshot!(format!("override_{}", name.trim_end_matches(".json")), text);
        }
    }
}

// guarantee: F1, R1 (logs written by schema versions 1 (before input links) and 2 (before
// output events) still verify, pinned, and replay with every decision reproduced)
#[test]
fn older_schema_logs_still_verify_and_replay() {
    for (log, syscalls) in [("compat/session-v1.jsonl", 6), ("compat/session-v2.jsonl", 8)] {
        check_older_schema_log(&path(log), syscalls);
    }
}

fn check_older_schema_log(log: &str, syscalls: u64) {
    let log = log.to_owned();
    let expect: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("logs/expect.json")).unwrap()).unwrap();
    let key = expect.get("fixture_test_public_key").and_then(serde_json::Value::as_str).unwrap();
    assert_eq!(agentk(&["verify", &log]).0, agentk_cli::exit::OK);
    assert_eq!(agentk(&["verify-signatures", &log, "--trusted-public-key", key]).0, agentk_cli::exit::OK);
    let (code, stdout, _) = agentk(&["replay", &log, "--json"]);
    assert_eq!(code, agentk_cli::exit::OK, "{stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report.get("replayed"), report.get("reproduced"));
    assert_eq!(report.get("replayed").and_then(serde_json::Value::as_u64), Some(syscalls));
}

// A log that does not verify answers exit 4 whatever else is wrong with the request.
#[test]
fn verification_failures_win_over_other_errors() {
    let log = path("logs/unsigned-tail.jsonl");
    assert_eq!(agentk(&["replay", &log, "--profile", "coding"]).0, agentk_cli::exit::VERIFY_FAILED);
    let wrong = path("replay/overrides-wrong-target.json");
    assert_eq!(agentk(&["fork-replay-behavior", &log, "--behavior", &wrong]).0, agentk_cli::exit::VERIFY_FAILED);
}

#[test]
fn fork_replay_needs_the_other_policy_named() {
    let (code, _, text) = agentk(&["fork-replay", &path("logs/session.jsonl")]);
    assert_eq!(code, agentk_cli::exit::USAGE, "{text}");
    assert!(text.contains("needs the other policy"), "{text}");
}

// guarantee: R1 (with a signer pinned, a log forged under another key gives no report)
#[test]
fn pinned_replay_refuses_a_log_signed_by_another_key() {
    let expect: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("logs/expect.json")).unwrap()).unwrap();
    let key = expect["fixture_test_public_key"].as_str().unwrap();
    let forged = path("logs/forged-other-key.jsonl");
    let session = path("logs/session.jsonl");
    let overrides = path("replay/overrides.json");
    for (log, want) in [(&forged, agentk_cli::exit::VERIFY_FAILED), (&session, agentk_cli::exit::OK)] {
        for args in [
            vec!["replay", log, "--trusted-public-key", key],
            vec!["fork-replay", log, "--profile", "research", "--trusted-public-key", key],
            vec!["fork-replay-behavior", log, "--behavior", &overrides, "--trusted-public-key", key],
        ] {
            let (code, stdout, _) = agentk(&args);
            assert_eq!(code, want, "{args:?}: {stdout}");
            assert_eq!(stdout.starts_with("verification failed"), want != agentk_cli::exit::OK, "{args:?}");
        }
    }
    // Unpinned, the forged log verifies (its own checkpoints are consistent) and replays.
    assert_eq!(agentk(&["replay", &forged]).0, agentk_cli::exit::OK);
}
