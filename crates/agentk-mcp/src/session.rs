//! One MCP session's state machine, sans-IO: it takes frames from either side, decides every
//! message through the kernel, and says what to send to the server, what to send to the client,
//! and what was recorded. The transports own the sockets, processes and clocks.
//!
//! A batch of frames ([`Session::handle`]) is planned frame by frame and decided with as few
//! kernel batches (log writes) as its frames allow: a frame that depends on the decision of an
//! earlier frame of the same batch (an answer to a request not yet decided, a call of a tool
//! whose listing is not yet decided) starts a new kernel batch. Outputs come in the order the
//! frames came, and nothing is forwarded before its decision is recorded.
//!
//! # Eras
//!
//! A session speaks one of two eras, settled by the traffic, never configured:
//!
//! - **The handshake era** ([`HANDSHAKE_VERSIONS`], 2024-11-05 to 2025-11-25): `initialize`,
//!   then `notifications/initialized`; nothing but the handshake (and `ping`) before, refused
//!   with [`NOT_INITIALIZED`]; the server's requests to the client (sampling, elicitation,
//!   roots) are decided as they come.
//! - **The 2026-07-28 era** ([`MODERN_VERSIONS`]): no handshake; every request names its version,
//!   client and capabilities in `params._meta` ([`PROTOCOL_VERSION_META`]), and is decided and
//!   recorded as its 2025 equivalent (`server/discover` and `subscriptions/listen` are
//!   housekeeping, `context.read` of `mcp://SERVER/!METHOD`). A session with no handshake behind
//!   it mediates such a request at once; the server's first result to one makes it a session of
//!   that era ([`Session::version`] then names it), while an error (a 2025 server's `-32601` to
//!   `server/discover`) leaves it new, so the client can fall back to `initialize`. In that era a
//!   version AgentK does not speak is refused with [`UNSUPPORTED_VERSION`] naming the versions
//!   it does, a request without a version with `-32602`, and `initialize` with
//!   [`UNSUPPORTED_VERSION`]; a session of the handshake era reads the envelope as ordinary
//!   `_meta`. Capabilities hold per request: whether the user can be asked (T5) is read from each
//!   request's envelope.
//!
//! The 2026-07-28 era has no requests from the server (one is refused): a server that needs
//! input mid-call answers `input_required` with the requests embedded (SEP-2322). That answer is
//! recorded as the output of the call, each embedded request is decided as its 2025 equivalent
//! (a `model.call`, a `human.approve`, a `context.read`; at most [`MAX_INPUT_REQUESTS`]), and the
//! answer reaches the client only when every one is allowed (otherwise the client gets the
//! denial). The client's retry carries the answers: each is recorded as the output of the
//! embedded request it answers, bound by the retried request's method and subject, the server's
//! `requestState` and the key; any other is taken out, its refusal recorded. The mediator asks
//! the user the same way, in an `input_required` answer of its own ([`APPROVAL_INPUT_KEY`]). A
//! `subscriptions/listen` stays open (it is not in [`Step::forwarded`], so no transport times it
//! out), and its notifications name it by the client's id.

use std::collections::{BTreeMap, BTreeSet};

use agentk_flightlog::event::InputRef;
use agentk_flightlog::kernel::{
    Action, Decided, Kernel, KernelError, KernelRule, OutputRecord, RecordSink, Recorded, Submission, SyscallRequest,
};
use agentk_labels::{Label, LabelSet, Outcome, SafeText, Syscall};
use agentk_policy::ToolClass;
use serde_json::{Map, Value};

use crate::approval::{ActionDigest, ApprovalSource};
use crate::frame::{self, Frame, Id, Kind, Limits, Message};
use crate::pins::{self, Digest, PinEvent};
use crate::provenance::{ContentIndex, Origin, Returned};

/// The JSON-RPC error code of a request AgentK denied (not a `tools/call`, whose denial is a
/// `CallToolResult` the model sees). In the range JSON-RPC leaves to implementations.
pub const DENIED: i64 = -32001;
/// The JSON-RPC error code of a request sent before the session was initialized.
pub const NOT_INITIALIZED: i64 = -32002;

/// The JSON-RPC error code of a request the server did not answer in time (the transport's
/// timeout); the server is sent a cancellation.
pub const TIMED_OUT: i64 = -32003;
/// The JSON-RPC error code of a request whose server went away before answering.
pub const SERVER_GONE: i64 = -32004;

/// The `_meta` key a client may use to add labels to its own request.
pub const LABELS_META: &str = "agentk/labels";
/// The `_meta` key of a denial's details.
pub const DENIAL_META: &str = "agentk/denial";

/// The JSON-RPC error code of a request whose protocol version AgentK does not speak (the
/// 2026-07-28 era's `UnsupportedProtocolVersionError`); its `data` names the versions it speaks
/// (`supported`) and the one asked for (`requested`).
pub const UNSUPPORTED_VERSION: i64 = -32022;

/// The protocol versions this mediator speaks with the `initialize` handshake (it passes the
/// peers' choice through).
pub const HANDSHAKE_VERSIONS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

/// The protocol versions this mediator speaks without a handshake, each request naming its
/// version in its `_meta` envelope ([`PROTOCOL_VERSION_META`]).
pub const MODERN_VERSIONS: [&str; 1] = ["2026-07-28"];

/// Every protocol version this mediator speaks, oldest first: [`HANDSHAKE_VERSIONS`], then
/// [`MODERN_VERSIONS`].
pub const VERSIONS: [&str; 5] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"];

/// The `_meta` key of a 2026-07-28 request's protocol version (its envelope).
pub const PROTOCOL_VERSION_META: &str = "io.modelcontextprotocol/protocolVersion";
/// The `_meta` key of a 2026-07-28 request's client capabilities (its envelope).
pub const CLIENT_CAPABILITIES_META: &str = "io.modelcontextprotocol/clientCapabilities";
/// The `_meta` key of a 2026-07-28 request's client information (its envelope).
pub const CLIENT_INFO_META: &str = "io.modelcontextprotocol/clientInfo";
/// The `_meta` key naming the `subscriptions/listen` stream a notification belongs to: the id
/// of the listen request.
pub const SUBSCRIPTION_ID_META: &str = "io.modelcontextprotocol/subscriptionId";

/// The most requests one `input_required` answer may embed ([`Session`] decides each): a server
/// that asks for more has its answer withheld.
pub const MAX_INPUT_REQUESTS: usize = 16;

/// The longest key of a request embedded in an `input_required` answer, in bytes; a longer one
/// is withheld.
pub const MAX_INPUT_KEY_BYTES: usize = 256;

/// The key, in an `input_required` answer of AgentK's own, of its question to the user whether
/// to allow a call (T5, [`Config::ask_approvals`]); the client's retry answers under it.
pub const APPROVAL_INPUT_KEY: &str = "agentk/approve";

/// The most bytes of `tools/call` frames a session holds while it lists the server's tools
/// itself ([`Config::max_held_bytes`]'s default). A held call keeps only its bytes (it is read
/// again when released), so this bounds the memory held calls take.
pub const MAX_HELD_BYTES: usize = 16 << 20;

/// The most pages of the mediator's own listing: a server that answers every page with a next
/// cursor would otherwise be asked page after page (each a request with its own timeout, each
/// recorded), and the calls waiting for the listing would never be answered. At the cap the
/// listing ends, and the waiting calls are decided against the tools found so far. A listing
/// the client asks for is not capped: each page is the client's own request, and the client
/// chooses when to stop.
pub const MAX_OWN_LISTING_PAGES: usize = 64;

/// The longest tool name the mediator shows, in bytes: the MCP specification (2025-11-25) says
/// tool names should be 1 to 128 characters of ASCII letters, digits, `_`, `-` and `.`. A
/// listed tool whose name is longer, or holds any other character, is withheld (so a server
/// cannot grow the operator's pin file or the log with its names); `/` is accepted too, as the
/// proposal the specification's rule came from (SEP-986) allowed it and servers written to it
/// use it.
pub const MAX_TOOL_NAME_BYTES: usize = 128;

/// The longest method name recorded in a target, in bytes; a notification whose method is
/// longer, or holds anything but printable ASCII, is withheld under a bounded target.
pub const MAX_METHOD_BYTES: usize = 128;

/// The target name (under `mcp://SERVER/`) of a tool whose name is not a valid MCP tool name
/// ([`MAX_TOOL_NAME_BYTES`]): the name itself is never recorded.
pub const BAD_TOOL_NAME: &str = "!bad-tool-name";

/// The operator grants a session presents, by syscall: the built-in profile `mcp` defines them
/// over `mcp://*`, so every allowed call carries a signed receipt; an operator's own policy may
/// define them narrower (or not at all: then an allow carries no receipt).
pub const GRANTS: [(Syscall, &str); 3] =
    [(Syscall::ToolInvoke, "mcp-tool"), (Syscall::ResourceRead, "mcp-resource"), (Syscall::PromptGet, "mcp-prompt")];

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
    /// The descriptor digests the operator accepted for this server, by tool name. A listed
    /// tool whose descriptor differs is withheld until the operator accepts it.
    pub pins: BTreeMap<String, Digest>,
    /// The most requests waiting for an answer, each way, so a peer that never answers cannot
    /// grow the session without bound. A live session refuses more (recorded); a transcript
    /// session (`remap_ids: false`, where unanswered requests are common) forgets the oldest,
    /// whose answer, should it come, is then not mediated.
    pub max_pending: usize,
    /// The most tools the session keeps track of; a listing beyond is withheld.
    pub max_tools: usize,
    /// The most bytes of calls held while the mediator lists the server's tools itself
    /// ([`MAX_HELD_BYTES`] by default); a call beyond (or beyond `max_pending` calls) is not
    /// held but withheld at once.
    pub max_held_bytes: usize,
    /// Whether a `tools/call` of a tool not yet listed waits while the mediator lists the
    /// server's tools itself (a live session: clients may call without listing), instead of
    /// being denied as not listed (a transcript, where nothing can be asked: only with
    /// `remap_ids`).
    pub list_on_demand: bool,
    /// The most bytes of normalised returned content the session remembers to trace tool
    /// arguments to ([`crate::provenance::DEFAULT_INDEX_BYTES`] by default).
    pub index_bytes: usize,
    /// Whether a call the policy denies, and a person may approve, is held while the user is
    /// asked through `elicitation/create` (once per action), when the client declared the
    /// elicitation capability at 2025-06-18 or later. Off by default: a client that answers
    /// elicitations by itself would approve for the user.
    pub ask_approvals: bool,
}

impl Config {
    /// A live session in front of the server `server_id`.
    pub fn new(server_id: &str) -> Self {
        Config {
            server_id: server_id.to_owned(),
            agent: "mcp-client".to_owned(),
            limits: Limits::default(),
            remap_ids: true,
            pins: BTreeMap::new(),
            max_pending: 1024,
            max_tools: 4096,
            max_held_bytes: MAX_HELD_BYTES,
            list_on_demand: true,
            index_bytes: crate::provenance::DEFAULT_INDEX_BYTES,
            ask_approvals: false,
        }
    }
}

/// One mediated message, as the log recorded it (what `agentk mcp-lines` prints).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Mediated {
    /// The position, in the slice given to [`Session::handle`], of the frame this came from.
    #[serde(skip)]
    pub frame: usize,
    /// The message's id as its sender wrote it, if it has one (a long id is cut short).
    pub id: Option<Value>,
    /// The method (or, for an answer, the method of the request it answers).
    pub method: String,
    /// The syscall it became (`output` for an answer recorded as its call's output).
    pub syscall: String,
    /// The target.
    pub target: String,
    /// `allow` or `deny` (`record` for an output).
    pub decision: String,
    /// The rule (`output` for an output).
    pub rule: String,
    /// For an output, its labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<String>,
    /// Why: the rule's reason, or what the mediator withheld and why.
    pub reason: String,
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
    /// Frames that could not be read, by position (their error answers are among the outputs
    /// when they came from the client).
    pub refused: Vec<(usize, frame::FrameError)>,
    /// Frames read but neither decided nor recorded, by position, and why (an answer to a
    /// request never sent, a JSON-RPC error without an id).
    pub dropped: Vec<(usize, &'static str)>,
    /// Descriptors pinned, changed or flagged in this batch, for the transport to keep.
    pub pins: Vec<PinEvent>,
    /// The keys of the requests sent to the server in this batch, for the transport's
    /// timeouts ([`Session::time_out`]); a `subscriptions/listen`, open as long as its
    /// subscription, is not among them.
    pub forwarded: Vec<String>,
    /// The keys of the requests to the server answered (or cancelled by the client) in this
    /// batch: their timeouts end.
    pub answered: Vec<String>,
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
    /// Operating in the 2026-07-28 era: no handshake, each request names its version in its
    /// `_meta` envelope. Entered when the server first answers such a request with a result (so
    /// a failed `server/discover` leaves the session new, for the handshake).
    Modern,
}

/// A request forwarded to the server, waiting for its answer.
#[derive(Clone, Debug)]
struct Pending {
    /// When it was sent, in the session's own count.
    sent: u64,
    /// The id the client used.
    client_id: Id,
    method: String,
    /// The allowed action, which the answer is recorded as the output of.
    action: Option<Action>,
    /// The mediator's own request (a listing on the client's behalf): its answer goes to no
    /// one.
    own: bool,
    /// The 2026-07-28 era's version the request named in its envelope, if it did.
    modern: Option<&'static str>,
    /// What the request names (a tool, a URI, a prompt), which binds the input a server asks
    /// for in its answer (`input_required`) to the retry that carries it.
    subject: String,
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
    /// Listed, and shown to the client, with what calling it does.
    Accepted(Facets),
    /// Listed, but withheld, and why.
    Withheld(Withhold),
}

