//! C1, C2, C3, C7: receipts minted only from grants, verified strictly, spent once.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, reason = "test helpers fail loudly on purpose")]

use agentk_capability::{
    EncodedReceipt, Hash32, Ledger, MintContext, MintError, Receipt, ReceiptId, RedeemError, SignerSource,
    SigningIdentity, Trust, TrustedSigners, Verified, Verifier, VerifyError, encode_hex, testing,
};
use agentk_labels::{LabelSet, Syscall};
use agentk_policy::{Policy, Profile, Request};
use proptest::prelude::*;

const NOW: u64 = 1_767_225_600;

/// Deterministic test keys. Never use these anywhere else.
fn test_key(n: u8) -> SigningIdentity {
    SigningIdentity::from_secret(&[n; 32], SignerSource::Embedded)
}

fn context(id: u8, now: u64) -> MintContext {
    MintContext { id: ReceiptId([id; 16]), now, prev_event: Hash32([0xab; 32]) }
}

fn starter() -> Policy {
    Profile::Starter.load().unwrap()
}

fn minted() -> (Receipt, EncodedReceipt) {
    let request = Request::new("agent-1", Syscall::SecretOpen, "secret://demo-api").presenting("demo-secret");
    Ledger::new().mint(&starter(), &request, &test_key(1), context(1, NOW)).unwrap()
}

fn verify_pinned(encoded: &EncodedReceipt, now: u64) -> Result<Verified<Receipt>, VerifyError> {
    let trusted = TrustedSigners::from_keys([test_key(1).public_key()]);
    Verifier::new(Trust::Pinned(&trusted), now).verify(encoded)
}

// guarantee: C1
#[test]
fn a_minted_receipt_binds_every_field() {
    let (receipt, encoded) = minted();
    let verified = verify_pinned(&encoded, NOW + 1).unwrap();
    assert_eq!(*verified, receipt);
    assert_eq!(verified.id(), ReceiptId([1; 16]));
    assert_eq!(verified.grant(), "demo-secret");
    assert_eq!(verified.agent(), "agent-1");
    assert_eq!(verified.syscall(), Syscall::SecretOpen);
    assert_eq!(verified.target(), "secret://demo-api");
    assert_eq!(verified.scope(), "read");
    assert_eq!((verified.issued_at(), verified.expires_at()), (NOW, NOW + 60));
    assert_eq!(verified.prev_event(), Hash32([0xab; 32]));
    assert_eq!(verified.signer(), test_key(1).public_key());
    assert!(!verified.is_development_signed());
    // The proof is the domain-separated hash of the canonical bytes.
    let bytes = testing::encode(&receipt);
    assert_eq!(encoded.receipt, encode_hex(&bytes));
    assert_eq!(encoded.proof, encode_hex(&blake3::derive_key("agentk capability receipt v1", &bytes)));
}

#[test]
fn encoding_is_deterministic() {
    assert_eq!(minted().1, minted().1);
}

// ---- Minting only from grants (C1, issue: never self-granted) ----

fn check_mint_refused(request: Request<'_>, expected: MintError) {
    let err = Ledger::new().mint(&starter(), &request, &test_key(1), context(1, NOW)).unwrap_err();
    assert_eq!(err, expected);
}

#[test]
fn receipts_are_minted_only_from_covering_operator_grants() {
    let secret = |target| Request::new("agent-1", Syscall::SecretOpen, target);
    check_mint_refused(secret("secret://demo-api"), MintError::Denied { rule: "secret-open-needs-grant".into() });
    check_mint_refused(
        secret("secret://demo-api").presenting("self-made-grant"),
        MintError::Denied { rule: "secret-open-needs-grant".into() },
    );
    check_mint_refused(
        secret("secret://other").presenting("demo-secret"),
        MintError::Denied { rule: "secret-open-needs-grant".into() },
    );
    check_mint_refused(
        secret("secret://demo-api")
            .presenting("demo-secret")
            .with_labels(LabelSet::from_labels(&[agentk_labels::Label::Untrusted])),
        MintError::Denied { rule: "secret-open-tainted".into() },
    );
    check_mint_refused(
        Request::new("agent-1", Syscall::ContextRead, "https://a.example.invalid/"),
        MintError::NoCoveringGrant,
    );
}

