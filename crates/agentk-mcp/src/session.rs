//! One MCP session's state machine, sans-IO: it takes frames from either side, decides every
//! message through the kernel, and says what to send to the server, what to send to the client,
//! and what was recorded. The transports own the sockets, processes and clocks.
//!
//! A batch of frames ([`Session::handle`]) is planned frame by frame, decided as one kernel
//! batch (one write to the log), and then turned into outputs in the order the frames came.
//! Nothing is forwarded before its decision is recorded.

use std::collections::BTreeMap;

use agentk_flightlog::event::InputRef;
use agentk_flightlog::kernel::{
    Action, Decided, Kernel, KernelError, OutputRecord, RecordSink, Recorded, Submission, SyscallRequest,
};
use agentk_labels::{Label, LabelSet, Outcome, SafeText, Syscall};
use serde_json::{Map, Value};

use crate::frame::{self, Frame, Id, Kind, Limits, Message};

/// The JSON-RPC error code of a request AgentK denied (not a `tools/call`, whose denial is a
/// `CallToolResult` the model sees). In the range JSON-RPC leaves to implementations.
pub const DENIED: i64 = -32001;
/// The JSON-RPC error code of a request sent before the session was initialized.
pub const NOT_INITIALIZED: i64 = -32002;

/// The `_meta` key a client may use to add labels to its own request.
pub const LABELS_META: &str = "agentk/labels";
/// The `_meta` key of a denial's details.
pub const DENIAL_META: &str = "agentk/denial";

/// The protocol versions this mediator speaks (it passes the peers' choice through).
pub const VERSIONS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

/// Which side a frame came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The agent's MCP client.
    Client,
    /// The MCP server.
    Server,
}

/// What the transport should do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Out {
    /// Send these bytes (one message, without a newline) to the server.
    ToServer(Vec<u8>),
    /// Send these bytes to the client.
    ToClient(Vec<u8>),
}

/// How a session is set up.
#[derive(Clone, Debug)]
pub struct Config {
    /// The server's id: targets are `mcp://SERVER_ID/NAME`.
    pub server_id: String,
    /// The agent id requests are decided for.
    pub agent: String,
    /// Frame limits.
    pub limits: Limits,
    /// Whether ids are mapped into the mediator's own space on the way to each side (a live
    /// proxy: yes; a recorded transcript, whose answers carry the original ids: no).
    pub remap_ids: bool,
}

impl Config {
    /// A live session in front of the server `server_id`.
    pub fn new(server_id: &str) -> Self {
        Config {
            server_id: server_id.to_owned(),
            agent: "mcp-client".to_owned(),
            limits: Limits::default(),
            remap_ids: true,
        }
    }
}

/// One mediated message, as the log recorded it (what `agentk mcp-lines` prints).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Mediated {
    /// The message's id as its sender wrote it (JSON text), if it has one.
    pub id: Option<String>,
    /// The method (or, for an answer, the method of the request it answers).
    pub method: String,
    /// The syscall it became.
    pub syscall: String,
    /// The target.
    pub target: String,
    /// `allow` or `deny` (`record` for an output).
    pub decision: String,
    /// The rule.
    pub rule: String,
    /// The event's position in the log.
    pub event: u64,
}

/// What one batch of frames came to.
#[derive(Clone, Debug, Default)]
pub struct Step {
    /// What to send, in order.
    pub outputs: Vec<Out>,
    /// What was decided or recorded, in order.
    pub mediated: Vec<Mediated>,
    /// Frames that could not be read (their error answers are among the outputs).
    pub refused: Vec<frame::FrameError>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for the client's `initialize`.
    New,
    /// `initialize` was sent; waiting for the server's answer.
    Initializing,
    /// The server answered; waiting for `notifications/initialized`.
    Initialized,
    /// Operating.
    Ready,
}

