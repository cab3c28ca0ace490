//! `agentk approve` (T5) through the CLI, on a hermetic host (no process environment, a fixed
//! clock, "randomness" from a counter), and once through the built binary: what it prints, what
//! it refuses, the files it leaves, and that the proxy's store grants what it wrote.
#![allow(clippy::unwrap_used, clippy::panic, reason = "test helpers fail loudly on purpose")]

mod common;

use std::path::Path;

use agentk_capability::{SignerSource, SigningIdentity, TrustedSigners};
use agentk_cli::exit;
use agentk_mcp::approval::{ActionDigest, ApprovalSource, Dir, RefusalKind};
use common::{Run, TestHost, agentk, scratch};

/// The test host's clock.
const NOW: u64 = 1_767_225_600;
/// The operator's test key, as `AGENTK_SIGNING_KEY_HEX` carries it.
const TEST_KEY_HEX: &str = "1111111111111111111111111111111111111111111111111111111111111111";

fn operator() -> SigningIdentity {
    SigningIdentity::from_secret_hex(TEST_KEY_HEX, SignerSource::EnvHex).unwrap()
}

fn action() -> ActionDigest {
    let arguments = serde_json::json!({"to": "shop.example.invalid", "amount": 12});
    ActionDigest::of("payments", "send_payment", Some(&arguments))
}

fn check(name: &str, run: &Run, dir: &Path, expected: u8) {
    let text = format!("exit: {}\n--- stdout\n{}--- stderr\n{}", run.code, run.stdout, run.stderr)
        .replace(&dir.display().to_string(), "$DIR");
    insta::assert_snapshot!(name, text);
    assert_eq!(run.code, expected, "{name}: {}", run.stderr);
}

fn approve(host: &TestHost, dir: &Path, extra: &[&str]) -> Run {
    let approvals = dir.join("approvals").display().to_string();
    let hex = action().to_hex();
    let mut args = vec!["approve", "--action", hex.as_str(), "--approvals-dir", approvals.as_str()];
    args.extend_from_slice(extra);
    agentk(host, &args)
}

fn operator_host() -> TestHost {
    TestHost::new(&[("AGENTK_SIGNING_KEY_HEX", TEST_KEY_HEX)])
}

#[cfg(unix)]
fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

// guarantee: T5, C4. What `agentk approve` writes, the proxy's store grants, exactly N times.
#[test]
fn an_approval_written_by_the_cli_is_granted_its_uses() {
    let dir = scratch("approve-granted");
    let run = approve(&operator_host(), &dir, &["--uses", "2", "--ttl-seconds", "3600"]);
    check("approve", &run, &dir, exit::OK);
    assert!(!run.stdout.contains(TEST_KEY_HEX), "the secret key was printed");
    assert!(!run.stdout.contains(&operator().public_key().to_hex()), "a whole key was printed");

    let approvals = dir.join("approvals");
    let mut store = Dir::open(&approvals, TrustedSigners::from_keys([operator().public_key()]));
    for uses_left in [1, 0] {
        let granted = store.take(&action(), NOW + 10).unwrap().unwrap();
        assert_eq!((granted.uses_left, granted.not_after), (uses_left, NOW + 3600));
        assert_eq!(granted.signer, operator().public_key().fingerprint().to_string());
    }
    assert_eq!(store.take(&action(), NOW + 11).unwrap().unwrap_err().kind, RefusalKind::UsedUp);

    // Another action's look-up does not find it.
    let other = ActionDigest::of("payments", "send_payment", None);
    assert!(store.take(&other, NOW + 10).is_none());
}

// guarantee: T5. The approvals directory is created owner-only and the approval file is 0600.
#[cfg(unix)]
#[test]
fn the_approval_and_its_directory_are_owner_only() {
    let dir = scratch("approve-modes");
    let approvals = dir.join(".agentk").join("approvals");
    let hex = action().to_hex();
    let run =
        agentk(&operator_host(), &["approve", "--action", &hex, "--approvals-dir", &approvals.display().to_string()]);
    assert_eq!(run.code, exit::OK, "{}", run.stderr);
    assert_eq!(mode_of(&approvals), 0o700);
    assert_eq!(mode_of(&dir.join(".agentk")), 0o700);
    let files: Vec<_> = std::fs::read_dir(&approvals).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(mode_of(&files[0]), 0o600);
}

