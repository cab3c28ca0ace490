//! `agentk demo mcp`: the poisoned inbox and payment, directly and through AgentK, side by side
//! (A2: no network, no files, `example.invalid` only, the same output every run).
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, reason = "tests")]

use serde_json::Value;

mod common;

fn in_process(args: &[&str]) -> common::Run {
    common::agentk(&common::TestHost::new(&[]), args)
}

/// Runs the real binary in an empty directory with an empty environment.
fn binary(args: &[&str]) -> (std::process::Output, std::path::PathBuf) {
    let dir = common::scratch("demo-mcp");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_agentk"))
        .args(args)
        .current_dir(&dir)
        .env_clear()
        .output()
        .unwrap();
    (output, dir)
}

/// The calls of one side, by who made them: (user's, attacker's).
fn by_who(report: &Value) -> (Vec<&Value>, Vec<&Value>) {
    let calls = report["calls"].as_array().unwrap();
    calls.iter().partition(|c| c["who"] == "user")
}

#[test]
fn the_binary_shows_the_attack_denied_and_the_users_work_done() {
    let (output, dir) = binary(&["demo", "mcp", "--json"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.stderr.is_empty());
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["schema"], "agentk.demo-mcp.v1");
    assert_eq!(report["policy"], "mcp");
    let (user, attacker) = by_who(&report);
    let tools = |calls: &[&Value]| calls.iter().map(|c| c["tool"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    // The user's own mail and payment, and the attacker's: one of each at least.
    for calls in [&user, &attacker] {
        assert!(tools(calls).contains(&"send_email".to_owned()) && tools(calls).contains(&"pay_invoice".to_owned()));
    }
    for call in &user {
        assert_eq!(
            (&call["direct"]["reached"], &call["through"]["reached"]),
            (&Value::Bool(true), &Value::Bool(true)),
            "{call}"
        );
    }
    for call in &attacker {
        assert_eq!(call["direct"]["reached"], true, "directly, the attack works: {call}");
        assert_eq!(call["through"]["reached"], false, "through AgentK, it is denied: {call}");
        assert_eq!(call["through"]["made"], true, "the agent did try it");
        assert!(!call["through"]["rule"].as_str().unwrap().is_empty(), "{call}");
        assert!(!call["through"]["reason"].as_str().unwrap().is_empty(), "{call}");
    }
    assert_eq!(report["through"]["attacker_reached"], 0);
    assert_eq!(report["through"]["user_reached"], report["through"]["user_calls"]);
    assert_eq!(report["direct"]["reached"], report["direct"]["calls"]);
    assert_eq!(report["log"]["verified"], true);
    assert!(report["log"]["events"].as_u64().unwrap() > 0);
    // A2: nothing written, only example.invalid names.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "the demo wrote no files");
    let text = String::from_utf8(output.stdout).unwrap();
    for word in text.split(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '>') {
        if let Some(at) = word.find('@') {
            assert!(word[at..].contains(".example.invalid"), "{word}");
        }
    }
}

#[test]
fn the_text_shows_both_runs_side_by_side_and_is_deterministic() {
    let run = in_process(&["demo", "mcp"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stderr, "");
    let rows: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with(|c: char| c.is_ascii_digit())).collect();
    assert_eq!(rows.len(), 6, "{}", run.stdout);
    for row in &rows {
        let cells: Vec<&str> = row.split_whitespace().collect();
        match cells[1] {
            "user" => assert_eq!(&cells[3..], ["reached", "reached"], "{row}"),
            "attacker" => {
                assert_eq!(cells[3], "reached", "{row}");
                assert!(row.contains("denied by rule `"), "{row}");
            }
            other => panic!("who is {other}?"),
        }
    }
    assert!(
        run.stdout.contains("Through AgentK, 4 of the user's 4 calls and 0 of the attacker's 2 reached the server.")
    );
    assert_eq!(in_process(&["demo", "mcp"]).stdout, run.stdout, "the same every run");
}

#[test]
fn the_demo_argument_is_checked_and_the_policy_is_the_users_choice() {
    let wrong = in_process(&["demo", "nonsense"]);
    assert_eq!(wrong.code, 2);
    assert!(wrong.stderr.starts_with("agentk: error:"), "{}", wrong.stderr);
    // Another policy decides instead: `starter` grants no MCP tools, so nothing reaches the
    // server through AgentK.
    let starter = in_process(&["demo", "mcp", "--profile", "starter", "--json"]);
    assert_eq!(starter.code, 0, "{}", starter.stderr);
    let report: Value = serde_json::from_str(&starter.stdout).unwrap();
    assert_eq!(report["policy"], "starter");
    assert_eq!(report["through"]["attacker_reached"], 0);
}
