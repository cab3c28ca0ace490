//! Flight-log events, their one JSON line each, and the hash chain over them (guarantee F1).
//!
//! A line is the canonical compact JSON of an [`EventLine`]: `{"v":3,"seq":…,"prev":…,
//! "hash":…,"event":{…}}`. Its `hash` is blake3 under the context `agentk flight event v1`
//! over the postcard encoding of (`v`, `seq`, `prev`, `event`), so it covers every field
//! and the previous event's hash. A line that does not re-serialize to exactly itself is
//! refused, so no byte of a line can change without verification noticing.

use agentk_capability::EncodedReceipt;
use agentk_labels::{LabelSet, Outcome};
use agentk_secrets::EncodedHandle;
use serde::{Deserialize, Serialize, Serializer};

/// The schema version this crate writes. Version 2 added [`InputRef::from`]; version 3 added
/// output events ([`EventBody::Output`]).
pub const SCHEMA_VERSION: u32 = 3;

/// The oldest schema version this crate still reads (and verifies with that version's hashing).
pub const OLDEST_SCHEMA_VERSION: u32 = 1;

/// The domain-separation context of event hashes.
pub const EVENT_CONTEXT: &str = "agentk flight event v1";

/// The longest line accepted, in bytes.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

pub use agentk_capability::Hash32;

pub use agentk_policy::Effect;

/// One consumed input, as evidence: its labels and a keyed digest of its content. Raw content
/// never reaches the log.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputRef {
    /// The input's labels.
    pub labels: LabelSet,
    /// Keyed blake3 of the content under the log's salt.
    pub digest: Hash32,
    /// The earlier event whose output this input is (its `seq`), when the caller knows it.
    /// Replay follows these links to carry a changed output's labels downstream (R3).
    #[serde(default)]
    pub from: Option<u64>,
}

impl Serialize for InputRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        // SECURITY: the hashed (binary) encoding always carries `from`, so it stays injective;
        // the JSON line leaves out an absent one (and so refuses an explicit `null` as not
        // canonical).
        let present = self.from.is_some() || !serializer.is_human_readable();
        let mut state = serializer.serialize_struct("InputRef", 2 + usize::from(present))?;
        state.serialize_field("labels", &self.labels)?;
        state.serialize_field("digest", &self.digest)?;
        if present {
            state.serialize_field("from", &self.from)?;
        } else {
            state.skip_field("from")?;
        }
        state.end()
    }
}

impl InputRef {
    /// The same input, marked as the output of event `step` (an earlier `seq` of this log).
    pub fn output_of(self, step: u64) -> Self {
        InputRef { from: Some(step), ..self }
    }
}

/// The operator grant a request presented: its id, the hash of its definition (so replay can
/// tell a changed grant from the recorded one), and whether it covered the request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantRef {
    /// The presented id (bounded and escaped if it named no grant).
    pub id: String,
    /// The hash of the grant's definition; zeros when the id named no grant.
    pub hash: Hash32,
    /// Whether the grant covered the request.
    pub covering: bool,
}

/// The first event of every log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// A random id naming this log.
    pub log_id: Hash32,
    /// Where the log was written (a host or service name; never a user path).
    pub origin: String,
    /// The hash of the policy text the kernel decides with.
    pub policy_hash: Hash32,
    /// The signer's public key, hex.
    pub signer: String,
    /// Whether the signer is the public development key.
    pub development_signer: bool,
}

/// One mediated syscall, allowed or denied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyscallEvent {
    /// When it was decided (Unix seconds, from the kernel's clock).
    pub time: u64,
    /// The requesting agent.
    pub agent: String,
    /// The syscall's name (or the placeholder of an unknown, malformed one).
    pub syscall: String,
    /// The target.
    pub target: String,
    /// The consumed inputs, as evidence.
    pub inputs: Vec<InputRef>,
    /// The presented grant, if any.
    pub grant: Option<GrantRef>,
    /// The decision.
    pub decision: Effect,
    /// The rule that decided.
    pub rule: String,
    /// For an allow, the labels of the output.
    pub output_labels: Option<LabelSet>,
    /// The receipt that authorized an allow on a grant.
    pub receipt: Option<EncodedReceipt>,
    /// The handle minted for an allowed `secret.open`.
    pub handle: Option<EncodedHandle>,
}

