//! `agentk mcp-gateway` from the outside: the built binary on `127.0.0.1:0`, spoken to in raw
//! HTTP/1.1 over `TcpStream` (every byte of each request written here, each answer read off the
//! wire), so what is checked is what a client, a web page or an attacker on the machine gets.
//!
//! - The door: a start that would expose the gateway is refused; tokens (401), origins and
//!   hosts (403), paths, methods, media types, sizes, batches and malformed bodies each get
//!   their status, and no answer or log line repeats a token or a body.
//! - Sessions: issued by the gateway, owned by the principal that opened them, ended by
//!   `DELETE`, bounded in number; the 2026-07-28 routing headers must agree with the body,
//!   else the call never reaches the server.
//! - Faults: a stalled request line, an upstream that dies mid-call, a client that leaves
//!   mid-stream, and `SIGTERM` during a call: whoever waits is answered, the gateway keeps
//!   serving, and every session's flight log verifies with `agentk verify`.
//!
//! The door tests stand in front of `agentk mcp-server` (this build, no peers needed). The
//! session and fault tests stand in front of a server on the official Python SDK (written
//! below, run from the `tests/peers/.venv` that `.ci/peers` installs); without it they print
//! `skipped: ... run .ci/peers` and pass, unless `AGENTK_REQUIRE_PEERS=1` (as in CI), where
//! they fail.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on purpose"
)]

mod common;

use std::ffi::OsString;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{TestHost, agentk, run_bounded, scratch};
use serde_json::{Value, json};

const AGENTK: &str = env!("CARGO_BIN_EXE_agentk");

/// The longest any one step may take before the test calls it a hang (a bound, never a
/// measurement: every wait below ends as soon as what it waits for happens).
const HANG: Duration = Duration::from_secs(30);

/// The server id every gateway here is given: targets are `mcp://gwtest/TOOL`.
const SERVER_ID: &str = "gwtest";

/// Two bearer tokens (dummy test values), one principal each.
const FIRST_TOKEN: &str = "example-first-test-token-4f1c9a2e";
const SECOND_TOKEN: &str = "example-second-test-token-7b2e0d91";
/// A token no file holds, distinctive enough to be found if it were ever repeated.
const WRONG_TOKEN: &str = "example-presented-wrong-token-9d3a5c61";

/// The 2026-07-28 envelope every modern request carries in `params._meta`.
fn modern_meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "gateway-test", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    })
}

/// A server on the official Python SDK: `echo`, `add`, and `slow`, which leaves a mark in its
/// working directory when called (so a test knows the call reached it) and answers after a
/// while. `python server.py` speaks stdio; `python server.py http PORT` Streamable HTTP on
/// `127.0.0.1:PORT/mcp`.
const SERVER_PY: &str = r#"
import asyncio, sys
from mcp.server import MCPServer

server = MCPServer("gateway-test-server")

@server.tool()
def echo(message: str) -> str:
    """Echo the message back."""
    return f"Echo: {message}"

@server.tool()
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b

@server.tool()
async def slow(seconds: float) -> str:
    """Answer after a while."""
    with open("slow.started", "a") as mark:
        mark.write("started\n")
    await asyncio.sleep(seconds)
    return "slept"

if len(sys.argv) > 2 and sys.argv[1] == "http":
    server.run(transport="streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
else:
    server.run()
"#;

// ---------------------------------------------------------------------------------------------
// Peers

fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers")
}

/// The Python of `tests/peers/.venv`, or `None` (after saying so) when it is not installed and
/// not required.
fn python() -> Option<PathBuf> {
    // The venv's own path, not what its link points to: that is what makes it the venv.
    let python = peers_dir().join(".venv/bin/python");
    if python.is_file() {
        return Some(python);
    }
    let message = "the Python MCP SDK's venv tests/peers/.venv is missing; run .ci/peers";
    if std::env::var_os("AGENTK_REQUIRE_PEERS").is_some_and(|v| v == "1") {
        panic!("{message} (AGENTK_REQUIRE_PEERS=1)");
    }
    // Written to the process's stderr, not through the test harness's capture, so a skip shows
    // in every run.
    let _ = writeln!(std::io::stderr(), "skipped: {message}");
    None
}

/// The Python server's command line, its script written into `dir`.
fn python_server(dir: &Path, python: &Path) -> Vec<OsString> {
    let script = dir.join("server.py");
    std::fs::write(&script, SERVER_PY).unwrap();
    vec![python.into(), script.into()]
}

/// `agentk mcp-server` (this build) as a stdio upstream: the door tests need a server that
/// answers `initialize`, and no peer.
fn agentk_server() -> Vec<OsString> {
    vec![AGENTK.into(), "mcp-server".into()]
}

/// Waits until `what` holds, or fails after [`HANG`] saying what did not happen.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + HANG;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {HANG:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until the Python server's `slow` tool was called `n` times (its marks are in `dir`).
fn wait_for_slow_calls(dir: &Path, n: usize) {
    wait_until(&format!("the upstream server saw {n} slow call(s)"), || {
        std::fs::read_to_string(dir.join("slow.started")).is_ok_and(|marks| marks.lines().count() >= n)
    });
}

/// A port nothing listens on right now (the kernel's pick, released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A process the test started; killed when dropped, whatever the test came to.
struct Guarded(Child);

impl Drop for Guarded {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The Python server on Streamable HTTP, once it accepts connections.
fn http_upstream(dir: &Path, python: &Path) -> (Guarded, u16) {
    let port = free_port();
    let mut command = Command::new(python);
    command.args(python_server(dir, python)[1..].iter()).arg("http").arg(port.to_string());
    command.current_dir(dir).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    let mut server = Guarded(command.spawn().unwrap());
    wait_until("the upstream HTTP server listens", || {
        assert!(server.0.try_wait().unwrap().is_none(), "the upstream HTTP server exited at start");
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    (server, port)
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP/1.1

/// An answer, read in full.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {} {:?} {:?}", self.status, self.headers, self.text())
    }
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as one JSON value.
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?} {}", self.text()))
    }
}

/// How a body's end is found.
#[derive(Debug)]
enum Framing {
    Length(usize),
    Chunked,
    Close,
}

/// An answer whose head is read and whose body is read as it arrives.
struct Incoming {
    reader: BufReader<TcpStream>,
    status: u16,
    headers: Vec<(String, String)>,
    framing: Framing,
    /// Body bytes read but not yet taken as SSE events.
    pending: Vec<u8>,
    ended: bool,
}

