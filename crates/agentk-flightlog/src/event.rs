//! Flight-log events, their one JSON line each, and the hash chain over them (guarantee F1).
//!
//! A line is the canonical compact JSON of an [`EventLine`]: `{"v":2,"seq":…,"prev":…,
//! "hash":…,"event":{…}}`. Its `hash` is blake3 under the context `agentk flight event v1`
//! over the postcard encoding of (`v`, `seq`, `prev`, `event`), so it covers every field
//! and the previous event's hash. A line that does not re-serialize to exactly itself is
//! refused, so no byte of a line can change without verification noticing.

use agentk_capability::{EncodedReceipt, decode_hex, encode_hex};
use agentk_labels::LabelSet;
use agentk_secrets::EncodedHandle;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The schema version this crate writes. Version 2 added [`InputRef::from`].
pub const SCHEMA_VERSION: u32 = 2;

/// The oldest schema version this crate still reads (and verifies with that version's hashing).
pub const OLDEST_SCHEMA_VERSION: u32 = 1;

/// The domain-separation context of event hashes.
pub const EVENT_CONTEXT: &str = "agentk flight event v1";

/// The longest line accepted, in bytes.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// A 32-byte hash, written as 64 lowercase hex characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Hash32(pub [u8; 32]);

impl Hash32 {
    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Option<Hash32> {
        decode_hex::<32>(text).ok().map(Hash32)
    }

    /// The 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        encode_hex(&self.0)
    }
}

impl Serialize for Hash32 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&encode_hex(&self.0))
        } else {
            self.0.serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for Hash32 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
            decode_hex::<32>(&text).map(Hash32).map_err(serde::de::Error::custom)
        } else {
            <[u8; 32]>::deserialize(deserializer).map(Hash32)
        }
    }
}

/// What a decision was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Allowed.
    Allow,
    /// Denied.
    Deny,
}

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
    pub decision: Verdict,
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
    let input = HashInput { v: SCHEMA_VERSION, seq, prev, event };
    let bytes = postcard::to_allocvec(&input).unwrap_or_default();
    Hash32(blake3::derive_key(EVENT_CONTEXT, &bytes))
}

/// The hash of an event written under schema `version` (see [`event_hash`]). A version 1
/// event has no input links; its hash is over the version 1 encoding, without them. Answers
/// `None` for a version this crate does not read, or a version 1 event that carries links.
pub fn event_hash_for(version: u32, seq: u64, prev: &Hash32, event: &EventBody) -> Option<Hash32> {
    match version {
        SCHEMA_VERSION => Some(event_hash(seq, prev, event)),
        1 => {
            let body = v1::Body::of(event)?;
            let bytes = postcard::to_allocvec(&v1::HashInput { v: 1, seq, prev, event: body }).ok()?;
            Some(Hash32(blake3::derive_key(EVENT_CONTEXT, &bytes)))
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

    use super::{CheckpointEvent, EventBody, Genesis, GrantRef, Hash32, Verdict};

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
        decision: Verdict,
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

impl EventLine {
    /// Seals `event` as number `seq` after `prev`.
    pub fn seal(seq: u64, prev: Hash32, event: EventBody) -> Self {
        let hash = event_hash(seq, &prev, &event);
        EventLine { v: SCHEMA_VERSION, seq, prev, hash, event }
    }

    /// The canonical line (compact JSON, no newline).
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}
