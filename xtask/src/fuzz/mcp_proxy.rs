//! `mcp_proxy`: the stdio proxy (`agentk_mcp::stdio`) modelled sans-IO. Both sides' bytes go
//! through their own `Framer` as reads arrive, frames are handed to `Session::handle` in the
//! batches the proxy makes, the proxy's timers call `Session::time_out` and `server_gone`, and
//! what the session says to write is checked against the mediator's promises.
//!
//! # The input
//!
//! Lines (at most 1,024, making at most 4,096 frames); the first byte of each says what happens (a line with none of these is a whole line
//! read from the client, or from the server when it holds `"result"` or `"error"`, so a JSONL
//! transcript is an input too, one frame per batch):
//!
//! - `>TEXT` / `<TEXT`: the client / the server writes `TEXT` and a newline;
//! - `)TEXT` / `(TEXT`: the client / the server writes `TEXT` without a newline (a line split
//!   across reads, or a death in the middle of a line);
//! - `*` + `>` or `<` + a digit `d` + `TEXT`: that side writes the line `TEXT` 2^d times (a
//!   flood);
//! - an empty line: the reads so far are handed over (the proxy's batch; it also ends before
//!   any other step, and at the proxy's cap on frames per batch);
//! - `T` + digits: the transport's timeout of the n-th request waiting (modulo their number;
//!   the proxy's own timeouts, all of one length, expire oldest first, but the session must
//!   take any order); `A`: every waiting request times out;
//! - `C`: the client closes its output; `S`: the server closes its output (the proxy answers
//!   what waits and ends); `X`: the server exited and its grace period passed; `W`: the
//!   server is wedged (the oldest waiting request times out and the proxy ends);
//! - `L` + digits (first line only): the frame limit, for both framers and the session (16 to
//!   65,536; 65,536 when not given); `B` + digits: the proxy's most frames per batch.
//!
//! In what a side writes, `#` and a digit `d` become the id of the d-th oldest request that
//! side was sent and has not answered (`0` when there is none), so a fuzzed server can answer
//! what it was asked. The input ends as a client would: its output closes, and every request
//! still waiting times out.
//!
//! # What is checked
//!
//! Nothing panics, and the session never fails (over an in-memory log only its own mistakes
//! could make it); every output is one line of one JSON-RPC message; every request or
//! notification written to either side was decided `allow` in the same step, under its method
//! (the mediator's own `tools/list` and the cancellation a timeout sends are the only
//! messages it writes of its own); every request to the server is one of the step's
//! `forwarded` keys, each key used once in the session; no request is answered twice, and
//! when the session ends every request the client sent has had its answer; no answer carries
//! AgentK's denial marker but for a denial decided in that step; the errors the proxy writes
//! itself (to `null`, or a denial) never repeat a planted canary; the log verifies.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, LazyLock};

use agentk_capability::{SignerSource, SigningIdentity};
use agentk_flightlog::kernel::{Kernel, KernelError, MemoryLog};
use agentk_labels::SafeText;
use agentk_mcp::frame::{Frame, FrameError, Limits};
use agentk_mcp::lines::{Framer, Line};
use agentk_mcp::session::{Config, Out, Session, Side, Step};
use agentk_policy::{Policy, Profile};
use serde_json::Value;

/// A string the checks look for in the errors the proxy writes itself: planted in the seeds'
/// invalid frames, and never to be repeated.
const CANARY: &str = "zq9CANARYq9z";

/// No output holds a `\r`: a peer that reads lines the way Python's text streams do (`\r`
/// ends a line) would read two messages where the mediator decided one (the parser refuses a
/// frame with a `\r` in it; found by this target).
const CHECK_CARRIAGE_RETURNS: bool = true;

/// Every request the client sent is answered whichever way the session ends, also a call
/// released after the client closed (it waited for the mediator's own listing: the proxy keeps
/// the server's input open until nothing waits; found by this target).
const CHECK_ANSWERED_AFTER_CLIENT_CLOSE: bool = true;

/// The most frames one input may make, so that a run stays quick.
const MAX_FRAMES: usize = 4096;

/// The policy's text and the policy, and the signer.
type Shared = (Arc<str>, Arc<Policy>, Arc<SigningIdentity>);

/// The profile `mcp`, parsed once, and the deterministic test key, expanded once: every run
/// builds a kernel, and these would otherwise be most of its cost.
static SHARED: LazyLock<Option<Shared>> = LazyLock::new(|| {
    let policy = Profile::Mcp.load().ok()?;
    let signer = SigningIdentity::from_secret(&[9; 32], SignerSource::Embedded); // deterministic test key
    Some((Arc::from(Profile::Mcp.source()), Arc::new(policy), Arc::new(signer)))
});