fn read_line(reader: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    match reader.read_line(&mut line) {
        Ok(_) => line.trim_end_matches(['\r', '\n']).to_owned(),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            panic!("no answer within {HANG:?}")
        }
        Err(e) => panic!("the answer could not be read: {e}"),
    }
}

impl Incoming {
    /// Reads the status line and the headers.
    fn read(stream: TcpStream) -> Incoming {
        stream.set_read_timeout(Some(HANG)).unwrap();
        let mut reader = BufReader::new(stream);
        let status_line = read_line(&mut reader);
        let status = status_line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP/1.1 status line: {status_line:?}"));
        let mut headers = Vec::new();
        loop {
            let line = read_line(&mut reader);
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
        } else {
            Framing::Close
        };
        Incoming { reader, status, headers, framing, pending: Vec::new(), ended: false }
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
                let size = usize::from_str_radix(size_line.split(';').next().unwrap().trim(), 16)
                    .unwrap_or_else(|_| panic!("not a chunk size: {size_line:?}"));
                if size == 0 {
                    while !read_line(&mut self.reader).is_empty() {}
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

    /// Reads the rest of the body.
    fn finish(mut self) -> Reply {
        let mut body = std::mem::take(&mut self.pending);
        while let Some(bytes) = self.next_bytes() {
            body.extend(bytes);
        }
        Reply { status: self.status, headers: self.headers, body }
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

    fn header_is(&self, name: &str, value: &str) -> bool {
        self.headers.iter().any(|(n, v)| n == name && v.eq_ignore_ascii_case(value))
    }

    /// Whether the first thing the stream sent is the gateway's `: agentk` comment.
    fn primed(&mut self) -> bool {
        while self.pending.len() < 10 {
            match self.next_bytes() {
                Some(bytes) => self.pending.extend(bytes),
                None => break,
            }
        }
        self.pending.starts_with(b": agentk\n\n")
    }
}

/// The headers of a JSON POST that wants a JSON answer.
const JSON: [(&str, &str); 2] = [("Content-Type", "application/json"), ("Accept", "application/json")];
/// The headers of a JSON POST that wants an SSE answer.
const SSE: [(&str, &str); 2] = [("Content-Type", "application/json"), ("Accept", "text/event-stream")];

fn initialize(id: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "gateway-test", "version": "1"}}})
}

fn call(id: u64, tool: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": arguments}})
}

fn modern_call(id: u64, tool: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": tool, "arguments": arguments, "_meta": modern_meta()}})
}

/// Whether `id` looks like the gateway's session ids: 256 bits in lowercase hex.
fn is_session_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The text of a `CallToolResult`'s content.
fn result_text(answer: &Value) -> String {
    answer["result"]["content"].as_array().into_iter().flatten().filter_map(|c| c["text"].as_str()).collect()
}

// ---------------------------------------------------------------------------------------------
// The gateway

/// A running `agentk mcp-gateway`; killed when dropped, whatever the test came to.
struct Gateway {
    child: Option<Child>,
    addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
    logs: PathBuf,
}

