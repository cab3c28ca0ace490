//! The mediator's test helpers: a session over an in-memory log with a deterministic test
//! key, clock and entropy, and the MCP handshake and listing as a client and server would do
//! them.
#![allow(dead_code, clippy::unwrap_used, clippy::panic, reason = "shared test helpers; not every test file uses all")]

use std::sync::Arc;

use agentk_capability::{SignerSource, SigningIdentity};
use agentk_flightlog::kernel::{Clock, Entropy, Kernel, MemoryLog};
use agentk_flightlog::verify::verify_lines;
use agentk_mcp::session::{Config, Out, Session, Side};
use agentk_policy::Profile;
use serde_json::{Value, json};

pub(crate) struct FixedClock;
impl Clock for FixedClock {
    fn now(&self) -> u64 {
        1_767_225_600
    }
}

pub(crate) struct Counter(pub(crate) u64);
impl Entropy for Counter {
    fn fill(&mut self, buf: &mut [u8]) {
        self.0 += 1;
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (self.0 >> ((i % 8) * 8)) as u8;
        }
    }
}

pub(crate) const CANARY: &str = "CANARY-7f3e1d (dummy)";

/// A session in front of the server `everything`, as a live proxy runs it.
pub(crate) fn session() -> Session<MemoryLog> {
    session_with(Config::new("everything"))
}

pub(crate) fn send(session: &mut Session<MemoryLog>, side: Side, message: &Value) -> Vec<Out> {
    let text = message.to_string();
    session.handle(&[(side, text.as_bytes())]).unwrap().outputs
}

pub(crate) fn only(outs: Vec<Out>) -> (Side, Value) {
    assert_eq!(outs.len(), 1, "{outs:?}");
    match outs.into_iter().next().unwrap() {
        Out::ToServer(bytes) => (Side::Server, serde_json::from_slice(&bytes).unwrap()),
        Out::ToClient(bytes) => (Side::Client, serde_json::from_slice(&bytes).unwrap()),
    }
}

/// Runs the handshake; answers the server's id for `initialize`.
pub(crate) fn ready(session: &mut Session<MemoryLog>) {
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
pub(crate) fn list(session: &mut Session<MemoryLog>, tools: &Value) -> Value {
    let (_, request) = only(send(session, Side::Client, &json!({"jsonrpc":"2.0","id":"list-1","method":"tools/list"})));
    let (to, answer) =
        only(send(session, Side::Server, &json!({"jsonrpc":"2.0","id":request["id"],"result":{"tools":tools}})));
    assert_eq!(to, Side::Client);
    assert_eq!(answer["id"], json!("list-1"));
    answer
}

pub(crate) fn echo_tool() -> Value {
    json!({"name":"echo","description":"Echoes back the input string","inputSchema":{"type":"object","properties":{"message":{"type":"string"}}}})
}

pub(crate) fn log(session: Session<MemoryLog>) -> Vec<String> {
    let lines = session.close().unwrap().lines().to_vec();
    verify_lines(lines.iter().map(String::as_str)).unwrap();
    lines
}

/// A session with `config` over an in-memory log (deterministic test key, clock and ids).
pub(crate) fn session_with(config: Config) -> Session<MemoryLog> {
    session_with_policy(config, Profile::Mcp.source())
}

/// [`session_with`] deciding with the policy `text`.
pub(crate) fn session_with_policy(config: Config, text: &str) -> Session<MemoryLog> {
    let kernel = Kernel::builder()
        .policy_text("<test policy>", text)
        .signer(Arc::new(SigningIdentity::from_secret(&[8; 32], SignerSource::Embedded))) // test key
        .clock(FixedClock)
        .entropy(Counter(0))
        .salt([2; 32])
        .log_id([3; 32])
        .open_sink(MemoryLog::new())
        .unwrap();
    Session::new(kernel, config)
}
