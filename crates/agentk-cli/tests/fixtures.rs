//! P5 through the CLI, on the policy vectors in `fixtures/` (made by `cargo xtask fixtures`):
//! every negative vector is refused with exactly the diagnostics its header lists, and every
//! positive one validates.
#![allow(clippy::unwrap_used, clippy::panic, reason = "test helpers fail loudly on purpose")]

use std::path::{Path, PathBuf};

fn fixture_dir(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/policies").join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

fn policy_check_json(path: &Path) -> (u8, serde_json::Value) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let path = path.display().to_string();
    let code = agentk_cli::run(["agentk", "policy-check", "--json", &path], &mut out, &mut err);
    (code, serde_json::from_slice(&out).unwrap())
}

// guarantee: P5
#[test]
fn negative_vectors_are_refused_as_their_headers_say() {
    let files = fixture_dir("invalid");
    assert!(files.len() >= 20, "expected the negative vectors, found {}", files.len());
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let header = |key: &str| -> Vec<String> {
            text.lines().filter_map(|l| l.strip_prefix(&format!("# {key}: "))).map(str::to_owned).collect()
        };
        assert_eq!(header("expect"), ["refused"], "{}", path.display());
        let (code, report) = policy_check_json(&path);
        assert_eq!(code, agentk_cli::exit::ERROR, "{}", path.display());
        assert_eq!(report["valid"], false);
        let diagnostics = report["diagnostics"].as_array().unwrap();
        let found: Vec<String> = diagnostics
            .iter()
            .map(|d| format!("{}:{}: {}", d["line"], d["column"], d["message"].as_str().unwrap()))
            .collect();
        assert_eq!(found, header("diagnostic"), "{}", path.display());
        let codes: Vec<&str> = diagnostics.iter().map(|d| d["code"].as_str().unwrap()).collect();
        assert!(codes.contains(&header("code")[0].as_str()), "{}: {codes:?}", path.display());
    }
}

#[test]
fn positive_vectors_validate() {
    let files = fixture_dir("valid");
    assert!(!files.is_empty());
    for path in files {
        let (code, report) = policy_check_json(&path);
        assert_eq!((code, &report["valid"]), (0, &serde_json::Value::Bool(true)), "{}", path.display());
    }
}

// ---- flight-log vectors (fixtures/logs, made by `cargo xtask fixtures`) ----

mod common;

fn logs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/logs")
}

/// Runs `agentk` hermetically on a fixture, answering exit code and the output with the
/// fixture directory made stable.
fn on_fixture(args: &[&str]) -> (u8, String) {
    let run = common::agentk(&common::TestHost::new(&[]), args);
    let dir = logs_dir().display().to_string();
    let text =
        format!("exit: {}\n--- stdout\n{}--- stderr\n{}", run.code, run.stdout, run.stderr).replace(&dir, "$LOGS");
    (run.code, text)
}

fn log_path(name: &str) -> String {
    logs_dir().join(name).display().to_string()
}

// guarantee: F1, F4 (logs written by earlier builds keep verifying; each tampered vector
// fails as its expectation says)
#[test]
fn log_vectors_verify_as_expected() {
    let expect: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(logs_dir().join("expect.json")).unwrap()).unwrap();
    let key = expect["fixture_test_public_key"].as_str().unwrap();
    let files = expect["files"].as_object().unwrap();
    assert!(files.len() >= 6, "{files:?}");
    for (name, want) in files {
        let path = log_path(name);
        let (verify, text) = on_fixture(&["verify", &path]);
        insta::assert_snapshot!(format!("log_verify_{}", name.trim_end_matches(".jsonl")), text);
        assert_eq!(u64::from(verify), want["verify"].as_u64().unwrap(), "verify {name}");
        let (pinned, text) = on_fixture(&["verify-signatures", &path, "--trusted-public-key", key]);
        assert_eq!(u64::from(pinned), want["verify_signatures"].as_u64().unwrap(), "verify-signatures {name}: {text}");
    }
}