/// What a read brought, as the proxy's readers report it.
enum Event {
    Lines(Side, Vec<Line>),
    Closed(Side),
}

/// Which entry point of the session a step came from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    Handle,
    TimeOut,
    ServerGone,
}

/// The proxy, its peers' view of what they were asked, and the ledger the checks keep.
struct Model {
    session: Session<MemoryLog>,
    limits: Limits,
    client: Framer,
    server: Framer,
    events: Vec<Event>,
    batch_frames: usize,
    frames: usize,
    /// The keys the proxy times, oldest first.
    waiting: Vec<String>,
    to_server_open: bool,
    client_open: bool,
    ended: bool,
    /// Requests written to each side and not yet answered, oldest first (for `#d`).
    at_server: Vec<String>,
    at_client: Vec<String>,
    /// Requests each side sent, and answers it got, by id.
    client_requests: BTreeMap<String, u32>,
    client_answers: BTreeMap<String, u32>,
    server_requests: BTreeMap<String, u32>,
    server_answers: BTreeMap<String, u32>,
    /// Every key ever forwarded.
    keys: BTreeSet<String>,
    /// A request was forwarded while the server's input was closed.
    lost: bool,
    /// The client's requests it cancelled itself (they need no answer).
    cancelled: BTreeSet<String>,
    /// A `tools/call` reached the server.
    called: bool,
}

/// Runs one input; answers whether a `tools/call` reached the server.
pub(super) fn run(data: &[u8]) -> bool {
    let mut records: Vec<&[u8]> = data.split(|b| *b == b'\n').take(1024).collect();
    let mut max = 64 * 1024;
    if let Some(first) = records.first().and_then(|r| r.strip_prefix(b"L")) {
        max = number(first).clamp(16, 64 * 1024);
        records.remove(0);
    }
    let Some(mut model) = Model::new(max) else { return false };
    for record in records {
        if model.ended {
            break;
        }
        model.record(record);
    }
    model.finish()
}

/// The decimal number a record's argument starts with (0 without one, saturating).
fn number(text: &[u8]) -> usize {
    text.iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(0usize, |n, b| n.saturating_mul(10).saturating_add(usize::from(b - b'0')))
}

impl Model {
    fn new(max: usize) -> Option<Self> {
        let (text, policy, signer) = SHARED.as_ref()?;
        let kernel = Kernel::builder()
            .policy(Arc::clone(text), Arc::clone(policy))
            .signer(Arc::clone(signer))
            .clock(super::FuzzClock)
            .entropy(super::FuzzEntropy(0))
            .salt([1; 32])
            .log_id([2; 32])
            .open_sink(MemoryLog::new())
            .ok()?;
        let mut config = Config::new("fuzz");
        config.max_pending = 16;
        config.max_tools = 64;
        config.limits.max_frame_bytes = max;
        let limits = config.limits;
        Some(Model {
            session: Session::new(kernel, config),
            limits,
            client: Framer::new(max),
            server: Framer::new(max),
            events: Vec::new(),
            batch_frames: 256,
            frames: 0,
            waiting: Vec::new(),
            to_server_open: true,
            client_open: true,
            ended: false,
            at_server: Vec::new(),
            at_client: Vec::new(),
            client_requests: BTreeMap::new(),
            client_answers: BTreeMap::new(),
            server_requests: BTreeMap::new(),
            server_answers: BTreeMap::new(),
            keys: BTreeSet::new(),
            lost: false,
            cancelled: BTreeSet::new(),
            called: false,
        })
    }