// guarantee: C7 (use budgets)
#[test]
fn grant_budgets_are_enforced() {
    let policy = starter();
    let request = Request::new("agent-1", Syscall::SecretOpen, "secret://demo-api").presenting("demo-secret");
    let mut ledger = Ledger::new();
    ledger.mint(&policy, &request, &test_key(1), context(1, NOW)).unwrap();
    let err = ledger.mint(&policy, &request, &test_key(1), context(2, NOW)).unwrap_err();
    assert_eq!(err, MintError::BudgetExhausted { grant: "demo-secret".into() });
    // The docs-search grant allows ten.
    let tool = Request::new("agent-1", Syscall::ToolInvoke, "mcp://docs.example.invalid/search")
        .presenting("demo-docs-search");
    for i in 0..10 {
        ledger.mint(&policy, &tool, &test_key(1), context(10 + i, NOW)).unwrap();
    }
    assert!(matches!(
        ledger.mint(&policy, &tool, &test_key(1), context(99, NOW)),
        Err(MintError::BudgetExhausted { .. })
    ));
    assert_eq!(ledger.minted("demo-docs-search"), 10);
}

#[test]
fn over_long_fields_are_refused_at_minting() {
    let target = format!("mcp://docs.example.invalid/search{}", "x".repeat(5000));
    let policy_text = Profile::Starter
        .source()
        .replace("target = \"mcp://docs.example.invalid/search\"", "target = \"mcp://docs.example.invalid/*\"");
    let policy = Policy::parse("p", &policy_text).unwrap();
    let request = Request::new("agent-1", Syscall::ToolInvoke, &target).presenting("demo-docs-search");
    let err = Ledger::new().mint(&policy, &request, &test_key(1), context(1, NOW)).unwrap_err();
    assert_eq!(err, MintError::FieldTooLong { field: "target", max: 4096 });
}

// ---- One-shot (C7) ----

// guarantee: C7
#[test]
fn a_receipt_is_spent_once_and_never_after_expiry() {
    let (_, encoded) = minted();
    let verified = verify_pinned(&encoded, NOW).unwrap();
    assert_eq!(Ledger::new().redeem(&verified, NOW + 60), Err(RedeemError::Expired));
    let mut ledger = Ledger::new();
    assert_eq!(ledger.redeem(&verified, NOW - 1), Err(RedeemError::NotYetValid));
    assert_eq!(ledger.redeem(&verified, NOW + 5), Ok(()));
    assert_eq!(ledger.redeem(&verified, NOW + 6), Err(RedeemError::AlreadySpent));
    assert_eq!(ledger.remembered(), 1);
}

#[test]
fn spent_ids_are_forgotten_only_after_they_expire() {
    let signer = test_key(1);
    let mut ledger = Ledger::new();
    let make = |id: u8, issued: u64| {
        let receipt =
            testing::receipt([id; 16], "g", "a", Syscall::ToolInvoke, "t", "s", issued, issued + 10, [0; 32], &signer);
        verify_pinned(&testing::sign(&receipt, &signer), issued).unwrap()
    };
    let first = make(1, NOW);
    ledger.redeem(&first, NOW).unwrap();
    let second = make(2, NOW + 20);
    ledger.redeem(&second, NOW + 20).unwrap();
    assert_eq!(ledger.remembered(), 1, "the expired first id is pruned");
    assert_eq!(ledger.redeem(&first, NOW + 20), Err(RedeemError::Expired), "and still refused");
}

// Review finding: a resumed ledger given one id twice forgot it at the earlier expiry, so the
// receipt could be spent again while still live.
#[test]
fn a_resumed_ledger_remembers_an_id_until_its_latest_expiry() {
    let signer = test_key(1);
    let make = |id: u8, issued: u64, life: u64| {
        let receipt = testing::receipt(
            [id; 16],
            "g",
            "a",
            Syscall::ToolInvoke,
            "t",
            "s",
            issued,
            issued + life,
            [0; 32],
            &signer,
        );
        verify_pinned(&testing::sign(&receipt, &signer), issued).unwrap()
    };
    let long = make(1, NOW, 100);
    let id = long.id();
    let mut ledger = Ledger::resume(Default::default(), [(id, NOW + 100), (id, NOW + 10)], NOW);
    assert_eq!(ledger.remembered(), 1);
    ledger.redeem(&make(2, NOW + 20, 10), NOW + 20).unwrap();
    assert_eq!(ledger.redeem(&long, NOW + 21), Err(RedeemError::AlreadySpent));
}

