//! `cargo xtask bench`: decision, recording and reading throughput, printed beside the
//! primitive floor (Ed25519 signatures and verifications, blake3 hashing) measured in the same
//! run, so figures from different machines compare as ratios. `--json` prints one
//! `agentk.bench.v1` object (the human lines go to stderr) with the fields issue 11 names, the
//! proxy's of issue 13 (`bench_proxy`) and the gateway's (`bench_gateway`).

use std::hint::black_box;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use std::sync::Arc;

use agentk_capability::{SignerSource, SigningIdentity};
use agentk_flightlog::event::InputRef;
use agentk_flightlog::file::{FileLog, SyncPolicy, verify_file, verify_reader};
use agentk_flightlog::kernel::{EvidenceSalt, Kernel, SyscallRequest};
use agentk_flightlog::verify::ChainVerifier;
use agentk_labels::{LabelSet, Syscall};
use agentk_policy::{Policy, Profile, Request};

const WINDOW: Duration = Duration::from_millis(400);

/// The window of sync policy `batch` in these figures. Every batch is handed to the operating
/// system before it is answered whatever the policy; the window only bounds what a power
/// failure can lose. On this class of machine one `fdatasync` costs 0.2 to 4 ms (the floor line
/// measures it), so a small window would measure the disk, not the kernel.
const BATCH_SYNC_EVENTS: u32 = 4096;

/// The figures of one run: printed as lines as they come (to stdout, or to stderr with
/// `--json`), and collected for the `agentk.bench.v1` object.
pub(crate) struct Report {
    json: bool,
    fields: serde_json::Map<String, serde_json::Value>,
}

impl Report {
    pub(crate) fn say(&self, text: &str) {
        if self.json {
            eprintln!("{text}");
        } else {
            println!("{text}");
        }
    }

    pub(crate) fn set(&mut self, field: &str, value: impl Into<serde_json::Value>) {
        self.fields.insert(field.to_owned(), value.into());
    }

    fn get(&self, field: &str) -> Option<f64> {
        self.fields.get(field).and_then(serde_json::Value::as_f64)
    }
}

/// Runs `op` repeatedly for about [`WINDOW`] and answers the mean nanoseconds per call.
fn measure(mut op: impl FnMut()) -> f64 {
    for _ in 0..1000 {
        op();
    }
    let mut calls: u64 = 0;
    let start = Instant::now();
    let mut batch = 64;
    while start.elapsed() < WINDOW {
        for _ in 0..batch {
            op();
        }
        calls += batch;
        batch = (batch * 2).min(1 << 16);
    }
    start.elapsed().as_nanos() as f64 / calls as f64
}

pub(crate) struct Floor {
    pub(crate) sign_ns: f64,
    verify_ns: f64,
    pub(crate) blake3_bytes_per_ns: f64,
}

pub(crate) fn line(report: &Report, name: &str, ns: f64, floor: &Floor) {
    let signatures = if ns < floor.sign_ns {
        format!("1/{:.0} of an Ed25519 signature", floor.sign_ns / ns)
    } else {
        format!("{:.1} Ed25519 signatures", ns / floor.sign_ns)
    };
    report.say(&format!(
        "{name:<46} {:>12.0} /s {:>9.1} ns   = {signatures}, blake3 of {:.0} bytes",
        1e9 / ns,
        ns,
        ns * floor.blake3_bytes_per_ns
    ));
}