    fn record(&mut self, record: &[u8]) {
        let (control, rest) = record.split_first().map_or((None, &b""[..]), |(c, rest)| (Some(*c), rest));
        match control {
            None => self.flush(),
            Some(b'>') => self.read(Side::Client, rest, true),
            Some(b'<') => self.read(Side::Server, rest, true),
            Some(b')') => self.read(Side::Client, rest, false),
            Some(b'(') => self.read(Side::Server, rest, false),
            Some(b'*') => {
                let side = if rest.first() == Some(&b'<') { Side::Server } else { Side::Client };
                let times = 1usize << rest.get(1).map_or(0, |d| usize::from(d.saturating_sub(b'0')).min(8));
                let line = rest.get(2..).unwrap_or_default();
                for _ in 0..times {
                    self.read(side, line, true);
                }
            }
            Some(b'T') => {
                self.flush();
                if !self.waiting.is_empty() {
                    let at = number(rest) % self.waiting.len();
                    let key = self.waiting.remove(at);
                    self.time_out(&key);
                }
            }
            Some(b'A') => {
                self.flush();
                for key in std::mem::take(&mut self.waiting) {
                    self.time_out(&key);
                }
            }
            Some(b'C') => {
                if self.client_open {
                    let mut lines = Vec::new();
                    self.client.finish(&mut lines);
                    self.push_lines(Side::Client, lines);
                    self.events.push(Event::Closed(Side::Client));
                }
                self.flush();
            }
            Some(b'S') => {
                let mut lines = Vec::new();
                self.server.finish(&mut lines);
                self.push_lines(Side::Server, lines);
                self.events.push(Event::Closed(Side::Server));
                self.flush();
            }
            Some(b'X') => {
                self.flush();
                self.server_gone();
            }
            Some(b'W') => {
                self.flush();
                if !self.waiting.is_empty() {
                    let key = self.waiting.remove(0);
                    self.time_out(&key);
                    self.server_gone();
                }
            }
            Some(b'B') => self.batch_frames = number(rest).clamp(1, 256),
            Some(_) => {
                let side = if contains(record, b"\"result\"") || contains(record, b"\"error\"") {
                    Side::Server
                } else {
                    Side::Client
                };
                self.read(side, record, true);
                self.flush();
            }
        }
    }

    /// One read from `side`, with `#d` replaced by the ids that side was asked for.
    fn read(&mut self, side: Side, text: &[u8], newline: bool) {
        if (side == Side::Client && !self.client_open) || self.frames >= MAX_FRAMES {
            return;
        }
        let asked = if side == Side::Server { &self.at_server } else { &self.at_client };
        let mut bytes = Vec::with_capacity(text.len() + 1);
        let mut at = 0;
        while let Some(&byte) = text.get(at) {
            match (byte, text.get(at + 1)) {
                (b'#', Some(digit)) if digit.is_ascii_digit() => {
                    let index = usize::from(digit - b'0');
                    bytes.extend_from_slice(
                        asked.get(index % asked.len().max(1)).map_or("0", String::as_str).as_bytes(),
                    );
                    at += 2;
                }
                _ => {
                    bytes.push(byte);
                    at += 1;
                }
            }
        }
        if newline {
            bytes.push(b'\n');
        }
        let mut lines = Vec::new();
        match side {
            Side::Client => self.client.feed(&bytes, &mut lines),
            Side::Server => self.server.feed(&bytes, &mut lines),
        }
        self.push_lines(side, lines);
    }

    fn push_lines(&mut self, side: Side, lines: Vec<(u64, Line)>) {
        if !lines.is_empty() {
            self.frames += lines.len();
            self.events.push(Event::Lines(side, lines.into_iter().map(|(_, line)| line).collect()));
        }
    }

    /// Hands the reads so far to the session, in the batches the proxy makes.
    fn flush(&mut self) {
        let mut events = std::mem::take(&mut self.events).into_iter();
        while let Some(first) = events.next() {
            if self.ended {
                return;
            }
            let mut batch = vec![first];
            let count = |batch: &[Event]| {
                batch.iter().map(|e| if let Event::Lines(_, lines) = e { lines.len() } else { 0 }).sum::<usize>()
            };
            while count(&batch) < self.batch_frames {
                let Some(event) = events.next() else { break };
                batch.push(event);
            }
            self.on_events(batch);
        }
    }

    /// What the proxy does with one batch of reads (`Proxy::on_events`).
    fn on_events(&mut self, events: Vec<Event>) {
        let mut frames: Vec<(Side, Vec<u8>)> = Vec::new();
        let mut answers = Vec::new();
        let (mut client_closed, mut server_closed) = (false, false);
        for event in events {
            match event {
                Event::Lines(side, lines) => {
                    for line in lines {
                        match (line, side) {
                            (Line::Frame(bytes), _) => frames.push((side, bytes)),
                            (Line::TooLong { max }, Side::Client) => {
                                answers.push(Out::ToClient(FrameError::TooLarge { max }.answer()));
                            }
                            (Line::TooLong { .. }, Side::Server) => {}
                        }
                    }
                }
                Event::Closed(Side::Client) => client_closed = true,
                Event::Closed(Side::Server) => server_closed = true,
            }
        }
        for (side, bytes) in &frames {
            self.note_sent(*side, bytes);
        }
        if !frames.is_empty() {
            let batch: Vec<(Side, &[u8])> = frames.iter().map(|(side, bytes)| (*side, bytes.as_slice())).collect();
            let step = self.session.handle(&batch);
            self.apply(&succeeded(step), Origin::Handle);
        }
        let step = Step { outputs: answers, ..Step::default() };
        self.apply(&step, Origin::Handle);
        if client_closed {
            self.client_open = false;
        }
        if server_closed {
            self.server_gone();
        }
        self.close_when_idle();
    }