/// A signed statement of the log's Merkle root over the events before it (F4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointEvent {
    /// How many events it covers: every event before this one.
    pub size: u64,
    /// The Merkle root over their hashes.
    pub root: Hash32,
    /// The log signer's signature over `(log_id, size, root)`.
    pub signature: String,
}

/// What became of an allowed action: the digest of its output under the log's salt (never the
/// output itself), the output's labels, and whether it succeeded. `from` names the event that
/// allowed the action; later inputs that consume this output name this event in turn.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputEvent {
    /// When it was recorded (Unix seconds, from the kernel's clock).
    pub time: u64,
    /// The `seq` of the syscall event that allowed the action.
    pub from: u64,
    /// Keyed blake3 of the output under the log's salt.
    pub digest: Hash32,
    /// The output's labels: at least the labels the allowing decision gave it (P7).
    pub labels: LabelSet,
    /// Whether the action succeeded.
    pub outcome: Outcome,
}

/// What an event records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventBody {
    /// The log's first event.
    Genesis(Genesis),
    /// A mediated syscall.
    Syscall(Box<SyscallEvent>),
    /// A signed checkpoint.
    Checkpoint(CheckpointEvent),
    /// What became of an allowed action (schema version 3 and later). Keep it last: the
    /// binary encoding numbers variants in order, and earlier versions' hashes depend on it.
    Output(OutputEvent),
}

/// The bytes a checkpoint signature covers.
pub fn checkpoint_statement(log_id: &Hash32, size: u64, root: &Hash32) -> Vec<u8> {
    postcard::to_allocvec(&(log_id, size, root)).unwrap_or_default()
}

/// One line of the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventLine {
    /// Schema version.
    pub v: u32,
    /// Position in the log, from 0 (the genesis).
    pub seq: u64,
    /// The previous event's hash (zeros for the genesis).
    pub prev: Hash32,
    /// This event's hash.
    pub hash: Hash32,
    /// What happened.
    pub event: EventBody,
}

#[derive(Serialize)]
struct HashInput<'a> {
    v: u32,
    seq: u64,
    prev: &'a Hash32,
    event: &'a EventBody,
}

/// The hash of an event at `seq` following `prev`, as this version writes it.
pub fn event_hash(seq: u64, prev: &Hash32, event: &EventBody) -> Hash32 {
    hash_as(SCHEMA_VERSION, seq, prev, event)
}

agentk_capability::hash_context!(static EVENT_HASH = EVENT_CONTEXT;);

