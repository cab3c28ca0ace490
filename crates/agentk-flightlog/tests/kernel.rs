//! F1 (chain part) and the kernel's contract: every decision, allowed or denied, is one
//! recorded event before it is returned, and any change to the log is found at its line.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, reason = "test helpers fail loudly on purpose")]

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use agentk_capability::{EncodedReceipt, SignerSource, SigningIdentity, Trust, TrustedSigners, Verifier};
use agentk_flightlog::builder::{BuildError, KernelBuilder};
use agentk_flightlog::event::{Effect, EventBody, EventLine};
use agentk_flightlog::kernel::{
    Clock, Entropy, EvidenceSalt, Kernel, KernelError, MemoryLog, RecordSink, SinkError, SyscallRequest,
};
use agentk_flightlog::verify::{ChainError, ChainVerified, ChainVerifier};
use agentk_labels::{Label, LabelSet, Syscall, SyscallKind};
use agentk_policy::{Policy, Profile};
use agentk_secrets::{Mode, SecretBroker, SecretTarget, StoreRegistry};

const NOW: u64 = 1_767_225_600;

struct FixedClock;
impl Clock for FixedClock {
    fn now(&self) -> u64 {
        NOW
    }
}

/// Deterministic "randomness": a counter. Test ids only.
struct Counter(u8);
impl Entropy for Counter {
    fn fill(&mut self, buf: &mut [u8]) {
        self.0 = self.0.wrapping_add(1);
        buf.fill(self.0);
    }
}

/// Deterministic test key. Never use it anywhere else.
fn test_key() -> Arc<SigningIdentity> {
    Arc::new(SigningIdentity::from_secret(&[1; 32], SignerSource::Embedded))
}

/// Kernel parts over `policy_text` with the test key, a fixed clock and counter ids.
fn parts(policy_text: &str, with_broker: bool, checkpoint_every: u32) -> KernelBuilder {
    let text: Arc<str> = policy_text.into();
    let broker = with_broker.then(|| {
        let mut broker = SecretBroker::new(StoreRegistry::new(), Mode::Strict);
        broker.register_dummy(SecretTarget::parse("secret://demo-api").unwrap()).unwrap();
        Arc::new(broker)
    });
    Kernel::builder()
        .policy(Arc::clone(&text), Arc::new(Policy::parse("starter", &text).unwrap()))
        .signer(test_key())
        .broker_opt(broker)
        .clock(FixedClock)
        .entropy(Counter(0))
        .log_id([7; 32])
        .origin("agentk-test.example.invalid")
        .checkpoint_every(checkpoint_every)
}

fn kernel_with<S: RecordSink>(sink: S, with_broker: bool) -> Kernel<S> {
    parts(Profile::Starter.source(), with_broker, 0).open_sink(sink).unwrap()
}

fn salt() -> EvidenceSalt {
    EvidenceSalt::from_bytes([5; 32])
}

fn call<S: RecordSink>(
    kernel: &mut Kernel<S>,
    syscall: &str,
    target: &str,
    labels: &str,
    grant: Option<&str>,
) -> agentk_flightlog::kernel::Decided {
    let inputs = [salt().input(labels.parse().unwrap(), b"dummy content")];
    let request =
        SyscallRequest { agent: "agent-1", syscall: SyscallKind::parse(syscall), target, inputs: &inputs, grant };
    kernel.decide(&request).unwrap()
}

/// A small log touching every path: observe, taint deny, grant allow, secret handle, budget
/// exhaustion, unknown syscall.
fn sample_log() -> Vec<String> {
    let mut kernel = kernel_with(MemoryLog::new(), true);
    call(&mut kernel, "context.read", "https://news.example.invalid/a", "untrusted,external", None);
    call(&mut kernel, "network.send", "https://evil.example.invalid/c", "private", None);
    call(&mut kernel, "tool.invoke", "mcp://docs.example.invalid/search", "trusted", Some("demo-docs-search"));
    call(&mut kernel, "secret.open", "secret://demo-api", "trusted", Some("demo-secret"));
    call(&mut kernel, "secret.open", "secret://demo-api", "trusted", Some("demo-secret"));
    call(&mut kernel, "kernel.reboot", "now", "none", None);
    kernel.sink().unwrap().lines().to_vec()
}