impl Gateway {
    /// Starts the gateway in `dir` on `127.0.0.1:0` with `flags` in front of `upstream` (a
    /// stdio server's command line, or empty with `--upstream URL` among the flags), and waits
    /// for its `listening on` line.
    fn start(dir: &Path, flags: &[&str], upstream: &[OsString]) -> Gateway {
        let logs = dir.join("logs");
        let mut command = Command::new(AGENTK);
        command.args(["mcp-gateway", "--listen", "127.0.0.1:0", "--server-id", SERVER_ID, "--log-dir"]);
        command.arg(&logs).arg("--pins").arg(dir.join("pins.json")).arg("--approvals-dir").arg(dir.join("approvals"));
        command.args(flags);
        if !upstream.is_empty() {
            command.arg("--").args(upstream);
        }
        command.env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_default()).current_dir(dir);
        command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        let mut pipe = BufReader::new(child.stderr.take().unwrap());
        let stderr = Arc::new(Mutex::new(String::new()));
        {
            let stderr = Arc::clone(&stderr);
            std::thread::spawn(move || {
                let mut line = String::new();
                while pipe.read_line(&mut line).is_ok_and(|n| n > 0) {
                    stderr.lock().unwrap().push_str(&line);
                    line.clear();
                }
            });
        }
        let mut gateway = Gateway { child: Some(child), addr: SocketAddr::from(([127, 0, 0, 1], 0)), stderr, logs };
        let mut addr = None;
        wait_until("the gateway's `listening on` line", || {
            if let Some(status) = gateway.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("the gateway exited at start ({status}): {}", gateway.stderr());
            }
            addr = gateway.stderr().lines().find_map(|line| {
                let rest = line.strip_prefix("agentk: mcp-gateway: listening on http://")?;
                rest.split('/').next()?.parse::<SocketAddr>().ok()
            });
            addr.is_some()
        });
        gateway.addr = addr.unwrap();
        gateway
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until the gateway has written a line for which `wanted` holds.
    fn wait_for_line(&self, what: &str, wanted: impl Fn(&str) -> bool) {
        wait_until(&format!("{what} in the gateway's log lines"), || self.stderr().lines().any(&wanted));
    }

    /// The raw bytes of a request: `Host` is the gateway's address unless `headers` name one,
    /// `Content-Length` is added for a body unless `headers` frame it, and the connection
    /// closes after the answer.
    fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
        let named = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
        let mut head = format!("{method} {path} HTTP/1.1\r\n");
        if !named("host") {
            head.push_str(&format!("Host: {}\r\n", self.addr));
        }
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if !named("content-length") && !named("transfer-encoding") && (method == "POST" || !body.is_empty()) {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("Connection: close\r\n\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        bytes
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).unwrap();
        stream.set_read_timeout(Some(HANG)).unwrap();
        stream
    }

    /// Sends a request and reads its answer's head; the body is read as it comes.
    fn open(&self, method: &str, headers: &[(&str, &str)], body: &[u8]) -> Incoming {
        let mut stream = self.connect();
        stream.write_all(&self.request(method, "/mcp", headers, body)).unwrap();
        Incoming::read(stream)
    }

    /// Sends a request to `/mcp` and reads its whole answer.
    fn send(&self, method: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        self.open(method, headers, body).finish()
    }

    /// POSTs one JSON message with `headers` (a media type and an Accept among them).
    fn post(&self, headers: &[(&str, &str)], message: &Value) -> Reply {
        self.send("POST", headers, message.to_string().as_bytes())
    }

    /// Opens a 2025-era session with `auth` (a whole `Authorization` value, if any): its id.
    fn open_session(&self, auth: Option<&str>) -> String {
        let mut headers = JSON.to_vec();
        headers.extend(auth.map(|a| ("Authorization", a)));
        let reply = self.post(&headers, &initialize(0));
        assert_eq!(reply.status, 200, "initialize: {reply:?} {}", reply.text());
        assert!(reply.json()["result"]["serverInfo"].is_object(), "{}", reply.text());
        let ids: Vec<&(String, String)> = reply.headers.iter().filter(|(n, _)| n == "mcp-session-id").collect();
        assert_eq!(ids.len(), 1, "one session id, the gateway's own: {reply:?}");
        let id = ids[0].1.clone();
        assert!(is_session_id(&id), "{id}");
        headers.push(("Mcp-Session-Id", &id));
        let initialized = self.post(&headers, &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        assert_eq!(initialized.status, 202, "{initialized:?}");
        id
    }

    /// Ends a session with `DELETE` and waits until its log is closed.
    fn end_session(&self, id: &str, auth: Option<&str>) {
        let ended_before = self.stderr().matches(" ended (").count();
        let mut headers = vec![("Mcp-Session-Id", id)];
        headers.extend(auth.map(|a| ("Authorization", a)));
        let reply = self.send("DELETE", &headers, b"");
        assert_eq!(reply.status, 204, "{reply:?}");
        wait_until("the session's end", || self.stderr().matches(" ended (").count() > ended_before);
    }

    fn pid(&self) -> String {
        self.child.as_ref().unwrap().id().to_string()
    }

    /// Sends `SIGTERM` and waits for the gateway to exit: its status and its log lines.
    fn terminate(&mut self) -> (ExitStatus, String) {
        let killed = Command::new("kill").args(["-TERM", &self.pid()]).status().unwrap();
        assert!(killed.success(), "kill -TERM");
        let mut child = self.child.take().unwrap();
        let mut status = None;
        wait_until("the gateway's exit after SIGTERM", || {
            status = child.try_wait().unwrap();
            status.is_some()
        });
        // Its last lines may still be on their way through the pipe.
        wait_until("the gateway's `stopped:` line", || self.stderr().contains("agentk: mcp-gateway: stopped:"));
        (status.unwrap(), self.stderr())
    }

    /// The flight logs in `--log-dir` (none before the first session opens it).
    fn logs(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(&self.logs) else { return Vec::new() };
        let mut logs: Vec<PathBuf> =
            entries.map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "jsonl")).collect();
        logs.sort();
        logs
    }

    /// The one flight log in `--log-dir`.
    fn the_log(&self) -> PathBuf {
        let logs = self.logs();
        assert_eq!(logs.len(), 1, "one session, one log: {logs:?}");
        logs.into_iter().next().unwrap()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Checks that `agentk verify` accepts the log and that it ends with a signed checkpoint;
/// answers its decisions as `SYSCALL TARGET DECISION` lines.
fn verified_decisions(log: &Path) -> Vec<String> {
    let run = agentk(&TestHost::new(&[]), &["verify", log.to_str().unwrap(), "--json"]);
    assert_eq!(run.code, 0, "{}: {} {}", log.display(), run.stdout, run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["verified"], true, "{report}");
    let text = std::fs::read_to_string(log).unwrap();
    let entries: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let last = entries.last().unwrap();
    assert!(last["event"].get("checkpoint").is_some(), "{} does not end with a checkpoint: {last}", log.display());
    assert_eq!(report["signed_events"].as_u64(), Some(entries.len() as u64 - 1), "{report}");
    entries
        .iter()
        .filter_map(|entry| entry["event"].get("syscall"))
        .map(|s| {
            format!(
                "{} {} {}",
                s["syscall"].as_str().unwrap(),
                s["target"].as_str().unwrap(),
                s["decision"].as_str().unwrap()
            )
        })
        .collect()
}

/// A token file in `dir` (owner-only, like `dir`) holding `tokens`, with `mode`.
fn token_file(dir: &Path, tokens: &[&str], mode: u32) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("tokens");
    std::fs::write(&path, tokens.iter().map(|t| format!("{t}\n")).collect::<String>()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

/// Runs a gateway start that must be refused: its exit status and standard error.
fn refused_start(dir: &Path, flags: &[&str], env: &[(&str, &str)]) -> (ExitStatus, String) {
    let mut command = Command::new(AGENTK);
    command.args(["mcp-gateway", "--log-dir"]).arg(dir.join("logs")).arg("--pins").arg(dir.join("pins.json"));
    command.args(flags).arg("--").args(agentk_server());
    command.env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_default()).envs(env.iter().copied());
    command.current_dir(dir);
    let (status, _, stderr) = run_bounded(command, b"", HANG);
    (status, stderr)
}

// ---------------------------------------------------------------------------------------------
// Refused at start

#[test]
fn a_listener_beyond_loopback_without_a_token_is_refused_at_start() {
    let dir = scratch("mcp-gateway-no-token-beyond-loopback");
    let port = free_port();
    let listen = format!("0.0.0.0:{port}");
    let (status, stderr) = refused_start(&dir, &["--listen", &listen], &[]);
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("is not a loopback address") && stderr.contains("--token-file"), "{stderr}");
    assert!(!stderr.contains("listening on"), "{stderr}");
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "something listens on {port}");
    assert!(!dir.join("logs").exists(), "a refused start wrote logs");
}

#[test]
fn a_token_file_others_can_read_is_refused_at_start() {
    let dir = scratch("mcp-gateway-token-file-group-readable");
    let file = token_file(&dir, &[FIRST_TOKEN], 0o640);
    let (status, stderr) =
        refused_start(&dir, &["--listen", "127.0.0.1:0", "--token-file", file.to_str().unwrap()], &[]);
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("--token-file"), "{stderr}");
    assert!(!stderr.contains("listening on"), "{stderr}");
    assert!(!stderr.contains(FIRST_TOKEN), "the token was shown: {stderr}");
}

#[test]
fn a_short_token_is_refused_at_start_and_never_shown() {
    let short = "shortsecret4f1c"; // 15 characters: one short of the floor
    let dir = scratch("mcp-gateway-short-token");
    let file = token_file(&dir, &[short], 0o600);
    let (status, stderr) =
        refused_start(&dir, &["--listen", "127.0.0.1:0", "--token-file", file.to_str().unwrap()], &[]);
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("at least 16"), "{stderr}");
    assert!(!stderr.contains(short), "the token was shown: {stderr}");

    let (status, stderr) = refused_start(&dir, &["--listen", "127.0.0.1:0"], &[("AGENTK_GATEWAY_TOKEN", short)]);
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("at least 16"), "{stderr}");
    assert!(!stderr.contains(short), "the token was shown: {stderr}");
}