/// What calling a tool does, as the mediator names it in the call's target
/// (`mcp://SERVER/TOOL#CLASS[+open]`): its class, and whether it reaches outside the agent's
/// own world. From the policy's `[[tools]]` first, else from the annotations of the accepted
/// (so pinned) descriptor, else a side-effecting, open-world `write`, as the MCP specification
/// says an unannotated tool is to be taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Facets {
    class: ToolClass,
    open: bool,
}

impl Facets {
    /// The target suffix: `#CLASS`, then `+open` when it reaches outside.
    fn suffix(self) -> String {
        format!("#{}{}", self.class, if self.open { "+open" } else { "" })
    }
}

/// Why the mediator withholds a request or a tool before any policy is asked, and what would
/// change that.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Withhold {
    reason: String,
    remedy: &'static str,
}

impl Withhold {
    fn new(reason: impl Into<String>, remedy: &'static str) -> Self {
        Withhold { reason: reason.into(), remedy }
    }
}

/// How a denial is answered.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Answer {
    /// A `CallToolResult` with `isError: true`, which the model sees.
    CallResult,
    /// The same in the 2026-07-28 era, whose results say they are complete (`resultType`).
    ModernCallResult,
    /// A JSON-RPC error with this code.
    Error(i64),
    /// The 2026-07-28 era's unsupported-version error ([`UNSUPPORTED_VERSION`]), naming the
    /// version asked for (already bounded, [`shown_version`]).
    Unsupported(String),
}

/// What to do once a decision is in.
enum Then {
    /// Forward to the server (these bytes) if allowed; answer the client otherwise. `cancels`:
    /// the key of the request a forwarded cancellation ends.
    ToServer {
        bytes: Vec<u8>,
        key: Option<String>,
        pending: Option<Pending>,
        answer: Answer,
        client_id: Option<Id>,
        cancels: Option<String>,
    },
    /// Forward a notification or a request to the client if allowed; answer the server
    /// otherwise.
    ToClient {
        bytes: Vec<u8>,
        key: Option<String>,
        pending: Option<PendingToClient>,
        server_id: Option<Id>,
        answer: Answer,
    },
    /// One decision of a `tools/list` answer: part of the list that goes back, the digest to
    /// pin when it is accepted (a descriptor seen for the first time), and what calling it does.
    ListedTool { list: usize, index: usize, name: String, pin: Option<Digest>, facets: Facets },
    /// One decision of an `input_required` answer: the request the server embedded under
    /// `key` (none: the answer as a whole, withheld), with its method.
    Embedded { round: usize, key: Option<String>, method: String },
    /// Nothing more (a decision recorded for the record: a person's approval).
    Nothing,
}

/// One item of a batch's plan.
#[expect(clippy::large_enum_variant, reason = "made and used once per frame; boxing would allocate per frame")]
enum Plan {
    /// Outputs that need no decision.
    Now(Vec<Out>),
    /// A syscall to decide, and what to do then.
    Decide { request: OwnedRequest, withheld: Option<Withhold>, then: Then, method: String, id: Option<Id> },
    /// An output to record, and what to forward after.
    Record { record: OwnedOutput, forward: Option<Out>, method: String, id: Option<Id> },
}

/// A `tools/list` answer being assembled: the tools, and which of them go back.
struct ToolList {
    /// The listing was the mediator's own: it goes to no one.
    own: bool,
    client_id: Id,
    message: Message,
    tools: Vec<Value>,
    keep: Vec<bool>,
    decided: usize,
}

/// An `input_required` answer being mediated (SEP-2322): each request it embeds is decided as
/// the 2025 era's request from the server would be; it reaches the client only when all are
/// allowed, otherwise the client gets the first denial.
struct InputRound {
    client_id: Id,
    message: Message,
    answer: Answer,
    /// What binds the embedded requests to the retry: the request's method and subject, and the
    /// answer's `requestState`.
    binding: (String, String, String),
    total: usize,
    decided: usize,
    denial: Option<Vec<u8>>,
    /// The allowed embedded requests: their key, action and method.
    allowed: Vec<(String, Action, String)>,
}

/// A request embedded in an `input_required` answer, to decide: its syscall and target name,
/// why it is withheld, what it asks (its params), its key and method.
type Embedded = (Syscall, String, Option<Withhold>, Vec<u8>, Option<String>, String);

/// The part of a batch planned but not yet decided.
#[derive(Default)]
struct Batch {
    /// Each plan with the position of its frame.
    plans: Vec<(usize, Plan)>,
    lists: Vec<ToolList>,
    rounds: Vec<InputRound>,
    /// The keys of requests planned in this batch, whose answers must wait for their decision.
    inflight: BTreeSet<String>,
}

impl Batch {
    /// Whether `message` needs a decision of this batch before it can be planned.
    fn awaits(&self, message: &Message) -> bool {
        match message.kind() {
            Kind::Result { id } | Kind::Error { id: Some(id), .. } => self.inflight.contains(id.json()),
            Kind::Request { method, .. } => method == "tools/call" && !self.lists.is_empty(),
            Kind::Notification { method } => method == "notifications/tools/list_changed" && !self.lists.is_empty(),
            Kind::Error { id: None, .. } => false,
        }
    }

    fn push(&mut self, frame: usize, plan: Plan) {
        self.plans.push((frame, plan));
    }
}

struct OwnedRequest {
    syscall: Syscall,
    target: String,
    inputs: Vec<InputRef>,
    grant: Option<&'static str>,
    /// For a call a person may approve: the exact action, and what became of an approval
    /// that names it but could not be used.
    approvable: Option<(ActionDigest, Option<String>)>,
}

impl OwnedRequest {
    fn new(syscall: Syscall, target: String, inputs: Vec<InputRef>) -> Self {
        let grant = GRANTS.iter().find(|(s, _)| *s == syscall).map(|(_, id)| *id);
        OwnedRequest { syscall, target, inputs, grant, approvable: None }
    }

    /// The labels the policy sees: the join of the inputs'.
    fn labels(&self) -> LabelSet {
        self.inputs.iter().fold(LabelSet::EMPTY, |set, input| set | input.labels)
    }

    fn syscall_request<'a>(&'a self, agent: &'a str) -> SyscallRequest<'a> {
        let request = SyscallRequest::new(agent, self.syscall, &self.target).consuming(&self.inputs);
        match self.grant {
            Some(grant) => request.presenting(grant),
            None => request,
        }
    }
}

struct OwnedOutput {
    action: Action,
    content: Vec<u8>,
    labels: LabelSet,
    outcome: Outcome,
    /// What of it the client receives, to remember (T2, T3), with the labels of its clean
    /// parts.
    returned: Option<(Returned, LabelSet)>,
}

/// One MCP session in front of one server.
pub struct Session<S: RecordSink> {
    kernel: Kernel<S>,
    config: Config,
    phase: Phase,
    version: Option<String>,
    next_id: u64,
    to_server: BTreeMap<String, Pending>,
    /// The keys of `to_server` in the order they were sent (with when), some already answered:
    /// the oldest is found without a scan.
    sent_order: std::collections::VecDeque<(u64, String)>,
    to_client: BTreeMap<String, PendingToClient>,
    tools: BTreeMap<String, ToolState>,
    /// Whether a listing of the server's tools completed since the session began or the server
    /// said its list changed.
    listed: bool,
    /// Whether the mediator's own listing is in flight.
    own_listing: bool,
    /// The cursor of the next page of the mediator's own listing, to ask once its page is in.
    next_cursor: Option<Value>,
    /// The pages of the mediator's own listing asked for so far ([`MAX_OWN_LISTING_PAGES`]).
    own_pages: usize,
    /// Calls waiting for the mediator's own listing: each call's id and bytes only (read again
    /// when released), so what is held is what [`Config::max_held_bytes`] counts.
    held: Vec<(Id, Vec<u8>)>,
    /// The bytes of `held`.
    held_bytes: usize,
    /// What the servers returned, to trace tool arguments to (T3).
    index: ContentIndex,
    /// An answer the index could not hold whole: every later call is taken to carry what it
    /// carried (fail closed).
    floor: Option<Origin>,
    /// Where a person's approvals are found (T5); none: no approval is ever honoured.
    approvals: Option<Box<dyn ApprovalSource + Send>>,
    /// Whether the client declared the elicitation capability.
    client_elicits: bool,
    /// Calls held while the user is asked, by the key of the mediator's `elicitation/create`:
    /// the call's id and bytes, and its action.
    asking: BTreeMap<String, (Id, Vec<u8>, ActionDigest)>,
    /// The actions the user was asked about (each is asked once).
    asked: BTreeSet<[u8; 32]>,
    /// The user's answers not yet applied to their held call: approved or not, and the
    /// evidence (the answer's digest input).
    answered_by_user: BTreeMap<[u8; 32], (bool, InputRef)>,
    /// The actions the user was asked about in the 2026-07-28 era (inside an `input_required`
    /// answer of the mediator's own), whose retry may carry the answer.
    asking_modern: BTreeSet<[u8; 32]>,
    /// The envelope (`_meta`) the mediator's own listing carries in the 2026-07-28 era.
    own_meta: Option<Value>,
    /// The requests a server embedded in an `input_required` answer that reached the client, by
    /// their binding ([`input_binding`]): the action each was allowed as, and its method. The
    /// client's retry answers them.
    awaiting_input: BTreeMap<[u8; 32], (Action, String)>,
    /// The keys of `awaiting_input` in the order they came, the oldest forgotten first.
    awaiting_order: std::collections::VecDeque<[u8; 32]>,
}

/// The most actions a session asks the user about (each once).
const MAX_ASKED: usize = 4096;

/// What [`Session::approve`] says to do with the call.
enum Approval {
    /// Decide it now (approved or not).
    Decide,
    /// Hold it and ask the user; the rule that denies it, for the question.
    Ask { rule: String },
}

/// The label set of what a server sends: untrusted, external.
fn from_server() -> LabelSet {
    LabelSet::from_labels(&[Label::Untrusted, Label::External])
}

impl<S: RecordSink> Session<S> {
    /// A session deciding through `kernel`.
    pub fn new(kernel: Kernel<S>, config: Config) -> Self {
        let config_index_bytes = config.index_bytes;
        Session {
            kernel,
            config,
            phase: Phase::New,
            version: None,
            next_id: 0,
            to_server: BTreeMap::new(),
            sent_order: std::collections::VecDeque::new(),
            to_client: BTreeMap::new(),
            tools: BTreeMap::new(),
            listed: false,
            own_listing: false,
            next_cursor: None,
            own_pages: 0,
            held: Vec::new(),
            held_bytes: 0,
            index: ContentIndex::new(config_index_bytes),
            floor: None,
            approvals: None,
            client_elicits: false,
            asking: BTreeMap::new(),
            asked: BTreeSet::new(),
            answered_by_user: BTreeMap::new(),
            asking_modern: BTreeSet::new(),
            own_meta: None,
            awaiting_input: BTreeMap::new(),
            awaiting_order: std::collections::VecDeque::new(),
        }
    }

    /// Honours the approvals `source` finds (T5): a call the policy denies, approved by a
    /// person for exactly this server, tool and arguments, is recorded as `human.approve` and
    /// decided again as approved (`+approved`, which the built-in profiles allow).
    pub fn set_approvals(&mut self, source: Box<dyn ApprovalSource + Send>) {
        self.approvals = Some(source);
    }

    /// The index of returned content (for measurement: its size and memory).
    pub fn content_index(&self) -> &ContentIndex {
        &self.index
    }

