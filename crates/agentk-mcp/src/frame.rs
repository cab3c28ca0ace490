//! Frames: one newline-delimited JSON-RPC 2.0 message (or, where the protocol version allows it,
//! a batch), bounded before it is parsed, told apart into requests, notifications, results and
//! errors, with the byte span of every top-level member kept so a message can be forwarded byte
//! for byte with only its `id` replaced.
//!
//! The top level of a frame is read by a small scanner of our own (strings, escapes, nesting)
//! rather than by a generic parser: it bounds the nesting depth before any value is built,
//! refuses a repeated top-level key (a message with two `id`s or two `method`s means different
//! things to different readers), and records where each member's value lies. Member values are
//! then parsed with `serde_json` one by one, and only the ones the mediator needs.

use serde_json::Value;

/// JSON-RPC's error for text that is not JSON.
pub const PARSE_ERROR: i64 = -32700;
/// JSON-RPC's error for JSON that is not a valid request.
pub const INVALID_REQUEST: i64 = -32600;
/// JSON-RPC's error for a method the receiver does not provide (or, here, has no policy for).
pub const METHOD_NOT_FOUND: i64 = -32601;
/// JSON-RPC's error for invalid parameters.
pub const INVALID_PARAMS: i64 = -32602;
/// JSON-RPC's internal error.
pub const INTERNAL_ERROR: i64 = -32603;

/// How large and how deep a frame may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The most bytes one frame may hold (counted before anything is parsed).
    pub max_frame_bytes: usize,
    /// The deepest nesting of arrays and objects accepted.
    pub max_depth: usize,
    /// The most messages one batch may hold.
    pub max_batch: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_frame_bytes: 4 << 20, max_depth: 64, max_batch: 256 }
    }
}

/// A JSON-RPC request id: a string or a number, kept as its exact JSON text (so `1` and `1.0`
/// and `"1"` stay three different ids, as their senders meant them).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id(String);

impl Id {
    /// The id's JSON text.
    pub fn json(&self) -> &str {
        &self.0
    }

    /// A numeric id.
    pub fn number(n: u64) -> Id {
        Id(n.to_string())
    }

    /// Parses an id from its JSON text: a string or an integer (JSON-RPC also allows fractions,
    /// which no MCP peer sends; they are refused).
    fn from_json(text: &[u8]) -> Option<Id> {
        match serde_json::from_slice::<Value>(text).ok()? {
            Value::String(s) => serde_json::to_string(&s).ok().map(Id),
            Value::Number(n) if n.is_i64() || n.is_u64() => Some(Id(n.to_string())),
            _ => None,
        }
    }
}

/// A JSON-RPC error object.
#[derive(Clone, Debug, PartialEq)]
pub struct RpcError {
    /// The code.
    pub code: i64,
    /// The message.
    pub message: String,
    /// Extra data, if any.
    pub data: Option<Value>,
}

/// What one message is.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// A request: it expects an answer with the same id.
    Request {
        /// The id.
        id: Id,
        /// The method.
        method: String,
    },
    /// A notification: no id, no answer.
    Notification {
        /// The method.
        method: String,
    },
    /// A successful answer.
    Result {
        /// The id of the request it answers.
        id: Id,
    },
    /// An error answer (its id is `null` when the request could not be read).
    Error {
        /// The id of the request it answers.
        id: Option<Id>,
        /// The error.
        error: RpcError,
    },
}

/// Where a top-level member's value lies in the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
}

/// One JSON-RPC message: its kind, its bytes, and where its members are.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    kind: Kind,
    bytes: Vec<u8>,
    id: Option<Span>,
    params: Option<Span>,
    result: Option<Span>,
    /// The `params` and `result` values, parsed when the frame was read.
    params_value: Option<Value>,
    result_value: Option<Value>,
    /// The spans of the members JSON-RPC defines, when the message also has others: it is
    /// then forwarded with these only.
    known: Option<Vec<(&'static str, Span)>>,
}

impl Message {
    /// What the message is.
    pub fn kind(&self) -> &Kind {
        &self.kind
    }

    /// The message as it was received.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The method of a request or notification.
    pub fn method(&self) -> Option<&str> {
        match &self.kind {
            Kind::Request { method, .. } | Kind::Notification { method } => Some(method),
            Kind::Result { .. } | Kind::Error { .. } => None,
        }
    }

    /// The id, if the message has one.
    pub fn id(&self) -> Option<&Id> {
        match &self.kind {
            Kind::Request { id, .. } | Kind::Result { id } => Some(id),
            Kind::Error { id, .. } => id.as_ref(),
            Kind::Notification { .. } => None,
        }
    }