// ---------------------------------------------------------------------------------------------
// The door

#[test]
fn a_missing_wrong_or_basic_token_is_401_and_never_repeated() {
    let dir = scratch("mcp-gateway-401");
    let file = token_file(&dir, &[FIRST_TOKEN, SECOND_TOKEN], 0o600);
    let gateway = Gateway::start(&dir, &["--token-file", file.to_str().unwrap()], &agentk_server());
    let wrong = format!("Bearer {WRONG_TOKEN}");
    let basic = format!("Basic {FIRST_TOKEN}");
    for auth in [None, Some(wrong.as_str()), Some(basic.as_str()), Some("Bearer ")] {
        let mut headers = JSON.to_vec();
        headers.extend(auth.map(|a| ("Authorization", a)));
        let reply = gateway.post(&headers, &initialize(0));
        assert_eq!(reply.status, 401, "{auth:?}: {reply:?}");
        assert_eq!(reply.header("www-authenticate"), Some("Bearer"), "{auth:?}: {reply:?}");
        assert!(reply.header("mcp-session-id").is_none(), "{reply:?}");
        let seen = format!("{reply:?} {}", reply.text());
        for token in [WRONG_TOKEN, FIRST_TOKEN, SECOND_TOKEN] {
            assert!(!seen.contains(token), "{auth:?}: the answer repeats a token: {seen}");
        }
    }
    gateway.wait_for_line("four 401 lines", |_| gateway.stderr().matches("401 from").count() >= 4);

    let right = format!("Bearer {SECOND_TOKEN}");
    let mut headers = JSON.to_vec();
    headers.push(("Authorization", &right));
    let reply = gateway.post(&headers, &initialize(0));
    assert_eq!(reply.status, 200, "{reply:?} {}", reply.text());
    assert_eq!(reply.json()["result"]["serverInfo"]["name"], "agentk", "{}", reply.text());

    let stderr = gateway.stderr();
    for token in [WRONG_TOKEN, FIRST_TOKEN, SECOND_TOKEN] {
        assert!(!stderr.contains(token), "the gateway's log lines repeat a token: {stderr}");
    }
}

#[test]
fn a_foreign_origin_a_null_origin_and_a_rebound_host_are_403() {
    let dir = scratch("mcp-gateway-403");
    let gateway = Gateway::start(&dir, &[], &agentk_server());
    let rebound = format!("rebound.example.invalid:{}", gateway.addr.port());
    let cases: [(&str, &str); 4] = [
        ("Origin", "http://attacker.example.invalid"),
        ("Origin", "null"),
        ("Origin", "http://localhost.example.invalid"),
        // DNS rebinding: the page's own name resolves to loopback; Host still names the page.
        ("Host", &rebound),
    ];
    for (name, value) in cases {
        let mut headers = JSON.to_vec();
        headers.push((name, value));
        let reply = gateway.post(&headers, &initialize(0));
        assert_eq!(reply.status, 403, "{name}: {value}: {reply:?}");
        assert!(reply.header("mcp-session-id").is_none(), "{reply:?}");
    }
    assert!(gateway.logs().is_empty(), "a refused request opened a session");
    // A loopback origin comes in.
    let mut headers = JSON.to_vec();
    headers.push(("Origin", "http://localhost:5173"));
    assert_eq!(gateway.post(&headers, &initialize(0)).status, 200);
}

#[test]
fn an_allowed_origin_is_admitted_and_no_other() {
    let dir = scratch("mcp-gateway-allowed-origin");
    let gateway = Gateway::start(&dir, &["--allowed-origin", "https://app.example.invalid"], &agentk_server());
    let mut headers = JSON.to_vec();
    headers.push(("Origin", "https://app.example.invalid"));
    let reply = gateway.post(&headers, &initialize(0));
    assert_eq!(reply.status, 200, "{reply:?} {}", reply.text());
    assert!(reply.header("mcp-session-id").is_some(), "{reply:?}");
    for origin in ["http://app.example.invalid", "https://attacker.example.invalid"] {
        let mut headers = JSON.to_vec();
        headers.push(("Origin", origin));
        assert_eq!(gateway.post(&headers, &initialize(0)).status, 403, "{origin}");
    }
}

#[test]
fn other_paths_methods_media_types_and_accepts_are_refused() {
    let dir = scratch("mcp-gateway-404-405-415-406");
    let gateway = Gateway::start(&dir, &[], &agentk_server());
    let body = initialize(0).to_string();

    let mut stream = gateway.connect();
    stream.write_all(&gateway.request("POST", "/other", &JSON, body.as_bytes())).unwrap();
    let reply = Incoming::read(stream).finish();
    assert_eq!(reply.status, 404, "{reply:?}");

    let reply = gateway.send("PUT", &JSON, body.as_bytes());
    assert_eq!(reply.status, 405, "{reply:?}");
    assert!(reply.header("allow").is_some_and(|a| a.contains("POST")), "{reply:?}");

    let reply =
        gateway.send("POST", &[("Content-Type", "text/plain"), ("Accept", "application/json")], body.as_bytes());
    assert_eq!(reply.status, 415, "{reply:?}");
    let reply = gateway.send("POST", &[("Accept", "application/json")], body.as_bytes());
    assert_eq!(reply.status, 415, "no Content-Type: {reply:?}");

    let reply = gateway.send("POST", &[("Content-Type", "application/json"), ("Accept", "text/html")], body.as_bytes());
    assert_eq!(reply.status, 406, "{reply:?}");

    assert!(gateway.logs().is_empty(), "a refused request opened a session");
    assert_eq!(gateway.send("POST", &JSON, body.as_bytes()).status, 200, "the same body, asked properly");
}

#[test]
fn a_body_over_4_mib_is_413_whether_declared_or_chunked() {
    let dir = scratch("mcp-gateway-413");
    let gateway = Gateway::start(&dir, &[], &agentk_server());
    let over = (4usize << 20) + 1;

    // Declared: refused from the headers, before any of the body is sent.
    let mut stream = gateway.connect();
    let mut headers = JSON.to_vec();
    let length = over.to_string();
    headers.push(("Content-Length", &length));
    stream.write_all(&gateway.request("POST", "/mcp", &headers, b"")).unwrap();
    let reply = Incoming::read(stream).finish();
    assert_eq!(reply.status, 413, "{reply:?}");

    // Chunked: counted while read. The body is written by another thread, since the gateway
    // may answer before it has all been sent.
    let mut stream = gateway.connect();
    let mut headers = JSON.to_vec();
    headers.push(("Transfer-Encoding", "chunked"));
    stream.write_all(&gateway.request("POST", "/mcp", &headers, b"")).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let chunk = vec![b' '; 64 << 10];
        let mut sent = 0;
        while sent <= over {
            let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
            if writer.write_all(&framed).is_err() {
                return;
            }
            sent += chunk.len();
        }
        let _ = writer.write_all(b"0\r\n\r\n");
    });
    let reply = Incoming::read(stream).finish();
    assert_eq!(reply.status, 413, "{reply:?}");
    sender.join().unwrap();

    gateway.wait_for_line("two 413 lines", |_| gateway.stderr().matches("413 from").count() >= 2);
    assert!(gateway.logs().is_empty(), "a refused request opened a session");
}

