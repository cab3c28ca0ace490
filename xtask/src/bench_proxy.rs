//! `cargo xtask bench --only proxy` (or `--proxy`): what `agentk mcp-proxy` costs a real MCP
//! session. One client sends the same session twice, warm, to the official `server-everything`
//! under node: once directly, once through the release proxy as it runs by default (every batch
//! written to its flight log before it is forwarded, the log synced within 100 ms), and once
//! with `--sync always` (every batch synced before it is forwarded, which shows what the log's
//! `fdatasync` costs). Each `tools/call echo` waits for its answer before the next is sent,
//! so a figure is a round trip: p50, p99, calls per second, the resident memory of the process
//! the client talks to, and whether every answer through the proxy was byte for byte the
//! answer the server gave directly to the same request bytes. The proxy's log must verify, or
//! the run fails.
//!
//! Issue 13's targets: at most +60 µs on p50, at least 0.6x the direct calls/s, answers
//! identical, memory flat.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::bench::{Report, round};

/// Calls sent and answered before the figures start (node compiles its hot paths over the first
/// few thousand); their answers are compared too.
const WARMUP: usize = 5_000;

/// The calls measured when `--calls` does not say.
pub(crate) const DEFAULT_CALLS: usize = 100_000;

/// The server, from the workspace root (installed by `bash .ci/peers`).
const SERVER_SCRIPT: &str = "tests/peers/node_modules/@modelcontextprotocol/server-everything/dist/index.js";

/// The server id the proxy records (`mcp://server-everything/echo`).
const SERVER_ID: &str = "server-everything";

/// The proxy's signing key: a fixed TEST KEY (32 bytes of 7), never a real one.
const TEST_KEY: [u8; 32] = [7; 32];

/// A session that answers nothing for this long is killed and the bench fails (the proxy's
/// own request timeout is 60 s).
const STALL: Duration = Duration::from_secs(90);

/// Resident-memory samples per session, at every tenth of the measured calls.
const SAMPLES: usize = 10;

/// What the proxy section needs that `cargo test` does not: node and the installed server.
pub(crate) struct Peer {
    node: PathBuf,
    script: PathBuf,
}

/// Finds node and server-everything, or says what is missing and how to get it.
pub(crate) fn peer(root: &Path) -> Result<Peer, String> {
    let node = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("node"))
        .find(|path| path.is_file())
        .ok_or("`node` is not on PATH: the proxy figures run server-everything under node")?;
    let script = root.join(SERVER_SCRIPT);
    if !script.is_file() {
        return Err(format!("`{SERVER_SCRIPT}` is missing: run `bash .ci/peers` to install server-everything"));
    }
    Ok(Peer { node, script })
}

/// One session's figures.
struct Session {
    /// Nanoseconds per measured call, sorted.
    latencies: Vec<u64>,
    /// The p50 of each tenth of the measured calls, in order (µs): flat unless something
    /// grows with the session.
    tenths_p50_us: Vec<f64>,
    /// Wall time of the measured calls.
    elapsed: Duration,
    /// `(calls measured, VmRSS kB, VmHWM kB)` of the process the client talks to.
    memory: Vec<(usize, u64, u64)>,
    /// CPU time (user, system) of the process the client talks to over the measured calls,
    /// its own threads only (not its children).
    cpu: Option<(Duration, Duration)>,
    /// Frames read that were not the awaited answer (notifications).
    other_frames: u64,
    /// The answers to `initialize` and `tools/list`.
    handshake: [Vec<u8>; 2],
    /// How long the process took to exit once its input was closed.
    shutdown: Duration,
    /// What the process wrote on standard error.
    stderr: String,
}

impl Session {
    fn percentile_us(&self, p: usize) -> f64 {
        let n = self.latencies.len();
        let rank = (n * p).div_ceil(100).clamp(1, n.max(1)) - 1;
        self.latencies.get(rank).copied().unwrap_or(0) as f64 / 1e3
    }

    fn cpu_us_per_call(&self) -> Option<f64> {
        let (user, system) = self.cpu?;
        Some((user + system).as_secs_f64() * 1e6 / self.latencies.len().max(1) as f64)
    }