/// A request forwarded to the server, waiting for its answer.
#[derive(Clone, Debug)]
struct Pending {
    /// The id the client used.
    client_id: Id,
    method: String,
    /// For a `tools/call`, `resources/read`, `prompts/get`: the allowed action.
    action: Option<Action>,
}

/// A request the server sent to the client, waiting for the client's answer.
#[derive(Clone, Debug)]
struct PendingToClient {
    server_id: Id,
    method: String,
    action: Option<Action>,
}

/// What the mediator knows of one tool.
#[derive(Clone, Debug, PartialEq, Eq)]
enum ToolState {
    /// Listed, and shown to the client.
    Accepted,
    /// Listed, but withheld (suspect).
    Withheld,
}

/// What to do once a decision is in.
enum Then {
    /// Forward to the server (with this id, and these bytes) if allowed; answer the client
    /// otherwise.
    ToServer { bytes: Vec<u8>, mediator_id: Option<u64>, pending: Option<Pending>, call: bool, client_id: Option<Id> },
    /// Forward a notification or a request to the client if allowed; answer the server
    /// otherwise.
    ToClient { bytes: Vec<u8>, mediator_id: Option<u64>, pending: Option<PendingToClient>, server_id: Option<Id> },
    /// One decision of a `tools/list` answer: part of the list that goes back.
    ListedTool { list: usize, index: usize },
}

/// One item of a batch's plan.
enum Plan {
    /// Outputs that need no decision.
    Now(Vec<Out>),
    /// A syscall to decide, and what to do then.
    Decide { request: OwnedRequest, withheld: bool, then: Then, method: String, id: Option<Id> },
    /// An output to record, and what to forward after.
    Record { record: OwnedOutput, forward: Option<Out>, method: String, id: Option<Id> },
}

/// A `tools/list` answer being assembled: the tools, and which of them go back.
struct ToolList {
    client_id: Id,
    message: Message,
    tools: Vec<Value>,
    keep: Vec<bool>,
    decided: usize,
}

struct OwnedRequest {
    syscall: Syscall,
    target: String,
    inputs: Vec<InputRef>,
}

struct OwnedOutput {
    action: Action,
    content: Vec<u8>,
    labels: LabelSet,
    outcome: Outcome,
}

/// One MCP session in front of one server.
pub struct Session<S: RecordSink> {
    kernel: Kernel<S>,
    config: Config,
    phase: Phase,
    version: Option<String>,
    next_id: u64,
    to_server: BTreeMap<String, Pending>,
    to_client: BTreeMap<String, PendingToClient>,
    tools: BTreeMap<String, ToolState>,
}

/// The label set of what a server sends: untrusted, external.
fn from_server() -> LabelSet {
    LabelSet::from_labels(&[Label::Untrusted, Label::External])
}

impl<S: RecordSink> Session<S> {
    /// A session deciding through `kernel`.
    pub fn new(kernel: Kernel<S>, config: Config) -> Self {
        Session {
            kernel,
            config,
            phase: Phase::New,
            version: None,
            next_id: 0,
            to_server: BTreeMap::new(),
            to_client: BTreeMap::new(),
            tools: BTreeMap::new(),
        }
    }

    /// The protocol version the peers agreed on, once they have.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// The kernel.
    pub fn kernel(&self) -> &Kernel<S> {
        &self.kernel
    }

    /// Ends the session: closes the log with a checkpoint and gives back the sink.
    pub fn close(self) -> Result<S, KernelError> {
        self.kernel.close()
    }

    /// Which side a message most likely came from, for a transcript that does not say: answers
    /// to a pending request come from the other side; requests and notifications by method.
    pub fn side_of(&self, message: &Message) -> Side {
        match message.kind() {
            Kind::Result { id } | Kind::Error { id: Some(id), .. } => {
                if self.to_client.contains_key(id.json()) && !self.to_server.contains_key(id.json()) {
                    Side::Client
                } else {
                    Side::Server
                }
            }
            Kind::Error { id: None, .. } => Side::Server,
            Kind::Request { method, .. } | Kind::Notification { method } => {
                let from_server = matches!(
                    method.as_str(),
                    "sampling/createMessage"
                        | "elicitation/create"
                        | "roots/list"
                        | "notifications/tools/list_changed"
                        | "notifications/prompts/list_changed"
                        | "notifications/resources/list_changed"
                        | "notifications/resources/updated"
                        | "notifications/message"
                        | "notifications/elicitation/complete"
                );
                if from_server { Side::Server } else { Side::Client }
            }
        }
    }

