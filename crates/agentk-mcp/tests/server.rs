//! The MCP decision server (M4), sans-IO: every protocol version's handshake and tool shapes,
//! `decide` and `explain` answering exactly what `agentk policy-explain` answers, bad arguments
//! and bad frames refused without echoing them, and nothing consumed or recorded by a decision.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, reason = "tests fail loudly on purpose")]

use agentk_labels::SyscallKind;
use agentk_mcp::frame::{INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR};
use agentk_mcp::server::{DecisionServer, LATEST};
use agentk_mcp::session::{HANDSHAKE_VERSIONS as VERSIONS, NOT_INITIALIZED};
use agentk_policy::{Policy, Profile, Request};
use proptest::prelude::*;
use serde_json::{Value, json};

/// A policy of our own, so rule ids here do not move with the built-in profiles (shared with
/// the CLI's tests under the SDK clients). Its one grant may be used once: deciding with it
/// twice must still allow twice (nothing is counted).
const POLICY: &str = include_str!("../../../tests/peers/policy.toml");

fn policy() -> Policy {
    Policy::parse("policy.toml", POLICY).unwrap()
}

fn fresh() -> DecisionServer {
    DecisionServer::new(policy(), "policy.toml")
}

/// Every answer to one frame, parsed.
fn send(server: &mut DecisionServer, frame: &str) -> Vec<Value> {
    server.handle(frame.as_bytes()).iter().map(|answer| serde_json::from_slice(answer).unwrap()).collect()
}

/// The single answer to one frame.
fn answer(server: &mut DecisionServer, frame: &str) -> Value {
    let mut answers = send(server, frame);
    assert_eq!(answers.len(), 1, "{frame}: {answers:?}");
    answers.remove(0)
}

fn initialize(server: &mut DecisionServer, version: &str) -> Value {
    let frame = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}});
    let answer = answer(server, &frame.to_string());
    assert!(send(server, r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).is_empty());
    answer
}

fn ready(version: &str) -> DecisionServer {
    let mut server = fresh();
    initialize(&mut server, version);
    server
}

/// The result of calling `tool` with `arguments`.
fn call(server: &mut DecisionServer, tool: &str, arguments: Value) -> Value {
    let frame =
        json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": tool, "arguments": arguments}});
    let answer = answer(server, &frame.to_string());
    assert_eq!(answer["id"], 7);
    answer.get("result").cloned().unwrap_or_else(|| panic!("not a result: {answer}"))
}

/// The structured answer of a call: `structuredContent` where the version has it, else the
/// JSON text content.
fn structured(server: &DecisionServer, result: &Value) -> Value {
    if server.version().unwrap() >= "2025-06-18" {
        result["structuredContent"].clone()
    } else {
        let texts = result["content"].as_array().unwrap();
        serde_json::from_str(texts.last().unwrap()["text"].as_str().unwrap()).unwrap()
    }
}

fn check_error(answer: &Value, id: Value, code: i64) {
    assert_eq!(answer["jsonrpc"], "2.0", "{answer}");
    assert_eq!(answer["id"], id, "{answer}");
    assert_eq!(answer["error"]["code"], code, "{answer}");
}

fn check_initialize(requested: &str, answered: &str) {
    let mut server = fresh();
    let answer = initialize(&mut server, requested);
    let result = &answer["result"];
    assert_eq!(result["protocolVersion"], answered, "{requested}");
    assert_eq!(server.version(), Some(answered));
    assert_eq!(result["capabilities"], json!({"tools": {}}));
    assert_eq!(result["serverInfo"]["name"], "agentk");
    assert_eq!(result["serverInfo"]["version"], env!("CARGO_PKG_VERSION"));
    let instructions = result["instructions"].as_str().unwrap();
    assert!(instructions.contains("`peer-test`") && instructions.contains("nothing is executed"), "{instructions}");
}

#[test]
fn each_version_is_answered_as_asked_and_any_other_with_the_latest() {
    assert_eq!(VERSIONS.last(), Some(&LATEST));
    for version in VERSIONS {
        check_initialize(version, version);
    }
    check_initialize("2026-07-28", LATEST);
    check_initialize("1999-01-01", LATEST);
    check_initialize("", LATEST);
}