// A receipt that cannot be spent at birth, or that is voided because it was never handed
// out, gives its grant the use back.
#[test]
fn receipts_never_handed_out_give_their_use_back() {
    let policy = Profile::Starter.load().unwrap();
    let request = Request::new("agent-1", Syscall::ToolInvoke, "mcp://docs.example.invalid/search")
        .with_labels(LabelSet::of(agentk_labels::Label::Trusted))
        .presenting("demo-docs-search");
    let authorization = policy.authorize(&request).unwrap();
    let mut ledger = Ledger::new();
    let (first, _) = ledger.mint_and_spend(&authorization, &test_key(1), context(1, NOW)).unwrap();
    assert_eq!(ledger.minted("demo-docs-search"), 1);
    // A clock that stepped back past the lifetime a receipt would have: refused, not charged.
    let ttl = policy.grant("demo-docs-search").unwrap().ttl_seconds();
    assert!(ledger.mint_and_spend(&authorization, &test_key(1), context(2, NOW - ttl)).is_err());
    assert_eq!(ledger.minted("demo-docs-search"), 1);
    ledger.void(&first);
    assert_eq!(ledger.minted("demo-docs-search"), 0);
    // Receipts spent by their own event leave no id behind: memory stays flat.
    for i in 3..200 {
        let _ = ledger.mint_and_spend(&authorization, &test_key(1), context(i, NOW + 1));
    }
    assert_eq!(ledger.remembered(), 0);
}

// guarantee: C1, C7 (a receipt is minted only from the policy's own authorization of exactly
// the request it names: a deny or a grant-less allow gives none, and the receipt binds the
// evaluated request's agent and target)
#[test]
fn receipts_come_only_from_an_authorization_of_the_same_request() {
    let policy = Profile::Starter.load().unwrap();
    let tainted = Request::new("agent-1", Syscall::ToolInvoke, "mcp://docs.example.invalid/search")
        .with_labels(LabelSet::of(agentk_labels::Label::Untrusted))
        .presenting("demo-docs-search");
    assert!(policy.authorize(&tainted).is_err(), "P4: a tainted tool call is denied even with a grant");
    let no_grant = Request::new("agent-1", Syscall::ContextRead, "https://news.example.invalid/");
    assert!(policy.authorize(&no_grant).unwrap_err().is_allowed(), "allowed, but with nothing to mint from");
    let clean = Request::new("agent-7", Syscall::ToolInvoke, "mcp://docs.example.invalid/search")
        .presenting("demo-docs-search");
    let authorization = policy.authorize(&clean).unwrap();
    let (receipt, _) = Ledger::new().mint_and_spend(&authorization, &test_key(1), context(1, NOW)).unwrap();
    assert_eq!((receipt.agent(), receipt.target()), ("agent-7", "mcp://docs.example.invalid/search"));
}

// guarantee: C7 (charging receipts minted elsewhere only adds: a budget cannot be refilled)
#[test]
fn charging_receipts_minted_elsewhere_never_refills_a_budget() {
    let policy = Profile::Starter.load().unwrap();
    let request = Request::new("agent-1", Syscall::ToolInvoke, "mcp://docs.example.invalid/search")
        .presenting("demo-docs-search");
    let authorization = policy.authorize(&request).unwrap();
    let mut ledger = Ledger::new();
    for i in 0..3 {
        ledger.mint_and_spend(&authorization, &test_key(1), context(i, NOW)).unwrap();
    }
    ledger.charge("demo-docs-search", 0);
    assert_eq!(ledger.minted("demo-docs-search"), 3);
    ledger.charge("demo-docs-search", 6);
    assert_eq!(ledger.minted("demo-docs-search"), 9);
    ledger.charge("other-grant", u32::MAX);
    ledger.charge("other-grant", 1);
    assert_eq!(ledger.minted("other-grant"), u32::MAX, "saturates, never wraps to unused");
    assert!(ledger.mint_and_spend(&authorization, &test_key(1), context(20, NOW)).is_ok());
    assert!(ledger.mint_and_spend(&authorization, &test_key(1), context(21, NOW)).is_err(), "10 uses in all");
}

