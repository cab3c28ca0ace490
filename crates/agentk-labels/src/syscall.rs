use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{LabelError, SafeText};

macro_rules! syscalls {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// A syscall this version of AgentK knows. Every agent action crosses one of these.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Syscall {
            $($(#[$doc])* $variant,)*
        }

        impl Syscall {
            /// Every known syscall, in declaration order (which is [`Syscall::index`] order).
            pub const ALL: &'static [Syscall] = &[$(Syscall::$variant,)*];

            /// The syscall's stable name, as written in policies and logs.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Syscall::$variant => $name,)*
                }
            }
        }
    };
}

syscalls! {
    /// Read context into the agent: a web page, a document, a mail.
    ContextRead => "context.read",
    /// Send a prompt to a model and receive its completion.
    ModelCall => "model.call",
    /// Learn a tool's descriptor (name, description, input schema).
    ToolDescribe => "tool.describe",
    /// Invoke a tool.
    ToolInvoke => "tool.invoke",
    /// Receive a tool's response.
    ToolResponse => "tool.response",
    /// Open a secret as an opaque handle.
    SecretOpen => "secret.open",
    /// Send data over the network.
    NetworkSend => "network.send",
    /// Change a file.
    FilePatch => "file.patch",
    /// Read from the agent's long-term memory.
    MemoryRead => "memory.read",
    /// Write to the agent's long-term memory.
    MemoryWrite => "memory.write",
    /// Ask a human to approve an action.
    HumanApprove => "human.approve",
    /// Start another agent.
    AgentSpawn => "agent.spawn",
    /// Learn an MCP resource's descriptor.
    ResourceDescribe => "resource.describe",
    /// Read an MCP resource.
    ResourceRead => "resource.read",
    /// Receive an MCP resource's content.
    ResourceResponse => "resource.response",
    /// Learn an MCP prompt's descriptor.
    PromptDescribe => "prompt.describe",
    /// Get an MCP prompt.
    PromptGet => "prompt.get",
    /// Receive an MCP prompt's messages.
    PromptResponse => "prompt.response",
}

impl Syscall {
    /// The syscall's position in [`Syscall::ALL`], below 32, for bitsets and tables.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The bit of this syscall in a `u32` set of syscalls.
    pub const fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

impl fmt::Display for Syscall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Parses a known syscall name; use [`SyscallKind::parse`] where unknown names must still be
/// decided (and denied) rather than rejected.
impl FromStr for Syscall {
    type Err = LabelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Syscall::ALL
            .iter()
            .copied()
            .find(|syscall| syscall.name() == s)
            .ok_or_else(|| LabelError::UnknownSyscall { name: SafeText::new(s) })
    }
}

impl Serialize for Syscall {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Syscall {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// The kind of a requested syscall: one this version knows, or an explicit unknown one.
///
/// There is no way to fail parsing: an unknown name is a value that every policy denies
/// (guarantee P1), so the decision, and its record, always happen.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SyscallKind {
    /// A syscall this version knows.
    Known(Syscall),
    /// A name this version does not know. It is denied by rule `default-deny`.
    Unknown(UnknownSyscall),
}

impl SyscallKind {
    /// Reads a syscall name. Never fails; see [`SyscallKind::Unknown`].
    pub fn parse(name: &str) -> Self {
        match name.parse::<Syscall>() {
            Ok(known) => SyscallKind::Known(known),
            Err(_) => SyscallKind::Unknown(UnknownSyscall::new(name)),
        }
    }

    /// The known syscall, if it is one.
    pub fn known(&self) -> Option<Syscall> {
        match self {
            SyscallKind::Known(known) => Some(*known),
            SyscallKind::Unknown(_) => None,
        }
    }

    /// Whether this is an unknown syscall.
    pub fn is_unknown(&self) -> bool {
        matches!(self, SyscallKind::Unknown(_))
    }
}

impl From<Syscall> for SyscallKind {
    fn from(known: Syscall) -> Self {
        SyscallKind::Known(known)
    }
}

/// Shows a known syscall by name and an unknown one as [`UnknownSyscall`] does.
impl fmt::Display for SyscallKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyscallKind::Known(known) => f.write_str(known.name()),
            SyscallKind::Unknown(unknown) => fmt::Display::fmt(unknown, f),
        }
    }
}

/// A syscall name this version does not know.
///
/// The name arrives from the agent, so it is attacker-controlled. It is kept only when it
/// looks like a syscall name (1 to 64 of `a-z 0-9 . _ -`); anything else is kept as its length
/// alone, and the name is never shown.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UnknownSyscall {
    name: Option<Box<str>>,
    len: usize,
}

impl UnknownSyscall {
    /// The longest unknown name that is kept.
    pub const MAX_NAME_LEN: usize = 64;

    fn new(raw: &str) -> Self {
        let plausible = !raw.is_empty()
            && raw.len() <= Self::MAX_NAME_LEN
            && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        UnknownSyscall { name: plausible.then(|| raw.into()), len: raw.len() }
    }

    /// The name, when it was well formed enough to keep.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

impl fmt::Display for UnknownSyscall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "`{name}`"),
            None => write!(f, "<malformed syscall name, {} bytes>", self.len),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_round_trips() {
        for &syscall in Syscall::ALL {
            assert_eq!(syscall.name().parse::<Syscall>(), Ok(syscall));
            assert_eq!(SyscallKind::parse(syscall.name()), SyscallKind::Known(syscall));
        }
    }

    #[test]
    fn indexes_fit_a_u32_bitset() {
        assert!(Syscall::ALL.len() <= 32);
        for (i, syscall) in Syscall::ALL.iter().enumerate() {
            assert_eq!(syscall.index(), i);
        }
    }

    // guarantee: P1
    #[test]
    fn unknown_names_become_the_unknown_kind() {
        let kind = SyscallKind::parse("kernel.reboot");
        assert!(kind.is_unknown());
        assert_eq!(kind.to_string(), "`kernel.reboot`");
        assert_eq!(kind.known(), None);
    }

    #[test]
    fn hostile_unknown_names_are_never_shown() {
        for raw in ["", "Tool.Invoke", "x\u{1b}[31m", &"a".repeat(65), "tool.invoke "] {
            let kind = SyscallKind::parse(raw);
            assert!(kind.is_unknown(), "{raw:?}");
            let shown = kind.to_string();
            assert!(shown.starts_with("<malformed syscall name"), "{raw:?} -> {shown}");
        }
    }

    #[test]
    fn serde_uses_the_names() {
        let json = serde_json::to_string(&Syscall::NetworkSend).unwrap();
        assert_eq!(json, "\"network.send\"");
        assert!(serde_json::from_str::<Syscall>("\"kernel.reboot\"").is_err());
    }
}
