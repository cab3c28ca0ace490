//! AgentK as an MCP server (guarantee M4), sans-IO: a [`DecisionServer`] takes one frame's bytes
//! and says what to write back. Its only tools are side-effect-free mediation: `decide` answers
//! whether a syscall would be allowed under the server's policy, with the rule, the reason and
//! what would change the outcome (the same report as `agentk policy-explain --json`), and
//! `explain` says the same in words.
//!
//! # Side-effect-free (M4)
//!
//! The server holds a validated [`Policy`] and nothing else: no kernel, no flight-log sink, no
//! signer, no secret store, no grant ledger. A decision here is
//! [`Policy::evaluate`] and [`agentk_policy::Decision::explain`], which are pure; nothing is
//! recorded, signed, counted, written or executed, and no receipt is minted. Asking the same
//! question twice gives the same answer, byte for byte.
//!
//! # Protocol
//!
//! It speaks the versions in [`HANDSHAKE_VERSIONS`]: it answers the version the client asks for
//! when it knows it, otherwise the latest. `outputSchema` and `structuredContent` exist from 2025-06-18
//! on; for older versions the structured answer travels as JSON text. Tool annotations exist
//! from 2025-03-26 on, and so do JSON-RPC batches, which only 2025-03-26 allows.

use agentk_labels::{Label, LabelError, LabelSet, SafeText, SyscallKind};
use agentk_policy::{Explanation, Policy, Request};
use serde_json::{Map, Value, json};

use crate::frame::{
    self, Frame, FrameError, INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, Id, Kind, Limits, METHOD_NOT_FOUND,
    Message,
};
use crate::session::{HANDSHAKE_VERSIONS, NOT_INITIALIZED};

/// The latest protocol version this server speaks, answered to a client asking for one it
/// does not know.
pub const LATEST: &str = "2025-11-25";
/// The first version with tool annotations and (only in this version) JSON-RPC batches.
const ANNOTATIONS_SINCE: &str = "2025-03-26";
/// The only version that allows JSON-RPC batches.
const BATCH_VERSION: &str = "2025-03-26";
/// The first version with `title`, `outputSchema` and `structuredContent`.
const STRUCTURED_SINCE: &str = "2025-06-18";

/// The tool that decides.
pub const DECIDE: &str = "decide";
/// The tool that explains.
pub const EXPLAIN: &str = "explain";

/// The most characters of a `syscall` argument (a name this version knows is far shorter; a
/// longer plausible one is decided, and denied, as unknown).
pub const MAX_SYSCALL_CHARS: usize = 128;
/// The most characters of a `target` argument.
pub const MAX_TARGET_CHARS: usize = 4096;
/// The most characters of an `agent` or `grant` argument.
pub const MAX_NAME_CHARS: usize = 256;
/// The most entries of a `labels` argument.
pub const MAX_LABELS: usize = 16;
/// The most characters of one label name (the longest real one, `poisoned-suspect`, has 16).
const MAX_LABEL_CHARS: usize = 32;
/// How much of an attacker-supplied name an error message shows (escaped).
const SHOWN_CHARS: usize = 32;

/// The agent a decision is made for when the caller names none.
pub const DEFAULT_AGENT: &str = "agent";

/// Why a tool call's arguments were refused. The message is what the caller sees (as an
/// `isError` result); it names our own fields and shows caller text only through a short
/// [`SafeText`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArgumentError {
    /// `arguments` is not a JSON object.
    #[error("the arguments must be an object")]
    NotAnObject,
    /// A required argument is missing.
    #[error("argument `{field}` is required")]
    Missing {
        /// The argument.
        field: &'static str,
    },
    /// An argument has the wrong JSON type.
    #[error("argument `{field}` must be {expected}")]
    WrongType {
        /// The argument.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// An argument is longer than its bound.
    #[error("argument `{field}` is longer than {max} characters")]
    TooLong {
        /// The argument.
        field: &'static str,
        /// The bound.
        max: usize,
    },
    /// `labels` has more entries than allowed.
    #[error("argument `labels` has more than {max} entries")]
    TooManyLabels {
        /// The bound.
        max: usize,
    },
    /// A label name is not one of the labels.
    #[error("argument `labels`: {0}")]
    Label(#[from] LabelError),
    /// An argument the tool does not take.
    #[error("unknown argument {name}")]
    Unknown {
        /// Its name, escaped and bounded.
        name: SafeText,
    },
}

/// The arguments of `decide` and `explain`, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    syscall: String,
    target: String,
    labels: LabelSet,
    agent: String,
    grant: Option<String>,
}

