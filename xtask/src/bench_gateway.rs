//! `cargo xtask bench --only gateway`: what `agentk mcp-gateway` costs an MCP client over
//! Streamable HTTP, on loopback. The upstream is a tiny Streamable HTTP echo server inside
//! this process (one `echo` tool, read-only, answered as JSON; no network, no node or Python);
//! the gateway is the release binary, run as by default (the `mcp` policy, every session's
//! flight log synced within 100 ms; only `--max-sessions` raised to hold the memory figure's
//! sessions) with `--upstream` pointing at the echo server, its resident set and CPU time read
//! from `/proc/PID`. One client
//! speaks to both: each session is one keep-alive HTTP/1.1 connection that sends
//! `initialize`, `notifications/initialized` and `tools/list`, then `tools/call echo` requests,
//! each waiting for its answer before the next is sent, and checks every answer.
//!
//! The figures:
//!
//! - `gateway_added_p50_us`: the p50 round trip through the gateway minus the p50 of the same
//!   client's same calls sent directly to the echo server, one session each, measured in
//!   alternating slices (a shared machine's neighbours slow both alike).
//! - `gateway_calls_per_s_1` and `gateway_calls_per_s_16`: calls per second through the
//!   gateway with 1 and with 16 sessions at once (each sequential), beside the direct ones.
//! - `gateway_rss_per_session_kb`: the growth of the gateway's resident set (`VmRSS`) while
//!   [`RSS_SESSIONS`] sessions are opened and held (each initialized, listed, and one call
//!   answered), divided by their number.
//!
//! The run counts only if every answer was the echo asked for, the gateway stopped cleanly on
//! SIGTERM, and every session's flight log verifies (one of them pinned to the test key).

