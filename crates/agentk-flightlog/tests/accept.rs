//! F1, F4: the acceptance rule every reader applies ([`agentk_flightlog::accept`]): what the
//! default (only signatures no checkpoint covers) and `SignatureChecks::Every` each refuse, that
//! the answer does not depend on how the work is spread, and that a second pass must read the
//! events the first accepted. (The tamper suites in `kernel.rs` run every verification through
//! the threaded reader too.)
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, reason = "test helpers fail loudly on purpose")]

use std::sync::Arc;

use agentk_capability::{SignContext, SignerSource, SigningIdentity, encode_hex};
use agentk_flightlog::accept::{Acceptance, Accepted, Rejection, SignatureChecks, Spread, accept};
use agentk_flightlog::event::{EventBody, EventLine, checkpoint_statement};
use agentk_flightlog::kernel::{Clock, Entropy, EvidenceSalt, Kernel, MemoryLog, SyscallRequest};
use agentk_flightlog::merkle::{Frontier, leaf_hash};
use agentk_flightlog::saved::{CHECKPOINT_SCHEMA, SavedCheckpoint};
use agentk_flightlog::verify::{ChainError, ChainVerifier, PENDING_BOUND};
use agentk_labels::SyscallKind;
use agentk_policy::{Policy, Profile};

struct FixedClock;
impl Clock for FixedClock {
    fn now(&self) -> u64 {
        1_767_225_600
    }
}

struct Counter(u64);
impl Entropy for Counter {
    fn fill(&mut self, buf: &mut [u8]) {
        self.0 += 1;
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (self.0 >> ((i % 8) * 8)) as u8;
        }
    }
}

/// A deterministic TEST KEY: whoever holds it can sign anything in these logs.
fn test_key() -> SigningIdentity {
    SigningIdentity::from_secret(&[9; 32], SignerSource::Embedded)
}

/// A closed log of `n` syscalls, every third a deny, the rest granted allows with receipts,
/// with a checkpoint every `every` syscalls (0: only the closing one).
fn mixed_log(n: usize, every: u32) -> Vec<String> {
    let text: Arc<str> = Profile::Starter.source().replace("uses = 10\n", "uses = 100000\n").into();
    let mut kernel = Kernel::builder()
        .policy(Arc::clone(&text), Arc::new(Policy::parse("starter", &text).unwrap()))
        .signer(Arc::new(test_key()))
        .clock(FixedClock)
        .entropy(Counter(0))
        .log_id([4; 32])
        .origin("agentk-test.example.invalid")
        .checkpoint_every(every)
        .open_sink(MemoryLog::new())
        .unwrap();
    let salt = EvidenceSalt::from_bytes([5; 32]);
    let inputs = [salt.input("trusted".parse().unwrap(), b"dummy")];
    let private = [salt.input("private".parse().unwrap(), b"dummy")];
    for i in 0..n {
        let request = if i % 3 == 2 {
            SyscallRequest {
                agent: "agent-1",
                syscall: SyscallKind::parse("network.send"),
                target: "https://evil.example.invalid/c",
                inputs: &private,
                grant: None,
            }
        } else {
            SyscallRequest {
                agent: "agent-1",
                syscall: SyscallKind::parse("tool.invoke"),
                target: "mcp://docs.example.invalid/search",
                inputs: &inputs,
                grant: Some("demo-docs-search"),
            }
        };
        kernel.decide(&request).unwrap();
    }
    kernel.close().unwrap().lines().to_vec()
}

