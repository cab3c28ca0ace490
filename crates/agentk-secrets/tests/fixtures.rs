//! S8 on the fixture vectors (`fixtures/receipts/`, cut by `cargo xtask fixtures` from a log
//! the kernel wrote): the handle verifies against its `secret.open` receipt, and a handle with
//! one changed digit does not.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail loudly")]

use std::path::{Path, PathBuf};

use agentk_capability::{EncodedReceipt, PublicKey, Trust, TrustedSigners, Verifier};
use agentk_secrets::{EncodedHandle, verify_handle};

fn fixture(name: &str) -> String {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/receipts").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// guarantee: S8
#[test]
fn fixture_handles_verify_only_against_their_receipt() {
    let expect: serde_json::Value = serde_json::from_str(&fixture("expect.json")).unwrap();
    let key = PublicKey::from_hex(expect["fixture_test_public_key"].as_str().unwrap()).unwrap();
    let trusted = TrustedSigners::from_keys([key]);
    let now = 1_767_225_600;
    let receipt = EncodedReceipt::from_json(fixture("secret-open-receipt.json").trim()).unwrap();
    let receipt = Verifier::new(Trust::Pinned(&trusted), now).verify(&receipt).unwrap();
    let handle = EncodedHandle::from_json(fixture("handle.json").trim()).unwrap();
    verify_handle(&handle, &receipt, Trust::Pinned(&trusted), now).unwrap();

    let tampered = EncodedHandle::from_json(fixture("handle-tampered.json").trim()).unwrap();
    assert!(verify_handle(&tampered, &receipt, Trust::Pinned(&trusted), now).is_err());

    // The handle is bound to its own receipt: another valid receipt does not carry it.
    let other = EncodedReceipt::from_json(fixture("receipt.json").trim()).unwrap();
    let other = Verifier::new(Trust::Pinned(&trusted), now).verify(&other).unwrap();
    assert!(verify_handle(&handle, &other, Trust::Pinned(&trusted), now).is_err());
}
