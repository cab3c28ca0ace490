//! C4 signer loading, C3 trusted-signer manifests, C6 rotation manifests.
#![allow(clippy::unwrap_used, clippy::panic, reason = "test helpers fail loudly on purpose")]

use std::collections::BTreeMap;

use agentk_capability::{
    KeyFile, KeyFileProblem, KeyFileReader, LoadError, RotationError, RotationManifest, SignerEnv, SignerSource,
    SigningIdentity, TrustedSigners, VerifyError, load_signer,
};
use zeroize::Zeroizing;

/// Deterministic test keys. Never use these anywhere else.
fn test_key(n: u8) -> SigningIdentity {
    SigningIdentity::from_secret(&[n; 32], SignerSource::Embedded)
}

/// The development key's secret, as a key file would hold it (it is public by design).
static DEVELOPMENT_KEY_FILE: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("{}\n", SigningIdentity::development().expose_secret_for_key_file().as_str()));

const TEST_KEY_HEX: &str = "0707070707070707070707070707070707070707070707070707070707070707";

/// An in-memory file system: path -> (contents, file mode, directory mode).
struct Files(BTreeMap<&'static str, (&'static [u8], u32, u32)>);

impl KeyFileReader for Files {
    fn read(&self, path: &str) -> Result<KeyFile, KeyFileProblem> {
        let (contents, file, dir) = self.0.get(path).ok_or(KeyFileProblem::NotFound)?;
        Ok(KeyFile { contents: Zeroizing::new(contents.to_vec()), file_mode: Some(*file), dir_mode: Some(*dir) })
    }
}

fn files() -> Files {
    let good = b"0808080808080808080808080808080808080808080808080808080808080808\n";
    Files(BTreeMap::from([
        ("good.key", (&good[..], 0o600, 0o700)),
        ("no-newline.key", (&good[..64], 0o400, 0o755)),
        ("group-readable.key", (&good[..], 0o640, 0o700)),
        ("world-readable.key", (&good[..], 0o604, 0o700)),
        ("open-dir.key", (&good[..], 0o600, 0o777)),
        ("group-writable-dir.key", (&good[..], 0o600, 0o770)),
        (
            "uppercase.key",
            (b"0A0808080808080808080808080808080808080808080808080808080808080808\n".as_slice(), 0o600, 0o700),
        ),
        (
            "two-newlines.key",
            (b"0808080808080808080808080808080808080808080808080808080808080808\n\n".as_slice(), 0o600, 0o700),
        ),
        ("empty.key", (b"".as_slice(), 0o600, 0o700)),
        ("binary.key", (b"\xff\xfe\x00".as_slice(), 0o600, 0o700)),
        ("development.key", (DEVELOPMENT_KEY_FILE.as_bytes(), 0o600, 0o700)),
    ]))
}

fn env(hex: Option<&str>, file: Option<&str>, require: Option<&str>) -> SignerEnv {
    SignerEnv {
        key_hex: hex.map(|h| Zeroizing::new(h.to_owned())),
        key_file: file.map(str::to_owned),
        require: require.map(str::to_owned),
    }
}

/// Loads with the given variables and describes the outcome: the source chosen, or the error.
fn outcome(hex: Option<&str>, file: Option<&str>, require: Option<&str>) -> String {
    match load_signer(&env(hex, file, require), &files()) {
        Ok(identity) => format!("{:?} {}", identity.source(), identity.public_key().fingerprint()),
        Err(e) => format!("error: {e}"),
    }
}