/// Verifies with single and with batched receipt signature checks, line by line and through
/// the threaded [`accept`] (chunks of two lines over three workers), checking every signature
/// and only those no checkpoint covers: all must agree on every log, tampered or not, down to
/// the line they name. (Nobody without the key can make a covered receipt that only its own
/// signature would refuse; see `tests/accept.rs` for what the key's holder can.)
fn verify_lines<'a>(lines: impl IntoIterator<Item = &'a str>) -> Result<ChainVerified, ChainError> {
    use agentk_flightlog::accept::{Acceptance, Rejection, SignatureChecks, Spread, accept};
    let lines: Vec<&str> = lines.into_iter().collect();
    let run = |mut verifier: ChainVerifier| {
        for line in &lines {
            verifier.push(line)?;
        }
        verifier.finish()
    };
    let single = run(ChainVerifier::new());
    let batched = run(ChainVerifier::new().with_batched_signatures());
    assert_eq!(single, batched, "single and batched signature checks disagree");
    let uncovered = run(ChainVerifier::new().checking(SignatureChecks::Uncovered));
    assert_eq!(single, uncovered, "checking only uncovered signatures changed the answer");
    // A line holding a newline would be two lines to a reader of the file.
    if lines.iter().all(|line| !line.contains('\n')) {
        let file: String = lines.iter().map(|line| format!("{line}\n")).collect();
        for signatures in [SignatureChecks::Every, SignatureChecks::Uncovered] {
            let acceptance = Acceptance {
                allow_unsigned_tail: true,
                signatures,
                spread: Spread { threads: 3, chunk_lines: 2 },
                ..Acceptance::default()
            };
            let threaded = match accept(file.as_bytes(), &acceptance, |_| {}) {
                Ok(accepted) => Ok(accepted.verified().clone()),
                Err(Rejection::Chain(e)) => Err(e),
                Err(other) => panic!("not a chain error: {other:?}"),
            };
            assert_eq!(single, threaded, "the threaded reader ({signatures:?}) disagrees");
        }
    }
    single
}

