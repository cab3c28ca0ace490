//! The gateway's bridge to a Streamable HTTP server (feature `gateway`): it makes an HTTP MCP
//! server look like a stdio one to the proxy loop ([`crate::stdio`]), so that one loop, with
//! its timeouts, batching and shutdown, serves both kinds of upstream.
//!
//! The proxy writes the frames it forwards, one per line, into the bridge; the bridge POSTs
//! each to the server and passes what comes back (a JSON answer, or the events of an SSE
//! stream) through a bounded channel that the proxy reads as lines. After a successful
//! `initialize` it keeps the server's session id (never shown to the client: the gateway
//! issues its own), sends it and the negotiated protocol version with every request, and opens
//! the server's GET stream for the messages the server sends unprompted. When the proxy closes its end, the bridge waits
//! for the requests in flight (a grace period), ends the server's session with `DELETE`, and
//! ends.
//!
//! # Bounds
//!
//! Every answer is read to at most the frame limit; every SSE event too ([`SseDecoder`]); at
//! most [`MAX_IN_FLIGHT`] POSTs run at once (the proxy's own bound on pending requests is
//! lower), and the frames that wait for one count against the proxy's bound on what it has
//! queued for the server (it stops reading its client while that is reached); frames the proxy
//! has not read yet wait in a bounded channel. A request the server
//! answers with an HTTP error, or that cannot reach it, is answered with a JSON-RPC error for
//! the proxy to record and pass on; the server's own words are not repeated.
//!
//! Only `http://` is spoken: TLS to an upstream is not built yet (SECURITY.md names the gap).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, HeaderName, HeaderValue};
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinSet;

use crate::lines::{Framer, Line};
use crate::session::SERVER_GONE;
use crate::stdio::{Deliver, FrameReader, Link, Taken};

/// The most POSTs the bridge has open to the server at once.
pub const MAX_IN_FLIGHT: usize = 64;

/// The `_meta` key of a 2026-07-28 request's protocol version.
pub const VERSION_META: &str = "io.modelcontextprotocol/protocolVersion";

/// The session header of the 2025 era.
pub const SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
/// The protocol version header.
pub const PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
/// The 2026-07-28 routing header naming the method.
pub const MCP_METHOD: HeaderName = HeaderName::from_static("mcp-method");
/// The 2026-07-28 routing header naming the tool, prompt or resource.
pub const MCP_NAME: HeaderName = HeaderName::from_static("mcp-name");

const EVENT_STREAM: &str = "text/event-stream";

/// A Streamable HTTP server's address (`http://HOST[:PORT]/PATH`), checked.
#[derive(Clone, Debug)]
pub struct UpstreamUrl {
    uri: Uri,
}

/// Why an upstream address was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    /// Not a URL.
    #[error("not a URL")]
    Invalid,
    /// Not `http://`.
    #[error("only http:// upstreams are supported (TLS to an upstream is not built yet)")]
    Scheme,
    /// User information in the address would be sent in the clear.
    #[error("the URL carries user information; pass credentials another way")]
    UserInfo,
}

impl UpstreamUrl {
    /// Checks `text`: an absolute `http://` URL with a host and no user information.
    pub fn parse(text: &str) -> Result<Self, UrlError> {
        let uri: Uri = text.parse().map_err(|_| UrlError::Invalid)?;
        if uri.scheme_str() != Some("http") {
            return Err(UrlError::Scheme);
        }
        let authority = uri.authority().ok_or(UrlError::Invalid)?;
        if authority.as_str().contains('@') {
            return Err(UrlError::UserInfo);
        }
        if authority.host().is_empty() {
            return Err(UrlError::Invalid);
        }
        Ok(UpstreamUrl { uri })
    }

    /// The address.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }
}

/// What the bridge knows of the server's session.
#[derive(Default)]
struct Known {
    /// The server's session id (2025 era), once `initialize` was answered with one.
    session: Option<HeaderValue>,
    /// The protocol version the peers agreed on (2025 era).
    version: Option<HeaderValue>,
    /// Whether the GET stream was opened.
    listening: bool,
}