use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{ACCEPT, CONTENT_TYPE, HOST, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpStream;

use crate::bench::{Floor, Report, line, round};

/// The gateway's signing key: a fixed TEST KEY (32 bytes of 7), never a real one.
const TEST_KEY: [u8; 32] = [7; 32];

/// The server id the gateway records (`mcp://bench-echo/echo`).
const SERVER_ID: &str = "bench-echo";

/// The protocol version the client asks for and the echo server answers.
const VERSION: &str = "2025-11-25";

/// Calls each single session sends before the figures start.
const WARMUP: usize = 500;

/// The single-session figures: this many slices of [`SLICE_CALLS`] calls, direct and through
/// the gateway in turn.
const SLICES: usize = 10;
const SLICE_CALLS: usize = 500;

/// The concurrent sessions of the second throughput figure.
const CONCURRENT: usize = 16;

/// How long each concurrent pass runs; [`PASSES`] passes each, direct and gateway in turn,
/// and the best pass of each is the figure.
const PASS: Duration = Duration::from_millis(1500);
const PASSES: usize = 2;

/// The most calls one session sends in a pass, whatever the time (a bound, not a target).
const PASS_CAP: u64 = 100_000;

/// The sessions opened and held for the memory figure.
const RSS_SESSIONS: usize = 128;

/// The longest any answer may take before the bench gives up (the gateway's own upstream
/// timeout is 60 s; the echo server answers at once).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest body either side reads.
const MAX_BODY: usize = 1 << 20;

/// How long the gateway may take to say where it listens, and to stop once told.
const START_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

// ------------------------------------------------------------------------------------------
// The upstream: a Streamable HTTP echo server on its own thread.

/// The echo server, running until dropped.
struct Echo {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Echo {
    fn start() -> Result<Echo, String> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("the echo server: {e}"))?;
        listener.set_nonblocking(true).map_err(|e| format!("the echo server: {e}"))?;
        let addr = listener.local_addr().map_err(|e| format!("the echo server: {e}"))?;
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("the echo server's runtime: {e}"))?;
        let thread = std::thread::Builder::new()
            .name("bench-echo".to_owned())
            .spawn(move || runtime.block_on(echo_serve(listener, stopped)))
            .map_err(|e| format!("the echo server's thread: {e}"))?;
        Ok(Echo { addr, stop: Some(stop), thread: Some(thread) })
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Accepts connections until `stop`; the connections end with the runtime.
async fn echo_serve(listener: std::net::TcpListener, mut stop: tokio::sync::oneshot::Receiver<()>) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
    let sessions = Arc::new(AtomicU64::new(0));
    loop {
        let accepted = tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else { continue };
        let _ = stream.set_nodelay(true);
        let sessions = Arc::clone(&sessions);
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let sessions = Arc::clone(&sessions);
                async move { Ok::<_, Infallible>(echo_answer(request, &sessions).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn status_only(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

/// One POSTed message answered: `initialize`, `tools/list`, `tools/call echo`, `ping`; a
/// notification or a client's answer is accepted (202); GET has no stream (405); DELETE ends
/// nothing that needs ending (204).
async fn echo_answer(request: Request<Incoming>, sessions: &AtomicU64) -> Response<Full<Bytes>> {
    match *request.method() {
        Method::POST => {}
        Method::DELETE => return status_only(StatusCode::NO_CONTENT),
        _ => return status_only(StatusCode::METHOD_NOT_ALLOWED),
    }
    let Ok(body) = Limited::new(request.into_body(), MAX_BODY).collect().await else {
        return status_only(StatusCode::BAD_REQUEST);
    };
    let Ok(message) = serde_json::from_slice::<Value>(&body.to_bytes()) else {
        return status_only(StatusCode::BAD_REQUEST);
    };
    let (Some(method), Some(id)) =
        (message.get("method").and_then(Value::as_str), message.get("id").filter(|id| !id.is_null()))
    else {
        return status_only(StatusCode::ACCEPTED);
    };
    let mut session = None;
    let outcome = match method {
        "initialize" => {
            session = Some(format!("bench-echo-session-{}", sessions.fetch_add(1, Ordering::Relaxed) + 1));
            Ok(json!({
                "protocolVersion": VERSION,
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "bench-echo", "version": "1"},
            }))
        }
        "tools/list" => Ok(json!({"tools": [{
            "name": "echo",
            "description": "Answers with the message it was given.",
            "inputSchema": {
                "type": "object",
                "properties": {"message": {"type": "string"}},
                "required": ["message"],
            },
            "annotations": {"readOnlyHint": true},
        }]})),
        "tools/call" => {
            let params = message.get("params");
            let name = params.and_then(|p| p.get("name")).and_then(Value::as_str);
            let text = params.and_then(|p| p.get("arguments")).and_then(|a| a.get("message")).and_then(Value::as_str);
            match (name, text) {
                (Some("echo"), Some(text)) => Ok(json!({"content": [{"type": "text", "text": text}]})),
                _ => Err((-32602, "only `echo` with a string `message` is served here")),
            }
        }
        "ping" => Ok(json!({})),
        _ => Err((-32601, "method not found")),
    };
    let answer = match outcome {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err((code, text)) => json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": text}}),
    };
    let mut response = Response::new(Full::new(Bytes::from(answer.to_string())));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(session) = session.and_then(|s| HeaderValue::from_str(&s).ok()) {
        response.headers_mut().insert("mcp-session-id", session);
    }
    response
}

// ------------------------------------------------------------------------------------------
// The client: one keep-alive HTTP/1.1 connection per session.

/// What the client reads of an answer to `tools/call`.
#[derive(Deserialize)]
struct Answer {
    id: Option<u64>,
    result: Option<CallResult>,
}

#[derive(Deserialize)]
struct CallResult {
    #[serde(default)]
    content: Vec<Content>,
    #[serde(default, rename = "isError")]
    is_error: bool,
}

#[derive(Deserialize)]
struct Content {
    text: Option<String>,
}

/// A short, printable excerpt of a body, for an error.
fn excerpt(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).chars().take(200).filter(|c| !c.is_control()).collect()
}

/// One client session over its own connection.
struct Client {
    send: SendRequest<Full<Bytes>>,
    host: HeaderValue,
    session: Option<HeaderValue>,
    /// The id of the next call (0 and 1 are the handshake's).
    next: u64,
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl Client {
    async fn connect(addr: SocketAddr) -> Result<Client, String> {
        let stream = TcpStream::connect(addr).await.map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let _ = stream.set_nodelay(true);
        let (send, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("the HTTP handshake with {addr} failed: {e}"))?;
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        let host = HeaderValue::from_str(&addr.to_string()).map_err(|e| e.to_string())?;
        Ok(Client { send, host, session: None, next: 2, driver })
    }

    /// One request, its answer read whole (bounded in size and time).
    async fn exchange(
        &mut self,
        method: Method,
        body: Bytes,
    ) -> Result<(StatusCode, Option<HeaderValue>, Bytes), String> {
        let mut request = Request::builder()
            .method(method)
            .uri("/mcp")
            .header(HOST, self.host.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json");
        if let Some(session) = &self.session {
            request = request.header("mcp-session-id", session.clone()).header("mcp-protocol-version", VERSION);
        }
        let request = request.body(Full::new(body)).map_err(|e| e.to_string())?;
        let exchange = async {
            self.send.ready().await.map_err(|e| format!("the connection closed: {e}"))?;
            let response = self.send.send_request(request).await.map_err(|e| format!("the request failed: {e}"))?;
            let status = response.status();
            let session = response.headers().get("mcp-session-id").cloned();
            let body = Limited::new(response.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| format!("the answer could not be read: {e}"))?
                .to_bytes();
            Ok::<_, String>((status, session, body))
        };
        tokio::time::timeout(ANSWER_TIMEOUT, exchange)
            .await
            .map_err(|_| format!("no answer for {} s", ANSWER_TIMEOUT.as_secs()))?
    }

    async fn post(&mut self, body: impl Into<Bytes>, expect: StatusCode, what: &str) -> Result<Bytes, String> {
        let (status, _, body) = self.exchange(Method::POST, body.into()).await?;
        if status != expect {
            return Err(format!("{what}: HTTP {} instead of {}: {}", status.as_u16(), expect.as_u16(), excerpt(&body)));
        }
        Ok(body)
    }

    /// Connects and opens a session: `initialize`, `notifications/initialized`, `tools/list`.
    async fn open(addr: SocketAddr) -> Result<Client, String> {
        let mut client = Client::connect(addr).await?;
        let initialize = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": VERSION,
            "capabilities": {},
            "clientInfo": {"name": "agentk-bench", "version": "1"},
        }});
        let (status, session, body) = client.exchange(Method::POST, Bytes::from(initialize.to_string())).await?;
        if status != StatusCode::OK || session.is_none() {
            return Err(format!(
                "initialize: HTTP {} (session id: {}): {}",
                status.as_u16(),
                session.is_some(),
                excerpt(&body)
            ));
        }
        client.session = session;
        let initialized = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
        client.post(initialized, StatusCode::ACCEPTED, "notifications/initialized").await?;
        let listed =
            client.post(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#, StatusCode::OK, "tools/list").await?;
        let tools: Value = serde_json::from_slice(&listed).map_err(|_| format!("tools/list: {}", excerpt(&listed)))?;
        let has_echo = tools
            .pointer("/result/tools")
            .and_then(Value::as_array)
            .is_some_and(|tools| tools.iter().any(|t| t.get("name").and_then(Value::as_str) == Some("echo")));
        if !has_echo {
            return Err(format!("tools/list did not list `echo`: {}", excerpt(&listed)));
        }
        Ok(client)
    }

    /// One `tools/call echo`, its answer checked; answers the answer's bytes.
    async fn call(&mut self) -> Result<Bytes, String> {
        let id = self.next;
        self.next += 1;
        let message = format!("bench call {id}");
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"message":"{message}"}}}}}}"#
        );
        let answer = self.post(body, StatusCode::OK, "tools/call").await?;
        let parsed: Answer =
            serde_json::from_slice(&answer).map_err(|_| format!("tools/call {id}: {}", excerpt(&answer)))?;
        let echoed = parsed.result.as_ref().filter(|r| !r.is_error).and_then(|r| r.content.first()?.text.as_deref());
        if parsed.id != Some(id) || echoed != Some(message.as_str()) {
            return Err(format!("tools/call {id} was not echoed: {}", excerpt(&answer)));
        }
        Ok(answer)
    }

    /// Ends the session.
    async fn delete(&mut self) -> Result<(), String> {
        let (status, _, body) = self.exchange(Method::DELETE, Bytes::new()).await?;
        if !status.is_success() {
            return Err(format!("DELETE: HTTP {}: {}", status.as_u16(), excerpt(&body)));
        }
        Ok(())
    }
}

