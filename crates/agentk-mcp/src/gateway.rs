//! The Streamable HTTP gateway (feature `gateway`): many MCP clients over HTTP, each client
//! session mediated by its own [`Session`] in front of its own upstream (a stdio server started
//! for the session, or a Streamable HTTP server reached through [`crate::upstream`]).
//!
//! The gateway is a thin shell, like the stdio proxy: it checks each HTTP request at the door,
//! turns it into one frame for the session's proxy loop ([`crate::stdio`], which reads it from a
//! bounded channel), and routes what the loop writes back, as it writes it, to the HTTP
//! response waiting for it.
//! Everything is decided and recorded by the session, exactly as on stdio.
//!
//! # One endpoint
//!
//! `/mcp` takes `POST` (one JSON-RPC message; a request is answered as JSON or, when the
//! client accepts it, as an SSE stream that also carries what the server sends while the
//! request is open), `GET` (the stream of what the server sends unprompted, 2025 era) and
//! `DELETE` (ends a session).
//!
//! # At the door (M6), in this order
//!
//! 1. Path `/mcp` only (404); methods `POST`, `GET`, `DELETE` (405).
//! 2. `Host` (when listening on loopback) and `Origin` must be loopback or an allowed origin
//!    (403): a web page cannot reach a local gateway through DNS rebinding.
//! 3. A bearer token, when tokens are configured: compared in constant time against each
//!    (their BLAKE3 digests, whose equality is constant time); missing or wrong is 401 with a
//!    fixed body. Each token is a principal: sessions belong to the principal that opened them,
//!    and another principal's session id is unknown to it (404).
//! 4. Limits, each with its status and a log line: headers (431, by the HTTP stack), body (413,
//!    by `Content-Length` before reading and by counting while reading), the body's time to
//!    arrive (408), sessions (503), requests in flight per session (429), one server stream per
//!    session (409), connections (new ones wait in the kernel's queue), the time to send the
//!    headers (the connection is closed), a session's idle time (it is ended).
//! 5. The routing headers of 2026-07-28 (`Mcp-Method`, `Mcp-Name`, `MCP-Protocol-Version`)
//!    must agree with the body, and a 2026-07-28 request must carry them: otherwise 400 with
//!    JSON-RPC error -32020. A proxy that routes on headers and a server that reads the body
//!    never disagree about what was asked, because the gateway decides on the body and refuses
//!    any disagreement.
//!
//! # Sessions
//!
//! - **2025 era**: `initialize` without a session id opens a session; the gateway issues its
//!   id (256 random bits, hex) and keeps the upstream's own id to itself. An unknown or ended
//!   id is 404.
//! - **2026-07-28 era**: requests carry their protocol version in `_meta` and no session id.
//!   Since the protocol no longer has sessions, the unit of mediation is the principal: each
//!   principal's 2026 requests share one session (one taint index, one set of pins, one log),
//!   opened on first use.
//!
//! Each session has its own flight log (the caller's [`Sessions::open`] builds it, over one
//! policy, one signer and one shared ledger); when a session ends (the client's `DELETE`, its
//! idle time, its upstream's end, the gateway's stop) its log is closed with a checkpoint.
//!
//! # Stopping
//!
//! When `stop` resolves the gateway stops accepting connections, tells every session to stop
//! (requests still waiting are answered with an error, each upstream is stopped, each log
//! closed with a checkpoint), and returns once they have, or after [`Options::drain`].

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use agentk_flightlog::kernel::{KernelError, RecordSink};
use bytes::Bytes;
use http::header::{
    ACCEPT, ALLOW, CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderMap, HeaderValue, ORIGIN, WWW_AUTHENTICATE,
};
use http::{Method, Request, Response, StatusCode};
use http_body::{Body, Frame as BodyFrame};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::frame::{self, Frame, Id, Message};
use crate::lines::{Framer, Line};
use crate::session::{Session, Step};
use crate::stdio::{self, ProxyError};
use crate::upstream::{self, MCP_METHOD, MCP_NAME, PROTOCOL_VERSION, SESSION_ID, UpstreamUrl};

/// The protocol version of the stateless era.
pub const MODERN: &str = "2026-07-28";

/// JSON-RPC error of a request whose routing headers are missing or disagree with its body
/// (2026-07-28).
pub const HEADER_MISMATCH: i64 = -32020;

/// How long a session ended by its client (`DELETE`) or the reaper has to end by itself (its
/// upstream to exit, or to answer what waits) before it is stopped.
pub const DELETE_GRACE: Duration = Duration::from_secs(2);

/// The BLAKE3 context of a bearer token's digest (the gateway keeps digests, never tokens).
pub const TOKEN_CONTEXT: &str = "agentk gateway bearer token v1";

/// The BLAKE3 context of the tag that names a session in logs (never its id).
pub const SESSION_TAG_CONTEXT: &str = "agentk gateway session tag v1";

/// A bearer token's digest, in its own context; digests compare in constant time.
pub fn token_digest(token: &[u8]) -> blake3::Hash {
    blake3::Hasher::new_derive_key(TOKEN_CONTEXT).update(token).finalize()
}

/// The only path the gateway serves.
pub const ENDPOINT: &str = "/mcp";

/// The gateway's bounds and times.
#[derive(Clone, Debug)]
pub struct Options {
    /// The most bytes of one request body (413 beyond).
    pub max_body_bytes: usize,
    /// The most bytes of a request's headers (431 beyond; at least 8 KiB, the HTTP stack's
    /// floor).
    pub max_header_bytes: usize,
    /// The most sessions open at once (503 beyond).
    pub max_sessions: usize,
    /// The most requests waiting for an answer per session (429 beyond).
    pub max_in_flight: usize,
    /// The most connections open at once (beyond, new ones wait to be accepted).
    pub max_connections: usize,
    /// How long a client has to send a request's headers (then the connection is closed).
    pub header_timeout: Duration,
    /// How long a client has to send a request's body (408 beyond).
    pub body_timeout: Duration,
    /// How long a session may go without a request before it is ended.
    pub idle_timeout: Duration,
    /// How many messages from the server are kept for a client whose server stream is not
    /// open (the oldest are dropped beyond, with a log line).
    pub backlog: usize,
    /// How long stopping may take before what remains is abandoned.
    pub drain: Duration,
    /// Each session's proxy loop (its upstream timeout above all).
    pub proxy: stdio::Options,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_body_bytes: 4 << 20,
            max_header_bytes: 16 << 10,
            max_sessions: 256,
            max_in_flight: 32,
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(30 * 60),
            backlog: 256,
            drain: Duration::from_secs(10),
            proxy: stdio::Options::default(),
        }
    }
}

