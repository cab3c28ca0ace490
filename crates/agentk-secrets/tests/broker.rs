//! S1, S3, S4, S5, S6, S8: registrations, store routing, and signed handles bound to receipts.
#![allow(clippy::unwrap_used, clippy::panic, reason = "test helpers fail loudly on purpose")]

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use agentk_capability::{
    Hash32, Ledger, MintContext, Receipt, ReceiptId, SignerSource, SigningIdentity, Trust, TrustedSigners, Verified,
    Verifier, encode_hex, testing,
};
use agentk_labels::Syscall;
use agentk_policy::{Profile, Request};
use agentk_secrets::{
    Availability, EncodedHandle, EnvPresence, EnvStore, ExternalRef, HandleError, HandleId, HandleKind, Mode,
    OpenError, Provider, RedactionKey, SecretBroker, SecretStore, SecretTarget, SecretsError, StoreRegistry,
    verify_handle,
};

const NOW: u64 = 1_767_225_600;

/// Deterministic test keys. Never use these anywhere else.
fn test_key(n: u8) -> SigningIdentity {
    SigningIdentity::from_secret(&[n; 32], SignerSource::Embedded)
}

fn key() -> RedactionKey {
    RedactionKey::from_bytes([9; 32])
}

/// A fake environment: the names that are set and non-empty.
struct FakeEnv(BTreeSet<&'static str>);

impl EnvPresence for FakeEnv {
    fn is_set_nonempty(&self, name: &str) -> bool {
        self.0.contains(name)
    }
}

/// A store that records every question it is asked.
struct RecordingStore {
    name: &'static str,
    providers: Vec<Provider>,
    answer: Availability,
    asked: Arc<Mutex<Vec<String>>>,
}

impl SecretStore for RecordingStore {
    fn name(&self) -> &'static str {
        self.name
    }
    fn providers(&self) -> Vec<Provider> {
        self.providers.clone()
    }
    fn availability(&self, reference: &ExternalRef) -> Availability {
        self.asked.lock().unwrap().push(reference.provider().id().to_owned());
        self.answer
    }
}

fn recording(
    name: &'static str,
    providers: &[&str],
    answer: Availability,
) -> (Box<RecordingStore>, Arc<Mutex<Vec<String>>>) {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let store = RecordingStore {
        name,
        providers: providers.iter().map(|p| Provider::parse(p).unwrap()).collect(),
        answer,
        asked: Arc::clone(&asked),
    };
    (Box::new(store), asked)
}

fn reference(provider: &str, reference: &str) -> ExternalRef {
    ExternalRef::new(provider, reference, &key()).unwrap()
}

// guarantee: S4
#[test]
fn each_store_answers_only_for_its_own_providers() {
    let (aws, aws_asked) = recording("aws", &["aws-secrets-manager"], Availability::Available);
    let (vault, vault_asked) = recording("vault", &["vault", "onepassword"], Availability::Missing);
    let mut registry = StoreRegistry::new();
    registry.add(aws).unwrap();
    registry.add(vault).unwrap();
    registry.add(Box::new(EnvStore::new(FakeEnv(BTreeSet::from(["SET_VAR"]))))).unwrap();

    assert_eq!(registry.availability(&reference("aws-secrets-manager", "prod/db")), Availability::Available);
    assert_eq!(registry.availability(&reference("vault", "kv/prod")), Availability::Missing);
    assert_eq!(registry.availability(&reference("onepassword", "op://v/i/f")), Availability::Missing);
    assert_eq!(
        registry.availability(&reference("gcp-secret-manager", "projects/my-project/secrets/x")),
        Availability::Unsupported
    );
    assert_eq!(registry.availability(&reference("acme", "x")), Availability::Unsupported);
    assert_eq!(registry.availability(&reference("env", "SET_VAR")), Availability::Available);
    assert_eq!(registry.availability(&reference("env", "UNSET_VAR")), Availability::Missing);
    assert_eq!(*aws_asked.lock().unwrap(), ["aws-secrets-manager"]);
    assert_eq!(*vault_asked.lock().unwrap(), ["vault", "onepassword"]);
}

// guarantee: S4
#[test]
fn overlapping_stores_are_refused() {
    let (first, _) = recording("first", &["vault", "aws-secrets-manager"], Availability::Available);
    let (second, second_asked) = recording("second", &["gcp-secret-manager", "vault"], Availability::Missing);
    let mut registry = StoreRegistry::new();
    registry.add(first).unwrap();
    assert_eq!(registry.add(second), Err(SecretsError::OverlappingStores { existing: "first", added: "second" }));
    assert_eq!(registry.len(), 1);
    assert_eq!(
        registry.availability(&reference("gcp-secret-manager", "projects/my-project/secrets/x")),
        Availability::Unsupported
    );
    assert!(second_asked.lock().unwrap().is_empty());
}

