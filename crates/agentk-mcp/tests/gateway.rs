//! `agentk_mcp::gateway::serve` in process, with short limits, in front of a Streamable HTTP
//! upstream written here (hyper 1), spoken to in raw HTTP/1.1 over `TcpStream`: the paths the
//! binary's tests cannot reach quickly.
//!
//! - The limits: a body that stalls (408), a request line that stalls (closed, others served),
//!   an idle session (ended, its log closed with a checkpoint, its id then unknown), server
//!   messages no stream takes (capped at the backlog), a server stream its client never reads
//!   (closed, not buffered).
//! - The upstream bridge: SSE answers (a priming event, CRLF, data over several lines), an
//!   answer over the frame limit, HTTP errors whose bodies carry a canary, a connection cut
//!   mid-answer, the upstream's session id (kept from the client, sent back upstream, ended
//!   with `DELETE`), and the 2026-07-28 routing headers.
//! - Stopping: a call still waiting is answered with an error, every session's log ends with a
//!   checkpoint, and `serve` returns.
//!
//! Every session runs over an in-memory log with the deterministic test key of `common`. No
//! assertion is timed: every wait ends as soon as what it waits for happens, under a generous
//! ceiling that only a broken property reaches.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on purpose"
)]

mod common;

use std::convert::Infallible;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use agentk_capability::{SignerSource, SigningIdentity};
use agentk_flightlog::event::{EventBody, EventLine};
use agentk_flightlog::kernel::{Kernel, MemoryLog, RecordSink, SinkError};
use agentk_flightlog::verify::verify_lines;
use agentk_mcp::gateway::{self, Counters, Door, Options, SessionEnd, SessionLabel, Sessions};
use agentk_mcp::session::{Config, Out, SERVER_GONE, Session, Step};
use agentk_mcp::stdio;
use agentk_mcp::upstream::{UpstreamUrl, VERSION_META, header_value_text};
use agentk_policy::Profile;
use common::{Counter, FixedClock};
use http_body_util::BodyExt;
use hyper::body::{Body, Bytes, Frame, Incoming};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

/// The longest any one wait may take before the test calls it a hang (a ceiling, never a
/// measurement).
const HANG: Duration = Duration::from_secs(10);

/// Targets are `mcp://gwunit/NAME`.
const SERVER_ID: &str = "gwunit";

/// Each session's frame limit: small, so an answer over it is cheap to send.
const FRAME_LIMIT: usize = 64 << 10;

/// The upstream's own session id: distinctive, so that any leak to the client is found.
const UPSTREAM_SESSION: &str = "upstream-session-5e2c91d0-kept-from-clients";

/// What the upstream puts in the bodies of its HTTP errors (dummy): never repeated.
const CANARY: &str = "UPSTREAM-CANARY-a81f3c-dummy";

const MODERN: &str = "2026-07-28";
const LEGACY: &str = "2025-06-18";

/// A prompt name outside printable ASCII: its routing header takes the `=?base64?…?=` form.
const WIDE_NAME: &str = "résumé-brief";
/// [`WIDE_NAME`] in that form (computed once with `base64(1)`, not by the code under test).
const WIDE_NAME_HEADER: &str = "=?base64?csOpc3Vtw6ktYnJpZWY=?=";

// ---------------------------------------------------------------------------------------------
// The sessions: kernels over in-memory logs

/// An in-memory log the test keeps a handle on (the session closes its own copy).
#[derive(Clone, Default)]
struct SharedLog(Arc<Mutex<MemoryLog>>);

impl RecordSink for SharedLog {
    fn append(&mut self, lines: &[u8], events: usize) -> Result<(), SinkError> {
        self.0.lock().unwrap().append(lines, events)
    }
}

impl SharedLog {
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().lines().to_vec()
    }

    /// Whether the log verifies and its last event is a checkpoint.
    fn closed_with_checkpoint(&self) -> bool {
        let lines = self.lines();
        verify_lines(lines.iter().map(String::as_str)).unwrap();
        let last: EventLine = serde_json::from_str(lines.last().unwrap()).unwrap();
        matches!(last.event, EventBody::Checkpoint(_))
    }
}

/// What the gateway opened, what the sessions sent their clients, and how they ended.
#[derive(Default)]
struct World {
    logs: Mutex<Vec<(SessionLabel, SharedLog)>>,
    ended: Mutex<Vec<(SessionLabel, SessionEnd)>>,
    /// The messages the sessions sent toward their clients (small ones only).
    to_client: Mutex<Vec<String>>,
}

impl Sessions for World {
    type Sink = SharedLog;

    fn open(&self, label: &SessionLabel) -> Result<Session<SharedLog>, String> {
        let log = SharedLog::default();
        let serial = u8::try_from(label.serial).unwrap_or(u8::MAX);
        let kernel = Kernel::builder()
            .policy_text("<test policy>", Profile::Mcp.source())
            .signer(Arc::new(SigningIdentity::from_secret(&[8; 32], SignerSource::Embedded))) // test key
            .clock(FixedClock)
            .entropy(Counter(label.serial << 32))
            .salt([2; 32])
            .log_id([serial; 32])
            .open_sink(log.clone())
            .map_err(|e| e.to_string())?;
        let mut config = Config::new(SERVER_ID);
        config.limits.max_frame_bytes = FRAME_LIMIT;
        self.logs.lock().unwrap().push((label.clone(), log));
        Ok(Session::new(kernel, config))
    }