// Review finding: pruning scanned every live id on each spend (quadratic over a session).
// Expired ids leave in expiry order, whatever order they were spent in.
#[test]
fn spent_ids_leave_in_expiry_order() {
    let signer = test_key(1);
    let mut ledger = Ledger::new();
    // Lifetimes 10..=40 spent out of order; all issued at NOW.
    let lifetimes = [40u64, 10, 30, 20];
    for (i, life) in lifetimes.iter().enumerate() {
        let receipt =
            testing::receipt([i as u8; 16], "g", "a", Syscall::ToolInvoke, "t", "s", NOW, NOW + life, [0; 32], &signer);
        ledger.redeem(&verify_pinned(&testing::sign(&receipt, &signer), NOW).unwrap(), NOW).unwrap();
    }
    assert_eq!(ledger.remembered(), 4);
    let tick = |ledger: &mut Ledger, at: u64, id: u8| {
        let receipt =
            testing::receipt([100 + id; 16], "g", "a", Syscall::ToolInvoke, "t", "s", at, at + 1, [0; 32], &signer);
        ledger.redeem(&verify_pinned(&testing::sign(&receipt, &signer), at).unwrap(), at).unwrap();
    };
    // Each tick spends one short-lived receipt, which the next tick forgets.
    tick(&mut ledger, NOW + 15, 0);
    assert_eq!(ledger.remembered(), 3 + 1, "only the 10 s receipt left");
    tick(&mut ledger, NOW + 35, 1);
    assert_eq!(ledger.remembered(), 1 + 1, "the 20 s and 30 s receipts (and the tick) left");
    tick(&mut ledger, NOW + 50, 2);
    assert_eq!(ledger.remembered(), 1, "only the last tick remains");
}

// guarantee: C7 (expiry at verification)
#[test]
fn expired_and_future_receipts_fail_verification() {
    let (_, encoded) = minted();
    assert_eq!(verify_pinned(&encoded, NOW + 60).unwrap_err(), VerifyError::Expired);
    assert_eq!(verify_pinned(&encoded, NOW - 1).unwrap_err(), VerifyError::NotYetValid);
    assert!(verify_pinned(&encoded, NOW + 59).is_ok());
}

// ---- Tampering (C2) ----

/// Every way of changing one bound field, re-encoded canonically but not re-signed.
fn field_changes() -> Vec<(&'static str, Receipt)> {
    let signer = test_key(1);
    let base = |f: &dyn Fn(&mut Args)| {
        let mut a = Args::default();
        f(&mut a);
        testing::receipt(a.id, a.grant, a.agent, a.syscall, a.target, a.scope, a.issued, a.expires, a.prev, &signer)
    };
    vec![
        ("id", base(&|a| a.id[0] ^= 1)),
        ("grant", base(&|a| a.grant = "demo-secreT")),
        ("agent", base(&|a| a.agent = "agent-2")),
        ("syscall", base(&|a| a.syscall = Syscall::NetworkSend)),
        ("target", base(&|a| a.target = "secret://demo-api2")),
        ("scope", base(&|a| a.scope = "write")),
        ("issued_at", base(&|a| a.issued -= 1)),
        ("expires_at", base(&|a| a.expires += 1)),
        ("prev_event", base(&|a| a.prev[31] ^= 1)),
    ]
}

struct Args {
    id: [u8; 16],
    grant: &'static str,
    agent: &'static str,
    syscall: Syscall,
    target: &'static str,
    scope: &'static str,
    issued: u64,
    expires: u64,
    prev: [u8; 32],
}

impl Default for Args {
    fn default() -> Self {
        Args {
            id: [1; 16],
            grant: "demo-secret",
            agent: "agent-1",
            syscall: Syscall::SecretOpen,
            target: "secret://demo-api",
            scope: "read",
            issued: NOW,
            expires: NOW + 60,
            prev: [0xab; 32],
        }
    }
}

fn check_refused(name: &str, encoded: &EncodedReceipt, expected: VerifyError) {
    assert_eq!(verify_pinned(encoded, NOW + 1).unwrap_err(), expected, "{name}");
    let any_key = Verifier::new(Trust::ReceiptKey, NOW + 1).verify(encoded);
    assert!(any_key.is_err(), "{name}: refused even without pinning");
}