struct Bridge {
    client: Client<HttpConnector, Full<Bytes>>,
    uri: Uri,
    max_frame: usize,
    timeout: Duration,
    known: Mutex<Known>,
    /// Frames for the proxy, each one line.
    to_proxy: mpsc::Sender<Vec<u8>>,
    posting: std::sync::Mutex<Posting>,
}

/// The POSTs under way, and the frames waiting for one of them to finish.
#[derive(Default)]
struct Posting {
    tasks: JoinSet<()>,
    /// Tasks posting (at most [`MAX_IN_FLIGHT`]).
    running: usize,
    /// Frames the proxy has handed over that wait for a POST to finish, each counted against
    /// the proxy's bound on what it has queued for the server until it is sent.
    waiting: VecDeque<(Vec<u8>, Arc<Taken>)>,
}

/// What the proxy hands the bridge: frames, one per line. Dropped (the proxy closed its end),
/// it tells the bridge that no more will come.
struct Input {
    bridge: Arc<Bridge>,
    framer: Framer,
    _closed: oneshot::Sender<()>,
}

impl Input {
    /// Sends each frame now if fewer than [`MAX_IN_FLIGHT`] POSTs run, else once one finishes.
    fn take(&mut self, bytes: Vec<u8>, taken: Taken) {
        let mut lines = Vec::new();
        self.framer.feed(&bytes, &mut lines);
        let taken = Arc::new(taken);
        let mut posting = lock(&self.bridge.posting);
        // Finished POSTs are reaped as we go, so the set holds only what runs.
        while posting.tasks.try_join_next().is_some() {}
        for (_, line) in lines {
            let Line::Frame(frame) = line else { continue };
            if posting.running < MAX_IN_FLIGHT {
                posting.running += 1;
                posting.tasks.spawn(Arc::clone(&self.bridge).post_each(frame, Arc::clone(&taken)));
            } else {
                posting.waiting.push_back((frame, Arc::clone(&taken)));
            }
        }
    }
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Starts a bridge to `url`: the proxy's streams, and the task behind them.
pub(crate) fn link(url: &UpstreamUrl, max_frame: usize, timeout: Duration) -> Link {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(timeout));
    let client = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(MAX_IN_FLIGHT)
        .build(connector);
    let (to_proxy, frames) = mpsc::channel(64);
    let bridge = Arc::new(Bridge {
        client,
        uri: url.uri.clone(),
        max_frame,
        timeout,
        known: Mutex::new(Known::default()),
        to_proxy,
        posting: std::sync::Mutex::new(Posting::default()),
    });
    // What comes back is read by the proxy loop straight from the channel; what the proxy
    // writes for the server is taken as it is written.
    let from_server = FrameReader::new(frames, None);
    let (closed, input_closed) = oneshot::channel();
    let mut input = Input { bridge: Arc::clone(&bridge), framer: Framer::new(max_frame), _closed: closed };
    let to_server: Deliver = Box::new(move |bytes, taken| input.take(bytes, taken));
    let gone = tokio::spawn(run(bridge, input_closed));
    Link { to_server, from_server, gone }
}

async fn run(bridge: Arc<Bridge>, input_closed: oneshot::Receiver<()>) {
    let _ = input_closed.await;
    let mut tasks = std::mem::take(&mut lock(&bridge.posting).tasks);
    // The proxy is done: what is in flight may still finish (the proxy no longer waits for
    // it, but the server's side effects are the server's), then the server's session ends.
    let drain = async { while tasks.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(bridge.timeout, drain).await;
    tasks.abort_all();
    bridge.end_session().await;
}

/// What the bridge reads of a frame to send it: its id if it is a request, its method, the
/// name the 2026-07-28 routing headers carry, and the protocol version of a 2026-07-28
/// request's `_meta`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Routing {
    /// The id, for a request.
    pub id: Option<Value>,
    /// The method, for a request or notification.
    pub method: Option<String>,
    /// `params.name` (tools, prompts) or `params.uri` (resources).
    pub name: Option<String>,
    /// `params._meta["io.modelcontextprotocol/protocolVersion"]`.
    pub version: Option<String>,
}