#[test]
fn a_batch_or_malformed_json_is_400_without_echoing_the_body() {
    let dir = scratch("mcp-gateway-400");
    let gateway = Gateway::start(&dir, &[], &agentk_server());

    let batch = json!([initialize(0), initialize(1)]);
    let reply = gateway.post(&JSON, &batch);
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(reply.json()["error"]["code"].is_i64(), "a JSON-RPC error: {}", reply.text());

    let canary = "example-body-canary-6e1d";
    let malformed = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"{canary}""#);
    let reply = gateway.send("POST", &JSON, malformed.as_bytes());
    assert_eq!(reply.status, 400, "{reply:?}");
    assert_eq!(reply.json()["error"]["code"], -32700, "a JSON-RPC parse error: {}", reply.text());
    assert!(!reply.text().contains(canary), "the answer echoes the body: {}", reply.text());
    gateway.wait_for_line("two 400 lines", |_| gateway.stderr().matches("400 from").count() >= 2);
    assert!(!gateway.stderr().contains(canary), "the log lines echo the body: {}", gateway.stderr());
    assert!(gateway.logs().is_empty(), "a refused request opened a session");
}

#[test]
fn a_stalled_request_line_is_closed_while_others_are_served() {
    let dir = scratch("mcp-gateway-slowloris");
    let gateway = Gateway::start(&dir, &[], &agentk_server());
    let mut stalled = gateway.connect();
    stalled.write_all(b"POST /mcp HT").unwrap();

    // Meanwhile, others are served (the header timeout is 10 s: these come well before it).
    assert_eq!(gateway.send("POST", &JSON, initialize(0).to_string().as_bytes()).status, 200);
    let mut stream = gateway.connect();
    stream.write_all(&gateway.request("GET", "/elsewhere", &[], b"")).unwrap();
    assert_eq!(Incoming::read(stream).finish().status, 404);

    // The stalled connection is closed by the gateway (with or without a last answer), not left
    // open: the read ends instead of running into its own bound.
    let mut rest = Vec::new();
    match stalled.read_to_end(&mut rest) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the stalled connection was not closed ({e}); it sent {:?}", String::from_utf8_lossy(&rest)),
    }
    assert!(rest.is_empty() || rest.starts_with(b"HTTP/1.1 408"), "{:?}", String::from_utf8_lossy(&rest));
    // And the gateway still serves.
    assert_eq!(gateway.send("POST", &JSON, initialize(0).to_string().as_bytes()).status, 200);
}

// ---------------------------------------------------------------------------------------------
// Sessions

#[test]
fn sessions_are_issued_by_the_gateway_and_end_on_delete() {
    let Some(python) = python() else { return };
    let dir = scratch("mcp-gateway-sessions");
    let gateway = Gateway::start(&dir, &[], &python_server(&dir, &python));

    let reply = gateway.post(&JSON, &initialize(0));
    assert_eq!(reply.status, 200, "{reply:?} {}", reply.text());
    assert_eq!(reply.json()["result"]["serverInfo"]["name"], "gateway-test-server", "{}", reply.text());
    let id = reply.header("mcp-session-id").unwrap().to_owned();
    assert!(is_session_id(&id), "{id}");
    assert!(!reply.text().contains(&id), "the id is the gateway's own, not in the server's answer");
    assert!(!gateway.stderr().contains(&id), "a session id is a bearer secret, never logged");
    let other = gateway.open_session(None);
    assert!(is_session_id(&other) && other != id, "{other} {id}");

    fn with(id: &str) -> [(&str, &str); 3] {
        [JSON[0], JSON[1], ("Mcp-Session-Id", id)]
    }
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    assert_eq!(gateway.post(&with(&id), &json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).status, 202);
    let reply = gateway.post(&with(&id), &list);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(reply.json()["result"]["tools"].as_array().is_some_and(|t| t.len() == 3), "{}", reply.text());

    let reply = gateway.post(&JSON, &list);
    assert_eq!(reply.status, 400, "no session id: {reply:?}");
    let unknown = "0123456789abcdef".repeat(4);
    let reply = gateway.post(&with(&unknown), &list);
    assert_eq!(reply.status, 404, "an unknown id: {reply:?}");

    gateway.end_session(&id, None);
    assert_eq!(gateway.post(&with(&id), &list).status, 404, "an ended id");
    assert_eq!(gateway.send("DELETE", &[("Mcp-Session-Id", &id)], b"").status, 404, "an ended id");
    // The other session is untouched.
    assert_eq!(gateway.post(&with(&other), &list).status, 200);
    gateway.end_session(&other, None);
    for log in gateway.logs() {
        verified_decisions(&log);
    }
}

#[test]
fn a_session_has_one_server_stream_and_a_client_that_leaves_frees_it() {
    let Some(python) = python() else { return };
    let dir = scratch("mcp-gateway-server-stream");
    let gateway = Gateway::start(&dir, &[], &python_server(&dir, &python));
    let reply = gateway.send("GET", &[("Accept", "text/event-stream")], b"");
    assert_eq!(reply.status, 405, "no server stream without a session: {reply:?}");
    let id = gateway.open_session(None);
    let listen = [("Accept", "text/event-stream"), ("Mcp-Session-Id", id.as_str())];
    let reply = gateway.send("GET", &[("Accept", "application/json"), ("Mcp-Session-Id", &id)], b"");
    assert_eq!(reply.status, 406, "{reply:?}");

    let mut first = gateway.open("GET", &listen, b"");
    assert_eq!(first.status, 200);
    assert!(first.header_is("content-type", "text/event-stream") && first.primed(), "an SSE stream");
    let reply = gateway.send("GET", &listen, b"");
    assert_eq!(reply.status, 409, "a second server stream: {reply:?}");

    // The client leaves: the stream's place is free again (once the gateway has seen it go).
    first.reader.get_ref().shutdown(Shutdown::Both).unwrap();
    drop(first);
    let mut again = None;
    wait_until("a server stream after the first one's client left", || {
        let incoming = gateway.open("GET", &listen, b"");
        assert!(matches!(incoming.status, 200 | 409), "{}", incoming.status);
        let open = incoming.status == 200;
        again = Some(incoming);
        open
    });
    assert!(again.unwrap().primed());
    gateway.end_session(&id, None);
}