    fn calls_per_s(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Resident memory after the first tenth and after every call: (kB, kB).
    fn rss_first_last(&self) -> Option<(u64, u64)> {
        Some((self.memory.first()?.1, self.memory.last()?.1))
    }

    fn peak_kb(&self) -> Option<u64> {
        self.memory.last().map(|m| m.2)
    }

    /// Growth of the peak resident set between the first tenth and the end.
    fn peak_growth_kb(&self) -> Option<i64> {
        Some(self.memory.last()?.2 as i64 - self.memory.first()?.2 as i64)
    }
}

/// The answers the server gave directly, in call order (warm-up included).
#[derive(Default)]
struct Answers {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Answers {
    fn push(&mut self, answer: &[u8]) {
        self.bytes.extend_from_slice(answer);
        self.ends.push(self.bytes.len());
    }

    fn get(&self, i: usize) -> Option<&[u8]> {
        let start = if i == 0 { 0 } else { *self.ends.get(i - 1)? };
        self.bytes.get(start..*self.ends.get(i)?)
    }
}

/// How the answers through the proxy compared with the direct ones.
#[derive(Default)]
struct Comparison {
    same: u64,
    differing: u64,
    /// The first difference: call index, direct answer, proxied answer.
    first: Option<(usize, String, String)>,
}

impl Comparison {
    fn check(&mut self, direct: &Answers, i: usize, answer: &[u8]) {
        let expected = direct.get(i).unwrap_or_default();
        if expected == answer {
            self.same += 1;
            return;
        }
        self.differing += 1;
        if self.first.is_none() {
            let shown = |bytes: &[u8]| String::from_utf8_lossy(bytes).trim_end().chars().take(300).collect();
            self.first = Some((i, shown(expected), shown(answer)));
        }
    }

    fn identical(&self) -> bool {
        self.differing == 0
    }
}

/// What the client reads of a frame: its id, and whether it is a request or notification.
#[derive(Deserialize)]
struct Frame {
    id: Option<serde_json::Value>,
    method: Option<serde::de::IgnoredAny>,
}

/// The bytes of call `i` (warm-up included): the same in every session.
fn call(i: usize, buf: &mut Vec<u8>) {
    buf.clear();
    let id = i + 2;
    let _ = writeln!(
        buf,
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"message":"bench call {i}"}}}}}}"#
    );
}

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"agentk-bench","version":"1"}}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
const LIST: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;

/// The client's end of a running session.
struct Client {
    child: Child,
    input: Option<ChildStdin>,
    output: BufReader<ChildStdout>,
    line: Vec<u8>,
    other_frames: u64,
    /// Answers so far, for the stall watchdog.
    progress: Arc<AtomicU64>,
    stalled: Arc<AtomicBool>,
}

impl Client {
    fn start(mut command: Command) -> Result<(Self, std::thread::JoinHandle<String>), String> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("`{}` could not start: {e}", command.get_program().to_string_lossy()))?;
        let streams = (child.stdin.take(), child.stdout.take(), child.stderr.take());
        let (Some(input), Some(output), Some(mut stderr)) = streams else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("the session's standard streams are missing".to_owned());
        };
        // Drained on a thread, so that a chatty server never blocks on a full pipe.
        let errors = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let progress = Arc::new(AtomicU64::new(0));
        let stalled = Arc::new(AtomicBool::new(false));
        watchdog(child.id(), Arc::clone(&progress), Arc::clone(&stalled));
        let output = BufReader::with_capacity(64 << 10, output);
        Ok((Client { child, input: Some(input), output, line: Vec::new(), other_frames: 0, progress, stalled }, errors))
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        let input = self.input.as_mut().ok_or("the session's input is closed")?;
        input.write_all(bytes).map_err(|e| format!("writing to the session failed: {e}"))
    }

    /// Reads frames until the answer to `id`, which stays in `self.line`.
    fn answer(&mut self, id: u64) -> Result<(), String> {
        loop {
            self.line.clear();
            let n = self.output.read_until(b'\n', &mut self.line).map_err(|e| format!("reading failed: {e}"))?;
            if n == 0 {
                return Err(if self.stalled.load(Ordering::Relaxed) {
                    format!("no answer to request {id} for {} s: the session was killed", STALL.as_secs())
                } else {
                    format!("the session closed its output before answering request {id}")
                });
            }
            let frame: Frame = serde_json::from_slice(&self.line)
                .map_err(|e| format!("the session sent a line that is not a JSON-RPC message: {e}"))?;
            if frame.method.is_none() && frame.id.as_ref().and_then(serde_json::Value::as_u64) == Some(id) {
                self.progress.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            self.other_frames += 1;
        }
    }

    /// Closes the input and waits for the process, draining what it still writes.
    fn finish(mut self) -> Result<Duration, String> {
        let start = Instant::now();
        drop(self.input.take());
        let mut rest = Vec::new();
        let _ = self.output.read_to_end(&mut rest);
        let status = self.child.wait().map_err(|e| e.to_string())?;
        self.progress.store(u64::MAX, Ordering::Relaxed);
        if !status.success() {
            return Err(format!("the session ended with {status}"));
        }
        Ok(start.elapsed())
    }
}