/// Entry point. In a debug build it re-runs itself in release, so figures are never taken
/// from unoptimized code.
pub fn main(args: &[String], root: &Path) -> ExitCode {
    if cfg!(debug_assertions) && !args.iter().any(|a| a == "--allow-debug") {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = Command::new(cargo)
            .args(["run", "--quiet", "--release", "--locked", "--package", "xtask", "--", "bench"])
            .args(args)
            .current_dir(root)
            .status();
        return match status {
            Ok(s) if s.success() => ExitCode::SUCCESS,
            _ => ExitCode::FAILURE,
        };
    }
    let scale = match args.iter().position(|a| a == "--scale-mb") {
        None => None,
        Some(i) => match args.get(i + 1).and_then(|n| n.parse::<u64>().ok()) {
            Some(mb) if mb > 0 => Some(mb),
            _ => {
                eprintln!("bench: error: --scale-mb takes a positive number of megabytes");
                return ExitCode::FAILURE;
            }
        },
    };
    let calls = match args.iter().position(|a| a == "--calls") {
        None => crate::bench_proxy::DEFAULT_CALLS,
        Some(i) => match args.get(i + 1).and_then(|n| n.parse::<usize>().ok()) {
            Some(calls) if calls >= 10 => calls,
            _ => {
                eprintln!("bench: error: --calls takes a number of calls, at least 10");
                return ExitCode::FAILURE;
            }
        },
    };
    let json = args.iter().any(|a| a == "--json");
    let mut only = args.iter().position(|a| a == "--only").and_then(|i| args.get(i + 1)).cloned();
    if args.iter().any(|a| a == "--proxy") {
        only = Some("proxy".to_owned());
    }
    let outcome = match scale {
        Some(mb) => scale_run(mb),
        None => run(json, only.as_deref(), calls),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The sections of a run, in order; `--only NAME` runs the floor and that one section
/// (`--proxy` is `--only proxy`; `--calls N` sets its measured calls).
const SECTIONS: [&str; 10] =
    ["policy", "receipts", "kernel", "reading", "memory", "mcp", "taint", "proxy", "logs", "gateway"];

fn run(json: bool, only: Option<&str>, calls: usize) -> Result<(), String> {
    if let Some(name) = only.filter(|name| !SECTIONS.contains(name)) {
        return Err(format!("--only takes one of {}, not `{name}`", SECTIONS.join(", ")));
    }
    let mut report = Report { json, fields: serde_json::Map::new() };
    report.say(&format!(
        "cargo xtask bench: one thread unless a line says otherwise, {} ms per figure",
        WINDOW.as_millis()
    ));
    let floor = floor(&mut report);
    let wanted = |name: &str| only.is_none_or(|only| only == name);
    if wanted("policy") {
        policy_figures(&mut report, &floor)?;
    }
    if wanted("receipts") {
        receipts(&mut report, &floor)?;
    }
    if wanted("kernel") {
        kernel_figures(&mut report, &floor)?;
    }
    if wanted("reading") {
        reading_figures(&mut report, &floor)?;
    }
    if wanted("memory") {
        memory_figures(&mut report)?;
    }
    if wanted("mcp") {
        mcp_figures(&mut report, &floor)?;
    }
    if wanted("taint") {
        crate::bench_taint::figures(&mut report, floor.sign_ns)?;
    }
    if wanted("proxy") {
        // A full run leaves the proxy out where node or the server is missing; asked for by
        // name, it fails instead.
        match crate::bench_proxy::peer(&crate::workspace_root()) {
            Ok(peer) => {
                let binary = agentk_binary()?;
                crate::bench_proxy::proxy_figures(&mut report, &binary, &peer, calls, floor.sign_ns)?;
            }
            Err(missing) if only.is_none() => {
                report.say(&format!("proxy: skipped: {missing}"));
                report.set("proxy_skipped", missing);
            }
            Err(missing) => return Err(missing),
        }
    }
    if wanted("logs") {
        crate::bench_logs::figures(&mut report, &floor)?;
    }
    if wanted("gateway") {
        crate::bench_gateway::gateway_figures(&mut report, &agentk_binary()?, &floor)?;
    }
    if let Some(rss) = peak_rss_mb() {
        report.set("peak_rss_mb", round(rss, 1));
    }
    targets(&mut report);
    if json {
        let mut object = serde_json::Map::new();
        object.insert("schema".to_owned(), agentk_replay::schema::BENCH.into());
        object.extend(std::mem::take(&mut report.fields));
        println!("{}", serde_json::Value::Object(object));
    }
    Ok(())
}

/// The mean cost of appending 4 KiB and `fdatasync`ing it, in the directory the logs use.
fn fdatasync_ns() -> Option<f64> {
    use std::io::Write;
    let dir = scratch_dir().ok()?;
    let path = dir.join("fsync-floor.bin");
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path).ok()?;
    let block = [0x5au8; 4096];
    let rounds = 40u32;
    let start = Instant::now();
    for _ in 0..rounds {
        file.write_all(&block).ok()?;
        file.sync_data().ok()?;
    }
    let ns = start.elapsed().as_nanos() as f64 / f64::from(rounds);
    drop(file);
    let _ = std::fs::remove_dir_all(&dir);
    Some(ns)
}

pub(crate) fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

/// The primitive floor: Ed25519 sign and strict verify of a 32-byte message, blake3 of 1 MiB.
fn floor(report: &mut Report) -> Floor {
    // The key is a fixed test key; nothing signed here is kept.
    let test_key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let message = [42u8; 32];
    // Best of three windows, as for every figure compared against it.
    let sign_ns = (0..3)
        .map(|_| {
            measure(|| {
                black_box(ed25519_dalek::Signer::sign(&test_key, black_box(&message)));
            })
        })
        .fold(f64::MAX, f64::min);
    let signature = ed25519_dalek::Signer::sign(&test_key, &message);
    let verifying = test_key.verifying_key();
    let verify_ns = measure(|| {
        black_box(verifying.verify_strict(black_box(&message), &signature).is_ok());
    });
    let buffer = vec![0xA5u8; 1 << 20];
    let hash_ns = measure(|| {
        black_box(blake3::hash(black_box(&buffer)));
    });
    let floor = Floor { sign_ns, verify_ns, blake3_bytes_per_ns: buffer.len() as f64 / hash_ns };
    let sync_ns = fdatasync_ns();
    report.say(&format!(
        "{:<46} {:>12.0} /s {:>9.1} ns",
        "floor: Ed25519 sign, 32-byte message",
        1e9 / sign_ns,
        sign_ns
    ));
    report.say(&format!("{:<46} {:>12.0} /s {:>9.1} ns", "floor: Ed25519 verify_strict", 1e9 / verify_ns, verify_ns));
    report.say(&format!("{:<46} {:>12.2} GB/s", "floor: blake3, 1 MiB buffers", floor.blake3_bytes_per_ns));
    if let Some(ns) = sync_ns {
        report.say(&format!(
            "{:<46} {:>12.0} /s {:>9.1} ns",
            "floor: append 4 KiB + fdatasync (temp dir)",
            1e9 / ns,
            ns
        ));
    }
    report.set(
        "floor",
        serde_json::json!({
            "sign_per_s": (1e9 / sign_ns).round(),
            "verify_per_s": (1e9 / verify_ns).round(),
            "blake3_gbps": round(floor.blake3_bytes_per_ns, 2),
            "fdatasync_per_s": sync_ns.map(|ns| (1e9 / ns).round()),
        }),
    );
    floor
}

/// Policy decisions alone: the starter mix, 1,000-rule policies, parsing.
fn policy_figures(report: &mut Report, floor: &Floor) -> Result<(), String> {
    let starter = Profile::Starter.load().map_err(|e| e.to_string())?;
    let mix = starter_mix();
    let mut i = 0usize;
    let ns = measure(|| {
        i = i.wrapping_add(1);
        if let Some(request) = mix.get(i % mix.len()) {
            black_box(starter.evaluate(black_box(request)).is_allowed());
        }
    });
    line(report, "decide: starter policy, 8-request mix", ns, floor);
    report.set("policy_starter_ns", round(ns, 1));

    let deny =
        Request::new("agent-1", Syscall::NetworkSend, "https://evil.example.invalid/").with_labels(LabelSet::ALL);
    let ns = measure(|| {
        black_box(starter.evaluate(black_box(&deny)).explain(&deny));
    });
    line(report, "decide + explain: starter deny with remedy", ns, floor);

    let spread = synthetic(1000, Syscall::ALL, false)?;
    let miss =
        Request::new("agent-1", Syscall::NetworkSend, "https://nowhere.example.invalid/x").with_labels(LabelSet::ALL);
    let ns = measure(|| {
        black_box(spread.evaluate(black_box(&miss)).is_allowed());
    });
    line(report, "decide: 1,000 rules over all syscalls, no hit", ns, floor);

    let packed = synthetic(1000, &[Syscall::NetworkSend], false)?;
    let ns = measure(|| {
        black_box(packed.evaluate(black_box(&miss)).is_allowed());
    });
    line(report, "decide: 1,000 rules on one syscall, no hit", ns, floor);

    let last =
        Request::new("agent-1", Syscall::NetworkSend, "https://host-999.example.invalid/x").with_labels(LabelSet::ALL);
    let ns = measure(|| {
        black_box(packed.evaluate(black_box(&last)).is_allowed());
    });
    line(report, "decide: 1,000 rules on one syscall, last hits", ns, floor);

    let open = synthetic(1000, &[Syscall::NetworkSend], true)?;
    let ns = measure(|| {
        black_box(open.evaluate(black_box(&miss)).is_allowed());
    });
    line(report, "decide: 1,000 rules `*://host-N.../*`, no hit", ns, floor);

    let stars = Policy::parse("leading-star", &agentk_policy::testing::synthetic_leading_star_policy(1000))
        .map_err(|e| e.to_string())?;
    let mut worst: f64 = 0.0;
    for (what, target) in [
        ("no hit", "https://nowhere.example.invalid/x"),
        ("last hits", "https://api.host-999.example.invalid/x"),
        ("a suffix rule hits", "someone@host-998.example.invalid"),
    ] {
        let request = Request::new("agent-1", Syscall::NetworkSend, target).with_labels(LabelSet::ALL);
        let ns = measure(|| {
            black_box(stars.evaluate(black_box(&request)).is_allowed());
        });
        line(report, &format!("decide: 1,000 rules starting with `*`, {what}"), ns, floor);
        worst = worst.max(ns);
    }
    report.set("policy_1000_leading_star_ns", round(worst, 1));

    let text = Profile::Starter.source();
    let ns = measure(|| {
        black_box(Policy::parse("starter", black_box(text)).is_ok());
    });
    line(report, "parse + validate: starter policy", ns, floor);
    Ok(())
}

/// The kernel's hot paths, through the batch entry point: denies (batches of 64 and batches of
/// one), allows with receipts, under each sync policy.
fn kernel_figures(report: &mut Report, floor: &Floor) -> Result<(), String> {
    let dir = scratch_dir()?;
    let rig = Rig::new()?;
    let (deny, allow) = (rig.deny(), rig.allow());
    let batch_sync = SyncPolicy::Batch { events: BATCH_SYNC_EVENTS };
    report.say(&format!(
        "kernel (sync `batch` = fdatasync every {BATCH_SYNC_EVENTS} events; every batch is written before it is answered):"
    ));
    for (kind, request, batch, sync, sync_name, count, field) in [
        ("deny", &deny, 64usize, batch_sync, "batch", 400_000u64, Some("deny_batch_per_s")),
        ("deny", &deny, 1, batch_sync, "batch", 200_000, Some("deny_single_per_s")),
        ("deny", &deny, 64, SyncPolicy::Never, "never", 400_000, None),
        ("deny", &deny, 64, SyncPolicy::Always, "always", 64 * 500, Some("deny_batch_always_per_s")),
        ("deny", &deny, 1, SyncPolicy::Always, "always", 500, None),
        ("allow + receipt", &allow, 64, batch_sync, "batch", 20_000, None),
        ("allow + receipt", &allow, 1, batch_sync, "batch", 10_000, None),
    ] {
        // Best of three passes: this class of machine shares its cores, and a figure taken
        // while a neighbour runs says nothing about the code.
        let mut best = f64::MAX;
        for _ in 0..3 {
            let path = dir.join("kernel.jsonl");
            let mut kernel = rig.kernel(&path, sync, 0)?;
            let requests = vec![request.clone(); batch];
            let start = Instant::now();
            let mut done = 0;
            while done < count {
                black_box(kernel.decide_batch(&requests).map_err(|e| e.to_string())?);
                done += batch as u64;
            }
            best = best.min(start.elapsed().as_nanos() as f64 / done as f64);
            drop(kernel.into_unclosed_sink());
            let _ = std::fs::remove_file(&path);
        }
        line(report, &format!("kernel: {kind}, batches of {batch}, sync {sync_name}"), best, floor);
        if let Some(field) = field {
            report.set(field, (1e9 / best).round());
        }
    }
    // The ratio to the sign rate, with both measured in alternating short slices (a shared
    // machine's neighbours slow whichever figure they overlap; the best slice of each is the
    // figure of the code).
    let test_key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let message = [42u8; 32];
    let path = dir.join("ratio.jsonl");
    let mut kernel = rig.kernel(&path, batch_sync, 0)?;
    let requests = vec![allow.clone(); 64];
    let (mut sign_best, mut allow_best) = (f64::MAX, f64::MAX);
    for _ in 0..12 {
        let start = Instant::now();
        for _ in 0..640 {
            black_box(ed25519_dalek::Signer::sign(&test_key, black_box(&message)));
        }
        sign_best = sign_best.min(start.elapsed().as_nanos() as f64 / 640.0);
        let start = Instant::now();
        for _ in 0..10 {
            black_box(kernel.decide_batch(&requests).map_err(|e| e.to_string())?);
        }
        allow_best = allow_best.min(start.elapsed().as_nanos() as f64 / 640.0);
    }
    drop(kernel.into_unclosed_sink());
    let ratio = sign_best / allow_best;
    report.say(&format!(
        "kernel: allow + receipt vs Ed25519 sign, alternating slices: {:.0} /s vs {:.0} /s = {ratio:.2} of the raw sign rate (target >= 0.80)",
        1e9 / allow_best,
        1e9 / sign_best
    ));
    report.set("allow_receipt_per_s", (1e9 / allow_best).round());
    report.set("allow_receipt_sign_per_s_same_slices", (1e9 / sign_best).round());
    report.set("allow_receipt_ratio_to_sign", round(ratio, 3));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Reading logs back: chain-only verification and replay of a deny log, and the mixed log
/// (70% allows with receipts) read as `verify`, `verify-signatures` and `replay` do.
fn reading_figures(report: &mut Report, floor: &Floor) -> Result<(), String> {
    let dir = scratch_dir()?;
    let rig = Rig::new()?;
    let path = dir.join("deny.jsonl");
    let mut kernel = rig.kernel(&path, SyncPolicy::Never, 1000)?;
    let requests = vec![rig.deny(); 64];
    for _ in 0..(200_000 / 64) {
        kernel.decide_batch(&requests).map_err(|e| e.to_string())?;
    }
    kernel.close().map_err(|e| e.to_string())?;
    let bytes = std::fs::metadata(&path).map_err(|e| e.to_string())?.len() as f64;
    let file = std::fs::File::open(&path).map_err(|e| e.to_string())?;
    let start = Instant::now();
    let verified = verify_reader(file, ChainVerifier::new().with_batched_signatures()).map_err(|e| e.to_string())?;
    let seconds = start.elapsed().as_secs_f64();
    let chain_ns = seconds * 1e9 / verified.events() as f64;
    report.say(&format!(
        "{:<46} {:>12.0} /s {chain_ns:>9.1} ns   = {:.0} MB/s, {:.2} Ed25519 signings per event",
        "verify: chain of a deny log (streaming)",
        verified.events() as f64 / seconds,
        bytes / seconds / 1e6,
        chain_ns / floor.sign_ns
    ));
    report.set("verify_chain_per_s", (1e9 / chain_ns).round());
    replay_figures(report, &rig, &path, chain_ns)?;
    let _ = std::fs::remove_dir_all(&dir);

    let mixed = crate::bench_read::mixed_figures(20_000)?;
    report.set("verify_mixed_per_s", mixed.verify_mixed_per_s.round());
    report.set("verify_signatures_mixed_per_s", mixed.verify_signatures_mixed_per_s.round());
    report.set("replay_mixed_per_s", mixed.replay_mixed_per_s.round());
    report.set("mixed_threads", mixed.threads);
    report.set("mixed_events", mixed.events);
    Ok(())
}

/// Replay and fork replay of the deny log, beside chain-only verification of the same log in
/// the same run (target: replay at least half as fast).
fn replay_figures(report: &mut Report, rig: &Rig, path: &Path, chain_ns: f64) -> Result<(), String> {
    let options = agentk_flightlog::accept::Acceptance { allow_unsigned_tail: true, ..Default::default() };
    let other = Profile::Research.load().map_err(|e| e.to_string())?;
    for label in ["replay: deny log (decide again, streaming)", "fork replay: deny log vs research"] {
        let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
        let start = Instant::now();
        let events = if label.starts_with("replay") {
            let replayed =
                agentk_replay::replay(file, &rig.text, &rig.policy, options.clone()).map_err(|e| e.to_string())?;
            if !replayed.reproduced_all() {
                return Err("bench: replay diverged".to_owned());
            }
            replayed.events
        } else {
            agentk_replay::fork_replay(file, &other, options.clone()).map_err(|e| e.to_string())?.events
        };
        let seconds = start.elapsed().as_secs_f64();
        let ns = seconds * 1e9 / events as f64;
        report.say(&format!(
            "{label:<46} {:>12.0} /s {ns:>9.1} ns   = {:.0}% of chain-only verify",
            events as f64 / seconds,
            100.0 * chain_ns / ns
        ));
        if label.starts_with("replay") {
            report.set("replay_per_s", (1e9 / ns).round());
        }
    }
    Ok(())
}

/// Memory over a million decisions: the resident set after the first 10,000 and after a
/// million denies through the batch entry point. Flat means the kernel holds no per-event
/// state.
fn memory_figures(report: &mut Report) -> Result<(), String> {
    let dir = scratch_dir()?;
    let rig = Rig::new()?;
    let path = dir.join("million.jsonl");
    let mut kernel = rig.kernel(&path, SyncPolicy::Never, 1000)?;
    let requests = vec![rig.deny(); 64];
    let mut after_warmup = None;
    let mut decided = 0u64;
    while decided < 1_000_000 {
        kernel.decide_batch(&requests).map_err(|e| e.to_string())?;
        decided += 64;
        if after_warmup.is_none() && decided >= 10_000 {
            after_warmup = rss_mb();
        }
    }
    let after = rss_mb();
    kernel.close().map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&dir);
    if let (Some(start), Some(end)) = (after_warmup, after) {
        report.say(&format!(
            "memory: resident set {start:.1} MB after 10,000 decisions, {end:.1} MB after {decided} (growth {:.1} MB)",
            end - start
        ));
        report.set("rss_growth_mb_over_million_decisions", round(end - start, 2));
    }
    Ok(())
}

/// "Memory flat" for the proxy: its peak resident set may grow at most this much (kB) between
/// the first tenth of the calls and the last, beside what its content index may take (below).
const PROXY_RSS_FLAT_KB: f64 = 1024.0;

/// What a session's index of returned content may take by design (kB): it remembers answers up
/// to its bound (`agentk_mcp::provenance::DEFAULT_INDEX_BYTES`, 4 MiB of text), at about 7 bytes
/// of memory per byte of text (`cargo xtask bench --only taint`), and then forgets the oldest.
const PROXY_INDEX_ALLOWANCE_KB: f64 = 32.0 * 1024.0;

/// Each target of issues 11 and 13 that this run measures, and whether it was met.
fn targets(report: &mut Report) {
    let mut met = serde_json::Map::new();
    let mut check = |report: &Report, field: &str, target: f64, at_least: bool| {
        if let Some(value) = report.get(field) {
            let ok = if at_least { value >= target } else { value <= target };
            met.insert(field.to_owned(), serde_json::json!({"target": target, "at_least": at_least, "met": ok}));
            report.say(&format!(
                "target: {field} {} {target}: {} ({value})",
                if at_least { ">=" } else { "<=" },
                if ok { "met" } else { "NOT met" }
            ));
        }
    };
    check(report, "deny_batch_per_s", 300_000.0, true);
    check(report, "allow_receipt_ratio_to_sign", 0.80, true);
    check(report, "policy_starter_ns", 1_000.0, false);
    check(report, "policy_1000_leading_star_ns", 5_000.0, false);
    check(report, "mcp_lines_vs_single_write", 2.0, true);
    check(report, "proxy_added_p50_us", 60.0, false);
    check(report, "provenance_trace_us", 20.0, false);
    check(report, "proxy_throughput_ratio", 0.6, true);
    check(report, "proxy_rss_growth_kb", PROXY_RSS_FLAT_KB + PROXY_INDEX_ALLOWANCE_KB, false);
    if let Some(identical) = report.fields.get("proxy_answers_identical").and_then(serde_json::Value::as_bool) {
        report.say(&format!("target: proxy_answers_identical: {}", if identical { "met" } else { "NOT met" }));
        met.insert("proxy_answers_identical".to_owned(), serde_json::json!({"met": identical}));
    }
    if let (Some(replay), Some(verify)) = (report.get("replay_mixed_per_s"), report.get("verify_mixed_per_s")) {
        let ratio = replay / verify;
        report.say(&format!(
            "target: replay_mixed_per_s >= half of verify_mixed_per_s: {}",
            if ratio >= 0.5 { "met" } else { "NOT met" }
        ));
        met.insert(
            "replay_mixed_half_of_verify".to_owned(),
            serde_json::json!({"ratio": round(ratio, 3), "met": ratio >= 0.5}),
        );
    }
    report.set("targets", serde_json::Value::Object(met));
}

struct Fixed;
impl agentk_flightlog::kernel::Clock for Fixed {
    fn now(&self) -> u64 {
        1_000
    }
}

/// Bench ids from a counter.
struct Counter(u64);
impl agentk_flightlog::kernel::Entropy for Counter {
    fn fill(&mut self, buf: &mut [u8]) {
        self.0 += 1;
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (self.0 >> ((i % 8) * 8)) as u8;
        }
    }
}