    /// As the proxy does: once the client has closed and nothing waits, the server's input is
    /// closed.
    fn close_when_idle(&mut self) {
        if !self.client_open && self.waiting.is_empty() {
            self.to_server_open = false;
        }
    }

    /// The ledger of what each side asked: a request the session will answer (or one refused
    /// with an id it read), and a client's answer to what it was asked.
    fn note_sent(&mut self, side: Side, bytes: &[u8]) {
        let (id, request) = match Frame::parse(bytes, &self.limits) {
            Ok(Frame::Single(message)) => {
                if side == Side::Client
                    && message.method() == Some("notifications/cancelled")
                    && let Some(wanted) = message.params_ref().and_then(|p| p.get("requestId"))
                {
                    self.cancelled.insert(wanted.to_string());
                }
                let request = message.method().is_some();
                (message.id().map(|id| id.json().to_owned()), request)
            }
            Ok(Frame::Batch(_)) => (None, false),
            // Refused frames are answered to the client only, with the id when it was read.
            Err(error) => (error.id().filter(|_| side == Side::Client).map(|id| id.json().to_owned()), true),
        };
        let Some(id) = id else { return };
        match (side, request) {
            (Side::Client, true) => *self.client_requests.entry(id).or_default() += 1,
            (Side::Server, true) => *self.server_requests.entry(id).or_default() += 1,
            (Side::Client, false) => {
                if let Some(at) = self.at_client.iter().position(|asked| *asked == id) {
                    self.at_client.remove(at);
                }
            }
            (Side::Server, false) => {}
        }
    }

    fn time_out(&mut self, key: &str) {
        self.at_server.retain(|asked| asked != key);
        let step = self.session.time_out(key);
        self.apply(&succeeded(step), Origin::TimeOut);
        self.close_when_idle();
    }

    fn server_gone(&mut self) {
        if self.ended {
            return;
        }
        self.to_server_open = false;
        let step = self.session.server_gone();
        self.apply(&succeeded(step), Origin::ServerGone);
        self.ended = true;
    }

    /// Keeps the step's timers as the proxy does (`Proxy::apply`: forwarded keys first, then
    /// answered ones, so a key answered in the very batch its request was decided in is done),
    /// and checks what the step writes.
    fn apply(&mut self, step: &Step, origin: Origin) {
        for key in &step.forwarded {
            assert!(self.keys.insert(key.clone()), "the key `{key}` was forwarded twice");
            self.waiting.push(key.clone());
            if !self.to_server_open {
                self.lost = true;
            }
        }
        for key in &step.answered {
            assert!(self.keys.contains(key), "the key `{key}` was answered but never forwarded");
            self.waiting.retain(|k| k != key);
            self.at_server.retain(|k| k != key);
        }
        self.check(step, origin);
    }

