//! Flight-log fixtures (`fixtures/logs/`): one closed session made by the real kernel with the
//! fixture test key and a fixed clock, and tampered variants of it, each with the verdicts
//! `agentk verify` and a pinned `agentk verify-signatures` must reach (in `expect.json`).
//! They pin the on-disk format: a change that stops yesterday's logs verifying fails a test.

use std::sync::Arc;

use agentk_capability::{SignerSource, SigningIdentity, encode_hex};
use agentk_flightlog::event::{Effect, EventBody, EventLine};
use agentk_flightlog::kernel::{Clock, Entropy, Kernel, MemoryLog, OutputRecord, SyscallRequest};
use agentk_labels::{Label, LabelSet, Outcome, SyscallKind};
use agentk_policy::{Policy, Profile};
use agentk_secrets::{Mode, SecretBroker, SecretTarget, StoreRegistry};

/// The fixture signing key's seed. A deterministic TEST KEY, public in this repository:
/// never use it to sign anything real.
const FIXTURE_TEST_KEY: [u8; 32] = [0x11; 32];
/// Another deterministic test key, for the forged log.
const FORGER_TEST_KEY: [u8; 32] = [0x22; 32];
/// The session's evidence salt (dummy).
const SALT: [u8; 32] = [0x05; 32];

struct FixedClock;
impl Clock for FixedClock {
    fn now(&self) -> u64 {
        1_767_225_600
    }
}

/// Fixture ids from a counter.
struct Counter(u8);
impl Entropy for Counter {
    fn fill(&mut self, buf: &mut [u8]) {
        self.0 = self.0.wrapping_add(1);
        buf.fill(self.0);
    }
}

fn test_key(seed: &[u8; 32]) -> Arc<SigningIdentity> {
    Arc::new(SigningIdentity::from_secret(seed, SignerSource::Embedded))
}

/// The session: observe, taint deny, grant allow, a model call and a memory write fed by the
/// tool's output (linked by `from`, for behavior replay), secret handle, spent budget, unknown
/// syscall, the tool's answer as an output event, with checkpoints every three events and a
/// closing one.
fn session(key: &[u8; 32]) -> Result<Vec<String>, String> {
    let fail = |what: &str, e: &dyn std::fmt::Display| format!("log fixture: {what}: {e}");
    let text: Arc<str> = Profile::Starter.source().into();
    let policy = Policy::parse("starter", &text).map_err(|e| fail("policy", &e))?;
    let mut broker = SecretBroker::new(StoreRegistry::new(), Mode::Strict);
    let target = SecretTarget::parse("secret://demo-api").map_err(|e| fail("secret target", &e))?;
    broker.register_dummy(target).map_err(|e| fail("broker", &e))?;
    let parts = Kernel::builder()
        .policy(Arc::clone(&text), Arc::new(policy))
        .signer(test_key(key))
        .broker(Arc::new(broker))
        .clock(FixedClock)
        .entropy(Counter(0))
        .log_id([0x42; 32])
        .origin("agentk-fixture.example.invalid")
        .checkpoint_every(3)
        .salt(SALT);
    let mut kernel = parts.open_sink(MemoryLog::new()).map_err(|e| fail("open", &e))?;
    // (syscall, target, labels of a fresh input, grant, content, or the earlier call whose
    // output is the input instead)
    let calls: [Call; 8] = [
        ("context.read", "https://news.example.invalid/a", "untrusted,external", None, b"dummy page", None),
        ("network.send", "https://evil.example.invalid/c", "private", None, b"dummy notes", None),
        ("tool.invoke", "mcp://docs.example.invalid/search", "trusted", Some("demo-docs-search"), b"dummy query", None),
        ("model.call", "model://summarizer.example.invalid", "none", None, b"dummy search results", Some(2)),
        ("memory.write", "memory://notes", "none", None, b"dummy summary", Some(3)),
        ("secret.open", "secret://demo-api", "trusted", Some("demo-secret"), b"dummy", None),
        ("secret.open", "secret://demo-api", "trusted", Some("demo-secret"), b"dummy", None),
        ("kernel.reboot", "now", "none", None, b"dummy", None),
    ];
    // Each call's step (seq) and output labels, for the calls that consume them.
    let mut outputs: Vec<(u64, Option<LabelSet>)> = Vec::new();
    let mut actions = Vec::new();
    for (syscall, target, labels, grant, content, from) in calls {
        let input = match from.and_then(|call| outputs.get(call)) {
            Some(&(step, Some(labels))) => kernel.input(labels, content).output_of(step),
            _ => kernel.input(labels.parse().map_err(|e| fail("labels", &e))?, content),
        };
        let inputs = [input];
        let request =
            SyscallRequest { agent: "agent-1", syscall: SyscallKind::parse(syscall), target, inputs: &inputs, grant };
        let decided = kernel.decide(&request).map_err(|e| fail("syscall", &e))?;
        outputs.push((decided.seq, decided.output_labels));
        actions.push(decided.action());
    }
    // What the docs search answered, recorded last (as a tool's late answer would be): an
    // output event linked to the call that allowed it, its content only as a digest.
    let search = actions.get(2).copied().flatten().ok_or("log fixture: the docs search was not allowed")?;
    let output = OutputRecord {
        action: search,
        content: b"dummy search results",
        labels: LabelSet::from_labels(&[Label::Untrusted, Label::External]),
        outcome: Outcome::Ok,
    };
    kernel.record_output(&output).map_err(|e| fail("output", &e))?;
    Ok(kernel.close().map_err(|e| fail("close", &e))?.lines().to_vec())
}