impl Question {
    /// Reads and bounds a tool call's `arguments` (absent arguments are an empty object).
    pub fn from_arguments(arguments: Option<&Value>) -> Result<Question, ArgumentError> {
        let empty = Map::new();
        let object = match arguments {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(object)) => object,
            Some(_) => return Err(ArgumentError::NotAnObject),
        };
        if let Some(name) =
            object.keys().find(|k| !["syscall", "target", "labels", "agent", "grant"].contains(&k.as_str()))
        {
            return Err(ArgumentError::Unknown { name: SafeText::with_limit(name, SHOWN_CHARS) });
        }
        let syscall =
            string(object, "syscall", MAX_SYSCALL_CHARS)?.ok_or(ArgumentError::Missing { field: "syscall" })?;
        let target = string(object, "target", MAX_TARGET_CHARS)?.ok_or(ArgumentError::Missing { field: "target" })?;
        let agent = string(object, "agent", MAX_NAME_CHARS)?.unwrap_or(DEFAULT_AGENT);
        let grant = string(object, "grant", MAX_NAME_CHARS)?;
        let labels = labels(object.get("labels"))?;
        Ok(Question {
            syscall: syscall.to_owned(),
            target: target.to_owned(),
            labels,
            agent: agent.to_owned(),
            grant: grant.map(str::to_owned),
        })
    }

    /// Decides the question under `policy`, exactly as `agentk policy-explain` does, and
    /// explains the decision. Pure: nothing is recorded or counted.
    pub fn explain(&self, policy: &Policy) -> Explanation {
        let mut request =
            Request::new(&self.agent, SyscallKind::parse(&self.syscall), &self.target).with_labels(self.labels);
        if let Some(grant) = &self.grant {
            request = request.presenting(grant);
        }
        policy.evaluate(&request).explain(&request)
    }
}

/// A string argument of at most `max` characters, if present (`null` counts as absent).
fn string<'a>(
    object: &'a Map<String, Value>,
    field: &'static str,
    max: usize,
) -> Result<Option<&'a str>, ArgumentError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() > max => Err(ArgumentError::TooLong { field, max }),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ArgumentError::WrongType { field, expected: "a string" }),
    }
}

