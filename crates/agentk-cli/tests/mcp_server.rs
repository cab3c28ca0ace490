//! `agentk mcp-server` (M4) end to end: the stdio shell in-process, the real binary on a
//! scratch directory it must leave untouched, and the real binary under the official MCP SDK
//! clients (TypeScript and Python) that `.ci/peers` installs in `tests/peers`.
//!
//! Without the peers these tests print `skipped: ... run .ci/peers` and pass, unless
//! `AGENTK_REQUIRE_PEERS=1` (as in CI), where they fail.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, reason = "tests fail loudly on purpose")]

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use agentk_cli::exit;
use common::run_bounded;
use serde_json::{Value, json};

const AGENTK: &str = env!("CARGO_BIN_EXE_agentk");

/// The protocol versions, oldest first.
const VERSIONS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

/// A policy of our own (dummy targets): one grant to send to `api.example.invalid`, usable once.
const POLICY: &str = include_str!("../../../tests/peers/policy.toml");

/// A scratch directory holding only `policy.toml`, and that file's path.
fn scratch_with_policy(test: &str) -> (PathBuf, String) {
    let dir = common::scratch(&format!("mcp-server-{test}"));
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, POLICY).unwrap();
    (dir, policy.display().to_string())
}

fn frames(lines: &[Value]) -> Vec<u8> {
    lines.iter().flat_map(|line| format!("{line}\n").into_bytes()).collect()
}

fn initialize(version: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}})
}

fn initialized() -> Value {
    json!({"jsonrpc": "2.0", "method": "notifications/initialized"})
}

fn decide(id: u64, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": "decide", "arguments": arguments}})
}

fn allowed_send() -> Value {
    json!({"syscall": "network.send", "target": "https://api.example.invalid/v1", "grant": "send-api"})
}

fn denied_send() -> Value {
    json!({"syscall": "network.send", "target": "https://api.example.invalid/v1", "grant": "send-api", "labels": ["secret"]})
}

/// Every stdout line, parsed; each must be one JSON-RPC 2.0 message.
fn messages(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|line| {
            let message: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            assert_eq!(message["jsonrpc"], "2.0", "{line}");
            message
        })
        .collect()
}

fn serve(args: &[&str], stdin: Vec<u8>) -> common::Run {
    let mut host = common::TestHost::new(&[]);
    host.stdin = stdin;
    let mut all = vec!["mcp-server"];
    all.extend_from_slice(args);
    common::agentk(&host, &all)
}

#[test]
fn stdout_carries_only_protocol_frames_and_stdin_ending_ends_the_server() {
    let (_dir, policy) = scratch_with_policy("frames");
    let mut stdin = frames(&[
        initialize("2025-06-18"),
        initialized(),
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        decide(2, allowed_send()),
    ]);
    stdin.extend_from_slice(b"\r\n   \nnot json at all \x1b[2J\n");
    // One line over the bound: answered without being held.
    stdin.extend(std::iter::repeat_n(b'x', (4 << 20) + 1));
    stdin.extend_from_slice(b"\n");
    stdin.extend(frames(&[json!({"jsonrpc": "2.0", "id": 3, "method": "ping"})]));
    stdin.extend_from_slice(br#"{"jsonrpc":"2.0","id":4,"method":"ping"}"#); // no final newline
    let run = serve(&["--policy", &policy], stdin);
    assert_eq!(run.code, exit::OK, "{}", run.stderr);
    let answers = messages(&run.stdout);
    let ids: Vec<&Value> = answers.iter().map(|a| &a["id"]).collect();
    assert_eq!(ids, [&json!(0), &json!(1), &json!(2), &Value::Null, &Value::Null, &json!(3), &json!(4)]);
    assert_eq!(answers[0]["result"]["protocolVersion"], "2025-06-18");
    assert_eq!(answers[2]["result"]["structuredContent"]["decision"], "allow");
    assert_eq!(answers[3]["error"]["code"], -32700);
    assert_eq!(answers[4]["error"]["code"], -32600);
    assert!(!run.stdout.contains("xxxx") && !run.stdout.contains('\u{1b}'));
    // One short diagnostic line, naming the policy, repeating no input.
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.starts_with("agentk: mcp-server on stdio: policy `peer-test`"), "{}", run.stderr);
    assert!(!run.stderr.contains("xxxx") && !run.stderr.contains("not json"), "{}", run.stderr);
}