// guarantee: C2
#[test]
fn every_bound_field_is_covered_by_the_proof() {
    let (_, original) = minted();
    for (field, changed) in field_changes() {
        let bytes = testing::encode(&changed);
        // Changed bytes with the old proof: the proof no longer matches.
        let stale_proof = EncodedReceipt { receipt: encode_hex(&bytes), ..original.clone() };
        check_refused(field, &stale_proof, VerifyError::ProofMismatch);
        // Changed bytes with a recomputed proof: the signature no longer matches.
        let new_proof = EncodedReceipt { proof: encode_hex(&testing::proof(&bytes)), ..stale_proof };
        check_refused(field, &new_proof, VerifyError::BadSignature);
    }
}

// guarantee: C2
#[test]
fn tampered_encodings_are_refused() {
    let (receipt, good) = minted();
    let (_, other) = {
        let request = Request::new("agent-1", Syscall::ToolInvoke, "mcp://docs.example.invalid/search")
            .presenting("demo-docs-search");
        Ledger::new().mint(&starter(), &request, &test_key(1), context(2, NOW)).unwrap()
    };
    let with = |f: &dyn Fn(&mut EncodedReceipt)| {
        let mut e = good.clone();
        f(&mut e);
        e
    };
    let flip = |hex: &str, at: usize| {
        let mut bytes = agentk_capability::decode_hex_vec(hex).unwrap();
        bytes[at] ^= 0x01;
        encode_hex(&bytes)
    };
    use VerifyError::*;
    let cases: Vec<(&str, EncodedReceipt, VerifyError)> = vec![
        ("signature bit flip (R)", with(&|e| e.signature = flip(&e.signature, 0)), BadSignature),
        ("signature bit flip (s)", with(&|e| e.signature = flip(&e.signature, 40)), BadSignature),
        ("proof bit flip", with(&|e| e.proof = flip(&e.proof, 7)), ProofMismatch),
        ("proof swapped from another receipt", with(&|e| e.proof = other.proof.clone()), ProofMismatch),
        ("signature swapped from another receipt", with(&|e| e.signature = other.signature.clone()), BadSignature),
        ("truncated receipt hex", with(&|e| e.receipt.truncate(e.receipt.len() - 2)), Malformed),
        ("odd-length receipt hex", with(&|e| e.receipt.pop().map(drop).unwrap_or(())), Malformed),
        ("extended receipt hex", with(&|e| e.receipt.push_str("00")), NotCanonical),
        ("truncated signature", with(&|e| e.signature.truncate(126)), Malformed),
        ("extended signature", with(&|e| e.signature.push_str("00")), Malformed),
        ("truncated proof", with(&|e| e.proof.truncate(62)), Malformed),
        ("uppercase receipt hex", with(&|e| e.receipt = e.receipt.to_uppercase()), Malformed),
        ("uppercase signature", with(&|e| e.signature = e.signature.to_uppercase()), Malformed),
        ("uppercase proof", with(&|e| e.proof = e.proof.to_uppercase()), Malformed),
        ("non-hex character", with(&|e| e.proof.replace_range(0..1, "g")), Malformed),
        ("wrong schema", with(&|e| e.schema = "agentk.receipt.v2".into()), Malformed),
        ("empty receipt", with(&|e| e.receipt.clear()), Malformed),
    ];
    for (name, encoded, expected) in cases {
        check_refused(name, &encoded, expected);
    }
    // Non-canonical encodings: a varint written in two bytes where one would do.
    let bytes = testing::encode(&receipt);
    let mut padded = bytes.clone();
    // Byte 17 is the varint length of the grant id (11); rewrite it as the non-minimal
    // two-byte varint 0x8b 0x00, which decodes to the same value.
    assert_eq!(padded[17], 11);
    padded.splice(17..18, [0x8b, 0x00]);
    let proof = testing::proof(&padded);
    let non_canonical = EncodedReceipt {
        receipt: encode_hex(&padded),
        proof: encode_hex(&proof),
        signature: testing::sign_digest(&test_key(1), &proof).to_hex(),
        ..good.clone()
    };
    assert_eq!(verify_pinned(&non_canonical, NOW + 1).unwrap_err(), VerifyError::NotCanonical);
}