fn events(lines: &[String]) -> Vec<EventLine> {
    lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Re-seals the chain and re-signs every checkpoint with the test key, as the key's holder
/// can: everything but the receipts' own signatures verifies again.
fn reseal_as_key_holder(mut events: Vec<EventLine>) -> Vec<String> {
    let key = test_key();
    let mut frontier = Frontier::new();
    let log_id = match &events[0].event {
        EventBody::Genesis(genesis) => genesis.log_id,
        _ => panic!("no genesis"),
    };
    for i in 0..events.len() {
        if let EventBody::Checkpoint(checkpoint) = &mut events[i].event {
            checkpoint.root = frontier.root();
            let statement = checkpoint_statement(&log_id, checkpoint.size, &checkpoint.root);
            checkpoint.signature = key.sign_in_context(SignContext::Checkpoint, &statement).1.to_hex();
        }
        let prev = if i == 0 { Default::default() } else { events[i - 1].hash };
        events[i] = EventLine::seal(events[i].seq, prev, events[i].event.clone());
        frontier.push(leaf_hash(&events[i].hash.0));
    }
    events.iter().map(EventLine::to_line).collect()
}

/// Gives the receipt on line `line` (1-based) another receipt's signature.
fn bad_receipt_signature(lines: &[String], line: usize) -> Vec<EventLine> {
    let mut all = events(lines);
    let donor = match &all[1].event {
        EventBody::Syscall(s) => s.receipt.clone().unwrap().signature,
        _ => panic!("line 2 is not a syscall"),
    };
    match &mut all[line - 1].event {
        EventBody::Syscall(s) => s.receipt.as_mut().unwrap().signature = donor,
        _ => panic!("line {line} is not a syscall"),
    }
    all
}

fn file(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn read(lines: &[String], acceptance: &Acceptance) -> Result<Accepted, Rejection> {
    accept(file(lines).as_bytes(), acceptance, |_| {})
}

fn with(signatures: SignatureChecks, allow_unsigned_tail: bool) -> Acceptance {
    Acceptance { signatures, allow_unsigned_tail, ..Acceptance::default() }
}

fn bad_binding(outcome: Result<Accepted, Rejection>) -> u64 {
    match outcome {
        Err(Rejection::Chain(ChainError::BadBinding { line })) => line,
        other => panic!("expected a bad binding, got {other:?}"),
    }
}

// guarantee: F4 (what the default leaves to the checkpoints, and what verify-signatures adds).
// A receipt whose own signature fails, under a checkpoint the key's holder re-signed: only the
// holder of the key can make this log, and it could as well have signed a valid receipt saying
// the same; the checkpoint vouches for every byte. The default accepts it, `Every` names it.
// (The receipt is the log's last: any later receipt binds its event's hash.)
#[test]
fn a_receipt_signature_under_a_valid_checkpoint_is_checked_only_by_every() {
    let lines = mixed_log(20, 5);
    let last = lines.len() - 1; // the last syscall, an allow; the closing checkpoint follows
    let forged = reseal_as_key_holder(bad_receipt_signature(&lines, last));
    assert!(read(&forged, &with(SignatureChecks::Uncovered, false)).is_ok());
    assert_eq!(bad_binding(read(&forged, &with(SignatureChecks::Every, false))), last as u64);
    // In the unsigned tail, nothing vouches for it but its own signature: refused either way.
    let open = &forged[..forged.len() - 1];
    for signatures in [SignatureChecks::Uncovered, SignatureChecks::Every] {
        assert_eq!(bad_binding(read(open, &with(signatures, true))), last as u64, "{signatures:?}");
    }
    // Nobody else can: re-sealed without the key, the checkpoint refuses the log, and the bad
    // receipt before it is the line named, by either rule.
    let mut resealed = bad_receipt_signature(&lines, last);
    for i in last - 1..resealed.len() {
        let prev = resealed[i - 1].hash;
        resealed[i] = EventLine::seal(resealed[i].seq, prev, resealed[i].event.clone());
    }
    let resealed: Vec<String> = resealed.iter().map(EventLine::to_line).collect();
    for signatures in [SignatureChecks::Uncovered, SignatureChecks::Every] {
        assert_eq!(bad_binding(read(&resealed, &with(signatures, false))), last as u64, "{signatures:?}");
    }
    // The sequential verifier agrees.
    for (log, checks, want) in [
        (&forged[..], SignatureChecks::Uncovered, None),
        (&forged[..], SignatureChecks::Every, Some(last as u64)),
        (open, SignatureChecks::Uncovered, Some(last as u64)),
    ] {
        let mut verifier = ChainVerifier::new().checking(checks);
        let outcome = log.iter().try_for_each(|line| verifier.push(line).map(|_| ())).and_then(|()| verifier.finish());
        assert_eq!(outcome.err().and_then(|e| e.line()), want, "{checks:?}");
    }
}

// Past PENDING_BOUND receipts without a checkpoint, the default checks them in batches (memory
// stays flat) and still accepts; what the closing checkpoint covers needs no check.
#[test]
fn receipts_past_the_pending_bound_are_checked_and_the_cover_still_counts() {
    let lines = mixed_log(PENDING_BOUND * 3 / 2 + 31, 0);
    let last = lines.len() - 1;
    let forged = reseal_as_key_holder(bad_receipt_signature(&lines, last));
    let threaded =
        |signatures, tail| Acceptance { spread: Spread { threads: 2, chunk_lines: 64 }, ..with(signatures, tail) };
    assert!(read(&lines, &threaded(SignatureChecks::Uncovered, false)).is_ok());
    assert!(read(&forged, &threaded(SignatureChecks::Uncovered, false)).is_ok());
    assert_eq!(bad_binding(read(&forged, &threaded(SignatureChecks::Every, false))), last as u64);
    let open = &forged[..forged.len() - 1];
    assert_eq!(bad_binding(read(open, &threaded(SignatureChecks::Uncovered, true))), last as u64);
}

// guarantee: F1 (the answer, the events visited and their order do not depend on the spread)
#[test]
fn every_spread_gives_the_same_answer_and_visits_in_order() {
    let lines = mixed_log(300, 40);
    let broken = {
        let mut broken = lines.clone();
        broken[200].push(' ');
        broken
    };
    for spread in [
        Spread { threads: 1, chunk_lines: 1 },
        Spread { threads: 2, chunk_lines: 3 },
        Spread { threads: 4, chunk_lines: 17 },
        Spread::default(),
    ] {
        for signatures in [SignatureChecks::Uncovered, SignatureChecks::Every] {
            let acceptance = Acceptance { signatures, spread, ..Acceptance::default() };
            let mut seen = Vec::new();
            let accepted = accept(file(&lines).as_bytes(), &acceptance, |e| seen.push(e.seq)).unwrap();
            assert_eq!(seen, (0..accepted.events()).collect::<Vec<_>>(), "{spread:?}");
            let mut seen = 0;
            let refused = accept(file(&broken).as_bytes(), &acceptance, |_| seen += 1);
            assert!(matches!(refused, Err(Rejection::Chain(ChainError::Malformed { line: 201 }))), "{refused:?}");
            assert_eq!(seen, 200, "{spread:?}: only lines that verified are visited");
        }
    }
}

// guarantee: F4 (issue 11 item 6: a checkpoint of another log is named as such, before the
// truncation or rewrite it would otherwise look like; one of this log still catches both)
#[test]
fn a_saved_checkpoint_must_be_of_this_log() {
    let lines = mixed_log(12, 4);
    let all = events(&lines);
    let whole = read(&lines, &Acceptance::default()).unwrap();
    let own = SavedCheckpoint::of(&whole).unwrap();
    let checked = |saved: &SavedCheckpoint, lines: &[String]| {
        read(lines, &Acceptance { checkpoint: Some(saved.clone()), allow_unsigned_tail: true, ..Acceptance::default() })
    };
    assert!(checked(&own, &lines).is_ok());
    assert!(matches!(checked(&own, &lines[..5]), Err(Rejection::Chain(ChainError::Truncated { .. }))));
    // Signed by the same key for another log id, or for this id by another key; of size 1 too,
    // where the root check would come on the very genesis line.
    let key = test_key();
    let sign = |log_id: [u8; 32], size: u64, root, signer: &SigningIdentity| {
        let log_id = agentk_flightlog::event::Hash32(log_id);
        let (_, signature) =
            signer.sign_in_context(SignContext::Checkpoint, &checkpoint_statement(&log_id, size, &root));
        SavedCheckpoint {
            schema: CHECKPOINT_SCHEMA.to_owned(),
            log_id: encode_hex(&log_id.0),
            size,
            root: encode_hex(&root.0),
            signer: signer.public_key().to_hex(),
            signature: signature.to_hex(),
        }
    };
    let root = whole.root();
    let EventBody::Genesis(genesis) = &all[0].event else { panic!() };
    let other_key = SigningIdentity::from_secret(&[10; 32], SignerSource::Embedded);
    for saved in [
        sign([0x44; 32], whole.events(), root, &key),
        sign([0x44; 32], 1, root, &key),
        sign(genesis.log_id.0, whole.events(), root, &other_key),
        sign(genesis.log_id.0, 100, root, &other_key),
    ] {
        assert!(matches!(checked(&saved, &lines), Err(Rejection::OtherLog)), "{saved:?}");
        assert!(matches!(checked(&saved, &lines[..3]), Err(Rejection::OtherLog)), "{saved:?}");
    }
    // A forged signature is refused before the log is read.
    let mut forged = own.clone();
    forged.size += 1;
    assert!(matches!(checked(&forged, &lines), Err(Rejection::BadCheckpoint(_))));
}

// guarantee: F4 (the second pass of a two-pass reader must read what the first accepted)
#[test]
fn a_second_pass_must_read_the_accepted_events() {
    let lines = mixed_log(30, 7);
    let accepted = read(&lines, &Acceptance::default()).unwrap();
    let mut seen = 0;
    accepted.again(file(&lines).as_bytes(), |_| seen += 1).unwrap();
    assert_eq!(seen, accepted.events());
    // Grown since (a live log): the accepted events are read again, no more.
    let mut grown = file(&lines);
    grown.push_str("not even an event\n");
    let mut seen = 0;
    accepted.again(grown.as_bytes(), |_| seen += 1).unwrap();
    assert_eq!(seen, accepted.events());
    // Changed in place, or cut: refused.
    let other = mixed_log(31, 7);
    assert!(matches!(accepted.again(file(&other).as_bytes(), |_| {}), Err(Rejection::Changed)));
    assert!(matches!(accepted.again(file(&lines[..10]).as_bytes(), |_| {}), Err(Rejection::Changed)));
}

// The signer rules: pinned keys with windows over the event times, and the development key.
#[test]
fn pinning_and_the_development_key_are_part_of_acceptance() {
    use agentk_capability::TrustedSigners;
    let lines = mixed_log(6, 0);
    let pinned = |keys: Vec<agentk_capability::PublicKey>| Acceptance {
        trusted: Some(TrustedSigners::from_keys(keys)),
        ..Acceptance::default()
    };
    let accepted = read(&lines, &pinned(vec![test_key().public_key()])).unwrap();
    assert!(accepted.pinned());
    let other = SigningIdentity::from_secret(&[10; 32], SignerSource::Embedded).public_key();
    assert!(matches!(read(&lines, &pinned(vec![other])), Err(Rejection::UntrustedSigner { .. })));
    let refusing = Acceptance { refuse_development_signer: true, ..Acceptance::default() };
    assert!(read(&lines, &refusing).is_ok(), "a test key is not the development key");
    // An unsigned tail is named with its length.
    let open = &lines[..lines.len() - 1];
    assert!(matches!(read(open, &Acceptance::default()), Err(Rejection::UnsignedTail { events: 7 })));
}