// guarantee: T5, C4. Without a configured key the development key signs, the output says so,
// and the proxy's store refuses it unless told to accept it.
#[test]
fn the_development_key_is_reported_and_refused_by_default() {
    let dir = scratch("approve-development");
    let run = approve(&TestHost::new(&[]), &dir, &[]);
    check("approve_development_key", &run, &dir, exit::OK);
    let trusted = || TrustedSigners::from_keys([SigningIdentity::development_public_key()]);
    let approvals = dir.join("approvals");
    let refused = Dir::open(&approvals, trusted()).take(&action(), NOW + 1).unwrap().unwrap_err();
    assert_eq!(refused.kind, RefusalKind::DevelopmentKey);
    // Defaults: one use, fifteen minutes.
    let mut store = Dir::open(&approvals, trusted()).accept_development_key(true);
    let granted = store.take(&action(), NOW + 1).unwrap().unwrap();
    assert_eq!((granted.uses_left, granted.not_after), (0, NOW + 900));
}

// Bad arguments exit 2 with a one-line message that does not repeat the value given for the
// action, and write nothing.
#[test]
fn bad_arguments_are_refused_before_anything_is_written() {
    let dir = scratch("approve-bad-arguments");
    let hex = action().to_hex();
    let canary = format!("{}canary", &hex[..58]);
    let upper = hex.to_uppercase();
    let cases: [(&str, Vec<&str>); 9] = [
        ("approve_bad_hex", vec!["--action", &canary]),
        ("approve_uppercase_hex", vec!["--action", &upper]),
        ("approve_short_hex", vec!["--action", &hex[..62]]),
        ("approve_zero_uses", vec!["--action", &hex, "--uses", "0"]),
        ("approve_too_many_uses", vec!["--action", &hex, "--uses", "1001"]),
        ("approve_uses_not_a_number", vec!["--action", &hex, "--uses", "many"]),
        ("approve_zero_ttl", vec!["--action", &hex, "--ttl-seconds", "0"]),
        ("approve_ttl_over_seven_days", vec!["--action", &hex, "--ttl-seconds", "604801"]),
        ("approve_no_action", vec![]),
    ];
    let approvals = dir.join("approvals").display().to_string();
    for (name, mut args) in cases {
        args.splice(0..0, ["approve", "--approvals-dir", approvals.as_str()]);
        let run = agentk(&operator_host(), &args);
        assert_eq!(run.code, exit::USAGE, "{name}: {}", run.stderr);
        assert!(run.stderr.starts_with("agentk: error: "), "{name}: {}", run.stderr);
        assert!(!run.stderr.contains("canary") && !run.stdout.contains("canary"), "{name}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{name}: {}", run.stdout);
        if !name.contains("uses") && !name.contains("ttl") && name != "approve_no_action" {
            check(name, &run, &dir, exit::USAGE);
        }
        assert!(!dir.join("approvals").exists(), "{name}: something was written");
    }
}

// A directory that cannot be written, an unsafe one, and an invalid signing key are errors
// (exit 1), never a silent fall-back.
#[test]
fn an_unwritable_directory_or_an_invalid_key_is_an_error() {
    let dir = scratch("approve-unwritable");
    std::fs::write(dir.join("file"), "").unwrap();
    let hex = action().to_hex();
    let under_file = dir.join("file").join("approvals").display().to_string();
    let run = agentk(&operator_host(), &["approve", "--action", &hex, "--approvals-dir", &under_file]);
    check("approve_under_a_file", &run, &dir, exit::ERROR);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let loose = dir.join("loose");
        std::fs::create_dir(&loose).unwrap();
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o777)).unwrap();
        let run =
            agentk(&operator_host(), &["approve", "--action", &hex, "--approvals-dir", &loose.display().to_string()]);
        check("approve_loose_directory", &run, &dir, exit::ERROR);
        assert_eq!(std::fs::read_dir(&loose).unwrap().count(), 0);
    }

    let bad_key = TestHost::new(&[("AGENTK_SIGNING_KEY_HEX", "zz")]);
    let run = approve(&bad_key, &dir, &[]);
    check("approve_invalid_signing_key", &run, &dir, exit::ERROR);
    assert!(!dir.join("approvals").exists());
}

// The built binary, with only the signing key in its environment, on the real clock.
#[test]
fn the_binary_approves_with_the_configured_key() {
    let dir = scratch("approve-binary");
    let approvals = dir.join("approvals");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_agentk"))
        .env_clear()
        .env("AGENTK_SIGNING_KEY_HEX", TEST_KEY_HEX)
        .args(["approve", "--action", &action().to_hex(), "--approvals-dir"])
        .arg(&approvals)
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains(&operator().public_key().fingerprint().to_string()), "{stdout}");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let mut store = Dir::open(&approvals, TrustedSigners::from_keys([operator().public_key()]));
    assert!(matches!(store.take(&action(), now), Some(Ok(_))));
}