// guarantee: C2, C3
#[test]
fn a_swapped_key_fails() {
    let signer = test_key(1);
    let forger = test_key(2);
    let (receipt, _) = minted();
    // The forger signs the same receipt naming themselves: valid, but not trusted.
    let forged = testing::receipt(
        [1; 16],
        receipt.grant(),
        receipt.agent(),
        receipt.syscall(),
        receipt.target(),
        receipt.scope(),
        NOW,
        NOW + 60,
        [0xab; 32],
        &forger,
    );
    let encoded = testing::sign(&forged, &forger);
    assert!(matches!(verify_pinned(&encoded, NOW + 1), Err(VerifyError::UntrustedSigner { .. })));
    // Naming the trusted key but signing with another: the signature fails.
    let claimed = testing::receipt(
        [1; 16],
        "demo-secret",
        "agent-1",
        Syscall::SecretOpen,
        "secret://demo-api",
        "read",
        NOW,
        NOW + 60,
        [0xab; 32],
        &signer,
    );
    let bytes = testing::encode(&claimed);
    let proof = testing::proof(&bytes);
    let encoded = EncodedReceipt {
        schema: "agentk.receipt.v1".into(),
        receipt: encode_hex(&bytes),
        proof: encode_hex(&proof),
        signature: testing::sign_digest(&forger, &proof).to_hex(),
    };
    assert_eq!(verify_pinned(&encoded, NOW + 1).unwrap_err(), VerifyError::BadSignature);
}

// guarantee: C3
#[test]
fn untrusted_signers_are_named_by_fingerprint_only() {
    let (_, encoded) = minted();
    let trusted = TrustedSigners::from_keys([test_key(3).public_key()]);
    let err = Verifier::new(Trust::Pinned(&trusted), NOW).verify(&encoded).unwrap_err();
    let message = err.to_string();
    assert!(message.starts_with("receipt signer ak1:") && message.ends_with(" is not trusted"), "{message}");
    assert!(!message.contains(&test_key(1).public_key().to_hex()));
}

#[test]
fn development_signed_receipts_are_marked_and_the_mark_is_bound() {
    let request = Request::new("agent-1", Syscall::SecretOpen, "secret://demo-api").presenting("demo-secret");
    let dev = SigningIdentity::development();
    let (receipt, encoded) = Ledger::new().mint(&starter(), &request, &dev, context(1, NOW)).unwrap();
    assert!(receipt.is_development_signed());
    let verified = Verifier::new(Trust::ReceiptKey, NOW).verify(&encoded).unwrap();
    assert!(verified.is_development_signed());
    // A real key cannot claim to be the development key, nor the reverse.
    let liar = testing::receipt([1; 16], "g", "a", Syscall::ToolInvoke, "t", "s", NOW, NOW + 1, [0; 32], &test_key(1));
    let bytes = testing::encode(&liar);
    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] = 1; // development_signer = true
    let proof = testing::proof(&flipped);
    let lying = EncodedReceipt {
        schema: "agentk.receipt.v1".into(),
        receipt: encode_hex(&flipped),
        proof: encode_hex(&proof),
        signature: testing::sign_digest(&test_key(1), &proof).to_hex(),
    };
    assert_eq!(Verifier::new(Trust::ReceiptKey, NOW).verify(&lying).unwrap_err(), VerifyError::Malformed);
}

#[test]
fn json_form_round_trips_and_refuses_unknown_fields() {
    let (_, encoded) = minted();
    assert_eq!(EncodedReceipt::from_json(&encoded.to_json()).unwrap(), encoded);
    let extra = encoded.to_json().replacen('{', "{\"note\":\"x\",", 1);
    assert_eq!(EncodedReceipt::from_json(&extra).unwrap_err(), VerifyError::Malformed);
    assert_eq!(EncodedReceipt::from_json(&"x".repeat(100_000)).unwrap_err(), VerifyError::Malformed);
}

// ---- Batch verification ----

