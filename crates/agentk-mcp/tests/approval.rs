//! Human approvals (T5) at the crate boundary: the action digest, minting, the file format, and
//! the directory store with its use counting, against tampering, expiry, foreign keys, hostile
//! files and two proxies at once. Keys are deterministic test keys; times are fixed.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, reason = "tests fail loudly on purpose")]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use agentk_capability::{SignerSource, SigningIdentity, TrustedSigners};
use agentk_mcp::approval::{
    ActionDigest, Approval, ApprovalError, ApprovalSource, Dir, Granted, MAX_APPROVAL_BYTES, MAX_TTL_SECONDS, MAX_USES,
    RefusalKind, mint,
};
use serde_json::json;

const NOW: u64 = 1_767_225_600;
const TTL: u64 = 900;
/// Planted in hostile files: it must never come back in a message.
const CANARY: &str = "canary-approval-5e0d";

/// The operator's test key.
fn operator() -> SigningIdentity {
    SigningIdentity::from_secret(&[0x11; 32], SignerSource::Embedded)
}

/// Another deterministic test key, trusted by no one.
fn stranger() -> SigningIdentity {
    SigningIdentity::from_secret(&[0x22; 32], SignerSource::Embedded)
}

fn trusted() -> TrustedSigners {
    TrustedSigners::from_keys([operator().public_key()])
}

fn pay() -> ActionDigest {
    ActionDigest::of("payments", "send_payment", Some(&json!({"to": "shop.example.invalid", "amount": 12})))
}

fn other_action() -> ActionDigest {
    ActionDigest::of("payments", "send_payment", Some(&json!({"to": "shop.example.invalid", "amount": 13})))
}

fn approve(action: &ActionDigest, uses: u32) -> Approval {
    mint(&operator(), action, uses, TTL, NOW, [0x5a; 16]).unwrap()
}

/// A fresh, owner-only directory for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("agentk-approval-tests").join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    set_mode(&dir, 0o700);
    dir
}

fn set_mode(path: &Path, mode: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
}

fn take(dir: &Path, action: &ActionDigest, now: u64) -> Option<Result<Granted, agentk_mcp::approval::Refused>> {
    Dir::open(dir, trusted()).take(action, now)
}

/// How many use markers the directory holds.
fn markers(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().contains(".use-"))
        .count()
}

/// A look-up of `action` in `dir` at `now` is refused for `expected`, says so in a fixed
/// sentence, and spends nothing.
fn check_refused(dir: &Path, action: &ActionDigest, now: u64, expected: RefusalKind) {
    let before = markers(dir);
    match take(dir, action, now) {
        Some(Err(refused)) => {
            assert_eq!(refused.kind, expected, "{refused}");
            assert_eq!(refused.to_string(), expected.sentence());
            assert!(!refused.to_string().contains(CANARY));
        }
        other => panic!("expected a refusal ({expected:?}), got {other:?}"),
    }
    assert_eq!(markers(dir), before, "a refused approval was spent");
}

fn check_granted(dir: &Path, action: &ActionDigest, now: u64) -> Granted {
    match take(dir, action, now) {
        Some(Ok(granted)) => granted,
        other => panic!("expected a grant, got {other:?}"),
    }
}

/// Replaces the first `from` in `text` by `to`, which must change it.
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from} not in {text}");
    let changed = text.replacen(from, to, 1);
    assert_ne!(changed, text);
    changed
}

fn field<'a>(text: &'a str, name: &str) -> &'a str {
    let value: serde_json::Value = serde_json::from_str(text).unwrap();
    let start = text.find(&format!("\"{name}\":")).unwrap() + name.len() + 3;
    let len = value[name].to_string().len();
    &text[start..start + len]
}

/// A different lowercase hex string of the same length (first digit changed).
fn flip_hex(quoted: &str) -> String {
    let first = quoted.as_bytes()[1];
    let other = if first == b'0' { '1' } else { '0' };
    format!("\"{other}{}", &quoted[2..])
}

// ---- the action digest --------------------------------------------------------------------