pub(crate) fn scratch_dir() -> Result<std::path::PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("agentk-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    Ok(dir)
}

/// What every flight-log bench shares: the starter policy with a large budget, a test key
/// and two requests (a taint deny, a granted allow).
pub(crate) struct Rig {
    text: Arc<str>,
    policy: Arc<Policy>,
    signer: Arc<SigningIdentity>,
    deny_inputs: [InputRef; 1],
    allow_inputs: [InputRef; 1],
}

impl Rig {
    pub(crate) fn new() -> Result<Self, String> {
        let text: Arc<str> = Profile::Starter.source().replace("uses = 10\n", "uses = 1000000\n").into();
        let policy = Arc::new(Policy::parse("bench", &text).map_err(|e| e.to_string())?);
        let signer = Arc::new(SigningIdentity::from_secret(&[7; 32], SignerSource::Embedded)); // test key
        let salt = EvidenceSalt::from_bytes([5; 32]);
        let deny_inputs = [salt.input(LabelSet::of(agentk_labels::Label::Private), b"bench")];
        let allow_inputs = [salt.input(LabelSet::EMPTY, b"bench")];
        Ok(Rig { text, policy, signer, deny_inputs, allow_inputs })
    }

    fn deny(&self) -> SyscallRequest<'_> {
        SyscallRequest {
            agent: "agent-1",
            syscall: Syscall::NetworkSend.into(),
            target: "https://evil.example.invalid/",
            inputs: &self.deny_inputs,
            grant: None,
        }
    }

    pub(crate) fn allow(&self) -> SyscallRequest<'_> {
        SyscallRequest {
            agent: "agent-1",
            syscall: Syscall::ToolInvoke.into(),
            target: "mcp://docs.example.invalid/search",
            inputs: &self.allow_inputs,
            grant: Some("demo-docs-search"),
        }
    }

    fn kernel(&self, path: &Path, sync: SyncPolicy, checkpoint_every: u32) -> Result<Kernel<FileLog>, String> {
        let _ = std::fs::remove_file(path);
        let log = FileLog::create(path, sync).map_err(|e| e.to_string())?;
        let parts = self.builder().log_id([1; 32]).checkpoint_every(checkpoint_every);
        parts.open_sink(log).map_err(|e| e.to_string())
    }

    /// A kernel builder over the rig's policy and test key, with a fixed clock and entropy.
    pub(crate) fn builder(&self) -> agentk_flightlog::builder::KernelBuilder {
        Kernel::builder()
            .policy(Arc::clone(&self.text), Arc::clone(&self.policy))
            .signer(Arc::clone(&self.signer))
            .clock(Fixed)
            .entropy(Counter(0))
            .origin("bench")
    }
}

