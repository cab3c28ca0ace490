//! `cargo xtask fuzz [--seconds N] [--target NAME]`: a short, bounded cargo-fuzz run of every
//! target in `fuzz/`, each seeded from the fixtures, reporting executions and crashes.
//!
//! Each target's body is [`entry`], here, so the stable test suite runs the same code over the
//! seeds and over every regression input kept in `fixtures/fuzz/<target>/`
//! (`xtask/tests/fuzz.rs`); the cargo-fuzz targets in `fuzz/` only call it. Needs cargo-fuzz and
//! a nightly toolchain (`cargo install cargo-fuzz`, `rustup toolchain install nightly`);
//! without them it says so and fails. Corpora and crash artifacts stay under `fuzz/corpus` and
//! `fuzz/artifacts` (git-ignored); a crash found is listed, and its input is to be copied by
//! hand into `fixtures/fuzz/<target>/` once fixed.

use std::path::{Path, PathBuf};

mod mcp_proxy;

/// Every fuzz target, with the directories that seed its corpus.
pub const TARGETS: [(&str, &[&str]); 11] = [
    ("policy_parse", &["fixtures/policies/valid", "fixtures/policies/invalid", "fixtures/replay"]),
    ("flightlog_lines", &["fixtures/logs", "fixtures/compat"]),
    ("receipt_and_handle", &["fixtures/receipts", "fixtures/logs"]),
    ("secret_manifest", &["fuzz/seeds/secret_manifest"]),
    ("behavior_overrides", &["fixtures/replay"]),
    ("saved_proofs", &["fixtures/logs"]),
    ("trusted_signers", &["fuzz/seeds/trusted_signers"]),
    ("rotation_manifest", &["fuzz/seeds/rotation_manifest"]),
    ("mcp_frame", &["fixtures/mcp/transcripts"]),
    ("mcp_session", &["fixtures/mcp/transcripts"]),
    ("mcp_proxy", &["fixtures/mcp/transcripts", "fuzz/seeds/mcp_proxy"]),
];

/// The fixture session's verified `secret.open` receipt, for the handle half of
/// `receipt_and_handle`.
static SECRET_RECEIPT: std::sync::LazyLock<Option<agentk_capability::Verified<agentk_capability::Receipt>>> =
    std::sync::LazyLock::new(|| {
        use agentk_capability::{EncodedReceipt, Trust, Verifier};
        let text = include_str!("../../fixtures/receipts/secret-open-receipt.json");
        let receipt = EncodedReceipt::from_json(text.trim()).ok()?;
        Verifier::new(Trust::ReceiptKey, FUZZ_NOW).verify(&receipt).ok()
    });

const FUZZ_NOW: u64 = 1_767_225_600;

