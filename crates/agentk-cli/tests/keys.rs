//! Key commands through the CLI (C3 to C6), on a hermetic host: no process environment, a
//! fixed clock, and "randomness" from a fixed test seed, so outputs are snapshot-stable.
#![allow(clippy::unwrap_used, clippy::panic, reason = "test helpers fail loudly on purpose")]

mod common;

use std::path::Path;

use agentk_cli::exit;
use common::{Run, TestHost, agentk, scratch};

fn check(name: &str, run: &Run, dir: &Path, expected: u8) {
    let text = format!("exit: {}\n--- stdout\n{}--- stderr\n{}", run.code, run.stdout, run.stderr)
        .replace(&dir.display().to_string(), "$DIR");
    insta::assert_snapshot!(name, text);
    assert_eq!(run.code, expected, "{name}: {}", run.stderr);
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

#[cfg(unix)]
fn mode_of(path: &str) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

// guarantee: C5
#[test]
fn keygen_writes_an_owner_only_key_and_never_overwrites() {
    let dir = scratch("keygen");
    let host = TestHost::new(&[]);
    let key = path(&dir, "signing.key");
    let run = agentk(&host, &["keygen", "--out", &key]);
    check("keygen", &run, &dir, exit::OK);
    #[cfg(unix)]
    assert_eq!(mode_of(&key), 0o600);
    let contents = std::fs::read_to_string(&key).unwrap();
    assert_eq!(contents.len(), 65);
    assert!(!run.stdout.contains(contents.trim()), "the secret was printed");
    let again = agentk(&host, &["keygen", "--out", &key]);
    check("keygen_refuses_overwrite", &again, &dir, exit::ERROR);
    assert_eq!(std::fs::read_to_string(&key).unwrap(), contents, "the key file was changed");
    let missing_dir = agentk(&host, &["keygen", "--out", &path(&dir, "no/such/dir.key")]);
    assert_eq!(missing_dir.code, exit::ERROR);
    let json = agentk(&host, &["keygen", "--out", &path(&dir, "second.key"), "--json"]);
    check("keygen_json", &json, &dir, exit::OK);
}

// guarantee: C4, C5
#[test]
fn signing_key_shows_source_and_public_half_only() {
    let dir = scratch("signing-key");
    let host = TestHost::new(&[]);
    check("signing_key_development", &agentk(&host, &["signing-key"]), &dir, exit::OK);
    check("signing_key_development_json", &agentk(&host, &["signing-key", "--json"]), &dir, exit::OK);

    let hex = "4141414141414141414141414141414141414141414141414141414141414141";
    let from_hex = agentk(&TestHost::new(&[("AGENTK_SIGNING_KEY_HEX", hex)]), &["signing-key"]);
    check("signing_key_hex", &from_hex, &dir, exit::OK);
    assert!(!from_hex.stdout.contains(hex));

    let key = path(&dir, "k.key");
    assert_eq!(agentk(&host, &["keygen", "--out", &key]).code, exit::OK);
    let from_file = agentk(
        &TestHost::new(&[("AGENTK_SIGNING_KEY_FILE", &key), ("AGENTK_REQUIRE_SIGNING_KEY", "1")]),
        &["signing-key"],
    );
    check("signing_key_file", &from_file, &dir, exit::OK);

    let refused = agentk(&TestHost::new(&[("AGENTK_REQUIRE_SIGNING_KEY", "1")]), &["signing-key"]);
    check("signing_key_require_refuses_development", &refused, &dir, exit::ERROR);
    let invalid = agentk(&TestHost::new(&[("AGENTK_SIGNING_KEY_HEX", "zz")]), &["signing-key"]);
    check("signing_key_invalid_hex", &invalid, &dir, exit::ERROR);
}

// guarantee: C4
#[cfg(unix)]
#[test]
fn loose_key_file_permissions_are_refused_without_naming_the_path() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("loose");
    let host = TestHost::new(&[]);
    let key = path(&dir, "k.key");
    assert_eq!(agentk(&host, &["keygen", "--out", &key]).code, exit::OK);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = agentk(&TestHost::new(&[("AGENTK_SIGNING_KEY_FILE", &key)]), &["signing-key"]);
    check("signing_key_loose_file", &run, &dir, exit::ERROR);
    assert!(!run.stderr.contains("k.key"));
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let run = agentk(&TestHost::new(&[("AGENTK_SIGNING_KEY_FILE", &key)]), &["signing-key"]);
    check("signing_key_loose_directory", &run, &dir, exit::ERROR);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
}