    /// The raw `params`, if any.
    pub fn params_bytes(&self) -> Option<&[u8]> {
        self.params.and_then(|span| self.bytes.get(span.start..span.end))
    }

    /// The raw `result`, if any.
    pub fn result_bytes(&self) -> Option<&[u8]> {
        self.result.and_then(|span| self.bytes.get(span.start..span.end))
    }

    /// The `params` (parsed when the frame was read: a frame whose `params` cannot be read
    /// whole is refused, so what is decided is what is forwarded).
    pub fn params(&self) -> Option<Value> {
        self.params_value.clone()
    }

    /// The `params`, without a copy.
    pub fn params_ref(&self) -> Option<&Value> {
        self.params_value.as_ref()
    }

    /// The `result`, parsed when the frame was read.
    pub fn result(&self) -> Option<Value> {
        self.result_value.clone()
    }

    /// The `result`, without a copy.
    pub fn result_ref(&self) -> Option<&Value> {
        self.result_value.as_ref()
    }

    /// The same message with its id replaced by `id` and every other byte as received; a
    /// message with members JSON-RPC does not define is written anew with only those it does
    /// (each value's bytes as received), so no peer acts on a member the mediator ignored.
    pub fn with_id(&self, id: &Id) -> Vec<u8> {
        if let Some(known) = &self.known {
            let mut out = Vec::with_capacity(self.bytes.len() + id.json().len());
            out.push(b'{');
            for (n, (name, span)) in known.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(format!("\"{name}\":").as_bytes());
                if *name == "id" {
                    out.extend_from_slice(id.json().as_bytes());
                } else {
                    out.extend_from_slice(self.bytes.get(span.start..span.end).unwrap_or_default());
                }
            }
            out.push(b'}');
            return out;
        }
        match self.id {
            Some(span) => {
                let mut out = Vec::with_capacity(self.bytes.len() + id.json().len());
                out.extend_from_slice(self.bytes.get(..span.start).unwrap_or_default());
                out.extend_from_slice(id.json().as_bytes());
                out.extend_from_slice(self.bytes.get(span.end..).unwrap_or_default());
                out
            }
            None => self.bytes.clone(),
        }
    }

    /// The message as it is forwarded when its id stays: [`Message::with_id`] with its own id.
    pub fn forwardable_bytes(&self) -> Vec<u8> {
        match (&self.known, self.id()) {
            (Some(_), Some(id)) => self.with_id(id),
            (Some(_), None) => self.with_id(&Id(String::from("null"))),
            (None, _) => self.bytes.clone(),
        }
    }
}

/// A frame: one message, or a batch of them.
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant, reason = "a frame is parsed once and moved, never kept in bulk")]
pub enum Frame {
    /// One message.
    Single(Message),
    /// A JSON-RPC batch (only some protocol versions allow them; the session decides).
    Batch(Vec<Message>),
}

/// Why a frame was refused, and how to answer it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The frame is larger than the limit (nothing of it was parsed).
    #[error("the message is larger than {max} bytes")]
    TooLarge {
        /// The limit.
        max: usize,
    },
    /// The frame nests deeper than the limit.
    #[error("the message nests deeper than {max} levels")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// The frame is not JSON.
    #[error("the message is not valid JSON")]
    NotJson,
    /// The frame is JSON but not a JSON-RPC 2.0 message.
    #[error("the message is not a valid JSON-RPC 2.0 message: {problem}")]
    Invalid {
        /// What is wrong.
        problem: &'static str,
        /// The id, when it could be read.
        id: Option<Id>,
    },
    /// A batch with no messages, or more than the limit.
    #[error("the batch is empty or holds more than {max} messages")]
    BadBatch {
        /// The limit.
        max: usize,
    },
}

impl FrameError {
    /// The JSON-RPC error code to answer with.
    pub fn code(&self) -> i64 {
        match self {
            FrameError::NotJson => PARSE_ERROR,
            FrameError::TooLarge { .. }
            | FrameError::TooDeep { .. }
            | FrameError::Invalid { .. }
            | FrameError::BadBatch { .. } => INVALID_REQUEST,
        }
    }

    /// The id to answer with, when it could be read.
    pub fn id(&self) -> Option<&Id> {
        match self {
            FrameError::Invalid { id, .. } => id.as_ref(),
            _ => None,
        }
    }

