//! One acceptance rule for every reader (issue 11, found when the CLI was tried from outside):
//! a log whose unsigned tail was rewritten is refused by `audit` and `trace-inspect` as by
//! `verify` (item 1); with `--json` every reader answers a bad log with one JSON object (item 2);
//! `log-recover` refuses what is not a regular file and truncates only a flight log (item 3);
//! a checkpoint of another log is named as such by every reader that takes one (item 6).
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, reason = "test helpers fail loudly on purpose")]

mod common;

use std::path::{Path, PathBuf};

use agentk_cli::exit;
use agentk_flightlog::event::{Effect, EventBody, EventLine};

use common::{Run, TestHost};

fn agentk(args: &[&str]) -> Run {
    common::agentk(&TestHost::new(&[]), args)
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures").join(name).display().to_string()
}

/// The demo's log (signed with the development key, closed by a checkpoint), in `dir`.
fn demo_log(dir: &Path) -> PathBuf {
    let run = agentk(&["demo", "--log-dir", &dir.display().to_string()]);
    assert_eq!(run.code, exit::OK, "{}", run.stderr);
    dir.join("latest.jsonl")
}

/// What anyone who can write the file can make of the demo's log without the key: the closing
/// checkpoint dropped (`head -n -1`), the exfiltration deny flipped to an allow, and the chain
/// re-sealed from there, so every hash and link verifies again. Only the signed-tail rule can
/// tell.
fn rewritten_unsigned_tail(dir: &Path) -> String {
    let text = std::fs::read_to_string(demo_log(dir)).unwrap();
    let mut events: Vec<EventLine> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(matches!(events.pop().unwrap().event, EventBody::Checkpoint(_)), "the demo closes its log");
    let flipped = events
        .iter()
        .position(|e| matches!(&e.event, EventBody::Syscall(s) if s.rule == "egress-sensitive-data"))
        .unwrap();
    let EventBody::Syscall(s) = &mut events[flipped].event else { unreachable!() };
    s.decision = Effect::Allow;
    s.rule = "observe".to_owned();
    s.output_labels = Some(agentk_labels::LabelSet::EMPTY);
    for i in flipped..events.len() {
        let prev = events[i - 1].hash;
        events[i] = EventLine::seal(events[i].seq, prev, events[i].event.clone());
    }
    let path = dir.join("rewritten.jsonl");
    std::fs::write(&path, events.iter().map(|e| format!("{}\n", e.to_line())).collect::<String>()).unwrap();
    path.display().to_string()
}

/// Every command that reads a log, with what it needs besides the log.
fn readers<'a>(log: &'a str, candidate: &'a [String; 2]) -> Vec<Vec<&'a str>> {
    vec![
        vec!["verify", log],
        vec!["checkpoint", log],
        vec!["trace-inspect", log],
        vec!["audit", log],
        vec!["evidence-check", log, "--event", "1", "--candidate", &candidate[0], "--salt", &candidate[1]],
        vec!["prove-inclusion", log, "--event", "1"],
        vec!["prove-consistency", log, "--from", "1"],
        vec!["replay", log],
        vec!["fork-replay", log, "--profile", "research"],
    ]
}

/// A candidate content and a (dummy) salt file for `evidence-check`.
fn candidate(dir: &Path) -> [String; 2] {
    let (path, salt) = (dir.join("candidate.txt"), dir.join("dummy.salt"));
    std::fs::write(&path, "the agent reads a news page").unwrap();
    std::fs::write(&salt, format!("{}\n", "ab".repeat(32))).unwrap();
    [path.display().to_string(), salt.display().to_string()]
}