// guarantee: F2 (review output on a fixed log: human and JSON, snapshotted)
#[test]
fn session_fixture_reviews_are_stable() {
    let log = log_path("session.jsonl");
    for (name, args) in [
        ("log_verify_json", vec!["verify", &log, "--json"]),
        ("log_trace_inspect", vec!["trace-inspect", &log]),
        ("log_trace_inspect_json", vec!["trace-inspect", &log, "--json"]),
        ("log_audit", vec!["audit", &log]),
        ("log_audit_json", vec!["audit", &log, "--json"]),
    ] {
        let (code, text) = on_fixture(&args);
        insta::assert_snapshot!(name, text);
        assert_eq!(code, agentk_cli::exit::OK, "{name}");
        for dummy in ["dummy page", "dummy notes", "dummy query"] {
            assert!(!text.contains(dummy), "{name} shows input content");
        }
    }
}

// guarantee: F2 (an auditor holding the salt can check a candidate against recorded evidence)
#[test]
fn session_fixture_evidence_checks_against_its_salt() {
    let log = log_path("session.jsonl");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("agentk-fixture-evidence");
    std::fs::create_dir_all(&dir).unwrap();
    for (candidate, want) in [("dummy page", agentk_cli::exit::OK), ("another page", agentk_cli::exit::VERIFY_FAILED)] {
        let file = dir.join("candidate");
        std::fs::write(&file, candidate).unwrap();
        let (code, text) =
            on_fixture(&["evidence-check", &log, "--event", "1", "--candidate", &file.display().to_string()]);
        assert_eq!(code, want, "{candidate}: {text}");
    }
}

// guarantee: F4 with C3 (a pinned signer's validity window must cover the log's events)
#[test]
fn a_signer_window_that_misses_the_log_fails_pinned_verification() {
    let expect: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(logs_dir().join("expect.json")).unwrap()).unwrap();
    let key = expect["fixture_test_public_key"].as_str().unwrap();
    let log = log_path("session.jsonl");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("agentk-fixture-windows");
    std::fs::create_dir_all(&dir).unwrap();
    // The session's events are all at 1767225600.
    for (name, window, want) in [
        ("open", String::new(), agentk_cli::exit::OK),
        ("covering", "not_before = 1767225600\nnot_after = 1767225601\n".to_owned(), agentk_cli::exit::OK),
        ("ended", "not_after = 1767225600\n".to_owned(), agentk_cli::exit::VERIFY_FAILED),
        ("later", "not_before = 1767225601\n".to_owned(), agentk_cli::exit::VERIFY_FAILED),
    ] {
        let manifest = dir.join(format!("{name}.toml"));
        std::fs::write(
            &manifest,
            format!("version = 1\n[[signers]]\nlabel = \"fixture\"\npublic_key = \"{key}\"\n{window}"),
        )
        .unwrap();
        let manifest = manifest.display().to_string();
        for command in ["verify", "verify-signatures"] {
            let (code, text) = on_fixture(&[command, &log, "--trusted-signers", &manifest]);
            assert_eq!(code, want, "{command} with a {name} window: {text}");
        }
    }
}

// guarantee: C2, C3 (receipt vectors cut from a kernel-written log: the valid ones verify
// pinned to the fixture key; expired, tampered, unknown-schema and other-key ones fail)
#[test]
fn receipt_vectors_verify_as_expected() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/receipts");
    let expect: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expect.json")).unwrap()).unwrap();
    let key = expect["fixture_test_public_key"].as_str().unwrap();
    let cases = expect["receipts"].as_object().unwrap();
    assert!(cases.len() >= 7, "{cases:?}");
    for (name, want) in cases {
        let path = dir.join(name).display().to_string();
        let now = want["now"].as_u64().unwrap().to_string();
        let run = common::agentk(
            &common::TestHost::new(&[]),
            &["receipt-verify", "--receipt", &path, "--trusted-public-key", key, "--now", &now],
        );
        assert_eq!(u64::from(run.code), want["exit"].as_u64().unwrap(), "{name}: {}{}", run.stdout, run.stderr);
    }
}