    /// The JSON-RPC error answer (`"id": null` when the id could not be read). The message
    /// never repeats any of the refused input.
    pub fn answer(&self) -> Vec<u8> {
        error_answer(self.id(), self.code(), &self.to_string())
    }
}

/// A JSON-RPC error answer to `id` (or to `null`).
pub fn error_answer(id: Option<&Id>, code: i64, message: &str) -> Vec<u8> {
    let value = serde_json::json!({"code": code, "message": message});
    let id = id.map_or("null", Id::json);
    format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"error\":{value}}}").into_bytes()
}

/// A JSON-RPC result answer to `id`.
pub fn result_answer(id: &Id, result: &Value) -> Vec<u8> {
    format!("{{\"jsonrpc\":\"2.0\",\"id\":{},\"result\":{}}}", id.json(), result).into_bytes()
}

impl Frame {
    /// Parses one frame (without its newline).
    pub fn parse(bytes: &[u8], limits: &Limits) -> Result<Frame, FrameError> {
        if bytes.len() > limits.max_frame_bytes {
            return Err(FrameError::TooLarge { max: limits.max_frame_bytes });
        }
        // SECURITY: JSON allows a carriage return between tokens, but peers that read lines
        // as Python's and Java's text streams do end a line there, and would read two messages
        // where the mediator decided one. (Inside strings JSON requires it escaped.)
        if bytes.contains(&b'\r') {
            return Err(FrameError::Invalid { problem: "a carriage return inside the message", id: None });
        }
        let mut scanner = Scanner { bytes, at: 0, max_depth: limits.max_depth };
        scanner.skip_whitespace();
        match scanner.peek() {
            Some(b'[') => {
                let elements = scanner.array_elements()?;
                scanner.expect_end()?;
                if elements.is_empty() || elements.len() > limits.max_batch {
                    return Err(FrameError::BadBatch { max: limits.max_batch });
                }
                let messages = elements
                    .into_iter()
                    .map(|span| message(bytes.get(span.start..span.end).unwrap_or_default(), limits))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Frame::Batch(messages))
            }
            Some(b'{') => {
                let message = message(bytes.get(scanner.at..).unwrap_or_default().trim_ascii_end(), limits)?;
                Ok(Frame::Single(message))
            }
            Some(_) => {
                // Valid JSON that is neither an object nor an array is an invalid request; text
                // that is not JSON is a parse error.
                if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() {
                    Err(FrameError::Invalid { problem: "not an object", id: None })
                } else {
                    Err(FrameError::NotJson)
                }
            }
            None => Err(FrameError::NotJson),
        }
    }
}