// guarantee: T5. The digest is pinned by a fixed vector and follows its definition exactly.
#[test]
fn the_action_digest_is_stable_and_follows_its_definition() {
    let arguments = json!({"to": "shop.example.invalid", "amount": 12, "memo": {"z": [1, "two", null], "a": true}});
    let digest = ActionDigest::of("payments", "send_payment", Some(&arguments));
    assert_eq!(digest.to_hex(), "eb8d5870ebc4954027d812404331682e585fce6063a798e9ba17c97faedaaf45");

    // The definition, spelled out: length-prefixed parts, keys sorted, compact JSON.
    let canonical = r#"{"amount":12,"memo":{"a":true,"z":[1,"two",null]},"to":"shop.example.invalid"}"#;
    let mut hasher = blake3::Hasher::new_derive_key("agentk mcp action v1");
    for part in ["payments", "send_payment", canonical] {
        hasher.update(&(part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    assert_eq!(digest.0, *hasher.finalize().as_bytes());
}

#[test]
fn the_action_digest_ignores_key_order_and_absent_arguments_are_empty() {
    let one: serde_json::Value =
        serde_json::from_str(r#"{"to":"a.example.invalid","opts":{"y":1,"x":[{"q":1,"p":2}]},"amount":5}"#).unwrap();
    let two: serde_json::Value =
        serde_json::from_str(r#"{"amount":5,"opts":{"x":[{"p":2,"q":1}],"y":1},"to":"a.example.invalid"}"#).unwrap();
    assert_eq!(ActionDigest::of("s", "t", Some(&one)), ActionDigest::of("s", "t", Some(&two)));
    assert_eq!(ActionDigest::of("s", "t", None), ActionDigest::of("s", "t", Some(&json!({}))));
}

#[test]
fn the_action_digest_changes_with_any_part_of_the_action() {
    let base = json!({"to": "shop.example.invalid", "amount": 12, "items": [1, 2]});
    let reference = ActionDigest::of("payments", "send_payment", Some(&base));
    let variants = [
        ActionDigest::of("payments2", "send_payment", Some(&base)),
        ActionDigest::of("payments", "send_payments", Some(&base)),
        ActionDigest::of(
            "payments",
            "send_payment",
            Some(&json!({"to": "shop.example.invalid", "amount": 13, "items": [1, 2]})),
        ),
        ActionDigest::of(
            "payments",
            "send_payment",
            Some(&json!({"to": "shop.example.invalid", "amount": "12", "items": [1, 2]})),
        ),
        ActionDigest::of(
            "payments",
            "send_payment",
            Some(&json!({"to": "shop.example.invalid", "amount": 12.0, "items": [1, 2]})),
        ),
        ActionDigest::of(
            "payments",
            "send_payment",
            Some(&json!({"to": "shop.example.invalid", "amount": 12, "items": [2, 1]})),
        ),
        ActionDigest::of(
            "payments",
            "send_payment",
            Some(&json!({"to": "shop.example.invalid", "amount": 12, "items": [1, 2], "x": null})),
        ),
        ActionDigest::of(
            "payments",
            "send_payment",
            Some(&json!({"to": "Shop.example.invalid", "amount": 12, "items": [1, 2]})),
        ),
        ActionDigest::of("payments", "send_payment", None),
        ActionDigest::of("payments", "send_payment", Some(&json!(null))),
    ];
    let mut seen = BTreeSet::from([reference]);
    for variant in variants {
        assert!(seen.insert(variant), "two different actions share a digest");
    }
    // The parts are length-prefixed: moving a boundary is another action.
    assert_ne!(ActionDigest::of("ab", "c", None), ActionDigest::of("a", "bc", None));
}

#[test]
fn action_hex_is_strict_and_never_echoed() {
    let digest = pay();
    assert_eq!(ActionDigest::from_hex(&digest.to_hex()), Ok(digest));
    let upper = digest.to_hex().to_uppercase();
    let bad = [upper.as_str(), &digest.to_hex()[1..], "", CANARY, &format!("{}0", digest.to_hex())];
    for text in bad {
        let error = ActionDigest::from_hex(text).unwrap_err();
        assert_eq!(error, ApprovalError::BadActionHex);
        assert!(!error.to_string().contains(CANARY));
    }
}

// ---- minting and the file format ----------------------------------------------------------

#[test]
fn minting_refuses_terms_out_of_range() {
    let signer = operator();
    let action = pay();
    let check = |uses, ttl, now, expected: ApprovalError| {
        assert_eq!(mint(&signer, &action, uses, ttl, now, [0; 16]).unwrap_err(), expected);
    };
    check(0, TTL, NOW, ApprovalError::ZeroUses);
    check(MAX_USES + 1, TTL, NOW, ApprovalError::TooManyUses { max: MAX_USES });
    check(1, 0, NOW, ApprovalError::TtlOutOfRange { max: MAX_TTL_SECONDS });
    check(1, MAX_TTL_SECONDS + 1, NOW, ApprovalError::TtlOutOfRange { max: MAX_TTL_SECONDS });
    check(1, 2, u64::MAX - 1, ApprovalError::TtlOutOfRange { max: MAX_TTL_SECONDS });
    let widest = mint(&signer, &action, MAX_USES, MAX_TTL_SECONDS, NOW, [0; 16]).unwrap();
    assert_eq!((widest.uses(), widest.not_after()), (MAX_USES, NOW + MAX_TTL_SECONDS));
}

#[test]
fn the_file_text_round_trips_and_only_its_canonical_form_parses() {
    let approval = approve(&pay(), 3);
    let text = approval.to_file_text();
    assert!(text.len() < MAX_APPROVAL_BYTES / 4, "{}", text.len());
    assert_eq!(Approval::parse(&text), Ok(approval.clone()));
    assert!(!text.contains(&operator().expose_secret_for_key_file()[..]), "the secret key was written");
    assert_eq!(approval.verify(&trusted(), &pay(), NOW), Ok(()));

    let not_canonical = [text.replace(",\"uses\"", ", \"uses\""), text.trim_end().to_owned(), format!(" {text}")];
    for variant in not_canonical {
        assert_eq!(Approval::parse(&variant), Err(ApprovalError::NotCanonical), "{variant}");
    }
}

#[test]
fn hostile_file_text_is_refused_without_echo() {
    let text = approve(&pay(), 3).to_file_text();
    let uses = field(&text, "uses").to_owned();
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "malformed"),
        (format!("{CANARY}\n"), "malformed"),
        (text[..text.len() / 2].to_owned(), "malformed"),
        (replace_once(&text, "}", &format!(",\"note\":\"{CANARY}\"}}")), "malformed"),
        (replace_once(&text, "agentk.approval.v1", "agentk.approval.v2"), "unsupported schema"),
        (replace_once(&text, &format!("\"uses\":{uses}"), "\"uses\":0"), "at least one use"),
        (replace_once(&text, &format!("\"uses\":{uses}"), "\"uses\":1001"), "at most 1000 uses"),
        (replace_once(&text, &format!("\"uses\":{uses}"), "\"uses\":-1"), "malformed"),
        (replace_once(&text, &format!("\"not_after\":{}", NOW + TTL), &format!("\"not_after\":{NOW}")), "from 1 to"),
        (
            replace_once(
                &text,
                &format!("\"not_after\":{}", NOW + TTL),
                &format!("\"not_after\":{}", NOW + 8 * 86_400),
            ),
            "from 1 to",
        ),
        (replace_once(&text, field(&text, "signer"), &format!("\"{CANARY}\"")), "`signer`"),
        (replace_once(&text, field(&text, "action"), &field(&text, "action").to_uppercase()), "`action`"),
        (replace_once(&text, field(&text, "nonce"), "\"00\""), "`nonce`"),
        (replace_once(&text, field(&text, "signature"), "\"ab\""), "`signature`"),
        (format!("{}{}", text.trim_end(), " ".repeat(MAX_APPROVAL_BYTES)), "larger than 4096 bytes"),
    ];
    for (hostile, expected) in cases {
        let error = Approval::parse(&hostile).unwrap_err().to_string();
        assert!(error.contains(expected), "{error} (expected {expected})");
        assert!(!error.contains(CANARY), "{error}");
        assert!(!error.contains('\n'), "{error}");
    }
}

// guarantee: T5. No single-character change of a signed approval verifies: every position of
// the file is tried.
#[test]
fn no_single_character_change_verifies() {
    let text = approve(&pay(), 3).to_file_text();
    let both = TrustedSigners::from_keys([operator().public_key(), stranger().public_key()]);
    for (i, byte) in text.bytes().enumerate() {
        for replacement in [byte ^ 0x01, byte ^ 0x02, b'0', b'f'] {
            if replacement == byte || !replacement.is_ascii() {
                continue;
            }
            let mut bytes = text.clone().into_bytes();
            bytes[i] = replacement;
            let Ok(changed) = String::from_utf8(bytes) else { continue };
            if let Ok(approval) = Approval::parse(&changed) {
                assert!(approval.verify(&both, &pay(), NOW + 1).is_err(), "position {i}: {changed}");
            }
        }
    }
}

// guarantee: T5. Each signed field changed, with the file renamed to fit (so only the signature
// stands in the way), fails; the signer swapped for another trusted key fails too.
#[test]
fn each_tampered_field_is_refused_and_never_spent() {
    let approval = approve(&pay(), 3);
    let text = approval.to_file_text();
    let stranger_key = format!("\"{}\"", stranger().public_key().to_hex());
    let tampered = [
        ("action", replace_once(&text, field(&text, "action"), &format!("\"{}\"", other_action().to_hex()))),
        ("uses", replace_once(&text, "\"uses\":3", "\"uses\":4")),
        ("issued_at", replace_once(&text, &format!("\"issued_at\":{NOW}"), &format!("\"issued_at\":{}", NOW - 1))),
        (
            "not_after",
            replace_once(&text, &format!("\"not_after\":{}", NOW + TTL), &format!("\"not_after\":{}", NOW + TTL + 1)),
        ),
        ("nonce", replace_once(&text, field(&text, "nonce"), &flip_hex(field(&text, "nonce")))),
        ("signer", replace_once(&text, field(&text, "signer"), &stranger_key)),
        ("signature", replace_once(&text, field(&text, "signature"), &flip_hex(field(&text, "signature")))),
    ];
    let both = TrustedSigners::from_keys([operator().public_key(), stranger().public_key()]);
    for (name, changed) in tampered {
        let parsed = Approval::parse(&changed).unwrap_or_else(|e| panic!("{name}: {e}"));
        let expected = if name == "signer" { RefusalKind::ForeignSigner } else { RefusalKind::Tampered };
        assert_eq!(parsed.verify(&trusted(), parsed.action(), NOW + 1).unwrap_err().kind, expected, "{name}");
        assert_eq!(parsed.verify(&both, parsed.action(), NOW + 1).unwrap_err().kind, RefusalKind::Tampered, "{name}");

        // In place, under the original name: the name no longer matches the content.
        let dir = scratch(&format!("tampered-{name}-in-place"));
        let path = approval.store(&dir).unwrap();
        std::fs::write(&path, &changed).unwrap();
        check_refused(&dir, &pay(), NOW + 1, RefusalKind::Tampered);

        // Renamed to fit its new content: the signature is what refuses it.
        let dir = scratch(&format!("tampered-{name}-renamed"));
        std::fs::write(dir.join(parsed.file_name()), &changed).unwrap();
        check_refused(&dir, parsed.action(), NOW + 1, expected);
        if name == "action" {
            assert!(take(&dir, &pay(), NOW + 1).is_none(), "a file for another action was read");
        }
    }
}

// ---- the store ------------------------------------------------------------------------------

// guarantee: T5
#[test]
fn a_valid_approval_is_granted_exactly_n_times_then_used_up() {
    let dir = scratch("granted-n-times");
    let approval = approve(&pay(), 3);
    approval.store(&dir).unwrap();
    for n in 1..=3 {
        let granted = check_granted(&dir, &pay(), NOW + n as u64);
        assert_eq!(granted.approval, approval.id());
        assert_eq!(granted.signer, operator().public_key().fingerprint().to_string());
        assert_eq!((granted.use_number, granted.uses_left, granted.not_after), (n, 3 - n, NOW + TTL));
    }
    check_refused(&dir, &pay(), NOW + 4, RefusalKind::UsedUp);
    // A proxy started afresh over the same directory finds it used up too.
    check_refused(&dir, &pay(), NOW + 5, RefusalKind::UsedUp);
    assert_eq!(markers(&dir), 3);
}

#[test]
fn an_approval_is_valid_from_its_issue_time_until_its_expiry() {
    let dir = scratch("validity-window");
    approve(&pay(), 5).store(&dir).unwrap();
    check_refused(&dir, &pay(), NOW - 1, RefusalKind::NotYetValid);
    check_granted(&dir, &pay(), NOW);
    check_granted(&dir, &pay(), NOW + TTL - 1);
    check_refused(&dir, &pay(), NOW + TTL, RefusalKind::Expired);
    check_refused(&dir, &pay(), u64::MAX, RefusalKind::Expired);
}

#[test]
fn an_approval_signed_by_another_key_is_refused() {
    let dir = scratch("foreign");
    mint(&stranger(), &pay(), 3, TTL, NOW, [1; 16]).unwrap().store(&dir).unwrap();
    check_refused(&dir, &pay(), NOW + 1, RefusalKind::ForeignSigner);
    // A revoked operator key is refused the same way.
    let manifest = format!(
        "version = 1\n[[signers]]\nlabel = \"ops\"\npublic_key = \"{0}\"\n[[revoked]]\npublic_key = \"{0}\"\n",
        operator().public_key().to_hex()
    );
    let revoked = TrustedSigners::parse_manifest(&manifest).unwrap();
    let dir = scratch("revoked");
    approve(&pay(), 3).store(&dir).unwrap();
    let refused = Dir::open(&dir, revoked).take(&pay(), NOW + 1).unwrap().unwrap_err();
    assert_eq!(refused.kind, RefusalKind::ForeignSigner);
    assert_eq!(markers(&dir), 0);
}

#[test]
fn the_development_key_is_refused_unless_accepted() {
    let dir = scratch("development-key");
    let development = SigningIdentity::development();
    mint(&development, &pay(), 1, TTL, NOW, [2; 16]).unwrap().store(&dir).unwrap();
    let trusting = || TrustedSigners::from_keys([development.public_key()]);
    let refused = Dir::open(&dir, trusting()).take(&pay(), NOW + 1).unwrap().unwrap_err();
    assert_eq!(refused.kind, RefusalKind::DevelopmentKey);
    assert_eq!(markers(&dir), 0);
    let granted = Dir::open(&dir, trusting()).accept_development_key(true).take(&pay(), NOW + 1);
    assert!(matches!(granted, Some(Ok(_))), "{granted:?}");
}

#[test]
fn an_approval_of_another_action_is_not_used() {
    let dir = scratch("other-action");
    let approval = approve(&pay(), 1);
    let path = approval.store(&dir).unwrap();
    assert_eq!(approval.verify(&trusted(), &other_action(), NOW + 1).unwrap_err().kind, RefusalKind::WrongAction);
    assert!(take(&dir, &other_action(), NOW + 1).is_none());
    assert_eq!(markers(&dir), 0);

    // Renamed to the other action's prefix, it is read and refused for naming another action.
    let moved =
        dir.join(format!("{}.{}.approval", other_action().to_hex(), agentk_capability::encode_hex(&approval.id())));
    std::fs::copy(&path, &moved).unwrap();
    check_refused(&dir, &other_action(), NOW + 1, RefusalKind::WrongAction);
    assert_eq!(check_granted(&dir, &pay(), NOW + 1).use_number, 1);
}

#[test]
fn a_copy_under_a_fresh_name_earns_no_uses() {
    let dir = scratch("copied");
    let approval = approve(&pay(), 1);
    let path = approval.store(&dir).unwrap();
    check_granted(&dir, &pay(), NOW + 1);
    std::fs::rename(&path, dir.join(format!("{}.{}.approval", pay().to_hex(), "0".repeat(64)))).unwrap();
    check_refused(&dir, &pay(), NOW + 2, RefusalKind::Tampered);
}

#[test]
fn malformed_oversized_and_truncated_files_are_refused() {
    let valid = approve(&pay(), 2).to_file_text();
    let duplicate = valid.replace("\"uses\"", "\"uses\":1,\"uses\"");
    let flood = format!("{}{CANARY}", " ".repeat(10 * MAX_APPROVAL_BYTES));
    let hostile: [(&[u8], RefusalKind); 7] = [
        (b"", RefusalKind::Malformed),
        (CANARY.as_bytes(), RefusalKind::Malformed),
        (&valid.as_bytes()[..valid.len() - 20], RefusalKind::Malformed),
        (b"\xff\xfe{\"schema\"", RefusalKind::Malformed),
        (duplicate.as_bytes(), RefusalKind::Malformed),
        (&[b' '; MAX_APPROVAL_BYTES + 1], RefusalKind::Oversized),
        (flood.as_bytes(), RefusalKind::Oversized),
    ];
    for (i, (contents, expected)) in hostile.iter().enumerate() {
        let dir = scratch(&format!("hostile-{i}"));
        std::fs::write(dir.join(format!("{}.{}.approval", pay().to_hex(), "e".repeat(64))), contents).unwrap();
        check_refused(&dir, &pay(), NOW + 1, *expected);
    }
}

#[test]
fn a_valid_approval_beside_broken_ones_is_still_granted_and_the_best_reason_is_given() {
    let dir = scratch("mixed");
    std::fs::write(dir.join(format!("{}.{}.approval", pay().to_hex(), "0".repeat(64))), CANARY).unwrap();
    mint(&stranger(), &pay(), 1, TTL, NOW, [3; 16]).unwrap().store(&dir).unwrap();
    check_refused(&dir, &pay(), NOW + 1, RefusalKind::ForeignSigner);
    approve(&pay(), 1).store(&dir).unwrap();
    check_granted(&dir, &pay(), NOW + 1);
    check_refused(&dir, &pay(), NOW + 2, RefusalKind::UsedUp);
}

#[test]
fn several_approvals_of_one_action_are_spent_soonest_expiry_first() {
    let dir = scratch("several");
    let later = mint(&operator(), &pay(), 1, 2 * TTL, NOW, [4; 16]).unwrap();
    let sooner = mint(&operator(), &pay(), 1, TTL, NOW, [5; 16]).unwrap();
    later.store(&dir).unwrap();
    sooner.store(&dir).unwrap();
    assert_eq!(check_granted(&dir, &pay(), NOW + 1).approval, sooner.id());
    assert_eq!(check_granted(&dir, &pay(), NOW + 2).approval, later.id());
    check_refused(&dir, &pay(), NOW + 3, RefusalKind::UsedUp);
}

#[cfg(unix)]
#[test]
fn symbolic_links_are_not_followed() {
    let elsewhere = scratch("symlink-target");
    let approval = approve(&pay(), 2);
    let target = approval.store(&elsewhere).unwrap();
    let dir = scratch("symlinked-file");
    std::os::unix::fs::symlink(&target, dir.join(approval.file_name())).unwrap();
    check_refused(&dir, &pay(), NOW + 1, RefusalKind::NotRegularFile);
    assert_eq!(markers(&elsewhere), 0);

    // A directory under an approval's name is not a file either.
    let dir = scratch("directory-named-like-an-approval");
    std::fs::create_dir(dir.join(approval.file_name())).unwrap();
    check_refused(&dir, &pay(), NOW + 1, RefusalKind::NotRegularFile);

    // Nor is the approvals directory followed when it is a link.
    let link = scratch("symlinked-dir").join("approvals");
    std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
    assert_eq!(take(&link, &pay(), NOW + 1).unwrap().unwrap_err().kind, RefusalKind::UnsafeDirectory);
    assert_eq!(markers(&elsewhere), 0);
}

#[test]
fn the_directory_must_be_a_private_directory() {
    let root = scratch("directory");
    assert!(take(&root.join("missing"), &pay(), NOW).is_none());
    approve(&pay(), 1).store(&root.join("loose")).unwrap();
    #[cfg(unix)]
    {
        set_mode(&root.join("loose"), 0o777);
        assert_eq!(take(&root.join("loose"), &pay(), NOW + 1).unwrap().unwrap_err().kind, RefusalKind::UnsafeDirectory);
        assert_eq!(approve(&other_action(), 1).store(&root.join("loose")), Err(ApprovalError::UnsafeDirectory));
        assert_eq!(markers(&root.join("loose")), 0);
    }
    std::fs::write(root.join("file"), "").unwrap();
    assert_eq!(take(&root.join("file"), &pay(), NOW + 1).unwrap().unwrap_err().kind, RefusalKind::UnsafeDirectory);
}

#[test]
fn names_outside_the_scheme_are_ignored() {
    let dir = scratch("other-names");
    let approval = approve(&pay(), 1);
    let text = approval.to_file_text();
    for name in [
        "notes.txt".to_owned(),
        approval.file_name().to_uppercase(),
        format!("{}.json", approval.file_name()),
        format!(".{}", approval.file_name()),
        format!("{}.use-1", approval.file_name().replace(".approval", "")),
    ] {
        std::fs::write(dir.join(name), &text).unwrap();
    }
    assert!(take(&dir, &pay(), NOW + 1).is_none());
}

#[test]
fn storing_is_owner_only_and_never_overwrites() {
    let root = scratch("store");
    let dir = root.join(".agentk").join("approvals");
    let approval = approve(&pay(), 2);
    let path = approval.store(&dir).unwrap();
    assert_eq!(path, dir.join(approval.file_name()));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), approval.to_file_text());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&root.join(".agentk")), 0o700);
    }
    std::fs::write(&path, approval.to_file_text().replace("\"uses\":2", "\"uses\":9")).unwrap();
    assert_eq!(approval.store(&dir), Err(ApprovalError::AlreadyStored));
    assert!(std::fs::read_to_string(&path).unwrap().contains("\"uses\":9"), "the existing file was replaced");
    let names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names, [approval.file_name()], "a temporary file was left behind");
}