// guarantee: F4 (saved checkpoints and proofs cut from the fixture session: a later or an
// earlier checkpoint of the same log passes, another signer's or a forged one fails; proofs
// verify against the saved checkpoint alone, and any changed path, index or root fails)
#[test]
fn checkpoint_and_proof_vectors_verify_as_expected() {
    let expect: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(logs_dir().join("expect.json")).unwrap()).unwrap();
    let session = log_path("session.jsonl");
    let checkpoints = expect["checkpoints"].as_object().unwrap();
    assert!(checkpoints.len() >= 4);
    for (name, want) in checkpoints {
        let (code, text) = on_fixture(&["verify", &session, "--checkpoint", &log_path(name)]);
        assert_eq!(u64::from(code), want.as_u64().unwrap(), "{name}: {text}");
    }
    let proofs = expect["proofs"].as_object().unwrap();
    assert!(proofs.len() >= 5);
    let saved = log_path("session.checkpoint.json");
    for (name, want) in proofs {
        let (code, text) = on_fixture(&["verify-proof", "--proof", &log_path(name), "--checkpoint", &saved]);
        assert_eq!(u64::from(code), want.as_u64().unwrap(), "{name}: {text}");
    }
    // A proof of the session is for another tree than another signer's checkpoint.
    let (code, text) = on_fixture(&[
        "verify-proof",
        "--proof",
        &log_path("inclusion-proof.json"),
        "--checkpoint",
        &log_path("other-signer.checkpoint.json"),
    ]);
    assert_eq!(code, agentk_cli::exit::VERIFY_FAILED, "{text}");
    assert!(text.contains("another tree"), "{text}");

    // Pinned: the fixture key passes, another key does not.
    let key = expect["fixture_test_public_key"].as_str().unwrap();
    let inclusion = log_path("inclusion-proof.json");
    let pinned = ["verify-proof", "--proof", &inclusion, "--checkpoint", &saved, "--trusted-public-key"];
    let (code, text) = on_fixture(&[&pinned[..], &[key]].concat());
    assert_eq!(code, agentk_cli::exit::OK, "{text}");
    let other_key = agentk_capability::SigningIdentity::development_public_key().to_hex();
    let (code, text) = on_fixture(&[&pinned[..], &[other_key.as_str()]].concat());
    assert_eq!(code, agentk_cli::exit::VERIFY_FAILED, "{text}");

    // A consistency proof ties the saved checkpoint to the older one it grew from.
    let consistency = log_path("consistency-proof.json");
    for (old, want) in [
        ("session-earlier.checkpoint.json", agentk_cli::exit::OK),
        ("session.checkpoint.json", agentk_cli::exit::VERIFY_FAILED),
    ] {
        let (code, text) = on_fixture(&[
            "verify-proof",
            "--proof",
            &consistency,
            "--checkpoint",
            &saved,
            "--old-checkpoint",
            &log_path(old),
        ]);
        assert_eq!(code, want, "{old}: {text}");
    }
}

// guarantee: F4 (the CLI's streamed proofs, made in flat memory, are byte for byte the proofs
// made over the whole tree in memory)
#[test]
fn streamed_proofs_match_the_fixture_proofs() {
    let session = log_path("session.jsonl");
    for (args, fixture) in [
        (vec!["prove-inclusion", &session, "--event", "3"], "inclusion-proof.json"),
        (vec!["prove-consistency", &session, "--from", "4"], "consistency-proof.json"),
    ] {
        let run = common::agentk(&common::TestHost::new(&[]), &args);
        assert_eq!(run.code, agentk_cli::exit::OK, "{}", run.stderr);
        assert_eq!(run.stdout, std::fs::read_to_string(logs_dir().join(fixture)).unwrap(), "{fixture}");
    }
}
