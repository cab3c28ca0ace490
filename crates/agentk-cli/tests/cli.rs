//! Every command, run in-process through `agentk_cli::run`, with both streams and the exit code
//! snapshotted: CLI output is API.
#![allow(clippy::unwrap_used, clippy::panic, reason = "test helpers fail loudly on purpose")]

use std::path::PathBuf;

use agentk_cli::exit;

mod common;

use common::Run;

/// Runs `agentk` on a hermetic host (no environment, fixed clock, test randomness).
fn agentk(args: &[&str]) -> Run {
    common::agentk(&common::TestHost::new(&[]), args)
}

/// Snapshots a run as exit code, stdout and stderr, with the scratch directory made stable.
fn check(name: &str, args: &[&str], expected_code: u8) -> Run {
    let run = agentk(args);
    let scratch = scratch_dir().display().to_string();
    let text = format!("exit: {}\n--- stdout\n{}--- stderr\n{}", run.code, run.stdout, run.stderr)
        .replace(&scratch, "$SCRATCH");
    insta::assert_snapshot!(name, text);
    assert_eq!(run.code, expected_code, "{name}");
    run
}

fn scratch_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("agentk-cli-tests");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn scratch_file(name: &str, bytes: &[u8]) -> String {
    let path = scratch_dir().join(name);
    std::fs::write(&path, bytes).unwrap();
    path.display().to_string()
}

fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| panic!("not one JSON object ({e}): {}", run.stdout))
}

// ---- demo (A2) ----

#[test]
fn demo_human() {
    let dir = scratch_file("demo-human-marker", b"").replace("demo-human-marker", "demo-human");
    let run = check("demo_human", &["demo", "--log-dir", &dir], exit::OK);
    assert!(!run.stdout.contains("http://") && !run.stdout.contains(".com"));
}

#[test]
fn demo_json() {
    let dir = scratch_file("demo-json-marker", b"").replace("demo-json-marker", "demo-json");
    let run = check("demo_json", &["demo", "--json", "--log-dir", &dir], exit::OK);
    let value = json(&run);
    assert_eq!(value["schema"], "agentk.demo.v1");
    assert_eq!(value["denied"], 3);
    let decisions: Vec<&str> = value["steps"].as_array().unwrap().iter().map(|s| s["rule"].as_str().unwrap()).collect();
    assert_eq!(
        decisions,
        ["observe", "observe", "secret-open-needs-grant", "egress-sensitive-data", "invoke-sensitive-data"]
    );
}

/// A2: every target the demo names is under `example.invalid`.
#[test]
fn demo_targets_are_dummy() {
    let dir = scratch_file("demo-dummy-marker", b"").replace("demo-dummy-marker", "demo-dummy");
    let value = json(&agentk(&["demo", "--json", "--log-dir", &dir]));
    for step in value["steps"].as_array().unwrap() {
        let target = step["target"].as_str().unwrap();
        let host_part = target.split("://").nth(1).unwrap_or(target);
        let host = host_part.split('/').next().unwrap();
        assert!(host.ends_with("example.invalid") || target.starts_with("secret://"), "{target}");
    }
}

// ---- policy-explain (P1, P2, P3, P4, P6) ----

#[test]
fn explain_denied_egress() {
    check(
        "explain_denied_egress",
        &[
            "policy-explain",
            "--syscall",
            "network.send",
            "--target",
            "https://evil.example.invalid/c",
            "--label",
            "private",
            "--label",
            "untrusted,external",
        ],
        exit::DENIED,
    );
}

#[test]
fn explain_allowed_with_capability() {
    check(
        "explain_allowed_with_capability",
        &[
            "policy-explain",
            "--syscall",
            "secret.open",
            "--target",
            "secret://demo-api",
            "--label",
            "trusted",
            "--capability",
        ],
        exit::OK,
    );
}

#[test]
fn explain_capability_with_no_covering_grant() {
    check(
        "explain_capability_with_no_covering_grant",
        &["policy-explain", "--syscall", "secret.open", "--target", "secret://payments-api", "--capability"],
        exit::DENIED,
    );
}

