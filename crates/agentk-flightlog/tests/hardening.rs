//! Hardening found on review of the embedding API: lines the verifier could not read, a drop
//! while a panic unwinds, outputs for actions this kernel did not decide, budgets spread over
//! several logs, the journal's custody, replay of a shared ledger's denies, salts, explaining
//! another request, refused resumes, named pipes, shared directories, secret handles without a
//! receipt. Each test failed before its fix.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, reason = "tests fail loudly")]

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use agentk_flightlog::event::{EventBody, EventLine};
use agentk_flightlog::file::SyncPolicy;
use agentk_flightlog::kernel::{
    Kernel, KernelError, MemoryLog, OutputRecord, RecordSink, Rehearsal, SinkError, SyscallRequest,
};
use agentk_flightlog::ledger::{LedgerError, SharedLedger};
use agentk_flightlog::verify::{ChainVerifier, verify_lines};
use agentk_labels::{Label, LabelSet, Outcome, Syscall};
use agentk_policy::{Policy, Profile};
use common::embedding::{builder, exfiltrate, policy_with_uses, search, test_key};
use common::{Counter, FixedClock};

fn scratch(name: &str) -> PathBuf {
    common::scratch("agentk-flightlog-review", name)
}

fn events(lines: &[String]) -> Vec<EventLine> {
    lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect()
}

// ---------------------------------------------------------------------------------------------
// 1. A request within every kernel bound (agent <= 256 bytes, target <= 4096 bytes, <= 256
//    inputs) is recorded as a line longer than MAX_LINE_BYTES, which the verifier refuses: the
//    kernel answers, but its log no longer verifies (nor resumes, nor replays) from that line.
// ---------------------------------------------------------------------------------------------
#[test]
fn a_request_within_the_kernel_bounds_is_recorded_as_a_line_the_verifier_accepts() {
    let mut kernel = builder(&policy_with_uses(10), 0).open_sink(MemoryLog::new()).unwrap();
    // Control characters are escaped as six bytes each (`\u0001`).
    let agent = "\u{1}".repeat(256);
    let target = "\u{1}".repeat(4096);
    let inputs = vec![kernel.input(LabelSet::ALL, b"x"); agentk_flightlog::kernel::MAX_INPUTS];
    let decided =
        kernel.decide(&SyscallRequest::new(&agent, Syscall::NetworkSend, &target).consuming(&inputs)).unwrap();
    // Within the request bounds, but not within a line: denied as malformed, in bounded form.
    assert_eq!(decided.kernel_rule(), Some(agentk_flightlog::kernel::KernelRule::MalformedRequest));
    assert!(!decided.is_allowed());
    let lines = kernel.close().unwrap().lines().to_vec();
    let longest = lines.iter().map(String::len).max().unwrap();
    assert!(
        longest <= agentk_flightlog::event::MAX_LINE_BYTES,
        "the kernel wrote a {longest}-byte line; the verifier refuses lines over {} bytes",
        agentk_flightlog::event::MAX_LINE_BYTES
    );
    verify_lines(lines.iter().map(String::as_str)).unwrap();
}

// ---------------------------------------------------------------------------------------------
// 2. A kernel dropped while a panic unwinds out of a batch (here: a sink that panics) writes a
//    closing checkpoint that signs events which were sealed but never written, so the log it
//    leaves does not verify, and a signed checkpoint commits to an event the log does not hold.
// ---------------------------------------------------------------------------------------------
#[derive(Clone, Default)]
struct PanicsOnce {
    calls: Arc<AtomicUsize>,
    lines: Arc<Mutex<Vec<String>>>,
}

impl RecordSink for PanicsOnce {
    fn append(&mut self, lines: &[u8], _events: usize) -> Result<(), SinkError> {
        // The second append (the first batch after the genesis) panics, as an embedder's sink
        // that unwraps a channel send or a write would.
        if self.calls.fetch_add(1, Ordering::SeqCst) == 1 {
            panic!("sink failed (test)");
        }
        let text = std::str::from_utf8(lines).unwrap();
        self.lines.lock().unwrap().extend(text.split_terminator('\n').map(str::to_owned));
        Ok(())
    }
}

