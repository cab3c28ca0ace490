//! The embedding API: the builder and its defaults, the batch entry point (group commit),
//! output events, explanations on demand, and grant budgets shared across kernels and across a
//! restart.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, reason = "tests fail loudly on purpose")]

mod common;

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

use agentk_flightlog::builder::BuildError;
use agentk_flightlog::event::{Effect, EventBody, EventLine};
use agentk_flightlog::file::{SyncPolicy, verify_file};
use agentk_flightlog::kernel::{
    Kernel, KernelError, MemoryLog, OutputRecord, RecordSink, Recorded, SinkError, Submission,
};
use agentk_flightlog::ledger::{LedgerError, SharedLedger};
use agentk_flightlog::verify::verify_lines;
use agentk_labels::{Label, LabelSet, Outcome};
use common::embedding::{builder, exfiltrate, policy_with_uses, search, test_key};

fn scratch(name: &str) -> PathBuf {
    common::scratch("agentk-flightlog-embed", name)
}

/// A sink that counts the writes it is given.
#[derive(Clone, Default)]
struct CountingSink {
    writes: Rc<RefCell<Vec<usize>>>,
    lines: Rc<RefCell<Vec<String>>>,
    failing: Rc<RefCell<bool>>,
}

impl RecordSink for CountingSink {
    fn append(&mut self, lines: &[u8], events: usize) -> Result<(), SinkError> {
        if *self.failing.borrow() {
            return Err(std::io::Error::other("disk full (test)").into());
        }
        let text = std::str::from_utf8(lines).unwrap();
        let split: Vec<String> = text.split_terminator('\n').map(str::to_owned).collect();
        assert_eq!(split.len(), events, "the event count names the lines handed over");
        assert!(text.ends_with('\n'), "whole lines only");
        self.writes.borrow_mut().push(events);
        self.lines.borrow_mut().extend(split);
        Ok(())
    }
}