// guarantee: C4
#[test]
fn signer_loading_matrix() {
    let hex_fp = test_key(7).public_key().fingerprint();
    let file_fp = test_key(8).public_key().fingerprint();
    let dev_fp = SigningIdentity::development().public_key().fingerprint();
    let upper = "ab".repeat(32).to_uppercase();
    let dev_hex = SigningIdentity::development().expose_secret_for_key_file().to_string();
    type Case<'a> = (Option<&'a str>, Option<&'a str>, Option<&'a str>, String);
    let cases: Vec<Case<'_>> = vec![
        (Some(TEST_KEY_HEX), None, None, format!("EnvHex {hex_fp}")),
        (None, Some("good.key"), None, format!("File {file_fp}")),
        (None, Some("no-newline.key"), None, format!("File {file_fp}")),
        (Some(TEST_KEY_HEX), Some("good.key"), None, format!("EnvHex {hex_fp}")),
        (None, None, None, format!("Development {dev_fp}")),
        (None, None, Some("0"), format!("Development {dev_fp}")),
        (Some(TEST_KEY_HEX), None, Some("1"), format!("EnvHex {hex_fp}")),
        (None, Some("good.key"), Some("1"), format!("File {file_fp}")),
        (None, None, Some("1"), format!("error: {}", LoadError::DevelopmentKeyRefused)),
        (None, None, Some("yes"), format!("error: {}", LoadError::InvalidRequireFlag)),
        // The development key pasted into the variable or a key file is still refused.
        (Some(&dev_hex), None, Some("1"), format!("error: {}", LoadError::DevelopmentKeyRefused)),
        (None, Some("development.key"), Some("1"), format!("error: {}", LoadError::DevelopmentKeyRefused)),
        (Some(&dev_hex), None, None, format!("EnvHex {dev_fp}")),
        // Invalid values never fall back, not even to a valid file.
        (Some("not-hex"), Some("good.key"), None, format!("error: {}", LoadError::InvalidHex)),
        (Some(""), None, None, format!("error: {}", LoadError::InvalidHex)),
        (Some(&upper), None, None, format!("error: {}", LoadError::InvalidHex)),
        (Some(&TEST_KEY_HEX[..62]), None, None, format!("error: {}", LoadError::InvalidHex)),
        (None, Some("missing.key"), None, format!("error: {}", LoadError::KeyFile(KeyFileProblem::NotFound))),
        (None, Some("group-readable.key"), None, format!("error: {}", LoadError::LooseFilePermissions)),
        (None, Some("world-readable.key"), None, format!("error: {}", LoadError::LooseFilePermissions)),
        (None, Some("open-dir.key"), None, format!("error: {}", LoadError::LooseDirectoryPermissions)),
        (None, Some("group-writable-dir.key"), None, format!("error: {}", LoadError::LooseDirectoryPermissions)),
        (None, Some("uppercase.key"), None, format!("error: {}", LoadError::MalformedKeyFile)),
        (None, Some("two-newlines.key"), None, format!("error: {}", LoadError::MalformedKeyFile)),
        (None, Some("empty.key"), None, format!("error: {}", LoadError::MalformedKeyFile)),
        (None, Some("binary.key"), None, format!("error: {}", LoadError::MalformedKeyFile)),
    ];
    for (hex, file, require, expected) in cases {
        assert_eq!(outcome(hex, file, require), expected, "hex={hex:?} file={file:?} require={require:?}");
    }
}

#[test]
fn load_errors_never_show_keys_or_paths() {
    for error in [
        LoadError::InvalidHex,
        LoadError::MalformedKeyFile,
        LoadError::LooseFilePermissions,
        LoadError::LooseDirectoryPermissions,
        LoadError::KeyFile(KeyFileProblem::NotFound),
    ] {
        let text = format!("{error} {}", error.help());
        assert!(!text.contains("0808") && !text.contains(".key"), "{text}");
    }
    let debug = format!("{:?}", env(Some(TEST_KEY_HEX), Some("/secret/path.key"), None));
    assert!(!debug.contains("0707") && !debug.contains("/secret"), "{debug}");
}

// ---- Trusted-signer manifests (C3) ----

fn manifest(body: &str) -> String {
    format!("version = 1\n{body}")
}

fn signer_entry(label: &str, key: &SigningIdentity, extra: &str) -> String {
    format!("[[signers]]\nlabel = \"{label}\"\npublic_key = \"{}\"\n{extra}\n", key.public_key().to_hex())
}

// guarantee: C3
#[test]
fn manifests_pin_keys_windows_and_revocations() {
    let text = manifest(&format!(
        "{}{}{}[[revoked]]\npublic_key = \"{}\"\nreason = \"test key retired\"\n",
        signer_entry("ops-a", &test_key(1), ""),
        signer_entry("ops-b", &test_key(2), "not_before = 100\nnot_after = 200"),
        signer_entry("ops-c", &test_key(3), ""),
        test_key(3).public_key().to_hex()
    ));
    let trusted = TrustedSigners::parse_manifest(&text).unwrap();
    assert_eq!((trusted.signer_count(), trusted.revoked_count()), (3, 1));
    assert!(trusted.check(&test_key(1).public_key(), 0).is_ok());
    assert!(trusted.check(&test_key(2).public_key(), 150).is_ok());
    assert!(matches!(trusted.check(&test_key(2).public_key(), 99), Err(VerifyError::OutsideWindow { .. })));
    assert!(matches!(trusted.check(&test_key(2).public_key(), 200), Err(VerifyError::OutsideWindow { .. })));
    assert!(matches!(trusted.check(&test_key(3).public_key(), 0), Err(VerifyError::RevokedSigner { .. })));
    assert!(matches!(trusted.check(&test_key(4).public_key(), 0), Err(VerifyError::UntrustedSigner { .. })));
}

fn check_manifest_error(text: &str, expected: &str) {
    let err = TrustedSigners::parse_manifest(text).unwrap_err();
    assert_eq!(err.to_string(), expected, "{text}");
}