/// The `labels` argument: an array of label names (absent or `null` is no labels).
fn labels(value: Option<&Value>) -> Result<LabelSet, ArgumentError> {
    let items = match value {
        None | Some(Value::Null) => return Ok(LabelSet::EMPTY),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(ArgumentError::WrongType { field: "labels", expected: "an array of label names" }),
    };
    if items.len() > MAX_LABELS {
        return Err(ArgumentError::TooManyLabels { max: MAX_LABELS });
    }
    items.iter().try_fold(LabelSet::EMPTY, |set, item| match item {
        Value::String(name) if name.chars().count() > MAX_LABEL_CHARS => {
            Err(ArgumentError::TooLong { field: "labels", max: MAX_LABEL_CHARS })
        }
        Value::String(name) => Ok(set.with(name.parse::<Label>()?)),
        _ => Err(ArgumentError::WrongType { field: "labels", expected: "an array of label names" }),
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for `initialize`.
    New,
    /// `initialize` was answered with this version.
    Initialized(&'static str),
}

/// The MCP decision server: one per connection. It holds the policy and the negotiated
/// version, and nothing that could act on the world.
#[derive(Clone, Debug)]
pub struct DecisionServer {
    policy: Policy,
    source: SafeText,
    limits: Limits,
    phase: Phase,
}

impl DecisionServer {
    /// A server deciding under `policy`, which came from `source` (a file name or a built-in
    /// profile's name; shown to clients escaped and bounded).
    pub fn new(policy: Policy, source: &str) -> Self {
        DecisionServer {
            policy,
            source: SafeText::with_limit(source, 128),
            limits: Limits::default(),
            phase: Phase::New,
        }
    }

    /// The policy decisions are made under.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The negotiated protocol version, once `initialize` was answered.
    pub fn version(&self) -> Option<&'static str> {
        match self.phase {
            Phase::New => None,
            Phase::Initialized(version) => Some(version),
        }
    }

    /// The frame limits (a transport bounds its lines by `max_frame_bytes`).
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Handles one frame (without its newline) and answers what to write back, in order, each
    /// without a newline: nothing for a notification or an answer, one frame otherwise. Never
    /// panics; malformed input gets a JSON-RPC error and the connection goes on.
    pub fn handle(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        match Frame::parse(bytes, &self.limits) {
            Err(error) => vec![error.answer()],
            Ok(Frame::Single(message)) => self.message(&message, false).into_iter().collect(),
            Ok(Frame::Batch(messages)) => {
                if self.version() != Some(BATCH_VERSION) {
                    return vec![frame::error_answer(
                        None,
                        INVALID_REQUEST,
                        "batches are allowed only in protocol version 2025-03-26",
                    )];
                }
                let answers: Vec<Vec<u8>> = messages.iter().filter_map(|m| self.message(m, true)).collect();
                if answers.is_empty() {
                    return Vec::new();
                }
                let mut batch = b"[".to_vec();
                batch.extend_from_slice(&answers.join(&b","[..]));
                batch.push(b']');
                vec![batch]
            }
        }
    }

    /// The answer to a line longer than the transport's bound (nothing of it was read).
    pub fn line_too_long(max: usize) -> Vec<u8> {
        FrameError::TooLarge { max }.answer()
    }

    /// One message's answer, if it gets one.
    fn message(&mut self, message: &Message, in_batch: bool) -> Option<Vec<u8>> {
        let Kind::Request { id, method } = message.kind() else {
            // Notifications (`notifications/initialized` among them) need nothing from a
            // server without state to start; answers to requests we never send are dropped.
            return None;
        };
        Some(match (method.as_str(), self.phase) {
            ("initialize", _) if in_batch => {
                frame::error_answer(Some(id), INVALID_REQUEST, "initialize may not be part of a batch")
            }
            ("initialize", Phase::New) => self.initialize(id, message.params().as_ref()),
            ("initialize", Phase::Initialized(_)) => {
                frame::error_answer(Some(id), INVALID_REQUEST, "the session is already initialized")
            }
            ("ping", _) => frame::result_answer(id, &json!({})),
            ("tools/list" | "tools/call", Phase::New) => {
                frame::error_answer(Some(id), NOT_INITIALIZED, "the session is not initialized: send initialize first")
            }
            ("tools/list", Phase::Initialized(version)) => {
                frame::result_answer(id, &json!({ "tools": tools(version, self.policy.name()) }))
            }
            ("tools/call", Phase::Initialized(version)) => self.call(id, message.params().as_ref(), version),
            (other, _) => frame::error_answer(
                Some(id),
                METHOD_NOT_FOUND,
                &format!("method not found: {}", SafeText::with_limit(other, SHOWN_CHARS)),
            ),
        })
    }

    fn initialize(&mut self, id: &Id, params: Option<&Value>) -> Vec<u8> {
        let Some(requested) = params.and_then(|p| p.get("protocolVersion")).and_then(Value::as_str) else {
            return frame::error_answer(Some(id), INVALID_PARAMS, "initialize needs `protocolVersion` (a string)");
        };
        let version = HANDSHAKE_VERSIONS.iter().copied().find(|v| *v == requested).unwrap_or(LATEST);
        self.phase = Phase::Initialized(version);
        let mut server_info = json!({ "name": "agentk", "version": env!("CARGO_PKG_VERSION") });
        if version >= STRUCTURED_SINCE
            && let Some(info) = server_info.as_object_mut()
        {
            info.insert("title".to_owned(), "AgentK decision server".into());
        }
        let instructions = format!(
            "AgentK decides whether an agent's syscall would be allowed under policy {} (loaded from {}), \
             and why. Tool `decide` answers the decision as JSON (effect, rule, reason, output \
             labels, and for a deny the smallest change that would allow it); tool `explain` says \
             the same in words. Both only answer: nothing is executed, recorded or signed.",
            SafeText::new(self.policy.name()),
            self.source,
        );
        frame::result_answer(
            id,
            &json!({
                "protocolVersion": version,
                "capabilities": { "tools": {} },
                "serverInfo": server_info,
                "instructions": instructions,
            }),
        )
    }

    fn call(&self, id: &Id, params: Option<&Value>, version: &str) -> Vec<u8> {
        let Some(name) = params.and_then(|p| p.get("name")).and_then(Value::as_str) else {
            return frame::error_answer(Some(id), INVALID_PARAMS, "tools/call needs `name` (a string)");
        };
        if name != DECIDE && name != EXPLAIN {
            return frame::error_answer(
                Some(id),
                INVALID_PARAMS,
                &format!(
                    "unknown tool {}: the tools are `decide` and `explain`",
                    SafeText::with_limit(name, SHOWN_CHARS)
                ),
            );
        }
        let question = match Question::from_arguments(params.and_then(|p| p.get("arguments"))) {
            Ok(question) => question,
            Err(error) => {
                let result = json!({
                    "content": [{ "type": "text", "text": format!("invalid arguments: {error}") }],
                    "isError": true,
                });
                return frame::result_answer(id, &result);
            }
        };
        let explanation = question.explain(&self.policy);
        let report = agentk_replay::schema::DecisionReport {
            schema: agentk_replay::schema::POLICY_EXPLAIN,
            policy: self.policy.name(),
            explanation: &explanation,
        };
        let Ok(mut structured) = serde_json::to_value(&report) else {
            return frame::error_answer(Some(id), INTERNAL_ERROR, "the decision could not be encoded");
        };
        let structured_era = version >= STRUCTURED_SINCE;
        let mut content = Vec::new();
        if name == EXPLAIN {
            let text = explanation.to_string();
            content.push(json!({ "type": "text", "text": text }));
            if let Some(object) = structured.as_object_mut() {
                object.insert("text".to_owned(), text.into());
            }
            if !structured_era {
                content.push(json!({ "type": "text", "text": structured.to_string() }));
            }
        } else {
            content.push(json!({ "type": "text", "text": structured.to_string() }));
        }
        let mut result = json!({ "content": content, "isError": false });
        if structured_era && let Some(object) = result.as_object_mut() {
            object.insert("structuredContent".to_owned(), structured);
        }
        frame::result_answer(id, &result)
    }
}

/// The tool list as `version` shapes it.
fn tools(version: &str, policy: &str) -> Value {
    let policy = SafeText::new(policy);
    let decide = json!({
        "name": DECIDE,
        "description": format!(
            "Decide whether an agent's syscall would be allowed under AgentK policy {policy}, without \
             doing it. Answers the decision (allow or deny), the rule that fired, its reason, the \
             labels the output would carry and, for a deny, the smallest change that would allow it. \
             Nothing is executed or recorded."
        ),
        "inputSchema": input_schema(),
    });
    let explain = json!({
        "name": EXPLAIN,
        "description": format!(
            "Explain in words how AgentK policy {policy} decides an agent's syscall: the facts, the \
             rule and what would change the outcome. The same inputs and decision as `decide`. \
             Nothing is executed or recorded."
        ),
        "inputSchema": input_schema(),
    });
    let mut list = [(decide, "Decide a syscall"), (explain, "Explain a decision")];
    for (tool, title) in &mut list {
        let Some(object) = tool.as_object_mut() else { continue };
        if version >= ANNOTATIONS_SINCE {
            object.insert(
                "annotations".to_owned(),
                json!({
                    "title": *title,
                    "readOnlyHint": true,
                    "destructiveHint": false,
                    "idempotentHint": true,
                    "openWorldHint": false,
                }),
            );
        }
        if version >= STRUCTURED_SINCE {
            object.insert("title".to_owned(), (*title).into());
            let with_text = object.get("name").and_then(Value::as_str) == Some(EXPLAIN);
            object.insert("outputSchema".to_owned(), output_schema(with_text));
        }
    }
    Value::Array(list.into_iter().map(|(tool, _)| tool).collect())
}

fn input_schema() -> Value {
    let names: Vec<&str> = Label::ALL.iter().map(|label| label.name()).collect();
    json!({
        "type": "object",
        "properties": {
            "syscall": {
                "type": "string",
                "maxLength": MAX_SYSCALL_CHARS,
                "description": "The syscall kind, e.g. `network.send`, `tool.invoke`, `secret.open`. Unknown kinds are decided too: denied.",
            },
            "target": {
                "type": "string",
                "maxLength": MAX_TARGET_CHARS,
                "description": "The target, e.g. `https://api.example.invalid/v1` or `mcp://docs.example.invalid/search`.",
            },
            "labels": {
                "type": "array",
                "items": { "type": "string", "enum": names },
                "maxItems": MAX_LABELS,
                "description": "The labels the data consumed by the syscall carries.",
            },
            "agent": {
                "type": "string",
                "maxLength": MAX_NAME_CHARS,
                "description": "The requesting agent's id (default `agent`).",
            },
            "grant": {
                "type": "string",
                "maxLength": MAX_NAME_CHARS,
                "description": "The id of an operator grant of the policy to present with the request.",
            },
        },
        "required": ["syscall", "target"],
        "additionalProperties": false,
    })
}

/// The schema of the structured answer: `agentk policy-explain --json`'s report (and, for
/// `explain`, its text).
fn output_schema(with_text: bool) -> Value {
    let labels = json!({ "type": "array", "items": { "type": "string" } });
    let mut schema = json!({
        "type": "object",
        "properties": {
            "schema": { "type": "string", "const": agentk_replay::schema::POLICY_EXPLAIN },
            "policy": { "type": "string" },
            "decision": { "type": "string", "enum": ["allow", "deny"] },
            "rule": { "type": "string" },
            "reason": { "type": "string" },
            "agent": { "type": "string" },
            "syscall": { "type": "string" },
            "target": { "type": "string" },
            "source_labels": labels,
            "output_labels": labels,
            "matched": { "type": "array", "items": { "type": "object" } },
            "capability": { "type": "object" },
            "remedy": { "type": "object" },
        },
        "required": ["schema", "policy", "decision", "rule", "reason", "agent", "syscall", "target", "source_labels", "matched", "capability"],
    });
    if with_text {
        if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
            properties.insert("text".to_owned(), json!({ "type": "string" }));
        }
        if let Some(required) = schema.get_mut("required").and_then(Value::as_array_mut) {
            required.push("text".into());
        }
    }
    schema
}
