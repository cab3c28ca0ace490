//! `agentk mcp-lines` and `agentk mcp-pins` end to end, on a hermetic host: a recorded MCP
//! transcript is mediated into decision lines and a verified flight log; bad lines get error
//! lines and the run goes on; content never reaches the log or the summary.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on purpose"
)]

mod common;

use std::path::{Path, PathBuf};

use common::{Run, TestHost, agentk, scratch};
use serde_json::{Value, json};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/mcp/transcripts").join(name)).unwrap()
}

/// Runs `mcp-lines` over `input` with a fresh log directory; answers the run and the log.
fn mediate(test: &str, input: Vec<u8>, extra: &[&str]) -> (Run, PathBuf) {
    let dir = scratch(test);
    let logs = dir.join("runs");
    let mut host = TestHost::new(&[]);
    host.stdin = input;
    let mut args = vec!["mcp-lines", "--server-id", "example", "--log-dir", logs.to_str().unwrap()];
    args.extend_from_slice(extra);
    let run = agentk(&host, &args);
    let log = std::fs::read_dir(&logs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .expect("a log was written");
    (run, log)
}

fn lines(stdout: &str) -> Vec<Value> {
    stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn verified(log: &Path) {
    let run = agentk(&TestHost::new(&[]), &["verify", log.to_str().unwrap(), "--json"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["verified"], true);
}

// guarantee: M1 (every message of a transcript is decided and recorded; a call is decided as
// tool.invoke of mcp://SERVER/TOOL; the log verifies and is closed with a checkpoint)
#[test]
fn a_transcript_is_mediated_line_by_line() {
    let (run, log) = mediate("mcp-lines-echo", fixture("echo-session.jsonl"), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!("mcp_lines_echo_session", run.stdout);
    let out = lines(&run.stdout);
    let calls: Vec<(u64, &str, &str)> = out
        .iter()
        .filter(|l| l["syscall"] == "tool.invoke")
        .map(|l| (l["line"].as_u64().unwrap(), l["decision"].as_str().unwrap(), l["rule"].as_str().unwrap()))
        .collect();
    assert_eq!(
        calls,
        [(6, "allow", "mcp-invoke-classified"), (8, "deny", "mcp-sensitive-to-open-world"), (9, "deny", "withheld")]
    );
    assert!(out.iter().filter(|l| l.get("schema").is_some()).all(|l| l["schema"] == "agentk.mcp-decision.v1"));
    assert!(run.stderr.starts_with("agentk: mcp-lines: "), "{}", run.stderr);
    verified(&log);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.lines().last().unwrap().contains("\"checkpoint\""), "the log ends with a signed checkpoint");
}

// guarantee: M2 (a poisoned descriptor is withheld and its calls denied; a descriptor changed
// after list_changed is withheld), and the operator's pin accepts the change
#[test]
fn poisoned_and_changed_descriptors_are_withheld() {
    let (run, _) = mediate("mcp-lines-poisoned", fixture("poisoned-session.jsonl"), &[]);
    let out = lines(&run.stdout);
    let denied: Vec<(u64, &str)> = out
        .iter()
        .filter(|l| l["decision"] == "deny")
        .map(|l| (l["line"].as_u64().unwrap(), l["target"].as_str().unwrap()))
        .collect();
    assert_eq!(
        denied,
        [
            (5, "mcp://example/weather"),
            (6, "mcp://example/weather"),
            (10, "mcp://example/echo"),
            (11, "mcp://example/echo")
        ]
    );
    assert!(!run.stdout.contains("credentials") && !run.stdout.contains("collect.example.invalid"));
}

#[test]
fn the_operators_pins_decide_and_mcp_pins_accepts() {
    let dir = scratch("mcp-pins");
    let pins = dir.join("pins.json");
    let changed =
        json!({"name":"echo","description":"Echoes back the input string, twice","inputSchema":{"type":"object"}});
    let digest = agentk_mcp::pins::digest(&changed).to_string();
    let other = "ab".repeat(32);
    std::fs::write(
        &pins,
        json!({"schema":"agentk.mcp-pins.v1","servers":{"example":{"echo":{"accepted":other,"offered":{"digest":digest,"why":"the descriptor changed since it was accepted"}}}}})
            .to_string(),
    )
    .unwrap();
    let transcript = [
        json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}),
        json!({"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-11-25","capabilities":{},"serverInfo":{"name":"s","version":"1"}}}),
        json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
        json!({"jsonrpc":"2.0","id":2,"method":"tools/list"}),
        json!({"jsonrpc":"2.0","id":2,"result":{"tools":[changed]}}),
    ]
    .iter()
    .map(|m| format!("{m}\n"))
    .collect::<String>();
    let describe = |run: &Run| {
        lines(&run.stdout).into_iter().find(|l| l["target"] == "mcp://example/echo").unwrap()["decision"].clone()
    };
    let (before, _) = mediate("mcp-pins-before", transcript.clone().into_bytes(), &["--pins", pins.to_str().unwrap()]);
    assert_eq!(describe(&before), "deny", "a descriptor that differs from the operator's pin is withheld");
    let host = TestHost::new(&[]);
    let listed = agentk(&host, &["mcp-pins", "--pins", pins.to_str().unwrap()]);
    assert!(listed.stdout.contains("withheld") && listed.stdout.contains("--accept example/echo"), "{}", listed.stdout);
    let accepted = agentk(&host, &["mcp-pins", "--pins", pins.to_str().unwrap(), "--accept", "example/echo", "--json"]);
    assert_eq!(accepted.code, 0, "{}", accepted.stderr);
    let report: Value = serde_json::from_str(&accepted.stdout).unwrap();
    assert_eq!(report["schema"], "agentk.mcp-pins-report.v1");
    assert_eq!(report["servers"]["example"]["echo"]["accepted"], digest.as_str());
    let (after, _) = mediate("mcp-pins-after", transcript.into_bytes(), &["--pins", pins.to_str().unwrap()]);
    assert_eq!(describe(&after), "allow", "the accepted descriptor passes");
    let again = agentk(&host, &["mcp-pins", "--pins", pins.to_str().unwrap(), "--accept", "example/echo"]);
    assert_ne!(again.code, 0, "nothing waits any more");
}