    fn observe(&self, _label: &SessionLabel, step: &Step) {
        let mut seen = self.to_client.lock().unwrap();
        for out in &step.outputs {
            if let Out::ToClient(bytes) = out
                && bytes.len() <= 4096
            {
                seen.push(String::from_utf8_lossy(bytes).into_owned());
            }
        }
    }

    fn ended(&self, label: &SessionLabel, end: SessionEnd) {
        self.ended.lock().unwrap().push((label.clone(), end));
    }
}

impl World {
    fn sent_to_client(&self, needle: &str) -> bool {
        self.to_client.lock().unwrap().iter().any(|m| m.contains(needle))
    }

    fn logs(&self) -> Vec<(SessionLabel, SharedLog)> {
        self.logs.lock().unwrap().clone()
    }

    /// Whether the session `serial` ended with its log closed (and how many ended at all).
    fn ended_cleanly(&self, serial: u64) -> Option<bool> {
        let ended = self.ended.lock().unwrap();
        ended.iter().find(|(label, _)| label.serial == serial).map(|(_, end)| end.closed.is_ok())
    }
}

// ---------------------------------------------------------------------------------------------
// The upstream: a Streamable HTTP server with configurable misbehaviours

/// What the upstream's server stream (GET) does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flood {
    /// No server stream (405).
    None,
    /// `n` small notifications, then one naming `marker`, then the stream stays open.
    Count(usize),
    /// Notifications of `pad` bytes each until told to stop (or a ceiling).
    Until(usize),
}

/// One request the upstream received.
#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    headers: HeaderMap,
    body: Value,
}

struct Peer {
    flood: Flood,
    flood_stop: AtomicBool,
    flooded: AtomicUsize,
    seen: Mutex<Vec<Seen>>,
}

impl Peer {
    fn new(flood: Flood) -> Arc<Peer> {
        Arc::new(Peer {
            flood,
            flood_stop: AtomicBool::new(false),
            flooded: AtomicUsize::new(0),
            seen: Mutex::default(),
        })
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The POSTs it received whose body's method is `method`.
    fn posts(&self, method: &str) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.method == Method::POST && s.body["method"] == method).collect()
    }
}

/// A response body fed from a channel: data, then its end, or an error (the connection is
/// then cut).
struct Script(mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl Body for Script {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0.poll_recv(cx).map(|item| item.map(|part| part.map(Frame::data)))
    }
}

/// How a scripted body ends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    /// Normally.
    Done,
    /// The connection is cut.
    Cut,
    /// It stays open until the reader goes.
    Open,
}

/// A body of `parts`, sent one by one as the reader takes them.
fn script(parts: Vec<Vec<u8>>, end: End) -> Script {
    let (to, from) = mpsc::channel(4);
    tokio::spawn(async move {
        for part in parts {
            if to.send(Ok(Bytes::from(part))).await.is_err() {
                return;
            }
        }
        match end {
            End::Done => {}
            End::Cut => {
                let _ = to.send(Err(std::io::Error::other("cut on purpose"))).await;
            }
            End::Open => to.closed().await,
        }
    });
    Script(from)
}

fn reply(status: StatusCode, content_type: &str, body: Script) -> Response<Script> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
    response
}

fn json_reply(value: &Value) -> Response<Script> {
    reply(StatusCode::OK, "application/json", script(vec![value.to_string().into_bytes()], End::Done))
}

fn sse_event(value: &Value) -> Vec<u8> {
    format!("event: message\r\ndata: {value}\r\n\r\n").into_bytes()
}