#[test]
fn explain_unknown_syscall_json() {
    let run = check(
        "explain_unknown_syscall_json",
        &["policy-explain", "--syscall", "kernel.reboot", "--target", "now", "--grant", "demo-secret", "--json"],
        exit::DENIED,
    );
    let value = json(&run);
    assert_eq!(value["schema"], "agentk.policy-explain.v1");
    assert_eq!(value["rule"], "default-deny");
}

#[test]
fn explain_with_profile() {
    check(
        "explain_with_profile",
        &[
            "policy-explain",
            "--profile",
            "coding",
            "--agent",
            "coding-1",
            "--syscall",
            "file.patch",
            "--target",
            "file:///workspace/src/lib.rs",
            "--label",
            "untrusted",
            "--capability",
        ],
        exit::OK,
    );
}

#[test]
fn explain_with_policy_file() {
    let path = scratch_file("explain-policy.toml", agentk_policy::Profile::Browser.source().as_bytes());
    let run = agentk(&["policy-explain", "--policy", &path, "--syscall", "secret.open", "--target", "secret://x"]);
    assert_eq!(run.code, exit::DENIED, "{}", run.stderr);
    assert!(run.stdout.starts_with("deny by rule `browser-no-secrets`"), "{}", run.stdout);
}

// ---- policy-check (P5) ----

#[test]
fn check_valid_policy() {
    let path = scratch_file("valid.toml", agentk_policy::Profile::Starter.source().as_bytes());
    let run = agentk(&["policy-check", &path]);
    assert_eq!((run.code, run.stdout.as_str()), (exit::OK, "policy `starter` is valid: 21 rules, 2 grants\n"));
    let value = json(&agentk(&["policy-check", &path, "--json"]));
    assert_eq!(value["valid"], true);
}

#[test]
fn check_invalid_policy_lists_every_problem() {
    let path = scratch_file(
        "broken.toml",
        b"version = 1\nname = \"broken\"\n\n[[rules]]\nid = \"no-egress\"\neffect = \"deny\"\nreason = \"r\"\nwhen.syscalls = [\"network.send\"]\n\n[[rules]]\nid = \"no-secret-egress\"\neffect = \"deny\"\nreason = \"r\"\nwhen.syscalls = [\"network.send\"]\nwhen.labels_any = [\"secret\", \"clasified\"]\n\n[[rules]]\nid = \"rest\"\neffect = \"allow\"\nreason = \"r\"\n",
    );
    check("check_invalid_policy", &["policy-check", &path], exit::ERROR);
    let run = agentk(&["policy-check", &path, "--json"]);
    assert_eq!(run.code, exit::ERROR);
    insta::assert_snapshot!("check_invalid_policy_json", run.stdout);
}

#[test]
fn invalid_policy_refused_by_every_command() {
    let path = scratch_file(
        "broken-catch-all.toml",
        b"version = 1\nname = \"b\"\n[[rules]]\nid = \"all\"\neffect = \"allow\"\nreason = \"r\"\n",
    );
    for args in [
        vec!["demo", "--policy", &path, "--log-dir", "/nonexistent/never-written"],
        vec!["policy-explain", "--policy", &path, "--syscall", "model.call", "--target", "m"],
    ] {
        let run = agentk(&args);
        assert_eq!(run.code, exit::ERROR, "{args:?}");
        assert!(run.stderr.contains("catch-all rule `all` allows"), "{}", run.stderr);
        assert!(run.stdout.is_empty());
    }
}

// ---- bad input: a clear one-line error, never a panic ----

#[test]
fn missing_file() {
    check("missing_file", &["policy-check", "/nonexistent/agentk/policy.toml"], exit::ERROR);
}

#[test]
fn directory() {
    let dir = scratch_dir().display().to_string();
    check("directory", &["policy-check", &dir], exit::ERROR);
}