// guarantee: S6
#[test]
fn env_store_reports_presence_of_safe_names_only() {
    let store = EnvStore::new(FakeEnv(BTreeSet::from(["PRESENT"])));
    assert_eq!(store.availability(&reference("env", "PRESENT")), Availability::Available);
    assert_eq!(store.availability(&reference("env", "ABSENT")), Availability::Missing);
    assert_eq!(store.availability(&reference("vault", "a/b")), Availability::Unsupported);
    assert!(ExternalRef::new("env", "BAD-NAME", &key()).is_err());
    assert!(ExternalRef::new("env", "PATH;rm", &key()).is_err());
}

fn receipt(target: &str, grant: Option<&str>) -> (Verified<Receipt>, SigningIdentity) {
    let signer = test_key(1);
    let mut text = Profile::Starter.source().to_owned();
    text += &format!(
        "\n[[grants]]\nid = \"test-grant\"\nagents = [\"*\"]\nsyscall = \"secret.open\"\ntarget = \"{target}\"\nscope = \"read\"\nuses = 5\nttl_seconds = 60\n"
    );
    let policy = agentk_policy::Policy::parse("p", &text).unwrap();
    let request = Request::new("agent-1", Syscall::SecretOpen, target).presenting(grant.unwrap_or("test-grant"));
    let context = MintContext { id: ReceiptId([4; 16]), now: NOW, prev_event: Hash32([0; 32]) };
    let (_, encoded) = Ledger::new().mint(&policy, &request, &signer, context).unwrap();
    (Verifier::new(Trust::ReceiptKey, NOW).verify(&encoded).unwrap(), signer)
}