async fn upstream_serve(listener: tokio::net::TcpListener, peer: Arc<Peer>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { return };
        let peer = Arc::clone(&peer);
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let peer = Arc::clone(&peer);
                async move { Ok::<_, Infallible>(peer.answer(request).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

impl Peer {
    async fn answer(self: Arc<Self>, request: Request<Incoming>) -> Response<Script> {
        let (parts, body) = request.into_parts();
        let bytes = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        self.seen.lock().unwrap().push(Seen {
            method: parts.method.clone(),
            headers: parts.headers.clone(),
            body: value.clone(),
        });
        let empty = |status| reply(status, "text/plain", script(vec![], End::Done));
        match parts.method {
            Method::GET => return self.server_stream(),
            Method::DELETE => return empty(StatusCode::OK),
            _ => {}
        }
        let (Some(method), Some(id)) = (value["method"].as_str(), value.get("id").cloned()) else {
            // A notification, or an answer.
            return empty(StatusCode::ACCEPTED);
        };
        let modern = value["params"]["_meta"][VERSION_META].as_str().is_some();
        let result = |mut result: Value| {
            if modern {
                result["resultType"] = json!("complete");
            }
            json!({"jsonrpc": "2.0", "id": id, "result": result})
        };
        match method {
            "initialize" => {
                let mut response = json_reply(&result(json!({
                    "protocolVersion": LEGACY,
                    "capabilities": {"tools": {}, "prompts": {}, "logging": {}},
                    "serverInfo": {"name": "gateway-unit-upstream", "version": "1"},
                })));
                response.headers_mut().insert("mcp-session-id", HeaderValue::from_static(UPSTREAM_SESSION));
                response
            }
            "server/discover" => json_reply(&result(json!({
                "supportedVersions": [MODERN],
                "capabilities": {"tools": {}, "prompts": {}},
                "serverInfo": {"name": "gateway-unit-upstream", "version": "1"},
            }))),
            "tools/list" => json_reply(&result(json!({"tools": [{
                "name": "echo",
                "description": "Echoes back the message.",
                "inputSchema": {"type": "object", "properties": {"message": {"type": "string"}, "mode": {"type": "string"}}},
                "annotations": {"readOnlyHint": true},
            }]}))),
            "prompts/get" => json_reply(&result(json!({
                "description": "A brief.",
                "messages": [{"role": "user", "content": {"type": "text", "text": "Write a short brief."}}],
            }))),
            "tools/call" => self.call(&id, &value["params"]["arguments"], modern).await,
            _ => {
                json_reply(&json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "no such method"}}))
            }
        }
    }

    /// `echo`, answering as `arguments.mode` says.
    async fn call(&self, id: &Value, arguments: &Value, modern: bool) -> Response<Script> {
        let text = arguments["message"].as_str().unwrap_or_default();
        let mut result = json!({"content": [{"type": "text", "text": text}], "isError": false});
        if modern {
            result["resultType"] = json!("complete");
        }
        let answer = json!({"jsonrpc": "2.0", "id": id, "result": result});
        let huge = || {
            let big = "h".repeat(FRAME_LIMIT * 2);
            json!({"jsonrpc": "2.0", "id": id, "result": {"content": [{"type": "text", "text": big}]}})
        };
        match arguments["mode"].as_str().unwrap_or("json") {
            "sse" => {
                let note = json!({"jsonrpc": "2.0", "method": "notifications/message",
                    "params": {"level": "info", "data": "progress from the upstream"}});
                // The answer's JSON over two `data:` lines, CRLF throughout, the last CRLF split
                // across two reads.
                let text = answer.to_string();
                let (head, tail) = text.split_at(text.find("\"id\"").unwrap());
                let parts = vec![
                    b"id: prime-0\r\ndata:\r\n\r\n".to_vec(),
                    sse_event(&note),
                    b": a comment\r\n\r\n".to_vec(),
                    format!("event: message\r\nid: 1\r\ndata: {head}\r\ndata: {tail}\r").into_bytes(),
                    b"\n\r\n".to_vec(),
                ];
                reply(StatusCode::OK, "text/event-stream", script(parts, End::Done))
            }
            "sse-open" => {
                // The answer, then the stream left open (closing it is only a SHOULD).
                let parts = vec![b"id: prime-0\r\ndata:\r\n\r\n".to_vec(), sse_event(&answer)];
                reply(StatusCode::OK, "text/event-stream", script(parts, End::Open))
            }
            "huge" => json_reply(&huge()),
            "huge-sse" => {
                let parts = vec![b"id: prime-0\r\ndata:\r\n\r\n".to_vec(), sse_event(&huge())];
                reply(StatusCode::OK, "text/event-stream", script(parts, End::Done))
            }
            "status-500" => {
                // An error status whose body looks like a JSON-RPC answer: still not repeated.
                let body = json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32000, "message": CANARY}});
                reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "application/json",
                    script(vec![body.to_string().into_bytes()], End::Done),
                )
            }
            "status-404" => reply(
                StatusCode::NOT_FOUND,
                "text/plain",
                script(vec![format!("no such session: {CANARY}").into_bytes()], End::Done),
            ),
            "cut-json" => {
                let text = answer.to_string().into_bytes();
                let mut response =
                    reply(StatusCode::OK, "application/json", script(vec![text[..text.len() / 2].to_vec()], End::Cut));
                response.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(text.len()));
                response
            }
            "cut-sse" => {
                let event = sse_event(&answer);
                let parts = vec![b"id: prime-0\r\ndata:\r\n\r\n".to_vec(), event[..event.len() / 2].to_vec()];
                reply(StatusCode::OK, "text/event-stream", script(parts, End::Cut))
            }
            "hang" => std::future::pending().await,
            _ => json_reply(&answer),
        }
    }

    /// The server stream (GET), as [`Flood`] says.
    fn server_stream(self: Arc<Self>) -> Response<Script> {
        let note = |seq: Value, pad: usize| {
            sse_event(&json!({"jsonrpc": "2.0", "method": "notifications/message",
                "params": {"level": "info", "data": {"seq": seq, "pad": "p".repeat(pad)}}}))
        };
        match self.flood {
            Flood::None => reply(StatusCode::METHOD_NOT_ALLOWED, "text/plain", script(vec![], End::Done)),
            Flood::Count(n) => {
                let mut parts: Vec<Vec<u8>> = (0..n).map(|seq| note(json!(seq), 0)).collect();
                parts.push(note(json!("marker"), 0));
                self.flooded.store(n + 1, Ordering::Relaxed);
                reply(StatusCode::OK, "text/event-stream", script(parts, End::Open))
            }
            Flood::Until(pad) => {
                let (to, from) = mpsc::channel(4);
                let peer = Arc::clone(&self);
                tokio::spawn(async move {
                    // The ceiling only a gateway that buffers without bound reaches (64 MiB).
                    for seq in 0..(64 << 20) / pad.max(1) {
                        if peer.flood_stop.load(Ordering::Relaxed) {
                            break;
                        }
                        if to.send(Ok(Bytes::from(note(json!(seq), pad)))).await.is_err() {
                            return;
                        }
                        peer.flooded.fetch_add(1, Ordering::Relaxed);
                    }
                    to.closed().await;
                });
                reply(StatusCode::OK, "text/event-stream", Script(from))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The gateway, in process

/// A gateway on `127.0.0.1:0` in front of a [`Peer`], each on its own runtime thread.
struct Gateway {
    client: Client,
    peer: Arc<Peer>,
    world: Arc<World>,
    lines: Arc<Mutex<Vec<String>>>,
    stop: Option<oneshot::Sender<()>>,
    done: std::sync::mpsc::Receiver<Arc<Counters>>,
}

/// Short limits; the idle time long unless a test shortens it.
fn quick() -> Options {
    Options {
        header_timeout: Duration::from_millis(200),
        body_timeout: Duration::from_millis(200),
        idle_timeout: Duration::from_secs(600),
        drain: Duration::from_secs(5),
        proxy: stdio::Options {
            timeout: Duration::from_secs(5),
            grace: Duration::from_millis(200),
            ..Default::default()
        },
        ..Options::default()
    }
}

impl Gateway {
    fn start(options: Options, flood: Flood) -> Gateway {
        let peer = Peer::new(flood);
        let world = Arc::new(World::default());
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = oneshot::channel::<()>();
        let (addr_to, addr_from) = std::sync::mpsc::channel();
        let (done_to, done) = std::sync::mpsc::channel();
        let (p, w, l) = (Arc::clone(&peer), Arc::clone(&world), Arc::clone(&lines));
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let counters = runtime.block_on(async move {
                let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let url = UpstreamUrl::parse(&format!("http://{}/mcp", upstream.local_addr().unwrap())).unwrap();
                tokio::spawn(upstream_serve(upstream, p));
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_to.send(listener.local_addr().unwrap()).unwrap();
                let log: gateway::LogFn = Arc::new(move |line: &str| l.lock().unwrap().push(line.to_owned()));
                let door = Door { loopback: true, ..Door::default() };
                let stop = async move {
                    let _ = stopped.await;
                };
                gateway::serve(listener, door, gateway::Upstream::Http(url), options, w, log, stop).await
            });
            let _ = done_to.send(counters);
        });
        let addr = addr_from.recv_timeout(HANG).unwrap();
        Gateway { client: Client { addr }, peer, world, lines, stop: Some(stop), done }
    }

    /// Resolves `stop`; answers the counts once `serve` has returned.
    fn stop(mut self) -> Arc<Counters> {
        let _ = self.stop.take().unwrap().send(());
        self.done.recv_timeout(HANG).expect("serve returns once told to stop")
    }

    fn logged(&self, needle: &str) -> bool {
        self.lines.lock().unwrap().iter().any(|line| line.contains(needle))
    }
}

impl std::ops::Deref for Gateway {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

/// A client of the gateway at `addr`, one connection per request.
#[derive(Clone, Copy)]
struct Client {
    addr: SocketAddr,
}

impl Client {
    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).unwrap();
        stream.set_read_timeout(Some(HANG)).unwrap();
        stream
    }

    /// Sends one request on a fresh connection (closed after the answer).
    fn send(&self, method: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
        let mut stream = self.connect();
        let mut head = format!("{method} /mcp HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", self.addr);
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        Answer::read(stream)
    }

    /// POSTs `message` in `session`, accepting JSON only or SSE only.
    fn post(&self, session: Option<&str>, message: &Value, sse: bool, extra: &[(&str, &str)]) -> Answer {
        let accept = if sse { "text/event-stream" } else { "application/json" };
        let mut headers = vec![("Content-Type", "application/json"), ("Accept", accept)];
        if let Some(session) = session {
            headers.push(("Mcp-Session-Id", session));
        }
        headers.extend_from_slice(extra);
        self.send("POST", &headers, message.to_string().as_bytes())
    }

    /// A JSON round trip in `session`: the whole answer.
    fn rpc(&self, session: Option<&str>, message: &Value) -> Reply {
        self.post(session, message, false, &[]).finish()
    }

    /// Opens a 2025-era session with `initialize` alone; gives its id.
    fn initialize(&self) -> String {
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "gateway-unit-client", "version": "1"}}});
        let reply = self.rpc(None, &init);
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.json()["result"]["protocolVersion"], LEGACY, "{reply:?}");
        reply.header("mcp-session-id").expect("a session id").to_owned()
    }

    /// Opens a 2025-era session (initialize, initialized, tools/list); gives its id.
    fn open_session(&self) -> String {
        let id = self.initialize();
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let reply = self.post(Some(&id), &note, false, &[]).finish();
        assert_eq!(reply.status, 202, "{reply:?}");
        let listed = self.rpc(Some(&id), &json!({"jsonrpc": "2.0", "id": "list", "method": "tools/list"}));
        assert_eq!(listed.json()["result"]["tools"][0]["name"], "echo", "{listed:?}");
        id
    }

    /// Calls `echo` in `session` with `mode`; the JSON answer.
    fn echo(&self, session: &str, id: u64, message: &str, mode: &str) -> Reply {
        let reply = self.rpc(Some(session), &call(id, message, mode));
        assert_eq!(reply.status, 200, "{reply:?}");
        reply
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn call(id: u64, message: &str, mode: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": "echo", "arguments": {"message": message, "mode": mode}}})
}

fn modern(id: u64, method: &str, mut params: Value) -> Value {
    params["_meta"] = json!({
        VERSION_META: MODERN,
        "io.modelcontextprotocol/clientInfo": {"name": "gateway-unit-client", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

/// The text an answer to `echo` carries.
fn echoed(answer: &Value) -> &str {
    answer["result"]["content"][0]["text"].as_str().unwrap_or_else(|| panic!("not an echo: {answer}"))
}

/// Polls `done` until it holds; panics at [`HANG`].
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < HANG, "waited too long for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP/1.1

/// An answer, read in full.
struct Reply {
    status: u16,
    head: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {} {:?} {:?}", self.status, self.headers, String::from_utf8_lossy(&self.body))
    }
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not one JSON value ({e}): {self:?}"))
    }

    /// Everything the client got, head and body.
    fn raw(&self) -> String {
        format!("{}{}", self.head, String::from_utf8_lossy(&self.body))
    }
}

enum Framing {
    Length(usize),
    Chunked,
    Close,
}

/// An answer whose head is read and whose body is read as it arrives.
struct Answer {
    reader: BufReader<TcpStream>,
    status: u16,
    head: String,
    headers: Vec<(String, String)>,
    framing: Framing,
    pending: Vec<u8>,
    ended: bool,
}

fn read_line(reader: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    match reader.read_line(&mut line) {
        Ok(_) => line,
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            panic!("no answer within {HANG:?}")
        }
        Err(e) => panic!("the answer could not be read: {e}"),
    }
}

impl Answer {
    fn read(stream: TcpStream) -> Answer {
        let mut reader = BufReader::new(stream);
        let mut head = read_line(&mut reader);
        let status = head
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP/1.1 status line: {head:?}"));
        let mut headers = Vec::new();
        loop {
            let line = read_line(&mut reader);
            head.push_str(&line);
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap_or_else(|| panic!("not a header: {line:?}"));
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
        let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        let framing = if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            Framing::Chunked
        } else if let Some(length) = header("content-length") {
            Framing::Length(length.parse().unwrap())
        } else if matches!(status, 204 | 304) {
            Framing::Length(0)
        } else {
            Framing::Close
        };
        Answer { reader, status, head, headers, framing, pending: Vec::new(), ended: false }
    }

    /// The next piece of the body, `None` at its end.
    fn next_bytes(&mut self) -> Option<Vec<u8>> {
        if self.ended {
            return None;
        }
        let bytes = match self.framing {
            Framing::Length(0) => None,
            Framing::Length(n) => {
                let mut bytes = vec![0; n];
                self.reader.read_exact(&mut bytes).unwrap();
                self.framing = Framing::Length(0);
                Some(bytes)
            }
            Framing::Chunked => {
                let size_line = read_line(&mut self.reader);
                let size = usize::from_str_radix(size_line.trim().split(';').next().unwrap(), 16)
                    .unwrap_or_else(|_| panic!("not a chunk size: {size_line:?}"));
                if size == 0 {
                    while !read_line(&mut self.reader).trim().is_empty() {}
                    None
                } else {
                    let mut bytes = vec![0; size + 2];
                    self.reader.read_exact(&mut bytes).unwrap();
                    bytes.truncate(size);
                    Some(bytes)
                }
            }
            Framing::Close => {
                let mut bytes = vec![0; 64 << 10];
                let n = self.reader.read(&mut bytes).unwrap();
                bytes.truncate(n);
                (n > 0).then_some(bytes)
            }
        };
        self.ended = bytes.is_none();
        bytes
    }

    fn finish(mut self) -> Reply {
        let mut body = std::mem::take(&mut self.pending);
        while let Some(bytes) = self.next_bytes() {
            body.extend(bytes);
        }
        Reply { status: self.status, head: self.head, headers: self.headers, body }
    }

    /// The next JSON-RPC message of an SSE body (comments and empty events skipped), `None`
    /// when the stream ends first.
    fn next_message(&mut self) -> Option<Value> {
        loop {
            if let Some(at) = self.pending.windows(2).position(|w| w == b"\n\n") {
                let event: Vec<u8> = self.pending.drain(..at + 2).collect();
                let event = String::from_utf8(event).unwrap();
                let data: Vec<&str> = event.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim).collect();
                if data.is_empty() || data.iter().all(|d| d.is_empty()) {
                    continue;
                }
                return Some(serde_json::from_str(&data.join("\n")).unwrap());
            }
            let bytes = self.next_bytes()?;
            self.pending.extend(bytes);
        }
    }
}

/// Whether the server ended the connection (end of stream, or reset) rather than leaving it
/// open past [`HANG`]; anything it sent first is given too.
fn ends(stream: &mut TcpStream) -> (bool, Vec<u8>) {
    let mut got = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return (true, got),
            Ok(n) => got.extend_from_slice(&buffer[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return (false, got),
            Err(_) => return (true, got),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Limits

#[test]
fn a_body_that_stalls_is_408_and_its_connection_is_not_kept() {
    let gateway = Gateway::start(quick(), Flood::None);
    let mut stream = gateway.connect();
    // Keep-alive (no `Connection: close`): the connection must still end after the 408.
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: 200\r\n\r\n{{\"jsonrpc\":",
        gateway.addr
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut answer = Answer::read(stream.try_clone().unwrap());
    assert_eq!(answer.status, 408);
    while answer.next_bytes().is_some() {}
    let (ended, rest) = ends(&mut stream);
    assert!(ended, "the connection of a body that timed out is still open");
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
    // The gateway goes on serving.
    gateway.open_session();
    let counters = gateway.stop();
    assert!(counters.refused.load(Ordering::Relaxed) >= 1);
}

#[test]
fn a_request_line_that_stalls_is_closed_while_others_are_served() {
    let gateway = Gateway::start(quick(), Flood::None);
    let mut stalled: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut stream = gateway.connect();
            stream.write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.").unwrap();
            stream
        })
        .collect();
    let session = gateway.open_session();
    assert_eq!(echoed(&gateway.echo(&session, 1, "served meanwhile", "json").json()), "served meanwhile");
    for stream in &mut stalled {
        let (ended, got) = ends(stream);
        assert!(ended, "a connection that never finished its headers is still open");
        let got = String::from_utf8_lossy(&got);
        assert!(got.is_empty() || got.starts_with("HTTP/1.1 408"), "{got:?}");
    }
}

#[test]
fn an_idle_session_is_ended_with_its_log_closed_and_its_id_then_unknown() {
    let options = Options { idle_timeout: Duration::from_millis(200), ..quick() };
    let gateway = Gateway::start(options, Flood::None);
    // One request: the session may go idle as soon as it is answered, however slowly this
    // test runs.
    let session = gateway.initialize();
    wait_until("the idle session to end", || gateway.world.ended_cleanly(1).is_some());
    assert_eq!(gateway.world.ended_cleanly(1), Some(true), "its log was not closed");
    assert!(gateway.logged("idle too long"));
    let logs = gateway.world.logs();
    assert_eq!(logs.len(), 1);
    assert!(logs[0].1.closed_with_checkpoint(), "the log does not end with a checkpoint");
    let reply = gateway.rpc(Some(&session), &json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list"}));
    assert_eq!(reply.status, 404, "{reply:?}");
    // Its upstream session is ended too.
    wait_until("the upstream session's DELETE", || {
        gateway
            .peer
            .seen()
            .iter()
            .any(|s| s.method == Method::DELETE && s.headers["mcp-session-id"] == UPSTREAM_SESSION)
    });
}

#[test]
fn server_messages_no_stream_takes_are_capped_at_the_backlog() {
    const FLOOD: usize = 100;
    const BACKLOG: usize = 8;
    let options = Options { backlog: BACKLOG, ..quick() };
    let gateway = Gateway::start(options, Flood::Count(FLOOD));
    let session = gateway.open_session();
    // Every notification and the marker have passed the session (the client has no stream
    // open: JSON answers only)...
    wait_until("the marker to pass the session", || gateway.world.sent_to_client("marker"));
    // ...and a call answered after it means the router has handled them all.
    assert_eq!(echoed(&gateway.echo(&session, 1, "after the flood", "json").json()), "after the flood");
    let mut stream = gateway.send("GET", &[("Accept", "text/event-stream"), ("Mcp-Session-Id", &session)], b"");
    assert_eq!(stream.status, 200);
    let kept: Vec<Value> =
        (0..BACKLOG).map(|_| stream.next_message().expect("a kept message")["params"]["data"]["seq"].clone()).collect();
    let newest: Vec<Value> = (FLOOD + 1 - BACKLOG..FLOOD).map(|seq| json!(seq)).chain([json!("marker")]).collect();
    assert_eq!(kept, newest, "the backlog keeps the newest {BACKLOG} messages");
    drop(stream);
    let counters = gateway.stop();
    assert_eq!(counters.dropped.load(Ordering::Relaxed), (FLOOD + 1 - BACKLOG) as u64);
}

#[test]
fn a_server_stream_its_client_never_reads_is_closed() {
    let gateway = Gateway::start(Options { backlog: 16, ..quick() }, Flood::Until(32 << 10));
    let session = gateway.open_session();
    let get = [("Accept", "text/event-stream"), ("Mcp-Session-Id", session.as_str())];
    let unread = gateway.send("GET", &get, b"");
    assert_eq!(unread.status, 200);
    wait_until("the slow server stream to be closed", || gateway.logged("a slow server stream was closed"));
    gateway.peer.flood_stop.store(true, Ordering::Relaxed);
    // Its place is free: a new server stream is accepted, not 409.
    let again = gateway.send("GET", &get, b"");
    assert_eq!(again.status, 200);
    // And the old one ends once what it holds is read: nothing more was queued for it.
    let flooded = gateway.peer.flooded.load(Ordering::Relaxed);
    let read = unread.finish();
    let events = read.body.windows(7).filter(|w| w == b"\"seq\":").count();
    assert!(events < flooded, "the closed stream got {events} of {flooded} messages");
    drop(again);
    gateway.stop();
}

// ---------------------------------------------------------------------------------------------
// The upstream bridge

#[test]
fn an_sse_answer_from_the_upstream_is_passed_on() {
    let gateway = Gateway::start(quick(), Flood::None);
    let session = gateway.open_session();
    let mut stream = gateway.post(Some(&session), &call(1, "over sse", "sse"), true, &[]);
    assert_eq!(stream.status, 200);
    let note = stream.next_message().expect("the upstream's notification");
    assert_eq!(note["method"], "notifications/message", "{note}");
    assert_eq!(note["params"]["data"], "progress from the upstream");
    let answer = stream.next_message().expect("the answer");
    assert_eq!((answer["id"].clone(), echoed(&answer)), (json!(1), "over sse"), "{answer}");
    assert!(stream.next_message().is_none(), "the stream ends with its answer");
    // The same upstream stream, to a client that wants JSON: the answer alone.
    let answer = gateway.echo(&session, 2, "sse to json", "sse").json();
    assert_eq!((answer["id"].clone(), echoed(&answer)), (json!(2), "sse to json"), "{answer}");
}

/// A server may leave an SSE answer's stream open after the answer: the request is over for
/// the bridge all the same, so such streams never use up its requests in flight
/// ([`agentk_mcp::upstream::MAX_IN_FLIGHT`]).
#[test]
fn sse_answers_left_open_by_the_upstream_do_not_use_up_the_bridge() {
    // A call that waits in vain is answered (-32003) after a second rather than five.
    let mut options = quick();
    options.proxy.timeout = Duration::from_secs(1);
    let gateway = Gateway::start(options, Flood::None);
    let session = gateway.open_session();
    let rounds = agentk_mcp::upstream::MAX_IN_FLIGHT as u64 + 2;
    for id in 1..=rounds {
        let answer = gateway.echo(&session, id, "left open", "sse-open").json();
        assert_eq!((answer["id"].clone(), echoed(&answer)), (json!(id), "left open"), "{answer}");
    }
}

#[test]
fn an_upstream_answer_over_the_frame_limit_is_an_error_for_that_request() {
    let gateway = Gateway::start(quick(), Flood::None);
    let session = gateway.open_session();
    for (id, mode) in [(1, "huge"), (2, "huge-sse")] {
        let reply = gateway.echo(&session, id, "big", mode);
        assert!(reply.body.len() < 1024, "{mode}: {} bytes reached the client", reply.body.len());
        let answer = reply.json();
        assert_eq!(
            (answer["id"].clone(), answer["error"]["code"].clone()),
            (json!(id), json!(SERVER_GONE)),
            "{mode}: {answer}"
        );
    }
    // The session goes on.
    assert_eq!(echoed(&gateway.echo(&session, 3, "still here", "json").json()), "still here");
}

#[test]
fn an_upstream_http_error_is_an_error_that_never_repeats_the_upstream_body() {
    let gateway = Gateway::start(quick(), Flood::None);
    let session = gateway.open_session();
    for (id, mode) in [(1, "status-500"), (2, "status-404")] {
        for sse in [false, true] {
            let reply = gateway.post(Some(&session), &call(id, "fails", mode), sse, &[]).finish();
            assert_eq!(reply.status, 200, "{mode}: {reply:?}");
            assert!(!reply.raw().contains(CANARY), "{mode}: the upstream's words reached the client: {reply:?}");
            let answer = if sse {
                let text = String::from_utf8_lossy(&reply.body).into_owned();
                let data = text.lines().filter_map(|l| l.strip_prefix("data: ")).next_back().unwrap().to_owned();
                serde_json::from_str::<Value>(&data).unwrap()
            } else {
                reply.json()
            };
            assert_eq!(answer["id"], id, "{mode}: {answer}");
            assert!(answer["error"]["code"].is_i64(), "{mode}: not an error: {answer}");
        }
    }
    assert!(!gateway.logged(CANARY));
    for (_, log) in gateway.world.logs() {
        assert!(log.lines().iter().all(|line| !line.contains(CANARY)), "the upstream's words reached the log");
    }
}

#[test]
fn an_upstream_that_cuts_its_answer_short_is_an_error_answer() {
    let gateway = Gateway::start(quick(), Flood::None);
    let session = gateway.open_session();
    for (id, mode) in [(1, "cut-json"), (2, "cut-sse")] {
        let answer = gateway.echo(&session, id, "cut", mode).json();
        assert_eq!(
            (answer["id"].clone(), answer["error"]["code"].clone()),
            (json!(id), json!(SERVER_GONE)),
            "{mode}: {answer}"
        );
    }
    assert_eq!(echoed(&gateway.echo(&session, 3, "still here", "json").json()), "still here");
}

#[test]
fn the_upstream_session_id_stays_between_the_bridge_and_the_upstream() {
    let gateway = Gateway::start(quick(), Flood::None);
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "gateway-unit-client", "version": "1"}}});
    let mut replies = vec![gateway.rpc(None, &init)];
    let session = replies[0].header("mcp-session-id").unwrap().to_owned();
    assert!(session.len() == 64 && session.bytes().all(|b| b.is_ascii_hexdigit()), "{session:?}");
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    replies.push(gateway.post(Some(&session), &note, false, &[]).finish());
    replies.push(gateway.rpc(Some(&session), &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})));
    replies.push(gateway.post(Some(&session), &call(2, "json", "json"), true, &[]).finish());
    replies.push(gateway.rpc(Some(&session), &call(3, "sse", "sse")));
    replies.push(gateway.send("DELETE", &[("Mcp-Session-Id", &session)], b"").finish());
    for reply in &replies {
        assert!(reply.status < 300, "{reply:?}");
        assert!(!reply.raw().contains(UPSTREAM_SESSION), "the upstream's session id reached the client: {reply:?}");
    }
    wait_until("the upstream session's DELETE", || gateway.peer.seen().iter().any(|s| s.method == Method::DELETE));
    let seen = gateway.peer.seen();
    let (first, rest) = seen.split_first().unwrap();
    assert_eq!(first.body["method"], "initialize");
    assert!(first.headers.get("mcp-session-id").is_none());
    assert!(rest.len() >= 5, "{rest:?}");
    for s in rest {
        assert_eq!(s.headers.get("mcp-session-id").map(|v| v.to_str().unwrap()), Some(UPSTREAM_SESSION), "{s:?}");
        // The DELETE's version header has its own test below.
        if s.method != Method::DELETE {
            assert_eq!(s.headers.get("mcp-protocol-version").map(|v| v.to_str().unwrap()), Some(LEGACY), "{s:?}");
        }
    }
    for method in [Method::GET, Method::DELETE] {
        assert!(rest.iter().any(|s| s.method == method), "no {method} upstream");
    }
}