#[test]
fn an_idle_session_is_ended_and_its_log_closed() {
    let Some(python) = python() else { return };
    let dir = scratch("mcp-gateway-idle");
    let gateway = Gateway::start(&dir, &["--idle-timeout", "1"], &python_server(&dir, &python));
    let id = gateway.open_session(None);
    gateway.wait_for_line("the idle session's end", |line| line.contains("idle too long: ended"));
    gateway.wait_for_line("its log closed", |line| line.contains(" ended (") && line.ends_with("checkpoint: yes"));
    let reply = gateway.post(
        &[JSON[0], JSON[1], ("Mcp-Session-Id", &id)],
        &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
    );
    assert_eq!(reply.status, 404, "an ended session: {reply:?}");
    verified_decisions(&gateway.the_log());
}

#[test]
fn a_session_belongs_to_the_principal_that_opened_it() {
    let Some(python) = python() else { return };
    let dir = scratch("mcp-gateway-principals");
    let file = token_file(&dir, &[FIRST_TOKEN, SECOND_TOKEN], 0o600);
    let gateway = Gateway::start(&dir, &["--token-file", file.to_str().unwrap()], &python_server(&dir, &python));
    let (first, second) = (format!("Bearer {FIRST_TOKEN}"), format!("Bearer {SECOND_TOKEN}"));
    let id = gateway.open_session(Some(&first));
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    fn as_<'a>(id: &'a str, auth: &'a str) -> [(&'a str, &'a str); 4] {
        [JSON[0], JSON[1], ("Mcp-Session-Id", id), ("Authorization", auth)]
    }

    let reply = gateway.post(&as_(&id, &second), &list);
    assert_eq!(reply.status, 404, "another principal's session: {reply:?} {}", reply.text());
    let reply = gateway.send("DELETE", &[("Mcp-Session-Id", &id), ("Authorization", &second)], b"");
    assert_eq!(reply.status, 404, "another principal cannot end it: {reply:?}");
    let reply = gateway.send(
        "GET",
        &[("Mcp-Session-Id", &id), ("Authorization", &second), ("Accept", "text/event-stream")],
        b"",
    );
    assert_eq!(reply.status, 404, "nor listen to it: {reply:?}");

    let reply = gateway.post(&as_(&id, &first), &list);
    assert_eq!(reply.status, 200, "its own principal: {reply:?} {}", reply.text());
    gateway.end_session(&id, Some(&first));
}

#[test]
fn the_session_limit_answers_503_until_a_session_ends() {
    let Some(python) = python() else { return };
    let dir = scratch("mcp-gateway-503");
    let gateway = Gateway::start(&dir, &["--max-sessions", "1"], &python_server(&dir, &python));
    let id = gateway.open_session(None);
    let reply = gateway.post(&JSON, &initialize(0));
    assert_eq!(reply.status, 503, "{reply:?}");
    assert!(reply.header("retry-after").is_some(), "{reply:?}");
    assert!(reply.header("mcp-session-id").is_none(), "{reply:?}");
    gateway.end_session(&id, None);
    let again = gateway.open_session(None);
    gateway.end_session(&again, None);
    assert_eq!(gateway.logs().len(), 2, "the refused initialize opened no session");
}

/// A session ended with `DELETE` while a call waits goes on until the call is answered or
/// times out (its upstream still runs): until then it keeps its place under the limit, or a
/// client could run any number of upstream servers by deleting and opening sessions.
#[test]
fn a_deleted_session_keeps_its_place_until_it_has_ended() {
    let Some(python) = python() else { return };
    let dir = scratch("mcp-gateway-limit-delete");
    let gateway = Gateway::start(&dir, &["--max-sessions", "1"], &python_server(&dir, &python));
    let id = gateway.open_session(None);
    let headers = [JSON[0], JSON[1], ("Mcp-Session-Id", id.as_str())];
    let mut waiting = gateway.connect();
    let body = call(5, "slow", json!({"seconds": 60})).to_string();
    waiting.write_all(&gateway.request("POST", "/mcp", &headers, body.as_bytes())).unwrap();
    wait_for_slow_calls(&dir, 1);
    assert_eq!(gateway.send("DELETE", &[("Mcp-Session-Id", &id)], b"").status, 204);

    let reply = gateway.post(&JSON, &initialize(0));
    assert_eq!(reply.status, 503, "the deleted session's server still runs: {reply:?}");

    // The session ended by its client is stopped shortly after (long before the call's 60 s
    // timeout): what waits is answered, its server stopped, and its place is free.
    let answer = Incoming::read(waiting).finish().json();
    assert_eq!(answer["error"]["code"], -32004, "answered as stopped, not left to time out: {answer}");
    gateway.wait_for_line("the deleted session's end", |line| line.contains(" ended ("));
    let again = gateway.open_session(None);
    gateway.end_session(&again, None);
}

/// A principal's 2026-07-28 session is one session: it takes one place under the limit, and
/// the 2025-era session opened next takes the other.
#[test]
fn a_2026_session_counts_once_against_the_session_limit() {
    let Some(python) = python() else { return };
    let dir = scratch("mcp-gateway-limit-modern");
    let gateway = Gateway::start(&dir, &["--max-sessions", "2"], &python_server(&dir, &python));
    let headers = [JSON[0], JSON[1], ("Mcp-Method", "tools/call"), ("Mcp-Name", "echo")];
    let reply = gateway.post(&headers, &modern_call(1, "echo", json!({"message": "modern"})));
    assert_eq!(result_text(&reply.json()), "Echo: modern", "{}", reply.text());
    let reply = gateway.post(&JSON, &initialize(0));
    assert_eq!(reply.status, 200, "the second of two sessions: {reply:?} {}", reply.text());
    assert_eq!(gateway.post(&JSON, &initialize(0)).status, 503, "a third");
}