/// One request: syscall, target, input labels, grant, input content, source call.
type Call = (&'static str, &'static str, &'static str, Option<&'static str>, &'static [u8], Option<usize>);

fn join(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// Changes the first deny to an allow and re-seals the chain from there, as an attacker
/// without the key could: only the signed checkpoint after it can tell.
fn flipped(lines: &[String]) -> Result<String, String> {
    let mut events: Vec<EventLine> =
        lines.iter().map(|l| serde_json::from_str(l)).collect::<Result<_, _>>().map_err(|e| e.to_string())?;
    let first_deny = events
        .iter()
        .position(|e| matches!(&e.event, EventBody::Syscall(s) if s.decision == Effect::Deny))
        .ok_or("log fixture: the session has no deny")?;
    if let Some(EventLine { event: EventBody::Syscall(s), .. }) = events.get_mut(first_deny) {
        s.decision = Effect::Allow;
    }
    for i in first_deny..events.len() {
        let prev = match i.checked_sub(1).and_then(|p| events.get(p)) {
            Some(previous) => previous.hash,
            None => Default::default(),
        };
        if let Some(event) = events.get_mut(i) {
            *event = EventLine::seal(event.seq, prev, event.event.clone());
        }
    }
    Ok(events.iter().map(|e| format!("{}\n", e.to_line())).collect())
}

/// The session as a later writer might leave it: version 3 lines with a field this build does
/// not know. Verification must say it is a newer schema, not merely malformed.
fn newer_schema(lines: &[String]) -> String {
    let current = format!("{{\"v\":{},", agentk_flightlog::event::SCHEMA_VERSION);
    let newer = format!("{{\"v\":{},\"ext\":{{}},", agentk_flightlog::event::SCHEMA_VERSION + 1);
    lines.iter().map(|l| format!("{}\n", l.replacen(&current, &newer, 1))).collect()
}

/// Saved checkpoints and proofs cut from the session, and negatives: `(file, contents, exit)`
/// for `verify session.jsonl --checkpoint FILE` and for `verify-proof --proof FILE
/// --checkpoint session.checkpoint.json`.
type Vectors = Vec<(&'static str, String, u8)>;

fn saved_files(lines: &[String], forged: &[String]) -> Result<(Vectors, Vectors), String> {
    use agentk_flightlog::saved::{ProofFile, SavedCheckpoint};
    let fail = |what: &str, e: &dyn std::fmt::Display| format!("saved fixture: {what}: {e}");
    let verified = |lines: &[String]| agentk_flightlog::verify::verify_lines(lines.iter().map(String::as_str));
    let whole = verified(lines).map_err(|e| fail("session", &e))?;
    let latest = SavedCheckpoint::of(&whole).ok_or("saved fixture: the session has no checkpoint")?;
    let other = SavedCheckpoint::of(&verified(forged).map_err(|e| fail("forged", &e))?)
        .ok_or("saved fixture: the forged session has no checkpoint")?;
    // The first checkpoint the session signed: the log has grown since, consistently.
    let first = lines.iter().position(|l| l.contains("\"checkpoint\":")).ok_or("saved fixture: no checkpoint")?;
    let earlier =
        SavedCheckpoint::of(&verified(lines.get(..=first).unwrap_or_default()).map_err(|e| fail("prefix", &e))?)
            .ok_or("saved fixture: the prefix has no checkpoint")?;
    let flip = |hex: &str| -> String {
        let mut chars: Vec<char> = hex.chars().collect();
        if let Some(c) = chars.last_mut() {
            *c = if *c == '0' { '1' } else { '0' };
        }
        chars.into_iter().collect()
    };
    let bad_signature = SavedCheckpoint { signature: flip(&latest.signature), ..latest.clone() };
    let checkpoints: Vectors = vec![
        ("session.checkpoint.json", pretty(&latest), 0),
        ("session-earlier.checkpoint.json", pretty(&earlier), 0),
        ("other-signer.checkpoint.json", pretty(&other), 4),
        ("bad-signature.checkpoint.json", pretty(&bad_signature), 4),
    ];
    let hashes: Vec<agentk_flightlog::event::Hash32> = lines
        .iter()
        .take(usize::try_from(latest.size).unwrap_or(0))
        .map(|l| serde_json::from_str::<EventLine>(l).map(|e| e.hash))
        .collect::<Result<_, _>>()
        .map_err(|e| fail("hashes", &e))?;
    let log_id = agentk_flightlog::event::Hash32::from_hex(&latest.log_id).ok_or("saved fixture: bad log id")?;
    let inclusion = ProofFile::inclusion(&log_id, &hashes, 3).map_err(|e| fail("inclusion", &e))?;
    let consistency = ProofFile::consistency(&log_id, &hashes, earlier.size).map_err(|e| fail("consistency", &e))?;
    let mut bad_path = inclusion.clone();
    if let Some(step) = bad_path.path.first_mut() {
        *step = flip(step);
    }
    let wrong_old_root = ProofFile { old_root: consistency.old_root.as_deref().map(flip), ..consistency.clone() };
    let other_event = ProofFile { index: Some(4), ..inclusion.clone() };
    let proofs: Vectors = vec![
        ("inclusion-proof.json", pretty(&inclusion), 0),
        ("consistency-proof.json", pretty(&consistency), 0),
        ("inclusion-proof-bad-path.json", pretty(&bad_path), 4),
        ("inclusion-proof-other-index.json", pretty(&other_event), 4),
        ("consistency-proof-wrong-old-root.json", pretty(&wrong_old_root), 4),
    ];
    Ok((checkpoints, proofs))
}

/// Pretty JSON, one trailing newline.
fn pretty<T: serde::Serialize>(value: &T) -> String {
    format!("{}\n", serde_json::to_string_pretty(value).unwrap_or_default())
}

/// `(file name, contents)` for every log fixture, `expect.json` included.
pub fn files() -> Result<Vec<(String, String)>, String> {
    let lines = session(&FIXTURE_TEST_KEY)?;
    let whole = join(&lines);
    let mut dropped = lines.clone();
    dropped.remove(2);
    let unsigned_tail = lines.get(..lines.len().saturating_sub(2)).unwrap_or_default();
    let forged = join(&session(&FORGER_TEST_KEY)?);
    let files = vec![
        ("session.jsonl", whole.clone(), 0, 0),
        ("flipped-deny.jsonl", flipped(&lines)?, 4, 4),
        ("dropped-deny.jsonl", join(&dropped), 4, 4),
        ("unsigned-tail.jsonl", join(unsigned_tail), 4, 4),
        ("forged-other-key.jsonl", forged, 0, 4),
        ("torn.jsonl", format!("{whole}{{\"v\":1,\"seq\":"), 4, 4),
        ("newer-schema.jsonl", newer_schema(&lines), 4, 4),
    ];
    let (checkpoints, proofs) = saved_files(&lines, &session(&FORGER_TEST_KEY)?)?;
    let expect = serde_json::json!({
        "comment": "generated by `cargo xtask fixtures`; exit codes of `agentk verify` and of `agentk verify-signatures --trusted-public-key <fixture_test_public_key>` (files); of `agentk verify session.jsonl --checkpoint <file>` (checkpoints); of `agentk verify-proof --proof <file> --checkpoint session.checkpoint.json` (proofs)",
        "fixture_test_public_key": test_key(&FIXTURE_TEST_KEY).public_key().to_hex(),
        "files": files.iter().map(|(name, _, verify, pinned)| {
            ((*name).to_owned(), serde_json::json!({"verify": verify, "verify_signatures": pinned}))
        }).collect::<serde_json::Map<_, _>>(),
        "checkpoints": checkpoints.iter().map(|(name, _, exit)| ((*name).to_owned(), serde_json::json!(exit))).collect::<serde_json::Map<_, _>>(),
        "proofs": proofs.iter().map(|(name, _, exit)| ((*name).to_owned(), serde_json::json!(exit))).collect::<serde_json::Map<_, _>>(),
    });
    let mut out: Vec<(String, String)> = files.into_iter().map(|(name, text, _, _)| (name.to_owned(), text)).collect();
    out.extend(checkpoints.into_iter().chain(proofs).map(|(name, text, _)| (name.to_owned(), text)));
    out.push(("session.salt".to_owned(), format!("{}\n", encode_hex(&SALT))));
    out.push((
        "expect.json".to_owned(),
        format!("{}\n", serde_json::to_string_pretty(&expect).map_err(|e| e.to_string())?),
    ));
    Ok(out)
}

/// The receipt and handle fixtures (`fixtures/receipts/`), cut from the session logs: a
/// receipt, a `secret.open` receipt with its handle, and negatives, each with the exit code
/// `agentk receipt-verify --trusted-public-key <fixture key> --now <time>` must give (handles
/// are checked by the secrets crate's tests against their receipt).
pub fn receipt_files() -> Result<Vec<(String, String)>, String> {
    let events = |lines: &[String]| -> Result<Vec<agentk_flightlog::event::SyscallEvent>, String> {
        let mut out = Vec::new();
        for line in lines {
            let event: EventLine = serde_json::from_str(line).map_err(|e| e.to_string())?;
            if let EventBody::Syscall(s) = event.event {
                out.push(*s);
            }
        }
        Ok(out)
    };
    let written = events(&session(&FIXTURE_TEST_KEY)?)?;
    let forged = events(&session(&FORGER_TEST_KEY)?)?;
    let first_receipt = |events: &[agentk_flightlog::event::SyscallEvent], handle: bool| {
        events
            .iter()
            .find(|e| e.receipt.is_some() && e.handle.is_some() == handle)
            .and_then(|e| Some((e.receipt.clone()?, e.handle.clone())))
            .ok_or("receipt fixture: the session has no such receipt")
    };
    let (receipt, _) = first_receipt(&written, false)?;
    let (secret_receipt, handle) = first_receipt(&written, true)?;
    let handle = handle.ok_or("receipt fixture: no handle")?;
    let (forged_receipt, _) = first_receipt(&forged, false)?;
    let json = |r: &agentk_capability::EncodedReceipt| format!("{}\n", r.to_json());
    // One hex digit changed at `at` (counted from the end) of a hex field.
    let flip = |hex: &str, from_end: usize| -> String {
        let mut chars: Vec<char> = hex.chars().collect();
        let i = chars.len().saturating_sub(from_end + 1);
        if let Some(c) = chars.get_mut(i) {
            *c = if *c == '0' { '1' } else { '0' };
        }
        chars.into_iter().collect()
    };
    let mut body = receipt.clone();
    body.receipt = flip(&body.receipt, 80);
    let mut signature = receipt.clone();
    signature.signature = flip(&signature.signature, 0);
    let mut schema = receipt.clone();
    schema.schema = "agentk.receipt.v9".to_owned();
    let mut tampered_handle = handle.clone();
    tampered_handle.handle = flip(&tampered_handle.handle, 10);
    const ISSUED: u64 = 1_767_225_600;
    // (file, contents, --now, expected exit)
    let cases: Vec<(&str, String, u64, u8)> = vec![
        ("receipt.json", json(&receipt), ISSUED, 0),
        ("receipt-expired.json", json(&receipt), ISSUED + 300, 4),
        ("receipt-tampered-body.json", json(&body), ISSUED, 4),
        ("receipt-tampered-signature.json", json(&signature), ISSUED, 4),
        ("receipt-unknown-schema.json", json(&schema), ISSUED, 4),
        ("receipt-other-key.json", json(&forged_receipt), ISSUED, 4),
        ("secret-open-receipt.json", json(&secret_receipt), ISSUED, 0),
    ];
    let mut expect = serde_json::Map::new();
    let mut out = Vec::new();
    for (name, text, now, exit) in cases {
        let entry = serde_json::json!({"now": now, "exit": exit});
        // `receipt-expired.json` is the valid receipt judged after its expiry.
        expect.insert(name.to_owned(), entry);
        out.push((name.to_owned(), text));
    }
    out.push(("handle.json".to_owned(), format!("{}\n", handle.to_json())));
    out.push(("handle-tampered.json".to_owned(), format!("{}\n", tampered_handle.to_json())));
    let expect = serde_json::json!({
        "comment": "generated by `cargo xtask fixtures`; exit codes of `agentk receipt-verify --receipt <file> --trusted-public-key <fixture_test_public_key> --now <now>`. handle.json verifies against secret-open-receipt.json at now 1767225600; handle-tampered.json does not.",
        "fixture_test_public_key": test_key(&FIXTURE_TEST_KEY).public_key().to_hex(),
        "receipts": expect,
    });
    out.push((
        "expect.json".to_owned(),
        format!("{}\n", serde_json::to_string_pretty(&expect).map_err(|e| e.to_string())?),
    ));
    Ok(out)
}