// guarantee: C4 (review finding: a symlink must not hide a shared directory)
#[cfg(unix)]
#[test]
fn key_files_behind_symlinks_are_judged_by_their_real_directory() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("symlink");
    let host = TestHost::new(&[]);
    let shared = dir.join("shared");
    std::fs::create_dir(&shared).unwrap();
    let key = shared.join("k.key").display().to_string();
    assert_eq!(agentk(&host, &["keygen", "--out", &key]).code, exit::OK);
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let link = dir.join("link.key");
    std::os::unix::fs::symlink(&key, &link).unwrap();
    let link = link.display().to_string();
    let run = agentk(&TestHost::new(&[("AGENTK_SIGNING_KEY_FILE", &link)]), &["signing-key"]);
    assert_eq!(run.code, exit::ERROR, "{}", run.stdout);
    assert!(run.stderr.contains("directory of AGENTK_SIGNING_KEY_FILE is writable"), "{}", run.stderr);
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert_eq!(agentk(&TestHost::new(&[("AGENTK_SIGNING_KEY_FILE", &link)]), &["signing-key"]).code, exit::OK);
}

// guarantee: C4 (review finding: the development key pasted into a key file)
#[test]
fn the_development_key_is_flagged_and_refused_however_it_is_given() {
    let dir = scratch("development-file");
    let dev = agentk_capability::SigningIdentity::development().expose_secret_for_key_file();
    let hex = TestHost::new(&[("AGENTK_SIGNING_KEY_HEX", dev.as_str())]);
    let run = agentk(&hex, &["signing-key"]);
    check("signing_key_development_via_hex", &run, &dir, exit::OK);
    let refused = TestHost::new(&[("AGENTK_SIGNING_KEY_HEX", dev.as_str()), ("AGENTK_REQUIRE_SIGNING_KEY", "1")]);
    assert_eq!(agentk(&refused, &["signing-key"]).code, exit::ERROR);
}

// guarantee: C6
#[test]
fn rotation_round_trip_and_tampering() {
    let dir = scratch("rotate");
    let host = TestHost::new(&[]);
    let current = path(&dir, "current.key");
    let next = path(&dir, "next.key");
    let manifest = path(&dir, "rotation.json");
    assert_eq!(agentk(&host, &["keygen", "--out", &current]).code, exit::OK);
    let run = agentk(&host, &["key-rotate", "--current", &current, "--next-out", &next, "--manifest", &manifest]);
    check("key_rotate", &run, &dir, exit::OK);
    #[cfg(unix)]
    assert_eq!(mode_of(&next), 0o600);
    let text = std::fs::read_to_string(&manifest).unwrap();
    for secret_file in [&current, &next] {
        let secret = std::fs::read_to_string(secret_file).unwrap();
        assert!(!text.contains(secret.trim()), "private key in the manifest");
    }
    insta::assert_snapshot!("rotation_manifest", text);

    check("key_rotate_verify", &agentk(&host, &["key-rotate-verify", "--manifest", &manifest]), &dir, exit::OK);
    let previous: serde_json::Value = serde_json::from_str(&text).unwrap();
    let previous_key = previous["previous_public_key"].as_str().unwrap();
    let pinned =
        agentk(&host, &["key-rotate-verify", "--manifest", &manifest, "--trusted-public-key", previous_key, "--json"]);
    check("key_rotate_verify_pinned_json", &pinned, &dir, exit::OK);
    let other_key = previous["next_public_key"].as_str().unwrap();
    let wrong_pin = agentk(&host, &["key-rotate-verify", "--manifest", &manifest, "--trusted-public-key", other_key]);
    check("key_rotate_verify_untrusted", &wrong_pin, &dir, exit::VERIFY_FAILED);

    let tampered = path(&dir, "tampered.json");
    std::fs::write(&tampered, text.replace("\"timestamp\": 1767225600", "\"timestamp\": 1767225601")).unwrap();
    check(
        "key_rotate_verify_tampered",
        &agentk(&host, &["key-rotate-verify", "--manifest", &tampered]),
        &dir,
        exit::VERIFY_FAILED,
    );

    let again = agentk(
        &host,
        &["key-rotate", "--current", &current, "--next-out", &next, "--manifest", &path(&dir, "other.json")],
    );
    assert_eq!(again.code, exit::ERROR);
    assert!(!Path::new(&path(&dir, "other.json")).exists(), "a refused rotation wrote a manifest");
    // A manifest path in a missing directory: refused, and no next key is left behind.
    let (orphan, nowhere) = (path(&dir, "orphan.key"), path(&dir, "missing/rotation.json"));
    let refused = agentk(&host, &["key-rotate", "--current", &current, "--next-out", &orphan, "--manifest", &nowhere]);
    assert_eq!(refused.code, exit::ERROR);
    assert!(!Path::new(&orphan).exists(), "a refused rotation left a key behind");
    let bad_pin = agentk(&host, &["key-rotate-verify", "--manifest", &manifest, "--trusted-public-key", "ABCD"]);
    assert_eq!(bad_pin.code, exit::USAGE);
    let (third, third_manifest) = (path(&dir, "third.key"), path(&dir, "third.json"));
    let json = agentk(
        &host,
        &["key-rotate", "--current", &next, "--next-out", &third, "--manifest", &third_manifest, "--json"],
    );
    check("key_rotate_json", &json, &dir, exit::OK);
}