/// One fuzz target's body: feeds `data` to the parser (and, when it parses, the verifier) the
/// target names. Must never panic, whatever `data` is. Answers whether the input was accepted
/// all the way (parsed and verified), so tests can tell that the seeds reach the deep end; an
/// unknown target accepts nothing.
pub fn entry(target: &str, data: &[u8]) -> bool {
    use agentk_capability::{EncodedReceipt, RotationManifest, Trust, TrustedSigners, Verifier};
    let text = std::str::from_utf8(data).ok();
    match (target, text) {
        ("policy_parse", Some(text)) => {
            let parsed = agentk_policy::Policy::parse("fuzz.toml", text);
            if let Ok(policy) = &parsed {
                let labels = "untrusted,private".parse().unwrap_or(agentk_labels::LabelSet::EMPTY);
                let request = agentk_policy::Request::new(
                    "agent-1",
                    agentk_labels::Syscall::NetworkSend,
                    "https://evil.example.invalid/",
                )
                .with_labels(labels);
                let _ = policy.evaluate(&request).explain(&request);
            }
            parsed.is_ok()
        }
        ("flightlog_lines", Some(text)) => {
            use agentk_flightlog::accept::{Acceptance, SignatureChecks, Spread, accept};
            use agentk_flightlog::verify::ChainVerifier;
            let push_all = |mut verifier: ChainVerifier| {
                text.lines().all(|line| verifier.push(line).is_ok()) && verifier.finish().is_ok()
            };
            let single = push_all(ChainVerifier::new());
            let batched = push_all(ChainVerifier::new().with_batched_signatures());
            let uncovered = push_all(ChainVerifier::new().checking(SignatureChecks::Uncovered));
            // Batched and single signature checks must agree on every input; checking only the
            // signatures no checkpoint covers accepts at least what checking all accepts.
            assert_eq!(single, batched, "batched and single verification disagree");
            assert!(uncovered || !single, "checking fewer signatures refused a log");
            // The threaded reader agrees with the line-at-a-time verifier, rule for rule.
            let file: String = text.lines().map(|line| format!("{line}\n")).collect();
            for (signatures, sequential) in [(SignatureChecks::Every, single), (SignatureChecks::Uncovered, uncovered)]
            {
                let acceptance = Acceptance {
                    allow_unsigned_tail: true,
                    signatures,
                    spread: Spread { threads: 2, chunk_lines: 3 },
                    ..Acceptance::default()
                };
                let threaded = accept(file.as_bytes(), &acceptance, |_| {}).is_ok();
                assert_eq!(threaded, sequential, "the threaded reader disagrees ({signatures:?})");
            }
            single
        }
        ("receipt_and_handle", Some(text)) => {
            let (receipt_text, handle_text) = text.split_once('\n').unwrap_or((text, ""));
            let verified = EncodedReceipt::from_json(receipt_text)
                .ok()
                .and_then(|encoded| Verifier::new(Trust::ReceiptKey, FUZZ_NOW).verify(&encoded).ok());
            let Ok(handle) = agentk_secrets::EncodedHandle::from_json(handle_text) else { return false };
            let receipts = [verified.as_ref(), SECRET_RECEIPT.as_ref()];
            // Every receipt is tried (no short cut), so both paths run on every input.
            let verdicts: Vec<bool> = receipts
                .into_iter()
                .flatten()
                .map(|receipt| agentk_secrets::verify_handle(&handle, receipt, Trust::ReceiptKey, FUZZ_NOW).is_ok())
                .collect();
            verdicts.contains(&true)
        }
        ("secret_manifest", Some(text)) => {
            agentk_secrets::SecretManifest::parse(text, &agentk_secrets::RedactionKey::from_bytes([7; 32])).is_ok()
        }
        ("behavior_overrides", _) => agentk_replay::overrides::Overrides::parse(data).is_ok(),
        ("saved_proofs", Some(text)) => {
            use agentk_flightlog::saved::{ProofFile, SavedCheckpoint};
            let (first, second) = text.split_once('\n').unwrap_or((text, ""));
            let checkpoint = serde_json::from_str::<SavedCheckpoint>(first).ok();
            if let Some(checkpoint) = &checkpoint {
                let _ = checkpoint.check();
            }
            let Ok(proof) = serde_json::from_str::<ProofFile>(second).or_else(|_| serde_json::from_str(first)) else {
                return false;
            };
            let alone = proof.verify().is_ok();
            match &checkpoint {
                Some(checkpoint) => {
                    let _ = proof.extends(checkpoint);
                    proof.verify_against(checkpoint).is_ok()
                }
                None => alone,
            }
        }
        ("trusted_signers", Some(text)) => {
            let Ok(trusted) = TrustedSigners::parse_manifest(text) else { return false };
            let key = agentk_capability::SigningIdentity::development_public_key();
            let _ = (trusted.lists(&key), trusted.check_span(&key, 0, u64::MAX));
            true
        }
        ("rotation_manifest", Some(text)) => {
            RotationManifest::from_json(text).is_ok_and(|manifest| manifest.verify(None).is_ok())
        }
        ("mcp_frame", _) => mcp_frame(data),
        ("mcp_session", _) => mcp_session(data),
        ("mcp_proxy", _) => mcp_proxy::run(data),
        _ => false,
    }
}