/// `count` calls in turn, each one's round trip (ns) pushed to `latencies`; answers the
/// answers.
async fn calls(client: &mut Client, count: usize, latencies: &mut Vec<u64>) -> Result<Vec<Bytes>, String> {
    let mut answers = Vec::with_capacity(count);
    for _ in 0..count {
        let sent = Instant::now();
        let answer = client.call().await?;
        latencies.push(u64::try_from(sent.elapsed().as_nanos()).unwrap_or(u64::MAX));
        answers.push(answer);
    }
    Ok(answers)
}

/// One pass of concurrent sessions: each calls in turn for [`PASS`]. Answers the sessions
/// back, the calls made, the wall time until the last session finished, and the latencies.
async fn pass(clients: Vec<Client>) -> Result<(Vec<Client>, u64, Duration, Vec<u64>), String> {
    let start = Instant::now();
    let deadline = start + PASS;
    let mut tasks = tokio::task::JoinSet::new();
    for mut client in clients {
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let mut made = 0u64;
            while made < PASS_CAP && Instant::now() < deadline {
                let sent = Instant::now();
                client.call().await?;
                latencies.push(u64::try_from(sent.elapsed().as_nanos()).unwrap_or(u64::MAX));
                made += 1;
            }
            Ok::<_, String>((client, made, start.elapsed(), latencies))
        });
    }
    let (mut back, mut made, mut elapsed, mut latencies) = (Vec::new(), 0, Duration::ZERO, Vec::new());
    while let Some(joined) = tasks.join_next().await {
        let (client, n, took, mut l) = joined.map_err(|e| format!("a session's task failed: {e}"))??;
        back.push(client);
        made += n;
        elapsed = elapsed.max(took);
        latencies.append(&mut l);
    }
    Ok((back, made, elapsed, latencies))
}