// guarantee: F4 (every reader applies verify's signed-tail rule; issue 11 item 1)
#[test]
fn every_reader_refuses_a_rewritten_unsigned_tail_as_verify_does() {
    let dir = common::scratch("acceptance-unsigned-tail");
    let log = rewritten_unsigned_tail(&dir);
    let candidate = candidate(&dir);
    // The chain alone is intact: only the missing signature gives the rewrite away.
    assert_eq!(agentk(&["verify", &log, "--allow-unsigned-tail"]).code, exit::OK);
    for args in readers(&log, &candidate) {
        let run = agentk(&args);
        assert_eq!(run.code, exit::VERIFY_FAILED, "{args:?}: {}{}", run.stdout, run.stderr);
        assert_eq!(run.stdout.lines().count(), 1, "{args:?} printed more than its refusal: {}", run.stdout);
        assert!(run.stdout.starts_with("verification failed: "), "{args:?}: {}", run.stdout);
        assert!(run.stdout.contains("after the last signed checkpoint"), "{args:?}: {}", run.stdout);
        assert!(!run.stdout.contains("egress-sensitive-data") && !run.stdout.contains("observe"), "{args:?}");
    }
    // Asked to take an unsigned tail, the reader does, and shows what the file now says.
    let run = agentk(&["audit", &log, "--allow-unsigned-tail", "--json"]);
    assert_eq!(run.code, exit::OK, "{}", run.stdout);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["denied"], 2);
}

// Issue 11 item 2: with --json, a bad log gets one JSON object from every reader, never text.
#[test]
fn every_json_reader_answers_a_bad_log_with_one_object() {
    let dir = common::scratch("acceptance-json");
    let rewritten = rewritten_unsigned_tail(&dir);
    let candidate = candidate(&dir);
    let torn = fixture("logs/torn.jsonl");
    for log in [rewritten.as_str(), torn.as_str()] {
        for mut args in readers(log, &candidate) {
            if args[0].starts_with("prove-") {
                continue; // proofs print JSON always and take no --json
            }
            args.push("--json");
            let run = agentk(&args);
            assert_eq!(run.code, exit::VERIFY_FAILED, "{args:?}: {}", run.stdout);
            assert_eq!(run.stdout.lines().count(), 1, "{args:?}: {}", run.stdout);
            let value: serde_json::Value = serde_json::from_str(&run.stdout)
                .unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {}", run.stdout));
            let want = if args[0] == "verify" { "agentk.verify.v1" } else { "agentk.error.v1" };
            assert_eq!(value["schema"], want, "{args:?}");
            assert_eq!(value["verified"], false, "{args:?}");
            assert!(value["error"].as_str().is_some_and(|e| !e.is_empty()), "{args:?}");
        }
    }
}

// Issue 11 item 6: a checkpoint saved from another log is reported as such (exit 4), before
// anything it would find (it would look truncated or rewritten), by every reader taking one.
#[test]
fn a_checkpoint_of_another_log_is_named_as_such_by_every_reader() {
    use agentk_capability::{SignContext, SignerSource, SigningIdentity, encode_hex};
    use agentk_flightlog::event::{Hash32, checkpoint_statement};
    use agentk_flightlog::saved::{CHECKPOINT_SCHEMA, SavedCheckpoint};

    let dir = common::scratch("acceptance-other-log");
    let session = fixture("logs/session.jsonl");
    let candidate = candidate(&dir);
    // The same (public, fixture) key, another log id; and another key, the same log id.
    let fixture_key = SigningIdentity::from_secret(&[0x11; 32], SignerSource::Embedded);
    let other_id = Hash32([0x43; 32]);
    let root = Hash32([0x99; 32]);
    let (_, signature) =
        fixture_key.sign_in_context(SignContext::Checkpoint, &checkpoint_statement(&other_id, 4, &root));
    let same_key = SavedCheckpoint {
        schema: CHECKPOINT_SCHEMA.to_owned(),
        log_id: encode_hex(&other_id.0),
        size: 4,
        root: encode_hex(&root.0),
        signer: fixture_key.public_key().to_hex(),
        signature: signature.to_hex(),
    };
    let same_key_path = dir.join("same-key-other-log.json");
    std::fs::write(&same_key_path, serde_json::to_string(&same_key).unwrap()).unwrap();
    let same_key_path = same_key_path.display().to_string();
    let other_signer = fixture("logs/other-signer.checkpoint.json");
    for saved in [same_key_path.as_str(), other_signer.as_str()] {
        for mut args in readers(&session, &candidate) {
            args.extend(["--checkpoint", saved]);
            let run = agentk(&args);
            assert_eq!(run.code, exit::VERIFY_FAILED, "{args:?}: {}{}", run.stdout, run.stderr);
            assert!(run.stdout.contains("a checkpoint of another log"), "{args:?}: {}", run.stdout);
            assert!(!run.stdout.contains("truncated") && !run.stdout.contains("rewritten"), "{args:?}");
        }
    }
    // Its own checkpoint passes every reader.
    let own = fixture("logs/session.checkpoint.json");
    for mut args in readers(&session, &candidate) {
        args.extend(["--checkpoint", own.as_str()]);
        let run = agentk(&args);
        let want = if args[0] == "evidence-check" { exit::VERIFY_FAILED } else { exit::OK }; // (no match)
        assert_eq!(run.code, want, "{args:?}: {}{}", run.stdout, run.stderr);
    }
}

