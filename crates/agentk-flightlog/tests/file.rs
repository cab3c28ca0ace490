//! F5: the log on disk. Appends only, one writer, torn tails reported and recovered only on
//! request, and every survivor of a killed writer verifies.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, reason = "test helpers fail loudly on purpose")]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod common;

use common::{Counter, FixedClock};

use agentk_capability::{SignerSource, SigningIdentity};
use agentk_flightlog::file::{FileLog, FileLogError, SyncPolicy, TornTail, recover, verify_file};
use agentk_flightlog::kernel::{EvidenceSalt, Kernel, SyscallRequest};
use agentk_labels::SyscallKind;
use agentk_policy::{Policy, Profile};

fn kernel(log: FileLog) -> Kernel<FileLog> {
    let text: Arc<str> = Profile::Starter.source().into();
    let parts = Kernel::builder()
        .policy(Arc::clone(&text), Arc::new(Policy::parse("starter", &text).unwrap()))
        .signer(Arc::new(SigningIdentity::from_secret(&[1; 32], SignerSource::Embedded)))
        .clock(FixedClock)
        .entropy(Counter(0))
        .log_id([7; 32])
        .origin("agentk-test.example.invalid")
        .checkpoint_every(4);
    parts.open_sink(log).unwrap()
}

fn step(kernel: &mut Kernel<FileLog>, i: u64) {
    let inputs = [EvidenceSalt::from_bytes([5; 32]).input("untrusted,external".parse().unwrap(), &i.to_le_bytes())];
    let syscall = if i.is_multiple_of(2) { "context.read" } else { "network.send" };
    let request = SyscallRequest {
        agent: "agent-1",
        syscall: SyscallKind::parse(syscall),
        target: "https://news.example.invalid/",
        inputs: &inputs,
        grant: None,
    };
    kernel.decide(&request).unwrap();
}

fn scratch(name: &str) -> PathBuf {
    common::scratch("agentk-flightlog-tests", name)
}

/// Held by the test that starts child processes and by the test that checks the writer lock:
/// a child forked while a log is open holds that log's lock until it execs, which would make
/// the lock look unreleased.
static SPAWNING: std::sync::Mutex<()> = std::sync::Mutex::new(());

// guarantee: F1, F5
#[test]
fn file_logs_verify_under_every_sync_policy() {
    for (name, policy) in
        [("always", SyncPolicy::Always), ("batch", SyncPolicy::Batch { events: 4 }), ("never", SyncPolicy::Never)]
    {
        let path = scratch(&format!("policy-{name}.jsonl"));
        let mut k = kernel(FileLog::create(&path, policy).unwrap());
        for i in 0..10 {
            step(&mut k, i);
        }
        // Left unclosed, as a crash would leave it.
        drop(k.into_unclosed_sink());
        let verified = verify_file(&path).unwrap();
        assert_eq!(
            (verified.events(), verified.signed_events()),
            (13, 10),
            "{name}: checkpoints after the 4th and 8th syscall"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}

// guarantee: F5 (appends only; one writer)
#[test]
fn logs_are_never_overwritten_and_have_one_writer() {
    let _no_forks = SPAWNING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let path = scratch("single-writer.jsonl");
    let log = FileLog::create(&path, SyncPolicy::Always).unwrap();
    assert!(matches!(FileLog::create(&path, SyncPolicy::Always), Err(FileLogError::Exists)));
    let other = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    assert!(other.try_lock().is_err(), "a second writer got the lock");
    drop(log);
    assert!(other.try_lock().is_ok(), "the lock is released with the writer");
}

// guarantee: F5 (a torn last line is reported, never accepted or silently dropped)
#[test]
fn torn_tails_are_reported_and_dropped_only_on_request() {
    let path = scratch("torn.jsonl");
    let mut k = kernel(FileLog::create(&path, SyncPolicy::Always).unwrap());
    for i in 0..3 {
        step(&mut k, i);
    }
    drop(k.into_unclosed_sink());
    let whole = std::fs::read(&path).unwrap();
    let clean_len = whole.len() as u64;
    std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(br#"{"v":1,"seq":4,"prev":"ab"#).unwrap();
    match verify_file(&path) {
        Err(FileLogError::TornTail { line, offset }) => assert_eq!((line, offset), (5, clean_len)),
        other => panic!("{other:?}"),
    }
    let report = recover(&path, false).unwrap();
    assert_eq!(report, Some(TornTail { offset: clean_len, bytes: 25 }));
    assert_eq!(std::fs::metadata(&path).unwrap().len(), clean_len + 25, "a report changes nothing");
    assert_eq!(recover(&path, true).unwrap(), report);
    assert_eq!(std::fs::read(&path).unwrap(), whole);
    assert_eq!(verify_file(&path).unwrap().events(), 4);
    assert_eq!(recover(&path, true).unwrap(), None, "a clean log is left alone");
}

#[test]
fn hostile_files_are_refused_in_bounded_memory() {
    let path = scratch("hostile.jsonl");
    std::fs::write(&path, vec![b'x'; 200_000]).unwrap();
    assert!(matches!(
        verify_file(&path),
        Err(FileLogError::Chain(agentk_flightlog::verify::ChainError::TooLong { line: 1 }))
    ));
    std::fs::write(&path, b"\xff\xfe\n").unwrap();
    assert!(matches!(verify_file(&path), Err(FileLogError::NotUtf8 { line: 1 })));
    std::fs::write(&path, b"").unwrap();
    assert!(matches!(verify_file(&path), Err(FileLogError::Chain(agentk_flightlog::verify::ChainError::Empty))));
}

/// The writer half of the crash test: runs only when the parent test starts it with a path.
#[test]
fn crash_child_writer() {
    let Some(path) = std::env::var_os("AGENTK_CRASH_TEST_LOG") else { return };
    let mut k = kernel(FileLog::create(Path::new(&path), SyncPolicy::Always).unwrap());
    for i in 0..1_000_000 {
        step(&mut k, i);
    }
}

// guarantee: F5 (kill the writer at random points; every survivor verifies or has a torn tail
// that recovery drops, after which it verifies)
#[test]
fn every_survivor_of_a_killed_writer_verifies() {
    let _spawning = SPAWNING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let exe = std::env::current_exe().unwrap();
    let mut lengths = Vec::new();
    for round in 0..8u64 {
        let path = scratch(&format!("crash-{round}.jsonl"));
        let mut child = std::process::Command::new(&exe)
            .args(["--exact", "crash_child_writer", "--test-threads", "1", "--quiet"])
            .env("AGENTK_CRASH_TEST_LOG", &path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Kill at a different point each round (bounded: at most ~0.15 s per round).
        std::thread::sleep(std::time::Duration::from_millis(10 + 17 * round));
        child.kill().unwrap();
        child.wait().unwrap();
        if !path.exists() {
            continue;
        }
        let events = match verify_file(&path) {
            Ok(verified) => verified.events(),
            Err(FileLogError::TornTail { .. }) => {
                recover(&path, true).unwrap();
                verify_file(&path).unwrap().events()
            }
            Err(FileLogError::Chain(agentk_flightlog::verify::ChainError::Empty)) => 0,
            Err(other) => panic!("round {round}: survivor failed verification: {other:?}"),
        };
        lengths.push(events);
    }
    assert!(lengths.iter().any(|&n| n > 1), "the writer never got going: {lengths:?}");
}