fn percentile_us(sorted: &[u64], p: usize) -> f64 {
    let n = sorted.len();
    let rank = (n * p).div_ceil(100).clamp(1, n.max(1)) - 1;
    sorted.get(rank).copied().unwrap_or(0) as f64 / 1e3
}

// ------------------------------------------------------------------------------------------
// The gateway process.

/// The running gateway; killed if dropped before it stopped.
struct Gateway {
    child: Child,
    addr: SocketAddr,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Gateway {
    fn start(binary: &Path, dir: &Path, upstream: SocketAddr) -> Result<Gateway, String> {
        let mut child = Command::new(binary)
            .args(["mcp-gateway", "--listen", "127.0.0.1:0", "--server-id", SERVER_ID, "--max-sessions", "512"])
            .arg("--log-dir")
            .arg(dir.join("logs"))
            .arg("--pins")
            .arg(dir.join("pins.json"))
            .arg("--approvals-dir")
            .arg(dir.join("approvals"))
            .arg("--upstream")
            .arg(format!("http://{upstream}/mcp"))
            .env_clear()
            .env("AGENTK_SIGNING_KEY_HEX", hex(&TEST_KEY))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("agentk mcp-gateway could not start: {e}"))?;
        let Some(stderr) = child.stderr.take() else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("the gateway's standard error is missing".to_owned());
        };
        // Read on a thread: the address first, then every line (one per session opened and
        // ended), so that the gateway never blocks on a full pipe.
        let (found, listening) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            let mut found = Some(found);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("listening on http://").nth(1)
                    && let Some(sender) = found.take()
                {
                    let _ = sender.send(rest.split('/').next().unwrap_or_default().to_owned());
                }
                text.push_str(&line);
                text.push('\n');
            }
            text
        });
        // The address is known once the gateway says it; until then the guard holds the child.
        let mut gateway = Gateway { child, addr: SocketAddr::from(([127, 0, 0, 1], 0)), stderr: Some(reader) };
        let Ok(said) = listening.recv_timeout(START_TIMEOUT) else {
            let _ = gateway.child.kill();
            let _ = gateway.child.wait();
            let text = gateway.stderr.take().and_then(|r| r.join().ok()).unwrap_or_default();
            return Err(format!("the gateway did not start: {}", text.trim()));
        };
        gateway.addr = said.parse().map_err(|_| format!("the gateway listens on `{said}`, not an address"))?;
        Ok(gateway)
    }

    /// The CPU time the gateway has used so far, user and system (Linux: `/proc/PID/stat`, in
    /// clock ticks of 10 ms, the `USER_HZ` of every Linux target this runs on).
    fn cpu(&self) -> Option<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        // The command name may hold spaces: the fields are counted after its closing parenthesis.
        let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_whitespace().skip(11);
        let mut ticks = || fields.next()?.parse::<u64>().ok();
        Some(Duration::from_millis((ticks()? + ticks()?) * 10))
    }

    fn rss_kb(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()
    }

    /// SIGTERM, then waits for the drain; answers what the gateway said on standard error.
    fn stop(mut self) -> Result<String, String> {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let start = Instant::now();
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if start.elapsed() < STOP_TIMEOUT => std::thread::sleep(Duration::from_millis(20)),
                Ok(None) => {
                    return Err(format!("the gateway did not stop within {} s of SIGTERM", STOP_TIMEOUT.as_secs()));
                }
                Err(e) => return Err(format!("waiting for the gateway failed: {e}")),
            }
        };
        let said = self.stderr.take().and_then(|r| r.join().ok()).unwrap_or_default();
        if !status.success() || !said.contains("mcp-gateway: stopped:") {
            return Err(format!("the gateway ended with {status}: {}", said.trim()));
        }
        Ok(said)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ------------------------------------------------------------------------------------------
