//! C2 and C3 at the library boundary, on the receipt vectors in `fixtures/receipts/` (cut by
//! `cargo xtask fixtures` from a log the kernel wrote): each verifies, pinned to the fixture
//! key, exactly when `expect.json` says.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail loudly")]

use std::path::Path;

use agentk_capability::{EncodedReceipt, PublicKey, Trust, TrustedSigners, Verifier};

// guarantee: C2, C3
#[test]
fn receipt_vectors_verify_as_expected() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/receipts");
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let expect: serde_json::Value = serde_json::from_str(&read("expect.json")).unwrap();
    let key = PublicKey::from_hex(expect["fixture_test_public_key"].as_str().unwrap()).unwrap();
    let trusted = TrustedSigners::from_keys([key]);
    let cases = expect["receipts"].as_object().unwrap();
    assert!(cases.len() >= 7);
    for (name, want) in cases {
        let now = want["now"].as_u64().unwrap();
        let verified = EncodedReceipt::from_json(read(name).trim())
            .ok()
            .and_then(|receipt| Verifier::new(Trust::Pinned(&trusted), now).verify(&receipt).ok());
        assert_eq!(verified.is_some(), want["exit"] == 0, "{name}");
    }
}