    /// Mediates a batch of frames (each without its newline), in order: plans each, decides
    /// every syscall of the batch with one kernel batch, then says what to send. A failure to
    /// record answers nothing: the transport must end the session.
    pub fn handle(&mut self, frames: &[(Side, &[u8])]) -> Result<Step, KernelError> {
        let mut step = Step::default();
        let mut plans = Vec::with_capacity(frames.len());
        let mut lists: Vec<ToolList> = Vec::new();
        for (side, bytes) in frames {
            match Frame::parse(bytes, &self.config.limits) {
                Err(error) => {
                    // An unreadable frame from the server is answered to nobody: the server
                    // gets no echo of its own garbage, and the client never sees it.
                    if *side == Side::Client {
                        plans.push(Plan::Now(vec![Out::ToClient(error.answer())]));
                    }
                    step.refused.push(error);
                }
                Ok(Frame::Batch(_)) => {
                    let error = frame::FrameError::Invalid { problem: "batches are not mediated", id: None };
                    if *side == Side::Client {
                        plans.push(Plan::Now(vec![Out::ToClient(error.answer())]));
                    }
                    step.refused.push(error);
                }
                Ok(Frame::Single(message)) => self.plan(*side, message, &mut plans, &mut lists),
            }
        }
        // The kernel batch: every decision and output of these frames, in order.
        let mut submissions = Vec::new();
        let mut owners = Vec::new();
        for (index, plan) in plans.iter().enumerate() {
            match plan {
                Plan::Now(_) => {}
                Plan::Decide { request, withheld, .. } => {
                    let request = SyscallRequest::new(&self.config.agent, request.syscall, &request.target)
                        .consuming(&request.inputs);
                    submissions.push(if *withheld {
                        Submission::Withheld(request)
                    } else {
                        Submission::Syscall(request)
                    });
                    owners.push(index);
                }
                Plan::Record { record, .. } => {
                    submissions.push(Submission::Output(OutputRecord {
                        action: record.action,
                        content: &record.content,
                        labels: record.labels,
                        outcome: record.outcome,
                    }));
                    owners.push(index);
                }
            }
        }
        let recorded = if submissions.is_empty() { Vec::new() } else { self.kernel.submit(&submissions)? };
        let mut answers: BTreeMap<usize, Recorded> = owners.into_iter().zip(recorded).collect();
        let mut finished_lists: Vec<Option<Vec<u8>>> = (0..lists.len()).map(|_| None).collect();
        for (index, plan) in plans.into_iter().enumerate() {
            match plan {
                Plan::Now(outs) => step.outputs.extend(outs),
                Plan::Decide { request, then, method, id, .. } => {
                    let Some(Recorded::Decided(decided)) = answers.remove(&index) else { continue };
                    step.mediated.push(Mediated {
                        id: id.map(|id| id.json().to_owned()),
                        method,
                        syscall: request.syscall.name().to_owned(),
                        target: SafeText::new(&request.target).as_str().to_owned(),
                        decision: decided.effect.to_string(),
                        rule: decided.rule.clone(),
                        event: decided.seq,
                    });
                    self.then(then, &decided, &request, &mut step, &mut lists, &mut finished_lists);
                }
                Plan::Record { forward, method, id, .. } => {
                    if let Some(Recorded::Output(output)) = answers.remove(&index) {
                        step.mediated.push(Mediated {
                            id: id.map(|id| id.json().to_owned()),
                            method,
                            syscall: "output".to_owned(),
                            target: String::new(),
                            decision: "record".to_owned(),
                            rule: output.labels.to_string(),
                            event: output.seq,
                        });
                    }
                    step.outputs.extend(forward);
                }
            }
            // A tools/list answer goes back once its last tool is decided, where it stood.
            for finished in &mut finished_lists {
                if let Some(bytes) = finished.take() {
                    step.outputs.push(Out::ToClient(bytes));
                }
            }
        }
        Ok(step)
    }

    fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn target(&self, name: &str) -> String {
        format!("mcp://{}/{}", self.config.server_id, name)
    }

    /// Plans one message.
    fn plan(&mut self, side: Side, message: Message, plans: &mut Vec<Plan>, lists: &mut Vec<ToolList>) {
        match side {
            Side::Client => self.plan_from_client(message, plans),
            Side::Server => self.plan_from_server(message, plans, lists),
        }
    }

    fn plan_from_client(&mut self, message: Message, plans: &mut Vec<Plan>) {
        match message.kind().clone() {
            Kind::Request { id, method } => {
                if self.phase != Phase::Ready && method != "initialize" && method != "ping" {
                    plans.push(Plan::Now(vec![Out::ToClient(frame::error_answer(
                        Some(&id),
                        NOT_INITIALIZED,
                        "the session is not initialized: initialize, then notifications/initialized",
                    ))]));
                    return;
                }
                if method == "initialize" {
                    if self.phase != Phase::New {
                        plans.push(Plan::Now(vec![Out::ToClient(frame::error_answer(
                            Some(&id),
                            frame::INVALID_REQUEST,
                            "the session is already initialized",
                        ))]));
                        return;
                    }
                    self.phase = Phase::Initializing;
                }
                let params = message.params().unwrap_or(Value::Null);
                let added = client_labels(&params);
                let (syscall, name, withheld) = self.client_request_syscall(&method, &params);
                let content = params.get("arguments").map_or_else(
                    || message.params_bytes().unwrap_or_default().to_vec(),
                    |a| a.to_string().into_bytes(),
                );
                let inputs = vec![self.kernel.input(added, &content)];
                let target = self.target(&name);
                let mediator_id = self.config.remap_ids.then(|| self.fresh_id());
                let bytes = forwardable(&message, mediator_id.map(Id::number).as_ref());
                let pending = Pending { client_id: id.clone(), method: method.clone(), action: None };
                let call = method == "tools/call";
                plans.push(Plan::Decide {
                    request: OwnedRequest { syscall, target, inputs },
                    withheld,
                    then: Then::ToServer {
                        bytes,
                        mediator_id,
                        pending: Some(pending),
                        call,
                        client_id: Some(id.clone()),
                    },
                    method,
                    id: Some(id),
                });
            }
            Kind::Notification { method } => {
                if method == "notifications/initialized" {
                    if self.phase == Phase::Initialized {
                        self.phase = Phase::Ready;
                    }
                } else if self.phase != Phase::Ready {
                    // Nothing but the handshake before the session is ready; a notification has
                    // no answer, so it is dropped.
                    return;
                }
                let params = message.params().unwrap_or(Value::Null);
                let mut bytes = forwardable(&message, None);
                // A cancellation names the client's id; the server knows the mediator's.
                let wanted = params.get("requestId").map(Value::to_string);
                if method == "notifications/cancelled"
                    && let Some(wanted) = wanted
                    && let Some(mediator) = self.to_server.iter().find(|(_, p)| p.client_id.json() == wanted)
                {
                    let mut params = params.clone();
                    if let Some(object) = params.as_object_mut() {
                        object.insert("requestId".to_owned(), serde_json::from_str(mediator.0).unwrap_or(Value::Null));
                    }
                    bytes = rebuild(&message, None, Some(&params));
                }
                let inputs = vec![self.kernel.input(client_labels(&params), message.bytes())];
                plans.push(Plan::Decide {
                    request: OwnedRequest {
                        syscall: Syscall::ContextRead,
                        target: self.target(&format!("!{method}")),
                        inputs,
                    },
                    withheld: false,
                    then: Then::ToServer { bytes, mediator_id: None, pending: None, call: false, client_id: None },
                    method,
                    id: None,
                });
            }
            Kind::Result { id } | Kind::Error { id: Some(id), .. } => {
                // The client's answer to a request the server sent it.
                let Some(pending) = self.to_client.remove(id.json()) else { return };
                let outcome = if matches!(message.kind(), Kind::Error { .. }) { Outcome::Error } else { Outcome::Ok };
                let forward = Out::ToServer(message.with_id(&pending.server_id));
                match pending.action {
                    Some(action) => plans.push(Plan::Record {
                        record: OwnedOutput {
                            action,
                            content: message.bytes().to_vec(),
                            labels: LabelSet::EMPTY,
                            outcome,
                        },
                        forward: Some(forward),
                        method: pending.method,
                        id: Some(pending.server_id),
                    }),
                    None => plans.push(Plan::Now(vec![forward])),
                }
            }
            Kind::Error { id: None, .. } => {}
        }
    }