    fn check(&mut self, step: &Step, origin: Origin) {
        let mut allowed: BTreeMap<&str, usize> = BTreeMap::new();
        for mediated in &step.mediated {
            if mediated.decision == "allow" && mediated.syscall != "output" {
                *allowed.entry(mediated.method.as_str()).or_default() += 1;
            }
        }
        let denied = step.mediated.iter().filter(|m| m.decision == "deny").count();
        let mut own_cancel = usize::from(origin == Origin::TimeOut);
        let mut requests_to_server = 0;
        let mut marked = 0;
        let lenient = Limits { max_frame_bytes: usize::MAX, max_depth: 256, max_batch: 1 };
        for out in &step.outputs {
            let (to_server, bytes) = match out {
                Out::ToServer(bytes) => (true, bytes.as_slice()),
                Out::ToClient(bytes) => (false, bytes.as_slice()),
            };
            assert!(!(to_server && origin == Origin::ServerGone), "a write to a server that is gone");
            assert!(!bytes.contains(&b'\n'), "an output holds a line break");
            assert!(!CHECK_CARRIAGE_RETURNS || !bytes.contains(&b'\r'), "an output holds a carriage return");
            let parsed = (serde_json::from_slice::<Value>(bytes), Frame::parse(bytes, &lenient));
            assert!(matches!(parsed, (Ok(_), Ok(Frame::Single(_)))), "an output is not one JSON-RPC message");
            let (Ok(value), Ok(Frame::Single(message))) = parsed else { continue };
            let id = message.id().map(|id| id.json().to_owned());
            if let Some(method) = message.method() {
                if origin == Origin::TimeOut && to_server && method == "notifications/cancelled" && own_cancel > 0 {
                    // The cancellation a timeout sends: the mediator's own.
                    own_cancel -= 1;
                    continue;
                }
                let shown = SafeText::with_limit(method, 64);
                let slot = allowed.get_mut(shown.as_str()).filter(|n| **n > 0);
                assert!(slot.is_some(), "`{method}` was written without an allowed decision");
                if let Some(slot) = slot {
                    *slot -= 1;
                }
                if let Some(id) = id {
                    if to_server {
                        requests_to_server += 1;
                        assert!(step.forwarded.contains(&id), "a request to the server under an unknown key");
                        self.called |= method == "tools/call" && self.to_server_open;
                        if self.to_server_open {
                            self.at_server.push(id);
                        }
                    } else {
                        self.at_client.push(id);
                    }
                }
                continue;
            }
            // An answer.
            let marker = has_denial_marker(&value);
            if !to_server && marker {
                marked += 1;
            }
            // A client's answer to the server is passed on as it came, marker or not.
            let own = id.is_none() || (marker && !to_server);
            if own {
                let mut rest = value.clone();
                if let Some(object) = rest.as_object_mut() {
                    object.remove("id");
                }
                assert!(!rest.to_string().contains(CANARY), "an error the proxy wrote repeats its input");
            }
            let Some(id) = id else { continue };
            let (asked, answered) = if to_server {
                (&self.server_requests, &mut self.server_answers)
            } else {
                (&self.client_requests, &mut self.client_answers)
            };
            let count = answered.entry(id.clone()).or_default();
            *count += 1;
            assert!(
                *count <= asked.get(&id).copied().unwrap_or(0),
                "`{id}` was answered more often than it was asked (to the server: {to_server})"
            );
        }
        assert_eq!(requests_to_server, step.forwarded.len(), "a forwarded key without its request");
        assert!(marked <= denied, "an answer carries AgentK's denial marker without a denial");
    }

    /// The end of the input: the client closes, everything still waiting times out, the log is
    /// closed and verified.
    fn finish(mut self) -> bool {
        if !self.ended {
            self.record(b"C");
            while !self.ended && !self.waiting.is_empty() {
                let key = self.waiting.remove(0);
                self.time_out(&key);
            }
        }
        if CHECK_ANSWERED_AFTER_CLIENT_CLOSE || !self.lost || self.ended {
            for (id, asked) in &self.client_requests {
                let answered = self.client_answers.get(id).copied().unwrap_or(0);
                if self.cancelled.contains(id) && answered <= *asked {
                    // A request the client cancelled needs no answer.
                    continue;
                }
                assert_eq!(answered, *asked, "the client's request `{id}` was never answered");
            }
        }
        let called = self.called;
        let log = self.session.close();
        assert!(log.is_ok(), "the log does not close");
        let lines = log.map(|log| log.lines().to_vec()).unwrap_or_default();
        let mut verifier = agentk_flightlog::verify::ChainVerifier::new().with_batched_signatures();
        let pushed = lines.iter().try_for_each(|line| verifier.push(line).map(drop));
        assert!(pushed.is_ok(), "the log does not verify: {pushed:?}");
        let finished = verifier.finish();
        assert!(finished.is_ok(), "the log does not verify: {finished:?}");
        called
    }
}

/// A step the session took: over an in-memory log, nothing the peers send may make it fail
/// (the proxy would stop, failing closed).
fn succeeded(step: Result<Step, KernelError>) -> Step {
    assert!(step.is_ok(), "the session failed on its input: {:?}", step.as_ref().err());
    step.unwrap_or_default()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Whether an answer carries AgentK's denial details (`result._meta` or `error.data`, keys
/// compared without case, as the mediator strips them from what servers send).
fn has_denial_marker(value: &Value) -> bool {
    let holds = |object: Option<&Value>| {
        object.and_then(Value::as_object).is_some_and(|o| o.keys().any(|k| k.eq_ignore_ascii_case("agentk/denial")))
    };
    let meta = value
        .get("result")
        .and_then(Value::as_object)
        .and_then(|r| r.iter().find(|(k, _)| k.eq_ignore_ascii_case("_meta")).map(|(_, v)| v));
    holds(meta) || holds(value.get("error").and_then(|e| e.get("data")))
}