/// Kills `pid` when `progress` has not moved for [`STALL`], so that a wedged session cannot
/// hang the bench; stops once `progress` is `u64::MAX`.
fn watchdog(pid: u32, progress: Arc<AtomicU64>, stalled: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let mut seen = progress.load(Ordering::Relaxed);
        let mut since = Instant::now();
        loop {
            std::thread::sleep(Duration::from_millis(500));
            let now = progress.load(Ordering::Relaxed);
            if now == u64::MAX {
                return;
            }
            if now != seen {
                (seen, since) = (now, Instant::now());
            } else if since.elapsed() > STALL {
                stalled.store(true, Ordering::Relaxed);
                let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
                return;
            }
        }
    });
}

/// One session: the handshake, a listing, `WARMUP` calls, then `calls` measured calls, each
/// answer handed to `on_answer` with its call index.
fn session(command: Command, calls: usize, on_answer: &mut dyn FnMut(usize, &[u8])) -> Result<Session, String> {
    let (mut client, errors) = Client::start(command)?;
    let pid = client.child.id();
    let outcome = drive(&mut client, pid, calls, on_answer);
    let other_frames = client.other_frames;
    let shutdown = match outcome {
        Ok(_) => client.finish(),
        Err(_) => {
            let _ = client.child.kill();
            client.finish().map(|_| Duration::ZERO)
        }
    };
    let stderr = errors.join().unwrap_or_default();
    let failed = |e: String| format!("{e}; stderr: {}", stderr.trim());
    let mut session = outcome.map_err(failed)?;
    session.shutdown = shutdown.map_err(failed)?;
    session.other_frames = other_frames;
    session.stderr = stderr;
    Ok(session)
}

/// The session's calls; the figures of what happens after them are left to the caller.
fn drive(
    client: &mut Client,
    pid: u32,
    calls: usize,
    on_answer: &mut dyn FnMut(usize, &[u8]),
) -> Result<Session, String> {
    client.send(format!("{INITIALIZE}\n").as_bytes())?;
    client.answer(0)?;
    let initialized = client.line.clone();
    client.send(format!("{INITIALIZED}\n{LIST}\n").as_bytes())?;
    client.answer(1)?;
    let listed = client.line.clone();
    let mut request = Vec::with_capacity(256);
    for i in 0..WARMUP {
        call(i, &mut request);
        client.send(&request)?;
        client.answer(i as u64 + 2)?;
        on_answer(i, &client.line);
    }
    let mut latencies = Vec::with_capacity(calls);
    let mut memory = Vec::with_capacity(SAMPLES);
    let every = (calls / SAMPLES).max(1);
    let cpu_before = cpu_time(pid);
    let start = Instant::now();
    for k in 0..calls {
        let i = WARMUP + k;
        call(i, &mut request);
        let sent = Instant::now();
        client.send(&request)?;
        client.answer(i as u64 + 2)?;
        latencies.push(sent.elapsed().as_nanos() as u64);
        on_answer(i, &client.line);
        if ((k + 1).is_multiple_of(every) || k + 1 == calls)
            && let (Some(rss), Some(hwm)) = (status_kb(pid, "VmRSS:"), status_kb(pid, "VmHWM:"))
        {
            memory.push((k + 1, rss, hwm));
        }
    }
    let elapsed = start.elapsed();
    let cpu = match (cpu_before, cpu_time(pid)) {
        (Some((user0, system0)), Some((user1, system1))) => {
            Some((user1.saturating_sub(user0), system1.saturating_sub(system0)))
        }
        _ => None,
    };
    let tenths = latencies
        .chunks(calls.div_ceil(SAMPLES).max(1))
        .map(|tenth| {
            let mut tenth = tenth.to_vec();
            tenth.sort_unstable();
            tenth.get(tenth.len() / 2).copied().unwrap_or(0) as f64 / 1e3
        })
        .collect();
    latencies.sort_unstable();
    Ok(Session {
        latencies,
        tenths_p50_us: tenths,
        elapsed,
        memory,
        cpu,
        other_frames: 0,
        handshake: [initialized, listed],
        shutdown: Duration::ZERO,
        stderr: String::new(),
    })
}