#[test]
fn initialize_needs_a_version_and_happens_once() {
    let mut server = fresh();
    let no_version = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}"#;
    check_error(&answer(&mut server, no_version), json!(1), INVALID_PARAMS);
    check_error(&answer(&mut server, r#"{"jsonrpc":"2.0","id":2,"method":"initialize"}"#), json!(2), INVALID_PARAMS);
    assert_eq!(server.version(), None);
    initialize(&mut server, "2025-06-18");
    let again = r#"{"jsonrpc":"2.0","id":3,"method":"initialize","params":{"protocolVersion":"2024-11-05"}}"#;
    check_error(&answer(&mut server, again), json!(3), INVALID_REQUEST);
    assert_eq!(server.version(), Some("2025-06-18"));
}

#[test]
fn requests_before_initialize_are_refused_but_ping() {
    let mut server = fresh();
    check_error(&answer(&mut server, r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#), json!(1), NOT_INITIALIZED);
    let call = r#"{"jsonrpc":"2.0","id":"c","method":"tools/call","params":{"name":"decide","arguments":{"syscall":"context.read","target":"x"}}}"#;
    check_error(&answer(&mut server, call), json!("c"), NOT_INITIALIZED);
    // The 2026-07-28 era's probe is a method this server does not have, in any phase: a client
    // that probes falls back to initialize.
    let discover = r#"{"jsonrpc":"2.0","id":2,"method":"server/discover","params":{}}"#;
    check_error(&answer(&mut server, discover), json!(2), METHOD_NOT_FOUND);
    assert_eq!(answer(&mut server, r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#)["result"], json!({}));
}

#[test]
fn other_methods_are_not_found_and_notifications_and_answers_get_nothing() {
    let mut server = ready(LATEST);
    for method in ["resources/list", "prompts/get", "sampling/createMessage", "logging/setLevel", "tools/decide"] {
        let frame = json!({"jsonrpc": "2.0", "id": 9, "method": method, "params": {}}).to_string();
        check_error(&answer(&mut server, &frame), json!(9), METHOD_NOT_FOUND);
    }
    for frame in [
        r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}"#,
        r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"decide"}}"#,
        r#"{"jsonrpc":"2.0","id":5,"result":{}}"#,
        r#"{"jsonrpc":"2.0","id":6,"error":{"code":-1,"message":"no"}}"#,
    ] {
        assert!(send(&mut server, frame).is_empty(), "{frame}");
    }
    assert_eq!(answer(&mut server, r#"{"jsonrpc":"2.0","id":"p","method":"ping"}"#)["id"], "p");
}

#[test]
fn malformed_frames_get_the_frame_error_and_the_session_goes_on() {
    let mut server = ready(LATEST);
    check_error(&answer(&mut server, "garbage"), Value::Null, PARSE_ERROR);
    check_error(&answer(&mut server, r#"{"jsonrpc":"2.0","id":1,"method":"ping""#), Value::Null, PARSE_ERROR);
    check_error(&answer(&mut server, r#"{"jsonrpc":"1.0","id":4,"method":"ping"}"#), json!(4), INVALID_REQUEST);
    check_error(
        &answer(&mut server, r#"{"jsonrpc":"2.0","id":5,"method":"ping","method":"tools/list"}"#),
        json!(5),
        INVALID_REQUEST,
    );
    check_error(&answer(&mut server, "[]"), Value::Null, INVALID_REQUEST);
    check_error(&answer(&mut server, "42"), Value::Null, INVALID_REQUEST);
    let deep = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{}{}}}"#, "[".repeat(100), "]".repeat(100));
    check_error(&answer(&mut server, &deep), Value::Null, INVALID_REQUEST);
    let huge = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"x":"{}"}}}}"#, "a".repeat(5 << 20));
    check_error(&answer(&mut server, &huge), Value::Null, INVALID_REQUEST);
    let too_long: Value = serde_json::from_slice(&DecisionServer::line_too_long(16)).unwrap();
    check_error(&too_long, Value::Null, INVALID_REQUEST);
    assert_eq!(answer(&mut server, r#"{"jsonrpc":"2.0","id":8,"method":"ping"}"#)["result"], json!({}));
}

#[test]
fn batches_are_answered_only_in_2025_03_26() {
    let batch = r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"decide","arguments":{"syscall":"context.read","target":"doc://example.invalid/a"}}},{"jsonrpc":"2.0","id":3,"method":"initialize","params":{"protocolVersion":"2025-03-26"}}]"#;
    let mut server = ready("2025-03-26");
    let answers = answer(&mut server, batch);
    let answers = answers.as_array().unwrap();
    assert_eq!(answers.len(), 3, "{answers:?}");
    assert_eq!(answers[0]["id"], 1);
    assert_eq!(structured(&server, &answers[1]["result"])["decision"], "allow");
    check_error(&answers[2], json!(3), INVALID_REQUEST);
    assert!(send(&mut server, r#"[{"jsonrpc":"2.0","method":"notifications/initialized"}]"#).is_empty());
    for version in ["2024-11-05", "2025-06-18", "2025-11-25"] {
        check_error(&answer(&mut ready(version), batch), Value::Null, INVALID_REQUEST);
    }
    check_error(&answer(&mut fresh(), batch), Value::Null, INVALID_REQUEST);
}

fn tool_names(tools: &Value) -> Vec<&str> {
    tools.as_array().unwrap().iter().map(|tool| tool["name"].as_str().unwrap()).collect()
}

fn check_tools(version: &str, keys: &[&str]) {
    let mut server = ready(version);
    let answer = answer(&mut server, r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#);
    let tools = &answer["result"]["tools"];
    assert_eq!(tool_names(tools), ["decide", "explain"], "{version}");
    for tool in tools.as_array().unwrap() {
        let mut found: Vec<&str> = tool.as_object().unwrap().keys().map(String::as_str).collect();
        found.sort_unstable();
        assert_eq!(found, keys, "{version}");
        let input = &tool["inputSchema"];
        assert_eq!(input["type"], "object");
        assert_eq!(input["required"], json!(["syscall", "target"]));
        assert_eq!(input["additionalProperties"], false);
        if let Some(annotations) = tool.get("annotations") {
            assert_eq!(annotations["readOnlyHint"], true);
            assert_eq!(annotations["destructiveHint"], false);
            assert_eq!(annotations["openWorldHint"], false);
        }
        if let Some(output) = tool.get("outputSchema") {
            assert_eq!(output["type"], "object");
            assert_eq!(output["properties"]["schema"]["const"], "agentk.policy-explain.v1");
        }
    }
}

/// guarantee: M4 (the only tools are the two that decide; every version says they are read-only)
#[test]
fn m4_only_decide_and_explain_are_offered_shaped_per_version() {
    check_tools("2024-11-05", &["description", "inputSchema", "name"]);
    check_tools("2025-03-26", &["annotations", "description", "inputSchema", "name"]);
    for version in ["2025-06-18", "2025-11-25"] {
        check_tools(version, &["annotations", "description", "inputSchema", "name", "outputSchema", "title"]);
    }
}

/// What `agentk policy-explain --json` would print for the same question.
fn policy_explain(policy: &Policy, arguments: &Value) -> Value {
    let text = |key: &str| arguments.get(key).and_then(Value::as_str);
    let labels = arguments
        .get("labels")
        .and_then(Value::as_array)
        .map_or(String::new(), |labels| labels.iter().map(|l| l.as_str().unwrap()).collect::<Vec<_>>().join(","));
    let agent = text("agent").unwrap_or("agent");
    let mut request = Request::new(agent, SyscallKind::parse(text("syscall").unwrap()), text("target").unwrap())
        .with_labels(labels.parse().unwrap());
    if let Some(grant) = text("grant") {
        request = request.presenting(grant);
    }
    let explanation = policy.evaluate(&request).explain(&request);
    serde_json::to_value(agentk_replay::schema::DecisionReport {
        schema: agentk_replay::schema::POLICY_EXPLAIN,
        policy: policy.name(),
        explanation: &explanation,
    })
    .unwrap()
}

/// Decides `arguments` at every version and checks the answer is the CLI's report, with the
/// expected decision and rule; returns it.
fn check_decide(arguments: Value, decision: &str, rule: &str) -> Value {
    let mut last = Value::Null;
    for version in VERSIONS {
        let mut server = ready(version);
        let result = call(&mut server, "decide", arguments.clone());
        assert_eq!(result["isError"], false, "{result}");
        let report = structured(&server, &result);
        assert_eq!(report, policy_explain(&policy(), &arguments), "{version}");
        assert_eq!(report["decision"], decision, "{arguments}");
        assert_eq!(report["rule"], rule, "{arguments}");
        assert!(report["reason"].as_str().is_some_and(|r| !r.is_empty()));
        // The text content is the same report, as JSON, in every version.
        let text: Value = serde_json::from_str(result["content"][0]["text"].as_str().unwrap()).unwrap();
        assert_eq!(text, report);
        assert_eq!(result.get("structuredContent").is_some(), version >= "2025-06-18", "{version}");
        last = report;
    }
    last
}

#[test]
fn decide_answers_the_rule_the_reason_and_what_would_allow_it() {
    let allowed = check_decide(
        json!({"syscall": "network.send", "target": "https://api.example.invalid/v1", "grant": "send-api", "labels": ["untrusted"]}),
        "allow",
        "egress-granted",
    );
    assert_eq!(allowed["output_labels"], json!(["untrusted", "external"]));
    assert_eq!(allowed["capability"], json!({"status": "covering", "grant": "send-api"}));
    assert!(allowed.get("remedy").is_none());

    let no_grant = check_decide(
        json!({"syscall": "network.send", "target": "https://api.example.invalid/v1"}),
        "deny",
        "egress-needs-grant",
    );
    assert_eq!(
        no_grant["remedy"],
        json!({"remedy": "present-grant", "grant": "send-api", "allowing_rule": "egress-granted"})
    );

    let secret = check_decide(
        json!({"syscall": "network.send", "target": "https://api.example.invalid/v1", "grant": "send-api", "labels": ["secret", "trusted"], "agent": "agent-7"}),
        "deny",
        "egress-sensitive-data",
    );
    assert_eq!(secret["remedy"]["remedy"], "declassify");
    assert_eq!(secret["remedy"]["labels"], json!(["secret"]));
    assert_eq!(secret["agent"], "agent-7");

    let other = check_decide(
        json!({"syscall": "network.send", "target": "https://evil.example.invalid/", "grant": "send-api"}),
        "deny",
        "egress-needs-grant",
    );
    assert_eq!(other["capability"]["status"], "not-covering");

    check_decide(
        json!({"syscall": "context.read", "target": "doc://example.invalid/a", "labels": []}),
        "allow",
        "observe",
    );
    let unknown = check_decide(json!({"syscall": "kernel.reboot", "target": "now"}), "deny", "default-deny");
    assert_eq!(unknown["remedy"]["remedy"], "unknown-syscall");
    check_decide(
        json!({"syscall": "network.send", "target": "x", "grant": "no-such-grant", "agent": null}),
        "deny",
        "egress-needs-grant",
    );
}

#[test]
fn explain_says_it_in_words_with_the_same_report() {
    let arguments =
        json!({"syscall": "network.send", "target": "https://api.example.invalid/v1", "labels": ["private"]});
    for version in VERSIONS {
        let mut server = ready(version);
        let result = call(&mut server, "explain", arguments.clone());
        assert_eq!(result["isError"], false);
        let text = result["content"][0]["text"].as_str().unwrap();
        assert!(text.starts_with("deny by rule `egress-sensitive-data`: secret or private data"), "{text}");
        assert!(text.contains("to allow: no grant alone helps"), "{text}");
        let mut report = structured(&server, &result);
        if version >= "2025-06-18" {
            assert_eq!(result["content"].as_array().unwrap().len(), 1);
            assert_eq!(report["text"], text);
        } else {
            assert_eq!(result["content"].as_array().unwrap().len(), 2);
        }
        report.as_object_mut().unwrap().remove("text");
        assert_eq!(report, policy_explain(&policy(), &arguments), "{version}");
    }
}

/// A bad call is an `isError` result whose text is short and holds no control character.
fn check_bad_arguments(arguments: Value, expected: &str) {
    let mut server = ready(LATEST);
    let result = call(&mut server, "decide", arguments.clone());
    assert_eq!(result["isError"], true, "{arguments}");
    assert!(result.get("structuredContent").is_none());
    let text = result["content"][0]["text"].as_str().unwrap();
    assert!(text.contains(expected), "{text}");
    assert!(text.len() < 200, "{text}");
    assert!(!text.chars().any(char::is_control), "{text:?}");
    let result = call(&mut server, "explain", arguments);
    assert_eq!(result["isError"], true);
}

#[test]
fn bad_arguments_are_a_tool_error_that_never_echoes_them() {
    let hostile = format!("\u{1b}[2J\u{202e}{}", "A".repeat(10_000));
    check_bad_arguments(json!({"target": "x"}), "argument `syscall` is required");
    check_bad_arguments(json!({"syscall": "network.send"}), "argument `target` is required");
    check_bad_arguments(json!({"syscall": 1, "target": "x"}), "argument `syscall` must be a string");
    check_bad_arguments(json!({"syscall": "a", "target": ["x"]}), "argument `target` must be a string");
    check_bad_arguments(json!({"syscall": "a", "target": "x", "agent": {}}), "argument `agent` must be a string");
    check_bad_arguments(json!({"syscall": "a", "target": "x", "grant": false}), "argument `grant` must be a string");
    check_bad_arguments(
        json!({"syscall": "a", "target": "x", "labels": "secret"}),
        "`labels` must be an array of label names",
    );
    check_bad_arguments(
        json!({"syscall": "a", "target": "x", "labels": [1]}),
        "`labels` must be an array of label names",
    );
    check_bad_arguments(
        json!({"syscall": "a", "target": "x", "labels": ["secret", "sekret"]}),
        "unknown label `sekret`",
    );
    check_bad_arguments(
        json!({"syscall": "a", "target": "x", "labels": [hostile.get(..20).unwrap()]}),
        "unknown label",
    );
    check_bad_arguments(
        json!({"syscall": "a", "target": "x", "labels": [hostile]}),
        "argument `labels` is longer than 32",
    );
    check_bad_arguments(json!({"syscall": "a", "target": "x", "labels": vec!["secret"; 17]}), "more than 16 entries");
    check_bad_arguments(json!({"syscall": "a", "target": hostile}), "argument `target` is longer than 4096 characters");
    check_bad_arguments(json!({"syscall": hostile, "target": "x"}), "argument `syscall` is longer than 128");
    check_bad_arguments(
        json!({"syscall": "a", "target": "x", "agent": hostile}),
        "argument `agent` is longer than 256",
    );
    check_bad_arguments(
        json!({"syscall": "a", "target": "x", "grant": hostile}),
        "argument `grant` is longer than 256",
    );
    check_bad_arguments(json!({"syscall": "a", "target": "x", hostile.clone(): 1}), "unknown argument");
    check_bad_arguments(json!({"syscall": "a", "target": "x", "capability": true}), "unknown argument `capability`");
    check_bad_arguments(json!(["network.send", "x"]), "the arguments must be an object");
    check_bad_arguments(json!("network.send"), "the arguments must be an object");
    check_bad_arguments(Value::Null, "argument `syscall` is required");
    // A target within the bound but hostile is decided, and shown escaped and bounded.
    let mut server = ready(LATEST);
    let target = format!("\u{1b}[31m{}", "t".repeat(4000));
    let report =
        call(&mut server, "decide", json!({"syscall": "network.send", "target": target}))["structuredContent"].clone();
    let shown = report["target"].as_str().unwrap();
    assert!(shown.len() < 400 && !shown.chars().any(char::is_control), "{shown}");
}

#[test]
fn a_call_without_a_known_tool_is_a_protocol_error() {
    let mut server = ready(LATEST);
    let unknown = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"\u001b[31m{}","arguments":{{}}}}}}"#,
        "x".repeat(5000)
    );
    let error = answer(&mut server, &unknown);
    check_error(&error, json!(1), INVALID_PARAMS);
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.len() < 200 && !message.chars().any(char::is_control), "{message:?}");
    for params in [r#"{}"#, r#"{"name":7}"#, r#"{"arguments":{}}"#] {
        let frame = format!(r#"{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{params}}}"#);
        check_error(&answer(&mut server, &frame), json!(2), INVALID_PARAMS);
    }
    check_error(&answer(&mut server, r#"{"jsonrpc":"2.0","id":3,"method":"tools/call"}"#), json!(3), INVALID_PARAMS);
}

/// guarantee: M4 (deciding consumes and records nothing: a grant that may be used once allows
/// every time it is asked about, the same question gets the same bytes, and no answer carries
/// a receipt, an event or a handle)
#[test]
fn m4_deciding_consumes_nothing_and_mints_no_receipt() {
    let mut server = ready(LATEST);
    let frame = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"decide","arguments":{"syscall":"network.send","target":"https://api.example.invalid/v1","grant":"send-api"}}}"#;
    let first = server.handle(frame.as_bytes());
    for _ in 0..3 {
        assert_eq!(server.handle(frame.as_bytes()), first);
    }
    let answer: Value = serde_json::from_slice(&first[0]).unwrap();
    let report = &answer["result"]["structuredContent"];
    assert_eq!(report["decision"], "allow");
    let text = answer.to_string();
    for word in ["receipt", "event", "handle", "signature", "proof"] {
        assert!(!text.contains(word), "{word} in {text}");
    }
    // The server keeps the policy it was given: same name, rules and grants.
    assert_eq!(server.policy().name(), "peer-test");
    assert_eq!(server.policy().rules(), policy().rules());
    assert_eq!(server.policy().grants(), policy().grants());
}