/// The `tools/call` requests of the MCP figures.
const MCP_CALLS: usize = 20_000;

/// The MCP stream of the figures: the handshake and a listing, then `calls` `tools/call`
/// requests, 70% allowed (with a receipt on the `mcp-tool` grant) and 30% denied (the client
/// marked their arguments `secret`), interleaved.
fn mcp_stream(calls: usize) -> Vec<String> {
    let mut lines = vec![
        r#"{"jsonrpc":"2.0","id":"i","method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":"i","result":{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"bench","version":"1"}}}"#.to_owned(),
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":"l","method":"tools/list"}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":"l","result":{"tools":[{"name":"search","description":"Searches the example documents.","inputSchema":{"type":"object","properties":{"query":{"type":"string"}}}}]}}"#.to_owned(),
    ];
    for i in 0..calls {
        let meta = if i % 10 >= 7 { r#","_meta":{"agentk/labels":["secret"]}"# } else { "" };
        lines.push(format!(
            r#"{{"jsonrpc":"2.0","id":{i},"method":"tools/call","params":{{"name":"search","arguments":{{"query":"example query {i}"}}{meta}}}}}"#
        ));
    }
    lines
}

/// `mcp-lines` end to end (the release binary, its log synced at every batch as it is by
/// default), beside the same session deciding one request per log write.
fn mcp_figures(report: &mut Report, floor: &Floor) -> Result<(), String> {
    let binary = agentk_binary()?;
    let dir = scratch_dir()?.join("mcp");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let stream_path = dir.join("stream.jsonl");
    let stream = mcp_stream(MCP_CALLS);
    std::fs::write(&stream_path, stream.iter().map(|l| format!("{l}\n")).collect::<String>())
        .map_err(|e| e.to_string())?;
    report.say(&format!(
        "mcp (a stream of {MCP_CALLS} tools/call, 70% allowed with receipts, 30% denied; log synced per batch):"
    ));
    let mut best = f64::MAX;
    for pass in 0..3 {
        let input = std::fs::File::open(&stream_path).map_err(|e| e.to_string())?;
        let start = Instant::now();
        let output = Command::new(&binary)
            .args(["mcp-lines", "--server-id", "bench.example.invalid", "--log-dir"])
            .arg(dir.join(format!("runs-{pass}")))
            .env_clear()
            .env("AGENTK_SIGNING_KEY_HEX", "07".repeat(32)) // a fixed test key
            .stdin(input)
            .stdout(std::process::Stdio::null())
            .output()
            .map_err(|e| format!("agentk could not start: {e}"))?;
        let elapsed = start.elapsed().as_nanos() as f64;
        let summary = String::from_utf8_lossy(&output.stderr);
        // The figure counts only if the run decided what the stream holds.
        let expected = format!("{} allowed, {} denied", MCP_CALLS * 7 / 10 + 4, MCP_CALLS * 3 / 10);
        if !output.status.success() || !summary.contains(&expected) {
            return Err(format!("mcp-lines did not decide the stream as expected: {}", summary.trim()));
        }
        best = best.min(elapsed / MCP_CALLS as f64);
    }
    line(report, "mcp-lines: tools/call end to end (process, log)", best, floor);
    report.set("mcp_lines_per_s", (1e9 / best).round());
    report.set("mcp_lines_ratio_to_sign", round(floor.sign_ns / best, 3));
    // The same session in process: all the stream's requests in batches of 256 (as mcp-lines
    // reads them), then one request per write.
    let rig = Rig::new()?;
    let mcp_session = |path: &Path| -> Result<agentk_mcp::session::Session<FileLog>, String> {
        let _ = std::fs::remove_file(path);
        let log = FileLog::create(path, SyncPolicy::Always).map_err(|e| e.to_string())?;
        let kernel = Kernel::builder()
            .profile(Profile::Mcp)
            .signer(Arc::clone(&rig.signer))
            .clock(Fixed)
            .entropy(Counter(0))
            .log_id([1; 32])
            .origin("bench")
            .open_sink(log)
            .map_err(|e| e.to_string())?;
        let mut config = agentk_mcp::session::Config::new("bench.example.invalid");
        config.remap_ids = false;
        Ok(agentk_mcp::session::Session::new(kernel, config))
    };
    let frames: Vec<&[u8]> = stream.iter().map(String::as_bytes).collect();
    let (handshake, calls) = frames.split_at(5);
    let per_request = |batch: usize, count: usize| -> Result<f64, String> {
        let mut best = f64::MAX;
        for _ in 0..3 {
            let path = dir.join("session.jsonl");
            let mut session = mcp_session(&path)?;
            session.handle_transcript(handshake).map_err(|e| e.to_string())?;
            let start = Instant::now();
            for chunk in calls.get(..count).unwrap_or(calls).chunks(batch) {
                black_box(session.handle_transcript(chunk).map_err(|e| e.to_string())?);
            }
            best = best.min(start.elapsed().as_nanos() as f64 / count as f64);
            drop(session.close());
        }
        Ok(best)
    };
    let batched = per_request(MCP_BATCH, MCP_CALLS)?;
    line(report, "mcp session: batches of 256 (in process)", batched, floor);
    // One write (and sync) per request costs a sync each: fewer requests give the same rate.
    let single = per_request(1, 1_000)?;
    line(report, "mcp session: one request per write (in process)", single, floor);
    report.set("mcp_single_write_per_s", (1e9 / single).round());
    report.say(&format!("mcp-lines end to end vs one request per write: {:.1}x (target >= 2x)", single / best));
    report.set("mcp_lines_vs_single_write", round(single / best, 2));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Builds the release `agentk` binary (quick when it is up to date) and answers its path.
fn agentk_binary() -> Result<std::path::PathBuf, String> {
    let root = crate::workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let built = Command::new(cargo)
        .args(["build", "--quiet", "--release", "--locked", "--package", "agentk-cli", "--bin", "agentk"])
        .current_dir(&root)
        .status()
        .map_err(|e| format!("cargo could not start: {e}"))?;
    if !built.success() {
        return Err("the agentk binary did not build".to_owned());
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), std::path::PathBuf::from);
    Ok(target.join("release/agentk"))
}