/// A field of `/proc/PID/status` in kB (Linux; `None` elsewhere).
fn status_kb(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with(key))?.split_whitespace().nth(1)?.parse().ok()
}

/// The CPU time a process has used so far, user and system (Linux: `/proc/PID/stat`, in
/// clock ticks of 10 ms, the `USER_HZ` of every Linux target this runs on).
fn cpu_time(pid: u32) -> Option<(Duration, Duration)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: the fields are counted after its closing parenthesis.
    let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_whitespace().skip(11);
    let ticks = |field: Option<&str>| field?.parse::<u64>().ok().map(|t| Duration::from_millis(t * 10));
    Some((ticks(fields.next())?, ticks(fields.next())?))
}

/// The CPUs this process may run on (and so the sessions it starts), as the kernel lists them.
fn cpus_allowed() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            Some(s.lines().find(|l| l.starts_with("Cpus_allowed_list:"))?.split_whitespace().nth(1)?.to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The type of the filesystem `path` is on, from the longest mount point above it.
fn filesystem(path: &Path) -> String {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return "unknown".to_owned();
    };
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let point = fields.nth(4)?;
            let kind = fields.skip_while(|f| *f != "-").nth(1)?;
            path.starts_with(point).then_some((point.len(), kind.to_owned()))
        })
        .max_by_key(|(len, _)| *len)
        .map_or_else(|| "unknown".to_owned(), |(_, kind)| kind)
}

/// A proxied session's figures beside its log.
struct Proxied {
    session: Session,
    fs: String,
    log_bytes: u64,
    verified: String,
}

/// Runs the proxied session with its log in `log_dir`, compares its answers with `direct`'s,
/// and verifies the log (pinned to the test key).
fn proxied(
    binary: &Path,
    peer: &Peer,
    log_dir: &Path,
    calls: usize,
    direct: &Answers,
    comparison: &mut Comparison,
    extra: &[&str],
) -> Result<Proxied, String> {
    std::fs::create_dir_all(log_dir).map_err(|e| e.to_string())?;
    let mut command = Command::new(binary);
    command
        .args(["mcp-proxy", "--server-id", SERVER_ID, "--log-dir"])
        .arg(log_dir.join("runs"))
        .arg("--pins")
        .arg(log_dir.join("pins.json"))
        .args(extra)
        .arg("--")
        .arg(&peer.node)
        .arg(&peer.script)
        .arg("stdio");
    base_env(&mut command).env("AGENTK_SIGNING_KEY_HEX", hex(&TEST_KEY));
    let session = session(command, calls, &mut |i, answer| comparison.check(direct, i, answer))?;
    let logs: Vec<PathBuf> = std::fs::read_dir(log_dir.join("runs"))
        .map_err(|e| e.to_string())?
        .filter_map(|entry| Some(entry.ok()?.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "jsonl"))
        .collect();
    let [log] = logs.as_slice() else {
        return Err(format!("the proxy left {} logs in `{}`, not one", logs.len(), log_dir.display()));
    };
    let log_bytes = std::fs::metadata(log).map_err(|e| e.to_string())?.len();
    let public = ed25519_dalek::SigningKey::from_bytes(&TEST_KEY).verifying_key().to_bytes();
    let output = Command::new(binary)
        .args(["verify", "--trusted-public-key", &hex(&public)])
        .arg(log)
        .env_clear()
        .output()
        .map_err(|e| format!("agentk verify could not start: {e}"))?;
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    if !output.status.success() {
        return Err(format!("the proxy's log did not verify ({}): {}", output.status, said.trim()));
    }
    let verified = said.lines().next().unwrap_or_default().trim().to_owned();
    Ok(Proxied { session, fs: filesystem(log_dir), log_bytes, verified })
}