#[test]
fn a_kernel_dropped_during_a_panic_leaves_a_log_that_verifies() {
    let sink = PanicsOnce::default();
    let policy = policy_with_uses(10);
    let kernel_sink = sink.clone();
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let mut kernel = builder(&policy, 0).open_sink(kernel_sink).unwrap();
        let clean = [kernel.input(LabelSet::EMPTY, b"query")];
        let _ = kernel.decide(&search(&clean));
    }));
    assert!(unwound.is_err(), "the sink panicked");
    let lines = sink.lines.lock().unwrap().clone();
    // The drop wrote a checkpoint at seq 2 over a Merkle root that includes the unwritten seq 1.
    verify_lines(lines.iter().map(String::as_str)).unwrap();
}

// ---------------------------------------------------------------------------------------------
// 3. An Action from another kernel with the same log id is accepted whenever its seq is below
//    this kernel's, and the output is then linked to whatever this log holds at that seq (here
//    a deny). The verifier accepts an output whose `from` is a deny.
// ---------------------------------------------------------------------------------------------
#[test]
fn an_action_from_a_kernel_with_the_same_log_id_is_refused() {
    let policy = policy_with_uses(10);
    let mut first = builder(&policy, 0).open_sink(MemoryLog::new()).unwrap();
    let clean = [first.input(LabelSet::EMPTY, b"query")];
    let allowed = first.decide(&search(&clean)).unwrap(); // seq 1: an allow
    let action = allowed.action().unwrap();

    // Same log id (fixed by the embedder, or a fork resumed from the same file), other history.
    let mut twin = builder(&policy, 1000).open_sink(MemoryLog::new()).unwrap();
    let secret = [twin.input(LabelSet::of(Label::Secret), b"k")];
    let denied = twin.decide(&exfiltrate(&secret)).unwrap(); // seq 1: a deny
    assert!(!denied.is_allowed());
    twin.decide(&exfiltrate(&secret)).unwrap(); // seq 2
    let recorded =
        twin.record_output(&OutputRecord { action, content: b"answer", labels: LabelSet::EMPTY, outcome: Outcome::Ok });
    assert!(
        matches!(recorded, Err(KernelError::ForeignAction)),
        "an output was recorded for the twin's seq 1, which is a deny: {recorded:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 4. Resuming two logs into one fresh in-memory ledger takes the larger count per grant, not
//    the sum: uses spread over two logs are refilled by a restart.
// ---------------------------------------------------------------------------------------------
#[test]
fn resuming_two_logs_does_not_refill_a_budget_spent_across_them() {
    let dir = scratch("two-logs");
    let _ = std::fs::remove_dir_all(&dir);
    let policy = policy_with_uses(2);
    let ledger = SharedLedger::in_memory();
    let mut paths = Vec::new();
    for (k, log_id) in [[1u8; 32], [2u8; 32]].into_iter().enumerate() {
        let (mut kernel, path) =
            builder(&policy, k as u64 * 1000).log_id(log_id).ledger(ledger.clone()).log_dir(&dir).open_run().unwrap();
        let clean = [kernel.input(LabelSet::EMPTY, b"query")];
        assert!(kernel.decide(&search(&clean)).unwrap().is_allowed());
        kernel.close().unwrap();
        paths.push(path);
    }
    assert_eq!(ledger.minted("demo-docs-search").unwrap(), 2, "the grant of 2 is spent, one use per log");
    drop(ledger);

    // Restart: the process resumes both logs over one ledger, as the docs describe.
    let ledger = SharedLedger::in_memory();
    let mut first = builder(&policy, 5000).ledger(ledger.clone()).resume(&paths[0]).unwrap();
    let second = builder(&policy, 6000).ledger(ledger.clone()).resume(&paths[1]).unwrap();
    let clean = [first.input(LabelSet::EMPTY, b"query")];
    let again = first.decide(&search(&clean)).unwrap();
    drop(second);
    assert_eq!(
        again.rule,
        "grant-exhausted",
        "a restart refilled the budget: {} minted",
        ledger.minted("demo-docs-search").unwrap()
    );
}

// ---------------------------------------------------------------------------------------------
// 5. ARCHITECTURE.md: "its worst failure (a lost journal) is refused at start, not silently
//    refilled". A deleted journal is silently recreated with every budget unused.
// ---------------------------------------------------------------------------------------------
#[test]
fn a_lost_journal_is_not_silently_refilled() {
    let policy = policy_with_uses(1);
    let journal = scratch("lost.ledger");
    {
        let _ = std::fs::remove_file(&journal);
        let ledger = SharedLedger::create(&journal, &policy, SyncPolicy::Always).unwrap();
        let mut kernel = builder(&policy, 0).ledger(ledger.clone()).open_sink(MemoryLog::new()).unwrap();
        let clean = [kernel.input(LabelSet::EMPTY, b"query")];
        assert!(kernel.decide(&search(&clean)).unwrap().is_allowed());
    }
    std::fs::remove_file(&journal).unwrap();
    let reopened = SharedLedger::open(&journal, &policy, SyncPolicy::Always);
    assert!(matches!(reopened, Err(LedgerError::Missing)), "a lost journal is refused, not recreated empty");
}

#[cfg(unix)]
#[test]
fn an_existing_journal_writable_by_others_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let policy = policy_with_uses(1);
    let journal = scratch("shared.ledger");
    let _ = std::fs::remove_file(&journal);
    drop(SharedLedger::create(&journal, &policy, SyncPolicy::Always).unwrap());
    std::fs::set_permissions(&journal, std::fs::Permissions::from_mode(0o666)).unwrap();
    // Anyone who can write it can drop lines and refill budgets (salts get this check).
    assert!(matches!(SharedLedger::open(&journal, &policy, SyncPolicy::Always), Err(LedgerError::NotPrivate)));
    // A symlink to a private journal is not followed either.
    std::fs::set_permissions(&journal, std::fs::Permissions::from_mode(0o600)).unwrap();
    let link = scratch("shared-link.ledger");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&journal, &link).unwrap();
    assert!(matches!(SharedLedger::open(&link, &policy, SyncPolicy::Always), Err(LedgerError::NotPrivate)));
    SharedLedger::open(&journal, &policy, SyncPolicy::Always).unwrap();
}