/// The 2025 transport says a client sends `MCP-Protocol-Version` on every request after
/// `initialize`; the `DELETE` that ends a session is one (the TypeScript SDK's client sends it).
#[test]
fn the_bridge_ends_the_upstream_session_with_its_id_and_version() {
    let gateway = Gateway::start(quick(), Flood::None);
    let session = gateway.open_session();
    assert_eq!(gateway.send("DELETE", &[("Mcp-Session-Id", &session)], b"").finish().status, 204);
    wait_until("the upstream session's DELETE", || gateway.peer.seen().iter().any(|s| s.method == Method::DELETE));
    let seen = gateway.peer.seen();
    let delete = seen.iter().find(|s| s.method == Method::DELETE).unwrap();
    let header = |name: &str| delete.headers.get(name).map(|v| v.to_str().unwrap());
    assert_eq!(header("mcp-session-id"), Some(UPSTREAM_SESSION));
    assert_eq!(header("mcp-protocol-version"), Some(LEGACY), "{delete:?}");
}

#[test]
fn a_2026_request_reaches_the_upstream_with_routing_headers_equal_to_its_body() {
    let gateway = Gateway::start(quick(), Flood::None);
    let echo = modern(1, "tools/call", json!({"name": "echo", "arguments": {"message": "modern"}}));
    let headers = [("Mcp-Method", "tools/call"), ("Mcp-Name", "echo"), ("MCP-Protocol-Version", MODERN)];
    let reply = gateway.post(None, &echo, false, &headers).finish();
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(echoed(&reply.json()), "modern");
    let prompt = modern(2, "prompts/get", json!({"name": WIDE_NAME}));
    let headers = [("Mcp-Method", "prompts/get"), ("Mcp-Name", WIDE_NAME_HEADER), ("MCP-Protocol-Version", MODERN)];
    let reply = gateway.post(None, &prompt, false, &headers).finish();
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(reply.json()["result"]["messages"].is_array(), "{reply:?}");
    let modern_posts: Vec<Seen> = gateway
        .peer
        .seen()
        .into_iter()
        .filter(|s| s.method == Method::POST && s.body["params"]["_meta"][VERSION_META].is_string())
        .collect();
    let header = |s: &Seen, name: &str| s.headers.get(name).map(|v| v.to_str().unwrap().to_owned());
    for s in &modern_posts {
        assert_eq!(header(s, "mcp-method").as_deref(), s.body["method"].as_str(), "{s:?}");
        assert_eq!(header(s, "mcp-protocol-version").as_deref(), s.body["params"]["_meta"][VERSION_META].as_str());
        let name = s.headers.get("mcp-name").map(|v| header_value_text(v).expect("a readable Mcp-Name"));
        let named = matches!(s.body["method"].as_str(), Some("tools/call" | "prompts/get"));
        assert_eq!(name.as_deref(), if named { s.body["params"]["name"].as_str() } else { None }, "{s:?}");
    }
    let calls = gateway.peer.posts("tools/call");
    assert_eq!(calls.len(), 1);
    assert_eq!(header(&calls[0], "mcp-name").as_deref(), Some("echo"));
    let prompts = gateway.peer.posts("prompts/get");
    assert_eq!(prompts.len(), 1, "the prompt did not reach the upstream");
    assert_eq!(prompts[0].body["params"]["name"], WIDE_NAME);
    assert_eq!(header(&prompts[0], "mcp-name").as_deref(), Some(WIDE_NAME_HEADER));
}