#[test]
fn the_default_policy_is_the_mcp_profile() {
    let check = |args: &[&str], name: &str| {
        let run = serve(args, frames(&[initialize("2025-11-25")]));
        assert_eq!(run.code, exit::OK, "{args:?}: {}", run.stderr);
        let instructions = messages(&run.stdout)[0]["result"]["instructions"].as_str().unwrap().to_owned();
        assert!(instructions.contains(&format!("policy `{name}`")), "{args:?}: {instructions}");
    };
    check(&[], "mcp");
    check(&["--profile", "starter"], "starter");
    check(&["--profile", "mcp"], "mcp");
    let (_dir, policy) = scratch_with_policy("default");
    check(&["--policy", &policy], "peer-test");
    // An empty stdin is a session that ended at once.
    let run = serve(&[], Vec::new());
    assert_eq!((run.code, run.stdout.as_str()), (exit::OK, ""));
}

#[test]
fn a_bad_policy_is_an_error_before_anything_is_served() {
    let run = serve(&["--profile", "nope"], frames(&[initialize("2025-11-25")]));
    assert_eq!(run.code, exit::ERROR);
    assert_eq!(run.stdout, "");
    assert!(run.stderr.contains("agentk: error:"), "{}", run.stderr);
    let run = serve(&["--policy", "/nonexistent/agentk-policy.toml"], Vec::new());
    assert_eq!(run.code, exit::ERROR);
    assert_eq!(run.stdout, "");
    let run = serve(&["--policy", "a.toml", "--profile", "mcp"], Vec::new());
    assert_eq!(run.code, exit::USAGE);
}

/// Every file under `dir`, with its length and modification time.
fn listing(dir: &Path) -> BTreeMap<PathBuf, (u64, SystemTime)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                stack.push(entry.path());
            }
            out.insert(entry.path(), (meta.len(), meta.modified().unwrap()));
        }
    }
    out
}

/// guarantee: M4 (the binary decides an allowed `network.send` and writes nothing: its working
/// directory is unchanged, and the answer holds no receipt)
#[test]
fn m4_the_binary_decides_a_send_without_touching_the_disk() {
    let (dir, policy) = scratch_with_policy("m4-binary");
    let before = listing(&dir);
    let mut command = Command::new(AGENTK);
    command.args(["mcp-server", "--policy", &policy]).current_dir(&dir).env_clear();
    let stdin =
        frames(&[initialize("2025-11-25"), initialized(), decide(1, allowed_send()), decide(2, allowed_send())]);
    let (status, stdout, stderr) = run_bounded(command, &stdin, Duration::from_secs(10));
    assert!(status.success(), "{status}: {stderr}");
    let answers = messages(&stdout);
    assert_eq!(answers.len(), 3);
    assert_eq!(answers[1]["result"]["structuredContent"]["decision"], "allow");
    assert_eq!(answers[1]["result"]["structuredContent"]["rule"], "egress-granted");
    // A grant usable once allows twice: nothing was counted.
    assert_eq!(answers[1]["result"], answers[2]["result"]);
    for word in ["receipt", "signature", "event"] {
        assert!(!stdout.contains(word), "{word} in {stdout}");
    }
    assert_eq!(listing(&dir), before);
}

/// Which official SDK client.
#[derive(Clone, Copy, Debug)]
enum Peer {
    TypeScript,
    Python,
}

fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers")
}

/// The peer's program and script, or `None` (after saying so) when it is not installed and
/// not required.
fn peer(peer: Peer) -> Option<(PathBuf, PathBuf)> {
    let dir = peers_dir();
    let (program, script, installed) = match peer {
        Peer::TypeScript => {
            let node_runs = Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
            let sdk = dir.join("node_modules/@modelcontextprotocol/sdk/package.json").is_file();
            (PathBuf::from("node"), dir.join("decide-client.mjs"), node_runs && sdk)
        }
        Peer::Python => {
            let python = dir.join(".venv/bin/python");
            let installed = python.is_file();
            (python, dir.join("decide_client.py"), installed)
        }
    };
    if installed {
        return Some((program, script));
    }
    let message = format!("the {peer:?} MCP SDK client is not installed in tests/peers: run .ci/peers");
    if std::env::var_os("AGENTK_REQUIRE_PEERS").is_some_and(|v| v == "1") {
        panic!("{message} (AGENTK_REQUIRE_PEERS=1)");
    }
    // Written to the process's stderr, not through the test harness's capture, so a skip shows
    // in every run.
    let _ = writeln!(std::io::stderr(), "skipped: {message}");
    None
}

/// Runs the peer's client script with `plan` against `agentk mcp-server --policy POLICY`,
/// in `dir`, and answers its report.
fn run_peer(program: &Path, script: &Path, plan: &Value, policy: &str, dir: &Path) -> Value {
    let mut command = Command::new(program);
    command.arg(script).arg(plan.to_string()).args([AGENTK, "mcp-server", "--policy", policy]).current_dir(dir);
    let (status, stdout, stderr) = run_bounded(command, b"", Duration::from_secs(20));
    assert!(status.success(), "{status}\nstdout: {stdout}\nstderr: {stderr}");
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}\nstderr: {stderr}"))
}