// ---------------------------------------------------------------------------------------------
// 6. Replay of a log whose kernel shared a ledger: a `grant-exhausted` deny caused by another
//    kernel's spending is re-decided as an allow, so plain replay reports a divergence (exit 4)
//    on an honest log and hands the deny a stub output.
// ---------------------------------------------------------------------------------------------
#[test]
fn replay_reproduces_a_deny_caused_by_a_shared_ledger() {
    let policy_text = policy_with_uses(1);
    let policy = Policy::parse("test", &policy_text).unwrap();
    let ledger = SharedLedger::in_memory();
    let mut first =
        builder(&policy_text, 0).log_id([1; 32]).ledger(ledger.clone()).open_sink(MemoryLog::new()).unwrap();
    let mut second =
        builder(&policy_text, 1000).log_id([2; 32]).ledger(ledger.clone()).open_sink(MemoryLog::new()).unwrap();
    let clean = [first.input(LabelSet::EMPTY, b"query")];
    assert!(first.decide(&search(&clean)).unwrap().is_allowed());
    let denied = second.decide(&search(&clean)).unwrap();
    assert_eq!(denied.rule, "grant-exhausted");
    let lines = second.close().unwrap().lines().to_vec();
    let mut rehearsal = Rehearsal::new(&policy);
    for line in events(&lines) {
        if let EventBody::Syscall(event) = &line.event {
            let redecided = rehearsal.decide(event, &event.inputs);
            assert!(redecided.reproduces(event), "replay re-decided the recorded deny as {:?}", redecided.effect);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 7. `resume_sink` without `.salt(..)` keys the rest of the log with a fresh random salt that
//    nobody can read back (EvidenceSalt has no accessor): digests before and after the resume
//    use different keys, and those after it can never be checked.
// ---------------------------------------------------------------------------------------------
#[test]
fn resume_sink_keeps_the_logs_salt() {
    let policy = policy_with_uses(10);
    let kernel = builder(&policy, 0).open_sink(MemoryLog::new()).unwrap();
    let before = kernel.input(LabelSet::EMPTY, b"query").digest;
    let log = kernel.close().unwrap();
    let mut verifier = ChainVerifier::new().with_receipt_tally();
    for line in log.lines() {
        verifier.push(line).unwrap();
    }
    let verified = verifier.finish().unwrap();
    let resumed = Kernel::builder()
        .policy_text("test", &policy)
        .signer(test_key())
        .clock(FixedClock)
        .entropy(Counter(100))
        .resume_sink(log, &verified);
    // Without the log's salt, the resume is refused; with it, digests are keyed as before.
    assert!(matches!(resumed, Err(agentk_flightlog::builder::BuildError::SaltRequired)));
    let resumed = Kernel::builder()
        .policy_text("test", &policy)
        .signer(test_key())
        .clock(FixedClock)
        .entropy(Counter(100))
        .salt([4; 32])
        .resume_sink(MemoryLog::new(), &verified)
        .unwrap();
    assert_eq!(resumed.input(LabelSet::EMPTY, b"query").digest, before, "the resumed log uses another salt");
}

// ---------------------------------------------------------------------------------------------
// 8. `explain` trusts that `request` is the one `decided` answered; given another, it explains
//    an allow for a recorded deny.
// ---------------------------------------------------------------------------------------------
#[test]
fn explain_never_contradicts_the_decision_it_is_given() {
    let mut kernel = builder(&policy_with_uses(10), 0).open_sink(MemoryLog::new()).unwrap();
    let private = [kernel.input(LabelSet::of(Label::Private), b"notes")];
    let clean = [kernel.input(LabelSet::EMPTY, b"query")];
    let denied = kernel.decide(&exfiltrate(&private)).unwrap();
    assert!(kernel.explain(&search(&clean), &denied).is_err(), "another request is refused, not explained");
    let explanation = kernel.explain(&exfiltrate(&private), &denied).unwrap();
    assert_eq!((explanation.decision, explanation.rule.as_str()), (denied.effect, denied.rule.as_str()));
}

// ---------------------------------------------------------------------------------------------
// 9. A failed resume into a ledger of another policy has already merged the log's counts into
//    that ledger (absorb runs before the policy check in `from_parts`).
// ---------------------------------------------------------------------------------------------
#[test]
fn a_refused_resume_leaves_the_ledger_untouched() {
    let dir = scratch("other-policy-runs");
    let _ = std::fs::remove_dir_all(&dir);
    let logged = policy_with_uses(3);
    let (mut kernel, path) = builder(&logged, 0).log_dir(&dir).open_run().unwrap();
    let clean = [kernel.input(LabelSet::EMPTY, b"query")];
    for _ in 0..3 {
        assert!(kernel.decide(&search(&clean)).unwrap().is_allowed());
    }
    kernel.close().unwrap();

    // A ledger already serving the starter policy (same grant id, 10 uses).
    let ledger = SharedLedger::in_memory();
    drop(
        builder(Profile::Starter.source(), 0)
            .log_id([7; 32])
            .ledger(ledger.clone())
            .open_sink(MemoryLog::new())
            .unwrap(),
    );
    assert!(builder(&logged, 0).ledger(ledger.clone()).resume(&path).is_err());
    assert_eq!(ledger.minted("demo-docs-search").unwrap(), 0, "a refused resume spent another policy's budget");
}

// ---------------------------------------------------------------------------------------------
// 10. `resume` opens the log without checking it is a regular file: a named pipe at the log's
//     path hangs the builder (every other reader refuses a pipe before opening it).
// ---------------------------------------------------------------------------------------------
#[cfg(unix)]
#[test]
fn resume_refuses_a_named_pipe() {
    let dir = scratch("fifo");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("run.jsonl");
    let status = std::process::Command::new("mkfifo").arg(&log).status().unwrap();
    assert!(status.success());
    agentk_flightlog::host::write_new(&log.with_extension("salt"), format!("{}\n", "04".repeat(32)).as_bytes(), 0o600)
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let policy = policy_with_uses(10);
    std::thread::spawn(move || {
        let outcome = builder(&policy, 0).resume(&log).map(|_| ());
        let _ = tx.send(outcome.is_err());
    });
    let answered = rx.recv_timeout(std::time::Duration::from_secs(5));
    assert_eq!(answered, Ok(true), "resume did not refuse a named pipe within 5 s (it blocks reading it)");
}

// ---------------------------------------------------------------------------------------------
// 11. flight-log.md: the run's files live "in an owner-only directory". An existing log
//     directory is used as it is, even when anyone may write it.
// ---------------------------------------------------------------------------------------------
#[cfg(unix)]
#[test]
fn runs_are_not_written_into_a_directory_others_can_write() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("open-dir").join("runs");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let opened = builder(&policy_with_uses(10), 0).log_dir(&dir).open_run();
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert!(opened.is_err() || mode & 0o022 == 0, "a run was written into a {mode:o} directory");
}

// ---------------------------------------------------------------------------------------------
// 12. lib.rs invariant: "an allowed `secret.open` carries a handle bound to that receipt". A
//     policy that allows `secret.open` without asking for a grant gets an allow with neither.
// ---------------------------------------------------------------------------------------------
#[test]
fn an_allowed_secret_open_always_carries_a_handle() {
    use agentk_secrets::{Mode, SecretBroker, SecretTarget, StoreRegistry};
    let needs_grant = "[[rules]]\nid = \"secret-open-needs-grant\"\neffect = \"deny\"\nreason = \"opening a secret needs an operator grant for that exact target\"\nwhen.syscalls = [\"secret.open\"]\nwhen.capability = \"missing\"\n\n";
    let source = Profile::Starter.source();
    assert!(source.contains(needs_grant));
    let policy = source.replace(needs_grant, "");
    let mut broker = SecretBroker::new(StoreRegistry::new(), Mode::Strict);
    broker.register_dummy(SecretTarget::parse("secret://demo-api").unwrap()).unwrap();
    let mut kernel = builder(&policy, 0).broker(Arc::new(broker)).open_sink(MemoryLog::new()).unwrap();
    let decided = kernel.decide(&SyscallRequest::new("agent-1", Syscall::SecretOpen, "secret://demo-api")).unwrap();
    assert!(
        !decided.is_allowed() || decided.handle.is_some(),
        "secret.open allowed by `{}` with no receipt and no handle",
        decided.rule
    );
}

// A granted request whose line would not fit is decided again as malformed, and the use it had
// reserved goes back to the grant.
#[test]
fn an_unrecordable_granted_request_gives_its_use_back() {
    let policy = policy_with_uses(1)
        .replace("target = \"mcp://docs.example.invalid/search\"", "target = \"mcp://docs.example.invalid/*\"");
    assert_ne!(policy, policy_with_uses(1), "the docs-search grant names its target");
    let mut kernel = builder(&policy, 0).open_sink(MemoryLog::new()).unwrap();
    let agent = "\u{1}".repeat(256);
    let target = format!("mcp://docs.example.invalid/{}", "\u{1}".repeat(4096 - 27));
    let first = kernel.decide(&exfiltrate(&[])).unwrap();
    let inputs = vec![
        kernel.input(LabelSet::from_labels(&[Label::Trusted, Label::External]), b"x").output_of(first.seq);
        agentk_flightlog::kernel::MAX_INPUTS
    ];
    let huge =
        SyscallRequest::new(&agent, Syscall::ToolInvoke, &target).consuming(&inputs).presenting("demo-docs-search");
    let decided = kernel.decide(&huge).unwrap();
    assert_eq!(
        decided.kernel_rule(),
        Some(agentk_flightlog::kernel::KernelRule::MalformedRequest),
        "{} {:?}",
        decided.rule,
        decided.effect
    );
    assert!(decided.receipt.is_none());
    let clean = [kernel.input(LabelSet::EMPTY, b"query")];
    assert!(kernel.decide(&search(&clean)).unwrap().is_allowed(), "the grant's one use was given back");
    let lines = kernel.close().unwrap().lines().to_vec();
    verify_lines(lines.iter().map(String::as_str)).unwrap();
}