// The section.

/// What the client measured.
struct Figures {
    rss_before_kb: u64,
    rss_quarters_kb: Vec<u64>,
    direct_1: Vec<u64>,
    gateway_1: Vec<u64>,
    direct_1_s: Duration,
    gateway_1_s: Duration,
    same_answers: u64,
    differing_answers: u64,
    /// The gateway's CPU time over the single-session slices (it idles during the direct ones).
    gateway_1_cpu: Option<Duration>,
    /// (calls, wall time, sorted latencies) of the best pass, direct and through the gateway.
    direct_16: (u64, Duration, Vec<u64>),
    gateway_16: (u64, Duration, Vec<u64>),
}

impl Figures {
    fn rss_per_session_kb(&self) -> Option<f64> {
        let after = *self.rss_quarters_kb.last()?;
        Some((after as f64 - self.rss_before_kb as f64) / RSS_SESSIONS as f64)
    }
}

fn rate(calls: u64, elapsed: Duration) -> f64 {
    calls as f64 / elapsed.as_secs_f64().max(1e-9)
}

/// The client's whole run, against the echo server directly and through the gateway.
async fn measure(direct: SocketAddr, gateway: &Gateway) -> Result<Figures, String> {
    let through = gateway.addr;
    // Memory first, on a gateway that has served one session (so what is made once is made).
    let mut warm = Client::open(through).await?;
    for _ in 0..100 {
        warm.call().await?;
    }
    warm.delete().await?;
    drop(warm);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_before_kb = gateway.rss_kb().ok_or("the gateway's resident set cannot be read (/proc)")?;
    let mut held = Vec::with_capacity(RSS_SESSIONS);
    let mut rss_quarters_kb = Vec::new();
    for k in 1..=RSS_SESSIONS {
        let mut client = Client::open(through).await?;
        client.call().await?;
        held.push(client);
        if k.is_multiple_of(RSS_SESSIONS / 4) {
            // The logs are synced within 100 ms: let that settle before reading.
            if k == RSS_SESSIONS {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            rss_quarters_kb.push(gateway.rss_kb().ok_or("the gateway's resident set cannot be read")?);
        }
    }
    for client in &mut held {
        client.delete().await?;
    }
    drop(held);

    // One session each way, in alternating slices of the same calls.
    let (mut d, mut g) = (Client::open(direct).await?, Client::open(through).await?);
    let mut scratch = Vec::new();
    calls(&mut d, WARMUP, &mut scratch).await?;
    calls(&mut g, WARMUP, &mut scratch).await?;
    let (mut direct_1, mut gateway_1) = (Vec::new(), Vec::new());
    let (mut direct_1_s, mut gateway_1_s) = (Duration::ZERO, Duration::ZERO);
    let (mut same_answers, mut differing_answers) = (0u64, 0u64);
    let cpu_before = gateway.cpu();
    for _ in 0..SLICES {
        let start = Instant::now();
        let expected = calls(&mut d, SLICE_CALLS, &mut direct_1).await?;
        direct_1_s += start.elapsed();
        let start = Instant::now();
        let got = calls(&mut g, SLICE_CALLS, &mut gateway_1).await?;
        gateway_1_s += start.elapsed();
        for (a, b) in expected.iter().zip(&got) {
            if a == b {
                same_answers += 1;
            } else {
                differing_answers += 1;
            }
        }
    }
    let gateway_1_cpu = cpu_before.zip(gateway.cpu()).map(|(before, after)| after.saturating_sub(before));
    d.delete().await?;
    g.delete().await?;
    direct_1.sort_unstable();
    gateway_1.sort_unstable();

    // Sixteen sessions each way, passes in turn, the best of each.
    let mut direct_clients = Vec::with_capacity(CONCURRENT);
    let mut gateway_clients = Vec::with_capacity(CONCURRENT);
    for _ in 0..CONCURRENT {
        direct_clients.push(Client::open(direct).await?);
        gateway_clients.push(Client::open(through).await?);
    }
    for client in direct_clients.iter_mut().chain(gateway_clients.iter_mut()) {
        for _ in 0..20 {
            client.call().await?;
        }
    }
    let mut best_direct: (u64, Duration, Vec<u64>) = (0, Duration::MAX, Vec::new());
    let mut best_gateway: (u64, Duration, Vec<u64>) = (0, Duration::MAX, Vec::new());
    for _ in 0..PASSES {
        let (back, made, elapsed, latencies) = pass(direct_clients).await?;
        direct_clients = back;
        if rate(made, elapsed) > rate(best_direct.0, best_direct.1) {
            best_direct = (made, elapsed, latencies);
        }
        let (back, made, elapsed, latencies) = pass(gateway_clients).await?;
        gateway_clients = back;
        if rate(made, elapsed) > rate(best_gateway.0, best_gateway.1) {
            best_gateway = (made, elapsed, latencies);
        }
    }
    for client in direct_clients.iter_mut().chain(gateway_clients.iter_mut()) {
        client.delete().await?;
    }
    best_direct.2.sort_unstable();
    best_gateway.2.sort_unstable();
    Ok(Figures {
        rss_before_kb,
        rss_quarters_kb,
        direct_1,
        gateway_1,
        direct_1_s,
        gateway_1_s,
        same_answers,
        differing_answers,
        gateway_1_cpu,
        direct_16: best_direct,
        gateway_16: best_gateway,
    })
}

/// Every session's log verified (chain and signatures); the largest also with `agentk verify`
/// pinned to the test key. Answers (logs, events, what `agentk verify` said).
fn verify_logs(binary: &Path, dir: &Path) -> Result<(usize, u64, String), String> {
    let logs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("the gateway's log directory: {e}"))?
        .filter_map(|entry| Some(entry.ok()?.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "jsonl"))
        .collect();
    let mut events = 0;
    let mut largest: Option<(u64, &PathBuf)> = None;
    for log in &logs {
        let verified = agentk_flightlog::file::verify_file(log)
            .map_err(|e| format!("the session log `{}` did not verify: {e}", log.display()))?;
        events += verified.events();
        if largest.is_none_or(|(n, _)| verified.events() > n) {
            largest = Some((verified.events(), log));
        }
    }
    let Some((_, log)) = largest else {
        return Err("the gateway left no session log".to_owned());
    };
    let public = ed25519_dalek::SigningKey::from_bytes(&TEST_KEY).verifying_key().to_bytes();
    let output = Command::new(binary)
        .args(["verify", "--trusted-public-key", &hex(&public)])
        .arg(log)
        .env_clear()
        .output()
        .map_err(|e| format!("agentk verify could not start: {e}"))?;
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    if !output.status.success() {
        return Err(format!("the largest session log did not verify pinned ({}): {}", output.status, said.trim()));
    }
    Ok((logs.len(), events, said.lines().next().unwrap_or_default().trim().to_owned()))
}

