//! `cargo xtask bench --only logs`: the gateway's choice of one flight log per session, against
//! one log all sessions share, measured on the kernel alone. 16 sessions on as many threads as
//! the machine has cores decide single requests (as the gateway decides each message: an
//! allow with its receipt), either each on its own log (all over one shared grant ledger, as
//! the gateway runs them) or all on one log behind a lock. The logs are written, not synced
//! (the gateway syncs on a timer).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agentk_flightlog::file::{FileLog, SyncPolicy};
use agentk_flightlog::kernel::Kernel;
use agentk_flightlog::ledger::SharedLedger;

use crate::bench::{Floor, Report, Rig, line, scratch_dir};

/// The sessions of the comparison.
const SESSIONS: usize = 16;

/// How long each arrangement runs, best of three.
const RUN: Duration = Duration::from_millis(600);

/// The figures: decisions per second across all sessions, with one log per session and with
/// one shared log.
pub(crate) fn figures(report: &mut Report, floor: &Floor) -> Result<(), String> {
    let threads = std::thread::available_parallelism().map_or(2, usize::from).clamp(1, SESSIONS);
    report.say(&format!(
        "logs ({SESSIONS} sessions on {threads} threads, each deciding single allows with receipts; logs written, synced on a timer):"
    ));
    let dir = scratch_dir()?.join("logs");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let rig = Arc::new(Rig::new()?);
    let (mut own, mut shared) = (0f64, 0f64);
    for _ in 0..3 {
        own = own.max(one_log_each(&rig, &dir, threads)?);
        shared = shared.max(one_shared_log(&rig, &dir, threads)?);
    }
    line(report, &format!("logs: one per session, {SESSIONS} sessions (aggregate)"), 1e9 / own, floor);
    line(report, &format!("logs: one shared, {SESSIONS} sessions (aggregate)"), 1e9 / shared, floor);
    report.say(&format!("logs: one per session decides {:.2}x what one shared log does", own / shared));
    report.set("logs_per_session_decisions_per_s", own.round());
    report.set("logs_shared_decisions_per_s", shared.round());
    report.set("logs_per_session_vs_shared", crate::bench::round(own / shared, 2));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn kernel(rig: &Rig, dir: &std::path::Path, n: usize, ledger: &SharedLedger) -> Result<Kernel<FileLog>, String> {
    let path = dir.join(format!("session-{n}.jsonl"));
    let _ = std::fs::remove_file(&path);
    let log = FileLog::create(&path, SyncPolicy::Never).map_err(|e| e.to_string())?;
    let mut id = [0u8; 32];
    id[..8].copy_from_slice(&(n as u64 + 1).to_le_bytes());
    rig.builder().log_id(id).ledger(ledger.clone()).open_sink(log).map_err(|e| e.to_string())
}

/// Each thread drives its share of the sessions, each on its own log.
fn one_log_each(rig: &Arc<Rig>, dir: &std::path::Path, threads: usize) -> Result<f64, String> {
    let ledger = SharedLedger::in_memory();
    let mut groups: Vec<Vec<Kernel<FileLog>>> = (0..threads).map(|_| Vec::new()).collect();
    for n in 0..SESSIONS {
        let kernel = kernel(rig, dir, n, &ledger)?;
        if let Some(group) = groups.get_mut(n % threads) {
            group.push(kernel);
        }
    }
    let start = Instant::now();
    let handles: Vec<_> = groups
        .into_iter()
        .map(|mut group| {
            let rig = Arc::clone(rig);
            std::thread::spawn(move || -> Result<u64, String> {
                let request = [rig.allow()];
                let mut done = 0u64;
                while start.elapsed() < RUN {
                    for kernel in &mut group {
                        std::hint::black_box(kernel.decide_batch(&request).map_err(|e| e.to_string())?);
                        done += 1;
                    }
                }
                Ok(done)
            })
        })
        .collect();
    per_second(handles, start)
}

/// Every session decides on one kernel (one log) behind a lock.
fn one_shared_log(rig: &Arc<Rig>, dir: &std::path::Path, threads: usize) -> Result<f64, String> {
    let shared = Arc::new(Mutex::new(kernel(rig, dir, SESSIONS, &SharedLedger::in_memory())?));
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (rig, shared) = (Arc::clone(rig), Arc::clone(&shared));
            std::thread::spawn(move || -> Result<u64, String> {
                let request = [rig.allow()];
                let mut done = 0u64;
                while start.elapsed() < RUN {
                    for _ in 0..SESSIONS / threads {
                        let mut kernel =
                            shared.lock().map_err(|_| "the shared kernel's lock is poisoned".to_owned())?;
                        std::hint::black_box(kernel.decide_batch(&request).map_err(|e| e.to_string())?);
                        done += 1;
                    }
                }
                Ok(done)
            })
        })
        .collect();
    per_second(handles, start)
}

/// The decisions per second the threads made together since `start`.
fn per_second(handles: Vec<std::thread::JoinHandle<Result<u64, String>>>, start: Instant) -> Result<f64, String> {
    let mut done = 0;
    for handle in handles {
        done += handle.join().map_err(|_| "a bench thread panicked".to_owned())??;
    }
    Ok(done as f64 / start.elapsed().as_secs_f64())
}
