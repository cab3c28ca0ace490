//! Reading real logs at speed: `verify`, pinned `verify-signatures` and `replay` over a mixed
//! log written by the kernel (70% allows with receipts, 30% denies, a checkpoint every 1,000
//! events), the shape real sessions have. `cargo xtask bench-read` prints the figures;
//! [`mixed_figures`] answers them for the main benchmark.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use agentk_capability::{SignerSource, SigningIdentity, TrustedSigners};
use agentk_flightlog::accept::{Acceptance, SignatureChecks, Spread, accept};
use agentk_flightlog::file::{FileLog, SyncPolicy};
use agentk_flightlog::kernel::{Clock, Entropy, Kernel, SyscallRequest};
use agentk_labels::{Label, LabelSet, Syscall};
use agentk_policy::{Policy, Profile};

/// The figures for one mixed log, each from one streaming pass over the file.
#[derive(Clone, Debug, PartialEq)]
pub struct MixedFigures {
    /// Events in the log (genesis and checkpoints included).
    pub events: u64,
    /// Threads the readers used.
    pub threads: usize,
    /// `agentk verify LOG`: events per second.
    pub verify_mixed_per_s: f64,
    /// `agentk verify-signatures LOG --trusted-public-key KEY`: events per second.
    pub verify_signatures_mixed_per_s: f64,
    /// `agentk replay LOG`: events per second.
    pub replay_mixed_per_s: f64,
}

/// Allows with receipts per ten syscalls; the rest are denies.
const ALLOWS_IN_TEN: u64 = 7;

/// A checkpoint after every this many syscall events.
const CHECKPOINT_EVERY: u32 = 1000;

struct FixedClock;
impl Clock for FixedClock {
    fn now(&self) -> u64 {
        1_767_225_600
    }
}

/// Bench ids from a counter.
struct Counter(u64);
impl Entropy for Counter {
    fn fill(&mut self, buf: &mut [u8]) {
        self.0 += 1;
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (self.0 >> ((i % 8) * 8)) as u8;
        }
    }
}

/// The policy the mixed log is written under: the starter policy, with a grant budget large
/// enough for every allow.
fn mixed_policy() -> Result<(Arc<str>, Arc<Policy>), String> {
    let text: Arc<str> = Profile::Starter.source().replace("uses = 10\n", "uses = 1000000\n").into();
    let policy = Arc::new(Policy::parse("bench-mixed", &text).map_err(|e| e.to_string())?);
    Ok((text, policy))
}

/// The deterministic TEST KEY the mixed log is signed with.
fn test_signer() -> SigningIdentity {
    SigningIdentity::from_secret(&[0x5a; 32], SignerSource::Embedded)
}

/// Writes a closed mixed log of `syscalls` syscall events to `path` through the kernel.
///
/// The one place that builds a kernel here: [`Kernel::builder`] over a [`FileLog`], deciding
/// batches of 64 through [`Kernel::decide_batch`].
pub fn write_mixed_log(path: &Path, syscalls: u64) -> Result<(), String> {
    let (text, policy) = mixed_policy()?;
    let _ = std::fs::remove_file(path);
    let log = FileLog::create(path, SyncPolicy::Never).map_err(|e| e.to_string())?;
    let mut kernel = Kernel::builder()
        .policy(text, policy)
        .signer(Arc::new(test_signer()))
        .clock(FixedClock)
        .entropy(Counter(0))
        .log_id([3; 32])
        .salt([5; 32])
        .origin("bench-mixed")
        .checkpoint_every(CHECKPOINT_EVERY)
        .open_sink(log)
        .map_err(|e| e.to_string())?;
    let allow_inputs = [kernel.input(LabelSet::EMPTY, b"bench query")];
    let deny_inputs = [kernel.input(LabelSet::of(Label::Private), b"bench notes")];
    let allow = SyscallRequest {
        agent: "agent-1",
        syscall: Syscall::ToolInvoke.into(),
        target: "mcp://docs.example.invalid/search",
        inputs: &allow_inputs,
        grant: Some("demo-docs-search"),
    };
    let deny = SyscallRequest {
        agent: "agent-1",
        syscall: Syscall::NetworkSend.into(),
        target: "https://evil.example.invalid/collect",
        inputs: &deny_inputs,
        grant: None,
    };
    let mut batch = Vec::with_capacity(64);
    let mut n = 0;
    while n < syscalls {
        batch.clear();
        while batch.len() < 64 && n < syscalls {
            batch.push(if n % 10 < ALLOWS_IN_TEN { allow.clone() } else { deny.clone() });
            n += 1;
        }
        black_box(kernel.decide_batch(&batch).map_err(|e| e.to_string())?);
    }
    kernel.close().map_err(|e| e.to_string())?;
    Ok(())
}

/// Times `pass` over the file at `path`, answering events per second.
fn rate(path: &Path, pass: impl FnOnce(std::fs::File) -> Result<u64, String>) -> Result<f64, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let start = Instant::now();
    let events = pass(file)?;
    Ok(events as f64 / start.elapsed().as_secs_f64())
}

/// Writes a mixed log of `syscalls` syscall events in a scratch directory, reads it back as
/// `verify`, pinned `verify-signatures` and `replay` do, prints one line per figure and
/// answers them.
pub fn mixed_figures(syscalls: u64) -> Result<MixedFigures, String> {
    let dir = std::env::temp_dir().join(format!("agentk-bench-read-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let path = dir.join(format!("mixed-{syscalls}.jsonl"));
    let figures = measure(&path, syscalls);
    let _ = std::fs::remove_dir_all(&dir);
    let figures = figures?;
    let bytes = figures.events;
    println!(
        "mixed log: {} events ({syscalls} syscalls: 70% allows with receipts, 30% denies, a checkpoint every {CHECKPOINT_EVERY}), {} thread(s)",
        bytes, figures.threads
    );
    for (name, per_s) in [
        ("verify", figures.verify_mixed_per_s),
        ("verify-signatures (pinned)", figures.verify_signatures_mixed_per_s),
        ("replay", figures.replay_mixed_per_s),
    ] {
        println!("  {name:<28} {per_s:>12.0} events/s");
    }
    Ok(figures)
}

fn measure(path: &Path, syscalls: u64) -> Result<MixedFigures, String> {
    write_mixed_log(path, syscalls)?;
    let (text, policy) = mixed_policy()?;
    let trusted = TrustedSigners::from_keys([test_signer().public_key()]);
    let mut events = 0;
    let verify_mixed_per_s = rate(path, |file| {
        let accepted = accept(file, &Acceptance::default(), |_| {}).map_err(|e| e.to_string())?;
        events = accepted.events();
        Ok(accepted.events())
    })?;
    let pinned = Acceptance {
        trusted: Some(trusted),
        signatures: SignatureChecks::Every,
        refuse_development_signer: true,
        ..Acceptance::default()
    };
    let verify_signatures_mixed_per_s = rate(path, |file| {
        let accepted = accept(file, &pinned, |_| {}).map_err(|e| e.to_string())?;
        Ok(accepted.events())
    })?;
    let replay_mixed_per_s = rate(path, |file| {
        let report = agentk_replay::replay(file, &text, &policy, agentk_replay::Options::default())
            .map_err(|e| e.to_string())?;
        if !report.reproduced_all() {
            return Err("replay diverged on the mixed log".to_owned());
        }
        Ok(report.events)
    })?;
    Ok(MixedFigures {
        events,
        threads: Spread::default().workers(),
        verify_mixed_per_s,
        verify_signatures_mixed_per_s,
        replay_mixed_per_s,
    })
}