// guarantee: C3
#[test]
fn trusted_signers_check_reports_counts_only() {
    let dir = scratch("trusted");
    let host = TestHost::new(&[]);
    let key = |n: u8| {
        agentk_capability::SigningIdentity::from_secret(&[n; 32], agentk_capability::SignerSource::Embedded)
            .public_key()
            .to_hex()
    };
    let manifest = path(&dir, "signers.toml");
    std::fs::write(
        &manifest,
        format!(
            "version = 1\n[[signers]]\nlabel = \"ops-a\"\npublic_key = \"{}\"\n[[signers]]\nlabel = \"ops-b\"\npublic_key = \"{}\"\nnot_before = 1767225600\n[[revoked]]\npublic_key = \"{}\"\n",
            key(1),
            key(2),
            key(3)
        ),
    )
    .unwrap();
    let run = agentk(&host, &["trusted-signers-check", "--manifest", &manifest]);
    check("trusted_signers_check", &run, &dir, exit::OK);
    assert!(!run.stdout.contains(&key(1)));
    check(
        "trusted_signers_check_json",
        &agentk(&host, &["trusted-signers-check", "--manifest", &manifest, "--json"]),
        &dir,
        exit::OK,
    );
    let bad = path(&dir, "bad.toml");
    std::fs::write(
        &bad,
        format!("version = 1\n[[signers]]\nlabel = \"ops-a\"\npublic_key = \"{}\"\nprivate_key = \"x\"\n", key(1)),
    )
    .unwrap();
    check(
        "trusted_signers_check_invalid",
        &agentk(&host, &["trusted-signers-check", "--manifest", &bad]),
        &dir,
        exit::ERROR,
    );
}

fn test_identity(n: u8) -> agentk_capability::SigningIdentity {
    agentk_capability::SigningIdentity::from_secret(&[n; 32], agentk_capability::SignerSource::Embedded)
}

/// Writes a receipt minted by test key `key` under the starter policy, issued at the host's time.
fn receipt_file(dir: &Path, name: &str, key: &agentk_capability::SigningIdentity) -> String {
    use agentk_capability::{Hash32, Ledger, MintContext, ReceiptId};
    let policy = agentk_policy::Profile::Starter.load().unwrap();
    let request = agentk_policy::Request::new("agent-1", agentk_labels::Syscall::SecretOpen, "secret://demo-api")
        .presenting("demo-secret");
    let context = MintContext { id: ReceiptId([5; 16]), now: 1_767_225_600, prev_event: Hash32([1; 32]) };
    let (_, encoded) = Ledger::new().mint(&policy, &request, key, context).unwrap();
    let file = path(dir, name);
    std::fs::write(&file, encoded.to_json()).unwrap();
    file
}