#[test]
fn binary_file() {
    let path = scratch_file("binary.toml", &[0x7f, b'E', b'L', b'F', 0, 1, 2, 3]);
    check("binary_file", &["policy-check", &path], exit::ERROR);
}

#[test]
fn invalid_utf8() {
    let path = scratch_file("latin1.toml", b"version = 1\nname = \"caf\xe9\"\n");
    check("invalid_utf8", &["policy-check", &path], exit::ERROR);
}

#[test]
fn fifty_megabyte_policy() {
    let path = scratch_dir().join("huge.toml");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(50 * 1024 * 1024).unwrap();
    check("fifty_megabyte_policy", &["policy-check", &path.display().to_string()], exit::ERROR);
}

#[test]
fn deeply_nested_toml() {
    let text = format!("version = 1\nname = \"deep\"\nx = {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let path = scratch_file("deep.toml", text.as_bytes());
    let run = agentk(&["policy-check", &path]);
    assert_eq!(run.code, exit::ERROR);
    assert!(run.stderr.contains("deep.toml:3:"), "{}", run.stderr);
    assert!(run.stderr.lines().count() < 10, "{}", run.stderr);
}

#[cfg(unix)]
#[test]
fn device_file() {
    check("device_file", &["policy-check", "/dev/zero"], exit::ERROR);
}

#[test]
fn json_errors_are_json() {
    let run = agentk(&["policy-check", "/nonexistent/p.toml", "--json"]);
    assert_eq!(run.code, exit::ERROR);
    let value = json(&run);
    assert_eq!(value["schema"], "agentk.error.v1");
    assert_eq!(value["error"], "cannot read `/nonexistent/p.toml`: no such file");
}

// ---- usage ----

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec!["policy-explain", "--syscall", "model.call"],
        vec!["policy-explain", "--syscall", "model.call", "--target", "m", "--label", "classified"],
        vec!["policy-explain", "--syscall", "x", "--target", "t", "--capability", "--grant", "g"],
        vec!["policy-explain", "--syscall", "x", "--target", "t", "--policy", "p", "--profile", "starter"],
        vec!["no-such-command"],
        vec![],
    ] {
        let run = agentk(&args);
        assert_eq!(run.code, exit::USAGE, "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty());
    }
}

#[test]
fn bad_argument_values_are_bounded_and_never_echoed_raw() {
    let long = format!("\u{1b}[2J{}", "a".repeat(5000));
    let run = agentk(&["policy-explain", "--syscall", "model.call", "--target", "m", "--label", &long]);
    assert_eq!(run.code, exit::USAGE);
    assert!(run.stderr.len() < 300 && !run.stderr.contains('\u{1b}'), "{}", run.stderr);
    // A private key pasted where a public key belongs is never printed back.
    let pasted = "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789";
    let run = agentk(&["receipt-verify", "--receipt", "r.json", "--trusted-public-key", pasted]);
    assert_eq!(run.code, exit::USAGE, "{}", run.stderr);
    assert!(!run.stderr.contains("ABCDEF") && !run.stdout.contains("ABCDEF"), "{}", run.stderr);
}

#[test]
fn unknown_label_is_named() {
    check(
        "unknown_label",
        &["policy-explain", "--syscall", "model.call", "--target", "m", "--label", "classified"],
        exit::USAGE,
    );
}

#[test]
fn unknown_profile() {
    check("unknown_profile", &["policy-show", "admin"], exit::ERROR);
}

#[test]
fn help_documents_exit_codes() {
    let run = agentk(&["--help"]);
    assert_eq!(run.code, exit::OK);
    assert!(run.stdout.contains("3  denied") && run.stdout.contains("4  verification failed"), "{}", run.stdout);
}

#[test]
fn policy_show_prints_the_embedded_policy() {
    for profile in agentk_policy::Profile::ALL {
        let run = agentk(&["policy-show", profile.name()]);
        assert_eq!((run.code, run.stdout.as_str()), (exit::OK, profile.source()));
        let value = json(&agentk(&["policy-show", profile.name(), "--json"]));
        assert_eq!(value["schema"], "agentk.policy-show.v1");
    }
}