/// The batch `mcp-lines` decides at most (its read batch).
const MCP_BATCH: usize = 256;

/// This process's peak resident memory in MB (Linux; `None` elsewhere).
fn peak_rss_mb() -> Option<f64> {
    status_mb("VmHWM:")
}

/// This process's resident memory now, in MB (Linux; `None` elsewhere).
fn rss_mb() -> Option<f64> {
    status_mb("VmRSS:")
}

fn status_mb(key: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// `cargo xtask bench --scale-mb N`: writes a log of about N MB through the kernel (one
/// allow with a receipt per hundred denies, a checkpoint every thousand events), verifies it
/// streaming, and reports the process's peak memory: flat in the log's size means neither the
/// kernel nor the verifier holds per-event state.
fn scale_run(mb: u64) -> Result<(), String> {
    let rig = Rig::new()?;
    let (deny, allow) = (rig.deny(), rig.allow());
    let dir = scratch_dir()?;
    let path = dir.join("scale.jsonl");
    let before = peak_rss_mb();
    let mut kernel = rig.kernel(&path, SyncPolicy::Batch { events: 256 }, 1000)?;
    let target = mb * 1_000_000;
    let start = Instant::now();
    let mut n: u64 = 0;
    loop {
        for _ in 0..1000 {
            n += 1;
            let request = if n.is_multiple_of(100) { &allow } else { &deny };
            black_box(kernel.decide(request).map_err(|e| e.to_string())?);
        }
        if std::fs::metadata(&path).map_err(|e| e.to_string())?.len() >= target {
            break;
        }
    }
    kernel.close().map_err(|e| e.to_string())?;
    let wrote = start.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(&path).map_err(|e| e.to_string())?.len() as f64;
    let after_write = peak_rss_mb();
    let start = Instant::now();
    let verified = verify_file(&path).map_err(|e| e.to_string())?;
    let seconds = start.elapsed().as_secs_f64();
    let after_verify = peak_rss_mb();
    let start = Instant::now();
    let file = std::fs::File::open(&path).map_err(|e| e.to_string())?;
    let replayed = agentk_replay::replay(file, &rig.text, &rig.policy, agentk_flightlog::accept::Acceptance::default())
        .map_err(|e| e.to_string())?;
    let replay_seconds = start.elapsed().as_secs_f64();
    let after_replay = peak_rss_mb();
    let _ = std::fs::remove_dir_all(&dir);
    let shown = |v: Option<f64>| v.map_or_else(|| "n/a".to_owned(), |mb| format!("{mb:.1} MB"));
    println!("scale: {:.0} MB log, {} events, {} signed", bytes / 1e6, verified.events(), verified.signed_events());
    println!("  write: {:.0} events/s ({:.1} s)", n as f64 / wrote, wrote);
    println!(
        "  verify: {:.0} events/s, {:.0} MB/s ({:.1} s)",
        verified.events() as f64 / seconds,
        bytes / seconds / 1e6,
        seconds
    );
    println!(
        "  replay: {:.0} events/s ({:.1} s), {} decisions reproduced of {}",
        replayed.events as f64 / replay_seconds,
        replay_seconds,
        replayed.reproduced,
        replayed.replayed
    );
    println!(
        "  peak RSS of this process: {} at start, {} after writing, {} after verifying, {} after replaying",
        shown(before),
        shown(after_write),
        shown(after_verify),
        shown(after_replay)
    );
    Ok(())
}

/// Receipt minting and verification beside raw Ed25519 signing and strict verification.
fn receipts(report: &mut Report, floor: &Floor) -> Result<(), String> {
    use agentk_capability::{
        Hash32, Ledger, MintContext, ReceiptId, SignerSource, SigningIdentity, Trust, TrustedSigners, Verifier,
    };

    let test_key = SigningIdentity::from_secret(&[7u8; 32], SignerSource::Embedded);
    let verify_ns = floor.verify_ns;

    let text = Profile::Starter.source().replace("uses = 10\n", "uses = 1000000\n");
    let policy = Policy::parse("bench", &text).map_err(|e| e.to_string())?;
    let request = Request::new("agent-1", Syscall::ToolInvoke, "mcp://docs.example.invalid/search")
        .presenting("demo-docs-search");
    let mut ledger = Ledger::new();
    let mut n: u64 = 0;
    let mint_ns = measure(|| {
        n += 1;
        if n >= 900_000 {
            ledger = Ledger::new();
            n = 0;
        }
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&n.to_le_bytes());
        let context = MintContext { id: ReceiptId(id), now: 1_000, prev_event: Hash32([1; 32]) };
        black_box(ledger.mint(&policy, &request, &test_key, context).is_ok());
    });
    report.say(&format!(
        "{:<46} {:>12.0} /s {:>9.1} ns   = {:.0}% of the raw sign rate (target >= 85%)",
        "receipt: decide + mint + sign",
        1e9 / mint_ns,
        mint_ns,
        100.0 * floor.sign_ns / mint_ns
    ));

    let mut ledger = Ledger::new();
    let batch: Vec<_> = (0..64u8)
        .filter_map(|i| {
            let context = MintContext { id: ReceiptId([i; 16]), now: 1_000, prev_event: Hash32([i; 32]) };
            ledger.mint(&policy, &request, &test_key, context).ok().map(|(_, encoded)| encoded)
        })
        .collect();
    let trusted = TrustedSigners::from_keys([test_key.public_key()]);
    let verifier = Verifier::new(Trust::Pinned(&trusted), 1_001);
    let mut i = 0usize;
    let single_ns = measure(|| {
        i = i.wrapping_add(1);
        if let Some(encoded) = batch.get(i % batch.len()) {
            black_box(verifier.verify(black_box(encoded)).is_ok());
        }
    });
    report.say(&format!(
        "{:<46} {:>12.0} /s {:>9.1} ns   = {:.0}% of the raw verify rate",
        "receipt: verify one (pinned)",
        1e9 / single_ns,
        single_ns,
        100.0 * verify_ns / single_ns
    ));
    let batch_ns = measure(|| {
        black_box(verifier.verify_batch(black_box(&batch)).is_ok());
    }) / batch.len().max(1) as f64;
    report.say(&format!(
        "{:<46} {:>12.0} /s {:>9.1} ns   = {:.2}x single verification (target >= 1.8x)",
        "receipt: verify batch of 64, per receipt",
        1e9 / batch_ns,
        batch_ns,
        single_ns / batch_ns
    ));
    Ok(())
}

