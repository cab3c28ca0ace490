//! The propagation rule (guarantee P7). `docs/syscalls.md` explains each row.

use crate::{Label, LabelSet, Syscall, SyscallKind};

/// How a syscall ended, as far as its output's labels are concerned: the one outcome type of
/// AgentK (output events record it as `ok` or `error`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The syscall produced its normal output.
    Ok,
    /// The syscall produced an error (a JSON-RPC error, an `isError` result, a failed send).
    /// Error text is a classic carrier for injected instructions, so it is suspect.
    Error,
}

const EXTERNAL_DATA: LabelSet = LabelSet::from_labels(&[Label::Untrusted, Label::External]);

impl Syscall {
    /// The labels this syscall adds to its output on success, on top of its inputs' join.
    pub const fn adds(self) -> LabelSet {
        match self {
            // Descriptors and responses come from a server AgentK does not vouch for, and a
            // network send's output is whatever the remote end answered.
            Syscall::ToolDescribe
            | Syscall::ToolResponse
            | Syscall::ResourceDescribe
            | Syscall::ResourceResponse
            | Syscall::PromptDescribe
            | Syscall::PromptResponse
            | Syscall::NetworkSend => EXTERNAL_DATA,
            // What a secret handle refers to is secret, whatever asked for it.
            Syscall::SecretOpen => LabelSet::of(Label::Secret),
            // These carry their inputs' labels and nothing more: the caller labels the source
            // (a page read with `context.read` arrives as `untrusted,external`), and a model's
            // answer is as tainted as its prompt.
            Syscall::ContextRead
            | Syscall::ModelCall
            | Syscall::ToolInvoke
            | Syscall::FilePatch
            | Syscall::MemoryRead
            | Syscall::MemoryWrite
            | Syscall::HumanApprove
            | Syscall::AgentSpawn
            | Syscall::ResourceRead
            | Syscall::PromptGet => LabelSet::EMPTY,
        }
    }
}

/// The labels a syscall's output carries, given the join of its inputs' labels.
///
/// The result always contains `inputs` (labels only grow, P7) and is monotone: more input labels
/// never give fewer output labels. Errors add `poisoned-suspect` on every syscall. An unknown
/// syscall is denied before it runs, but should anything come out of one it is treated as
/// `untrusted` and `poisoned-suspect`.
pub fn propagate(kind: &SyscallKind, inputs: LabelSet, outcome: Outcome) -> LabelSet {
    let added = match kind {
        SyscallKind::Known(syscall) => syscall.adds(),
        SyscallKind::Unknown(_) => LabelSet::from_labels(&[Label::Untrusted, Label::PoisonedSuspect]),
    };
    let on_error = match outcome {
        Outcome::Ok => LabelSet::EMPTY,
        Outcome::Error => LabelSet::of(Label::PoisonedSuspect),
    };
    inputs | added | on_error
}