    /// The syscall a client request becomes, its target name, and whether the mediator
    /// withholds it.
    fn client_request_syscall(&self, method: &str, params: &Value) -> (Syscall, String, bool) {
        let text = |key: &str| params.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
        match method {
            "tools/call" => {
                let name = text("name");
                // SECURITY: only a tool the server listed and the mediator accepted may be called.
                let withheld = self.tools.get(&name) != Some(&ToolState::Accepted);
                (Syscall::ToolInvoke, name, withheld)
            }
            "resources/read" => (Syscall::ResourceRead, text("uri"), false),
            "prompts/get" => (Syscall::PromptGet, text("name"), false),
            "tools/list" => (Syscall::ToolDescribe, String::new(), false),
            "resources/list" | "resources/templates/list" => (Syscall::ResourceDescribe, String::new(), false),
            "prompts/list" => (Syscall::PromptDescribe, String::new(), false),
            _ if KNOWN_HOUSEKEEPING.contains(&method) => (Syscall::ContextRead, format!("!{method}"), false),
            // A method with no policy: withheld, so the kernel records and denies it.
            _ => (Syscall::ContextRead, format!("!unknown/{}", SafeText::with_limit(method, 64).as_str()), true),
        }
    }

    fn plan_from_server(&mut self, message: Message, plans: &mut Vec<Plan>, lists: &mut Vec<ToolList>) {
        match message.kind().clone() {
            Kind::Result { id } | Kind::Error { id: Some(id), .. } => {
                // SECURITY: an answer to a request the server was never sent is dropped.
                let Some(pending) = self.to_server.remove(id.json()) else { return };
                let is_error = matches!(message.kind(), Kind::Error { .. });
                let forward = message.with_id(&pending.client_id);
                if pending.method == "initialize" && !is_error {
                    self.version = message
                        .result()
                        .and_then(|r| r.get("protocolVersion").and_then(Value::as_str).map(str::to_owned));
                    self.phase = Phase::Initialized;
                }
                if pending.method == "tools/list" && !is_error {
                    self.plan_tool_list(pending, message, plans, lists);
                    return;
                }
                let outcome = if is_error || result_is_error(&message) { Outcome::Error } else { Outcome::Ok };
                match pending.action {
                    Some(action) => plans.push(Plan::Record {
                        record: OwnedOutput {
                            action,
                            content: message.bytes().to_vec(),
                            labels: from_server(),
                            outcome,
                        },
                        forward: Some(Out::ToClient(forward)),
                        method: pending.method,
                        id: Some(pending.client_id),
                    }),
                    None => plans.push(Plan::Now(vec![Out::ToClient(forward)])),
                }
            }
            Kind::Error { id: None, .. } => {}
            Kind::Request { id, method } => {
                let syscall = match method.as_str() {
                    "sampling/createMessage" => Syscall::ModelCall,
                    "elicitation/create" => Syscall::HumanApprove,
                    "roots/list" | "ping" => Syscall::ContextRead,
                    _ => {
                        plans.push(Plan::Now(vec![Out::ToServer(frame::error_answer(
                            Some(&id),
                            frame::METHOD_NOT_FOUND,
                            "AgentK has no policy for this method",
                        ))]));
                        return;
                    }
                };
                let target = self.target(&format!("!{method}"));
                let inputs = vec![self.kernel.input(from_server(), message.params_bytes().unwrap_or_default())];
                let mediator_id = self.config.remap_ids.then(|| self.fresh_id());
                let bytes = forwardable(&message, mediator_id.map(Id::number).as_ref());
                let pending = PendingToClient { server_id: id.clone(), method: method.clone(), action: None };
                plans.push(Plan::Decide {
                    request: OwnedRequest { syscall, target, inputs },
                    withheld: false,
                    then: Then::ToClient { bytes, mediator_id, pending: Some(pending), server_id: Some(id.clone()) },
                    method,
                    id: Some(id),
                });
            }
            Kind::Notification { method } => {
                if method == "notifications/tools/list_changed" {
                    // The list may change: nothing is accepted until it is listed again.
                    self.tools.clear();
                }
                let inputs = vec![self.kernel.input(from_server(), message.bytes())];
                plans.push(Plan::Decide {
                    request: OwnedRequest {
                        syscall: Syscall::ContextRead,
                        target: self.target(&format!("!{method}")),
                        inputs,
                    },
                    withheld: false,
                    then: Then::ToClient {
                        bytes: message.bytes().to_vec(),
                        mediator_id: None,
                        pending: None,
                        server_id: None,
                    },
                    method,
                    id: None,
                });
            }
        }
    }