fn events(lines: &[String]) -> Vec<EventLine> {
    lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The line a verification failure names (every tamper must be pinned to one).
fn failing_line(err: ChainError) -> u64 {
    err.line().unwrap_or_else(|| panic!("not pinned to a line: {err:?}"))
}

// guarantee: F1
#[test]
fn every_decision_is_one_recorded_event() {
    let lines = sample_log();
    assert_eq!(lines.len(), 7, "genesis and six syscalls");
    let verified = verify_lines(lines.iter().map(String::as_str)).unwrap();
    assert_eq!(verified.events(), 7);
    let rows: Vec<(Effect, String)> = events(&lines)
        .into_iter()
        .skip(1)
        .map(|e| match e.event {
            EventBody::Syscall(s) => (s.decision, s.rule),
            other => panic!("unexpected record {other:?}"),
        })
        .collect();
    let expected = [
        (Effect::Allow, "observe"),
        (Effect::Deny, "egress-sensitive-data"),
        (Effect::Allow, "invoke-granted"),
        (Effect::Allow, "secret-open-granted"),
        (Effect::Deny, "grant-exhausted"),
        (Effect::Deny, "default-deny"),
    ];
    let expected: Vec<(Effect, String)> = expected.iter().map(|(v, r)| (*v, (*r).to_owned())).collect();
    assert_eq!(rows, expected);
}

// guarantee: F1, C1, C7, S8 (mediation time)
#[test]
fn allows_on_grants_carry_receipts_bound_to_the_chain_and_denies_carry_none() {
    let lines = sample_log();
    let all = events(&lines);
    let trusted = TrustedSigners::from_keys([test_key().public_key()]);
    for (i, event) in all.iter().enumerate().skip(1) {
        let EventBody::Syscall(s) = &event.event else { panic!() };
        match s.decision {
            Effect::Deny => assert!(s.receipt.is_none() && s.handle.is_none(), "line {}", i + 1),
            Effect::Allow => {
                if let Some(receipt) = &s.receipt {
                    let verified = Verifier::new(Trust::Pinned(&trusted), NOW).verify(receipt).unwrap();
                    assert_eq!(verified.prev_event().0, all[i - 1].hash.0, "receipt bound to the previous event");
                    assert_eq!((verified.agent(), verified.target()), (s.agent.as_str(), s.target.as_str()));
                }
            }
        }
    }
    let EventBody::Syscall(open) = &all[4].event else { panic!() };
    let receipt: &EncodedReceipt = open.receipt.as_ref().unwrap();
    let verified = Verifier::new(Trust::Pinned(&trusted), NOW).verify(receipt).unwrap();
    let handle = open.handle.as_ref().unwrap();
    agentk_secrets::verify_handle(handle, &verified, Trust::Pinned(&trusted), NOW).unwrap();
    // What the verifier counts (verify-signatures reports it): two receipts, one handle.
    let counted = verify_lines(lines.iter().map(String::as_str)).unwrap();
    assert_eq!((counted.receipt_count(), counted.handle_count(), counted.checkpoints()), (2, 1, 0));
    assert!(counted.receipts().is_none(), "plain verification keeps no per-receipt state");
    let mut tallying = ChainVerifier::new().with_receipt_tally();
    for line in &lines {
        tallying.push(line).unwrap();
    }
    let tally = tallying.finish().unwrap();
    let tally = tally.receipts().unwrap();
    assert_eq!(tally.spent.len(), 2);
    let minted: Vec<_> = tally.minted.iter().map(|(g, n)| (g.as_str(), *n)).collect();
    assert_eq!(minted, [("demo-docs-search", 1), ("demo-secret", 1)]);
}

#[test]
fn secret_open_without_a_broker_is_denied_without_spending_the_grant() {
    let mut kernel = kernel_with(MemoryLog::new(), false);
    for _ in 0..2 {
        let outcome = call(&mut kernel, "secret.open", "secret://demo-api", "trusted", Some("demo-secret"));
        assert_eq!((outcome.effect, outcome.rule.as_str()), (Effect::Deny, "secret-unavailable"));
        assert!(outcome.receipt.is_none() && outcome.handle.is_none());
        // The explanation agrees with the decision.
        let inputs = [salt().input("trusted".parse().unwrap(), b"dummy content")];
        let request = SyscallRequest::new("agent-1", Syscall::SecretOpen, "secret://demo-api")
            .consuming(&inputs)
            .presenting("demo-secret");
        let explanation = kernel.explain(&request, &outcome).unwrap();
        assert_eq!(
            (explanation.decision, explanation.rule.as_str()),
            (agentk_policy::Effect::Deny, "secret-unavailable")
        );
    }
}

// Review finding: a request whose line the verifier would refuse must not be recorded as given.
#[test]
fn oversized_requests_are_denied_and_recorded_in_bounded_form() {
    let mut kernel = kernel_with(MemoryLog::new(), true);
    let inputs: Vec<_> = (0..800u32).map(|i| salt().input(LabelSet::EMPTY, &i.to_le_bytes())).collect();
    let request = SyscallRequest {
        agent: "agent-1",
        syscall: Syscall::ContextRead.into(),
        target: "t",
        inputs: &inputs,
        grant: None,
    };
    let outcome = kernel.decide(&request).unwrap();
    assert_eq!((outcome.effect, outcome.rule.as_str()), (Effect::Deny, "malformed-request"));
    let long_target = "x".repeat(10_000);
    let request = SyscallRequest {
        agent: "agent-1",
        syscall: Syscall::ContextRead.into(),
        target: &long_target,
        inputs: &[],
        grant: None,
    };
    assert_eq!(kernel.decide(&request).unwrap().rule, "malformed-request");
    verify_lines(kernel.sink().unwrap().lines().iter().map(String::as_str)).unwrap();
}

// Review finding: the genesis flag must tell the truth about the development key.
#[test]
fn a_genesis_cannot_hide_the_development_key() {
    let mut all = events(&sample_log());
    let EventBody::Genesis(genesis) = &mut all[0].event else { panic!() };
    genesis.signer = SigningIdentity::development().public_key().to_hex();
    genesis.development_signer = false;
    let lines = reseal(all, 0);
    assert_eq!(verify_lines(lines.iter().map(String::as_str)), Err(ChainError::Malformed { line: 1 }));
}

#[test]
fn the_kernel_is_deterministic() {
    assert_eq!(sample_log(), sample_log());
}

// guarantee: F1 (raw inputs never reach the log)
#[test]
fn input_content_never_reaches_the_log() {
    let mut kernel = kernel_with(MemoryLog::new(), true);
    let canary = "CANARY-4d1f-private-notes";
    let inputs = [salt().input(LabelSet::of(Label::Private), canary.as_bytes())];
    let request = SyscallRequest {
        agent: "agent-1",
        syscall: Syscall::NetworkSend.into(),
        target: "https://evil.example.invalid/",
        inputs: &inputs,
        grant: None,
    };
    kernel.decide(&request).unwrap();
    assert!(kernel.sink().unwrap().lines().iter().all(|l| !l.contains(canary)));
}

/// A sink that fails while its switch is on.
struct FlakySink {
    lines: Rc<RefCell<Vec<String>>>,
    failing: Rc<Cell<bool>>,
}

impl RecordSink for FlakySink {
    fn append(&mut self, lines: &[u8], _events: usize) -> Result<(), SinkError> {
        if self.failing.get() {
            return Err(std::io::Error::other("disk full (test)").into());
        }
        let text = std::str::from_utf8(lines).unwrap();
        self.lines.borrow_mut().extend(text.split_terminator('\n').map(str::to_owned));
        Ok(())
    }
}

// guarantee: F1 (no decision without its record)
#[test]
fn a_decision_that_cannot_be_recorded_is_not_returned() {
    let (lines, failing) = (Rc::new(RefCell::new(Vec::new())), Rc::new(Cell::new(false)));
    let mut kernel = kernel_with(FlakySink { lines: Rc::clone(&lines), failing: Rc::clone(&failing) }, true);
    let inputs = [salt().input(LabelSet::of(Label::Trusted), b"x")];
    let request = SyscallRequest {
        agent: "agent-1",
        syscall: Syscall::ToolInvoke.into(),
        target: "mcp://docs.example.invalid/search",
        inputs: &inputs,
        grant: Some("demo-docs-search"),
    };
    failing.set(true);
    assert!(matches!(kernel.decide(&request), Err(KernelError::Sink(_))), "no outcome without a record");
    failing.set(false);
    // The log's end is uncertain after a failed append: the kernel decides nothing more.
    assert!(matches!(kernel.decide(&request).unwrap_err(), KernelError::Poisoned));
    let recorded = lines.borrow().clone();
    assert_eq!(recorded.len(), 1, "only the genesis");
    verify_lines(recorded.iter().map(String::as_str)).unwrap();

    // A kernel whose sink refuses the genesis cannot be built at all.
    let parts = parts(Profile::Starter.source(), false, 0);
    let refusing = FlakySink { lines: Rc::new(RefCell::new(Vec::new())), failing: Rc::new(Cell::new(true)) };
    assert!(matches!(parts.open_sink(refusing), Err(BuildError::Kernel(KernelError::Sink(_)))));
}

// Review finding: a kernel whose last good event was a checkpoint closed "cleanly" after a
// failed append (the skip for a redundant closing checkpoint came before the poison check).
#[test]
fn a_kernel_that_failed_to_record_does_not_close_cleanly() {
    let (lines, failing) = (Rc::new(RefCell::new(Vec::new())), Rc::new(Cell::new(false)));
    let sink = FlakySink { lines: Rc::clone(&lines), failing: Rc::clone(&failing) };
    let mut kernel = parts(Profile::Starter.source(), false, 1).open_sink(sink).unwrap();
    call(&mut kernel, "context.read", "https://news.example.invalid/a", "untrusted", None);
    assert_eq!(lines.borrow().len(), 3, "genesis, event, checkpoint");
    failing.set(true);
    let inputs = [salt().input(LabelSet::of(Label::Trusted), b"x")];
    let request = SyscallRequest {
        agent: "agent-1",
        syscall: Syscall::ContextRead.into(),
        target: "https://news.example.invalid/b",
        inputs: &inputs,
        grant: None,
    };
    assert!(kernel.decide(&request).is_err());
    failing.set(false);
    assert!(matches!(kernel.close(), Err(KernelError::Poisoned)));
}

/// A clock the test moves.
struct StepClock(Arc<std::sync::atomic::AtomicU64>);
impl Clock for StepClock {
    fn now(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

// Review finding: a receipt minted but never handed out (born expired after the clock stepped
// back) used the grant in the running ledger but not in one resumed from the log.
// guarantee: F5 (resume), C4 (budgets)
#[test]
fn a_receipt_never_handed_out_does_not_use_the_grant() {
    let text = Profile::Starter.source().replace("uses = 10\n", "uses = 2\n");
    let time = Arc::new(std::sync::atomic::AtomicU64::new(NOW));
    let set = |t: u64| time.store(t, std::sync::atomic::Ordering::Relaxed);
    let p = parts(&text, false, 0).clock(StepClock(Arc::clone(&time)));
    let mut kernel = p.open_sink(MemoryLog::new()).unwrap();
    let invoke = |kernel: &mut Kernel<MemoryLog>| {
        call(kernel, "tool.invoke", "mcp://docs.example.invalid/search", "trusted", Some("demo-docs-search"))
    };
    assert_eq!(invoke(&mut kernel).effect, Effect::Allow);
    set(NOW - 100_000); // past the 1st receipt's expiry, backwards: the 2nd is born dead
    let unspendable = invoke(&mut kernel);
    assert_eq!((unspendable.effect, unspendable.rule.as_str()), (Effect::Deny, "receipt-unavailable"));
    set(NOW + 100_000);
    let lines = kernel.sink().unwrap().lines().to_vec();
    let live = invoke(&mut kernel);
    assert_eq!(live.effect, Effect::Allow, "the unspendable receipt did not use the grant: {}", live.rule);
    let mut tallying = ChainVerifier::new().with_receipt_tally();
    for line in &lines {
        tallying.push(line).unwrap();
    }
    let p = parts(&text, false, 0).clock(StepClock(Arc::clone(&time))).entropy(Counter(100)).salt([5; 32]);
    let mut resumed = p.resume_sink(MemoryLog::new(), &tallying.finish().unwrap()).unwrap();
    assert_eq!(invoke(&mut resumed).effect, live.effect, "a resumed ledger agrees with the running one");
    assert_eq!(invoke(&mut resumed).rule, "grant-exhausted");
    // Without a tally there is nothing to resume from: refused, not an empty ledger.
    let plain = verify_lines(lines.iter().map(String::as_str)).unwrap();
    assert!(matches!(
        parts(&text, false, 0).salt([5; 32]).resume_sink(MemoryLog::new(), &plain).err(),
        Some(BuildError::Kernel(KernelError::NotResumable))
    ));
}

// guarantee: F1 (tamper suite: any changed byte, dropped, duplicated, swapped or inserted line
// is found, at the right line)
#[test]
fn every_change_to_the_log_is_found_at_its_line() {
    let lines = sample_log();
    let verify = |lines: &[String]| verify_lines(lines.iter().map(String::as_str));
    // Every byte of every line, changed three ways.
    for (i, line) in lines.iter().enumerate() {
        for at in 0..line.len() {
            for delta in [1u8, 0x20, 0x7f] {
                let mut bytes = line.clone().into_bytes();
                bytes[at] = bytes[at].wrapping_add(delta);
                let Ok(changed) = String::from_utf8(bytes) else { continue };
                let mut tampered = lines.clone();
                tampered[i] = changed;
                let err = verify(&tampered).expect_err("a changed byte verified");
                assert_eq!(failing_line(err), i as u64 + 1, "line {} byte {at}", i + 1);
            }
        }
    }
    // Dropped, duplicated, swapped and inserted lines.
    for i in 0..lines.len() {
        let mut dropped = lines.clone();
        dropped.remove(i);
        if i + 1 < lines.len() {
            assert_eq!(failing_line(verify(&dropped).unwrap_err()), i as u64 + 1, "dropped {i}");
        }
        let mut duplicated = lines.clone();
        duplicated.insert(i, lines[i].clone());
        assert_eq!(failing_line(verify(&duplicated).unwrap_err()), i as u64 + 2, "duplicated {i}");
        if i + 1 < lines.len() {
            let mut swapped = lines.clone();
            swapped.swap(i, i + 1);
            assert_eq!(failing_line(verify(&swapped).unwrap_err()), i as u64 + 1, "swapped {i}");
        }
    }
    let mut inserted = lines.clone();
    inserted.insert(3, sample_log()[2].clone());
    assert!(verify(&inserted).is_err());
    assert_eq!(verify(&[]), Err(ChainError::Empty));
}

/// Sessions share one policy, signer and broker across threads (ARCHITECTURE.md).
#[test]
fn kernel_parts_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Policy>();
    shareable::<SigningIdentity>();
    shareable::<SecretBroker>();
    fn sendable<T: Send>() {}
    sendable::<Kernel<MemoryLog>>();
}

/// Re-seals `events` from `from` on, as an attacker without the signing key could: the chain is
/// internally consistent again, only signatures can tell.
fn reseal(mut events: Vec<EventLine>, from: usize) -> Vec<String> {
    for i in from..events.len() {
        let prev = if i == 0 { Default::default() } else { events[i - 1].hash };
        events[i] = EventLine::seal(events[i].seq, prev, events[i].event.clone());
    }
    events.iter().map(EventLine::to_line).collect()
}

fn checkpointed_log() -> Vec<String> {
    let mut kernel = kernel_with(MemoryLog::new(), true);
    for i in 0..5 {
        call(&mut kernel, "network.send", &format!("https://h{i}.example.invalid/"), "private", None);
    }
    kernel.checkpoint().unwrap();
    for i in 0..3 {
        call(&mut kernel, "context.read", &format!("https://h{i}.example.invalid/"), "untrusted", None);
    }
    kernel.close().unwrap().lines().to_vec()
}

// guarantee: F4 (signed checkpoints cover denies: flipping, dropping or forging fails)
#[test]
fn checkpoints_sign_the_log_so_rewrites_without_the_key_fail() {
    let lines = checkpointed_log();
    let verified = verify_lines(lines.iter().map(String::as_str)).unwrap();
    assert_eq!((verified.events(), verified.signed_events()), (11, 10), "the closing checkpoint covers all before it");
    assert_eq!(verified.checkpoints(), 2);
    let all = events(&lines);
    // Flip the first deny to an allow and re-seal the chain: the checkpoint after it fails.
    let mut flipped = all.clone();
    let EventBody::Syscall(s) = &mut flipped[1].event else { panic!() };
    s.decision = Effect::Allow;
    let resealed = reseal(flipped, 1);
    assert_eq!(verify_lines(resealed.iter().map(String::as_str)), Err(ChainError::BadCheckpoint { line: 7 }));
    // Drop a deny and renumber everything after it: still caught by the checkpoint.
    let mut dropped = all.clone();
    dropped.remove(2);
    for (i, e) in dropped.iter_mut().enumerate() {
        e.seq = i as u64;
    }
    let resealed = reseal(dropped, 2);
    assert!(matches!(verify_lines(resealed.iter().map(String::as_str)), Err(ChainError::BadCheckpoint { .. })));
    // Forge from scratch with another key: signatures name the genesis key, which the
    // verifier pins separately (see verify-signatures); here the checkpoint must at least be
    // consistent, and a checkpoint whose root was recomputed still needs the real key.
    let mut forged = all.clone();
    let EventBody::Checkpoint(c) = &mut forged[6].event else { panic!() };
    c.root = agentk_flightlog::event::Hash32([9; 32]);
    let resealed = reseal(forged, 6);
    assert_eq!(verify_lines(resealed.iter().map(String::as_str)), Err(ChainError::BadCheckpoint { line: 7 }));
}

// guarantee: F4 (a verifier holding a checkpoint detects truncation, extension is fine,
// rewriting is not)
#[test]
fn a_saved_checkpoint_catches_truncation_and_rewriting() {
    use agentk_flightlog::merkle::Hash32;
    use agentk_flightlog::verify::ChainVerifier;
    let lines = checkpointed_log();
    let all = events(&lines);
    let EventBody::Checkpoint(saved) = &all[6].event else { panic!() };
    let expect = || ChainVerifier::expecting(saved.size, Hash32(saved.root.0));
    let run = |lines: &[String]| {
        let mut verifier = expect();
        for line in lines {
            verifier.push(line)?;
        }
        verifier.finish()
    };
    assert!(run(&lines).is_ok(), "the full log extends the checkpoint");
    assert_eq!(run(&lines[..4]), Err(ChainError::Truncated { found: 4, size: 6 }));
    let mut rewritten = all.clone();
    let EventBody::Syscall(s) = &mut rewritten[3].event else { panic!() };
    s.rule = "observe".to_owned();
    let resealed = reseal(rewritten, 3)[..6].to_vec();
    assert_eq!(run(&resealed), Err(ChainError::Rewritten { size: 6 }));
}

fn syscall(e: &mut EventLine) -> &mut agentk_flightlog::event::SyscallEvent {
    match &mut e.event {
        EventBody::Syscall(s) => s,
        _ => panic!("not a syscall"),
    }
}

// guarantee: F1 with C1/S8 at mediation time (receipts and handles bind to their events)
#[test]
fn receipts_and_handles_must_bind_to_their_events() {
    let all = events(&sample_log());
    let binding_error = |events: Vec<EventLine>, from: usize| {
        let lines = reseal(events, from);
        verify_lines(lines.iter().map(String::as_str))
    };
    // Line 4 is the granted tool.invoke, line 5 the secret.open with its handle, line 3 a deny.
    let mut swapped = all.clone();
    let other = syscall(&mut swapped[4]).receipt.clone();
    syscall(&mut swapped[3]).receipt = other;
    assert_eq!(binding_error(swapped, 3), Err(ChainError::BadBinding { line: 4 }));
    let mut stripped = all.clone();
    syscall(&mut stripped[3]).receipt = None;
    assert_eq!(binding_error(stripped, 3), Err(ChainError::BadBinding { line: 4 }));
    let mut deny_with_receipt = all.clone();
    let receipt = syscall(&mut deny_with_receipt[3]).receipt.clone();
    syscall(&mut deny_with_receipt[2]).receipt = receipt;
    assert_eq!(binding_error(deny_with_receipt, 2), Err(ChainError::BadBinding { line: 3 }));
    let mut retargeted = all.clone();
    syscall(&mut retargeted[3]).target = "mcp://docs.example.invalid/other".to_owned();
    assert_eq!(binding_error(retargeted, 3), Err(ChainError::BadBinding { line: 4 }));
    let mut handle_moved = all.clone();
    let handle = syscall(&mut handle_moved[4]).handle.take();
    syscall(&mut handle_moved[3]).handle = handle;
    assert_eq!(binding_error(handle_moved, 3), Err(ChainError::BadBinding { line: 4 }));
}

// guarantee: S8 (no flight log ever contains secret bytes or provider references)
#[test]
fn secret_references_and_inputs_never_reach_the_log() {
    const CANARY: &str = "CANARY_91c2_SECRET_REF";
    let text: Arc<str> = Profile::Starter.source().into();
    let mut broker = SecretBroker::new(StoreRegistry::new(), Mode::DemoBypassAvailability);
    let key = agentk_secrets::RedactionKey::from_bytes([2; 32]);
    let reference = agentk_secrets::ExternalRef::new("vault", &format!("kv/{CANARY}#token"), &key).unwrap();
    broker.register_external(SecretTarget::parse("secret://demo-api").unwrap(), reference).unwrap();
    let parts = Kernel::builder()
        .policy(Arc::clone(&text), Arc::new(Policy::parse("starter", &text).unwrap()))
        .signer(test_key())
        .broker(Arc::new(broker))
        .clock(FixedClock)
        .entropy(Counter(0))
        .log_id([7; 32])
        .origin("agentk-test.example.invalid")
        .checkpoint_every(1);
    let mut kernel = parts.open_sink(MemoryLog::new()).unwrap();
    let inputs = [salt().input(LabelSet::of(Label::Secret), CANARY.as_bytes())];
    let request = SyscallRequest {
        agent: "agent-1",
        syscall: Syscall::SecretOpen.into(),
        target: "secret://demo-api",
        inputs: &inputs,
        grant: Some("demo-secret"),
    };
    let outcome = kernel.decide(&request).unwrap();
    assert!(outcome.handle.is_some(), "the handle was minted (demo mode)");
    let egress = SyscallRequest {
        syscall: Syscall::NetworkSend.into(),
        target: "https://evil.example.invalid/",
        grant: None,
        ..request
    };
    kernel.decide(&egress).unwrap();
    let lines = kernel.close().unwrap().lines().to_vec();
    verify_lines(lines.iter().map(String::as_str)).unwrap();
    for line in &lines {
        assert!(!line.contains(CANARY) && !line.to_lowercase().contains(&CANARY.to_lowercase()), "{line}");
    }
}

/// A random session: each op is one of the sample log's paths, with checkpoints every
/// `every` events (0: none) and a closing one.
fn random_log(ops: &[u8], every: u32) -> Vec<String> {
    let mut kernel = parts(Profile::Starter.source(), true, every).open_sink(MemoryLog::new()).unwrap();
    for op in ops {
        match op % 5 {
            0 => call(&mut kernel, "context.read", "https://news.example.invalid/a", "untrusted,external", None),
            1 => call(&mut kernel, "network.send", "https://evil.example.invalid/c", "private", None),
            2 => call(
                &mut kernel,
                "tool.invoke",
                "mcp://docs.example.invalid/search",
                "trusted",
                Some("demo-docs-search"),
            ),
            3 => call(&mut kernel, "secret.open", "secret://demo-api", "trusted", Some("demo-secret")),
            _ => call(&mut kernel, "kernel.reboot", "now", "none", None),
        };
    }
    kernel.close().unwrap().lines().to_vec()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(96))]

    // guarantee: F1, F4 (random logs, random tampering: always found, at the right line)
    #[test]
    fn random_tampering_of_random_logs_is_found_at_its_line(
        ops in proptest::collection::vec(0u8..5, 1..20),
        every in 0u32..5,
        kind in 0u8..5,
        at in (0usize..64, 0usize..4096),
        delta in 1u8..=255,
    ) {
        let lines = random_log(&ops, every);
        let verify = |lines: &[String]| verify_lines(lines.iter().map(String::as_str));
        let whole = verify(&lines).unwrap();
        // Closing right after a checkpoint adds no second one.
        let kinds: Vec<bool> = events(&lines).iter().map(|e| matches!(e.event, EventBody::Checkpoint(_))).collect();
        proptest::prop_assert!(kinds.windows(2).all(|w| !(w[0] && w[1])), "two checkpoints in a row");
        proptest::prop_assert_eq!(kinds.last(), Some(&true), "a closed log ends signed");
        let i = at.0 % lines.len();
        match kind {
            0 => {
                let mut bytes = lines[i].clone().into_bytes();
                let pos = at.1 % bytes.len();
                bytes[pos] = bytes[pos].wrapping_add(delta);
                proptest::prop_assume!(String::from_utf8(bytes.clone()).is_ok());
                let mut tampered = lines.clone();
                tampered[i] = String::from_utf8(bytes).unwrap();
                proptest::prop_assert_eq!(failing_line(verify(&tampered).unwrap_err()), i as u64 + 1);
            }
            1 => {
                proptest::prop_assume!(i + 1 < lines.len());
                let mut dropped = lines.clone();
                dropped.remove(i);
                proptest::prop_assert_eq!(failing_line(verify(&dropped).unwrap_err()), i as u64 + 1);
            }
            2 => {
                let mut duplicated = lines.clone();
                duplicated.insert(i, lines[i].clone());
                proptest::prop_assert_eq!(failing_line(verify(&duplicated).unwrap_err()), i as u64 + 2);
            }
            3 => {
                proptest::prop_assume!(i + 1 < lines.len());
                let mut swapped = lines.clone();
                swapped.swap(i, i + 1);
                proptest::prop_assert_eq!(failing_line(verify(&swapped).unwrap_err()), i as u64 + 1);
            }
            _ => {
                // Truncated at any event boundary: a verifier holding the final checkpoint
                // refuses it; extending is fine.
                use agentk_flightlog::merkle::Hash32;
                use agentk_flightlog::verify::ChainVerifier;
                let EventBody::Checkpoint(last) = &events(&lines[lines.len() - 1..])[0].event else {
                    panic!("a closed log ends with a checkpoint")
                };
                let (size, root) = (last.size, Hash32(last.root.0));
                let mut verifier = ChainVerifier::expecting(size, root);
                for line in &lines[..i] {
                    verifier.push(line).unwrap();
                }
                if (i as u64) < size {
                    proptest::prop_assert_eq!(verifier.finish(), Err(ChainError::Truncated { found: i as u64, size }));
                }
                proptest::prop_assert_eq!(whole.events(), lines.len() as u64);
            }
        }
    }
}