// guarantee: F1, F4, F5 (through the CLI, on the log the demo writes)
#[test]
fn the_demo_log_verifies_and_tampering_is_caught() {
    let dir = scratch_file("demo-log-marker", b"").replace("demo-log-marker", "demo-log");
    assert_eq!(agentk(&["demo", "--log-dir", &dir]).code, exit::OK);
    let log = format!("{dir}/latest.jsonl");
    let ok = agentk(&["verify", &log, "--json"]);
    assert_eq!(ok.code, exit::OK, "{}", ok.stdout);
    assert_eq!(json(&ok)["events"], 7);
    let saved = scratch_file("demo-checkpoint.json", agentk(&["checkpoint", &log]).stdout.as_bytes());

    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Flip the first deny to an allow: the event's hash no longer matches.
    let flipped = text.replacen("\"decision\":\"deny\"", "\"decision\":\"allow\"", 1);
    let tampered = scratch_file("demo-flipped.jsonl", flipped.as_bytes());
    check("verify_flipped_deny", &["verify", &tampered], exit::VERIFY_FAILED);
    // Drop the tail: an unsigned tail fails by default, passes only for a live log, and is
    // caught against the saved checkpoint whatever the flags.
    let truncated = scratch_file("demo-truncated.jsonl", format!("{}\n", lines[..4].join("\n")).as_bytes());
    check("verify_unsigned_tail", &["verify", &truncated], exit::VERIFY_FAILED);
    assert_eq!(agentk(&["verify", &truncated, "--allow-unsigned-tail"]).code, exit::OK);
    check(
        "verify_truncated_against_checkpoint",
        &["verify", &truncated, "--allow-unsigned-tail", "--checkpoint", &saved],
        exit::VERIFY_FAILED,
    );
    // Pinning: the demo log is signed by the development key, which is not trusted here.
    let other = agentk_capability::SigningIdentity::from_secret(&[3; 32], agentk_capability::SignerSource::Embedded);
    let pinned = agentk(&["verify", &log, "--trusted-public-key", &other.public_key().to_hex()]);
    assert_eq!(pinned.code, exit::VERIFY_FAILED, "{}", pinned.stdout);
    let dev = agentk_capability::SigningIdentity::development_public_key().to_hex();
    assert_eq!(agentk(&["verify", &log, "--trusted-public-key", &dev]).code, exit::OK);
    // A torn last line: reported by verify, dropped only by log-recover --apply.
    let torn = scratch_file("demo-torn.jsonl", format!("{text}{{\"v\":1,\"seq\"").as_bytes());
    check("verify_torn", &["verify", &torn], exit::VERIFY_FAILED);
    check("log_recover_report", &["log-recover", &torn], exit::OK);
    assert_eq!(agentk(&["verify", &torn]).code, exit::VERIFY_FAILED, "a report changes nothing");
    check("log_recover_apply", &["log-recover", &torn, "--apply"], exit::OK);
    assert_eq!(agentk(&["verify", &torn, "--checkpoint", &saved]).code, exit::OK);
    let _ = lines;
}