/// The calls every SDK makes, in order.
fn calls() -> Value {
    json!([
        {"name": "decide", "arguments": allowed_send()},
        {"name": "decide", "arguments": denied_send()},
        {"name": "explain", "arguments": denied_send()},
        {"name": "decide", "arguments": {"target": "https://api.example.invalid/v1"}},
        {"name": "shell", "arguments": {"command": "rm -rf /"}},
    ])
}

/// The structured answer of a call: `structuredContent` from 2025-06-18 on, else the JSON text.
fn report(result: &Value, version: &str) -> Value {
    if version >= "2025-06-18" {
        result["structuredContent"].clone()
    } else {
        assert!(result.get("structuredContent").is_none(), "{result}");
        let content = result["content"].as_array().unwrap();
        serde_json::from_str(content.last().unwrap()["text"].as_str().unwrap()).unwrap()
    }
}

/// Checks what an SDK client saw at `version`.
fn check_session(report_of: &Value, version: &str) {
    let tools = report_of["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["decide", "explain"], "{version}");
    for tool in tools {
        assert_eq!(tool.get("outputSchema").is_some(), version >= "2025-06-18", "{version}: {tool}");
        assert_eq!(tool.get("annotations").is_some(), version >= "2025-03-26", "{version}: {tool}");
        if let Some(annotations) = tool.get("annotations") {
            assert_eq!(annotations["readOnlyHint"], true);
            assert_eq!(annotations["destructiveHint"], false);
        }
    }
    let calls = report_of["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 5, "{version}: {calls:?}");
    let result = |i: usize| calls[i].get("result").unwrap_or_else(|| panic!("{version}: call {i}: {}", calls[i]));

    let allowed = report(result(0), version);
    assert_eq!(result(0)["isError"], false);
    assert_eq!((allowed["decision"].as_str(), allowed["rule"].as_str()), (Some("allow"), Some("egress-granted")));
    assert_eq!(allowed["output_labels"], json!(["untrusted", "external"]));
    assert_eq!(allowed["policy"], "peer-test");

    let denied = report(result(1), version);
    assert_eq!(result(1)["isError"], false, "a deny is an answer, not an error");
    assert_eq!((denied["decision"].as_str(), denied["rule"].as_str()), (Some("deny"), Some("egress-sensitive-data")));
    assert_eq!(denied["reason"], "secret or private data may not leave the agent");
    assert_eq!(denied["remedy"]["remedy"], "declassify");

    let explained = result(2)["content"][0]["text"].as_str().unwrap();
    assert!(explained.starts_with("deny by rule `egress-sensitive-data`"), "{version}: {explained}");
    assert!(explained.contains("to allow:"), "{version}: {explained}");

    assert_eq!(result(3)["isError"], true, "{version}");
    let problem = result(3)["content"][0]["text"].as_str().unwrap();
    assert!(problem.contains("argument `syscall` is required"), "{problem}");

    let unknown = calls[4].get("error").unwrap_or_else(|| panic!("{version}: {}", calls[4]));
    assert!(unknown.to_string().contains("unknown tool `shell`"), "{unknown}");
}

#[test]
fn typescript_sdk_client_decides_at_every_protocol_version() {
    let Some((node, script)) = peer(Peer::TypeScript) else { return };
    let (dir, policy) = scratch_with_policy("typescript");
    let before = listing(&dir);
    for version in VERSIONS.map(Some).into_iter().chain([None]) {
        let plan = json!({"version": version, "calls": calls()});
        let seen = run_peer(&node, &script, &plan, &policy, &dir);
        let negotiated = version.unwrap_or("2025-11-25");
        assert_eq!(seen["negotiated"], negotiated, "{seen}");
        assert_eq!(seen["serverVersion"]["name"], "agentk");
        assert_eq!(seen["capabilities"], json!({"tools": {}}));
        assert!(seen["instructions"].as_str().unwrap().contains("policy `peer-test`"));
        check_session(&seen, negotiated);
    }
    assert_eq!(listing(&dir), before, "M4: the server wrote nothing");
}

#[test]
fn python_sdk_client_decides_after_probing_and_with_the_handshake() {
    let Some((python, script)) = peer(Peer::Python) else { return };
    let (dir, policy) = scratch_with_policy("python");
    let before = listing(&dir);
    // `auto` probes the 2026-07-28 era's `server/discover` first, is told the method does not
    // exist, and falls back to initialize; `legacy` starts with initialize.
    for mode in ["auto", "legacy"] {
        let plan = json!({"mode": mode, "calls": calls()});
        let seen = run_peer(&python, &script, &plan, &policy, &dir);
        assert_eq!(seen["negotiated"], "2025-11-25", "{mode}: {seen}");
        assert_eq!(seen["serverInfo"]["name"], "agentk");
        check_session(&seen, "2025-11-25");
    }
    assert_eq!(listing(&dir), before, "M4: the server wrote nothing");
}