/// What each session mediates in front of.
#[derive(Clone, Debug)]
pub enum Upstream {
    /// A stdio server, started for each session.
    Command(stdio::Server),
    /// A Streamable HTTP server.
    Http(UpstreamUrl),
}

/// Who may come in.
#[derive(Clone, Debug, Default)]
pub struct Door {
    /// The digests of the bearer tokens; empty: no token is asked for (loopback only, which
    /// the caller enforces at start).
    pub tokens: Vec<blake3::Hash>,
    /// Origins allowed besides loopback ones, as `scheme://host[:port]`, compared without
    /// regard to case.
    pub allowed_origins: Vec<String>,
    /// Whether the gateway listens on loopback only: then `Host` must name loopback too (or an
    /// allowed origin's host).
    pub loopback: bool,
}

impl Door {
    /// A door for `tokens` (each one principal, in order).
    pub fn with_tokens<T: AsRef<[u8]>>(tokens: &[T]) -> Vec<blake3::Hash> {
        tokens.iter().map(|t| token_digest(t.as_ref())).collect()
    }
}

/// One session, as the gateway names it to [`Sessions`] and in its log lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionLabel {
    /// The gateway's count of sessions opened, from 1.
    pub serial: u64,
    /// The index of the principal's token (0 without tokens).
    pub principal: usize,
    /// Whether it holds a principal's 2026-07-28 requests.
    pub modern: bool,
    /// A short digest of the session id (the id itself is a bearer secret, never logged).
    pub tag: String,
}

/// How a session ended.
#[derive(Debug)]
pub struct SessionEnd {
    /// What the proxy loop came to.
    pub outcome: Result<stdio::Outcome, ProxyError>,
    /// Whether the log was closed with its checkpoint and synced.
    pub closed: Result<(), KernelError>,
    /// The events the log holds, the checkpoint included.
    pub events: u64,
}

/// Opens each session's mediator (its kernel, over its own flight log), and hears of each
/// session's steps and end.
pub trait Sessions: Send + Sync + 'static {
    /// The log sink of every session.
    type Sink: RecordSink + Send + 'static;
    /// A session's mediator; an error refuses the session (500, logged).
    fn open(&self, label: &SessionLabel) -> Result<Session<Self::Sink>, String>;
    /// Every step of a session (pins to keep, for example).
    fn observe(&self, label: &SessionLabel, step: &Step) {
        let _ = (label, step);
    }
    /// A session ended, its log closed.
    fn ended(&self, label: &SessionLabel, end: SessionEnd) {
        let _ = (label, end);
    }
}

/// Counts over the gateway's life.
#[derive(Debug, Default)]
pub struct Counters {
    /// Sessions opened.
    pub sessions: AtomicU64,
    /// Sessions open now.
    pub open_sessions: AtomicUsize,
    /// Messages passed to sessions.
    pub messages: AtomicU64,
    /// Requests refused at the door or by a limit.
    pub refused: AtomicU64,
    /// Server messages dropped because no stream could take them.
    pub dropped: AtomicU64,
}

type Body2 = BoxBody<Bytes, Infallible>;

/// A line for the operator.
pub type LogFn = Arc<dyn Fn(&str) + Send + Sync>;

struct Gateway<O: Sessions> {
    door: Door,
    upstream: Upstream,
    options: Options,
    opener: Arc<O>,
    log: LogFn,
    counters: Arc<Counters>,
    table: Mutex<Table>,
    stop: watch::Receiver<bool>,
    tasks: Mutex<JoinSet<()>>,
    /// Held while a principal's 2026-07-28 session is looked up and, if missing, opened, so
    /// that concurrent first requests open one.
    modern_gate: Mutex<()>,
}

#[derive(Default)]
struct Table {
    by_id: HashMap<String, Arc<Live>>,
    /// Each principal's 2026-07-28 session, by principal.
    modern: HashMap<usize, Arc<Live>>,
    /// Sessions being opened (counted against the limit before their logs are opened).
    opening: usize,
    serial: u64,
}

/// One live session, as the HTTP side sees it.
struct Live {
    id: String,
    label: SessionLabel,
    /// Frames for the session's proxy loop.
    input: mpsc::Sender<Vec<u8>>,
    routes: Mutex<Routes>,
    in_flight: Arc<Semaphore>,
    /// Tells the session to stop (drop to end it as its client would).
    ended: watch::Sender<bool>,
}

#[derive(Default)]
struct Routes {
    /// The streams of requests waiting for their answers, by the client's id (its JSON text).
    waiting: HashMap<String, Route>,
    /// The open SSE streams of requests, newest last, for what the server sends meanwhile.
    streams: Vec<(u64, mpsc::Sender<Vec<u8>>)>,
    /// The progress tokens of requests waiting, to the key of their request.
    progress: HashMap<String, String>,
    /// The server stream (GET).
    get: Option<mpsc::Sender<Vec<u8>>>,
    /// What the server sent that no stream could take yet.
    backlog: VecDeque<Vec<u8>>,
    last_active: Option<Instant>,
    next_stream: u64,
    /// The session ended: nothing more is routed.
    closed: bool,
}

struct Route {
    stream: u64,
    to: mpsc::Sender<Vec<u8>>,
    /// Whether the response is an SSE stream (which may carry notifications before the
    /// answer); a JSON response carries the answer only.
    sse: bool,
}