/// Clears the environment but for what the proxy would pass a server anyway, so that both
/// sessions run the server alike.
fn base_env(command: &mut Command) -> &mut Command {
    command.env_clear();
    for name in ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"] {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    command
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

fn figure_line(report: &Report, name: &str, session: &Session) {
    report.say(&format!(
        "{name:<46} p50 {:>8.1} µs  p99 {:>8.1} µs  {:>8.0} calls/s",
        session.percentile_us(50),
        session.percentile_us(99),
        session.calls_per_s()
    ));
}

fn tenths_line(report: &Report, who: &str, session: &Session) {
    let series: Vec<String> = session.tenths_p50_us.iter().map(|us| format!("{us:.0}")).collect();
    report.say(&format!("  p50 of each tenth of the calls: {} µs", series.join(" ")));
    if let Some(us) = session.cpu_us_per_call() {
        let (user, system) = session.cpu.unwrap_or_default();
        report.say(&format!(
            "  {who} CPU per call: {us:.1} µs ({:.0}% user), its own threads",
            100.0 * user.as_secs_f64() / (user + system).as_secs_f64().max(1e-9)
        ));
    }
}

fn memory_line(report: &Report, who: &str, session: &Session) {
    let series: Vec<String> = session.memory.iter().map(|(_, rss, _)| format!("{:.1}", mb(*rss))).collect();
    if let (Some((first, last)), Some(peak)) = (session.rss_first_last(), session.peak_kb()) {
        report.say(&format!(
            "  {who} resident set: {:.1} MB after 10% of the calls, {:.1} MB after 100% (peak {:.1} MB); every 10%: {} MB",
            mb(first),
            mb(last),
            mb(peak),
            series.join(" ")
        ));
    }
}

/// The proxy section: direct and proxied sessions of `calls` measured calls each. `sign_ns`
/// (the floor's Ed25519 signature) puts the proxy's added latency in the bench's own unit.
pub(crate) fn proxy_figures(
    report: &mut Report,
    binary: &Path,
    peer: &Peer,
    calls: usize,
    sign_ns: f64,
) -> Result<(), String> {
    let calls = calls.max(SAMPLES);
    report.say(&format!(
        "proxy (server-everything `echo` under node, {calls} sequential tools/call after {WARMUP} warm-up, each answer awaited; direct, then through `agentk mcp-proxy` as by default and with `--sync always`; CPUs {}):",
        cpus_allowed()
    ));
    let mut direct_answers = Answers::default();
    let mut command = Command::new(&peer.node);
    command.arg(&peer.script).arg("stdio");
    base_env(&mut command);
    let direct = session(command, calls, &mut |_, answer| direct_answers.push(answer))?;
    figure_line(report, "direct: client <-> server-everything", &direct);
    tenths_line(report, "server (node)", &direct);
    memory_line(report, "server (node)", &direct);

    let scratch = crate::bench::scratch_dir()?.join("proxy");
    let variants: [(&str, &[&str]); 2] =
        [("by default (synced within 100 ms)", &[]), ("--sync always (synced per batch)", &["--sync", "always"])];
    let mut runs = Vec::new();
    let mut comparison = Comparison::default();
    for (how, extra) in variants {
        let run = proxied(binary, peer, &scratch, calls, &direct_answers, &mut comparison, extra);
        let _ = std::fs::remove_dir_all(&scratch);
        let run = run?;
        figure_line(report, &format!("proxy {how}, log on {}", run.fs), &run.session);
        tenths_line(report, "proxy (agentk)", &run.session);
        memory_line(report, "proxy (agentk)", &run.session);
        report.say(&format!(
            "  log: {:.1} MB, {}; the proxy said: {}",
            run.log_bytes as f64 / 1e6,
            run.verified,
            run.session.stderr.lines().find(|l| l.contains("frames from the client")).unwrap_or("nothing").trim()
        ));
        report.say(&format!(
            "  frames besides the answers: {} direct, {} proxied; handshake answers identical: initialize {}, tools/list {}; shutdown {:.0} ms",
            direct.other_frames,
            run.session.other_frames,
            yes(direct.handshake[0] == run.session.handshake[0]),
            yes(direct.handshake[1] == run.session.handshake[1]),
            run.session.shutdown.as_secs_f64() * 1e3
        ));
        runs.push(run);
    }
    let _ = std::fs::remove_dir_all(crate::bench::scratch_dir()?);

    let Some(main) = runs.first() else {
        return Err("no proxied session ran".to_owned());
    };
    let proxy = &main.session;
    let added_ns = (proxy.percentile_us(50) - direct.percentile_us(50)) * 1e3;
    let ratio = proxy.calls_per_s() / direct.calls_per_s();
    report.say(&format!(
        "proxy vs direct (log on {}): +{:.1} µs at p50 (= {:.1} Ed25519 signatures), +{:.1} µs at p99, {ratio:.2}x the calls/s",
        main.fs,
        added_ns / 1e3,
        added_ns / sign_ns,
        proxy.percentile_us(99) - direct.percentile_us(99),
    ));
    if let Some(always) = runs.get(1) {
        let sync_us = always.session.percentile_us(50) - proxy.percentile_us(50);
        report.say(&format!(
            "proxy --sync always vs direct: +{:.1} µs at p50, {:.2}x the calls/s; so syncing every batch on {} costs {sync_us:.1} µs per call at p50",
            always.session.percentile_us(50) - direct.percentile_us(50),
            always.session.calls_per_s() / direct.calls_per_s(),
            always.fs
        ));
        report.set("proxy_sync_always_p50_us", round(always.session.percentile_us(50), 1));
        report.set("proxy_sync_always_p99_us", round(always.session.percentile_us(99), 1));
        report.set("proxy_sync_always_calls_per_s", always.session.calls_per_s().round());
        report.set(
            "proxy_sync_always_added_p50_us",
            round(always.session.percentile_us(50) - direct.percentile_us(50), 1),
        );
    }
    let total = comparison.same + comparison.differing;
    report.say(&format!(
        "answers through the proxy byte-identical to the direct ones: {} ({} of {total})",
        yes(comparison.identical()),
        comparison.same
    ));
    if let Some((i, expected, got)) = &comparison.first {
        report.say(&format!("  first difference, call {i}:\n    direct: {expected}\n    proxied: {got}"));
    }

    report.set("proxy_calls", calls as u64);
    report.set("proxy_added_p50_us", round(added_ns / 1e3, 1));
    report.set("proxy_throughput_ratio", round(ratio, 3));
    report.set("proxy_p50_us", round(proxy.percentile_us(50), 1));
    report.set("proxy_p99_us", round(proxy.percentile_us(99), 1));
    report.set("direct_p50_us", round(direct.percentile_us(50), 1));
    report.set("direct_p99_us", round(direct.percentile_us(99), 1));
    report.set("proxy_calls_per_s", proxy.calls_per_s().round());
    report.set("direct_calls_per_s", direct.calls_per_s().round());
    if let (Some(peak), Some(growth)) = (proxy.peak_kb(), proxy.peak_growth_kb()) {
        report.set("proxy_peak_rss_kb", peak);
        report.set("proxy_rss_growth_kb", growth);
    }
    if let Some(peak) = direct.peak_kb() {
        report.set("direct_server_peak_rss_kb", peak);
    }
    if let Some(us) = proxy.cpu_us_per_call() {
        report.set("proxy_cpu_us_per_call", round(us, 1));
    }
    if let Some(us) = direct.cpu_us_per_call() {
        report.set("direct_server_cpu_us_per_call", round(us, 1));
    }
    report.set("proxy_cpus_allowed", cpus_allowed());
    report.set("proxy_answers_identical", comparison.identical());
    report.set("proxy_log_fs", main.fs.clone());
    report.set("proxy_log_bytes", main.log_bytes);
    Ok(())
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "NO" }
}