// guarantee: F4 (pinned verification: a log forged from scratch with another key verifies
// as a chain, and fails once the signer is pinned)
#[test]
fn verify_signatures_pins_the_signer_and_counts_what_it_signed() {
    let test_key_hex = "03".repeat(32); // deterministic test key
    let keyed = common::TestHost::new(&[("AGENTK_SIGNING_KEY_HEX", test_key_hex.as_str())]);
    let dir = scratch_file("sig-marker", b"").replace("sig-marker", "sig-log");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(common::agentk(&keyed, &["demo", "--log-dir", &dir]).code, exit::OK);
    let log = format!("{dir}/latest.jsonl");
    let key = |seed: u8| {
        agentk_capability::SigningIdentity::from_secret(&[seed; 32], agentk_capability::SignerSource::Embedded)
            .public_key()
            .to_hex()
    };
    check("verify_signatures", &["verify-signatures", &log, "--trusted-public-key", &key(3)], exit::OK);
    let counted = check(
        "verify_signatures_json",
        &["verify-signatures", &log, "--trusted-public-key", &key(3), "--json"],
        exit::OK,
    );
    let report = json(&counted);
    let text = std::fs::read_to_string(&log).unwrap();
    // (The demo holds no grants; receipt and handle counts are tested in agentk-flightlog.)
    assert_eq!(report["signers"][0]["checkpoints"], text.matches("\"checkpoint\":{").count() as u64);
    // The same log, pinned to another key: the chain is fine, the signer is not ours.
    assert_eq!(agentk(&["verify", &log]).code, exit::OK);
    check(
        "verify_signatures_other_key",
        &["verify-signatures", &log, "--trusted-public-key", &key(4)],
        exit::VERIFY_FAILED,
    );
    // No pin is a usage error, not a silent integrity-only pass.
    check("verify_signatures_unpinned", &["verify-signatures", &log], exit::USAGE);
    // The development key's signatures prove nothing, even when "pinned".
    let dev_dir = scratch_file("sig-dev-marker", b"").replace("sig-dev-marker", "sig-dev-log");
    let _ = std::fs::remove_dir_all(&dev_dir);
    assert_eq!(agentk(&["demo", "--log-dir", &dev_dir]).code, exit::OK);
    let dev = agentk_capability::SigningIdentity::development_public_key().to_hex();
    let dev_log = format!("{dev_dir}/latest.jsonl");
    let refused = agentk(&["verify-signatures", &dev_log, "--trusted-public-key", &dev]);
    assert_eq!(refused.code, exit::VERIFY_FAILED, "{}", refused.stdout);
    // The manifest flag is accepted under the name the docs give.
    let missing = agentk(&["verify-signatures", &log, "--trusted-key-manifest", "/nonexistent.example.invalid/m.json"]);
    assert_eq!(missing.code, exit::ERROR, "{}", missing.stderr);
}

// guarantee: F3 (the demo writes under .agentk/ unless told otherwise)
#[test]
fn the_demo_logs_under_agentk_by_default() {
    let help = agentk(&["demo", "--help"]);
    assert!(help.stdout.contains("[default: .agentk/runs]"), "{}", help.stdout);
}

// guarantee: F2 (inspection shows inputs only as hash evidence; the log must verify)
#[test]
fn trace_inspect_reviews_a_log_without_its_contents() {
    let dir = scratch_file("inspect-marker", b"").replace("inspect-marker", "inspect");
    assert_eq!(agentk(&["demo", "--log-dir", &dir]).code, exit::OK);
    let log = format!("{dir}/latest.jsonl");
    let human = check("trace_inspect", &["trace-inspect", &log], exit::OK);
    let lines = check("trace_inspect_json", &["trace-inspect", &log, "--json"], exit::OK);
    for out in [&human.stdout, &lines.stdout] {
        // The demo's input contents are its story lines; none may appear.
        assert!(!out.contains("white-on-white") && !out.contains("private notes"), "{out}");
    }
    for line in lines.stdout.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap();
    }
    let text = std::fs::read_to_string(&log).unwrap();
    let tampered = scratch_file("inspect-tampered.jsonl", text.replacen("\"observe\"", "\"observe2\"", 1).as_bytes());
    assert_eq!(agentk(&["trace-inspect", &tampered]).code, exit::VERIFY_FAILED);
}