impl Routing {
    /// Reads the routing facts of one JSON-RPC message (nothing, when it is not an object).
    pub fn of(value: &Value) -> Routing {
        let method = value.get("method").and_then(Value::as_str).map(str::to_owned);
        let id = if method.is_some() { value.get("id").cloned().filter(|id| !id.is_null()) } else { None };
        let params = value.get("params");
        let name = match method.as_deref() {
            Some("tools/call" | "prompts/get") => params.and_then(|p| p.get("name")),
            Some("resources/read" | "resources/subscribe" | "resources/unsubscribe") => {
                params.and_then(|p| p.get("uri"))
            }
            _ => None,
        }
        .and_then(Value::as_str)
        .map(str::to_owned);
        let version = params
            .and_then(|p| p.get("_meta"))
            .and_then(|m| m.get(VERSION_META))
            .and_then(Value::as_str)
            .map(str::to_owned);
        Routing { id, method, name, version }
    }
}

/// A header value for a 2026-07-28 routing header: the text itself when it is printable ASCII
/// without leading or trailing spaces, else `=?base64?…?=` as the revision says.
pub fn header_text(text: &str) -> Option<HeaderValue> {
    let plain = !text.is_empty()
        && text.bytes().all(|b| (0x20..0x7f).contains(&b))
        && !text.starts_with(' ')
        && !text.ends_with(' ')
        && !text.starts_with("=?");
    if plain {
        return HeaderValue::from_str(text).ok();
    }
    HeaderValue::from_str(&format!("=?base64?{}?=", base64_encode(text.as_bytes()))).ok()
}