/// A log of `n` granted allows (a receipt on every event), no checkpoints but the closing one.
fn receipt_log(n: usize) -> Vec<String> {
    let text = Profile::Starter.source().replace("uses = 10\n", "uses = 1000\n");
    let mut kernel = parts(&text, false, 0).open_sink(MemoryLog::new()).unwrap();
    for _ in 0..n {
        let outcome =
            call(&mut kernel, "tool.invoke", "mcp://docs.example.invalid/search", "trusted", Some("demo-docs-search"));
        assert!(outcome.receipt.is_some());
    }
    kernel.close().unwrap().lines().to_vec()
}

// guarantee: F1 with C3 (batched receipt signature checks miss nothing and name the same line)
#[test]
fn batched_signature_checks_find_the_first_bad_receipt() {
    let lines = receipt_log(150);
    let whole = verify_lines(lines.iter().map(String::as_str)).unwrap();
    assert_eq!(whole.receipt_count(), 150);
    // A receipt carrying another's signature, with the chain re-sealed around it: only the
    // signature can tell. Try it in the first batch, across a batch edge, and in the tail.
    for bad_line in [3usize, 64, 65, 66, 129, 151] {
        let mut all = events(&lines);
        let donor = syscall(&mut all[1]).receipt.clone().unwrap().signature;
        syscall(&mut all[bad_line - 1]).receipt.as_mut().unwrap().signature = donor;
        let resealed = reseal(all, bad_line - 1);
        // (The closing checkpoint no longer matches either; the receipt comes first.)
        assert_eq!(
            verify_lines(resealed.iter().map(String::as_str)),
            Err(ChainError::BadBinding { line: bad_line as u64 }),
            "bad receipt on line {bad_line}"
        );
        // A later broken line must not hide it.
        let mut later = resealed.clone();
        let tail = later.len() - 1;
        later[tail].push(' ');
        assert_eq!(
            verify_lines(later.iter().map(String::as_str)),
            Err(ChainError::BadBinding { line: bad_line as u64 }),
            "bad receipt on line {bad_line}, broken last line"
        );
    }
}