fn figure_line(report: &Report, name: &str, sorted: &[u64], calls_per_s: f64) {
    report.say(&format!(
        "{name:<46} p50 {:>8.1} µs  p99 {:>8.1} µs  {calls_per_s:>8.0} calls/s",
        percentile_us(sorted, 50),
        percentile_us(sorted, 99),
    ));
}

/// The gateway section (see the module's documentation).
pub(crate) fn gateway_figures(report: &mut Report, binary: &Path, floor: &Floor) -> Result<(), String> {
    report.say(&format!(
        "gateway (agentk mcp-gateway in front of an in-process Streamable HTTP echo server, loopback; one keep-alive HTTP/1.1 connection per session, calls in turn, each answer awaited and checked; memory over {RSS_SESSIONS} sessions held open):"
    ));
    let scratch = crate::bench::scratch_dir()?.join("gateway");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;
    let outcome = run(report, binary, floor, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    outcome
}

fn run(report: &mut Report, binary: &Path, floor: &Floor, scratch: &Path) -> Result<(), String> {
    let echo = Echo::start()?;
    let gateway = Gateway::start(binary, scratch, echo.addr)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("the client's runtime: {e}"))?;
    let figures = runtime.block_on(measure(echo.addr, &gateway));
    drop(runtime);
    let stopped = gateway.stop();
    drop(echo);
    let figures = figures?;
    let said = stopped?;
    let (logs, events, pinned) = verify_logs(binary, &scratch.join("logs"))?;

    let per_session = figures.rss_per_session_kb();
    let quarters: Vec<String> =
        figures.rss_quarters_kb.iter().map(|kb| format!("{:.1}", *kb as f64 / 1024.0)).collect();
    report.say(&format!(
        "gateway resident set: {:.1} MB with no session open, then {} MB at each quarter of {RSS_SESSIONS} sessions: {} kB per session",
        figures.rss_before_kb as f64 / 1024.0,
        quarters.join(" "),
        per_session.map_or_else(|| "n/a".to_owned(), |kb| format!("{kb:.1}")),
    ));

    let direct_1 = rate(figures.direct_1.len() as u64, figures.direct_1_s);
    let gateway_1 = rate(figures.gateway_1.len() as u64, figures.gateway_1_s);
    figure_line(report, "direct: 1 session, calls in turn", &figures.direct_1, direct_1);
    figure_line(report, "gateway: 1 session, calls in turn", &figures.gateway_1, gateway_1);
    let added_us = percentile_us(&figures.gateway_1, 50) - percentile_us(&figures.direct_1, 50);
    let added_ns = added_us * 1e3;
    report.say(&format!(
        "gateway vs direct, 1 session: +{added_us:.1} µs at p50 (= {:.1} Ed25519 signatures, blake3 of {:.0} bytes), +{:.1} µs at p99, {:.2}x the calls/s",
        added_ns / floor.sign_ns,
        added_ns * floor.blake3_bytes_per_ns,
        percentile_us(&figures.gateway_1, 99) - percentile_us(&figures.direct_1, 99),
        gateway_1 / direct_1,
    ));
    let cpu_us = figures.gateway_1_cpu.map(|cpu| cpu.as_secs_f64() * 1e6 / figures.gateway_1.len().max(1) as f64);
    if let Some(us) = cpu_us {
        report.say(&format!("  gateway CPU per call, 1 session: {us:.1} µs (all its threads)"));
    }
    let (d_calls, d_elapsed, d_sorted) = &figures.direct_16;
    let (g_calls, g_elapsed, g_sorted) = &figures.gateway_16;
    let direct_16 = rate(*d_calls, *d_elapsed);
    let gateway_16 = rate(*g_calls, *g_elapsed);
    figure_line(report, &format!("direct: {CONCURRENT} sessions at once"), d_sorted, direct_16);
    figure_line(report, &format!("gateway: {CONCURRENT} sessions at once"), g_sorted, gateway_16);
    line(report, "gateway: tools/call, 1 session", 1e9 / gateway_1, floor);
    line(report, &format!("gateway: tools/call, {CONCURRENT} sessions (aggregate)"), 1e9 / gateway_16, floor);
    let total = figures.same_answers + figures.differing_answers;
    report.say(&format!(
        "answers through the gateway byte-identical to the direct ones: {} ({} of {total})",
        if figures.differing_answers == 0 { "yes" } else { "NO" },
        figures.same_answers,
    ));
    report.say(&format!(
        "  logs: {logs} session logs, {events} events, all verified; the largest pinned to the test key: {pinned}; the gateway said: {}",
        said.lines().find(|l| l.contains("stopped:")).unwrap_or_default().trim()
    ));

    report.set("gateway_calls_per_s_1", gateway_1.round());
    report.set("gateway_calls_per_s_16", gateway_16.round());
    report.set("gateway_added_p50_us", round(added_us, 1));
    if let Some(kb) = per_session {
        report.set("gateway_rss_per_session_kb", round(kb, 1));
    }
    report.set("gateway_rss_sessions", RSS_SESSIONS as u64);
    report.set("gateway_rss_before_kb", figures.rss_before_kb);
    report.set("gateway_p50_us", round(percentile_us(&figures.gateway_1, 50), 1));
    report.set("gateway_p99_us", round(percentile_us(&figures.gateway_1, 99), 1));
    report.set("gateway_p50_us_16", round(percentile_us(g_sorted, 50), 1));
    report.set("gateway_direct_p50_us", round(percentile_us(&figures.direct_1, 50), 1));
    report.set("gateway_direct_p99_us", round(percentile_us(&figures.direct_1, 99), 1));
    report.set("gateway_direct_calls_per_s_1", direct_1.round());
    report.set("gateway_direct_calls_per_s_16", direct_16.round());
    report.set("gateway_added_p50_signatures", round(added_ns / floor.sign_ns, 2));
    report.set("gateway_calls_per_s_1_ratio_to_sign", round(floor.sign_ns * gateway_1 / 1e9, 3));
    if let Some(us) = cpu_us {
        report.set("gateway_cpu_us_per_call", round(us, 1));
    }
    report.set("gateway_answers_identical", figures.differing_answers == 0);
    report.set("gateway_logs_verified", logs as u64);
    Ok(())
}