    /// A `tools/list` answer: one `tool.describe` per descriptor, recorded as digests of the
    /// descriptor and its schema; suspect ones are labelled and withheld from the client.
    fn plan_tool_list(&mut self, pending: Pending, message: Message, plans: &mut Vec<Plan>, lists: &mut Vec<ToolList>) {
        let tools: Vec<Value> =
            message.result().and_then(|r| r.get("tools").and_then(Value::as_array).cloned()).unwrap_or_default();
        let verdicts = suspects(&tools);
        let list = lists.len();
        for (index, tool) in tools.iter().enumerate() {
            let name = tool.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
            let suspect = verdicts.get(index).copied().unwrap_or(true);
            let mut labels = from_server();
            if suspect {
                labels = labels | LabelSet::of(Label::PoisonedSuspect);
            }
            let schema = tool.get("inputSchema").map(Value::to_string).unwrap_or_default();
            let inputs = vec![
                self.kernel.input(labels, tool.to_string().as_bytes()),
                self.kernel.input(labels, schema.as_bytes()),
            ];
            plans.push(Plan::Decide {
                request: OwnedRequest { syscall: Syscall::ToolDescribe, target: self.target(&name), inputs },
                withheld: suspect,
                then: Then::ListedTool { list, index },
                method: "tools/list".to_owned(),
                id: Some(pending.client_id.clone()),
            });
        }
        let keep = vec![false; tools.len()];
        lists.push(ToolList { client_id: pending.client_id, message, tools, keep, decided: 0 });
        if lists.get(list).is_some_and(|l| l.tools.is_empty()) {
            // Nothing to decide: the answer goes back as it is.
            if let Some(list) = lists.get(list) {
                plans.push(Plan::Now(vec![Out::ToClient(list.message.with_id(&list.client_id))]));
            }
        }
    }

