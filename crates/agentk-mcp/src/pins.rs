//! Descriptor pins: the digest of every tool descriptor the operator accepted, per server id.
//!
//! A session pins each clean descriptor the first time it sees it; a later listing whose
//! descriptor differs from its pin (a rug pull, announced by `notifications/tools/list_changed`
//! or not) is withheld until the operator accepts the new digest. A descriptor the scanner
//! flags is withheld too; the operator may accept it (the scanner can be wrong; the operator's
//! decision is the grant).
//!
//! The pin file (`agentk.mcp-pins.v1`) is JSON, one entry per server and tool:
//!
//! ```json
//! {"schema":"agentk.mcp-pins.v1","servers":{"files":{"read_file":{"accepted":"<64 hex>"}}}}
//! ```
//!
//! An entry may also hold `offered`: a digest the server offered that was withheld, and why,
//! for the operator to review and accept (`agentk mcp-pins --accept SERVER/TOOL`). This module
//! only parses and writes the text; the transports own the file.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The pin file's schema name.
pub const SCHEMA: &str = "agentk.mcp-pins.v1";

/// The largest pin file read, in bytes; a file that would be larger is not written
/// ([`PinFile::to_checked_text`]), so every pin file written can be read back.
pub const MAX_PIN_FILE_BYTES: usize = 8 << 20;

/// The most tools [`PinFile::record`] keeps pins for under one server (a session's default
/// [`Config::max_tools`](crate::session::Config::max_tools)): a server that renames its tools
/// at every session cannot grow the operator's file without bound.
pub const MAX_PINS_PER_SERVER: usize = 4096;

/// The digest of one tool descriptor: BLAKE3 in its own derive-key context over the
/// descriptor's JSON with object keys sorted, so it does not depend on the server's key order
/// or whitespace. Unkeyed on purpose: a pin must hold across runs and machines.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(pub [u8; 32]);

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl std::str::FromStr for Digest {
    type Err = PinError;

    fn from_str(text: &str) -> Result<Self, PinError> {
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return Err(PinError::BadDigest);
        }
        let mut digest = [0u8; 32];
        for (out, pair) in digest.iter_mut().zip(bytes.chunks_exact(2)) {
            let hex = |b: u8| match b {
                b'0'..=b'9' => Some(b - b'0'),
                b'a'..=b'f' => Some(b - b'a' + 10),
                _ => None,
            };
            let (Some(high), Some(low)) = (pair.first().copied().and_then(hex), pair.get(1).copied().and_then(hex))
            else {
                return Err(PinError::BadDigest);
            };
            *out = high << 4 | low;
        }
        Ok(Digest(digest))
    }
}

impl Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(|_| serde::de::Error::custom("a digest is 64 lowercase hex characters"))
    }
}

/// The digest of a tool descriptor.
pub fn digest(tool: &Value) -> Digest {
    let mut hasher = blake3::Hasher::new_derive_key("agentk mcp descriptor pin v1");
    // serde_json's maps are ordered by key (the `preserve_order` feature is not enabled), so
    // this text is canonical for a given value.
    hasher.update(tool.to_string().as_bytes());
    Digest(*hasher.finalize().as_bytes())
}

/// What a session did with one descriptor's pin, for the transport to keep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PinEvent {
    /// A clean descriptor seen for the first time was pinned.
    Pinned {
        /// The tool's name.
        tool: String,
        /// Its descriptor's digest.
        digest: Digest,
    },
    /// A descriptor differs from its pin, and was withheld.
    Changed {
        /// The tool's name.
        tool: String,
        /// The accepted digest.
        pinned: Digest,
        /// The digest offered now.
        offered: Digest,
    },
    /// A descriptor the scanner flagged was withheld.
    Flagged {
        /// The tool's name.
        tool: String,
        /// Its descriptor's digest.
        digest: Digest,
        /// What the scanner found (kinds and fields, never descriptor text).
        findings: String,
    },
}

/// A digest offered by a server and withheld, waiting for the operator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Offer {
    /// The descriptor's digest.
    pub digest: Digest,
    /// Why it was withheld.
    pub why: String,
}

/// One tool's pin.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pin {
    /// The digest the operator accepted (or that was pinned on first sight).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<Digest>,
    /// A digest withheld, waiting for the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offered: Option<Offer>,
}

/// Every server's pins.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinFile {
    schema: String,
    /// Server id, then tool name.
    pub servers: BTreeMap<String, BTreeMap<String, Pin>>,
}

/// Why a pin file or an acceptance was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PinError {
    /// The file is larger than [`MAX_PIN_FILE_BYTES`].
    #[error("the pin file is larger than {MAX_PIN_FILE_BYTES} bytes")]
    TooLarge,
    /// The file is not a pin file.
    #[error("the pin file is not valid {SCHEMA} JSON (line {line}, column {column})")]
    Invalid {
        /// Where.
        line: usize,
        /// Where.
        column: usize,
    },
    /// The file names another schema.
    #[error("the pin file's schema is not {SCHEMA}")]
    Schema,
    /// A digest is not 64 lowercase hex characters.
    #[error("a digest is not 64 lowercase hex characters")]
    BadDigest,
    /// Nothing waits to be accepted under that name.
    #[error("no withheld descriptor waits under that server and tool")]
    NothingOffered,
    /// The pins would make a file larger than [`MAX_PIN_FILE_BYTES`], which could not be read
    /// back; nothing is written.
    #[error("the pins would make a pin file of {bytes} bytes, larger than the {MAX_PIN_FILE_BYTES} a pin file may be")]
    WouldBeTooLarge {
        /// The size the file would have.
        bytes: usize,
    },
}