// guarantee: C2, C3 (through the CLI)
#[test]
fn receipt_verify_pins_signers_and_fails_closed() {
    let dir = scratch("receipt-verify");
    let host = TestHost::new(&[]);
    let signer = test_identity(1);
    let receipt = receipt_file(&dir, "receipt.json", &signer);
    let signer_hex = signer.public_key().to_hex();
    let pinned = agentk(&host, &["receipt-verify", "--receipt", &receipt, "--trusted-public-key", &signer_hex]);
    check("receipt_verify_pinned", &pinned, &dir, exit::OK);
    check(
        "receipt_verify_unpinned_json",
        &agentk(&host, &["receipt-verify", "--receipt", &receipt, "--json"]),
        &dir,
        exit::OK,
    );

    let other = test_identity(2).public_key().to_hex();
    let untrusted = agentk(&host, &["receipt-verify", "--receipt", &receipt, "--trusted-public-key", &other]);
    check("receipt_verify_untrusted", &untrusted, &dir, exit::VERIFY_FAILED);
    assert!(!untrusted.stdout.contains(&signer_hex));

    let manifest = path(&dir, "signers.toml");
    std::fs::write(&manifest, format!("version = 1\n[[signers]]\nlabel = \"ops\"\npublic_key = \"{signer_hex}\"\n[[revoked]]\npublic_key = \"{signer_hex}\"\n")).unwrap();
    let revoked = agentk(&host, &["receipt-verify", "--receipt", &receipt, "--trusted-signers", &manifest]);
    check("receipt_verify_revoked", &revoked, &dir, exit::VERIFY_FAILED);

    let expired = agentk(
        &host,
        &["receipt-verify", "--receipt", &receipt, "--trusted-public-key", &signer_hex, "--now", "1767225660"],
    );
    check("receipt_verify_expired", &expired, &dir, exit::VERIFY_FAILED);

    let text = std::fs::read_to_string(&receipt).unwrap();
    let tampered = path(&dir, "tampered.json");
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let body = value["receipt"].as_str().unwrap();
    let flipped = format!("{}{}", &body[..body.len() - 1], if body.ends_with('0') { '1' } else { '0' });
    std::fs::write(&tampered, text.replace(body, &flipped)).unwrap();
    assert_eq!(agentk(&host, &["receipt-verify", "--receipt", &tampered]).code, exit::VERIFY_FAILED);
    std::fs::write(&tampered, "{\"schema\":\"agentk.receipt.v1\"}").unwrap();
    assert_eq!(agentk(&host, &["receipt-verify", "--receipt", &tampered]).code, exit::VERIFY_FAILED);
    assert_eq!(agentk(&host, &["receipt-verify", "--receipt", &path(&dir, "missing.json")]).code, exit::ERROR);
}

#[test]
fn development_signed_artefacts_are_flagged() {
    let dir = scratch("development");
    let host = TestHost::new(&[]);
    let receipt = receipt_file(&dir, "dev.json", &agentk_capability::SigningIdentity::development());
    check("receipt_verify_development", &agentk(&host, &["receipt-verify", "--receipt", &receipt]), &dir, exit::OK);

    let dev_key = path(&dir, "dev.key");
    let dev_hex = agentk_capability::SigningIdentity::development().expose_secret_for_key_file();
    std::fs::write(&dev_key, format!("{}\n", dev_hex.as_str())).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dev_key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let manifest = path(&dir, "rotation.json");
    let rotate = agentk(
        &host,
        &["key-rotate", "--current", &dev_key, "--next-out", &path(&dir, "real.key"), "--manifest", &manifest],
    );
    assert_eq!(rotate.code, exit::OK, "{}", rotate.stderr);
    let verify = agentk(&host, &["key-rotate-verify", "--manifest", &manifest]);
    check("key_rotate_verify_from_development", &verify, &dir, exit::OK);
}