#[test]
fn routing_headers_that_disagree_with_the_body_never_reach_the_server() {
    let Some(python) = python() else { return };
    let dir = scratch("mcp-gateway-routing-headers");
    let mut gateway = Gateway::start(&dir, &[], &python_server(&dir, &python));
    let version = ("MCP-Protocol-Version", "2026-07-28");

    // Agreeing headers: answered (and the principal's 2026-07-28 session opened).
    let headers = [JSON[0], JSON[1], ("Mcp-Method", "tools/call"), ("Mcp-Name", "echo"), version];
    let reply = gateway.post(&headers, &modern_call(1, "echo", json!({"message": "agreeing headers"})));
    assert_eq!(reply.status, 200, "{reply:?} {}", reply.text());
    assert_eq!(result_text(&reply.json()), "Echo: agreeing headers", "{}", reply.text());

    // The body calls `add` while the headers name `echo`: a router and the server would act on
    // different calls.
    let reply = gateway.post(&headers, &modern_call(2, "add", json!({"a": 40, "b": 2})));
    assert_eq!(reply.status, 400, "{reply:?}");
    assert_eq!(reply.json()["error"]["code"], -32020, "{}", reply.text());
    assert_eq!(reply.json()["id"], 2, "{}", reply.text());

    // A 2026-07-28 request without Mcp-Method.
    let headers = [JSON[0], JSON[1], ("Mcp-Name", "add"), version];
    let reply = gateway.post(&headers, &modern_call(3, "add", json!({"a": 40, "b": 2})));
    assert_eq!(reply.status, 400, "{reply:?}");
    assert_eq!(reply.json()["error"]["code"], -32020, "{}", reply.text());

    // Mcp-Method naming another method.
    let headers = [JSON[0], JSON[1], ("Mcp-Method", "tools/list"), ("Mcp-Name", "add"), version];
    let reply = gateway.post(&headers, &modern_call(4, "add", json!({"a": 40, "b": 2})));
    assert_eq!(reply.status, 400, "{reply:?}");
    assert_eq!(reply.json()["error"]["code"], -32020, "{}", reply.text());

    let (status, stderr) = gateway.terminate();
    assert!(status.success(), "{stderr}");
    let decisions = verified_decisions(&gateway.the_log());
    let invoked: Vec<&String> = decisions.iter().filter(|d| d.starts_with("tool.invoke ")).collect();
    assert_eq!(invoked.len(), 1, "only the agreeing call was decided: {decisions:#?}");
    assert!(invoked[0].starts_with(&format!("tool.invoke mcp://{SERVER_ID}/echo")), "{decisions:#?}");
}

// ---------------------------------------------------------------------------------------------
// Faults

#[test]
fn an_http_upstream_that_dies_mid_call_is_answered_with_an_error() {
    let Some(python) = python() else { return };
    let dir = scratch("mcp-gateway-upstream-dies");
    let (mut upstream, port) = http_upstream(&dir, &python);
    let url = format!("http://127.0.0.1:{port}/mcp");
    let gateway = Gateway::start(&dir, &["--upstream", &url], &[]);
    let id = gateway.open_session(None);

    let headers = [SSE[0], SSE[1], ("Mcp-Session-Id", &id)];
    let mut waiting = gateway.open("POST", &headers, call(7, "slow", json!({"seconds": 30})).to_string().as_bytes());
    assert_eq!(waiting.status, 200);
    assert!(waiting.primed(), "the stream opens with the gateway's comment");
    wait_for_slow_calls(&dir, 1);
    upstream.0.kill().unwrap();
    upstream.0.wait().unwrap();

    let answer = waiting.next_message().expect("an answer, not the stream's end");
    assert_eq!(answer["id"], 7, "{answer}");
    assert_eq!(answer["error"]["code"], -32004, "a JSON-RPC error: {answer}");
    assert!(waiting.next_message().is_none(), "the request's stream ends with its answer");

    gateway.end_session(&id, None);
    let decisions = verified_decisions(&gateway.the_log());
    assert!(decisions.iter().any(|d| d.starts_with(&format!("tool.invoke mcp://{SERVER_ID}/slow"))), "{decisions:#?}");
}

#[test]
fn a_client_gone_mid_stream_leaves_the_gateway_serving_and_the_call_logged() {
    let Some(python) = python() else { return };
    let dir = scratch("mcp-gateway-client-gone");
    let gateway = Gateway::start(&dir, &[], &python_server(&dir, &python));
    let id = gateway.open_session(None);

    let headers = [SSE[0], SSE[1], ("Mcp-Session-Id", &id)];
    let mut leaving = gateway.open("POST", &headers, call(5, "slow", json!({"seconds": 1})).to_string().as_bytes());
    assert_eq!(leaving.status, 200);
    assert!(leaving.primed());
    wait_for_slow_calls(&dir, 1);
    leaving.reader.get_ref().shutdown(Shutdown::Both).unwrap();
    drop(leaving);

    // The same session, and a new one, are served meanwhile and after the answer had nowhere
    // to go.
    let reply =
        gateway.post(&[JSON[0], JSON[1], ("Mcp-Session-Id", &id)], &call(6, "echo", json!({"message": "still here"})));
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(result_text(&reply.json()), "Echo: still here", "{}", reply.text());
    let other = gateway.open_session(None);
    let mut streaming = gateway.open("POST", &headers, call(8, "slow", json!({"seconds": 1.5})).to_string().as_bytes());
    let answer = streaming.next_message().expect("an answer");
    assert_eq!((answer["id"].as_u64(), result_text(&answer)), (Some(8), "slept".to_owned()), "{answer}");

    gateway.end_session(&id, None);
    gateway.end_session(&other, None);
    let logs = gateway.logs();
    assert_eq!(logs.len(), 2, "{logs:?}");
    let decisions: Vec<String> = logs.iter().flat_map(|log| verified_decisions(log)).collect();
    let slow = format!("tool.invoke mcp://{SERVER_ID}/slow");
    let slow_calls = decisions.iter().filter(|d| d.starts_with(&slow) && d.ends_with(" allow")).count();
    assert_eq!(slow_calls, 2, "the left call's decision is in the log: {decisions:#?}");
}