/// Reads a routing header's value back: plain text, or the `=?base64?…?=` form.
pub fn header_value_text(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    match text.strip_prefix("=?base64?").and_then(|t| t.strip_suffix("?=")) {
        Some(encoded) => String::from_utf8(base64_decode(encoded)?).ok(),
        None => Some(text.to_owned()),
    }
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                let index = usize::try_from((n >> shift) & 63).unwrap_or(0);
                out.push(char::from(BASE64.get(index).copied().unwrap_or(b'A')));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0u32;
    for c in text.bytes() {
        let value = BASE64.iter().position(|&b| b == c)?;
        acc = (acc << 6) | u32::try_from(value).ok()?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

impl Bridge {
    /// Sends `frame`, then each frame that waits for a POST to finish, until none does.
    async fn post_each(self: Arc<Self>, mut frame: Vec<u8>, mut taken: Arc<Taken>) {
        loop {
            drop(taken);
            self.post(frame).await;
            let mut posting = lock(&self.posting);
            match posting.waiting.pop_front() {
                Some(next) => (frame, taken) = next,
                None => {
                    posting.running -= 1;
                    return;
                }
            }
        }
    }

    /// Sends one frame, and passes on what comes back.
    async fn post(self: &Arc<Self>, frame: Vec<u8>) {
        let value: Value = serde_json::from_slice(&frame).unwrap_or(Value::Null);
        let routing = Routing::of(&value);
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(self.uri.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json, text/event-stream");
        {
            let known = self.known.lock().await;
            if let Some(session) = &known.session {
                request = request.header(SESSION_ID, session.clone());
            }
            match (&routing.version, &known.version) {
                (Some(modern), _) => {
                    if let Ok(version) = HeaderValue::from_str(modern) {
                        request = request.header(PROTOCOL_VERSION, version);
                    }
                    if let Some(method) = routing.method.as_deref().and_then(header_text) {
                        request = request.header(MCP_METHOD, method);
                    }
                    if let Some(name) = routing.name.as_deref().and_then(header_text) {
                        request = request.header(MCP_NAME, name);
                    }
                }
                (None, Some(version)) => request = request.header(PROTOCOL_VERSION, version.clone()),
                (None, None) => {}
            }
        }
        let Ok(request) = request.body(Full::new(Bytes::from(frame))) else {
            self.fail(&routing, "the request could not be built").await;
            return;
        };
        let response = match tokio::time::timeout(self.timeout, self.client.request(request)).await {
            Ok(Ok(response)) => response,
            Ok(Err(_)) | Err(_) => {
                self.fail(&routing, "the upstream server could not be reached").await;
                return;
            }
        };
        let status = response.status();
        if status == StatusCode::ACCEPTED {
            return;
        }
        if !status.is_success() {
            // SECURITY: the server's own words are not repeated; the status is.
            let problem = format!("the upstream server answered HTTP {}", status.as_u16());
            self.fail(&routing, &problem).await;
            return;
        }
        let session = response.headers().get(SESSION_ID).cloned();
        let streaming = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().starts_with(EVENT_STREAM));
        let initialize = routing.method.as_deref() == Some("initialize");
        let mut body = response.into_body();
        let mut answered = false;
        // SECURITY: an answer is read within the request's time (a `subscriptions/listen`, which
        // lasts as long as its subscription, excepted), and a stream is left once it has
        // answered: a server that keeps either open cannot hold one of the bridge's slots.
        let deadline = (routing.method.as_deref() != Some("subscriptions/listen"))
            .then(|| tokio::time::Instant::now() + self.timeout);
        let within = |deadline: Option<tokio::time::Instant>| async move {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        if streaming {
            let mut decoder = SseDecoder::new(self.max_frame);
            'read: loop {
                let frame = tokio::select! {
                    frame = body.frame() => frame,
                    () = within(deadline) => None,
                };
                let Some(Ok(frame)) = frame else { break };
                let Ok(data) = frame.into_data() else { continue };
                for event in decoder.feed(&data) {
                    answered |= self.pass_on(event, initialize, session.as_ref()).await;
                    if answered {
                        break 'read;
                    }
                }
            }
        } else {
            let read = tokio::select! {
                read = Limited::new(body, self.max_frame).collect() => read.ok(),
                () = within(deadline) => None,
            };
            match read {
                Some(collected) => {
                    answered = self.pass_on(collected.to_bytes().to_vec(), initialize, session.as_ref()).await;
                }
                None => {
                    self.fail(&routing, "the upstream server's answer was too large, too slow or cut short").await;
                    return;
                }
            }
        }
        if !answered && routing.id.is_some() {
            self.fail(&routing, "the upstream server ended its answer without answering").await;
        }
        if initialize && answered && self.known.lock().await.session.is_some() {
            tokio::spawn(Arc::clone(self).listen());
        }
    }

    /// Passes one message from the server on to the proxy; for the answer to `initialize`,
    /// learns the server's session and version first. Says whether it was an answer (so the
    /// POST was answered).
    async fn pass_on(&self, mut frame: Vec<u8>, initialize: bool, session: Option<&HeaderValue>) -> bool {
        if frame.iter().all(u8::is_ascii_whitespace) {
            // A priming event, or a keep-alive.
            return false;
        }
        // Raw line breaks can only be whitespace between a JSON text's tokens (inside strings
        // they are escaped): turned to spaces, the frame is one line and means the same.
        for byte in &mut frame {
            if *byte == b'\n' || *byte == b'\r' {
                *byte = b' ';
            }
        }
        let value: Value = serde_json::from_slice(&frame).unwrap_or(Value::Null);
        let is_answer = value.get("method").is_none() && value.get("id").is_some();
        if initialize && is_answer {
            let version = value.get("result").and_then(|r| r.get("protocolVersion")).and_then(Value::as_str);
            let mut known = self.known.lock().await;
            if let Some(version) = version.and_then(|v| HeaderValue::from_str(v).ok()) {
                known.version = Some(version);
                if let Some(session) = session {
                    known.session = Some(session.clone());
                }
            }
        }
        let _ = self.to_proxy.send(frame).await;
        is_answer
    }

    /// Answers a request the server did not (nothing for a notification or an answer).
    async fn fail(&self, routing: &Routing, problem: &str) {
        let Some(id) = &routing.id else { return };
        let error = serde_json::json!({"jsonrpc": "2.0", "id": id, "error": {"code": SERVER_GONE, "message": problem}});
        let _ = self.to_proxy.send(error.to_string().into_bytes()).await;
    }

    /// Opens the server's GET stream once a session exists, for what the server sends
    /// unprompted (2025 era); a server without one (405) is fine.
    pub(crate) async fn listen(self: Arc<Self>) {
        let session = {
            let mut known = self.known.lock().await;
            if known.listening || known.session.is_none() {
                return;
            }
            known.listening = true;
            (known.session.clone(), known.version.clone())
        };
        let mut request = Request::builder().method(Method::GET).uri(self.uri.clone()).header(ACCEPT, EVENT_STREAM);
        if let Some(id) = session.0 {
            request = request.header(SESSION_ID, id);
        }
        if let Some(version) = session.1 {
            request = request.header(PROTOCOL_VERSION, version);
        }
        let Ok(request) = request.body(Full::new(Bytes::new())) else { return };
        let Ok(Ok(response)) = tokio::time::timeout(self.timeout, self.client.request(request)).await else { return };
        if !response.status().is_success() {
            return;
        }
        let mut body = response.into_body();
        let mut decoder = SseDecoder::new(self.max_frame);
        while let Some(Ok(frame)) = body.frame().await {
            let Ok(data) = frame.into_data() else { continue };
            for event in decoder.feed(&data) {
                self.pass_on(event, false, None).await;
            }
        }
    }

    /// Ends the server's session (2025 era), if there is one.
    async fn end_session(&self) {
        let (session, version) = {
            let mut known = self.known.lock().await;
            (known.session.take(), known.version.clone())
        };
        let Some(session) = session else { return };
        let mut request = Request::builder().method(Method::DELETE).uri(self.uri.clone()).header(SESSION_ID, session);
        if let Some(version) = version {
            request = request.header(PROTOCOL_VERSION, version);
        }
        if let Ok(request) = request.body(Full::new(Bytes::new())) {
            let _ = tokio::time::timeout(self.timeout, self.client.request(request)).await;
        }
    }
}

/// Server-sent events, decoded incrementally and bounded: the `data` of each event, its lines
/// joined with `\n`. An event whose data would exceed the limit is dropped whole (and the
/// decoder skips to its end); other fields (`event`, `id`, `retry`) and comments are ignored.
#[derive(Debug)]
pub struct SseDecoder {
    max: usize,
    line: Vec<u8>,
    line_too_long: bool,
    data: Vec<u8>,
    has_data: bool,
    too_large: bool,
    /// The last byte fed was a `\r` (so a `\n` right after it ends nothing).
    after_cr: bool,
}

impl SseDecoder {
    /// A decoder of events of at most `max` bytes of data.
    pub fn new(max: usize) -> Self {
        SseDecoder {
            max,
            line: Vec::new(),
            line_too_long: false,
            data: Vec::new(),
            has_data: false,
            too_large: false,
            after_cr: false,
        }
    }

    /// Takes the bytes that arrived; returns the data of every event they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut events = Vec::new();
        for &byte in bytes {
            let after_cr = std::mem::replace(&mut self.after_cr, byte == b'\r');
            match byte {
                b'\n' if after_cr => {}
                b'\n' | b'\r' => self.end_line(&mut events),
                _ if self.line.len() > self.max.saturating_add(8) => self.line_too_long = true,
                _ => self.line.push(byte),
            }
        }
        events
    }

    fn end_line(&mut self, events: &mut Vec<Vec<u8>>) {
        let line = std::mem::take(&mut self.line);
        let too_long = std::mem::replace(&mut self.line_too_long, false);
        if line.is_empty() && !too_long {
            // The end of an event.
            let data = std::mem::take(&mut self.data);
            if self.has_data && !self.too_large {
                events.push(data);
            }
            self.has_data = false;
            self.too_large = false;
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(at) => (line.get(..at).unwrap_or_default(), line.get(at + 1..).unwrap_or_default()),
            None => (line.as_slice(), &[][..]),
        };
        if field != b"data" {
            return;
        }
        let value = value.strip_prefix(b" ").unwrap_or(value);
        if too_long || self.data.len() + value.len() + 1 > self.max {
            self.too_large = true;
            self.data.clear();
            self.has_data = true;
            return;
        }
        if self.has_data {
            self.data.push(b'\n');
        }
        self.data.extend_from_slice(value);
        self.has_data = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_are_decoded_across_reads_and_line_endings() {
        let mut decoder = SseDecoder::new(64);
        let mut events = decoder.feed(b"event: message\r\nid: 1\r\ndata: {\"a\":");
        assert!(events.is_empty());
        events.extend(decoder.feed(b"1}\r\n\r\n: a comment\n\ndata:x\ndata: y\n\n"));
        assert_eq!(events, vec![b"{\"a\":1}".to_vec(), b"x\ny".to_vec()]);
    }

    #[test]
    fn an_sse_event_over_the_limit_is_dropped_whole() {
        let mut decoder = SseDecoder::new(8);
        let events = decoder.feed(b"data: 0123456789abcdef0123456789\n\ndata: ok\n\n");
        assert_eq!(events, vec![b"ok".to_vec()]);
        let events = decoder.feed(b"data: 01234\ndata: 56789\n\ndata: ok\n\n");
        assert_eq!(events, vec![b"ok".to_vec()]);
    }

    #[test]
    fn routing_headers_round_trip_through_base64_when_not_plain() {
        for text in ["echo", "café", " padded ", "=?base64?x?=", "line\r\nInjected: 1"] {
            let value = header_text(text).expect("a header value");
            assert_eq!(header_value_text(&value).as_deref(), Some(text), "{text:?}");
        }
        assert_eq!(header_text("echo").expect("value").to_str().ok(), Some("echo"));
        assert_eq!(header_value_text(&HeaderValue::from_static("=?base64?!!?=")), None);
    }

    #[test]
    fn upstream_urls_are_http_with_a_host_and_no_credentials() {
        assert!(UpstreamUrl::parse("http://127.0.0.1:3901/mcp").is_ok());
        assert_eq!(UpstreamUrl::parse("https://example.invalid/mcp").err(), Some(UrlError::Scheme));
        assert_eq!(UpstreamUrl::parse("http://user:pw@example.invalid/mcp").err(), Some(UrlError::UserInfo));
        assert_eq!(UpstreamUrl::parse("not a url").err(), Some(UrlError::Invalid));
        assert_eq!(UpstreamUrl::parse("/mcp").err(), Some(UrlError::Scheme));
    }

    #[test]
    fn routing_reads_the_modern_envelope_and_the_target_name() {
        let value: Value = serde_json::from_str(
            r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#,
        )
        .expect("json");
        let routing = Routing::of(&value);
        assert_eq!(routing.method.as_deref(), Some("tools/call"));
        assert_eq!(routing.name.as_deref(), Some("echo"));
        assert_eq!(routing.version.as_deref(), Some("2026-07-28"));
        assert_eq!(routing.id, Some(Value::from(3)));
        let answer: Value = serde_json::from_str(r#"{"jsonrpc":"2.0","id":3,"result":{}}"#).expect("json");
        assert_eq!(Routing::of(&answer), Routing::default());
    }
}