// guarantee: F1 (group commit: a batch is decided in order, sealed, written with one write, and
// only then answered; each decision equals the one the same request gets alone)
#[test]
fn a_batch_is_decided_in_order_and_written_once() {
    let policy = policy_with_uses(100);
    let sink = CountingSink::default();
    let mut batched = builder(&policy, 0).checkpoint_every(0).open_sink(sink.clone()).unwrap();
    let clean = [batched.input(LabelSet::EMPTY, b"query")];
    let private = [batched.input(LabelSet::of(Label::Private), b"notes")];
    let requests = [search(&clean), exfiltrate(&private), search(&clean), exfiltrate(&clean)];
    let decided = batched.decide_batch(&requests).unwrap();
    assert_eq!(*sink.writes.borrow(), [1, 4], "the genesis, then the batch of four in one write");
    assert_eq!(decided.iter().map(|d| d.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);

    let mut single = builder(&policy, 0).checkpoint_every(0).open_sink(MemoryLog::new()).unwrap();
    for (request, in_batch) in requests.iter().zip(&decided) {
        let alone = single.decide(request).unwrap();
        assert_eq!(
            (alone.effect, &alone.rule, alone.output_labels),
            (in_batch.effect, &in_batch.rule, in_batch.output_labels)
        );
        assert_eq!(alone.receipt.is_some(), in_batch.receipt.is_some());
    }
    assert_eq!(
        decided.iter().map(|d| d.effect).collect::<Vec<_>>(),
        [Effect::Allow, Effect::Deny, Effect::Allow, Effect::Deny]
    );
    // The recorded log is the one a verifier accepts, and names the same events.
    let lines = sink.lines.borrow().clone();
    verify_lines(lines.iter().map(String::as_str)).unwrap();
    for d in &decided {
        let line: EventLine = serde_json::from_str(&lines[usize::try_from(d.seq).unwrap()]).unwrap();
        assert_eq!(line.hash, d.event);
    }
}

// guarantee: F1 (a batch that cannot be written answers nothing, and the kernel decides nothing
// more; checkpoints due inside a batch are written with it)
#[test]
fn a_batch_that_cannot_be_written_answers_nothing() {
    let sink = CountingSink::default();
    let mut kernel = builder(&policy_with_uses(100), 0).checkpoint_every(3).open_sink(sink.clone()).unwrap();
    let clean = [kernel.input(LabelSet::EMPTY, b"query")];
    let batch = vec![search(&clean); 7];
    kernel.decide_batch(&batch).unwrap();
    assert_eq!(*sink.writes.borrow(), [1, 9], "seven decisions and two checkpoints in one write");
    *sink.failing.borrow_mut() = true;
    assert!(matches!(kernel.decide_batch(&batch), Err(KernelError::Sink(_))));
    *sink.failing.borrow_mut() = false;
    assert!(matches!(kernel.decide(&batch[0]), Err(KernelError::Poisoned)));
    assert!(matches!(kernel.close(), Err(KernelError::Poisoned)));
    let lines = sink.lines.borrow().clone();
    assert_eq!(lines.len(), 10);
    verify_lines(lines.iter().map(String::as_str)).unwrap();
}

// guarantee: F1, P7, M3 (an output is recorded for an allowed action only, as a digest linked to
// the event that allowed it, keeping every label the decision gave it; an error is suspect)
#[test]
fn outputs_link_back_keep_their_labels_and_never_hold_content() {
    let mut kernel = builder(&policy_with_uses(100), 0).open_sink(MemoryLog::new()).unwrap();
    let trusted = [kernel.input(LabelSet::of(Label::Trusted), b"query")];
    let call = kernel.decide(&search(&trusted)).unwrap();
    let action = call.action().unwrap();
    let canary = b"CANARY-output-1f2e3d (dummy tool answer)";
    let answer = OutputRecord {
        action,
        content: canary,
        labels: LabelSet::from_labels(&[Label::Untrusted, Label::External]),
        outcome: Outcome::Ok,
    };
    let recorded = kernel.record_output(&answer).unwrap();
    assert_eq!(recorded.labels, "trusted,untrusted,external".parse().unwrap(), "labels only grow");
    let failed =
        kernel.record_output(&OutputRecord { outcome: Outcome::Error, labels: LabelSet::EMPTY, ..answer }).unwrap();
    assert!(failed.labels.contains(Label::PoisonedSuspect), "an error is suspect");
    assert!(failed.labels.contains(Label::Trusted), "and keeps the decision's labels");
    // A later request consuming the output carries its labels, linked to the output event.
    let consumed = [recorded.as_input()];
    assert_eq!(consumed[0].from, Some(recorded.seq));
    let send = kernel.decide(&exfiltrate(&consumed)).unwrap();
    assert_eq!(send.seq, recorded.seq + 2);
    // A deny has no action; another kernel's action is refused before anything is recorded.
    assert!(kernel.decide(&exfiltrate(&[kernel.input(LabelSet::of(Label::Secret), b"k")])).unwrap().action().is_none());
    let mut other = builder(&policy_with_uses(100), 0).log_id([8; 32]).open_sink(MemoryLog::new()).unwrap();
    let before = other.events();
    assert!(matches!(other.record_output(&answer), Err(KernelError::ForeignAction)));
    assert_eq!(other.events(), before);
    // A kernel sharing this log's id but not its history cannot take the action either.
    let mut twin = builder(&policy_with_uses(100), 0).open_sink(MemoryLog::new()).unwrap();
    assert!(matches!(twin.record_output(&answer), Err(KernelError::ForeignAction)));

    let lines = kernel.close().unwrap().lines().to_vec();
    verify_lines(lines.iter().map(String::as_str)).unwrap();
    assert!(lines.iter().all(|l| !l.contains("CANARY")), "outputs reach the log as digests only");
    let outputs: Vec<_> = lines
        .iter()
        .filter_map(|l| match serde_json::from_str::<EventLine>(l).unwrap().event {
            EventBody::Output(o) => Some(o),
            _ => None,
        })
        .collect();
    assert_eq!(outputs.len(), 2);
    assert!(outputs.iter().all(|o| o.from == call.seq));
    assert_eq!(outputs[0].digest, kernel_salt_digest(canary));
}

/// The keyed digest the test salt gives `content`.
fn kernel_salt_digest(content: &[u8]) -> agentk_flightlog::event::Hash32 {
    agentk_flightlog::kernel::EvidenceSalt::from_bytes([4; 32]).digest(content)
}

// guarantee: P6 (explanations on demand agree with the recorded decision, kernel rules included)
#[test]
fn explanations_on_demand_agree_with_the_decision() {
    let mut kernel = builder(&policy_with_uses(1), 0).open_sink(MemoryLog::new()).unwrap();
    let clean = [kernel.input(LabelSet::EMPTY, b"query")];
    let private = [kernel.input(LabelSet::of(Label::Private), b"notes")];
    for request in [search(&clean), search(&clean), exfiltrate(&private)] {
        let decided = kernel.decide(&request).unwrap();
        let explanation = kernel.explain(&request, &decided).unwrap();
        assert_eq!((explanation.decision, explanation.rule.as_str()), (decided.effect, decided.rule.as_str()));
    }
    let exhausted = kernel.decide(&search(&clean)).unwrap();
    assert_eq!(exhausted.rule, "grant-exhausted");
    assert!(exhausted.kernel_rule().is_some());
}

// guarantee: C7 across sessions (two kernels over one ledger, on two threads, never mint more
// receipts than the grant has uses)
#[test]
fn two_kernels_over_one_ledger_never_spend_more_than_the_grant() {
    let policy = policy_with_uses(10);
    let ledger = SharedLedger::in_memory();
    let allowed: u32 = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2u64)
            .map(|k| {
                let (ledger, policy) = (ledger.clone(), policy.clone());
                scope.spawn(move || {
                    let mut kernel = builder(&policy, k * 1_000_000)
                        .log_id([u8::try_from(k).unwrap(); 32])
                        .ledger(ledger)
                        .open_sink(MemoryLog::new())
                        .unwrap();
                    let clean = [kernel.input(LabelSet::EMPTY, b"query")];
                    let mut allowed = 0;
                    for _ in 0..8 {
                        let batch = vec![search(&clean); 3];
                        allowed += kernel.decide_batch(&batch).unwrap().iter().filter(|d| d.is_allowed()).count();
                    }
                    let lines = kernel.close().unwrap().lines().to_vec();
                    verify_lines(lines.iter().map(String::as_str)).unwrap();
                    u32::try_from(allowed).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(allowed, 10, "48 asks between two kernels, one grant of 10 uses");
    assert_eq!(ledger.minted("demo-docs-search").unwrap(), 10);
}

// guarantee: C7 across a restart (a journalled ledger counts again every receipt it handed out;
// a torn last entry, which no answer followed, is dropped)
#[test]
fn a_journalled_ledger_cannot_be_refilled_by_a_restart() {
    let policy = policy_with_uses(10);
    let journal = scratch("budget.ledger");
    let _ = std::fs::remove_file(&journal);
    let spend = |ledger: &SharedLedger, asks: usize, entropy: u64| -> usize {
        let mut kernel = builder(&policy, entropy).ledger(ledger.clone()).open_sink(MemoryLog::new()).unwrap();
        let clean = [kernel.input(LabelSet::EMPTY, b"query")];
        (0..asks).filter(|_| kernel.decide(&search(&clean)).unwrap().is_allowed()).count()
    };
    {
        let ledger = SharedLedger::create(&journal, &policy, SyncPolicy::Always).unwrap();
        assert!(matches!(SharedLedger::create(&journal, &policy, SyncPolicy::Always), Err(LedgerError::Exists)));
        assert!(matches!(SharedLedger::open(&journal, &policy, SyncPolicy::Always), Err(LedgerError::Locked)));
        assert_eq!(spend(&ledger, 3, 0), 3);
        assert_eq!(spend(&ledger, 3, 100), 3);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&journal).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // A crash mid-write leaves a torn entry: dropped, and the count is the six handed out.
    std::fs::OpenOptions::new().append(true).open(&journal).unwrap().write_all(br#"{"grant":"demo-docs-se"#).unwrap();
    let ledger = SharedLedger::open(&journal, &policy, SyncPolicy::Always).unwrap();
    assert_eq!(ledger.minted("demo-docs-search").unwrap(), 6);
    assert_eq!(spend(&ledger, 10, 200), 4, "the restart did not refill the budget");
    drop(ledger);
    // Another policy's budgets are not this one's; a damaged entry refuses the journal.
    assert!(matches!(
        SharedLedger::open(&journal, &policy_with_uses(11), SyncPolicy::Always),
        Err(LedgerError::OtherPolicy)
    ));
    let mut text = std::fs::read_to_string(&journal).unwrap();
    text = text.replacen("\"grant\":\"demo-docs-search\"", "\"grant\":7", 1);
    std::fs::write(&journal, text).unwrap();
    assert!(matches!(
        SharedLedger::open(&journal, &policy, SyncPolicy::Always),
        Err(LedgerError::Malformed { line: 2 })
    ));
}

use std::io::Write as _;

// A ledger counts one policy's grants: a kernel under another policy cannot join it.
#[test]
fn a_ledger_serves_one_policy() {
    let ledger = SharedLedger::in_memory();
    builder(&policy_with_uses(10), 0).ledger(ledger.clone()).open_sink(MemoryLog::new()).unwrap();
    let refused = builder(&policy_with_uses(11), 0).ledger(ledger).open_sink(MemoryLog::new());
    assert!(matches!(refused, Err(BuildError::Kernel(KernelError::Ledger(LedgerError::OtherPolicy)))));
}

// guarantee: F3, F5 (the default run: a new owner-only log and salt in an owner-only directory;
// resuming it continues the chain and the budgets; a dropped kernel closes its log)
#[test]
fn runs_are_created_private_and_resume_where_they_stopped() {
    let dir = scratch("runs").join("nested");
    let _ = std::fs::remove_dir_all(&dir);
    let policy = policy_with_uses(2);
    let (mut kernel, path) = builder(&policy, 0).log_dir(&dir).open_run().unwrap();
    assert!(path.starts_with(&dir) && path.extension().is_some_and(|e| e == "jsonl"));
    let clean = [kernel.input(LabelSet::EMPTY, b"query")];
    assert!(kernel.decide(&search(&clean)).unwrap().is_allowed());
    drop(kernel); // closes the log with a checkpoint
    let verified = verify_file(&path).unwrap();
    assert_eq!(verified.signed_events() + 1, verified.events(), "closed on drop: the whole log is signed");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&path.with_extension("salt")), 0o600);
        assert_eq!(mode(&dir), 0o700);
    }
    // The salt beside the log keys its digests.
    let salt = agentk_flightlog::host::read_salt(&path.with_extension("salt")).unwrap();
    assert_eq!(salt.digest(b"query"), kernel_salt_digest(b"query"));

    let mut resumed = builder(&policy, 500).resume(&path).unwrap();
    assert_eq!(resumed.events(), verified.events());
    let clean = [resumed.input(LabelSet::EMPTY, b"query")];
    assert!(resumed.decide(&search(&clean)).unwrap().is_allowed());
    assert_eq!(resumed.decide(&search(&clean)).unwrap().rule, "grant-exhausted", "the budget carried over");
    resumed.close().unwrap();
    verify_file(&path).unwrap();
    // Another policy cannot continue it.
    assert!(matches!(
        builder(&policy_with_uses(3), 0).resume(&path),
        Err(BuildError::Kernel(KernelError::PolicyChanged))
    ));
}

// The builder refuses what it cannot use, before any file is written.
#[test]
fn the_builder_refuses_bad_parts() {
    let dir = scratch("refused");
    let _ = std::fs::remove_dir_all(&dir);
    let bad = Kernel::builder().policy_text("bad", "not = [a policy").signer(test_key()).log_dir(&dir).open();
    assert!(matches!(bad, Err(BuildError::Policy(_))));
    let missing = Kernel::builder().policy_file(dir.join("missing.toml")).signer(test_key()).log_dir(&dir).open();
    assert!(matches!(missing, Err(BuildError::PolicyFile(_))));
    assert!(!dir.exists(), "nothing written for a refused kernel");
}

// Items of a batch may mix decisions and outputs; answers come back in the order given.
#[test]
fn submit_mixes_decisions_and_outputs_in_order() {
    let mut kernel = builder(&policy_with_uses(100), 0).open_sink(MemoryLog::new()).unwrap();
    let clean = [kernel.input(LabelSet::EMPTY, b"query")];
    let first = kernel.decide(&search(&clean)).unwrap();
    let output = OutputRecord {
        action: first.action().unwrap(),
        content: b"answer",
        labels: LabelSet::EMPTY,
        outcome: Outcome::Ok,
    };
    let answers = kernel
        .submit(&[Submission::Output(output), Submission::Syscall(search(&clean)), Submission::Output(output)])
        .unwrap();
    let kinds: Vec<&str> = answers
        .iter()
        .map(|a| match a {
            Recorded::Decided(_) => "decided",
            Recorded::Output(_) => "output",
        })
        .collect();
    assert_eq!(kinds, ["output", "decided", "output"]);
}

// A journal that reaches the disk less often than the log would let a power failure keep a
// log's receipts and lose their count: the builder refuses the pair.
#[test]
fn a_journal_must_sync_at_least_as_often_as_the_log() {
    let policy = policy_with_uses(10);
    let dir = scratch("weak-journal");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let weak = SharedLedger::create(&dir.join("weak.ledger"), &policy, SyncPolicy::Batch { events: 100 }).unwrap();
    let refused = builder(&policy, 0).ledger(weak.clone()).sync(SyncPolicy::Always).log_dir(dir.join("runs")).open();
    assert!(matches!(refused, Err(BuildError::JournalWeakerThanLog)));
    builder(&policy, 0).ledger(weak).sync(SyncPolicy::Batch { events: 100 }).log_dir(dir.join("runs")).open().unwrap();
}

// A target the front end withholds is recorded and denied as `withheld`, whatever the policy
// would say, and replay takes that fact from the record.
#[test]
fn withheld_targets_are_recorded_and_denied() {
    let policy = policy_with_uses(10);
    let mut kernel = builder(&policy, 0).open_sink(MemoryLog::new()).unwrap();
    let clean = [kernel.input(LabelSet::EMPTY, b"query")];
    let answers = kernel.submit(&[Submission::Withheld(search(&clean)), Submission::Syscall(search(&clean))]).unwrap();
    let decided: Vec<_> = answers
        .iter()
        .filter_map(|a| match a {
            Recorded::Decided(d) => Some(d),
            Recorded::Output(_) => None,
        })
        .collect();
    assert_eq!((decided[0].effect, decided[0].rule.as_str()), (Effect::Deny, "withheld"));
    assert!(decided[0].receipt.is_none() && decided[0].action().is_none());
    assert!(decided[1].is_allowed(), "the same request, not withheld, is allowed on its grant");
    let explanation = kernel.explain(&search(&clean), decided[0]).unwrap();
    assert_eq!(explanation.rule, "withheld");
    let lines = kernel.close().unwrap().lines().to_vec();
    let policy = agentk_policy::Policy::parse("test", &policy).unwrap();
    let mut rehearsal = agentk_flightlog::kernel::Rehearsal::new(&policy);
    for line in lines.iter().map(|l| serde_json::from_str::<EventLine>(l).unwrap()) {
        if let EventBody::Syscall(event) = &line.event {
            assert!(rehearsal.decide(event, &event.inputs).reproduces(event), "{}", event.rule);
        }
    }
}