/// Serves `listener` until `stop` resolves, then drains. Returns the gateway's counts.
pub async fn serve<O: Sessions>(
    listener: TcpListener,
    door: Door,
    upstream: Upstream,
    options: Options,
    opener: Arc<O>,
    log: LogFn,
    stop: impl Future<Output = ()>,
) -> Arc<Counters> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let counters = Arc::new(Counters::default());
    let gateway = Arc::new(Gateway {
        door,
        upstream,
        options,
        opener,
        log,
        counters: Arc::clone(&counters),
        table: Mutex::new(Table::default()),
        stop: stop_rx,
        tasks: Mutex::new(JoinSet::new()),
        modern_gate: Mutex::new(()),
    });
    let connections = Arc::new(Semaphore::new(gateway.options.max_connections.max(1)));
    let mut open = JoinSet::new();
    let reaper = tokio::spawn(reap(Arc::clone(&gateway)));
    let mut stop = std::pin::pin!(stop);
    loop {
        let permit = tokio::select! {
            () = &mut stop => break,
            permit = Arc::clone(&connections).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, peer)) = accepted else { continue };
        let _ = stream.set_nodelay(true);
        let gateway = Arc::clone(&gateway);
        open.spawn(async move {
            let service = {
                let gateway = Arc::clone(&gateway);
                service_fn(move |request| {
                    let gateway = Arc::clone(&gateway);
                    async move { Ok::<_, Infallible>(gateway.handle(request, peer).await) }
                })
            };
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(gateway.options.header_timeout)
                .max_buf_size(gateway.options.max_header_bytes.max(8 << 10))
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            let _ = connection.await;
            drop(permit);
        });
        while open.try_join_next().is_some() {}
    }
    drop(listener);
    reaper.abort();
    // Drain: every session is told to stop; each answers what waits, stops its upstream and
    // closes its log.
    let _ = stop_tx.send(true);
    let sessions = {
        let mut table = gateway.table.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut all: Vec<Arc<Live>> = table.by_id.drain().map(|(_, live)| live).collect();
        all.extend(table.modern.drain().map(|(_, live)| live));
        all
    };
    for live in &sessions {
        let _ = live.ended.send(true);
    }
    drop(sessions);
    let mut tasks = std::mem::take(&mut *gateway.tasks.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    let drained =
        tokio::time::timeout(gateway.options.drain, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        (gateway.log)("stopping took too long; sessions still running were abandoned");
    }
    // Streams end once their sessions have; connections get a moment to write them out.
    let _ = tokio::time::timeout(Duration::from_millis(500), async { while open.join_next().await.is_some() {} }).await;
    open.abort_all();
    counters
}