#[test]
fn the_default_agent_and_the_built_in_profiles_decide_as_the_library_does() {
    for profile in Profile::ALL {
        let policy = profile.load().unwrap();
        let mut server = DecisionServer::new(policy.clone(), profile.name());
        initialize(&mut server, LATEST);
        for arguments in [
            json!({"syscall": "tool.invoke", "target": "mcp://docs.example.invalid/search"}),
            json!({"syscall": "tool.invoke", "target": "mcp://docs.example.invalid/search", "labels": ["untrusted"], "grant": "demo-docs-search"}),
            json!({"syscall": "secret.open", "target": "secret://demo-api", "grant": "demo-secret"}),
            json!({"syscall": "network.send", "target": "https://api.example.invalid/", "labels": ["private"]}),
            json!({"syscall": "file.patch", "target": "file:///workspace/a.txt", "agent": "coder"}),
        ] {
            let result = call(&mut server, "decide", arguments.clone());
            assert_eq!(
                result["structuredContent"],
                policy_explain(&policy, &arguments),
                "{}: {arguments}",
                profile.name()
            );
            assert_eq!(result["structuredContent"]["policy"], profile.name());
        }
    }
}

/// Pieces of frames that reach every branch: methods, ids, params and arguments.
fn frame_strategy() -> impl Strategy<Value = String> {
    let method = prop_oneof![
        prop::sample::select(vec![
            "initialize",
            "ping",
            "tools/list",
            "tools/call",
            "notifications/initialized",
            "server/discover",
        ])
        .prop_map(str::to_owned),
        "[a-z/]{0,12}",
    ];
    let id = prop_oneof![
        Just("1".to_owned()),
        Just("\"a\"".to_owned()),
        Just("null".to_owned()),
        Just("1.5".to_owned()),
        "-?[0-9]{1,20}"
    ];
    let scalar = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("7".to_owned()),
        Just("\"network.send\"".to_owned()),
        Just("\"secret\"".to_owned()),
        Just("\"2025-03-26\"".to_owned()),
        Just("\"decide\"".to_owned()),
        Just("\"explain\"".to_owned()),
        "\"[ -~]{0,12}\"",
    ];
    let value = scalar.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|items| format!("[{}]", items.join(","))),
            prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "syscall",
                        "target",
                        "labels",
                        "agent",
                        "grant",
                        "name",
                        "arguments",
                        "protocolVersion",
                        "x",
                    ]),
                    inner,
                ),
                0..5
            )
            .prop_map(|members| {
                let members: Vec<String> = members.into_iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                format!("{{{}}}", members.join(","))
            }),
        ]
    });
    (method, prop::option::of(id), prop::option::of(value)).prop_map(|(method, id, params)| {
        let mut frame = format!(r#"{{"jsonrpc":"2.0","method":"{method}""#);
        if let Some(id) = id {
            frame.push_str(&format!(r#","id":{id}"#));
        }
        if let Some(params) = params {
            frame.push_str(&format!(r#","params":{params}"#));
        }
        frame.push('}');
        frame
    })
}

/// Every answer is one JSON-RPC 2.0 message (or, in 2025-03-26, a batch of them).
fn check_answers(answers: &[Vec<u8>]) {
    assert!(answers.len() <= 1);
    for answer in answers {
        let value: Value = serde_json::from_slice(answer).unwrap();
        let messages = value.as_array().cloned().unwrap_or_else(|| vec![value]);
        for message in messages {
            assert_eq!(message["jsonrpc"], "2.0", "{message}");
            assert!(message.get("result").is_some() != message.get("error").is_some(), "{message}");
        }
    }
}

proptest! {
    #[test]
    fn random_bytes_never_panic_and_always_get_json_rpc(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let mut server = ready("2025-03-26");
        check_answers(&server.handle(&bytes));
        let mut fresh = fresh();
        check_answers(&fresh.handle(&bytes));
    }

    #[test]
    fn random_frames_never_panic_and_always_get_json_rpc(frames in prop::collection::vec(frame_strategy(), 1..12)) {
        let mut server = fresh();
        for frame in &frames {
            check_answers(&server.handle(frame.as_bytes()));
        }
        let batch = format!("[{}]", frames.join(","));
        check_answers(&server.handle(batch.as_bytes()));
    }
}
