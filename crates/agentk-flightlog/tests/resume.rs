//! F5 (resume): a restarted writer continues its log. The chain, the Merkle frontier, grant
//! budgets and one-shot receipts carry over; a changed policy or signer is refused.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, reason = "test helpers fail loudly on purpose")]

use std::path::{Path, PathBuf};
use std::sync::Arc;

mod common;

use common::{Counter, FixedClock};

use agentk_capability::{SignerSource, SigningIdentity};
use agentk_flightlog::builder::{BuildError, KernelBuilder};
use agentk_flightlog::event::Effect;
use agentk_flightlog::file::{FileLog, FileLogError, SyncPolicy, verify_file};
use agentk_flightlog::kernel::{Decided, EvidenceSalt, Kernel, KernelError, SyscallRequest};
use agentk_labels::SyscallKind;
use agentk_policy::{Policy, Profile};
use agentk_secrets::{Mode, SecretBroker, SecretTarget, StoreRegistry};

/// Kernel parts over the starter policy; `key` picks a deterministic test key.
fn parts(policy_text: &str, key: u8, entropy_start: u64) -> KernelBuilder {
    let text: Arc<str> = policy_text.into();
    let mut broker = SecretBroker::new(StoreRegistry::new(), Mode::Strict);
    broker.register_dummy(SecretTarget::parse("secret://demo-api").unwrap()).unwrap();
    Kernel::builder()
        .policy(Arc::clone(&text), Arc::new(Policy::parse("starter", &text).unwrap()))
        .signer(Arc::new(SigningIdentity::from_secret(&[key; 32], SignerSource::Embedded)))
        .broker(Arc::new(broker))
        .clock(FixedClock)
        .entropy(Counter(entropy_start))
        .log_id([7; 32])
        .origin("agentk-test.example.invalid")
        .checkpoint_every(3)
        .salt([5; 32])
}

fn call(kernel: &mut Kernel<FileLog>, syscall: &str, target: &str, grant: Option<&str>) -> Decided {
    let inputs = [EvidenceSalt::from_bytes([5; 32]).input("trusted".parse().unwrap(), b"dummy content")];
    let request =
        SyscallRequest { agent: "agent-1", syscall: SyscallKind::parse(syscall), target, inputs: &inputs, grant };
    kernel.decide(&request).unwrap()
}

fn scratch(name: &str) -> PathBuf {
    common::scratch("agentk-flightlog-resume", name)
}

/// A log whose one-shot secret grant is already spent.
fn first_run(path: &Path) -> u64 {
    let mut kernel =
        parts(Profile::Starter.source(), 1, 0).open_sink(FileLog::create(path, SyncPolicy::Always).unwrap()).unwrap();
    call(&mut kernel, "context.read", "https://news.example.invalid/a", None);
    let open = call(&mut kernel, "secret.open", "secret://demo-api", Some("demo-secret"));
    assert_eq!(open.effect, Effect::Allow, "{}", open.rule);
    let spent = call(&mut kernel, "secret.open", "secret://demo-api", Some("demo-secret"));
    assert_eq!(spent.effect, Effect::Deny);
    kernel.events()
}

// guarantee: F5 (resume continues the chain; budgets do not refill)
#[test]
fn a_resumed_log_continues_the_chain_and_keeps_budgets_spent() {
    let path = scratch("resume.jsonl");
    let before = first_run(&path);
    let exhausted_rule = {
        let (log, verified) = FileLog::open_append(&path, SyncPolicy::Always).unwrap();
        assert_eq!(verified.events(), before);
        let mut kernel = parts(Profile::Starter.source(), 1, 1000).resume_sink(log, &verified).unwrap();
        let again = call(&mut kernel, "secret.open", "secret://demo-api", Some("demo-secret"));
        assert_eq!(again.effect, Effect::Deny, "a restart refilled a one-shot budget");
        assert!(again.receipt.is_none() && again.handle.is_none());
        let docs = call(&mut kernel, "tool.invoke", "mcp://docs.example.invalid/search", Some("demo-docs-search"));
        assert_eq!(docs.effect, Effect::Allow, "{}", docs.rule);
        assert!(docs.receipt.is_some());
        for _ in 0..4 {
            call(&mut kernel, "context.read", "https://news.example.invalid/b", None);
        }
        again.rule
    };
    // The spent grant is refused for the same reason as before the restart.
    let (log, verified) = FileLog::open_append(&path, SyncPolicy::Always).unwrap();
    let mut kernel = parts(Profile::Starter.source(), 1, 2000).resume_sink(log, &verified).unwrap();
    let third = call(&mut kernel, "secret.open", "secret://demo-api", Some("demo-secret"));
    assert_eq!((third.effect, third.rule), (Effect::Deny, exhausted_rule));
    drop(kernel);
    // One chain, one Merkle tree, checkpoints included: the whole file verifies.
    let whole = verify_file(&path).unwrap();
    assert!(whole.events() > before + 6, "{whole}");
    assert!(whole.last_checkpoint().is_some());
}

#[test]
fn a_log_resumes_only_under_its_policy_and_signer() {
    let path = scratch("resume-mismatch.jsonl");
    first_run(&path);
    let other_policy = format!("{}\n# an operator edit\n", Profile::Starter.source());
    for (parts, want) in [(parts(&other_policy, 1, 0), "policy"), (parts(Profile::Starter.source(), 2, 0), "signer")] {
        let (log, verified) = FileLog::open_append(&path, SyncPolicy::Always).unwrap();
        let got = parts.resume_sink(log, &verified).err().unwrap();
        match (want, got) {
            ("policy", BuildError::Kernel(KernelError::PolicyChanged))
            | ("signer", BuildError::Kernel(KernelError::SignerChanged)) => {}
            (want, got) => panic!("{want}: {got:?}"),
        }
    }
    let len = std::fs::metadata(&path).unwrap().len();
    let (log, verified) = FileLog::open_append(&path, SyncPolicy::Always).unwrap();
    assert!(parts(Profile::Starter.source(), 1, 0).resume_sink(log, &verified).is_ok());
    assert_eq!(std::fs::metadata(&path).unwrap().len(), len, "a refused or idle resume writes nothing");
}

#[test]
fn a_log_in_use_or_torn_is_not_resumed() {
    let path = scratch("resume-locked.jsonl");
    first_run(&path);
    let held = FileLog::open_append(&path, SyncPolicy::Always).unwrap();
    assert!(matches!(FileLog::open_append(&path, SyncPolicy::Always), Err(FileLogError::Locked)));
    drop(held);
    use std::io::Write;
    std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(br#"{"v":1,"seq":"#).unwrap();
    assert!(matches!(FileLog::open_append(&path, SyncPolicy::Always), Err(FileLogError::TornTail { .. })));
    assert!(matches!(FileLog::open_append(&scratch("missing.jsonl"), SyncPolicy::Never), Err(FileLogError::Io(_))));
}