#[test]
fn batch_verification_agrees_with_single_verification() {
    let signer = test_key(1);
    let receipts: Vec<EncodedReceipt> = (0..32u8)
        .map(|i| {
            let r = testing::receipt(
                [i; 16],
                "g",
                "agent-1",
                Syscall::ToolInvoke,
                "mcp://t",
                "s",
                NOW,
                NOW + 60,
                [i; 32],
                &signer,
            );
            testing::sign(&r, &signer)
        })
        .collect();
    let trusted = TrustedSigners::from_keys([signer.public_key()]);
    let verifier = Verifier::new(Trust::Pinned(&trusted), NOW + 1);
    let batch = verifier.verify_batch(&receipts).unwrap();
    assert_eq!(batch.len(), 32);
    for (one, encoded) in batch.iter().zip(&receipts) {
        assert_eq!(one, &verifier.verify(encoded).unwrap());
    }
    // One bad signature in the middle is found and named.
    let mut bad = receipts.clone();
    bad[17].signature = receipts[3].signature.clone();
    assert_eq!(verifier.verify_batch(&bad).unwrap_err(), (17, VerifyError::BadSignature));
    // One untrusted signer is found before any signature work.
    let mut untrusted = receipts;
    let r = testing::receipt([0; 16], "g", "a", Syscall::ToolInvoke, "t", "s", NOW, NOW + 60, [0; 32], &test_key(4));
    untrusted[5] = testing::sign(&r, &test_key(4));
    assert!(matches!(verifier.verify_batch(&untrusted).unwrap_err(), (5, VerifyError::UntrustedSigner { .. })));
    assert_eq!(verifier.verify_batch(&[]).unwrap(), vec![]);
    // Deferred checks: everything but the signature now, the signatures together later.
    let deferred: Vec<_> = bad.iter().map(|e| verifier.verify_deferred(e).unwrap()).collect();
    assert_eq!(deferred[17].unconfirmed().grant(), "g", "fields are readable before confirming");
    assert_eq!(agentk_capability::confirm_batch(deferred).unwrap_err(), 17);
    let good: Vec<_> = bad.iter().enumerate().filter(|(i, _)| *i != 17).map(|(_, e)| e.clone()).collect();
    let confirmed =
        agentk_capability::confirm_batch(good.iter().map(|e| verifier.verify_deferred(e).unwrap()).collect()).unwrap();
    assert_eq!(confirmed, verifier.verify_batch(&good).unwrap());
    assert!(matches!(verifier.verify_deferred(&untrusted[5]), Err(VerifyError::UntrustedSigner { .. })));
    let late = Verifier::new(Trust::Pinned(&trusted), NOW + 60);
    assert_eq!(late.verify_deferred(&good[0]).unwrap_err(), VerifyError::Expired, "lifetime is not deferred");
}

// ---- Properties ----

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    // guarantee: C1
    #[test]
    fn sign_verify_round_trip(
        id in any::<[u8; 16]>(), agent in "[a-z0-9-]{1,40}", target in "\\PC{0,200}",
        scope in "[a-z]{1,10}", issued in 0u64..u64::MAX / 2, ttl in 1u64..1_000_000, prev in any::<[u8; 32]>(),
        key in 1u8..255,
    ) {
        let signer = test_key(key);
        let receipt = testing::receipt(id, "grant", &agent, Syscall::NetworkSend, &target, &scope, issued, issued + ttl, prev, &signer);
        let encoded = testing::sign(&receipt, &signer);
        let verified = Verifier::new(Trust::ReceiptKey, issued).verify(&encoded).unwrap();
        prop_assert_eq!(verified.into_inner(), receipt);
    }

    // guarantee: C2
    #[test]
    fn any_single_byte_change_fails(which in 0usize..3, at in any::<prop::sample::Index>(), delta in 1u8..=255) {
        let (_, encoded) = minted();
        let mut parts = [
            agentk_capability::decode_hex_vec(&encoded.receipt).unwrap(),
            agentk_capability::decode_hex_vec(&encoded.proof).unwrap(),
            agentk_capability::decode_hex_vec(&encoded.signature).unwrap(),
        ];
        let part = &mut parts[which];
        let i = at.index(part.len());
        part[i] = part[i].wrapping_add(delta);
        let tampered = EncodedReceipt {
            schema: encoded.schema.clone(),
            receipt: encode_hex(&parts[0]),
            proof: encode_hex(&parts[1]),
            signature: encode_hex(&parts[2]),
        };
        prop_assert!(Verifier::new(Trust::ReceiptKey, NOW + 1).verify(&tampered).is_err());
    }

    #[test]
    fn arbitrary_encodings_never_panic(receipt in "[0-9a-f]{0,600}", proof in "[0-9a-f]{0,70}", signature in "[0-9a-f]{0,130}") {
        let encoded = EncodedReceipt { schema: "agentk.receipt.v1".into(), receipt, proof, signature };
        prop_assert!(Verifier::new(Trust::ReceiptKey, NOW).verify(&encoded).is_err());
    }
}