#[test]
fn sigterm_answers_what_waits_and_closes_every_log_with_a_checkpoint() {
    let Some(python) = python() else { return };
    let dir = scratch("mcp-gateway-sigterm");
    let mut gateway = Gateway::start(&dir, &[], &python_server(&dir, &python));
    // Three sessions: one with a call waiting (JSON), one idle, one of 2026-07-28 requests.
    let waiting_id = gateway.open_session(None);
    let idle_id = gateway.open_session(None);
    let modern = [JSON[0], JSON[1], ("Mcp-Method", "tools/call"), ("Mcp-Name", "echo")];
    let reply = gateway.post(&modern, &modern_call(1, "echo", json!({"message": "modern"})));
    assert_eq!(result_text(&reply.json()), "Echo: modern", "{}", reply.text());

    // Two calls wait: one for a JSON answer (its head not sent yet), one on an SSE stream.
    let headers = [JSON[0], JSON[1], ("Mcp-Session-Id", waiting_id.as_str())];
    let mut stream = gateway.connect();
    let body = call(9, "slow", json!({"seconds": 60})).to_string();
    stream.write_all(&gateway.request("POST", "/mcp", &headers, body.as_bytes())).unwrap();
    let headers = [SSE[0], SSE[1], ("Mcp-Session-Id", waiting_id.as_str())];
    let mut streaming = gateway.open("POST", &headers, call(10, "slow", json!({"seconds": 60})).to_string().as_bytes());
    wait_for_slow_calls(&dir, 2);

    let (status, stderr) = gateway.terminate();
    let answer = Incoming::read(stream).finish();
    assert_eq!(answer.status, 200, "{answer:?}");
    let answer = answer.json();
    assert_eq!(answer["id"], 9, "{answer}");
    assert_eq!(answer["error"]["code"], -32004, "what waits is answered with an error: {answer}");
    let answer = streaming.next_message().expect("an answer on the stream");
    assert_eq!(answer["id"], 10, "{answer}");
    assert_eq!(answer["error"]["code"], -32004, "what waits is answered with an error: {answer}");
    assert!(streaming.next_message().is_none(), "the stream ends");

    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("agentk: mcp-gateway: stopped: 3 sessions"), "{stderr}");
    assert!(!stderr.contains(&waiting_id) && !stderr.contains(&idle_id), "session ids are never logged");
    let logs = gateway.logs();
    assert_eq!(logs.len(), 3, "{logs:?}");
    let decisions: Vec<String> = logs.iter().flat_map(|log| verified_decisions(log)).collect();
    assert!(decisions.iter().any(|d| d.starts_with(&format!("tool.invoke mcp://{SERVER_ID}/slow"))), "{decisions:#?}");
}

#[test]
fn a_call_of_a_tool_never_listed_is_denied_through_the_gateway() {
    let Some(python) = python() else { return };
    let dir = scratch("mcp-gateway-denial");
    let gateway = Gateway::start(&dir, &[], &python_server(&dir, &python));
    let id = gateway.open_session(None);
    let headers = [JSON[0], JSON[1], ("Mcp-Session-Id", id.as_str())];
    // No tools/list first: the mediator lists on its own and finds no such tool.
    let reply = gateway.post(&headers, &call(3, "delete_everything", json!({})));
    assert_eq!(reply.status, 200, "{reply:?}");
    let answer = reply.json();
    assert_eq!(answer["result"]["isError"], true, "a CallToolResult the model sees: {answer}");
    let denial = &answer["result"]["_meta"]["agentk/denial"];
    assert_eq!(denial["rule"], "withheld", "{answer}");
    assert!(denial["reason"].as_str().is_some_and(|r| r.contains("not listed")), "{answer}");
    // A listed tool is still called.
    let reply = gateway.post(&headers, &call(4, "add", json!({"a": 40, "b": 2})));
    assert_eq!(result_text(&reply.json()), "42", "{}", reply.text());

    gateway.end_session(&id, None);
    let decisions = verified_decisions(&gateway.the_log());
    let denials: Vec<&String> = decisions.iter().filter(|d| d.ends_with(" deny")).collect();
    assert_eq!(denials, [&format!("tool.invoke mcp://{SERVER_ID}/delete_everything deny")], "{decisions:#?}");
}

/// A session holds at most 32 requests in flight: the 33rd is refused with 429 while they
/// wait, and the session serves again once they are answered.
#[test]
fn requests_in_flight_beyond_the_bound_are_429() {
    let Some(python) = python() else { return };
    let dir = scratch("mcp-gateway-in-flight");
    let gateway = Gateway::start(&dir, &[], &python_server(&dir, &python));
    let id = gateway.open_session(None);
    let headers = [JSON[0], JSON[1], ("Mcp-Session-Id", id.as_str())];
    let mut waiting = Vec::new();
    for n in 0..32 {
        let mut stream = gateway.connect();
        let body = call(100 + n, "slow", json!({"seconds": 2})).to_string();
        stream.write_all(&gateway.request("POST", "/mcp", &headers, body.as_bytes())).unwrap();
        waiting.push(stream);
    }
    wait_for_slow_calls(&dir, 32);
    let reply = gateway.post(&headers, &call(200, "echo", json!({"message": "one too many"})));
    assert_eq!(reply.status, 429, "{reply:?}");
    for stream in waiting {
        let answer = Incoming::read(stream).finish().json();
        assert!(answer.get("result").is_some(), "each waiting call is answered: {answer}");
    }
    let reply = gateway.post(&headers, &call(201, "echo", json!({"message": "room again"})));
    assert_eq!(reply.status, 200, "{reply:?}");
    gateway.end_session(&id, None);
}

/// One grant budget for every session, and with `--ledger` across restarts: a policy whose
/// `mcp-tool` grant has 2 uses lets two sessions make one call each, refuses the third in a
/// third session, and still refuses after the gateway restarts on the same journal.
#[test]
fn a_grant_budget_holds_across_sessions_and_restarts() {
    let Some(python) = python() else { return };
    let dir = scratch("mcp-gateway-ledger");
    let profile = include_str!("../../agentk-policy/policies/mcp.toml");
    let budgeted = profile.replacen("uses = 1000000", "uses = 2", 1);
    assert_ne!(budgeted, profile, "the profile's mcp-tool grant has a budget to lower");
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, budgeted).unwrap();
    let ledger = dir.join("ledger.jsonl");
    let flags = ["--policy", policy.to_str().unwrap(), "--ledger", ledger.to_str().unwrap()];
    let one_call = |gateway: &Gateway, n: u64| {
        let id = gateway.open_session(None);
        let headers = [JSON[0], JSON[1], ("Mcp-Session-Id", id.as_str())];
        let answer = gateway.post(&headers, &call(n, "add", json!({"a": 40, "b": 2}))).json();
        gateway.end_session(&id, None);
        answer
    };
    let mut gateway = Gateway::start(&dir, &flags, &python_server(&dir, &python));
    assert_eq!(result_text(&one_call(&gateway, 1)), "42");
    assert_eq!(result_text(&one_call(&gateway, 2)), "42");
    let third = one_call(&gateway, 3);
    assert_eq!(third["result"]["isError"], true, "the budget is spent across sessions: {third}");
    assert!(third["result"]["_meta"]["agentk/denial"].is_object(), "{third}");
    let (status, _) = gateway.terminate();
    assert!(status.success());

    let gateway = Gateway::start(&dir, &flags, &python_server(&dir, &python));
    let after = one_call(&gateway, 4);
    assert_eq!(after["result"]["isError"], true, "a restart does not refill the budget: {after}");
}