// Review finding: a torn, non-UTF-8 or over-long line found by the file reader hid a bad
// receipt signature still waiting in a batch on an earlier line.
#[test]
fn a_bad_framing_line_does_not_hide_a_pending_bad_signature() {
    use agentk_flightlog::file::{FileLogError, verify_reader};
    let lines = receipt_log(10);
    let mut all = events(&lines);
    let donor = syscall(&mut all[1]).receipt.clone().unwrap().signature;
    syscall(&mut all[10]).receipt.as_mut().unwrap().signature = donor;
    let resealed = reseal(all, 10)[..11].to_vec();
    let body: Vec<u8> = resealed.iter().flat_map(|l| format!("{l}\n").into_bytes()).collect();
    let long = vec![b'x'; agentk_flightlog::event::MAX_LINE_BYTES + 10];
    for tail in [&b"{\"torn"[..], b"\xff\xfe\n", &long] {
        let file = [body.as_slice(), tail].concat();
        for verifier in [ChainVerifier::new(), ChainVerifier::new().with_batched_signatures()] {
            let got = verify_reader(file.as_slice(), verifier);
            assert!(matches!(got, Err(FileLogError::Chain(ChainError::BadBinding { line: 11 }))), "{got:?}");
        }
    }
}

// The kernel's own rule ids are one list (`agentk_policy::KERNEL_RULE_IDS`), each kernel rule
// is in it exactly once, and the policy validator refuses every one of them as a policy rule id.
#[test]
fn kernel_rule_ids_are_one_list_the_validator_reserves() {
    use agentk_flightlog::kernel::KernelRule;
    let ids: Vec<&str> = KernelRule::ALL.iter().map(|rule| rule.id()).collect();
    assert_eq!(ids, agentk_policy::KERNEL_RULE_IDS);
    for rule in KernelRule::ALL {
        assert_eq!(KernelRule::from_id(rule.id()), Some(rule));
        let text = Profile::Starter.source().replacen("id = \"observe\"", &format!("id = \"{}\"", rule.id()), 1);
        assert_ne!(text, Profile::Starter.source(), "the starter policy has a rule `observe` to rename");
        let Err(agentk_policy::PolicyError::Invalid { diagnostics, .. }) = Policy::parse("reserved", &text) else {
            panic!("`{}` was accepted as a policy rule id", rule.id());
        };
        assert!(
            diagnostics.iter().all(|d| matches!(d.kind(), agentk_policy::DiagnosticKind::KernelRuleId { .. })),
            "{}: {diagnostics:?}",
            rule.id()
        );
    }
}