/// Ends sessions idle for longer than [`Options::idle_timeout`] (nothing waiting, no stream).
async fn reap<O: Sessions>(gateway: Arc<Gateway<O>>) {
    let every = (gateway.options.idle_timeout / 4).max(Duration::from_millis(100));
    loop {
        tokio::time::sleep(every).await;
        let now = Instant::now();
        let idle: Vec<Arc<Live>> = {
            let table = gateway.table.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            table
                .by_id
                .values()
                .chain(table.modern.values())
                .filter(|live| {
                    let routes = live.routes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    routes.waiting.is_empty()
                        && routes.get.as_ref().is_none_or(mpsc::Sender::is_closed)
                        && routes.last_active.is_some_and(|at| now.duration_since(at) >= gateway.options.idle_timeout)
                })
                .cloned()
                .collect()
        };
        for live in idle {
            (gateway.log)(&format!("session {} idle too long: ended", live.label.tag));
            gateway.forget(&live);
            let _ = live.ended.send(true);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A response with a fixed text body.
fn plain(status: StatusCode, text: &'static str) -> Response<Body2> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

/// A response carrying one JSON-RPC message.
fn json(status: StatusCode, bytes: Vec<u8>) -> Response<Body2> {
    let mut response = Response::new(Full::new(Bytes::from(bytes)).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A JSON-RPC error as an HTTP response.
fn rpc_error(status: StatusCode, id: Option<&Id>, code: i64, message: &str) -> Response<Body2> {
    json(status, frame::error_answer(id, code, message))
}

/// Whether `host` (a URL's or `Host`'s host, without port) names loopback.
fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The host of a `Host` header value (`host[:port]`, `[v6][:port]`).
fn host_of(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    authority
        .rsplit_once(':')
        .map_or(authority, |(host, port)| if port.bytes().all(|b| b.is_ascii_digit()) { host } else { authority })
}

impl Door {
    /// Whether `Origin` (when sent) and, on loopback, `Host` are acceptable.
    fn admits_origin(&self, headers: &HeaderMap) -> bool {
        if let Some(origin) = headers.get(ORIGIN) {
            let Ok(origin) = origin.to_str() else { return false };
            let allowed = self.allowed_origins.iter().any(|a| a.eq_ignore_ascii_case(origin));
            let loopback = origin
                .split_once("://")
                .filter(|(scheme, _)| matches!(*scheme, "http" | "https"))
                .is_some_and(|(_, authority)| !authority.contains('/') && is_loopback_host(host_of(authority)));
            if !allowed && !loopback {
                return false;
            }
        }
        if self.loopback {
            let Some(host) = headers.get(HOST).and_then(|h| h.to_str().ok()) else { return false };
            let host = host_of(host);
            let allowed = self
                .allowed_origins
                .iter()
                .filter_map(|a| a.split_once("://").map(|(_, authority)| host_of(authority)))
                .any(|a| a.eq_ignore_ascii_case(host));
            if !is_loopback_host(host) && !allowed {
                return false;
            }
        }
        true
    }

    /// The principal of the request's bearer token (0 when no tokens are configured); `None`
    /// when a token is needed and missing or wrong. Every token is compared, in constant time.
    fn principal(&self, headers: &HeaderMap) -> Option<usize> {
        if self.tokens.is_empty() {
            return Some(0);
        }
        let presented = headers.get(http::header::AUTHORIZATION)?.as_bytes();
        let scheme = presented.get(..7)?;
        if !scheme.eq_ignore_ascii_case(b"bearer ") {
            return None;
        }
        let digest = token_digest(presented.get(7..)?);
        let mut found = None;
        for (index, token) in self.tokens.iter().enumerate() {
            // blake3::Hash compares in constant time; every token is compared.
            if *token == digest && found.is_none() {
                found = Some(index);
            }
        }
        found
    }
}

/// What a header check found wrong.
fn check_routing_headers(headers: &HeaderMap, message: &Message, modern: Option<&str>) -> Result<(), &'static str> {
    let method = message.method();
    let params = message.params_ref();
    let name = match method {
        Some("tools/call" | "prompts/get") => params.and_then(|p| p.get("name")),
        Some("resources/read" | "resources/subscribe" | "resources/unsubscribe") => params.and_then(|p| p.get("uri")),
        _ => None,
    }
    .and_then(Value::as_str);
    let read = |header| headers.get(header).map(|value| upstream::header_value_text(value).ok_or(()));
    match read(MCP_METHOD) {
        Some(Ok(said)) if Some(said.as_str()) == method => {}
        Some(_) => return Err("Mcp-Method does not match the body's method"),
        None if modern.is_some() && method.is_some() => return Err("Mcp-Method is missing"),
        None => {}
    }
    match read(MCP_NAME) {
        Some(Ok(said)) if Some(said.as_str()) == name => {}
        Some(_) => return Err("Mcp-Name does not match the body's name"),
        None if modern.is_some() && name.is_some() => return Err("Mcp-Name is missing"),
        None => {}
    }
    let header_version = headers.get(PROTOCOL_VERSION).map(|v| v.to_str().unwrap_or("?"));
    match (header_version, modern) {
        (Some(said), Some(body)) if said != body => Err("MCP-Protocol-Version does not match the body's _meta"),
        (Some(MODERN), None) if method.is_some() => Err("a 2026-07-28 request must carry its version in _meta"),
        _ => Ok(()),
    }
}

/// The protocol version a request's `_meta` names (2026-07-28 era), if any.
fn modern_version(message: &Message) -> Option<&str> {
    message.params_ref()?.get("_meta")?.get(upstream::VERSION_META)?.as_str()
}

fn accepts(headers: &HeaderMap, kind: &str) -> bool {
    headers.get_all(ACCEPT).iter().filter_map(|v| v.to_str().ok()).any(|v| {
        v.split(',').map(|part| part.split(';').next().unwrap_or_default().trim()).any(|t| {
            t.eq_ignore_ascii_case(kind) || t == "*/*" || (kind.starts_with("application/") && t == "application/*")
        })
    })
}

impl<O: Sessions> Gateway<O> {
    fn refuse(&self, peer: SocketAddr, status: StatusCode, why: &str) {
        self.counters.refused.fetch_add(1, Ordering::Relaxed);
        (self.log)(&format!("{} from {}: {why}", status.as_u16(), peer.ip()));
    }

    async fn handle(self: Arc<Self>, request: Request<Incoming>, peer: SocketAddr) -> Response<Body2> {
        let (parts, body) = request.into_parts();
        if parts.uri.path() != ENDPOINT {
            self.refuse(peer, StatusCode::NOT_FOUND, "a path other than /mcp");
            return plain(StatusCode::NOT_FOUND, "not found: the MCP endpoint is /mcp\n");
        }
        if !self.door.admits_origin(&parts.headers) {
            self.refuse(peer, StatusCode::FORBIDDEN, "an Origin or Host that is neither loopback nor allowed");
            return plain(StatusCode::FORBIDDEN, "forbidden: this origin may not use the gateway\n");
        }
        let Some(principal) = self.door.principal(&parts.headers) else {
            self.refuse(peer, StatusCode::UNAUTHORIZED, "a missing or wrong bearer token");
            let mut response = plain(StatusCode::UNAUTHORIZED, "unauthorized: a valid bearer token is required\n");
            response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        };
        match parts.method {
            Method::POST => self.post(parts.headers, body, principal, peer).await,
            Method::GET => self.get(&parts.headers, principal, peer),
            Method::DELETE => self.delete(&parts.headers, principal, peer),
            _ => {
                self.refuse(peer, StatusCode::METHOD_NOT_ALLOWED, "a method other than POST, GET, DELETE");
                let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
                response.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, POST, DELETE"));
                response
            }
        }
    }

    /// The session a request names, if it is this principal's.
    fn session_named(&self, headers: &HeaderMap, principal: usize) -> Option<Result<Arc<Live>, ()>> {
        let id = headers.get(SESSION_ID)?;
        let found = id
            .to_str()
            .ok()
            .and_then(|id| lock(&self.table).by_id.get(id).cloned())
            .filter(|live| live.label.principal == principal);
        Some(found.ok_or(()))
    }

    async fn post(
        self: Arc<Self>,
        headers: HeaderMap,
        body: Incoming,
        principal: usize,
        peer: SocketAddr,
    ) -> Response<Body2> {
        let json_type = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(';').next().unwrap_or_default().trim().eq_ignore_ascii_case("application/json"));
        if !json_type {
            self.refuse(peer, StatusCode::UNSUPPORTED_MEDIA_TYPE, "a body that is not application/json");
            return plain(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported media type: send application/json\n");
        }
        let (sse, json_ok) = (accepts(&headers, "text/event-stream"), accepts(&headers, "application/json"));
        if !sse && !json_ok {
            self.refuse(peer, StatusCode::NOT_ACCEPTABLE, "an Accept without application/json or text/event-stream");
            return plain(
                StatusCode::NOT_ACCEPTABLE,
                "not acceptable: accept application/json and text/event-stream\n",
            );
        }
        let max = self.options.max_body_bytes;
        let declared = headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max as u64) {
            self.refuse(peer, StatusCode::PAYLOAD_TOO_LARGE, "a body over the limit (declared)");
            return plain(StatusCode::PAYLOAD_TOO_LARGE, "payload too large\n");
        }
        let bytes = match tokio::time::timeout(self.options.body_timeout, Limited::new(body, max).collect()).await {
            Ok(Ok(collected)) => collected.to_bytes(),
            Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
                self.refuse(peer, StatusCode::PAYLOAD_TOO_LARGE, "a body over the limit");
                return plain(StatusCode::PAYLOAD_TOO_LARGE, "payload too large\n");
            }
            Ok(Err(_)) => {
                self.refuse(peer, StatusCode::BAD_REQUEST, "a body cut short");
                return plain(StatusCode::BAD_REQUEST, "bad request: the body could not be read\n");
            }
            Err(_) => {
                self.refuse(peer, StatusCode::REQUEST_TIMEOUT, "a body that took too long to arrive");
                return plain(StatusCode::REQUEST_TIMEOUT, "request timeout: the body took too long\n");
            }
        };
        let limits = frame::Limits { max_frame_bytes: max, ..frame::Limits::default() };
        let message = match Frame::parse(&bytes, &limits) {
            Ok(Frame::Single(message)) => message,
            Ok(Frame::Batch(_)) => {
                self.refuse(peer, StatusCode::BAD_REQUEST, "a JSON-RPC batch");
                return rpc_error(StatusCode::BAD_REQUEST, None, frame::INVALID_REQUEST, "batches are not accepted");
            }
            Err(error) => {
                self.refuse(peer, StatusCode::BAD_REQUEST, "a body that is not one JSON-RPC message");
                return json(StatusCode::BAD_REQUEST, error.answer());
            }
        };
        let modern = modern_version(&message);
        if let Err(why) = check_routing_headers(&headers, &message, modern) {
            self.refuse(peer, StatusCode::BAD_REQUEST, why);
            return rpc_error(StatusCode::BAD_REQUEST, message.id(), HEADER_MISMATCH, why);
        }
        let mut new_id = None;
        let live = match self.session_named(&headers, principal) {
            Some(Ok(live)) => live,
            Some(Err(())) => {
                self.refuse(peer, StatusCode::NOT_FOUND, "an unknown or ended session id");
                return rpc_error(StatusCode::NOT_FOUND, message.id(), frame::INVALID_REQUEST, "session not found");
            }
            None if modern.is_some() => match self.modern_session(principal) {
                Ok(live) => live,
                Err(response) => return response,
            },
            None if message.method() == Some("initialize") => match self.open(principal, false) {
                Ok(live) => {
                    new_id = Some(live.id.clone());
                    live
                }
                Err(response) => return response,
            },
            None => {
                self.refuse(peer, StatusCode::BAD_REQUEST, "a message without a session id");
                return rpc_error(
                    StatusCode::BAD_REQUEST,
                    message.id(),
                    frame::INVALID_REQUEST,
                    "no session: send initialize first, or a 2026-07-28 request",
                );
            }
        };
        if let Some(version) = headers.get(PROTOCOL_VERSION)
            && modern.is_none()
            && !version.to_str().is_ok_and(|v| crate::session::VERSIONS.contains(&v))
        {
            self.refuse(peer, StatusCode::BAD_REQUEST, "an unsupported MCP-Protocol-Version");
            return rpc_error(
                StatusCode::BAD_REQUEST,
                message.id(),
                frame::INVALID_REQUEST,
                "unsupported protocol version",
            );
        }
        // Raw line breaks in a valid JSON text are whitespace between tokens: as spaces, the
        // message is one line for the session's loop and means the same.
        let mut line: Vec<u8> = bytes.to_vec();
        for byte in &mut line {
            if *byte == b'\n' || *byte == b'\r' {
                *byte = b' ';
            }
        }
        let id = match message.kind() {
            frame::Kind::Request { id, .. } => Some(id.clone()),
            _ => None,
        };
        let Some(id) = id else {
            // A notification, or the client's answer to the server: accepted, no body.
            if live.input.send(line).await.is_err() {
                return rpc_error(StatusCode::NOT_FOUND, None, frame::INVALID_REQUEST, "session not found");
            }
            self.counters.messages.fetch_add(1, Ordering::Relaxed);
            lock(&live.routes).last_active = Some(Instant::now());
            return Response::builder()
                .status(StatusCode::ACCEPTED)
                .body(Full::new(Bytes::new()).boxed())
                .unwrap_or_else(|_| plain(StatusCode::ACCEPTED, ""));
        };
        let Ok(permit) = Arc::clone(&live.in_flight).try_acquire_owned() else {
            self.refuse(peer, StatusCode::TOO_MANY_REQUESTS, "too many requests in flight in one session");
            return rpc_error(
                StatusCode::TOO_MANY_REQUESTS,
                Some(&id),
                frame::INVALID_REQUEST,
                "too many requests in flight",
            );
        };
        let key = canonical(id.json());
        let (to, from) = mpsc::channel(32);
        let stream = {
            let mut routes = lock(&live.routes);
            if routes.closed {
                drop(routes);
                return rpc_error(StatusCode::NOT_FOUND, Some(&id), frame::INVALID_REQUEST, "session not found");
            }
            if routes.waiting.contains_key(&key) {
                drop(routes);
                self.refuse(peer, StatusCode::BAD_REQUEST, "a request id already in flight");
                return rpc_error(
                    StatusCode::BAD_REQUEST,
                    Some(&id),
                    frame::INVALID_REQUEST,
                    "this request id is already in flight",
                );
            }
            routes.next_stream += 1;
            let stream = routes.next_stream;
            routes.waiting.insert(key.clone(), Route { stream, to: to.clone(), sse });
            if let Some(token) = progress_token(&message).filter(|_| sse) {
                routes.progress.insert(token, key.clone());
            }
            if sse {
                routes.streams.push((stream, to));
            }
            routes.last_active = Some(Instant::now());
            stream
        };
        if live.input.send(line).await.is_err() {
            lock(&live.routes).waiting.remove(&key);
            return rpc_error(StatusCode::NOT_FOUND, Some(&id), frame::INVALID_REQUEST, "session not found");
        }
        self.counters.messages.fetch_add(1, Ordering::Relaxed);
        let guard = RouteGuard { live: Arc::clone(&live), key, stream, _permit: permit };
        let mut response = if sse {
            sse_response(from, guard)
        } else {
            let mut from = from;
            // The session's own timeout answers first; this bound is for a session that died.
            let wait = self.options.proxy.timeout + self.options.proxy.grace + Duration::from_secs(1);
            let answer = tokio::time::timeout(wait, from.recv()).await;
            drop(guard);
            match answer {
                Ok(Some(bytes)) => json(StatusCode::OK, bytes),
                _ => rpc_error(
                    StatusCode::OK,
                    Some(&id),
                    crate::session::SERVER_GONE,
                    "the session ended before answering",
                ),
            }
        };
        if let Some(session) = new_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
            response.headers_mut().insert(SESSION_ID, session);
        }
        response
    }

    fn get(&self, headers: &HeaderMap, principal: usize, peer: SocketAddr) -> Response<Body2> {
        let live = match self.session_named(headers, principal) {
            Some(Ok(live)) => live,
            Some(Err(())) => {
                self.refuse(peer, StatusCode::NOT_FOUND, "an unknown or ended session id");
                return plain(StatusCode::NOT_FOUND, "session not found\n");
            }
            None => {
                // The 2026-07-28 era has no server stream; the 2025 era needs a session.
                return plain(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method not allowed: no server stream without a session\n",
                );
            }
        };
        if !accepts(headers, "text/event-stream") {
            self.refuse(peer, StatusCode::NOT_ACCEPTABLE, "a GET that does not accept text/event-stream");
            return plain(StatusCode::NOT_ACCEPTABLE, "not acceptable: accept text/event-stream\n");
        }
        let (to, from) = mpsc::channel(64);
        {
            let mut routes = lock(&live.routes);
            if routes.get.as_ref().is_some_and(|get| !get.is_closed()) {
                drop(routes);
                self.refuse(peer, StatusCode::CONFLICT, "a second server stream for one session");
                return plain(StatusCode::CONFLICT, "conflict: this session's server stream is already open\n");
            }
            while let Some(bytes) = routes.backlog.pop_front() {
                if to.try_send(bytes).is_err() {
                    break;
                }
            }
            routes.get = Some(to);
            routes.last_active = Some(Instant::now());
        }
        sse_response(from, ())
    }

    fn delete(&self, headers: &HeaderMap, principal: usize, peer: SocketAddr) -> Response<Body2> {
        match self.session_named(headers, principal) {
            Some(Ok(live)) => {
                self.forget(&live);
                // Its input closes, as a stdio client's would; what still waits after
                // [`DELETE_GRACE`] is answered with an error, the upstream is stopped, and the
                // log closed with its checkpoint.
                let _ = live.ended.send(true);
                Response::builder()
                    .status(StatusCode::NO_CONTENT)
                    .body(Full::new(Bytes::new()).boxed())
                    .unwrap_or_else(|_| plain(StatusCode::NO_CONTENT, ""))
            }
            Some(Err(())) => {
                self.refuse(peer, StatusCode::NOT_FOUND, "an unknown or ended session id");
                plain(StatusCode::NOT_FOUND, "session not found\n")
            }
            None => {
                self.refuse(peer, StatusCode::BAD_REQUEST, "a DELETE without a session id");
                plain(StatusCode::BAD_REQUEST, "bad request: name the session to end\n")
            }
        }
    }

    /// Takes a session out of the table (it no longer takes requests).
    fn forget(&self, live: &Live) {
        let mut table = lock(&self.table);
        table.by_id.remove(&live.id);
        if live.label.modern && table.modern.get(&live.label.principal).is_some_and(|m| m.id == live.id) {
            table.modern.remove(&live.label.principal);
        }
    }

    fn modern_session(self: &Arc<Self>, principal: usize) -> Result<Arc<Live>, Response<Body2>> {
        let _gate = lock(&self.modern_gate);
        if let Some(live) = lock(&self.table).modern.get(&principal).cloned() {
            return Ok(live);
        }
        self.open(principal, true)
    }

    /// Opens a session: its mediator, its proxy loop and its router.
    fn open(self: &Arc<Self>, principal: usize, modern: bool) -> Result<Arc<Live>, Response<Body2>> {
        let mut secret = [0u8; 32];
        if getrandom::fill(&mut secret).is_err() {
            (self.log)("500: no randomness for a session id");
            return Err(plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n"));
        }
        let id: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        let tag = blake3::Hasher::new_derive_key(SESSION_TAG_CONTEXT)
            .update(id.as_bytes())
            .finalize()
            .to_hex()
            .get(..12)
            .unwrap_or_default()
            .to_owned();
        let serial = {
            let mut table = lock(&self.table);
            // A session counts until it has ended (its upstream stopped, its log closed), not
            // only while it is in the table: one deleted with a call still waiting runs on.
            let running = self.counters.open_sessions.load(Ordering::Relaxed);
            if running + table.opening >= self.options.max_sessions {
                drop(table);
                self.counters.refused.fetch_add(1, Ordering::Relaxed);
                (self.log)("503: the session limit is reached");
                let mut response = plain(StatusCode::SERVICE_UNAVAILABLE, "service unavailable: too many sessions\n");
                response.headers_mut().insert(http::header::RETRY_AFTER, HeaderValue::from_static("5"));
                return Err(response);
            }
            table.serial += 1;
            table.opening += 1;
            table.serial
        };
        let label = SessionLabel { serial, principal, modern, tag };
        let opened = self.opener.open(&label);
        if opened.is_err() {
            lock(&self.table).opening -= 1;
        }
        let session = match opened {
            Ok(session) => session,
            Err(problem) => {
                (self.log)(&format!("500: session {} could not be opened: {problem}", label.tag));
                return Err(plain(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error: the session could not be opened\n",
                ));
            }
        };
        let (input_tx, input_rx) = mpsc::channel(self.options.max_in_flight.max(1) * 2);
        let (ended, ended_rx) = watch::channel(false);
        let live = Arc::new(Live {
            id: id.clone(),
            label: label.clone(),
            input: input_tx,
            routes: Mutex::new(Routes { last_active: Some(Instant::now()), ..Routes::default() }),
            in_flight: Arc::new(Semaphore::new(self.options.max_in_flight.max(1))),
            ended,
        });
        {
            let mut table = lock(&self.table);
            table.opening -= 1;
            self.counters.open_sessions.fetch_add(1, Ordering::Relaxed);
            table.by_id.insert(id, Arc::clone(&live));
            if modern {
                table.modern.insert(principal, Arc::clone(&live));
            }
        }
        self.counters.sessions.fetch_add(1, Ordering::Relaxed);
        (self.log)(&format!(
            "session {} opened (#{serial}, principal {principal}, {})",
            label.tag,
            if modern { "2026-07-28 requests" } else { "2025 era" }
        ));
        let gateway = Arc::clone(self);
        let task = run_session(gateway, Arc::clone(&live), session, input_rx, ended_rx);
        let mut tasks = lock(&self.tasks);
        // Finished sessions leave the set as new ones come, so it holds the running ones.
        while tasks.try_join_next().is_some() {}
        tasks.spawn(task);
        Ok(live)
    }

    /// Passes on one message the session's loop wrote for the client.
    fn route(&self, live: &Live, bytes: Vec<u8>) {
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let is_answer = value.get("method").is_none();
        let mut routes = lock(&live.routes);
        if is_answer {
            let key = value.get("id").map(Value::to_string).unwrap_or_default();
            if let Some(route) = routes.waiting.remove(&key) {
                let stream = route.stream;
                routes.progress.retain(|_, waiting| *waiting != key);
                let _ = route.to.try_send(bytes);
                // The request's stream ends with its answer.
                routes.streams.retain(|(s, _)| *s != stream);
                return;
            }
            drop(routes);
            // Its request's client went away; the decision is in the log.
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // A notification that names its request (a `subscriptions/listen` stream's, by the
        // listen request's id; progress, by the request's token) goes on that request's stream.
        let params = value.get("params");
        let subscription = params
            .and_then(|p| p.get("_meta"))
            .and_then(|m| m.get(crate::session::SUBSCRIPTION_ID_META))
            .map(Value::to_string);
        let progress = (value.get("method").and_then(Value::as_str) == Some("notifications/progress"))
            .then(|| params.and_then(|p| p.get("progressToken")).map(Value::to_string))
            .flatten()
            .and_then(|token| routes.progress.get(&token).cloned());
        if let Some(route) = subscription.or(progress).and_then(|key| routes.waiting.get(&key)).filter(|r| r.sse) {
            if route.to.try_send(bytes).is_err() {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
        // Anything else the server sends while requests are open goes on the newest request
        // stream, else on the server stream, else it waits (bounded).
        routes.streams.retain(|(_, to)| !to.is_closed());
        let mut pending = Some(bytes);
        if let Some((_, to)) = routes.streams.last() {
            pending = to.try_send(pending.take().unwrap_or_default()).err().map(|e| e.into_inner());
        }
        if let Some(bytes) = pending.take() {
            match routes.get.as_ref().filter(|get| !get.is_closed()) {
                Some(get) => {
                    if let Err(e) = get.try_send(bytes) {
                        // A server stream that does not keep up is ended: the client reopens it.
                        routes.get = None;
                        pending = Some(e.into_inner());
                        (self.log)(&format!("session {}: a slow server stream was closed", live.label.tag));
                    }
                }
                None => pending = Some(bytes),
            }
        }
        if let Some(bytes) = pending {
            routes.backlog.push_back(bytes);
            if routes.backlog.len() > self.options.backlog {
                routes.backlog.pop_front();
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The progress token of a request (`params._meta.progressToken`), as JSON text.
fn progress_token(message: &Message) -> Option<String> {
    Some(message.params_ref()?.get("_meta")?.get("progressToken")?.to_string())
}

/// An id's JSON text as the router will find it (serde's rendering of the parsed value).
fn canonical(id_json: &str) -> String {
    serde_json::from_str::<Value>(id_json).map(|v| v.to_string()).unwrap_or_else(|_| id_json.to_owned())
}

/// Keeps a request's route while its response is being sent; when the response ends or the
/// client goes away, the route goes and the in-flight slot is freed.
struct RouteGuard {
    live: Arc<Live>,
    key: String,
    stream: u64,
    _permit: OwnedSemaphorePermit,
}

impl Drop for RouteGuard {
    fn drop(&mut self) {
        let mut routes = lock(&self.live.routes);
        if routes.waiting.get(&self.key).is_some_and(|route| route.stream == self.stream) {
            routes.waiting.remove(&self.key);
            let key = &self.key;
            routes.progress.retain(|_, waiting| waiting != key);
        }
        routes.streams.retain(|(s, _)| *s != self.stream);
        routes.last_active = Some(Instant::now());
    }
}

/// An SSE response whose events are the messages `from` yields; `guard` lives as long as it.
fn sse_response<G: Send + Sync + Unpin + 'static>(from: mpsc::Receiver<Vec<u8>>, guard: G) -> Response<Body2> {
    let body = SseBody { from, _guard: guard, primed: false };
    let mut response = Response::new(BodyExt::boxed(body));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    response.headers_mut().insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

struct SseBody<G> {
    from: mpsc::Receiver<Vec<u8>>,
    _guard: G,
    primed: bool,
}

impl<G: Unpin> Body for SseBody<G> {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<BodyFrame<Bytes>, Infallible>>> {
        if !self.primed {
            // A comment first, so the client sees the stream open before the first event.
            self.primed = true;
            return Poll::Ready(Some(Ok(BodyFrame::data(Bytes::from_static(b": agentk\n\n")))));
        }
        match self.from.poll_recv(cx) {
            Poll::Ready(Some(message)) => {
                let mut event = Vec::with_capacity(message.len() + 24);
                event.extend_from_slice(b"event: message\ndata: ");
                event.extend_from_slice(&message);
                event.extend_from_slice(b"\n\n");
                Poll::Ready(Some(Ok(BodyFrame::data(Bytes::from(event)))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// One session: its proxy loop (in front of its upstream), reading the client's frames
/// straight from its input channel and routing what it writes for the client as it is written; then its log
/// is closed.
async fn run_session<O: Sessions>(
    gateway: Arc<Gateway<O>>,
    live: Arc<Live>,
    mut session: Session<O::Sink>,
    input: mpsc::Receiver<Vec<u8>>,
    ended: watch::Receiver<bool>,
) {
    let max = session.config().limits.max_frame_bytes;
    let mut deleted = ended.clone();
    // Ended by its client or the reaper, the session's input closes, as a stdio client's would.
    let mut input_ended = ended;
    let end = Box::pin(async move {
        let _ = input_ended.wait_for(|ended| *ended).await;
    });
    let client_in = stdio::Input::<tokio::io::Empty>::Frames(stdio::FrameReader::new(input, Some(end)));
    // What the loop writes for the client is routed as it is written (to the response waiting
    // for it, a request's stream, the server stream or the bounded backlog, none of which
    // waits), with no writer task, pipe or reader in between.
    let client_out: stdio::Output<tokio::io::Empty> = {
        let (gateway, live) = (Arc::clone(&gateway), Arc::clone(&live));
        let mut framer = Framer::new(max);
        stdio::Output::Deliver(Box::new(move |bytes: Vec<u8>, _routed: stdio::Taken| {
            let mut lines = Vec::new();
            framer.feed(&bytes, &mut lines);
            for (_, line) in lines {
                // Every line is a message the session decided to pass on.
                if let Line::Frame(bytes) = line {
                    gateway.route(&live, bytes);
                }
            }
        }))
    };
    let label = live.label.clone();
    let opener = Arc::clone(&gateway.opener);
    let mut observe = |step: &Step| opener.observe(&label, step);
    let mut stop = gateway.stop.clone();
    // Told to stop: by the gateway's drain (answer what waits, stop the upstream); or ended by
    // its client or the reaper, whose input then closes: a session that has not ended by
    // itself [`DELETE_GRACE`] later (a call still waiting for its server) is stopped, so what
    // waits is answered and the upstream stopped now, not at the call's timeout.
    let until = async move {
        let deleted = async {
            let _ = deleted.wait_for(|ended| *ended).await;
            tokio::time::sleep(DELETE_GRACE).await;
        };
        tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => {}
            () = deleted => {}
        }
    };
    let options = &gateway.options.proxy;
    let outcome = match &gateway.upstream {
        Upstream::Command(server) => {
            stdio::run_input_until(&mut session, server, (client_in, client_out), options, &mut observe, until).await
        }
        Upstream::Http(url) => {
            let link = upstream::link(url, max, options.timeout);
            stdio::run_link_until(&mut session, link, (client_in, client_out), options, &mut observe, until).await
        }
    };
    let events = session.kernel().events() + 1;
    let closed = session.close().and_then(|mut sink| Ok(RecordSink::sync(&mut sink)?));
    gateway.forget(&live);
    {
        let mut routes = lock(&live.routes);
        routes.closed = true;
        routes.waiting.clear();
        routes.streams.clear();
        routes.get = None;
        routes.backlog.clear();
    }
    gateway.counters.open_sessions.fetch_sub(1, Ordering::Relaxed);
    (gateway.log)(&format!(
        "session {} ended ({}); log closed with a checkpoint: {}",
        live.label.tag,
        match &outcome {
            Ok(outcome) => format!("{:?}", outcome.ended),
            Err(e) => format!("error: {e}"),
        },
        if closed.is_ok() { "yes" } else { "NO" },
    ));
    gateway.opener.ended(&live.label, SessionEnd { outcome, closed, events });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).expect("a header value"));
        }
        map
    }

    fn message(text: &str) -> Message {
        match Frame::parse(text.as_bytes(), &frame::Limits::default()) {
            Ok(Frame::Single(message)) => message,
            other => panic!("not one message: {other:?}"),
        }
    }

    #[test]
    fn origins_and_hosts_must_be_loopback_or_allowed() {
        let door = Door { tokens: vec![], allowed_origins: vec!["https://app.example.invalid".into()], loopback: true };
        let ok = |pairs: &[(&'static str, &str)]| door.admits_origin(&headers(pairs));
        assert!(ok(&[("host", "127.0.0.1:8080")]));
        assert!(ok(&[("host", "localhost:8080"), ("origin", "http://localhost:3000")]));
        assert!(ok(&[("host", "[::1]:8080"), ("origin", "http://[::1]:3000")]));
        assert!(ok(&[("host", "127.0.0.1"), ("origin", "https://APP.example.invalid")]));
        assert!(!ok(&[("host", "127.0.0.1"), ("origin", "http://attacker.example.invalid")]));
        assert!(!ok(&[("host", "127.0.0.1"), ("origin", "null")]));
        assert!(!ok(&[("host", "127.0.0.1"), ("origin", "http://localhost.example.invalid")]));
        // DNS rebinding: the page's own name reaches loopback, with a Host that is not.
        assert!(!ok(&[("host", "rebound.example.invalid:8080")]));
        assert!(!ok(&[]));
        let open = Door { loopback: false, ..door };
        assert!(open.admits_origin(&headers(&[("host", "gateway.example.invalid")])));
    }

    #[test]
    fn tokens_are_matched_to_their_principal_and_anything_else_is_refused() {
        let door = Door { tokens: Door::with_tokens(&["first-test-token", "second-test-token"]), ..Door::default() };
        let principal = |value: &str| door.principal(&headers(&[("authorization", value)]));
        assert_eq!(principal("Bearer first-test-token"), Some(0));
        assert_eq!(principal("bearer second-test-token"), Some(1));
        assert_eq!(principal("Bearer first-test-toke"), None);
        assert_eq!(principal("Basic first-test-token"), None);
        assert_eq!(principal("Bearer "), None);
        assert_eq!(door.principal(&HeaderMap::new()), None);
        assert_eq!(Door::default().principal(&HeaderMap::new()), Some(0));
    }

    #[test]
    fn routing_headers_must_agree_with_the_body() {
        let call = message(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#,
        );
        let modern = modern_version(&call);
        assert_eq!(modern, Some(MODERN));
        let check = |pairs: &[(&'static str, &str)]| check_routing_headers(&headers(pairs), &call, modern);
        let good = [("mcp-method", "tools/call"), ("mcp-name", "echo"), ("mcp-protocol-version", MODERN)];
        assert_eq!(check(&good), Ok(()));
        assert!(check(&[("mcp-method", "tools/list"), ("mcp-name", "echo")]).is_err());
        assert!(check(&[("mcp-method", "tools/call"), ("mcp-name", "send_payment")]).is_err());
        assert!(check(&[("mcp-method", "tools/call")]).is_err(), "a modern call must name its tool");
        assert!(check(&[("mcp-name", "echo")]).is_err(), "a modern request must name its method");
        assert!(
            check(&[("mcp-method", "tools/call"), ("mcp-name", "echo"), ("mcp-protocol-version", "2025-11-25")])
                .is_err()
        );
        assert_eq!(check(&[("mcp-method", "tools/call"), ("mcp-name", "=?base64?ZWNobw==?=")]), Ok(()));
        // A 2025 request needs no routing headers, but any it sends must agree.
        let old = message(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}"#);
        assert_eq!(check_routing_headers(&HeaderMap::new(), &old, None), Ok(()));
        assert!(check_routing_headers(&headers(&[("mcp-name", "other")]), &old, None).is_err());
        assert!(check_routing_headers(&headers(&[("mcp-protocol-version", MODERN)]), &old, None).is_err());
    }

    #[test]
    fn accept_lists_are_read_by_media_type() {
        let h = headers(&[("accept", "application/json;q=0.9, text/event-stream")]);
        assert!(accepts(&h, "text/event-stream") && accepts(&h, "application/json"));
        assert!(!accepts(&headers(&[("accept", "text/html")]), "application/json"));
        assert!(accepts(&headers(&[("accept", "*/*")]), "text/event-stream"));
    }

    #[test]
    fn hosts_are_read_without_their_port() {
        assert_eq!(host_of("127.0.0.1:8080"), "127.0.0.1");
        assert_eq!(host_of("[::1]:8080"), "::1");
        assert_eq!(host_of("example.invalid"), "example.invalid");
        assert!(is_loopback_host("::1") && is_loopback_host("LOCALHOST") && !is_loopback_host("10.0.0.1"));
    }
}
