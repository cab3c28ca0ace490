//! The mediator over a scripted session: lifecycle, ids, what each message becomes, denials,
//! labels from the client, and what reaches the log.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, reason = "tests fail loudly on purpose")]

use std::sync::Arc;

use agentk_capability::{SignerSource, SigningIdentity};
use agentk_flightlog::event::{EventBody, EventLine};
use agentk_flightlog::kernel::{Clock, Entropy, Kernel, MemoryLog};
use agentk_flightlog::verify::verify_lines;
use agentk_mcp::session::{Config, DENIED, NOT_INITIALIZED, Out, Session, Side};
use agentk_policy::Profile;
use serde_json::{Value, json};

struct FixedClock;
impl Clock for FixedClock {
    fn now(&self) -> u64 {
        1_767_225_600
    }
}

struct Counter(u64);
impl Entropy for Counter {
    fn fill(&mut self, buf: &mut [u8]) {
        self.0 += 1;
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (self.0 >> ((i % 8) * 8)) as u8;
        }
    }
}

const CANARY: &str = "CANARY-7f3e1d (dummy)";

fn session() -> Session<MemoryLog> {
    let kernel = Kernel::builder()
        .profile(Profile::Mcp)
        .signer(Arc::new(SigningIdentity::from_secret(&[8; 32], SignerSource::Embedded))) // test key
        .clock(FixedClock)
        .entropy(Counter(0))
        .salt([2; 32])
        .log_id([3; 32])
        .open_sink(MemoryLog::new())
        .unwrap();
    Session::new(kernel, Config::new("everything"))
}

fn send(session: &mut Session<MemoryLog>, side: Side, message: &Value) -> Vec<Out> {
    let text = message.to_string();
    session.handle(&[(side, text.as_bytes())]).unwrap().outputs
}

fn only(outs: Vec<Out>) -> (Side, Value) {
    assert_eq!(outs.len(), 1, "{outs:?}");
    match outs.into_iter().next().unwrap() {
        Out::ToServer(bytes) => (Side::Server, serde_json::from_slice(&bytes).unwrap()),
        Out::ToClient(bytes) => (Side::Client, serde_json::from_slice(&bytes).unwrap()),
    }
}