fn synthetic(rules: usize, syscalls: &[Syscall], open: bool) -> Result<Policy, String> {
    let text = agentk_policy::testing::synthetic_policy_for(rules, syscalls, open);
    Policy::parse("synthetic", &text).map_err(|e| e.to_string())
}

fn starter_mix() -> Vec<Request<'static>> {
    let l = |text: &str| text.parse::<LabelSet>().unwrap_or(LabelSet::ALL);
    vec![
        Request::new("a", Syscall::ContextRead, "https://news.example.invalid/").with_labels(l("untrusted,external")),
        Request::new("a", Syscall::ModelCall, "model://m").with_labels(l("untrusted,private")),
        Request::new("a", Syscall::SecretOpen, "secret://demo-api").with_labels(l("trusted")).presenting("demo-secret"),
        Request::new("a", Syscall::NetworkSend, "https://evil.example.invalid/").with_labels(l("private")),
        Request::new("a", Syscall::ToolInvoke, "mcp://docs.example.invalid/search").presenting("demo-docs-search"),
        Request::new("a", Syscall::ToolInvoke, "mcp://docs.example.invalid/search").with_labels(l("untrusted")),
        Request::new("a", Syscall::FilePatch, "file:///workspace/a").with_labels(l("trusted")),
        Request::new("a", agentk_labels::SyscallKind::parse("kernel.reboot"), "now"),
    ]
}