/// The frame decoder and the line reader: never a panic; a frame that parses forwards as JSON
/// with its id replaced, and its error answer (when refused) is JSON.
fn mcp_frame(data: &[u8]) -> bool {
    use agentk_mcp::frame::{Frame, Id, Limits};
    let limits = Limits { max_frame_bytes: 4096, max_depth: 16, max_batch: 8 };
    let mut reader = agentk_mcp::lines::LineReader::new(data, 1024);
    while let Ok(batch) = reader.batch(4) {
        if batch.is_empty() {
            break;
        }
    }
    match Frame::parse(data, &limits) {
        Ok(Frame::Single(message)) => {
            let forwarded = message.with_id(&Id::number(7));
            assert!(serde_json::from_slice::<serde_json::Value>(&forwarded).is_ok(), "a forwarded frame is not JSON");
            true
        }
        Ok(Frame::Batch(_)) => true,
        Err(error) => {
            assert!(
                serde_json::from_slice::<serde_json::Value>(&error.answer()).is_ok(),
                "an error answer is not JSON"
            );
            false
        }
    }
}

/// The mediator over frames from both sides (one per line; sides told by method and id), in a
/// live session and in a transcript session: never a panic, and never a `tools/call`
/// forwarded that was not decided an allowed `tool.invoke` in the same step. Accepted when a
/// call reached the server.
fn mcp_session(data: &[u8]) -> bool {
    use agentk_flightlog::kernel::{Kernel, MemoryLog};
    use agentk_mcp::session::{Config, Out, Session};
    let frames: Vec<&[u8]> = data.split(|b| *b == b'\n').take(256).collect();
    let mut called = false;
    for remap in [true, false] {
        let kernel = Kernel::builder()
            .profile(agentk_policy::Profile::Mcp)
            .signer(std::sync::Arc::new(agentk_capability::SigningIdentity::from_secret(
                &[9; 32], // deterministic test key
                agentk_capability::SignerSource::Embedded,
            )))
            .clock(FuzzClock)
            .entropy(FuzzEntropy(0))
            .salt([1; 32])
            .log_id([2; 32])
            .open_sink(MemoryLog::new());
        let Ok(kernel) = kernel else { return false };
        let mut config = Config::new("fuzz");
        config.remap_ids = remap;
        config.max_pending = 16;
        config.max_tools = 64;
        config.limits.max_frame_bytes = 64 * 1024;
        let mut session = Session::new(kernel, config);
        // A few frames at a time, as a transport would hand them over.
        for chunk in frames.chunks(3) {
            let step = if remap {
                let sided: Vec<_> = chunk
                    .iter()
                    .map(|frame| {
                        let side = match agentk_mcp::frame::Frame::parse(frame, &Default::default()) {
                            Ok(agentk_mcp::frame::Frame::Single(message)) => session.side_of(&message),
                            _ => agentk_mcp::session::Side::Client,
                        };
                        (side, *frame)
                    })
                    .collect();
                session.handle(&sided)
            } else {
                session.handle_transcript(chunk)
            };
            let Ok(step) = step else { return called };
            let calls = step
                .outputs
                .iter()
                .filter(|out| match out {
                    Out::ToServer(bytes) => serde_json::from_slice::<serde_json::Value>(bytes)
                        .is_ok_and(|v| v.get("method").and_then(serde_json::Value::as_str) == Some("tools/call")),
                    Out::ToClient(_) => false,
                })
                .count();
            let allowed = step.mediated.iter().filter(|m| m.syscall == "tool.invoke" && m.decision == "allow").count();
            assert!(calls <= allowed, "a tools/call was forwarded without an allowed tool.invoke");
            called |= calls > 0;
        }
        let _ = session.close();
    }
    called
}

struct FuzzClock;

impl agentk_flightlog::kernel::Clock for FuzzClock {
    fn now(&self) -> u64 {
        FUZZ_NOW
    }
}

struct FuzzEntropy(u64);

impl agentk_flightlog::kernel::Entropy for FuzzEntropy {
    fn fill(&mut self, buf: &mut [u8]) {
        self.0 += 1;
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (self.0 >> ((i % 8) * 8)) as u8;
        }
    }
}