#[test]
fn bad_manifests_are_refused_with_a_location() {
    let k1 = signer_entry("ops-a", &test_key(1), "");
    check_manifest_error(&manifest(""), "trusted-signer manifest lists no signers");
    check_manifest_error(&format!("version = 2\n{k1}"), "1:11: unsupported trusted-signer manifest version");
    check_manifest_error(
        &manifest(&format!("{k1}value = \"x\"\n")),
        "6:1: unknown field `value`, expected one of `label`, `public_key`, `not_before`, `not_after`",
    );
    check_manifest_error(
        &manifest("[[signers]]\nlabel = \"a\"\npublic_key = \"00\"\n"),
        "4:14: not a valid Ed25519 public key in 64 lowercase hex characters",
    );
    check_manifest_error(&manifest(&format!("{k1}{k1}")), "7:9: labels must be unique, 1 to 64 characters");
    check_manifest_error(
        &manifest(&format!("{k1}{}", signer_entry("ops-b", &test_key(1), ""))),
        "8:14: key listed twice",
    );
    check_manifest_error(
        &manifest(&signer_entry("ops-a", &test_key(1), "not_before = 5\nnot_after = 5")),
        "4:14: not_before must be earlier than not_after",
    );
    check_manifest_error(
        &manifest("[[signers]\n"),
        "2:11: not a valid trusted-signer manifest (TOML syntax or value type)",
    );
    let pasted = format!(
        "[[signers]]\nlabel = \"ops\"\npublic_key = \"{}\"\nnot_before = \"{}\"\n",
        test_key(1).public_key().to_hex(),
        TEST_KEY_HEX
    );
    let err = TrustedSigners::parse_manifest(&manifest(&pasted)).unwrap_err().to_string();
    assert!(!err.contains(TEST_KEY_HEX), "{err}");
    check_manifest_error(&"#".repeat(300_000), "trusted-signer manifest is larger than 262144 bytes");
}

#[test]
fn manifest_errors_never_echo_keys() {
    let key = test_key(1).public_key().to_hex();
    let text = manifest(&format!("[[signers]]\nlabel = \"ops\"\npublic_key = \"{}\"\n", key.to_uppercase()));
    let err = TrustedSigners::parse_manifest(&text).unwrap_err().to_string();
    assert!(!err.to_lowercase().contains(&key), "{err}");
}

// ---- Rotation (C6) ----

// guarantee: C6
#[test]
fn rotation_manifests_are_signed_by_both_keys_and_hold_no_secrets() {
    let (current, next) = (test_key(1), test_key(2));
    let manifest = RotationManifest::create(&current, &next, 1_767_225_600).unwrap();
    let json = manifest.to_json();
    for secret in [current.expose_secret_for_key_file(), next.expose_secret_for_key_file()] {
        assert!(!json.contains(secret.as_str()));
    }
    let parsed = RotationManifest::from_json(&json).unwrap();
    let rotation = parsed.verify(None).unwrap();
    assert_eq!((rotation.previous, rotation.next), (current.public_key(), next.public_key()));
    let trusted = TrustedSigners::from_keys([current.public_key()]);
    assert!(parsed.verify(Some(&trusted)).is_ok());
    let other = TrustedSigners::from_keys([test_key(3).public_key()]);
    assert!(matches!(parsed.verify(Some(&other)), Err(RotationError::UntrustedPrevious { .. })));
}

// guarantee: C6
#[test]
fn tampered_rotation_manifests_fail() {
    let (current, next, intruder) = (test_key(1), test_key(2), test_key(3));
    let good = RotationManifest::create(&current, &next, 1000).unwrap();
    let with = |f: &dyn Fn(&mut RotationManifest)| {
        let mut m = good.clone();
        f(&mut m);
        m.verify(None).unwrap_err()
    };
    assert_eq!(with(&|m| m.timestamp += 1), RotationError::HashMismatch);
    assert_eq!(with(&|m| m.payload_hash = "00".repeat(32)), RotationError::HashMismatch);
    // Swap in another next key (with its fingerprint): hash changes.
    assert_eq!(
        with(&|m| {
            m.next_public_key = intruder.public_key().to_hex();
            m.next_fingerprint = intruder.public_key().fingerprint().to_string();
        }),
        RotationError::HashMismatch
    );
    // Recompute everything with the intruder as next but keep the real next signature.
    let forged = RotationManifest::create(&current, &intruder, 1000).unwrap();
    assert_eq!(with(&|m| m.previous_signature = forged.previous_signature.clone()), RotationError::BadSignature);
    assert_eq!(with(&|m| m.next_signature = good.previous_signature.clone()), RotationError::BadSignature);
    assert_eq!(with(&|m| m.next_fingerprint = "ak1:0000000000000000".into()), RotationError::Malformed);
    assert_eq!(with(&|m| m.schema = "agentk.key-rotation.v2".into()), RotationError::Malformed);
    assert_eq!(with(&|m| m.previous_signature = m.previous_signature.to_uppercase()), RotationError::Malformed);
    let extra = good.to_json().replacen('{', "{\"secret_key\":\"x\",", 1);
    assert_eq!(RotationManifest::from_json(&extra).unwrap_err(), RotationError::Malformed);
    assert_eq!(RotationManifest::create(&current, &current, 1).unwrap_err(), RotationError::SameKey);
    assert_eq!(
        RotationManifest::create(&current, &SigningIdentity::development(), 1).unwrap_err(),
        RotationError::DevelopmentKey
    );
}