    fn then(
        &mut self,
        then: Then,
        decided: &Decided,
        request: &OwnedRequest,
        step: &mut Step,
        lists: &mut [ToolList],
        finished: &mut [Option<Vec<u8>>],
    ) {
        match then {
            Then::ToServer { bytes, mediator_id, pending, call, client_id } => {
                if decided.is_allowed() {
                    if let Some(mut pending) = pending {
                        pending.action = decided.action();
                        let key = mediator_id
                            .map_or_else(|| pending.client_id.json().to_owned(), |m| Id::number(m).json().to_owned());
                        self.to_server.insert(key, pending);
                    }
                    step.outputs.push(Out::ToServer(bytes));
                } else if let Some(client_id) = client_id {
                    if pending.as_ref().is_some_and(|p| p.method == "initialize") {
                        self.phase = Phase::New;
                    }
                    step.outputs.push(Out::ToClient(self.denial(&client_id, decided, request, call)));
                }
            }
            Then::ToClient { bytes, mediator_id, pending, server_id } => {
                if decided.is_allowed() {
                    if let Some(mut pending) = pending {
                        pending.action = decided.action();
                        let key = mediator_id
                            .map_or_else(|| pending.server_id.json().to_owned(), |m| Id::number(m).json().to_owned());
                        self.to_client.insert(key, pending);
                    }
                    step.outputs.push(Out::ToClient(bytes));
                } else if let Some(server_id) = server_id {
                    step.outputs.push(Out::ToServer(self.denial(&server_id, decided, request, false)));
                }
            }
            Then::ListedTool { list, index } => {
                let Some(tools) = lists.get_mut(list) else { return };
                let name = tools
                    .tools
                    .get(index)
                    .and_then(|t| t.get("name"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let accepted = decided.is_allowed();
                if let Some(keep) = tools.keep.get_mut(index) {
                    *keep = accepted;
                }
                self.tools.insert(name, if accepted { ToolState::Accepted } else { ToolState::Withheld });
                tools.decided += 1;
                if tools.decided == tools.tools.len()
                    && let Some(slot) = finished.get_mut(list)
                {
                    *slot = Some(list_answer(tools));
                }
            }
        }
    }

    /// The answer to a denied request: a `CallToolResult` the model sees for `tools/call`, a
    /// JSON-RPC error otherwise; both carry `_meta["agentk/denial"]`.
    fn denial(&self, id: &Id, decided: &Decided, request: &OwnedRequest, call: bool) -> Vec<u8> {
        let explanation =
            SyscallRequest::new(&self.config.agent, request.syscall, &request.target).consuming(&request.inputs);
        let remedy = self
            .kernel
            .explain(&explanation, decided)
            .ok()
            .and_then(|e| e.remedy.map(|r| r.to_string()))
            .unwrap_or_else(|| {
                "an operator decision (a policy change, or accepting this tool's descriptor)".to_owned()
            });
        let reason = self
            .kernel
            .explain(&explanation, decided)
            .map(|e| e.reason)
            .unwrap_or_else(|_| "denied by AgentK".to_owned());
        let action = action_digest(&request.target, &request.inputs);
        let meta = serde_json::json!({
            "rule": decided.rule,
            "reason": reason,
            "action": action,
            "event": decided.seq,
        });
        let text = format!(
            "AgentK denied this {}: {reason} (rule `{}`). What would allow it: {remedy}.",
            request.syscall.name(),
            decided.rule
        );
        if call {
            let result = serde_json::json!({
                "content": [{"type": "text", "text": text}],
                "isError": true,
                "_meta": {DENIAL_META: meta},
            });
            frame::result_answer(id, &result)
        } else {
            let error = serde_json::json!({"code": DENIED, "message": text, "data": {DENIAL_META: meta}});
            format!("{{\"jsonrpc\":\"2.0\",\"id\":{},\"error\":{error}}}", id.json()).into_bytes()
        }
    }
}

/// Which descriptors of one server's list are suspect.
// FIXME: (issue 12) the descriptor scanner is being built; until it is wired here no descriptor
// is flagged, and M2 is not claimed.
fn suspects(tools: &[Value]) -> Vec<bool> {
    tools.iter().map(|_| false).collect()
}

/// Housekeeping methods passed by policy as `context.read` of `mcp://SERVER/!method`.
const KNOWN_HOUSEKEEPING: [&str; 7] = [
    "initialize",
    "ping",
    "logging/setLevel",
    "completion/complete",
    "resources/subscribe",
    "resources/unsubscribe",
    "tasks/get",
];

/// The digest naming an exact action (server, tool and arguments), for approvals to bind to.
fn action_digest(target: &str, inputs: &[InputRef]) -> String {
    let mut hasher = blake3::Hasher::new_derive_key("agentk mcp action v1");
    hasher.update(target.as_bytes());
    for input in inputs {
        hasher.update(&input.digest.0);
    }
    hasher.finalize().to_hex().to_string()
}

/// Labels a client added to its own request (`params._meta["agentk/labels"]`): only ever
/// added; an unknown name is ignored, never trusted.
fn client_labels(params: &Value) -> LabelSet {
    params
        .get("_meta")
        .and_then(|meta| meta.get(LABELS_META))
        .and_then(Value::as_array)
        .map(|names| {
            names
                .iter()
                .filter_map(Value::as_str)
                .filter_map(|name| name.parse::<LabelSet>().ok())
                .fold(LabelSet::EMPTY, |set, labels| set | labels)
        })
        .unwrap_or(LabelSet::EMPTY)
}

/// Whether a result is a `CallToolResult` with `isError: true`.
fn result_is_error(message: &Message) -> bool {
    message.result().and_then(|r| r.get("isError").and_then(Value::as_bool)).unwrap_or(false)
}

/// The message to forward: with its id replaced (when given), and without AgentK's own `_meta`
/// keys (the only case where the bytes change beyond the id).
fn forwardable(message: &Message, id: Option<&Id>) -> Vec<u8> {
    let params = message.params();
    let has_ours = params
        .as_ref()
        .and_then(|p| p.get("_meta"))
        .and_then(Value::as_object)
        .is_some_and(|meta| meta.keys().any(|k| k.starts_with("agentk/")));
    if !has_ours {
        return match id {
            Some(id) => message.with_id(id),
            None => message.bytes().to_vec(),
        };
    }
    let mut params = params.unwrap_or(Value::Null);
    if let Some(meta) = params.get_mut("_meta").and_then(Value::as_object_mut) {
        meta.retain(|k, _| !k.starts_with("agentk/"));
        if meta.is_empty()
            && let Some(object) = params.as_object_mut()
        {
            object.remove("_meta");
        }
    }
    rebuild(message, id, Some(&params))
}

/// A request or notification written anew, with `id` (or the message's own) and `params`.
fn rebuild(message: &Message, id: Option<&Id>, params: Option<&Value>) -> Vec<u8> {
    let mut object = Map::new();
    object.insert("jsonrpc".to_owned(), Value::String("2.0".to_owned()));
    if let Some(id) = id.or(message.id()) {
        object.insert("id".to_owned(), serde_json::from_str(id.json()).unwrap_or(Value::Null));
    }
    if let Some(method) = message.method() {
        object.insert("method".to_owned(), Value::String(method.to_owned()));
    }
    if let Some(params) = params {
        object.insert("params".to_owned(), params.clone());
    }
    Value::Object(object).to_string().into_bytes()
}

/// The `tools/list` answer that goes back: as the server wrote it when every tool was accepted,
/// otherwise with the withheld tools taken out.
fn list_answer(list: &ToolList) -> Vec<u8> {
    if list.keep.iter().all(|k| *k) {
        return list.message.with_id(&list.client_id);
    }
    let mut result = list.message.result().unwrap_or(Value::Null);
    let kept: Vec<Value> =
        list.tools.iter().zip(&list.keep).filter(|(_, keep)| **keep).map(|(tool, _)| tool.clone()).collect();
    if let Some(object) = result.as_object_mut() {
        object.insert("tools".to_owned(), Value::Array(kept));
    }
    frame::result_answer(&list.client_id, &result)
}