impl PinFile {
    /// An empty pin file.
    pub fn new() -> Self {
        PinFile { schema: SCHEMA.to_owned(), servers: BTreeMap::new() }
    }

    /// Reads a pin file's text.
    pub fn parse(text: &str) -> Result<PinFile, PinError> {
        if text.len() > MAX_PIN_FILE_BYTES {
            return Err(PinError::TooLarge);
        }
        let file: PinFile =
            serde_json::from_str(text).map_err(|e| PinError::Invalid { line: e.line(), column: e.column() })?;
        if file.schema != SCHEMA {
            return Err(PinError::Schema);
        }
        Ok(file)
    }

    /// The file's text (pretty JSON, keys in order, ending in a newline).
    pub fn to_text(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// The file's text ([`PinFile::to_text`]), unless it is larger than
    /// [`MAX_PIN_FILE_BYTES`]: a file that could not be loaded again is never written.
    pub fn to_checked_text(&self) -> Result<String, PinError> {
        let text = self.to_text();
        if text.len() > MAX_PIN_FILE_BYTES {
            return Err(PinError::WouldBeTooLarge { bytes: text.len() });
        }
        Ok(text)
    }

    /// The accepted digests of one server, by tool name (what a session's
    /// [`Config::pins`](crate::session::Config::pins) starts from).
    pub fn accepted(&self, server: &str) -> BTreeMap<String, Digest> {
        self.servers
            .get(server)
            .map(|tools| tools.iter().filter_map(|(name, pin)| pin.accepted.map(|d| (name.clone(), d))).collect())
            .unwrap_or_default()
    }

    /// Keeps what a session did; says whether anything changed. A tool new to a server that
    /// already has [`MAX_PINS_PER_SERVER`] pins is not kept (the session withholds it anyway
    /// until the operator accepts it; the pins already kept still change).
    pub fn record(&mut self, server: &str, events: &[PinEvent]) -> bool {
        let mut changed = false;
        for event in events {
            let (tool, update) = match event {
                PinEvent::Pinned { tool, digest } => (tool, Pin { accepted: Some(*digest), offered: None }),
                PinEvent::Changed { tool, pinned, offered } => (
                    tool,
                    Pin {
                        accepted: Some(*pinned),
                        offered: Some(Offer {
                            digest: *offered,
                            why: "the descriptor changed since it was accepted".to_owned(),
                        }),
                    },
                ),
                PinEvent::Flagged { tool, digest, findings } => {
                    let accepted = self.servers.get(server).and_then(|t| t.get(tool)).and_then(|p| p.accepted);
                    (tool, Pin { accepted, offered: Some(Offer { digest: *digest, why: findings.clone() }) })
                }
            };
            let tools = self.servers.entry(server.to_owned()).or_default();
            if tools.len() >= MAX_PINS_PER_SERVER && !tools.contains_key(tool) {
                // SECURITY: the file stays bounded whatever a server names.
                continue;
            }
            let slot = tools.entry(tool.clone()).or_default();
            if *slot != update {
                *slot = update;
                changed = true;
            }
        }
        changed
    }

    /// The operator accepts the descriptor a server offered for `tool`: its digest becomes the
    /// pin. Returns the digest accepted.
    pub fn accept(&mut self, server: &str, tool: &str) -> Result<Digest, PinError> {
        let pin = self.servers.get_mut(server).and_then(|t| t.get_mut(tool)).ok_or(PinError::NothingOffered)?;
        let offer = pin.offered.take().ok_or(PinError::NothingOffered)?;
        pin.accepted = Some(offer.digest);
        Ok(offer.digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_ignore_key_order_and_whitespace_but_not_content() {
        let a: Value = serde_json::from_str(r#"{"name":"t","description":"d"}"#).unwrap_or_default();
        let b: Value = serde_json::from_str(r#"{ "description" : "d", "name" : "t" }"#).unwrap_or_default();
        let c: Value = serde_json::from_str(r#"{"name":"t","description":"d "}"#).unwrap_or_default();
        assert_eq!(digest(&a), digest(&b));
        assert_ne!(digest(&a), digest(&c));
        assert_eq!(digest(&a).to_string().parse::<Digest>(), Ok(digest(&a)));
    }

    #[test]
    fn a_change_is_offered_then_accepted() {
        let (old, new) = (Digest([1; 32]), Digest([2; 32]));
        let mut file = PinFile::new();
        assert!(file.record("s", &[PinEvent::Pinned { tool: "t".to_owned(), digest: old }]));
        assert!(!file.record("s", &[PinEvent::Pinned { tool: "t".to_owned(), digest: old }]));
        file.record("s", &[PinEvent::Changed { tool: "t".to_owned(), pinned: old, offered: new }]);
        assert_eq!(file.accepted("s").get("t"), Some(&old), "a change is not accepted by itself");
        let reread = PinFile::parse(&file.to_text());
        assert_eq!(reread.as_ref(), Ok(&file));
        assert_eq!(file.accept("s", "t"), Ok(new));
        assert_eq!(file.accepted("s").get("t"), Some(&new));
        assert_eq!(file.accept("s", "t"), Err(PinError::NothingOffered));
    }

    #[test]
    fn bad_files_are_refused() {
        assert!(matches!(PinFile::parse("{"), Err(PinError::Invalid { .. })));
        assert_eq!(PinFile::parse(r#"{"schema":"other","servers":{}}"#), Err(PinError::Schema));
        assert!(PinFile::parse(r#"{"schema":"agentk.mcp-pins.v1","servers":{"s":{"t":{"accepted":"XYZ"}}}}"#).is_err());
        assert!(PinFile::parse(r#"{"schema":"agentk.mcp-pins.v1","servers":{},"grant":"all"}"#).is_err());
    }
}