// Bad input is the normal case: each bad line gets one error line, blank lines are skipped, an
// oversized line is never held whole, and the run goes on.
#[test]
fn bad_lines_get_error_lines_and_the_run_goes_on() {
    let mut input = Vec::new();
    input.extend_from_slice(b"{not json\n\n   \n");
    input.extend_from_slice(b"[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]\n");
    input.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":2}\n");
    input.push(b'"');
    input.extend(std::iter::repeat_n(b'x', 5 << 20));
    input.extend_from_slice(b"\"\n");
    input.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"}\n");
    let (run, log) = mediate("mcp-lines-bad", input, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = lines(&run.stdout);
    let errors: Vec<(u64, Option<i64>)> = out
        .iter()
        .filter(|l| l.get("error").is_some())
        .map(|l| (l["line"].as_u64().unwrap(), l["error"]["code"].as_i64()))
        .collect();
    assert_eq!(errors, [(1, Some(-32700)), (4, Some(-32600)), (5, Some(-32600)), (6, Some(-32600))]);
    assert_eq!(out.last().unwrap()["line"], 7, "the ping after the bad lines is mediated: {out:?}");
    assert_eq!(out.last().unwrap()["method"], "ping");
    verified(&log);
}

// A canary in arguments, results, descriptors, errors and ids appears in no log line, on no
// stderr line, and in no decision line.
#[test]
fn content_never_reaches_the_log_or_the_summary() {
    const CANARY: &str = "CANARY-91c4-dummy";
    let transcript = [
        json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":CANARY,"version":"1"}}}),
        json!({"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-06-18","capabilities":{},"serverInfo":{"name":CANARY,"version":"1"},"instructions":CANARY}}),
        json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
        json!({"jsonrpc":"2.0","id":2,"method":"tools/list"}),
        json!({"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"echo","description":format!("Echoes {CANARY}"),"inputSchema":{"type":"object","properties":{"m":{"type":"string","description":CANARY}}}}]}}),
        json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"m":CANARY}}}),
        json!({"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":CANARY}],"isError":true}}),
        json!({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo","arguments":{"m":CANARY}}}),
        json!({"jsonrpc":"2.0","id":4,"error":{"code":-32000,"message":CANARY,"data":CANARY}}),
        json!({"jsonrpc":"2.0","id":5,"method":"resources/read","params":{"uri":"file:///example.invalid/a"}}),
        json!({"jsonrpc":"2.0","id":5,"result":{"contents":[{"uri":"file:///example.invalid/a","text":CANARY}]}}),
    ]
    .iter()
    .map(|m| format!("{m}\n"))
    .chain([format!("{{\"oops\": \"{CANARY}\"\n")])
    .collect::<String>();
    let (run, log) = mediate("mcp-lines-canary", transcript.into_bytes(), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("\"output\""), "the answers were recorded");
    assert!(!text.contains("CANARY"), "content reached the log");
    assert!(!run.stderr.contains("CANARY"), "content reached stderr");
    assert!(!run.stdout.contains("CANARY"), "content reached a decision line");
}

#[test]
fn a_bad_server_id_is_refused_before_anything_is_written() {
    let dir = scratch("mcp-lines-bad-id");
    let logs = dir.join("runs");
    let run = agentk(&TestHost::new(&[]), &["mcp-lines", "--server-id", "a/b", "--log-dir", logs.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(!logs.exists());
}
