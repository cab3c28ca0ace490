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
use agentk_flightlog::file::{FileLog, SyncPolicy, verify_reader};
use agentk_flightlog::kernel::{Clock, Entropy, Kernel, SyscallRequest};
use agentk_flightlog::verify::ChainVerifier;
use agentk_labels::{Label, LabelSet, Syscall};
use agentk_policy::{Policy, Profile};

/// The figures for one mixed log, each the best of [`RUNS`] streaming passes over the file.
#[derive(Clone, Debug, PartialEq)]
pub struct MixedFigures {
    /// Events in the log (genesis and checkpoints included).
    pub events: u64,
    /// Worker threads the readers used (besides the calling thread).
    pub threads: usize,
    /// `agentk verify LOG`: events per second.
    pub verify_mixed_per_s: f64,
    /// `agentk verify-signatures LOG --trusted-public-key KEY`: events per second.
    pub verify_signatures_mixed_per_s: f64,
    /// `agentk replay LOG`: events per second.
    pub replay_mixed_per_s: f64,
    /// The reading as it was before `agentk_flightlog::accept`, measured in the same run: one
    /// thread, every receipt signature checked in batches of 64 (`ChainVerifier` with batched
    /// signatures). Events per second; the ratio to it is the same-run speedup.
    pub reference_verify_per_s: f64,
}

/// Passes per figure; the best is kept (a busy machine only ever slows a pass down).
pub const RUNS: usize = 3;

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

/// Times `pass` over the file at `path` [`RUNS`] times, answering the best events per second.
fn rate(path: &Path, mut pass: impl FnMut(std::fs::File) -> Result<u64, String>) -> Result<f64, String> {
    let mut best = 0f64;
    for _ in 0..RUNS {
        let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
        let start = Instant::now();
        let events = pass(file)?;
        best = best.max(events as f64 / start.elapsed().as_secs_f64());
    }
    Ok(best)
}

/// Writes a mixed log of `syscalls` syscall events in a scratch directory and reads it back as
/// `verify`, pinned `verify-signatures` and `replay` do (and as the one-thread reading did
/// before, for reference), answering the figures. It prints nothing (a `--json` caller stays
/// clean); [`MixedFigures`]' `Display` gives the human lines.
pub fn mixed_figures(syscalls: u64) -> Result<MixedFigures, String> {
    let dir = std::env::temp_dir().join(format!("agentk-bench-read-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let path = dir.join(format!("mixed-{syscalls}.jsonl"));
    let figures = measure(&path, syscalls);
    let _ = std::fs::remove_dir_all(&dir);
    figures
}

impl std::fmt::Display for MixedFigures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "mixed log: {} events (70% allows with receipts, 30% denies, a checkpoint every {CHECKPOINT_EVERY}), {} worker thread(s), best of {RUNS}",
            self.events, self.threads
        )?;
        let reference = self.reference_verify_per_s;
        let rows = [
            (
                "verify",
                self.verify_mixed_per_s,
                format!("{:.2}x the one-thread reading", self.verify_mixed_per_s / reference),
            ),
            (
                "verify-signatures (pinned)",
                self.verify_signatures_mixed_per_s,
                format!("{:.2}x the one-thread reading", self.verify_signatures_mixed_per_s / reference),
            ),
            (
                "replay",
                self.replay_mixed_per_s,
                format!("{:.2}x verify", self.replay_mixed_per_s / self.verify_mixed_per_s),
            ),
            ("one-thread reading (reference)", reference, "every signature, batches of 64, as before".to_owned()),
        ];
        for (name, per_s, note) in rows {
            writeln!(f, "  {name:<32} {per_s:>10.0} events/s   {note}")?;
        }
        Ok(())
    }
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
    let reference_verify_per_s = rate(path, |file| {
        let verified =
            verify_reader(file, ChainVerifier::new().with_batched_signatures()).map_err(|e| e.to_string())?;
        Ok(verified.events())
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
        let report = agentk_replay::replay(file, &text, &policy, Acceptance::default()).map_err(|e| e.to_string())?;
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
        reference_verify_per_s,
    })
}