// guarantee: F4 (proofs print from a log and verify against checkpoints alone)
#[test]
fn inclusion_and_consistency_proofs_verify_against_a_saved_checkpoint() {
    let dir = scratch_file("proofs-marker", b"").replace("proofs-marker", "proofs");
    assert_eq!(agentk(&["demo", "--log-dir", &dir]).code, exit::OK);
    let log = format!("{dir}/latest.jsonl");
    let saved = scratch_file("proofs-checkpoint.json", agentk(&["checkpoint", &log]).stdout.as_bytes());
    for event in 0..6 {
        let proof = agentk(&["prove-inclusion", &log, "--event", &event.to_string()]);
        assert_eq!(proof.code, exit::OK, "{}", proof.stderr);
        let file = scratch_file(&format!("inclusion-{event}.json"), proof.stdout.as_bytes());
        assert_eq!(agentk(&["verify-proof", "--proof", &file, "--checkpoint", &saved]).code, exit::OK, "event {event}");
        // Any change to the proof fails.
        let value: serde_json::Value = serde_json::from_str(&proof.stdout).unwrap();
        let hash = value["event_hash"].as_str().unwrap();
        let flipped =
            proof.stdout.replace(hash, &format!("{}{}", if hash.starts_with('0') { '1' } else { '0' }, &hash[1..]));
        let bad = scratch_file(&format!("inclusion-{event}-bad.json"), flipped.as_bytes());
        assert_eq!(agentk(&["verify-proof", "--proof", &bad]).code, exit::VERIFY_FAILED, "event {event}");
    }
    assert_eq!(agentk(&["prove-inclusion", &log, "--event", "6"]).code, exit::ERROR, "the checkpoint covers 6 events");
    for from in 0..=6 {
        let proof = agentk(&["prove-consistency", &log, "--from", &from.to_string()]);
        let file = scratch_file(&format!("consistency-{from}.json"), proof.stdout.as_bytes());
        assert_eq!(agentk(&["verify-proof", "--proof", &file, "--checkpoint", &saved]).code, exit::OK, "from {from}");
    }
    let proof =
        scratch_file("consistency-2.json", agentk(&["prove-consistency", &log, "--from", "2"]).stdout.as_bytes());
    check("verify_proof", &["verify-proof", "--proof", &proof], exit::OK);
    // A checkpoint from another log (another policy, so another history) does not vouch for it.
    let other = scratch_file("proofs-other-marker", b"").replace("proofs-other-marker", "proofs-other");
    assert_eq!(agentk(&["demo", "--profile", "research", "--log-dir", &other]).code, exit::OK);
    let other_checkpoint =
        scratch_file("proofs-other.json", agentk(&["checkpoint", &format!("{other}/latest.jsonl")]).stdout.as_bytes());
    let run = agentk(&["verify-proof", "--proof", &proof, "--checkpoint", &other_checkpoint]);
    assert_eq!(run.code, exit::VERIFY_FAILED, "{}", run.stdout);
    // The demo signs with the public development key: the proof verifies but says that proves
    // nothing, and pinning that key fails.
    let run = agentk(&["verify-proof", "--proof", &proof, "--checkpoint", &saved, "--json"]);
    assert_eq!(json(&run)["development_signer"], true);
    let dev = agentk_capability::SigningIdentity::development_public_key().to_hex();
    let run = agentk(&["verify-proof", "--proof", &proof, "--checkpoint", &saved, "--trusted-public-key", &dev]);
    assert_eq!(run.code, exit::VERIFY_FAILED, "{}", run.stdout);
}

// guarantee: P6 over the log (audit re-derives each deny's explanation and remedy)
#[test]
fn audit_explains_every_deny_under_the_logs_own_policy() {
    let dir = scratch_file("audit-marker", b"").replace("audit-marker", "audit");
    assert_eq!(agentk(&["demo", "--log-dir", &dir]).code, exit::OK);
    let log = format!("{dir}/latest.jsonl");
    check("audit", &["audit", &log], exit::OK);
    let value = json(&agentk(&["audit", &log, "--json"]));
    assert_eq!(value["denies"].as_array().unwrap().len(), 3);
    assert!(value["denies"][0]["to_allow"].as_str().unwrap().contains("declassification"));
    // Another policy than the log's is refused, not silently used.
    let run = agentk(&["audit", &log, "--profile", "research"]);
    assert_eq!(run.code, exit::ERROR);
    assert!(run.stderr.contains("another policy"), "{}", run.stderr);
}

