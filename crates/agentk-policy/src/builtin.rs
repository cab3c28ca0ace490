//! The built-in policies, embedded in the binary so AgentK works with no configuration.

use std::fmt;
use std::str::FromStr;

use agentk_labels::SafeText;

use crate::{Policy, PolicyError};

/// A built-in policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Profile {
    /// The default: keeps P2, P3 and P4 and asks for grants before any side effect.
    Starter,
    /// A research agent: reads widely, never patches files, sends only to granted hosts.
    Research,
    /// A coding agent: patches files under granted workspace targets, no egress of private data.
    Coding,
    /// A browser agent: sends to granted hosts only data free of secret, private and untrusted labels.
    Browser,
    /// MCP front ends: accepted tools of a server the operator put behind AgentK need no grant;
    /// suspect data never drives a side effect, secret or private data never reaches an
    /// open-world tool; otherwise `starter`.
    Mcp,
    /// MCP front ends, strict: `mcp`, but any untrusted data refuses every call (P4 for every
    /// tool) unless a person approved that exact call.
    Strict,
}

impl Profile {
    /// Every built-in policy.
    pub const ALL: [Profile; 6] =
        [Profile::Starter, Profile::Research, Profile::Coding, Profile::Browser, Profile::Mcp, Profile::Strict];

    /// The profile's name, as given to `--profile`.
    pub const fn name(self) -> &'static str {
        match self {
            Profile::Starter => "starter",
            Profile::Research => "research",
            Profile::Coding => "coding",
            Profile::Browser => "browser",
            Profile::Mcp => "mcp",
            Profile::Strict => "strict",
        }
    }

    /// The policy's TOML text, exactly as embedded.
    pub const fn source(self) -> &'static str {
        match self {
            Profile::Starter => include_str!("../policies/starter.toml"),
            Profile::Research => include_str!("../policies/research.toml"),
            Profile::Coding => include_str!("../policies/coding.toml"),
            Profile::Browser => include_str!("../policies/browser.toml"),
            Profile::Mcp => include_str!("../policies/mcp.toml"),
            Profile::Strict => include_str!("../policies/strict.toml"),
        }
    }

    /// Parses and validates the embedded policy. A test proves every profile is valid, so this
    /// fails only on a build from a modified tree.
    pub fn load(self) -> Result<Policy, PolicyError> {
        Policy::parse(&format!("<built-in {}>", self.name()), self.source())
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Profile {
    type Err = PolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Profile::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| PolicyError::UnknownProfile { name: SafeText::new(s) })
    }
}