/// Runs the handshake; answers the server's id for `initialize`.
fn ready(session: &mut Session<MemoryLog>) {
    let (to, init) = only(send(
        session,
        Side::Client,
        &json!({"jsonrpc":"2.0","id":"init-1","method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}),
    ));
    assert_eq!(to, Side::Server);
    let server_id = init["id"].clone();
    assert!(server_id.is_u64(), "the server sees the mediator's id space");
    let (to, answer) = only(send(
        session,
        Side::Server,
        &json!({"jsonrpc":"2.0","id":server_id,"result":{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"s","version":"1"}}}),
    ));
    assert_eq!((to, answer["id"].clone()), (Side::Client, json!("init-1")));
    assert_eq!(session.version(), Some("2025-06-18"));
    let (to, _) = only(send(session, Side::Client, &json!({"jsonrpc":"2.0","method":"notifications/initialized"})));
    assert_eq!(to, Side::Server);
}

/// Lists `tools` and answers the list the client got.
fn list(session: &mut Session<MemoryLog>, tools: &Value) -> Value {
    let (_, request) = only(send(session, Side::Client, &json!({"jsonrpc":"2.0","id":"list-1","method":"tools/list"})));
    let (to, answer) =
        only(send(session, Side::Server, &json!({"jsonrpc":"2.0","id":request["id"],"result":{"tools":tools}})));
    assert_eq!(to, Side::Client);
    assert_eq!(answer["id"], json!("list-1"));
    answer
}

fn echo_tool() -> Value {
    json!({"name":"echo","description":"Echoes back the input string","inputSchema":{"type":"object","properties":{"message":{"type":"string"}}}})
}

fn log(session: Session<MemoryLog>) -> Vec<String> {
    let lines = session.close().unwrap().lines().to_vec();
    verify_lines(lines.iter().map(String::as_str)).unwrap();
    lines
}

// guarantee: M1, M3, M5 (lifecycle; a call decided before it is forwarded; the answer goes back
// byte for byte but for the id, and is recorded as an output linked to the call)
#[test]
fn a_listed_tool_is_called_and_its_answer_recorded() {
    let mut s = session();
    ready(&mut s);
    list(&mut s, &json!([echo_tool()]));
    let (to, call) = only(send(
        &mut s,
        Side::Client,
        &json!({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}),
    ));
    assert_eq!(to, Side::Server);
    assert_eq!(call["params"]["arguments"]["message"], "hi");
    let answer = format!(
        r#"{{"result":{{"content":[{{"type":"text","text":"Echo: hi"}}]}},"jsonrpc":"2.0","id":{}}}"#,
        call["id"]
    );
    let step = s.handle(&[(Side::Server, answer.as_bytes())]).unwrap();
    assert_eq!(
        step.outputs,
        [Out::ToClient(
            br#"{"result":{"content":[{"type":"text","text":"Echo: hi"}]},"jsonrpc":"2.0","id":9}"#.to_vec()
        )]
    );
    let lines = log(s);
    let events: Vec<EventLine> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    let invoke = events
        .iter()
        .find_map(|e| match &e.event {
            EventBody::Syscall(s) if s.syscall == "tool.invoke" => Some((e.seq, s.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!((invoke.1.target.as_str(), invoke.1.rule.as_str()), ("mcp://everything/echo", "mcp-invoke-accepted"));
    let output = events.iter().find_map(|e| match &e.event {
        EventBody::Output(o) if o.from == invoke.0 => Some(o.clone()),
        _ => None,
    });
    let output = output.expect("the tool's answer is recorded as an output of the call");
    assert!(
        output.labels.contains(agentk_labels::Label::Untrusted)
            && output.labels.contains(agentk_labels::Label::External)
    );
}

// guarantee: M1 (a tool never listed is denied, never forwarded: the model sees why)
#[test]
fn an_unlisted_tool_is_denied_and_never_forwarded() {
    let mut s = session();
    ready(&mut s);
    list(&mut s, &json!([echo_tool()]));
    let (to, answer) = only(send(
        &mut s,
        Side::Client,
        &json!({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"get-env","arguments":{}}}),
    ));
    assert_eq!(to, Side::Client, "nothing reached the server");
    assert_eq!(answer["id"], 5);
    assert_eq!(answer["result"]["isError"], true);
    let denial = &answer["result"]["_meta"]["agentk/denial"];
    assert_eq!(denial["rule"], "withheld");
    assert!(denial["action"].as_str().unwrap().len() == 64);
    assert!(denial["event"].as_u64().unwrap() > 0);
    assert!(answer["result"]["content"][0]["text"].as_str().unwrap().contains("withheld"));
}

// guarantee: T1, T4 (a client may add labels, never remove them: secret data never reaches a
// tool), M5 (AgentK's own `_meta` keys are stripped before forwarding)
#[test]
fn client_labels_only_add_and_our_meta_is_stripped() {
    let mut s = session();
    ready(&mut s);
    list(&mut s, &json!([echo_tool()]));
    let (to, denied) = only(send(
        &mut s,
        Side::Client,
        &json!({"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"echo","arguments":{"message":"k"},"_meta":{"agentk/labels":["secret"]}}}),
    ));
    assert_eq!(to, Side::Client);
    assert_eq!(denied["result"]["_meta"]["agentk/denial"]["rule"], "mcp-invoke-sensitive-data");
    let (to, forwarded) = only(send(
        &mut s,
        Side::Client,
        &json!({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"message":"k"},"_meta":{"agentk/labels":["trusted"],"agentk/grant":"x","progressToken":1}}}),
    ));
    assert_eq!(to, Side::Server);
    assert_eq!(forwarded["params"]["_meta"], json!({"progressToken":1}), "our keys are stripped, theirs kept");
}

// guarantee: M5 (nothing but the handshake before the session is ready; a method with no
// policy is denied and recorded)
#[test]
fn lifecycle_and_unknown_methods_are_enforced() {
    let mut s = session();
    let (to, early) = only(send(&mut s, Side::Client, &json!({"jsonrpc":"2.0","id":1,"method":"tools/list"})));
    assert_eq!((to, early["error"]["code"].as_i64()), (Side::Client, Some(NOT_INITIALIZED)));
    ready(&mut s);
    let (to, unknown) =
        only(send(&mut s, Side::Client, &json!({"jsonrpc":"2.0","id":2,"method":"agentk/selfgrant","params":{}})));
    assert_eq!((to, unknown["error"]["code"].as_i64()), (Side::Client, Some(DENIED)));
    assert_eq!(unknown["error"]["data"]["agentk/denial"]["rule"], "withheld");
    let (to, again) =
        only(send(&mut s, Side::Client, &json!({"jsonrpc":"2.0","id":3,"method":"initialize","params":{}})));
    assert_eq!((to, again["error"]["code"].as_i64()), (Side::Client, Some(agentk_mcp::frame::INVALID_REQUEST)));
    let lines = log(s);
    assert!(lines.iter().any(|l| l.contains(r#""target":"mcp://everything/!unknown/agentk/selfgrant""#)));
}

// guarantee: M5 (a server cannot answer a request it was never sent; bad frames get their
// errors and the session goes on)
#[test]
fn ids_are_the_mediators_and_bad_frames_are_answered() {
    let mut s = session();
    ready(&mut s);
    assert!(
        send(&mut s, Side::Server, &json!({"jsonrpc":"2.0","id":999,"result":{}})).is_empty(),
        "an unsolicited answer is dropped"
    );
    let step = s.handle(&[(Side::Client, b"{not json"), (Side::Client, br#"{"jsonrpc":"2.0","id":4}"#)]).unwrap();
    let answers: Vec<Value> = step
        .outputs
        .iter()
        .map(|o| match o {
            Out::ToClient(bytes) => serde_json::from_slice(bytes).unwrap(),
            Out::ToServer(_) => panic!("a bad frame was forwarded"),
        })
        .collect();
    assert_eq!(answers[0]["error"]["code"], -32700);
    assert_eq!((answers[1]["id"].clone(), answers[1]["error"]["code"].clone()), (json!(4), json!(-32600)));
    // Still usable.
    assert_eq!(only(send(&mut s, Side::Client, &json!({"jsonrpc":"2.0","id":8,"method":"ping"}))).0, Side::Server);
}

// Server-to-client requests are mediated: sampling is a model.call whose input is the server's
// untrusted content; the client's answer goes back under the server's own id.
#[test]
fn server_requests_are_mediated_both_ways() {
    let mut s = session();
    ready(&mut s);
    let (to, forwarded) = only(send(
        &mut s,
        Side::Server,
        &json!({"jsonrpc":"2.0","id":0,"method":"sampling/createMessage","params":{"messages":[],"maxTokens":5}}),
    ));
    assert_eq!(to, Side::Client);
    let mediator_id = forwarded["id"].clone();
    let (to, back) = only(send(
        &mut s,
        Side::Client,
        &json!({"jsonrpc":"2.0","id":mediator_id,"result":{"role":"assistant","content":{"type":"text","text":"ok"},"model":"m"}}),
    ));
    assert_eq!((to, back["id"].clone()), (Side::Server, json!(0)));
    let lines = log(s);
    assert!(
        lines
            .iter()
            .any(|l| l.contains(r#""syscall":"model.call""#) && l.contains(r#""labels":["untrusted","external"]"#))
    );
}

// A canary in arguments, results, descriptors and errors reaches no log line.
#[test]
fn content_reaches_the_log_only_as_digests() {
    let mut s = session();
    ready(&mut s);
    let tool = json!({"name":"echo","description":format!("Echoes {CANARY}"),"inputSchema":{"type":"object"}});
    list(&mut s, &json!([tool]));
    let (_, call) = only(send(
        &mut s,
        Side::Client,
        &json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":CANARY}}}),
    ));
    only(send(&mut s, Side::Server, &json!({"jsonrpc":"2.0","id":call["id"],"error":{"code":-1,"message":CANARY}})));
    let lines = log(s);
    assert!(lines.iter().all(|l| !l.contains("CANARY")), "content reached the log");
}