std::thread_local! {
    /// The encoding buffer of event hashes, reused per thread.
    static ENCODING: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Versions 2 and later share one encoding; the version itself is hashed.
fn hash_as(v: u32, seq: u64, prev: &Hash32, event: &EventBody) -> Hash32 {
    hash_encoding(&HashInput { v, seq, prev, event })
}

/// blake3 under [`EVENT_CONTEXT`] over the postcard encoding of `value`, encoded into a
/// buffer reused per thread.
fn hash_encoding(value: &impl Serialize) -> Hash32 {
    ENCODING.with(|cell| {
        let mut buffer = cell.try_borrow_mut().map(|mut b| std::mem::take(&mut *b)).unwrap_or_default();
        buffer.clear();
        match postcard::serialize_with_flavor(value, ReusedVec(buffer)) {
            Ok(bytes) => {
                let hash = EVENT_HASH.hash(&bytes);
                if let Ok(mut slot) = cell.try_borrow_mut() {
                    *slot = bytes;
                }
                hash
            }
            // The encoding of these types cannot fail; should it, the digest of an empty
            // encoding matches no event, and verification fails.
            Err(_) => EVENT_HASH.hash(&[]),
        }
    })
}

/// A postcard output into a vector the caller lends (and gets back).
struct ReusedVec(Vec<u8>);

impl postcard::ser_flavors::Flavor for ReusedVec {
    type Output = Vec<u8>;

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<Vec<u8>> {
        Ok(self.0)
    }
}

/// The hash of an event written under schema `version` (see [`event_hash`]). A version 1
/// event has no input links; its hash is over the version 1 encoding, without them. Answers
/// `None` for a version this crate does not read, or an event its version cannot hold (input
/// links before version 2, output events before version 3).
pub fn event_hash_for(version: u32, seq: u64, prev: &Hash32, event: &EventBody) -> Option<Hash32> {
    match version {
        SCHEMA_VERSION => Some(event_hash(seq, prev, event)),
        2 if !matches!(event, EventBody::Output(_)) => Some(hash_as(2, seq, prev, event)),
        1 => {
            let body = v1::Body::of(event)?;
            Some(hash_encoding(&v1::HashInput { v: 1, seq, prev, event: body }))
        }
        _ => None,
    }
}

/// The version 1 hashed encoding: the same fields, inputs without `from`.
mod v1 {
    use agentk_capability::EncodedReceipt;
    use agentk_labels::LabelSet;
    use agentk_secrets::EncodedHandle;
    use serde::Serialize;

    use super::{CheckpointEvent, Effect, EventBody, Genesis, GrantRef, Hash32};

    #[derive(Serialize)]
    pub(super) struct HashInput<'a> {
        pub(super) v: u32,
        pub(super) seq: u64,
        pub(super) prev: &'a Hash32,
        pub(super) event: Body<'a>,
    }

    /// Variants in the order of [`EventBody`], so they encode with the same index.
    #[derive(Serialize)]
    pub(super) enum Body<'a> {
        Genesis(&'a Genesis),
        Syscall(Syscall<'a>),
        Checkpoint(&'a CheckpointEvent),
    }

    #[derive(Serialize)]
    pub(super) struct Syscall<'a> {
        time: u64,
        agent: &'a str,
        syscall: &'a str,
        target: &'a str,
        inputs: Vec<Input<'a>>,
        grant: &'a Option<GrantRef>,
        decision: Effect,
        rule: &'a str,
        output_labels: &'a Option<LabelSet>,
        receipt: &'a Option<EncodedReceipt>,
        handle: &'a Option<EncodedHandle>,
    }

    #[derive(Serialize)]
    struct Input<'a> {
        labels: LabelSet,
        digest: &'a Hash32,
    }

    impl<'a> Body<'a> {
        /// The version 1 view of `event`; `None` if it carries what version 1 cannot.
        pub(super) fn of(event: &'a EventBody) -> Option<Self> {
            Some(match event {
                EventBody::Genesis(genesis) => Body::Genesis(genesis),
                EventBody::Checkpoint(checkpoint) => Body::Checkpoint(checkpoint),
                EventBody::Output(_) => return None,
                EventBody::Syscall(s) => {
                    let inputs = s
                        .inputs
                        .iter()
                        .map(|input| {
                            input.from.is_none().then_some(Input { labels: input.labels, digest: &input.digest })
                        })
                        .collect::<Option<Vec<_>>>()?;
                    Body::Syscall(Syscall {
                        time: s.time,
                        agent: &s.agent,
                        syscall: &s.syscall,
                        target: &s.target,
                        inputs,
                        grant: &s.grant,
                        decision: s.decision,
                        rule: &s.rule,
                        output_labels: &s.output_labels,
                        receipt: &s.receipt,
                        handle: &s.handle,
                    })
                }
            })
        }
    }
}

/// Whether `text` is exactly the canonical line of `event`: the line is written again (by
/// [`crate::line`], into a buffer reused per thread) and compared.
pub(crate) fn is_canonical(event: &EventLine, text: &str) -> bool {
    std::thread_local! {
        static CANONICAL: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    CANONICAL.with(|cell| {
        let mut buffer = cell.try_borrow_mut().map(|mut b| std::mem::take(&mut *b)).unwrap_or_default();
        buffer.clear();
        crate::line::write_line(event, &mut buffer);
        let same = buffer == text.as_bytes();
        if let Ok(mut slot) = cell.try_borrow_mut() {
            *slot = buffer;
        }
        same
    })
}

impl EventLine {
    /// Seals `event` as number `seq` after `prev`.
    pub fn seal(seq: u64, prev: Hash32, event: EventBody) -> Self {
        let hash = event_hash(seq, &prev, &event);
        EventLine { v: SCHEMA_VERSION, seq, prev, hash, event }
    }

    /// The canonical line (compact JSON, no newline).
    pub fn to_line(&self) -> String {
        let mut out = Vec::with_capacity(512);
        self.write_to(&mut out);
        // INVARIANT: the writer emits UTF-8 (escapes are ASCII; strings are copied whole).
        String::from_utf8(out).unwrap_or_default()
    }

    /// Appends the canonical line (no newline) to `out`: the bytes of [`EventLine::to_line`],
    /// without allocating.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        crate::line::write_line(self, out);
    }
}