fn broker(mode: Mode, env: &[&'static str]) -> SecretBroker {
    let mut stores = StoreRegistry::new();
    stores.add(Box::new(EnvStore::new(FakeEnv(env.iter().copied().collect())))).unwrap();
    let mut broker = SecretBroker::new(stores, mode);
    broker.register_dummy(SecretTarget::parse("secret://dummy").unwrap()).unwrap();
    broker.register_external(SecretTarget::parse("secret://env-set").unwrap(), reference("env", "SET_VAR")).unwrap();
    broker
        .register_external(SecretTarget::parse("secret://env-unset").unwrap(), reference("env", "UNSET_VAR"))
        .unwrap();
    broker.register_external(SecretTarget::parse("secret://in-vault").unwrap(), reference("vault", "kv/db")).unwrap();
    broker
}

// guarantee: S3
#[test]
fn external_handles_need_an_available_store_unless_in_demo_mode() {
    let strict = broker(Mode::Strict, &["SET_VAR"]);
    let open = |broker: &SecretBroker, target: &str| {
        let (receipt, signer) = receipt(target, None);
        broker.open(&receipt, &signer, HandleId([7; 16]), NOW + 1).map(|(handle, _)| handle.kind())
    };
    assert_eq!(open(&strict, "secret://dummy"), Ok(HandleKind::Dummy));
    assert_eq!(open(&strict, "secret://env-set"), Ok(HandleKind::External));
    assert_eq!(open(&strict, "secret://env-unset"), Err(OpenError::Unavailable(Availability::Missing)));
    assert_eq!(open(&strict, "secret://in-vault"), Err(OpenError::Unavailable(Availability::Unsupported)));
    assert_eq!(open(&strict, "secret://unregistered"), Err(OpenError::NotRegistered));
    let demo = broker(Mode::DemoBypassAvailability, &[]);
    assert_eq!(open(&demo, "secret://in-vault"), Ok(HandleKind::DemoUnchecked));
    assert_eq!(open(&demo, "secret://dummy"), Ok(HandleKind::Dummy));
}

// guarantee: S1
#[test]
fn registrations_take_a_target_only_and_targets_once() {
    let mut broker = SecretBroker::new(StoreRegistry::new(), Mode::Strict);
    let target = SecretTarget::parse("secret://a").unwrap();
    broker.register_dummy(target.clone()).unwrap();
    assert_eq!(broker.register_dummy(target), Err(SecretsError::DuplicateTarget));
    for bad in ["secret://", "secret://A", "secret://../x", "secret://a//b", "https://x", "secret://a b"] {
        assert_eq!(SecretTarget::parse(bad), Err(SecretsError::InvalidTarget), "{bad}");
    }
}

#[test]
fn only_live_secret_open_receipts_open_handles() {
    let strict = broker(Mode::Strict, &[]);
    let (receipt, signer) = receipt("secret://dummy", None);
    assert_eq!(strict.open(&receipt, &signer, HandleId([7; 16]), NOW + 60).unwrap_err(), OpenError::ReceiptNotLive);
    assert_eq!(strict.open(&receipt, &signer, HandleId([7; 16]), NOW - 1).unwrap_err(), OpenError::ReceiptNotLive);
    let raw = testing::receipt(
        [1; 16],
        "g",
        "agent-1",
        Syscall::NetworkSend,
        "secret://dummy",
        "s",
        NOW,
        NOW + 10,
        [0; 32],
        &signer,
    );
    let tool = Verifier::new(Trust::ReceiptKey, NOW).verify(&testing::sign(&raw, &signer)).unwrap();
    assert_eq!(strict.open(&tool, &signer, HandleId([7; 16]), NOW).unwrap_err(), OpenError::NotSecretOpen);
}

// guarantee: S8
#[test]
fn handles_are_bound_to_their_receipt() {
    let strict = broker(Mode::Strict, &[]);
    let (receipt, signer) = receipt("secret://dummy", None);
    let (handle, encoded) = strict.open(&receipt, &signer, HandleId([7; 16]), NOW + 1).unwrap();
    assert_eq!((handle.receipt_id(), handle.receipt_proof()), (receipt.id(), receipt.proof_hash()));
    assert_eq!((handle.scope(), handle.expires_at()), (receipt.scope(), receipt.expires_at()));
    assert_eq!(handle.labels().to_string(), "secret");
    let verified = verify_handle(&encoded, &receipt, Trust::ReceiptKey, NOW + 2).unwrap();
    assert_eq!(*verified, handle);

    // Another receipt (a different id) for the same target: the binding fails.
    let (other_receipt, _) = {
        let signer = test_key(1);
        let raw = testing::receipt(
            [5; 16],
            "test-grant",
            "agent-1",
            Syscall::SecretOpen,
            "secret://dummy",
            "read",
            NOW,
            NOW + 60,
            [0; 32],
            &signer,
        );
        (Verifier::new(Trust::ReceiptKey, NOW).verify(&testing::sign(&raw, &signer)).unwrap(), signer)
    };
    assert_eq!(
        verify_handle(&encoded, &other_receipt, Trust::ReceiptKey, NOW + 2).unwrap_err(),
        HandleError::BindingMismatch
    );
    assert_eq!(verify_handle(&encoded, &receipt, Trust::ReceiptKey, NOW + 60).unwrap_err(), HandleError::Expired);
    let trusted = TrustedSigners::from_keys([test_key(2).public_key()]);
    assert_eq!(
        verify_handle(&encoded, &receipt, Trust::Pinned(&trusted), NOW + 2).unwrap_err(),
        HandleError::UntrustedSigner
    );
}

// guarantee: S8 (review finding: a handle signed by another key than its receipt's)
#[test]
fn handles_and_receipts_must_share_a_signer() {
    let strict = broker(Mode::Strict, &[]);
    let (receipt, operator) = receipt("secret://dummy", None);
    let attacker = test_key(6);
    // An attacker holding only the receipt signs a handle with their own key.
    let (_, forged) = broker(Mode::Strict, &[]).open(&receipt, &operator, HandleId([7; 16]), NOW + 1).unwrap();
    let bytes = agentk_capability::decode_hex_vec(&forged.handle).unwrap();
    let mut resigned_bytes = bytes.clone();
    let signer_at = resigned_bytes.len() - 32;
    resigned_bytes[signer_at..].copy_from_slice(&attacker.public_key().to_bytes());
    let (_, signature) = attacker.sign_in_context(agentk_capability::SignContext::SecretHandle, &resigned_bytes);
    let attack = EncodedHandle { handle: encode_hex(&resigned_bytes), signature: signature.to_hex(), ..forged.clone() };
    assert_eq!(verify_handle(&attack, &receipt, Trust::ReceiptKey, NOW + 2).unwrap_err(), HandleError::UntrustedSigner);
    // A receipt the attacker signed themselves is not opened by the operator's broker.
    let raw = testing::receipt(
        [4; 16],
        "no-such-grant",
        "agent-1",
        Syscall::SecretOpen,
        "secret://dummy",
        "read",
        NOW,
        NOW + 60,
        [0; 32],
        &attacker,
    );
    let self_signed = Verifier::new(Trust::ReceiptKey, NOW).verify(&testing::sign(&raw, &attacker)).unwrap();
    assert_eq!(
        strict.open(&self_signed, &operator, HandleId([7; 16]), NOW + 1).unwrap_err(),
        OpenError::ForeignReceipt
    );
}

// guarantee: S8
#[test]
fn handle_tamper_table() {
    let strict = broker(Mode::Strict, &[]);
    let (receipt, signer) = receipt("secret://dummy", None);
    let (_, good) = strict.open(&receipt, &signer, HandleId([7; 16]), NOW + 1).unwrap();
    let bytes = agentk_capability::decode_hex_vec(&good.handle).unwrap();
    // Each byte position of the canonical encoding, changed and re-signed with the same key:
    // the signature is then valid, so only the binding or decoding can catch it.
    for at in 0..bytes.len() {
        let mut changed = bytes.clone();
        changed[at] ^= 0x01;
        let (_, signature) = signer.sign_in_context(agentk_capability::SignContext::SecretHandle, &changed);
        let resigned = EncodedHandle { handle: encode_hex(&changed), signature: signature.to_hex(), ..good.clone() };
        // A key holder may re-sign a handle with another id, kind or issue time; whatever
        // verifies must still carry exactly the receipt's binding.
        if let Ok(verified) = verify_handle(&resigned, &receipt, Trust::ReceiptKey, NOW + 2) {
            let bound = (
                verified.receipt_id(),
                verified.receipt_proof(),
                verified.target(),
                verified.scope(),
                verified.expires_at(),
            );
            assert_eq!(
                bound,
                (receipt.id(), receipt.proof_hash(), receipt.target(), receipt.scope(), receipt.expires_at()),
                "byte {at}"
            );
            assert_eq!(verified.labels().to_string(), "secret", "byte {at}");
        }
        // Not re-signed: always refused.
        let unsigned = EncodedHandle { handle: encode_hex(&changed), ..good.clone() };
        assert!(verify_handle(&unsigned, &receipt, Trust::ReceiptKey, NOW + 2).is_err(), "byte {at}");
    }
    // Each bound field, differing between handle and receipt: the binding fails.
    let signer_one = test_key(1);
    let other = |id: u8, target: &str, scope: &str, expires: u64, prev: u8| {
        let raw = testing::receipt(
            [id; 16],
            "test-grant",
            "agent-1",
            Syscall::SecretOpen,
            target,
            scope,
            NOW,
            expires,
            [prev; 32],
            &signer_one,
        );
        Verifier::new(Trust::ReceiptKey, NOW).verify(&testing::sign(&raw, &signer_one)).unwrap()
    };
    for (field, swapped) in [
        ("receipt id", other(5, "secret://dummy", "read", NOW + 60, 0)),
        ("receipt proof", other(4, "secret://dummy", "read", NOW + 60, 1)),
        ("target", other(4, "secret://dummy2", "read", NOW + 60, 0)),
        ("scope", other(4, "secret://dummy", "write", NOW + 60, 0)),
        ("expiry", other(4, "secret://dummy", "read", NOW + 61, 0)),
    ] {
        assert_eq!(
            verify_handle(&good, &swapped, Trust::ReceiptKey, NOW + 2).unwrap_err(),
            HandleError::BindingMismatch,
            "{field}"
        );
    }
    let flipped_signature = {
        let mut s = agentk_capability::decode_hex_vec(&good.signature).unwrap();
        s[3] ^= 1;
        EncodedHandle { signature: encode_hex(&s), ..good.clone() }
    };
    assert_eq!(
        verify_handle(&flipped_signature, &receipt, Trust::ReceiptKey, NOW + 2).unwrap_err(),
        HandleError::BadSignature
    );
    for bad in [
        EncodedHandle { handle: good.handle.to_uppercase(), ..good.clone() },
        EncodedHandle { handle: format!("{}00", good.handle), ..good.clone() },
        EncodedHandle { handle: good.handle[..good.handle.len() - 2].to_owned(), ..good.clone() },
        EncodedHandle { schema: "agentk.secret-handle.v2".into(), ..good.clone() },
        EncodedHandle { signature: good.signature[..100].to_owned(), ..good.clone() },
    ] {
        assert_eq!(verify_handle(&bad, &receipt, Trust::ReceiptKey, NOW + 2).unwrap_err(), HandleError::Malformed);
    }
    // A receipt signature cannot stand in for a handle signature (different contexts).
    let receipt_signature = testing::sign_digest(&signer, &testing::proof(&bytes));
    let cross = EncodedHandle { signature: receipt_signature.to_hex(), ..good.clone() };
    assert_eq!(verify_handle(&cross, &receipt, Trust::ReceiptKey, NOW + 2).unwrap_err(), HandleError::BadSignature);
    assert_eq!(EncodedHandle::from_json(&good.to_json()).unwrap(), good);
    assert!(EncodedHandle::from_json(&good.to_json().replacen('{', "{\"secret\":\"x\",", 1)).is_err());
}