// guarantee: C2 (batch and single verification refuse the same crafted signatures)
#[test]
fn small_order_and_non_canonical_r_are_refused_by_both_paths() {
    let (_, good) = minted();
    let trusted = TrustedSigners::from_keys([test_key(1).public_key()]);
    let verifier = Verifier::new(Trust::Pinned(&trusted), NOW + 1);
    let mut identity_r = [0u8; 32];
    identity_r[0] = 1;
    let mut non_canonical_r = [0xff; 32];
    non_canonical_r[0] = 0xee; // y = p + 1, another spelling of y = 1
    non_canonical_r[31] = 0x7f;
    for r in [identity_r, non_canonical_r, [0u8; 32]] {
        let mut signature = agentk_capability::decode_hex_vec(&good.signature).unwrap();
        signature[..32].copy_from_slice(&r);
        let crafted = EncodedReceipt { signature: encode_hex(&signature), ..good.clone() };
        assert_eq!(verifier.verify(&crafted).unwrap_err(), VerifyError::BadSignature);
        assert_eq!(verifier.verify_batch(&[good.clone(), crafted]).unwrap_err(), (1, VerifyError::BadSignature));
    }
}

#[test]
fn the_development_key_is_recognised_however_it_was_loaded() {
    let secret = SigningIdentity::development().expose_secret_for_key_file();
    let loaded = SigningIdentity::from_secret_hex(&secret, SignerSource::File).unwrap();
    assert!(loaded.is_development());
    let request = Request::new("agent-1", Syscall::SecretOpen, "secret://demo-api").presenting("demo-secret");
    let (receipt, encoded) = Ledger::new().mint(&starter(), &request, &loaded, context(1, NOW)).unwrap();
    assert!(receipt.is_development_signed());
    assert!(Verifier::new(Trust::ReceiptKey, NOW).verify(&encoded).unwrap().is_development_signed());
}

// guarantee: C3, C7 (review finding: a retired key backdating a long-lived receipt)
#[test]
fn retired_keys_cannot_backdate_receipts_that_are_valid_now() {
    let signer = test_key(1);
    let text = format!(
        "version = 1\n[[signers]]\nlabel = \"old\"\npublic_key = \"{}\"\nnot_after = 1000\n",
        signer.public_key().to_hex()
    );
    let trusted = TrustedSigners::parse_manifest(&text).unwrap();
    let backdated = testing::receipt([1; 16], "g", "a", Syscall::ToolInvoke, "t", "s", 999, 999 + 60, [0; 32], &signer);
    let encoded = testing::sign(&backdated, &signer);
    assert!(matches!(
        Verifier::new(Trust::Pinned(&trusted), 1010).verify(&encoded),
        Err(VerifyError::OutsideWindow { .. })
    ));
    let inside = testing::receipt([1; 16], "g", "a", Syscall::ToolInvoke, "t", "s", 900, 960, [0; 32], &signer);
    assert!(Verifier::new(Trust::Pinned(&trusted), 950).verify(&testing::sign(&inside, &signer)).is_ok());
    let forever = testing::receipt([1; 16], "g", "a", Syscall::ToolInvoke, "t", "s", 999, u64::MAX, [0; 32], &signer);
    let err = Verifier::new(Trust::ReceiptKey, 5_000_000).verify(&testing::sign(&forever, &signer)).unwrap_err();
    assert_eq!(err, VerifyError::LifetimeTooLong);
}

// guarantee: C7 (review finding: a clock that steps back must not revive a forgotten id)
#[test]
fn a_clock_stepping_back_cannot_respend_a_receipt() {
    let signer = test_key(1);
    let make = |id: u8, issued: u64, expires: u64| {
        let receipt =
            testing::receipt([id; 16], "g", "a", Syscall::ToolInvoke, "t", "s", issued, expires, [0; 32], &signer);
        Verifier::new(Trust::ReceiptKey, issued).verify(&testing::sign(&receipt, &signer)).unwrap()
    };
    let (a, b) = (make(1, 100, 200), make(2, 240, 300));
    let mut ledger = Ledger::new();
    ledger.redeem(&a, 150).unwrap();
    ledger.redeem(&b, 250).unwrap();
    assert_eq!(ledger.redeem(&a, 160), Err(RedeemError::Expired));
}