// ---- two proxies --------------------------------------------------------------------------

// guarantee: T5. Two proxies over one directory, taking turns, spend exactly N uses between them.
#[test]
fn two_proxies_taking_turns_never_spend_more_than_n() {
    let dir = scratch("two-proxies");
    approve(&pay(), 5).store(&dir).unwrap();
    let mut proxies = [Dir::open(&dir, trusted()), Dir::open(&dir, trusted())];
    let mut numbers = Vec::new();
    for round in 0..12u64 {
        let proxy = &mut proxies[(round % 2) as usize];
        match proxy.take(&pay(), NOW + round) {
            Some(Ok(granted)) => numbers.push(granted.use_number),
            Some(Err(refused)) => assert_eq!(refused.kind, RefusalKind::UsedUp),
            None => panic!("the approval vanished"),
        }
    }
    assert_eq!(numbers, [1, 2, 3, 4, 5]);
}

// guarantee: T5. Eight proxies in threads, racing from a common start, spend each use once.
#[test]
fn proxies_racing_in_threads_never_spend_more_than_n() {
    const USES: u32 = 300;
    let dir = scratch("racing-proxies");
    approve(&pay(), USES).store(&dir).unwrap();
    let start = std::sync::Barrier::new(8);
    let granted: Vec<u32> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    let mut proxy = Dir::open(&dir, trusted());
                    let mut mine = Vec::new();
                    start.wait();
                    while let Some(Ok(granted)) = proxy.take(&pay(), NOW + 1) {
                        mine.push(granted.use_number);
                    }
                    mine
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
    });
    let distinct: BTreeSet<u32> = granted.iter().copied().collect();
    assert_eq!(granted.len(), USES as usize, "{granted:?}");
    assert_eq!(distinct, (1..=USES).collect());
    check_refused(&dir, &pay(), NOW + 2, RefusalKind::UsedUp);
}