// ---------------------------------------------------------------------------------------------
// Stopping

#[test]
fn stopping_answers_a_waiting_call_and_closes_every_log_with_a_checkpoint() {
    let gateway = Gateway::start(quick(), Flood::None);
    let session = gateway.open_session();
    let echo = modern(1, "tools/call", json!({"name": "echo", "arguments": {"message": "modern"}}));
    let headers = [("Mcp-Method", "tools/call"), ("Mcp-Name", "echo"), ("MCP-Protocol-Version", MODERN)];
    assert_eq!(echoed(&gateway.post(None, &echo, false, &headers).finish().json()), "modern");
    let waiting = {
        let (client, session) = (gateway.client, session.clone());
        std::thread::spawn(move || client.rpc(Some(&session), &call(7, "never answered", "hang")))
    };
    wait_until("the call to reach the upstream", || {
        gateway.peer.posts("tools/call").iter().any(|s| s.body["params"]["arguments"]["mode"] == "hang")
    });
    let world = Arc::clone(&gateway.world);
    let counters = gateway.stop();
    let reply = waiting.join().unwrap();
    assert_eq!(reply.status, 200, "{reply:?}");
    let answer = reply.json();
    assert_eq!(answer["id"], 7, "{answer}");
    assert!(answer["error"]["code"].is_i64(), "a waiting call was not answered with an error: {answer}");
    assert_eq!(counters.sessions.load(Ordering::Relaxed), 2);
    let logs = world.logs();
    assert_eq!(logs.len(), 2);
    for (label, log) in &logs {
        assert_eq!(world.ended_cleanly(label.serial), Some(true), "{label:?}");
        assert!(log.closed_with_checkpoint(), "{label:?}: the log does not end with a checkpoint");
    }
}