// guarantee: F1 (keyed input digests: an auditor with the salt can check a candidate)
#[test]
fn evidence_check_matches_candidates_only_with_the_salt() {
    let dir = scratch_file("evidence-marker", b"").replace("evidence-marker", "evidence");
    assert_eq!(agentk(&["demo", "--log-dir", &dir]).code, exit::OK);
    let log = format!("{dir}/latest.jsonl");
    // The demo records each step's story as its (dummy) input content.
    let right = scratch_file(
        "evidence-right.txt",
        b"the agent reads a news page that hides instructions in white-on-white text",
    );
    let wrong = scratch_file("evidence-wrong.txt", b"the agent reads a news page");
    let run = agentk(&["evidence-check", &log, "--event", "1", "--candidate", &right]);
    assert_eq!(run.code, exit::OK, "{}{}", run.stdout, run.stderr);
    assert_eq!(agentk(&["evidence-check", &log, "--event", "1", "--candidate", &wrong]).code, exit::VERIFY_FAILED);
    let other_salt = scratch_file("evidence-other.salt", format!("{}\n", "ab".repeat(32)).as_bytes());
    let run = agentk(&["evidence-check", &log, "--event", "1", "--candidate", &right, "--salt", &other_salt]);
    assert_eq!(run.code, exit::VERIFY_FAILED, "without the log's salt the digest proves nothing");
    assert_eq!(
        agentk(&["evidence-check", &log, "--event", "1", "--input", "3", "--candidate", &right]).code,
        exit::USAGE
    );
}

// F2 at scale: audit keeps at most 1,000 agents and denies in full, and its counts still cover
// every event, however many agents a (possibly hostile) log names.
#[test]
fn audit_stays_bounded_on_a_log_with_many_agents() {
    use std::sync::Arc;

    use agentk_flightlog::kernel::{Clock, Entropy, EvidenceSalt, Kernel, MemoryLog, SyscallRequest};

    struct Fixed;
    impl Clock for Fixed {
        fn now(&self) -> u64 {
            1_767_225_600
        }
    }
    struct Zero;
    impl Entropy for Zero {
        fn fill(&mut self, buf: &mut [u8]) {
            buf.fill(0);
        }
    }
    let text: Arc<str> = agentk_policy::Profile::Starter.source().into();
    let parts = Kernel::builder()
        .policy(Arc::clone(&text), Arc::new(agentk_policy::Policy::parse("starter", &text).unwrap()))
        .signer(Arc::new(agentk_capability::SigningIdentity::from_secret(
            &[0x61; 32],
            agentk_capability::SignerSource::Embedded,
        )))
        .clock(Fixed)
        .entropy(Zero)
        .log_id([7; 32])
        .origin("audit-scale.example.invalid")
        .checkpoint_every(0);
    let mut kernel = parts.open_sink(MemoryLog::new()).unwrap();
    let inputs = [EvidenceSalt::from_bytes([1; 32]).input("private".parse().unwrap(), b"dummy")];
    for i in 0..1200 {
        let agent = format!("agent-{i}");
        let request = SyscallRequest {
            agent: &agent,
            syscall: agentk_labels::Syscall::NetworkSend.into(),
            target: "https://evil.example.invalid/c",
            inputs: &inputs,
            grant: None,
        };
        kernel.decide(&request).unwrap();
    }
    let lines: String = kernel.close().unwrap().lines().iter().map(|l| format!("{l}\n")).collect();
    let log = scratch_file("audit-scale.jsonl", lines.as_bytes());
    let value = json(&agentk(&["audit", &log, "--json"]));
    assert_eq!(value["agents"].as_object().unwrap().len(), 1000);
    assert_eq!(value["other_agents"]["denied"], 200);
    assert_eq!(value["denies"].as_array().unwrap().len(), 1000);
    assert_eq!((value["denied"].as_u64(), value["denies_omitted"].as_u64()), (Some(1200), Some(200)));
}