/// Parses one message object.
fn message(bytes: &[u8], limits: &Limits) -> Result<Message, FrameError> {
    let mut scanner = Scanner { bytes, at: 0, max_depth: limits.max_depth };
    scanner.skip_whitespace();
    let members = scanner.object_members()?;
    scanner.expect_end()?;
    let find = |name: &str| members.iter().find(|(key, _)| key == name).map(|(_, span)| *span);
    let text = |span: Span| bytes.get(span.start..span.end).unwrap_or_default();
    let id = match find("id") {
        Some(span) if text(span) == b"null" => None,
        Some(span) => Some(Id::from_json(text(span)).ok_or(FrameError::Invalid { problem: "bad id", id: None })?),
        None => None,
    };
    let invalid = |problem: &'static str| FrameError::Invalid { problem, id: id.clone() };
    // SECURITY: a member named like one JSON-RPC defines but for case (`Method`, `PARAMS`,
    // `paramſ`) is refused: some peers' parsers match member names without regard to case, and
    // would act on a member the mediator never read.
    let folded: std::collections::BTreeSet<String> = members.iter().map(|(key, _)| fold(key)).collect();
    if folded.len() != members.len() {
        return Err(invalid("a member is repeated, or differs from another only in case"));
    }
    for (key, _) in &members {
        if !MEMBERS.contains(&key.as_str()) && MEMBERS.contains(&fold(key).as_str()) {
            return Err(invalid("a member name differs from a JSON-RPC member only in case"));
        }
    }
    if find("id").is_some_and(|span| span.end - span.start > MAX_ID_BYTES) {
        return Err(FrameError::Invalid { problem: "the id is longer than 256 bytes", id: None });
    }
    match find("jsonrpc").map(text) {
        Some(b"\"2.0\"") => {}
        _ => return Err(invalid("`jsonrpc` is not \"2.0\"")),
    }
    let params = find("params");
    if let Some(span) = params
        && !matches!(bytes.get(span.start), Some(b'{' | b'['))
    {
        return Err(invalid("`params` is not an object or array"));
    }
    let (method, result, error) = (find("method"), find("result"), find("error"));
    let kind = match (method, result, error) {
        (Some(method), None, None) => {
            let Ok(Value::String(method)) = serde_json::from_slice::<Value>(text(method)) else {
                return Err(invalid("`method` is not a string"));
            };
            match (find("id"), id.clone()) {
                (None, _) => Kind::Notification { method },
                (Some(_), Some(id)) => Kind::Request { id, method },
                (Some(_), None) => return Err(invalid("a request's id is null")),
            }
        }
        (None, Some(_), None) => match id.clone() {
            Some(id) => Kind::Result { id },
            None => return Err(invalid("a result without an id")),
        },
        (None, None, Some(error)) => {
            let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(text(error)) else {
                return Err(invalid("`error` is not an object"));
            };
            let code =
                object.get("code").and_then(Value::as_i64).ok_or_else(|| invalid("`error.code` is not an integer"))?;
            let message = object
                .get("message")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("`error.message` is not a string"))?;
            Kind::Error {
                id: id.clone(),
                error: RpcError { code, message: message.to_owned(), data: object.get("data").cloned() },
            }
        }
        _ => return Err(invalid("not exactly one of `method`, `result`, `error`")),
    };
    // The scan checked the structure, the numbers' range and the strings' escapes, so these
    // parse; a failure would still refuse the frame rather than forward what was not read.
    // SECURITY: a key repeated inside `params` or `result` is refused: peers disagree on which
    // of the two counts (most keep the last, some the first, some refuse), so the mediator could
    // decide, trace and approve arguments the server never acts on.
    let parse = |span: Option<Span>| -> Result<Option<Value>, FrameError> {
        span.map(|span| {
            serde_json::from_slice::<agentk_labels::json::UniqueKeys>(text(span)).map(|v| v.0).map_err(|e| {
                if e.to_string().starts_with(agentk_labels::json::REPEATED_KEY) {
                    invalid("a key is repeated inside an object")
                } else {
                    invalid("a member cannot be read whole")
                }
            })
        })
        .transpose()
    };
    let (params_value, result_value) = (parse(params)?, parse(result)?);
    let known = (members.len() > MEMBERS.iter().filter(|m| find(m).is_some()).count())
        .then(|| MEMBERS.iter().filter_map(|name| find(name).map(|span| (*name, span))).collect::<Vec<_>>());
    Ok(Message { kind, bytes: bytes.to_vec(), id: find("id"), params, result, params_value, result_value, known })
}

/// The members a JSON-RPC 2.0 message may have, in the order they are written anew.
const MEMBERS: [&str; 6] = ["jsonrpc", "id", "method", "params", "result", "error"];

/// The longest id accepted, as JSON text: a pending request keeps its id, so ids are bounded.
pub const MAX_ID_BYTES: usize = 256;

/// A member name folded as the most lenient peers compare names: case ignored, and the two
/// letters outside ASCII that fold into it (`ſ` to `s`, the Kelvin sign to `k`) folded too.
pub fn fold(name: &str) -> String {
    name.chars()
        .flat_map(|c| match c {
            '\u{17f}' => 's'.to_lowercase(),
            '\u{212a}' => 'k'.to_lowercase(),
            c => c.to_lowercase(),
        })
        .collect()
}