    /// The protocol version the peers agreed on, once they have.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// How the session was set up.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Makes every event recorded so far durable ([`Kernel::sync`]), for a transport that
    /// syncs the log on a timer rather than with every batch.
    pub fn sync(&mut self) -> Result<(), KernelError> {
        self.kernel.sync()
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

    /// Whether an answer's id waits for an answer both ways (only a transcript, whose two
    /// sides share one id space, can be unsure).
    fn ambiguous(&self, message: &Message) -> bool {
        match message.kind() {
            Kind::Result { id } | Kind::Error { id: Some(id), .. } => {
                self.to_server.contains_key(id.json()) && self.to_client.contains_key(id.json())
            }
            _ => false,
        }
    }

    /// Mediates a batch of frames (each without its newline), in order. A failure to record
    /// answers nothing: the transport must end the session.
    pub fn handle(&mut self, frames: &[(Side, &[u8])]) -> Result<Step, KernelError> {
        self.mediate(frames.iter().map(|(side, bytes)| (Some(*side), *bytes)))
    }

    /// Mediates a recorded transcript's frames, whose sides are told by method and id
    /// ([`Session::side_of`], asked as each frame comes). For a transcript, configure the
    /// session with `remap_ids: false`.
    pub fn handle_transcript(&mut self, frames: &[&[u8]]) -> Result<Step, KernelError> {
        self.mediate(frames.iter().map(|bytes| (None, *bytes)))
    }

    fn mediate<'f>(&mut self, frames: impl Iterator<Item = (Option<Side>, &'f [u8])>) -> Result<Step, KernelError> {
        let mut step = Step::default();
        let mut batch = Batch::default();
        for (position, (side, bytes)) in frames.enumerate() {
            let message = match Frame::parse(bytes, &self.config.limits) {
                Ok(Frame::Single(message)) => message,
                Ok(Frame::Batch(_)) => {
                    // JSON-RPC batches were removed from MCP in 2025-06-18, and no client of
                    // the earlier versions sends them; they are refused, not mediated.
                    let error = frame::FrameError::Invalid { problem: "batches are not mediated", id: None };
                    self.refuse(side, position, error, &mut batch, &mut step);
                    continue;
                }
                Err(error) => {
                    self.refuse(side, position, error, &mut batch, &mut step);
                    continue;
                }
            };
            if batch.awaits(&message) {
                self.decide(std::mem::take(&mut batch), &mut step)?;
            }
            if side.is_none() && self.ambiguous(&message) {
                // A transcript's answer whose id waits both ways cannot be credited to either
                // side without a guess; it is reported, not mediated.
                step.dropped.push((position, "an answer whose side cannot be told: its id waits both ways"));
                continue;
            }
            let side = side.unwrap_or_else(|| self.side_of(&message));
            match side {
                Side::Client => self.plan_from_client(position, message, &mut batch, &mut step),
                Side::Server => self.plan_from_server(position, message, &mut batch, &mut step),
            }
        }
        self.decide(batch, &mut step)?;
        self.release(&mut step)?;
        Ok(step)
    }

    /// Plans and decides what the mediator's own listing freed: its next page, or the calls
    /// that waited for it.
    fn release(&mut self, step: &mut Step) -> Result<(), KernelError> {
        loop {
            let mut batch = Batch::default();
            if let Some(cursor) = self.next_cursor.take() {
                self.plan_own_listing(0, Some(cursor), &mut batch);
            } else if self.listed {
                self.held_bytes = 0;
                for (id, bytes) in std::mem::take(&mut self.held) {
                    // INVARIANT: the bytes were read as this request under the same limits
                    // when they were held; should they not read again, the client is answered.
                    let message = match Frame::parse(&bytes, &self.config.limits) {
                        Ok(Frame::Single(message)) => Some(message),
                        _ => None,
                    };
                    match message.as_ref().map(|m| (m, m.kind().clone())) {
                        Some((message, Kind::Request { id, method })) => {
                            self.plan_client_request(0, id, method, message, &mut batch);
                        }
                        _ => {
                            let problem = "the call could not be read again";
                            let error = frame::error_answer(Some(&id), frame::INTERNAL_ERROR, problem);
                            batch.push(0, Plan::Now(vec![Out::ToClient(error)]));
                        }
                    }
                }
            }
            if batch.plans.is_empty() {
                return Ok(());
            }
            self.decide(batch, step)?;
        }
    }

    /// Plans the mediator's own `tools/list` (a page of it, after `cursor`), decided and
    /// recorded like any listing request.
    fn plan_own_listing(&mut self, position: usize, cursor: Option<Value>, batch: &mut Batch) {
        if cursor.is_none() {
            self.own_pages = 0;
        }
        self.own_pages += 1;
        let mine = Id::number(self.fresh_id());
        let key = mine.json().to_owned();
        let mut request = Map::new();
        request.insert("jsonrpc".to_owned(), Value::String("2.0".to_owned()));
        request.insert("id".to_owned(), serde_json::from_str(mine.json()).unwrap_or(Value::Null));
        request.insert("method".to_owned(), Value::String("tools/list".to_owned()));
        let mut params = Map::new();
        if let Some(cursor) = cursor {
            params.insert("cursor".to_owned(), cursor);
        }
        // In the 2026-07-28 era every request names its version: the listing carries the
        // envelope of the call that needed it.
        let modern = self.own_meta.as_ref().and_then(|meta| known_modern(meta.get(PROTOCOL_VERSION_META)));
        if let Some(meta) = &self.own_meta {
            params.insert("_meta".to_owned(), meta.clone());
        }
        if !params.is_empty() {
            request.insert("params".to_owned(), Value::Object(params));
        }
        let bytes = Value::Object(request).to_string().into_bytes();
        batch.inflight.insert(key.clone());
        let sent = self.fresh_id();
        let method = "tools/list".to_owned();
        let pending =
            Pending { sent, client_id: mine, method, action: None, own: true, modern, subject: String::new() };
        let inputs = vec![self.kernel.input(LabelSet::EMPTY, b"tools/list")];
        self.own_listing = true;
        batch.push(
            position,
            Plan::Decide {
                request: OwnedRequest::new(Syscall::ToolDescribe, self.target(""), inputs),
                withheld: None,
                then: Then::ToServer {
                    bytes,
                    key: Some(key),
                    pending: Some(pending),
                    answer: Answer::Error(DENIED),
                    client_id: None,
                    cancels: None,
                },
                method: "tools/list".to_owned(),
                id: None,
            },
        );
    }

    /// A page of a listing is decided whole: a page without a next one completes a listing;
    /// the mediator's own listing asks for its next page, up to [`MAX_OWN_LISTING_PAGES`]
    /// (then it ends with what it found). Says whether the page goes to the client (the
    /// mediator's own go to no one).
    fn listing_complete(&mut self, own: bool, message: &Message) -> bool {
        let cursor = message.result_ref().and_then(|r| r.get("nextCursor")).filter(|c| c.is_string()).cloned();
        match (own, cursor) {
            // SECURITY: a server that always has a next page cannot keep the held calls waiting.
            (true, Some(_)) if self.own_pages >= MAX_OWN_LISTING_PAGES => self.own_listing_done(),
            (true, Some(cursor)) => self.next_cursor = Some(cursor),
            (true, None) => self.own_listing_done(),
            (false, Some(_)) => {}
            (false, None) => self.listed = true,
        }
        !own
    }

    /// The mediator's own listing is over (answered whole, refused, or timed out): the calls
    /// that waited are decided against what it found.
    fn own_listing_done(&mut self) {
        self.own_listing = false;
        self.next_cursor = None;
        self.listed = true;
    }

    /// The transport's timeout for the request sent under `key` ([`Step::forwarded`]): the
    /// server is sent a cancellation, the client an error (-32003), and the request's output is
    /// recorded as an error. Nothing happens for a request already answered.
    pub fn time_out(&mut self, key: &str) -> Result<Step, KernelError> {
        let mut step = Step::default();
        let Some(pending) = self.to_server.remove(key) else { return Ok(step) };
        let request_id: Value = serde_json::from_str(key).unwrap_or(Value::Null);
        let cancel = serde_json::json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":request_id,"reason":"timed out"}});
        step.outputs.push(Out::ToServer(cancel.to_string().into_bytes()));
        self.end_pending(pending, TIMED_OUT, "the server did not answer in time", &mut step)?;
        self.release(&mut step)?;
        Ok(step)
    }

    /// The server went away: every request waiting for it is answered with an error (-32004)
    /// and its output recorded as an error; calls waiting for a listing are answered too.
    pub fn server_gone(&mut self) -> Result<Step, KernelError> {
        let mut step = Step::default();
        for (_, pending) in std::mem::take(&mut self.to_server) {
            self.end_pending(pending, SERVER_GONE, "the server went away before answering", &mut step)?;
        }
        self.held_bytes = 0;
        for (id, _) in std::mem::take(&mut self.held) {
            let answer = frame::error_answer(Some(&id), SERVER_GONE, "the server went away before answering");
            step.outputs.push(Out::ToClient(answer));
        }
        Ok(step)
    }

    /// Ends a request without its answer: the client gets `code`, the output is recorded.
    fn end_pending(&mut self, pending: Pending, code: i64, text: &str, step: &mut Step) -> Result<(), KernelError> {
        if pending.own {
            self.own_listing_done();
            return Ok(());
        }
        let error = frame::error_answer(Some(&pending.client_id), code, text);
        let mut batch = Batch::default();
        let plan = match pending.action {
            Some(action) => Plan::Record {
                record: OwnedOutput {
                    action,
                    content: error.clone(),
                    labels: from_server(),
                    outcome: Outcome::Error,
                    returned: None,
                },
                forward: Some(Out::ToClient(error)),
                method: pending.method,
                id: Some(pending.client_id),
            },
            None => Plan::Now(vec![Out::ToClient(error)]),
        };
        batch.push(0, plan);
        self.decide(batch, step)
    }

    /// A frame that could not be read. An unreadable frame from the server is answered to
    /// nobody: the server gets no echo of its own garbage, and the client never sees it.
    fn refuse(
        &self,
        side: Option<Side>,
        position: usize,
        error: frame::FrameError,
        batch: &mut Batch,
        step: &mut Step,
    ) {
        if side == Some(Side::Client) {
            batch.push(position, Plan::Now(vec![Out::ToClient(error.answer())]));
        }
        step.refused.push((position, error));
    }

    /// Decides every syscall and output of `batch` as one kernel batch, then says what to send.
    fn decide(&mut self, batch: Batch, step: &mut Step) -> Result<(), KernelError> {
        let Batch { plans, mut lists, mut rounds, .. } = batch;
        let mut submissions = Vec::new();
        let mut owners = Vec::new();
        for (index, (_, plan)) in plans.iter().enumerate() {
            match plan {
                Plan::Now(_) => {}
                Plan::Decide { request, withheld, .. } => {
                    let request = request.syscall_request(&self.config.agent);
                    submissions.push(if withheld.is_some() {
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
        drop(submissions);
        let mut answers: BTreeMap<usize, Recorded> = owners.into_iter().zip(recorded).collect();
        let mut finished_lists: Vec<Option<Vec<u8>>> = (0..lists.len()).map(|_| None).collect();
        for (index, (frame, plan)) in plans.into_iter().enumerate() {
            match plan {
                Plan::Now(outs) => step.outputs.extend(outs),
                Plan::Decide { request, withheld, then, method, id } => {
                    let Some(Recorded::Decided(decided)) = answers.remove(&index) else { continue };
                    let reason = match &withheld {
                        Some(withhold) => withhold.reason.clone(),
                        None => self.reason_of(&decided.rule),
                    };
                    step.mediated.push(Mediated {
                        frame,
                        id: id.as_ref().map(shown_id),
                        method: SafeText::with_limit(&method, 64).as_str().to_owned(),
                        syscall: request.syscall.name().to_owned(),
                        target: SafeText::with_limit(&request.target, 256).as_str().to_owned(),
                        decision: decided.effect.to_string(),
                        rule: decided.rule.clone(),
                        labels: None,
                        reason,
                        event: decided.seq,
                    });
                    let done = Decision { decided: &decided, request: &request, withheld: withheld.as_ref() };
                    self.then(then, &done, step, (&mut lists, &mut finished_lists), &mut rounds);
                }
                Plan::Record { record, forward, method, id } => {
                    if let Some(Recorded::Output(output)) = answers.remove(&index) {
                        if let Some((returned, base)) = &record.returned {
                            // T2, T3: remembered, to trace later arguments to this event.
                            let inserted = self.index.insert(output.seq, *base, returned);
                            if !inserted.complete {
                                self.floor = Some(Origin { event: output.seq, labels: output.labels });
                            }
                        }
                        step.mediated.push(Mediated {
                            frame,
                            id: id.as_ref().map(shown_id),
                            method: SafeText::with_limit(&method, 64).as_str().to_owned(),
                            syscall: "output".to_owned(),
                            target: String::new(),
                            decision: "record".to_owned(),
                            rule: "output".to_owned(),
                            labels: Some(output.labels.to_string()),
                            reason: "an answer, recorded as the output of the request it answers".to_owned(),
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
        Ok(())
    }

    /// The reason of the rule that decided: the policy's, or the kernel's own.
    fn reason_of(&self, rule: &str) -> String {
        match KernelRule::from_id(rule) {
            Some(rule) => rule.reason().to_owned(),
            None => self
                .kernel
                .policy()
                .rules()
                .iter()
                .find(|r| r.id() == rule)
                .map_or_else(|| "decided by the policy".to_owned(), |r| r.reason().to_owned()),
        }
    }

    /// Forgets the request to the server that waited longest (a transcript's only way to stay
    /// bounded when its requests go unanswered).
    fn forget_oldest(&mut self) {
        while let Some((sent, key)) = self.sent_order.pop_front() {
            if self.to_server.get(&key).is_some_and(|p| p.sent == sent) {
                self.to_server.remove(&key);
                return;
            }
        }
    }

    fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn target(&self, name: &str) -> String {
        format!("mcp://{}/{}", self.config.server_id, name)
    }

    /// The id a request is forwarded under, and the key its answer will be found by.
    fn forward_id(&mut self, id: &Id) -> (Option<Id>, String) {
        if self.config.remap_ids {
            let mine = Id::number(self.fresh_id());
            let key = mine.json().to_owned();
            (Some(mine), key)
        } else {
            (None, id.json().to_owned())
        }
    }

    fn plan_from_client(&mut self, position: usize, message: Message, batch: &mut Batch, step: &mut Step) {
        match message.kind().clone() {
            Kind::Request { id, method } => self.plan_client_request(position, id, method, &message, batch),
            Kind::Notification { method } => {
                if method == "notifications/initialized" {
                    if self.phase == Phase::Initialized {
                        self.phase = Phase::Ready;
                    }
                } else if !self.operating() {
                    // Nothing but the handshake before the session is ready; a notification has
                    // no answer, so it is dropped.
                    step.dropped.push((position, "a notification before the session is initialized"));
                    return;
                }
                let params = message.params().unwrap_or(Value::Null);
                let mut bytes = forwardable(&message, None);
                let mut cancels = None;
                if method == "notifications/cancelled" {
                    // A cancellation names the client's id; the server knows the mediator's. One
                    // that names no request in flight is dropped (it would name an id of the
                    // mediator's space otherwise).
                    let wanted = params.get("requestId").map(Value::to_string);
                    let key = self
                        .to_server
                        .iter()
                        .find(|(_, p)| !p.own && wanted.as_deref() == Some(p.client_id.json()))
                        .map(|(key, _)| key.clone());
                    let mapped = map_cancellation(&params, |_| key.clone());
                    let Some(mapped) = mapped else {
                        step.dropped.push((position, "a cancellation of no request in flight"));
                        return;
                    };
                    bytes = rebuild(&message, None, Some(&mapped));
                    cancels = key;
                }
                let inputs = vec![self.kernel.input(client_labels(&params), message.bytes())];
                let (name, withheld) = method_target(&method);
                let request = OwnedRequest::new(Syscall::ContextRead, self.target(&name), inputs);
                let then = Then::ToServer {
                    bytes,
                    key: None,
                    pending: None,
                    answer: Answer::Error(DENIED),
                    client_id: None,
                    cancels,
                };
                batch.push(position, Plan::Decide { request, withheld, then, method, id: None });
            }
            Kind::Result { id } | Kind::Error { id: Some(id), .. } => {
                if let Some(held) = self.asking.remove(id.json()) {
                    self.user_answered(position, &message, held, batch);
                    return;
                }
                // The client's answer to a request the server sent it.
                let Some(pending) = self.to_client.remove(id.json()) else {
                    step.dropped
                        .push((position, "an answer to a request not forwarded to the client (denied, or never sent)"));
                    return;
                };
                let outcome = if matches!(message.kind(), Kind::Error { .. }) { Outcome::Error } else { Outcome::Ok };
                // SECURITY: AgentK's own keys are taken out this way too (M5: both ways).
                let forward = Out::ToServer(answer_forwardable(&message, &pending.server_id, None));
                // A sampling result is the client's model writing at the server's request: shaped
                // by the server's prompt, so remembered as the server's content (T2).
                let returned = (pending.method == "sampling/createMessage" && pending.action.is_some())
                    .then(|| returned_of(&message));
                let plan = returned_plan(pending.action, &message, (LabelSet::EMPTY, returned), outcome, forward);
                batch.push(position, plan(pending.method, pending.server_id));
            }
            Kind::Error { id: None, .. } => step.dropped.push((position, "an error answer without an id")),
        }
    }

    fn plan_client_request(&mut self, position: usize, id: Id, method: String, message: &Message, batch: &mut Batch) {
        let null = Value::Null;
        let params = message.params_ref().unwrap_or(&null);
        let added = client_labels(params);
        let (syscall, name, mut withheld, facets) = self.client_request_syscall(&method, params);
        let (modern, refusal) = self.era_of(&method, params);
        let operating = self.phase == Phase::Ready || modern.is_some();
        if method == "tools/call"
            && refusal.is_none()
            && self.config.list_on_demand
            && self.config.remap_ids
            && operating
            && !self.listed
            && !self.tools.contains_key(&name)
            && valid_tool_name(&name)
        {
            // A client may call a tool without listing first: the call waits while the
            // mediator lists the server's tools itself, and is decided against what it finds.
            // SECURITY: held calls are bounded in number and in bytes; a call beyond is
            // withheld at once, as a call of a tool not listed is.
            let size = message.bytes().len();
            if self.held.len() < self.config.max_pending
                && self.held_bytes.saturating_add(size) <= self.config.max_held_bytes
            {
                self.held.push((id, message.bytes().to_vec()));
                self.held_bytes += size;
                if !self.own_listing {
                    self.own_meta = modern.and_then(|_| envelope_of(params));
                    self.plan_own_listing(position, None, batch);
                }
                return;
            }
            withheld = Some(Withhold::new(
                "too many calls are waiting for AgentK's listing of the server's tools",
                "waiting for the listing to end, or listing the server's tools first (tools/list)",
            ));
        }
        let mut answer = match (method.as_str(), modern) {
            ("tools/call", Some(_)) => Answer::ModernCallResult,
            ("tools/call", None) => Answer::CallResult,
            _ => Answer::Error(DENIED),
        };
        if let Some((why, refused)) = refusal {
            // SECURITY: a request of an era, or at a version, the session does not speak is
            // refused, and the refusal recorded like any other.
            withheld = Some(why);
            answer = refused;
        } else if method == "initialize" && self.phase != Phase::New {
            // Refused, and the refusal recorded like any other.
            withheld = Some(Withhold::new("the session is already initialized", "a new session"));
            answer = Answer::Error(frame::INVALID_REQUEST);
        } else if !operating && method != "initialize" && method != "ping" {
            // SECURITY: nothing but the handshake before the session is ready (M5); the refusal
            // is recorded like any other.
            withheld = Some(Withhold::new(
                "the session is not initialized: initialize, then notifications/initialized",
                "completing the MCP handshake first",
            ));
            answer = Answer::Error(NOT_INITIALIZED);
        }
        if !self.config.remap_ids && self.to_server.len() + batch.inflight.len() >= self.config.max_pending {
            self.forget_oldest();
        }
        if self.to_server.len() + batch.inflight.len() >= self.config.max_pending {
            withheld = Some(Withhold::new(
                "too many requests are waiting for the server's answers",
                "waiting for earlier answers",
            ));
        }
        if method == "initialize" && withheld.is_none() {
            self.client_elicits =
                params.get("capabilities").and_then(|c| c.get("elicitation")).is_some_and(Value::is_object);
            self.phase = Phase::Initializing;
        }
        let arguments = params.get("arguments");
        let content = arguments
            .map_or_else(|| message.params_bytes().unwrap_or_default().to_vec(), |a| a.to_string().into_bytes());
        let mut inputs = vec![self.kernel.input(added, &content)];
        let mut target = self.target(&name);
        let mut request = if let (Some(facets), None) = (facets, &withheld) {
            // T3: what of the arguments came from returned content, with its labels and a link
            // to the event that returned it; the facets name what the call does (T4).
            inputs.extend(self.provenance(arguments));
            target.push_str(&facets.suffix());
            let mut request = OwnedRequest::new(syscall, target, inputs);
            request.approvable = Some((ActionDigest::of(&self.config.server_id, &name, arguments), None));
            request
        } else {
            OwnedRequest::new(syscall, target, inputs)
        };
        // The retry of a request the server answered `input_required`: the answers it carries
        // are recorded as the client's (before the retry is decided), and any the mediator
        // did not ask for is taken out.
        let mut params_out = None;
        if withheld.is_none() {
            let approvable = request.approvable.as_ref().map(|(action, _)| *action);
            match self.plan_input_responses(position, (&method, &name), params, approvable, batch) {
                Ok(rewritten) => params_out = rewritten,
                Err(why) => withheld = Some(why),
            }
        }
        let elicits = match modern {
            Some(_) => envelope_elicits(params),
            None => self.client_elicits && self.version.as_deref().is_some_and(|v| v >= "2025-06-18"),
        };
        if withheld.is_none()
            && operating
            && let Approval::Ask { rule } = self.approve(position, &id, &name, &mut request, elicits, batch)
        {
            self.ask(position, id, (&name, modern.is_some()), message, (&request, &rule), batch);
            return;
        }
        let (mine, key) = self.forward_id(&id);
        let bytes = match &params_out {
            Some(params) => {
                let mut params = params.clone();
                strip_meta(&mut params);
                rebuild(message, mine.as_ref(), Some(&params))
            }
            None => forwardable(message, mine.as_ref()),
        };
        batch.inflight.insert(key.clone());
        let sent = self.fresh_id();
        let pending = Pending {
            sent,
            client_id: id.clone(),
            method: method.clone(),
            action: None,
            own: false,
            modern,
            subject: name,
        };
        batch.push(
            position,
            Plan::Decide {
                request,
                withheld,
                then: Then::ToServer {
                    bytes,
                    key: Some(key),
                    pending: Some(pending),
                    answer,
                    client_id: Some(id.clone()),
                    cancels: None,
                },
                method,
                id: Some(id),
            },
        );
    }

    /// The era of a client request, from its envelope and the session's phase: the 2026-07-28
    /// version it names, or why (and how) it is refused. A request that carries the envelope is
    /// of that era while the session has no handshake behind it; once the session speaks that
    /// era, `initialize` (which it does not have) and a request without the envelope are
    /// refused, as the specification says: an unknown version with `-32022` naming the versions
    /// spoken, a missing one with `-32602`.
    fn era_of(&self, method: &str, params: &Value) -> (Option<&'static str>, Option<(Withhold, Answer)>) {
        let envelope = params.get("_meta").and_then(|meta| meta.get(PROTOCOL_VERSION_META));
        let handshake_free = matches!(self.phase, Phase::New | Phase::Modern);
        if method == "initialize" {
            if self.phase != Phase::Modern {
                return (None, None);
            }
            let asked = shown_version(params.get("protocolVersion"));
            let why = Withhold::new(
                "the session speaks the 2026-07-28 era, which has no initialize handshake",
                "a request in the 2026-07-28 era, or a new session for the handshake",
            );
            return (None, Some((why, Answer::Unsupported(asked))));
        }
        match envelope {
            Some(version) if handshake_free => match known_modern(Some(version)) {
                Some(known) => (Some(known), None),
                None => {
                    let why = Withhold::new(
                        "the request names a protocol version AgentK does not speak",
                        "a request at a version AgentK speaks (the error's data names them)",
                    );
                    (None, Some((why, Answer::Unsupported(shown_version(Some(version))))))
                }
            },
            None if self.phase == Phase::Modern => {
                let why = Withhold::new(
                    "the request names no protocol version in its _meta, which the 2026-07-28 era requires",
                    "a request whose _meta names its protocol version",
                );
                (None, Some((why, Answer::Error(frame::INVALID_PARAMS))))
            }
            // A session of the handshake era reads the envelope as ordinary `_meta`.
            _ => (None, None),
        }
    }

    /// Whether the session operates: the handshake is complete, or it speaks the 2026-07-28
    /// era, or a request of that era waits for the server's answer that settles it.
    fn operating(&self) -> bool {
        match self.phase {
            Phase::Ready | Phase::Modern => true,
            Phase::New => self.modern_in_flight(),
            Phase::Initializing | Phase::Initialized => false,
        }
    }

    /// Whether the session speaks the 2026-07-28 era, or is about to learn whether it does.
    fn modern_era(&self) -> bool {
        self.phase == Phase::Modern || (self.phase == Phase::New && self.modern_in_flight())
    }

    fn modern_in_flight(&self) -> bool {
        self.to_server.values().any(|p| p.modern.is_some())
    }

    /// The client's id of the `subscriptions/listen` request the server knows by `key` (the
    /// JSON of the mediator's id), while it is open.
    fn open_listen(&self, key: &str) -> Option<Id> {
        self.to_server.get(key).filter(|p| !p.own && p.method == "subscriptions/listen").map(|p| p.client_id.clone())
    }

    /// The answers a request's retry carries (`inputResponses`) to the requests a server
    /// embedded in its `input_required` answer (SEP-2322): each one the mediator passed to the
    /// client is recorded as the output of the action it was allowed as (a sampling result
    /// remembered as the server's content, T2), each other one is taken out and its refusal
    /// recorded, and an answer to the mediator's own question ([`APPROVAL_INPUT_KEY`]) is the
    /// user's decision on `approvable`, taken out too. Gives the params to forward when any
    /// answer was taken out.
    fn plan_input_responses(
        &mut self,
        position: usize,
        (method, subject): (&str, &str),
        params: &Value,
        approvable: Option<ActionDigest>,
        batch: &mut Batch,
    ) -> Result<Option<Value>, Withhold> {
        let Some(responses) = params.get("inputResponses") else { return Ok(None) };
        let Some(responses) = responses.as_object() else {
            return Err(Withhold::new("the request's inputResponses is not an object", "a request as MCP shapes it"));
        };
        if responses.len() > MAX_INPUT_REQUESTS + 1 {
            // SECURITY: each answer is recorded; a request cannot make the log grow without
            // bound by carrying many.
            return Err(Withhold::new(
                "the request carries more input responses than AgentK mediates at once",
                "a retry that answers what the server asked for",
            ));
        }
        let state = params.get("requestState").map(Value::to_string).unwrap_or_default();
        let mut kept = Map::new();
        for (key, response) in responses {
            if key == APPROVAL_INPUT_KEY
                && let Some(action) = approvable.filter(|a| self.asking_modern.remove(&a.0))
            {
                let evidence = self.kernel.input(LabelSet::EMPTY, response.to_string().as_bytes());
                self.answered_by_user.insert(action.0, (approves(Some(response)), evidence));
                continue;
            }
            // An answer under AgentK's own key that answers no question of its own is never
            // awaited (a server's request under that key is denied), so it is taken out below.
            let binding = input_binding((method, subject, &state), key);
            let Some((action, embedded)) = self.awaiting_input.remove(&binding) else {
                // SECURITY: an answer to a request the client was never given (the mediator
                // denied it, or nobody asked) does not reach the server.
                let inputs = vec![self.kernel.input(LabelSet::EMPTY, response.to_string().as_bytes())];
                let request = OwnedRequest::new(Syscall::ContextRead, self.target("!input-response"), inputs);
                let why = Withhold::new(
                    "an answer to an input request AgentK did not pass to the client",
                    "answering only what the server asked for through AgentK",
                );
                batch.push(
                    position,
                    Plan::Decide {
                        request,
                        withheld: Some(why),
                        then: Then::Nothing,
                        method: method.to_owned(),
                        id: None,
                    },
                );
                continue;
            };
            // A sampling result is the client's model writing at the server's request: shaped
            // by the server's prompt, so remembered as the server's content (T2).
            let returned = (embedded == "sampling/createMessage")
                .then(|| (crate::provenance::returned_text(response), from_server()));
            let labels = if returned.as_ref().is_some_and(|(r, _)| r.is_suspect()) {
                LabelSet::of(Label::PoisonedSuspect)
            } else {
                LabelSet::EMPTY
            };
            let content = response.to_string().into_bytes();
            let record = OwnedOutput { action, content, labels, outcome: Outcome::Ok, returned };
            batch.push(position, Plan::Record { record, forward: None, method: embedded, id: None });
            kept.insert(key.clone(), response.clone());
        }
        if kept.len() == responses.len() {
            return Ok(None);
        }
        let mut params = params.clone();
        if let Some(object) = params.as_object_mut() {
            if kept.is_empty() {
                object.remove("inputResponses");
            } else {
                object.insert("inputResponses".to_owned(), Value::Object(kept));
            }
        }
        Ok(Some(params))
    }

    /// Remembers a request embedded in an `input_required` answer that reached the client, for
    /// the client's answer (bounded: the oldest is forgotten, and its answer then taken out).
    fn await_input(&mut self, binding: [u8; 32], action: Action, method: String) {
        while self.awaiting_input.len() >= self.config.max_pending {
            let Some(oldest) = self.awaiting_order.pop_front() else { break };
            self.awaiting_input.remove(&oldest);
        }
        if self.awaiting_input.insert(binding, (action, method)).is_none() {
            self.awaiting_order.push_back(binding);
        }
        if self.awaiting_order.len() > self.config.max_pending.saturating_mul(2) {
            // Answered ones leave stale entries behind; drop them.
            let live = &self.awaiting_input;
            self.awaiting_order.retain(|key| live.contains_key(key));
        }
    }

    /// The inputs a call's arguments carry from returned content (T3): one per answer and
    /// label set they were traced to, linked to the answer's event; and, after an answer too
    /// large to remember whole, that answer's labels (fail closed).
    fn provenance(&self, arguments: Option<&Value>) -> Vec<InputRef> {
        let mut traced: Vec<(Origin, Vec<u8>)> = Vec::new();
        let mut leaves = Vec::new();
        if let Some(arguments) = arguments {
            argument_leaves(arguments, 0, &mut leaves);
        }
        for leaf in leaves {
            for origin in self.index.trace(&leaf) {
                let known = traced.iter().position(|(o, _)| *o == origin);
                if let Some((_, content)) = known.and_then(|i| traced.get_mut(i)) {
                    content.push(0);
                    content.extend_from_slice(leaf.as_bytes());
                } else if traced.len() < MAX_TRACED_INPUTS {
                    traced.push((origin, leaf.as_bytes().to_vec()));
                } else if let Some((last, _)) = traced.last_mut() {
                    // SECURITY: past the bound, the labels still count, folded into the last.
                    last.labels = last.labels | origin.labels;
                }
            }
        }
        let mut inputs: Vec<InputRef> = traced
            .into_iter()
            .map(|(origin, content)| {
                let mut input = self.kernel.input(origin.labels, &content);
                input.from = Some(origin.event);
                input
            })
            .collect();
        if let Some(floor) = self.floor {
            let mut input = self.kernel.input(floor.labels, b"an answer too large to remember whole");
            input.from = Some(floor.event);
            inputs.push(input);
        }
        inputs
    }

    /// A call the policy would deny, approved by a person for exactly this server, tool and
    /// arguments (T5): the approval is recorded as `human.approve` (planned before the call,
    /// so it is decided first), and the call is decided again as approved. An approval that
    /// names the call but cannot be used is noted for the denial.
    fn approve(
        &mut self,
        position: usize,
        id: &Id,
        name: &str,
        request: &mut OwnedRequest,
        elicits: bool,
        batch: &mut Batch,
    ) -> Approval {
        let Some((action, _)) = request.approvable else { return Approval::Decide };
        let mut probe = agentk_policy::Request::new(&self.config.agent, request.syscall, &request.target)
            .with_labels(request.labels());
        if let Some(grant) = request.grant {
            probe = probe.presenting(grant);
        }
        let decision = self.kernel.policy().evaluate(&probe);
        if decision.is_allowed() {
            return Approval::Decide;
        }
        let rule = decision.rule_id().to_owned();
        let now = self.kernel.now();
        let evidence = match self.answered_by_user.remove(&action.0) {
            Some((true, evidence)) => Some(evidence),
            Some((false, _)) => {
                request.approvable = Some((action, Some("the user declined this exact call when asked".to_owned())));
                return Approval::Decide;
            }
            None => match self.approvals.as_mut().and_then(|source| source.take(&action, now)) {
                None => None,
                Some(Err(refused)) => {
                    let note = format!("an approval names this exact call, but {refused}");
                    request.approvable = Some((action, Some(note)));
                    return Approval::Decide;
                }
                Some(Ok(granted)) => Some(self.kernel.input(LabelSet::EMPTY, &granted.approval)),
            },
        };
        let Some(evidence) = evidence else {
            let asks = self.config.ask_approvals
                && elicits
                && !self.asked.contains(&action.0)
                && self.asked.len() < MAX_ASKED
                && self.asking.len() + self.asking_modern.len() < self.config.max_pending;
            return if asks { Approval::Ask { rule } } else { Approval::Decide };
        };
        let approval = OwnedRequest::new(Syscall::HumanApprove, self.target(name), vec![evidence.clone()]);
        batch.push(
            position,
            Plan::Decide {
                request: approval,
                withheld: None,
                then: Then::Nothing,
                method: "tools/call".to_owned(),
                id: Some(id.clone()),
            },
        );
        request.target.push_str("+approved");
        request.inputs.push(evidence);
        Approval::Decide
    }

    /// Holds a call the policy denies and asks the user, through `elicitation/create`, whether
    /// to allow it once (T5). The question names the server, the tool and why it was stopped,
    /// and shows the arguments escaped and bounded; the call is decided when the answer comes
    /// (an approval, or the denial with the user's refusal). In the 2026-07-28 era, which has no
    /// requests to the client, the question is the mediator's own `input_required` answer, and
    /// the client's retry of the call carries the user's answer ([`APPROVAL_INPUT_KEY`]).
    fn ask(
        &mut self,
        position: usize,
        id: Id,
        (name, modern): (&str, bool),
        message: &Message,
        (request, rule): (&OwnedRequest, &str),
        batch: &mut Batch,
    ) {
        let Some((action, _)) = request.approvable else { return };
        let reason = self.reason_of(rule);
        let arguments = message.params_ref().and_then(|p| p.get("arguments")).map(Value::to_string).unwrap_or_default();
        let text = format!(
            "AgentK stopped a call of the tool {name} of the MCP server {}: {reason}. Its arguments: {}. \
             Allow this exact call once?",
            self.config.server_id,
            SafeText::with_limit(&arguments, 512).as_str(),
        );
        let schema = serde_json::json!({
            "type": "object",
            "properties": {"approve": {"type": "boolean", "title": "Allow this exact call once"}},
            "required": ["approve"],
        });
        if modern {
            let result = serde_json::json!({
                "resultType": "input_required",
                "inputRequests": {
                    APPROVAL_INPUT_KEY: {
                        "method": "elicitation/create",
                        "params": {"mode": "form", "message": text, "requestedSchema": schema},
                    },
                },
            });
            self.asked.insert(action.0);
            self.asking_modern.insert(action.0);
            batch.push(position, Plan::Now(vec![Out::ToClient(frame::result_answer(&id, &result))]));
            return;
        }
        let mine = Id::number(self.fresh_id());
        let question = serde_json::json!({
            "jsonrpc": "2.0",
            "id": serde_json::from_str::<Value>(mine.json()).unwrap_or(Value::Null),
            "method": "elicitation/create",
            "params": {"message": text, "requestedSchema": schema},
        });
        self.asked.insert(action.0);
        self.asking.insert(mine.json().to_owned(), (id, message.bytes().to_vec(), action));
        batch.push(position, Plan::Now(vec![Out::ToClient(question.to_string().into_bytes())]));
    }

    /// The client's answer to the mediator's own question (`elicitation/create`): the user's
    /// decision is kept for the held call, which is planned again now. Anything but an
    /// `accept` with `approve: true` is a refusal.
    fn user_answered(
        &mut self,
        position: usize,
        message: &Message,
        held: (Id, Vec<u8>, ActionDigest),
        batch: &mut Batch,
    ) {
        let (client_id, bytes, action) = held;
        let approved = approves(message.result_ref());
        let evidence = self.kernel.input(LabelSet::EMPTY, message.bytes());
        self.answered_by_user.insert(action.0, (approved, evidence));
        // INVARIANT: the bytes were read as this request under the same limits when they were
        // held; should they not read again, the client is answered.
        if let Ok(Frame::Single(call)) = Frame::parse(&bytes, &self.config.limits)
            && let Kind::Request { id, method } = call.kind().clone()
        {
            self.plan_client_request(position, id, method, &call, batch);
            return;
        }
        let error = frame::error_answer(Some(&client_id), frame::INTERNAL_ERROR, "the call could not be read again");
        batch.push(position, Plan::Now(vec![Out::ToClient(error)]));
    }

    /// The syscall a client request becomes, its target name, and whether (and why) the
    /// mediator withholds it.
    fn client_request_syscall(
        &self,
        method: &str,
        params: &Value,
    ) -> (Syscall, String, Option<Withhold>, Option<Facets>) {
        let text = |key: &str| params.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
        match method {
            "tools/call" => {
                let name = text("name");
                if !valid_tool_name(&name) {
                    // SECURITY: a name no listed tool can have is not recorded as given.
                    return (Syscall::ToolInvoke, BAD_TOOL_NAME.to_owned(), Some(bad_tool_name()), None);
                }
                // SECURITY: only a tool the server listed and the mediator accepted may be called.
                let (withheld, facets) = match self.tools.get(&name).filter(|_| !name.is_empty()) {
                    Some(ToolState::Accepted(facets)) => (None, Some(*facets)),
                    Some(ToolState::Withheld(why)) => (Some(why.clone()), None),
                    None => (
                        Some(Withhold::new(
                            "the server has not listed this tool in this session",
                            "listing the server's tools first (tools/list)",
                        )),
                        None,
                    ),
                };
                (Syscall::ToolInvoke, name, withheld, facets)
            }
            // SECURITY: what is read or got is named by one string member; without it the
            // request is withheld, never decided on an empty target.
            "resources/read" | "prompts/get" => {
                let (syscall, key) =
                    if method == "prompts/get" { (Syscall::PromptGet, "name") } else { (Syscall::ResourceRead, "uri") };
                let name = text(key);
                let withheld = name.is_empty().then(|| {
                    Withhold::new(
                        format!("the request names no {key}"),
                        "a request that names what it reads as a non-empty string",
                    )
                });
                (syscall, name, withheld, None)
            }
            "tools/list" => (Syscall::ToolDescribe, String::new(), None, None),
            "resources/list" | "resources/templates/list" => (Syscall::ResourceDescribe, String::new(), None, None),
            "prompts/list" => (Syscall::PromptDescribe, String::new(), None, None),
            _ if KNOWN_HOUSEKEEPING.contains(&method) => (Syscall::ContextRead, format!("!{method}"), None, None),
            // A method with no policy: withheld, so the kernel records and denies it.
            _ => (
                Syscall::ContextRead,
                format!("!unknown/{}", SafeText::with_limit(method, 64).as_str()),
                Some(Withhold::new("AgentK has no policy for this MCP method", "a version of AgentK that mediates it")),
                None,
            ),
        }
    }

    fn plan_from_server(&mut self, position: usize, message: Message, batch: &mut Batch, step: &mut Step) {
        match message.kind().clone() {
            Kind::Result { id } | Kind::Error { id: Some(id), .. } => {
                // SECURITY: an answer to a request the server was never sent is dropped.
                let Some(pending) = self.to_server.remove(id.json()) else {
                    step.dropped
                        .push((position, "an answer to a request not forwarded to the server (denied, or never sent)"));
                    return;
                };
                step.answered.push(id.json().to_owned());
                let is_error = matches!(message.kind(), Kind::Error { .. });
                let forward = answer_forwardable(&message, &pending.client_id, None);
                if pending.method == "initialize" && is_error {
                    // The server refused: the client may try again.
                    self.phase = Phase::New;
                }
                if pending.method == "initialize" && !is_error {
                    self.version = message
                        .result()
                        .and_then(|r| r.get("protocolVersion").and_then(Value::as_str).map(str::to_owned));
                    self.phase = Phase::Initialized;
                }
                if let (Some(version), false, Phase::New) = (pending.modern, is_error, self.phase) {
                    // The server answered a request of the 2026-07-28 era: the session speaks it.
                    // An error (a server of the handshake era refusing `server/discover`) leaves
                    // it new, for the client to fall back to `initialize`.
                    self.phase = Phase::Modern;
                    self.version = Some(version.to_owned());
                }
                if pending.method == "tools/list" && !is_error {
                    self.plan_tool_list(position, pending, message, batch, step);
                    return;
                }
                if pending.own {
                    // The server refused the mediator's own listing: recorded, sent to no one.
                    self.own_listing_done();
                    let plan =
                        answer_plan(pending.action, &message, from_server(), Outcome::Error, Out::ToClient(Vec::new()));
                    if let Plan::Record { record, method, id, .. } = plan(pending.method, pending.client_id) {
                        batch.push(position, Plan::Record { record, forward: None, method, id });
                    }
                    return;
                }
                if !is_error && result_type(&message) == Some("input_required") {
                    self.plan_input_required(position, pending, message, batch);
                    return;
                }
                let forward = match (pending.method.as_str(), message.result()) {
                    ("subscriptions/listen", Some(mut result)) if self.config.remap_ids => {
                        // The stream's id is the listen request's, which the server knows as the
                        // mediator's: the client is told its own.
                        set_subscription_id(&mut result, &pending.client_id);
                        answer_forwardable(&message, &pending.client_id, Some(result))
                    }
                    _ => forward,
                };
                let outcome = if is_error || result_is_error(&message) { Outcome::Error } else { Outcome::Ok };
                let returned = pending.action.is_some().then(|| returned_of(&message));
                let plan =
                    returned_plan(pending.action, &message, (from_server(), returned), outcome, Out::ToClient(forward));
                batch.push(position, plan(pending.method, pending.client_id));
            }
            Kind::Error { id: None, .. } => step.dropped.push((position, "an error answer without an id")),
            Kind::Request { id, method } => {
                if self.modern_era() {
                    // SECURITY: the 2026-07-28 era has no requests from the server: what it needs
                    // from the client travels inside an `input_required` answer, mediated there.
                    let why = Withhold::new(
                        "the 2026-07-28 era has no requests from the server: it asks for input in an input_required answer",
                        "a server that speaks the 2026-07-28 era",
                    );
                    let target = format!("!{}", SafeText::with_limit(&method, 64).as_str());
                    let answer = Answer::Error(DENIED);
                    self.refuse_server_request(position, &message, (id, method), (target, why, answer), batch);
                    return;
                }
                if self.phase != Phase::Ready && method != "ping" {
                    // Before the handshake the server may only ping.
                    let why = Withhold::new(
                        "the session is not initialized: the server may not send requests yet",
                        "completing the MCP handshake first",
                    );
                    let target = format!("!{}", SafeText::with_limit(&method, 64).as_str());
                    let answer = Answer::Error(NOT_INITIALIZED);
                    self.refuse_server_request(position, &message, (id, method), (target, why, answer), batch);
                    return;
                }
                let syscall = match method.as_str() {
                    "sampling/createMessage" => Syscall::ModelCall,
                    "elicitation/create" => Syscall::HumanApprove,
                    "roots/list" | "ping" => Syscall::ContextRead,
                    _ => {
                        let why = Withhold::new(
                            "AgentK has no policy for this MCP method",
                            "a version of AgentK that mediates it",
                        );
                        let target = format!("!unknown/{}", SafeText::with_limit(&method, 64).as_str());
                        let answer = Answer::Error(DENIED);
                        self.refuse_server_request(position, &message, (id, method), (target, why, answer), batch);
                        return;
                    }
                };
                let target = self.target(&format!("!{method}"));
                let inputs = vec![self.kernel.input(from_server(), message.params_bytes().unwrap_or_default())];
                let withheld = (self.to_client.len() + batch.inflight.len() >= self.config.max_pending).then(|| {
                    Withhold::new(
                        "too many requests are waiting for the client's answers",
                        "waiting for earlier answers",
                    )
                });
                let (mine, key) = self.forward_id(&id);
                let bytes = forwardable(&message, mine.as_ref());
                batch.inflight.insert(key.clone());
                let pending = PendingToClient { server_id: id.clone(), method: method.clone(), action: None };
                batch.push(
                    position,
                    Plan::Decide {
                        request: OwnedRequest::new(syscall, target, inputs),
                        withheld,
                        then: Then::ToClient {
                            bytes,
                            key: Some(key),
                            pending: Some(pending),
                            server_id: Some(id.clone()),
                            answer: Answer::Error(DENIED),
                        },
                        method,
                        id: Some(id),
                    },
                );
            }
            Kind::Notification { method } => {
                if !self.operating() && method != "notifications/message" {
                    // Before the handshake the server has nothing to tell the client but logs.
                    step.dropped.push((position, "a server notification before the session is initialized"));
                    return;
                }
                if method == "notifications/tools/list_changed" {
                    // The list may change: nothing is accepted until it is listed again.
                    self.tools.clear();
                    self.listed = false;
                }
                let mut rewritten: Option<Value> = None;
                if method == "notifications/cancelled" {
                    // The server names its own id; the client knows the mediator's. In the
                    // 2026-07-28 era the server cancels only to end a `subscriptions/listen`
                    // stream, which it names by the listen request's id (the mediator's).
                    let params = message.params().unwrap_or(Value::Null);
                    let wanted = params.get("requestId").map(Value::to_string).unwrap_or_default();
                    let listen = self.open_listen(&wanted);
                    let mapped = map_cancellation(&params, |wanted| {
                        self.to_client
                            .iter()
                            .find(|(_, p)| p.server_id.json() == wanted)
                            .map(|(key, _)| key.clone())
                            .or_else(|| listen.as_ref().map(|id| id.json().to_owned()))
                    });
                    let Some(mapped) = mapped else {
                        step.dropped.push((position, "a cancellation of no request in flight"));
                        return;
                    };
                    if listen.is_some() && self.to_server.remove(&wanted).is_some() {
                        step.answered.push(wanted);
                    }
                    rewritten = Some(mapped);
                }
                let subscription =
                    message.params_ref().and_then(|p| p.get("_meta")).and_then(|m| m.get(SUBSCRIPTION_ID_META));
                if let (Some(wanted), true) = (subscription, self.config.remap_ids) {
                    // A notification of a `subscriptions/listen` stream names the listen request
                    // by the id the server knows (the mediator's); the client is told its own.
                    // One that names no open stream is dropped.
                    let Some(client_id) = self.open_listen(&wanted.to_string()) else {
                        step.dropped.push((position, "a notification of no open subscription"));
                        return;
                    };
                    let mut params = rewritten.take().or_else(|| message.params()).unwrap_or(Value::Null);
                    if let Some(meta) = params.get_mut("_meta").and_then(Value::as_object_mut) {
                        let id: Value = serde_json::from_str(client_id.json()).unwrap_or(Value::Null);
                        meta.insert(SUBSCRIPTION_ID_META.to_owned(), id);
                    }
                    strip_meta(&mut params);
                    rewritten = Some(params);
                }
                let bytes = match &rewritten {
                    Some(params) => rebuild(&message, None, Some(params)),
                    None => forwardable(&message, None),
                };
                let inputs = vec![self.kernel.input(from_server(), message.bytes())];
                let (name, withheld) = method_target(&method);
                let request = OwnedRequest::new(Syscall::ContextRead, self.target(&name), inputs);
                let then =
                    Then::ToClient { bytes, key: None, pending: None, server_id: None, answer: Answer::Error(DENIED) };
                batch.push(position, Plan::Decide { request, withheld, then, method, id: None });
            }
        }
    }

    /// An answer that asks the client for input before the request can complete (the
    /// 2026-07-28 era's `input_required`, SEP-2322): recorded as the output of the request it
    /// answers, then each request it embeds decided as the 2025 era's request from the server
    /// is (`sampling/createMessage` a `model.call`, `elicitation/create` a `human.approve`,
    /// `roots/list` a `context.read`, any other denied). It reaches the client only when every
    /// one is allowed; otherwise the client gets the first denial, and nothing of what was
    /// denied.
    fn plan_input_required(&mut self, position: usize, pending: Pending, message: Message, batch: &mut Batch) {
        let result = message.result_ref();
        let requests = result.and_then(|r| r.get("inputRequests")).and_then(Value::as_object).cloned();
        let state = result.and_then(|r| r.get("requestState")).map(Value::to_string).unwrap_or_default();
        let returned = pending.action.is_some().then(|| returned_of(&message));
        let plan =
            returned_plan(pending.action, &message, (from_server(), returned), Outcome::Ok, Out::ToClient(Vec::new()));
        if let Plan::Record { record, method, id, .. } = plan(pending.method.clone(), pending.client_id.clone()) {
            batch.push(position, Plan::Record { record, forward: None, method, id });
        }
        let answer = if pending.method == "tools/call" { Answer::ModernCallResult } else { Answer::Error(DENIED) };
        let round = batch.rounds.len();
        let requests = requests.unwrap_or_default();
        // Each embedded request: its syscall and target name, why it is withheld, what it asks
        // (its params), its key and method.
        let mut embedded: Vec<Embedded> = Vec::new();
        if requests.len() > MAX_INPUT_REQUESTS {
            // SECURITY: each embedded request is a decision in the log; a server cannot make the
            // log grow without bound by asking for many at once.
            let why = Withhold::new(
                "the server asked for more input at once than AgentK mediates",
                "a server that asks for at most 16 inputs at once",
            );
            let bytes = message.result_bytes().unwrap_or_default().to_vec();
            let method = pending.method.clone();
            embedded.push((Syscall::ContextRead, "!input_required".to_owned(), Some(why), bytes, None, method));
        } else {
            for (key, request) in &requests {
                let method = request.get("method").and_then(Value::as_str).unwrap_or_default();
                let params = request.get("params").map(Value::to_string).unwrap_or_default().into_bytes();
                let (syscall, name, mut why) = match method {
                    "sampling/createMessage" => (Syscall::ModelCall, format!("!{method}"), None),
                    "elicitation/create" => (Syscall::HumanApprove, format!("!{method}"), None),
                    "roots/list" => (Syscall::ContextRead, format!("!{method}"), None),
                    _ => (
                        Syscall::ContextRead,
                        format!("!unknown/{}", SafeText::with_limit(method, 64).as_str()),
                        Some(Withhold::new(
                            "AgentK has no policy for this MCP method",
                            "a version of AgentK that mediates it",
                        )),
                    ),
                };
                if is_ours(key) {
                    // SECURITY: a server cannot pass its question off as AgentK's own.
                    why = Some(Withhold::new(
                        "the server named its input request with AgentK's own key",
                        "a server that names its input requests with its own keys",
                    ));
                } else if key.is_empty() || key.len() > MAX_INPUT_KEY_BYTES {
                    why = Some(Withhold::new(
                        "the key of the server's input request is empty or longer than 256 bytes",
                        "a server that names its input requests with short keys",
                    ));
                }
                let method = SafeText::with_limit(method, 64).as_str().to_owned();
                embedded.push((syscall, name, why, params, Some(key.clone()), method));
            }
        }
        let total = embedded.len();
        for (syscall, name, withheld, params, key, method) in embedded {
            let inputs = vec![self.kernel.input(from_server(), &params)];
            let request = OwnedRequest::new(syscall, self.target(&name), inputs);
            let then = Then::Embedded { round, key, method: method.clone() };
            let id = Some(pending.client_id.clone());
            batch.push(position, Plan::Decide { request, withheld, then, method, id });
        }
        let client_id = pending.client_id;
        if total == 0 {
            // Nothing to decide (the answer carries only the server's state): it goes back now.
            let forward = answer_forwardable(&message, &client_id, None);
            batch.push(position, Plan::Now(vec![Out::ToClient(forward)]));
            return;
        }
        let binding = (pending.method, pending.subject, state);
        let allowed = Vec::new();
        batch.rounds.push(InputRound { client_id, message, answer, binding, total, decided: 0, denial: None, allowed });
    }

    /// Plans a server request refused before any policy is asked (withheld, so the kernel
    /// records and denies it): `name` is the target's name under the server, `why` the reason,
    /// `answer` how the server is told.
    fn refuse_server_request(
        &mut self,
        position: usize,
        message: &Message,
        (id, method): (Id, String),
        (name, why, answer): (String, Withhold, Answer),
        batch: &mut Batch,
    ) {
        let inputs = vec![self.kernel.input(from_server(), message.params_bytes().unwrap_or_default())];
        let request = OwnedRequest::new(Syscall::ContextRead, self.target(&name), inputs);
        let then = Then::ToClient { bytes: Vec::new(), key: None, pending: None, server_id: Some(id.clone()), answer };
        batch.push(position, Plan::Decide { request, withheld: Some(why), then, method, id: Some(id) });
    }

    /// A `tools/list` answer: one `tool.describe` per descriptor, recorded as digests of the
    /// descriptor and its schema. A descriptor that tries to steer the agent is labelled
    /// `poisoned-suspect` and withheld; one that differs from its pin is withheld until the
    /// operator accepts it; a new clean one is pinned.
    fn plan_tool_list(
        &mut self,
        position: usize,
        pending: Pending,
        message: Message,
        batch: &mut Batch,
        step: &mut Step,
    ) {
        let tools = message.result_ref().and_then(|r| r.get("tools")).and_then(Value::as_array).cloned();
        let refusal = match &tools {
            None => Some("the server's tools/list answer has no list of tools"),
            Some(tools) if tools.len() > self.config.max_tools => {
                Some("the server lists more tools than AgentK keeps track of")
            }
            Some(_) => None,
        };
        // The listing itself is recorded as the output of the request that asked for it; a
        // listing that cannot be read, or is larger than AgentK tracks, goes back as an error
        // and nothing of it reaches the client.
        let outcome = if refusal.is_some() { Outcome::Error } else { Outcome::Ok };
        let forward = match refusal {
            Some(problem) => {
                Out::ToClient(frame::error_answer(Some(&pending.client_id), frame::INTERNAL_ERROR, problem))
            }
            None => Out::ToClient(Vec::new()),
        };
        let (action, method) = (pending.action, pending.method.clone());
        let tools = tools.unwrap_or_default();
        let verdicts = crate::scan::scan_tools(&tools);
        // T2: the descriptors are remembered as returned content; a flagged one is suspect as a
        // whole (the descriptor scanner, not the span finder, judges text written for the model).
        let returned = (refusal.is_none() && action.is_some()).then(|| {
            let mut returned = Returned::default();
            for (index, tool) in tools.iter().enumerate() {
                let mut one = crate::provenance::returned_text_with(tool, |_| Vec::new());
                if verdicts.get(index).is_none_or(crate::scan::Verdict::is_suspect) {
                    for leaf in &mut one.leaves {
                        leaf.suspect = std::iter::once(0..leaf.text.len()).filter(|r| !r.is_empty()).collect();
                    }
                }
                returned.truncated |= one.truncated;
                returned.leaves.extend(one.leaves);
            }
            (returned, from_server())
        });
        let plan = returned_plan(action, &message, (from_server(), returned), outcome, forward);
        match (refusal, plan(method, pending.client_id.clone())) {
            (Some(_), Plan::Record { record, method, id, .. }) if pending.own => {
                // The mediator's own listing: recorded, sent to no one.
                self.own_listing_done();
                batch.push(position, Plan::Record { record, forward: None, method, id });
                return;
            }
            (Some(_), plan) => {
                if pending.own {
                    self.own_listing_done();
                } else {
                    batch.push(position, plan);
                }
                return;
            }
            // The answer goes back once every tool is decided (below).
            (None, Plan::Record { record, method, id, .. }) => {
                batch.push(position, Plan::Record { record, forward: None, method, id });
            }
            (None, _) => {}
        }
        let list = batch.lists.len();
        let mut seen = BTreeSet::new();
        let twice: BTreeSet<&str> =
            tools.iter().filter_map(|t| t.get("name").and_then(Value::as_str)).filter(|n| !seen.insert(*n)).collect();
        for (index, tool) in tools.iter().enumerate() {
            let name = tool.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
            let digest = pins::digest(tool);
            let findings = verdicts.get(index).map_or_else(|| Some("not scanned".to_owned()), findings_of);
            let pinned = self.config.pins.get(&name).copied();
            let mut labels = from_server();
            if findings.is_some() {
                labels = labels | LabelSet::of(Label::PoisonedSuspect);
            }
            let mut pin = None;
            let known = self.tools.len() + index;
            let target = if valid_tool_name(&name) { self.target(&name) } else { self.target(BAD_TOOL_NAME) };
            let withheld = if !valid_tool_name(&name) {
                // SECURITY: a name outside the specification's is neither pinned nor tracked,
                // and reaches the log only as the descriptor's digest.
                Some(bad_tool_name())
            } else if known >= self.config.max_tools && !self.tools.contains_key(&name) {
                Some(Withhold::new(
                    "the server lists more tools than AgentK keeps track of",
                    "a server with fewer tools",
                ))
            } else if twice.contains(name.as_str()) {
                Some(Withhold::new("the server listed two tools under this name", "a server that lists each tool once"))
            } else if pinned == Some(digest) {
                // The operator accepted exactly this descriptor (a flagged one included: the
                // operator's decision overrides the scanner).
                None
            } else if let Some(findings) = &findings {
                step.pins.push(PinEvent::Flagged { tool: name.clone(), digest, findings: findings.clone() });
                Some(Withhold::new(
                    format!("the tool's descriptor tries to steer the agent ({findings})"),
                    "an operator accepting this descriptor (agentk mcp-pins --accept)",
                ))
            } else if let Some(pinned) = pinned {
                step.pins.push(PinEvent::Changed { tool: name.clone(), pinned, offered: digest });
                Some(Withhold::new(
                    "the tool's descriptor changed since the operator accepted it",
                    "an operator accepting the new descriptor (agentk mcp-pins --accept)",
                ))
            } else if self.config.pins.len() >= self.config.max_tools.saturating_mul(2) {
                Some(Withhold::new("the server has named more tools than AgentK keeps pins for", "a new session"))
            } else {
                // Pinned once the describe is allowed (`then`).
                pin = Some(digest);
                None
            };
            let facets = self.facets(&name, tool);
            let schema = tool.get("inputSchema").map(Value::to_string).unwrap_or_default();
            let inputs = vec![
                self.kernel.input(labels, tool.to_string().as_bytes()),
                self.kernel.input(labels, schema.as_bytes()),
            ];
            batch.push(
                position,
                Plan::Decide {
                    request: OwnedRequest::new(Syscall::ToolDescribe, target, inputs),
                    withheld,
                    then: Then::ListedTool { list, index, name, pin, facets },
                    method: "tools/list".to_owned(),
                    id: Some(pending.client_id.clone()),
                },
            );
        }
        let keep = vec![false; tools.len()];
        if tools.is_empty() {
            // Nothing to decide: the answer goes back once the listing is recorded.
            if self.listing_complete(pending.own, &message) {
                let answer = answer_forwardable(&message, &pending.client_id, None);
                batch.push(position, Plan::Now(vec![Out::ToClient(answer)]));
            }
        }
        batch.lists.push(ToolList { own: pending.own, client_id: pending.client_id, message, tools, keep, decided: 0 });
    }

    /// What calling the tool `name` does: the policy's `[[tools]]` class first, else the
    /// annotations of its descriptor (counted only once it is accepted, so pinned), else a
    /// side-effecting, open-world `write` (the MCP specification's defaults: not read-only,
    /// open world).
    fn facets(&self, name: &str, tool: &Value) -> Facets {
        let hint = |key: &str| tool.get("annotations").and_then(|a| a.get(key)).and_then(Value::as_bool);
        let open = hint("openWorldHint").unwrap_or(true);
        if let Some(rule) = self.kernel.policy().tool_class(&self.config.server_id, name) {
            return Facets { class: rule.class(), open: rule.open_world().unwrap_or(open) };
        }
        let class = match (hint("readOnlyHint"), hint("destructiveHint")) {
            (Some(true), _) => ToolClass::Read,
            (_, Some(true)) => ToolClass::Delete,
            _ => ToolClass::Write,
        };
        Facets { class, open }
    }

    fn then(
        &mut self,
        then: Then,
        done: &Decision<'_>,
        step: &mut Step,
        (lists, finished): (&mut [ToolList], &mut [Option<Vec<u8>>]),
        rounds: &mut [InputRound],
    ) {
        let allowed = done.decided.is_allowed();
        match then {
            Then::ToServer { bytes, key, pending, answer, client_id, cancels } => {
                if !allowed && pending.as_ref().is_some_and(|p| p.own) {
                    // The policy refused the mediator's own listing: the waiting calls are
                    // decided as not listed.
                    self.own_listing_done();
                }
                if allowed {
                    // A `subscriptions/listen` stays open as long as the subscription: the
                    // transport does not time it out.
                    if let Some(key) =
                        key.as_ref().filter(|_| pending.as_ref().is_none_or(|p| p.method != "subscriptions/listen"))
                    {
                        step.forwarded.push(key.clone());
                    }
                    // A cancelled request waits for nothing more (the server need not answer
                    // it, and an answer that comes anyway is not passed on).
                    if let Some(cancelled) = cancels
                        && self.to_server.remove(&cancelled).is_some()
                    {
                        step.answered.push(cancelled);
                    }
                    if let (Some(mut pending), Some(key)) = (pending, key) {
                        pending.action = done.decided.action();
                        if !self.config.remap_ids {
                            self.sent_order.push_back((pending.sent, key.clone()));
                            if self.sent_order.len() > self.config.max_pending.saturating_mul(2) {
                                // Answered requests leave stale entries behind; drop them.
                                let live = &self.to_server;
                                self.sent_order.retain(|(sent, key)| live.get(key).is_some_and(|p| p.sent == *sent));
                            }
                        }
                        self.to_server.insert(key, pending);
                    }
                    step.outputs.push(Out::ToServer(bytes));
                } else if let Some(client_id) = client_id {
                    // A denied initialize (not a refused second one) leaves the session new.
                    if pending.as_ref().is_some_and(|p| p.method == "initialize") && done.withheld.is_none() {
                        self.phase = Phase::New;
                    }
                    step.outputs.push(Out::ToClient(self.denial(&client_id, done, answer)));
                }
            }
            Then::ToClient { bytes, key, pending, server_id, answer } => {
                if allowed {
                    if let (Some(mut pending), Some(key)) = (pending, key) {
                        pending.action = done.decided.action();
                        self.to_client.insert(key, pending);
                    }
                    step.outputs.push(Out::ToClient(bytes));
                } else if let Some(server_id) = server_id {
                    step.outputs.push(Out::ToServer(self.denial(&server_id, done, answer)));
                }
            }
            Then::Nothing => {}
            Then::Embedded { round, key, method } => {
                let Some(round) = rounds.get_mut(round) else { return };
                round.decided += 1;
                match (allowed, key, done.decided.action()) {
                    (true, Some(key), Some(action)) => round.allowed.push((key, action, method)),
                    _ if allowed => {}
                    _ => {
                        if round.denial.is_none() {
                            round.denial = Some(self.denial(&round.client_id, done, round.answer.clone()));
                        }
                    }
                }
                if round.decided < round.total {
                    return;
                }
                if let Some(denial) = round.denial.take() {
                    // SECURITY: nothing of an answer whose input request was denied reaches the
                    // client.
                    step.outputs.push(Out::ToClient(denial));
                    return;
                }
                let (method, subject, state) = &round.binding;
                for (key, action, embedded) in std::mem::take(&mut round.allowed) {
                    self.await_input(input_binding((method, subject, state), &key), action, embedded);
                }
                step.outputs.push(Out::ToClient(answer_forwardable(&round.message, &round.client_id, None)));
            }
            Then::ListedTool { list, index, name, pin, facets } => {
                let Some(tools) = lists.get_mut(list) else { return };
                if let Some(keep) = tools.keep.get_mut(index) {
                    *keep = allowed;
                }
                if let (true, Some(digest)) = (allowed, pin) {
                    self.config.pins.insert(name.clone(), digest);
                    step.pins.push(PinEvent::Pinned { tool: name.clone(), digest });
                }
                let state = match (allowed, done.withheld) {
                    (true, _) => ToolState::Accepted(facets),
                    (false, Some(why)) => ToolState::Withheld(why.clone()),
                    (false, None) => ToolState::Withheld(Withhold::new(
                        format!("the policy denied describing it (rule `{}`)", done.decided.rule),
                        "a policy that allows describing this tool",
                    )),
                };
                if valid_tool_name(&name)
                    && (self.tools.len() < self.config.max_tools || self.tools.contains_key(&name))
                {
                    self.tools.insert(name, state);
                }
                tools.decided += 1;
                if tools.decided == tools.tools.len()
                    && self.listing_complete(tools.own, &tools.message)
                    && let Some(slot) = finished.get_mut(list)
                {
                    *slot = Some(list_answer(tools));
                }
            }
        }
    }

    /// The answer to a denied request: a `CallToolResult` the model sees for `tools/call`, a
    /// JSON-RPC error otherwise; both carry `_meta["agentk/denial"]`.
    fn denial(&self, id: &Id, done: &Decision<'_>, answer: Answer) -> Vec<u8> {
        let Decision { decided, request, withheld } = *done;
        let explained = self.kernel.explain(&request.syscall_request(&self.config.agent), decided).ok();
        let (mut reason, mut remedy) = match withheld {
            Some(why) => (why.reason.clone(), why.remedy.to_owned()),
            None => (
                explained.as_ref().map_or_else(|| self.reason_of(&decided.rule), |e| e.reason.clone()),
                explained
                    .and_then(|e| e.remedy.map(|r| r.to_string()))
                    .unwrap_or_else(|| "an operator decision (a policy change)".to_owned()),
            ),
        };
        // T5: a policy's denial of a call a person may lift names the exact action, for
        // `agentk approve --action`; the mediator's own withholding is lifted by pins instead.
        let liftable = request.approvable.as_ref().filter(|_| withheld.is_none());
        let action = match liftable {
            Some((action, note)) => {
                remedy.push_str(", or a person's signed approval of this exact call (agentk approve)");
                if let Some(note) = note {
                    reason.push_str("; ");
                    reason.push_str(note);
                }
                action.to_hex()
            }
            None => action_digest(&request.target, &request.inputs),
        };
        let meta = serde_json::json!({
            "rule": decided.rule,
            "reason": reason,
            "action": action,
            "event": decided.seq,
        });
        // The target is not repeated: a name the server or the client chose is never echoed.
        let text = format!(
            "AgentK denied this {}: {reason} (rule `{}`). What would allow it: {remedy}.",
            request.syscall.name(),
            decided.rule
        );
        let error = |code: i64, mut data: Map<String, Value>| {
            data.insert(DENIAL_META.to_owned(), meta.clone());
            let error = serde_json::json!({"code": code, "message": text, "data": data});
            format!("{{\"jsonrpc\":\"2.0\",\"id\":{},\"error\":{error}}}", id.json()).into_bytes()
        };
        match answer {
            Answer::CallResult | Answer::ModernCallResult => {
                let mut result = serde_json::json!({
                    "content": [{"type": "text", "text": text}],
                    "isError": true,
                    "_meta": {DENIAL_META: meta},
                });
                if let (Answer::ModernCallResult, Some(object)) = (&answer, result.as_object_mut()) {
                    // The 2026-07-28 era's results say what they are; this one is final.
                    object.insert("resultType".to_owned(), Value::String("complete".to_owned()));
                }
                frame::result_answer(id, &result)
            }
            Answer::Error(code) => error(code, Map::new()),
            Answer::Unsupported(requested) => {
                let mut data = Map::new();
                data.insert("supported".to_owned(), Value::from(MODERN_VERSIONS.to_vec()));
                data.insert("requested".to_owned(), Value::String(requested));
                error(UNSUPPORTED_VERSION, data)
            }
        }
    }
}

/// A decision and what it was about.
#[derive(Clone, Copy)]
struct Decision<'a> {
    decided: &'a Decided,
    request: &'a OwnedRequest,
    withheld: Option<&'a Withhold>,
}

/// The plan for an answer to forward: first recorded as the output of the allowed request it
/// answers (when that request was decided), then forwarded. Takes the request's method and id.
fn answer_plan(
    action: Option<Action>,
    message: &Message,
    labels: LabelSet,
    outcome: Outcome,
    forward: Out,
) -> impl FnOnce(String, Id) -> Plan {
    returned_plan(action, message, (labels, None), outcome, forward)
}

/// [`answer_plan`] for an answer the client receives: `returned` is what of it to remember,
/// with the labels of its clean parts. The output is labelled `poisoned-suspect` when any span
/// of it tries to steer the agent.
fn returned_plan(
    action: Option<Action>,
    message: &Message,
    (mut labels, returned): (LabelSet, Option<(Returned, LabelSet)>),
    outcome: Outcome,
    forward: Out,
) -> impl FnOnce(String, Id) -> Plan {
    let content = action.is_some().then(|| message.bytes().to_vec());
    if returned.as_ref().is_some_and(|(r, _)| r.is_suspect()) {
        labels = labels | LabelSet::of(Label::PoisonedSuspect);
    }
    move |method, id| match (action, content) {
        (Some(action), Some(content)) => Plan::Record {
            record: OwnedOutput { action, content, labels, outcome, returned },
            forward: Some(forward),
            method,
            id: Some(id),
        },
        _ => Plan::Now(vec![forward]),
    }
}

/// The 2026-07-28 era's version a message's envelope (`params._meta`) names, when it is one
/// AgentK speaks ([`MODERN_VERSIONS`]): such a request needs no handshake. A transport (the HTTP
/// gateway) may ask this to route a request before it is mediated.
pub fn modern_version(message: &Message) -> Option<&'static str> {
    known_modern(message.params_ref().and_then(|p| p.get("_meta")).and_then(|m| m.get(PROTOCOL_VERSION_META)))
}

/// Whether a message's `params._meta` carries a protocol version at all (the 2026-07-28 era's
/// envelope), known to AgentK or not.
pub fn enveloped(message: &Message) -> bool {
    message.params_ref().and_then(|p| p.get("_meta")).and_then(|m| m.get(PROTOCOL_VERSION_META)).is_some()
}

/// The entry of [`MODERN_VERSIONS`] that `version` names, if any.
fn known_modern(version: Option<&Value>) -> Option<&'static str> {
    let version = version?.as_str()?;
    MODERN_VERSIONS.iter().copied().find(|v| *v == version)
}

/// A requested protocol version as an error's `data.requested` repeats it: only a short string
/// of the characters versions are written in; anything else is not repeated (empty).
fn shown_version(version: Option<&Value>) -> String {
    match version.and_then(Value::as_str) {
        Some(text)
            if text.len() <= 32
                && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')) =>
        {
            text.to_owned()
        }
        _ => String::new(),
    }
}

/// The envelope of a 2026-07-28 request, as the mediator's own requests on its behalf carry
/// it: its version, capabilities and client information, nothing else of its `_meta` (not its
/// progress token, nor AgentK's own keys).
fn envelope_of(params: &Value) -> Option<Value> {
    let meta = params.get("_meta")?.as_object()?;
    let envelope: Map<String, Value> = [PROTOCOL_VERSION_META, CLIENT_CAPABILITIES_META, CLIENT_INFO_META]
        .iter()
        .filter_map(|key| meta.get(*key).map(|value| ((*key).to_owned(), value.clone())))
        .collect();
    Some(Value::Object(envelope))
}

/// Whether a 2026-07-28 request's client says it answers elicitations (capabilities travel
/// with each request in that era, and hold for that request only).
fn envelope_elicits(params: &Value) -> bool {
    params
        .get("_meta")
        .and_then(|meta| meta.get(CLIENT_CAPABILITIES_META))
        .and_then(|capabilities| capabilities.get("elicitation"))
        .is_some_and(Value::is_object)
}

/// Whether an answer to the mediator's question allows the call: an `accept` with
/// `approve: true`, and nothing else.
fn approves(result: Option<&Value>) -> bool {
    result.and_then(|r| r.get("action")).and_then(Value::as_str) == Some("accept")
        && result.and_then(|r| r.get("content")).and_then(|c| c.get("approve")).and_then(Value::as_bool) == Some(true)
}

/// What binds a request a server embedded in its `input_required` answer to the client's
/// answer in the retry: the method and subject (tool, URI, prompt) of the request retried, the
/// answer's `requestState` (as JSON text, empty when there is none), and the embedded request's
/// key. Keys alone are the server's choice and repeat across calls.
fn input_binding((method, subject, state): (&str, &str, &str), key: &str) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new_derive_key("agentk mcp input request v1");
    for part in [method, subject, state, key] {
        hasher.update(&(part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    *hasher.finalize().as_bytes()
}

/// An id as shown in a report: a number as written, a string escaped and bounded.
fn shown_id(id: &Id) -> Value {
    match serde_json::from_str::<Value>(id.json()) {
        Ok(Value::String(text)) => Value::String(SafeText::with_limit(&text, 64).as_str().to_owned()),
        Ok(number @ Value::Number(_)) => number,
        _ => Value::Null,
    }
}

/// What the scanner found in one descriptor, as kinds and fields (never descriptor text), or
/// `None` when it found nothing.
fn findings_of(verdict: &crate::scan::Verdict) -> Option<String> {
    if !verdict.is_suspect() {
        return None;
    }
    let shown: Vec<String> = verdict
        .findings
        .iter()
        .take(4)
        .map(|f| {
            // Only the descriptor's own top-level fields are named: a deeper path would repeat
            // property names the server chose, and the model reads this text.
            let top = f.field.split('/').next().unwrap_or_default();
            match DESCRIPTOR_FIELDS.iter().find(|field| **field == top) {
                _ if f.field.is_empty() => f.kind.slug().to_owned(),
                Some(field) if f.field == *field => format!("{} in `{field}`", f.kind.slug()),
                Some(field) => format!("{} inside `{field}`", f.kind.slug()),
                None => format!("{} in another field", f.kind.slug()),
            }
        })
        .collect();
    let more = verdict.findings.len().saturating_sub(shown.len());
    let mut text = shown.join("; ");
    if more > 0 {
        text.push_str(&format!("; {more} more"));
    }
    Some(text)
}

/// Whether `name` is a tool name the mediator shows, tracks and pins: 1 to
/// [`MAX_TOOL_NAME_BYTES`] bytes of ASCII letters, digits, `_`, `-`, `.` and `/`.
fn valid_tool_name(name: &str) -> bool {
    (1..=MAX_TOOL_NAME_BYTES).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/'))
}

/// Why a tool with a name outside [`valid_tool_name`] is withheld (the name is not repeated).
fn bad_tool_name() -> Withhold {
    Withhold::new(
        "the tool's name is not 1 to 128 ASCII letters, digits, `_`, `-`, `.` or `/` (the MCP specification's tool names)",
        "a server whose tool names follow the MCP specification",
    )
}

/// The target name (under `mcp://SERVER/`) a notification's method is recorded under, and
/// whether it is withheld: `!METHOD` for a method of at most [`MAX_METHOD_BYTES`] bytes of
/// printable ASCII; any other is withheld under a bounded, escaped form of it.
fn method_target(method: &str) -> (String, Option<Withhold>) {
    if !method.is_empty() && method.len() <= MAX_METHOD_BYTES && method.bytes().all(|b| b.is_ascii_graphic()) {
        return (format!("!{method}"), None);
    }
    (
        format!("!unknown/{}", SafeText::with_limit(method, 64).as_str()),
        Some(Withhold::new(
            "the method's name is empty, longer than 128 bytes, or not printable ASCII",
            "a method named as MCP names its methods",
        )),
    )
}

/// The top-level fields of a tool descriptor, the only ones named in a reason.
const DESCRIPTOR_FIELDS: [&str; 8] =
    ["name", "title", "description", "inputSchema", "outputSchema", "annotations", "icons", "_meta"];

/// Housekeeping methods passed by policy as `context.read` of `mcp://SERVER/!method`.
const KNOWN_HOUSEKEEPING: [&str; 9] = [
    "initialize",
    "server/discover",
    "subscriptions/listen",
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

/// What of an answer the client (or, for sampling, the server) receives is remembered: the
/// text of its result or error, and the labels of its clean parts (`untrusted`, `external`).
/// An error's output event is `poisoned-suspect` as a whole (M3), but its spans are found like
/// any text's: an error commonly repeats the caller's own arguments (a path it refused), and a
/// retry with the same value must not be refused for that.
fn returned_of(message: &Message) -> (Returned, LabelSet) {
    let returned = match message.kind() {
        Kind::Error { error, .. } => crate::provenance::returned_text(
            &serde_json::json!({"message": error.message, "data": error.data.clone().unwrap_or(Value::Null)}),
        ),
        _ => crate::provenance::returned_text(message.result_ref().unwrap_or(&Value::Null)),
    };
    (returned, from_server())
}

/// The most inputs a call's provenance adds (one per answer and label set it was traced to).
const MAX_TRACED_INPUTS: usize = 32;

/// The string and number leaves of a call's arguments, to trace (bounded in depth; deeper
/// values are traced as their JSON text).
fn argument_leaves(value: &Value, depth: usize, out: &mut Vec<String>) {
    match value {
        Value::String(text) => out.push(text.clone()),
        Value::Number(number) => out.push(number.to_string()),
        Value::Array(items) if depth < 32 => items.iter().for_each(|item| argument_leaves(item, depth + 1, out)),
        Value::Object(map) if depth < 32 => map.values().for_each(|item| argument_leaves(item, depth + 1, out)),
        Value::Array(_) | Value::Object(_) => out.push(value.to_string()),
        Value::Bool(_) | Value::Null => {}
    }
}

/// The 2026-07-28 era's `resultType` of an answer's result, if it says one.
fn result_type(message: &Message) -> Option<&str> {
    message.result_ref().and_then(|r| r.get("resultType")).and_then(Value::as_str)
}

/// Puts `id` as the subscription's id in a `subscriptions/listen` result's `_meta`, where the
/// server named it.
fn set_subscription_id(result: &mut Value, id: &Id) {
    if let Some(meta) = result.get_mut("_meta").and_then(Value::as_object_mut)
        && meta.contains_key(SUBSCRIPTION_ID_META)
    {
        meta.insert(SUBSCRIPTION_ID_META.to_owned(), serde_json::from_str(id.json()).unwrap_or(Value::Null));
    }
}

/// Whether a result is a `CallToolResult` with `isError: true`.
fn result_is_error(message: &Message) -> bool {
    message.result().and_then(|r| r.get("isError").and_then(Value::as_bool)).unwrap_or(false)
}

/// A cancellation's `params` with `requestId` mapped by `lookup` from the sender's id to the id
/// the other side knows, and AgentK's own keys taken out; `None` when it names no request in
/// flight.
fn map_cancellation(params: &Value, lookup: impl Fn(&str) -> Option<String>) -> Option<Value> {
    let wanted = params.get("requestId")?.to_string();
    let mapped: Value = serde_json::from_str(&lookup(&wanted)?).ok()?;
    let mut params = params.clone();
    params.as_object_mut()?.insert("requestId".to_owned(), mapped);
    strip_meta(&mut params);
    Some(params)
}

/// Whether `key` names `_meta`, as the most lenient peer would read it.
fn is_meta(key: &str) -> bool {
    frame::fold(key) == "_meta"
}

/// Whether `key` is one of AgentK's own keys, as the most lenient peer would read it.
fn is_ours(key: &str) -> bool {
    frame::fold(key).starts_with("agentk/")
}

/// Whether `object` (a `params` or a `result`) has AgentK's own keys in its `_meta`.
fn meta_has_ours(object: Option<&Value>) -> bool {
    object.and_then(Value::as_object).is_some_and(|o| {
        o.iter().any(|(k, v)| is_meta(k) && v.as_object().is_some_and(|meta| meta.keys().any(|k| is_ours(k))))
    })
}

/// Takes AgentK's own keys out of `object`'s `_meta` (a `_meta` left empty goes too).
fn strip_meta(object: &mut Value) {
    let Some(object) = object.as_object_mut() else { return };
    for (key, meta) in object.iter_mut() {
        if is_meta(key)
            && let Some(meta) = meta.as_object_mut()
        {
            meta.retain(|k, _| !is_ours(k));
        }
    }
    object.retain(|k, v| !(is_meta(k) && v.as_object().is_some_and(Map::is_empty)));
}

/// The message to forward: with its id replaced (when given), and without AgentK's own `_meta`
/// keys (the only case where the bytes change beyond the id and members JSON-RPC does not
/// define).
fn forwardable(message: &Message, id: Option<&Id>) -> Vec<u8> {
    if !meta_has_ours(message.params_ref()) {
        return match id {
            Some(id) => message.with_id(id),
            None => message.forwardable_bytes(),
        };
    }
    let mut params = message.params().unwrap_or(Value::Null);
    strip_meta(&mut params);
    rebuild(message, id, Some(&params))
}

/// A server's answer to forward under `id`: byte for byte but for the id, unless it carries
/// AgentK's own keys (`result._meta["agentk/…"]`, `error.data["agentk/…"]`), which a server
/// could use to pass its own text off as AgentK's denial; those are taken out. `result`, when
/// given, replaces the answer's own (a listing with withheld tools taken out).
fn answer_forwardable(message: &Message, id: &Id, result: Option<Value>) -> Vec<u8> {
    let error = match message.kind() {
        Kind::Error { error, .. } => Some(error),
        _ => None,
    };
    let data_ours =
        error.is_some_and(|e| e.data.as_ref().and_then(Value::as_object).is_some_and(|d| d.keys().any(|k| is_ours(k))));
    if result.is_none() && !data_ours && !meta_has_ours(message.result_ref()) {
        return message.with_id(id);
    }
    let mut object = Map::new();
    object.insert("jsonrpc".to_owned(), Value::String("2.0".to_owned()));
    object.insert("id".to_owned(), serde_json::from_str(id.json()).unwrap_or(Value::Null));
    if let Some(mut result) = result.or_else(|| message.result()) {
        strip_meta(&mut result);
        object.insert("result".to_owned(), result);
    }
    if let Some(error) = error {
        let mut e = Map::new();
        e.insert("code".to_owned(), Value::from(error.code));
        e.insert("message".to_owned(), Value::String(error.message.clone()));
        if let Some(mut data) = error.data.clone() {
            if let Some(data) = data.as_object_mut() {
                data.retain(|k, _| !is_ours(k));
            }
            e.insert("data".to_owned(), data);
        }
        object.insert("error".to_owned(), Value::Object(e));
    }
    Value::Object(object).to_string().into_bytes()
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
/// otherwise with the withheld tools taken out; without AgentK's own keys either way.
fn list_answer(list: &ToolList) -> Vec<u8> {
    if list.keep.iter().all(|k| *k) {
        return answer_forwardable(&list.message, &list.client_id, None);
    }
    let mut result = list.message.result().unwrap_or(Value::Null);
    let kept: Vec<Value> =
        list.tools.iter().zip(&list.keep).filter(|(_, keep)| **keep).map(|(tool, _)| tool.clone()).collect();
    if let Some(object) = result.as_object_mut() {
        object.insert("tools".to_owned(), Value::Array(kept));
    }
    answer_forwardable(&list.message, &list.client_id, Some(result))
}