// Issue 11 item 3: log-recover reads regular files only (a symlink to a device is not one) and
// truncates only a flight log.
#[cfg(unix)]
#[test]
fn log_recover_refuses_devices_and_files_that_are_not_logs() {
    let dir = common::scratch("acceptance-recover");
    let link = dir.join("zero.jsonl");
    std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
    for apply in [false, true] {
        let mut args = vec!["log-recover", link.to_str().unwrap()];
        if apply {
            args.push("--apply");
        }
        let run = agentk(&args);
        assert_eq!(run.code, exit::ERROR, "{args:?}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains("not a regular file"), "{}", run.stderr);
        assert!(!run.stdout.contains("ends cleanly"), "{}", run.stdout);
    }
    // A text file with a "torn" last line is not a log: nothing is cut.
    let notes = dir.join("notes.txt");
    std::fs::write(&notes, "first line\nsecond line without newline").unwrap();
    let run = agentk(&["log-recover", notes.to_str().unwrap(), "--apply"]);
    assert_eq!(run.code, exit::VERIFY_FAILED, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("not a flight log"), "{}", run.stdout);
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "first line\nsecond line without newline");
    let json = agentk(&["log-recover", notes.to_str().unwrap(), "--apply", "--json"]);
    let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!((value["schema"].as_str(), json.code), (Some("agentk.error.v1"), exit::VERIFY_FAILED));
    // A log with a torn tail is still recovered, its unsigned tail and all (as after a crash).
    let log = demo_log(&dir.join("demo"));
    let mut text = std::fs::read_to_string(&log).unwrap();
    let whole = text.clone();
    text.push_str("{\"v\":3,\"seq\"");
    std::fs::write(&log, &text).unwrap();
    let run = agentk(&["log-recover", log.to_str().unwrap(), "--apply"]);
    assert_eq!(run.code, exit::OK, "{}{}", run.stdout, run.stderr);
    assert_eq!(std::fs::read_to_string(&log).unwrap(), whole);
}

// The same rule for the proofs' second pass: a log changed between the passes is refused.
#[test]
fn a_reader_names_the_flag_that_accepts_a_live_log() {
    let dir = common::scratch("acceptance-live");
    let log = rewritten_unsigned_tail(&dir);
    let run = agentk(&["trace-inspect", &log]);
    assert!(run.stdout.contains("--allow-unsigned-tail accepts a log still being written"), "{}", run.stdout);
    let run = agentk(&["trace-inspect", &log, "--allow-unsigned-tail"]);
    assert_eq!(run.code, exit::OK, "{}", run.stdout);
    assert!(run.stdout.contains("allow observe"), "{}", run.stdout);
}
