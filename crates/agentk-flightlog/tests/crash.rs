//! Group commit survives `kill -9`: a child process decides batches and prints each decision
//! only after the kernel returned it; killed at arbitrary points, every decision it printed is
//! in the surviving log, with the hash it was answered with, and the log verifies after torn-tail
//! recovery (F1, F5).
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, reason = "tests fail loudly on purpose")]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use agentk_capability::{SignerSource, SigningIdentity};
use agentk_flightlog::event::EventLine;
use agentk_flightlog::file::{FileLog, SyncPolicy, recover};
use agentk_flightlog::kernel::{Kernel, SyscallRequest};
use agentk_flightlog::verify::ChainVerifier;
use agentk_labels::{Label, LabelSet, Syscall};
use agentk_policy::Profile;
use common::{Counter, FixedClock};

/// Set in the child's environment to the log it writes.
const CHILD_LOG: &str = "AGENTK_TEST_CRASH_CHILD_LOG";

/// The child: decides batches of mixed requests forever (until killed), printing `seq hash`
/// for each decision after `decide_batch` has returned it. A no-op in a normal test run.
#[test]
fn crash_child() {
    let Some(path) = std::env::var_os(CHILD_LOG) else { return };
    let text = Profile::Starter.source().replace("uses = 10\n", "uses = 1000000\n");
    let log = FileLog::create(Path::new(&path), SyncPolicy::Batch { events: 64 }).unwrap();
    let mut kernel = Kernel::builder()
        .policy_text("crash", &text)
        .signer(Arc::new(SigningIdentity::from_secret(&[6; 32], SignerSource::Embedded))) // test key
        .clock(FixedClock)
        .entropy(Counter(0))
        .checkpoint_every(50)
        .open_sink(log)
        .unwrap();
    let clean = [kernel.input(LabelSet::EMPTY, b"query")];
    let private = [kernel.input(LabelSet::of(Label::Private), b"notes")];
    let allow = SyscallRequest::new("agent-1", Syscall::ToolInvoke, "mcp://docs.example.invalid/search")
        .consuming(&clean)
        .presenting("demo-docs-search");
    let deny =
        SyscallRequest::new("agent-1", Syscall::NetworkSend, "https://evil.example.invalid/").consuming(&private);
    let mut out = std::io::stdout().lock();
    for round in 0u64.. {
        let batch: Vec<_> =
            (0..(round % 17 + 1)).map(|i| if (round + i) % 3 == 0 { allow.clone() } else { deny.clone() }).collect();
        for decided in kernel.decide_batch(&batch).unwrap() {
            use std::io::Write;
            writeln!(out, "{} {}", decided.seq, decided.event.to_hex()).unwrap();
            out.flush().unwrap();
        }
    }
}

fn scratch(name: &str) -> PathBuf {
    common::scratch("agentk-flightlog-crash", name)
}

// guarantee: F1, F5 (no decision is returned before its event is handed to the OS: a process
// killed at any point loses none it printed)
#[test]
fn group_commit_survives_kill_9() {
    for run in 0..6u64 {
        let path = scratch(&format!("crash-{run}.jsonl"));
        let _ = std::fs::remove_file(&path);
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_LOG, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill after a different number of printed decisions each run (bounded).
        let wanted = 40 + run * 97;
        let mut printed: Vec<(u64, String)> = Vec::new();
        let stdout = child.stdout.take().unwrap();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            // The test harness prints its own lines too; keep only `seq hash`.
            let mut parts = line.split(' ');
            if let (Some(seq), Some(hash), None) = (parts.next(), parts.next(), parts.next())
                && let Ok(seq) = seq.parse::<u64>()
                && hash.len() == 64
            {
                printed.push((seq, hash.to_owned()));
            }
            if printed.len() as u64 >= wanted {
                break;
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        assert!(printed.len() as u64 >= wanted, "run {run}: the child printed too little");

        // Recovery drops at most a torn last line; what remains verifies as a chain.
        recover(&path, true).unwrap();
        let mut verifier = ChainVerifier::new();
        let mut hashes = std::collections::BTreeMap::new();
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.lines() {
            let event: EventLine = verifier.push(line).unwrap();
            hashes.insert(event.seq, event.hash.to_hex());
        }
        verifier.finish().unwrap();
        for (seq, hash) in &printed {
            assert_eq!(hashes.get(seq), Some(hash), "run {run}: decision {seq} was answered but is not in the log");
        }
    }
}