/// A bounded scanner of JSON text: it checks the structure (strings, escapes, numbers and
/// literals loosely; nesting exactly) and records spans, without building values.
struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
    max_depth: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn expect_end(&mut self) -> Result<(), FrameError> {
        self.skip_whitespace();
        if self.at == self.bytes.len() { Ok(()) } else { Err(FrameError::NotJson) }
    }

    fn eat(&mut self, byte: u8) -> Result<(), FrameError> {
        if self.peek() == Some(byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(FrameError::NotJson)
        }
    }

    /// The members of the object at the cursor: key text and value span.
    fn object_members(&mut self) -> Result<Vec<(String, Span)>, FrameError> {
        self.eat(b'{')?;
        let mut members = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(members);
        }
        loop {
            self.skip_whitespace();
            let key_start = self.at;
            self.skip_string()?;
            let key: String = serde_json::from_slice(self.bytes.get(key_start..self.at).unwrap_or_default())
                .map_err(|_| FrameError::NotJson)?;
            self.skip_whitespace();
            self.eat(b':')?;
            self.skip_whitespace();
            let start = self.at;
            self.skip_value(1)?;
            members.push((key, Span { start, end: self.at }));
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(members);
                }
                _ => return Err(FrameError::NotJson),
            }
        }
    }

    /// The element spans of the array at the cursor.
    fn array_elements(&mut self) -> Result<Vec<Span>, FrameError> {
        self.eat(b'[')?;
        let mut elements = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(elements);
        }
        loop {
            self.skip_whitespace();
            let start = self.at;
            self.skip_value(1)?;
            elements.push(Span { start, end: self.at });
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(elements);
                }
                _ => return Err(FrameError::NotJson),
            }
        }
    }

    /// Skips one value at `depth` (1 for a member of the top-level object).
    fn skip_value(&mut self, depth: usize) -> Result<(), FrameError> {
        match self.peek() {
            Some(b'"') => self.skip_string(),
            Some(open @ (b'{' | b'[')) => {
                if depth >= self.max_depth {
                    return Err(FrameError::TooDeep { max: self.max_depth });
                }
                let close = if open == b'{' { b'}' } else { b']' };
                self.at += 1;
                self.skip_whitespace();
                if self.peek() == Some(close) {
                    self.at += 1;
                    return Ok(());
                }
                // SECURITY: within an object, a name repeated, or equal to another but for case,
                // is refused at any depth: peers differ on which of the two they act on.
                let mut names = std::collections::BTreeSet::new();
                loop {
                    self.skip_whitespace();
                    if open == b'{' {
                        let start = self.at;
                        self.skip_string()?;
                        let name: String = serde_json::from_slice(self.bytes.get(start..self.at).unwrap_or_default())
                            .map_err(|_| FrameError::NotJson)?;
                        if !names.insert(fold(&name)) {
                            return Err(FrameError::Invalid {
                                problem: "a member name is repeated, or differs from another only in case",
                                id: None,
                            });
                        }
                        self.skip_whitespace();
                        self.eat(b':')?;
                        self.skip_whitespace();
                    }
                    self.skip_value(depth + 1)?;
                    self.skip_whitespace();
                    match self.peek() {
                        Some(b',') => self.at += 1,
                        Some(b) if b == close => {
                            self.at += 1;
                            return Ok(());
                        }
                        _ => return Err(FrameError::NotJson),
                    }
                }
            }
            Some(b't') => self.skip_literal(b"true"),
            Some(b'f') => self.skip_literal(b"false"),
            Some(b'n') => self.skip_literal(b"null"),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.at;
                while matches!(self.peek(), Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')) {
                    self.at += 1;
                }
                // The loose scan is checked by the real parser, range included (`1e400` is
                // refused: peers would read it as infinity, or not at all).
                match serde_json::from_slice::<Value>(self.bytes.get(start..self.at).unwrap_or_default()) {
                    Ok(Value::Number(_)) => Ok(()),
                    _ => Err(FrameError::NotJson),
                }
            }
            _ => Err(FrameError::NotJson),
        }
    }

    fn skip_literal(&mut self, literal: &[u8]) -> Result<(), FrameError> {
        if self.bytes.get(self.at..self.at + literal.len()) == Some(literal) {
            self.at += literal.len();
            Ok(())
        } else {
            Err(FrameError::NotJson)
        }
    }

    /// Skips a string, checking its escapes and that it holds no raw control characters and
    /// only valid UTF-8.
    fn skip_string(&mut self) -> Result<(), FrameError> {
        let start = self.at;
        self.eat(b'"')?;
        loop {
            match self.peek() {
                None => return Err(FrameError::NotJson),
                Some(b'"') => {
                    self.at += 1;
                    break;
                }
                Some(b'\\') => {
                    self.at += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.at += 1,
                        Some(b'u') => {
                            let hex = self.bytes.get(self.at + 1..self.at + 5).ok_or(FrameError::NotJson)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return Err(FrameError::NotJson);
                            }
                            self.at += 5;
                        }
                        _ => return Err(FrameError::NotJson),
                    }
                }
                Some(0x00..=0x1f) => return Err(FrameError::NotJson),
                Some(_) => self.at += 1,
            }
        }
        let text = self.bytes.get(start..self.at).unwrap_or_default();
        std::str::from_utf8(text).map_err(|_| FrameError::NotJson)?;
        // An escape may name half a surrogate pair, which some peers accept and others refuse;
        // a string with escapes must decode whole.
        if text.contains(&b'\\') && serde_json::from_slice::<String>(text).is_err() {
            return Err(FrameError::NotJson);
        }
        Ok(())
    }
}