/// The seeds of `target`: every file in its seed directories, each line of a `.jsonl` file, and
/// for the two-part targets (a checkpoint and a proof, a receipt and a handle) the fixture
/// files joined compactly, one per line, so the corpus starts at the deep end.
pub fn seeds(root: &Path, target: &str) -> Vec<Vec<u8>> {
    let Some((_, dirs)) = TARGETS.iter().find(|(name, _)| *name == target) else { return Vec::new() };
    let mut seeds = Vec::new();
    for dir in *dirs {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else { continue };
        let mut paths: Vec<PathBuf> =
            entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_file()).collect();
        paths.sort();
        for path in paths {
            let Ok(bytes) = std::fs::read(&path) else { continue };
            if path.extension().is_some_and(|e| e == "jsonl") {
                seeds.extend(bytes.split(|b| *b == b'\n').take(64).map(<[u8]>::to_vec));
            }
            seeds.push(bytes);
        }
    }
    let compact = |relative: &str| -> Option<String> {
        let text = std::fs::read_to_string(root.join(relative)).ok()?;
        serde_json::from_str::<serde_json::Value>(&text).ok().map(|v| v.to_string())
    };
    let pairs: &[(&str, &str)] = match target {
        "saved_proofs" => &[
            ("fixtures/logs/session.checkpoint.json", "fixtures/logs/inclusion-proof.json"),
            ("fixtures/logs/session.checkpoint.json", "fixtures/logs/consistency-proof.json"),
        ],
        "receipt_and_handle" => &[("fixtures/receipts/secret-open-receipt.json", "fixtures/receipts/handle.json")],
        _ => &[],
    };
    for (first, second) in pairs {
        if let (Some(first), Some(second)) = (compact(first), compact(second)) {
            seeds.push(format!("{first}\n{second}").into_bytes());
        }
    }
    seeds
}

/// One target's run.
#[derive(Debug)]
pub struct FuzzRun {
    /// The target.
    pub target: &'static str,
    /// Inputs executed.
    pub executions: u64,
    /// Crash, timeout or leak artifacts written.
    pub crashes: Vec<PathBuf>,
    /// Whether cargo-fuzz itself reported failure.
    pub failed: bool,
}

/// Writes the target's [`seeds`] into its corpus directory.
fn seed(root: &Path, target: &str) -> Result<PathBuf, String> {
    let corpus = root.join("fuzz/corpus").join(target);
    std::fs::create_dir_all(&corpus).map_err(|e| format!("{}: {e}", corpus.display()))?;
    for (i, bytes) in seeds(root, target).iter().enumerate() {
        std::fs::write(corpus.join(format!("seed-{i}")), bytes).map_err(|e| format!("{}: {e}", corpus.display()))?;
    }
    Ok(corpus)
}

/// Runs one target for `seconds`.
pub fn run_target(root: &Path, target: &'static str, seconds: u64) -> Result<FuzzRun, String> {
    let corpus = seed(root, target)?;
    let artifacts = root.join("fuzz/artifacts").join(target);
    std::fs::create_dir_all(&artifacts).map_err(|e| format!("{}: {e}", artifacts.display()))?;
    let before: Vec<PathBuf> = list(&artifacts);
    let output = crate::audit::command("cargo")
        .current_dir(root.join("fuzz"))
        .args(["+nightly", "fuzz", "run", target])
        .arg(&corpus)
        .args(["--", &format!("-max_total_time={seconds}"), "-print_final_stats=1", "-rss_limit_mb=2048"])
        .env("CARGO_TERM_COLOR", "never")
        .output()
        .map_err(|e| format!("cargo could not start: {e}"))?;
    let log = String::from_utf8_lossy(&output.stderr);
    let executions = log
        .lines()
        .find_map(|l| l.strip_prefix("stat::number_of_executed_units:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    let crashes = list(&artifacts).into_iter().filter(|p| !before.contains(p)).collect();
    // A run that executed nothing proves nothing.
    Ok(FuzzRun { target, executions, crashes, failed: !output.status.success() || executions == 0 })
}

fn list(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).map(|e| e.filter_map(Result::ok).map(|e| e.path()).collect()).unwrap_or_default()
}

/// Whether cargo-fuzz and a nightly toolchain are available.
pub fn available() -> Result<(), String> {
    let ok = |args: &[&str]| crate::audit::command("cargo").args(args).output().is_ok_and(|o| o.status.success());
    if !ok(&["+nightly", "--version"]) {
        return Err("no nightly toolchain: run `rustup toolchain install nightly`".to_owned());
    }
    if !ok(&["+nightly", "fuzz", "--version"]) {
        return Err("cargo-fuzz is not installed: run `cargo install cargo-fuzz`".to_owned());
    }
    Ok(())
}
