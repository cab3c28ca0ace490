//! Chain verification (F1): stream the lines, stop at the first bad one and name it.

use std::fmt;

use crate::event::{EventBody, EventLine, Hash32, MAX_LINE_BYTES, SCHEMA_VERSION, event_hash};
use crate::merkle::{Frontier, TreeHash, leaf_hash};

/// Why a log failed verification. Each names the 1-based line where it was found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The log has no lines.
    #[error("the log is empty")]
    Empty,
    /// A line is longer than any event.
    #[error("line {line}: longer than {MAX_LINE_BYTES} bytes")]
    TooLong {
        /// The line.
        line: u64,
    },
    /// A line is not an event, or not in canonical form.
    #[error("line {line}: not a canonical event line")]
    Malformed {
        /// The line.
        line: u64,
    },
    /// A schema version this build does not read.
    #[error("line {line}: unsupported schema version {found}")]
    UnsupportedVersion {
        /// The line.
        line: u64,
        /// The version found.
        found: u32,
    },
    /// The sequence number is not the line's position.
    #[error("line {line}: sequence number {found}, expected {expected} (an event was inserted, deleted or moved)")]
    OutOfSequence {
        /// The line.
        line: u64,
        /// The number found.
        found: u64,
        /// The number expected.
        expected: u64,
    },
    /// The event does not follow the previous event's hash.
    #[error("line {line}: does not chain to the line before it")]
    BrokenChain {
        /// The line.
        line: u64,
    },
    /// The stated hash is not the event's hash.
    #[error("line {line}: the event's contents do not match its hash")]
    HashMismatch {
        /// The line.
        line: u64,
    },
    /// The first event is not a genesis, or a later one is.
    #[error("line {line}: the genesis record must be the first line, and only the first")]
    MisplacedGenesis {
        /// The line.
        line: u64,
    },
}

/// A log whose chain verified: only [`ChainVerifier::finish`] makes one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainVerified {
    events: u64,
    head: Hash32,
    root: TreeHash,
}

impl ChainVerified {
    /// Events in the log, the genesis included.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// The last event's hash.
    pub fn head(&self) -> Hash32 {
        self.head
    }

    /// The Merkle root over every event hash.
    pub fn root(&self) -> TreeHash {
        self.root
    }
}

impl fmt::Display for ChainVerified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} events, chain intact", self.events)
    }
}

/// Verifies a log line by line in constant memory: feed lines in order, then finish.
#[derive(Clone, Debug, Default)]
pub struct ChainVerifier {
    next_seq: u64,
    prev: Hash32,
    frontier: Frontier,
}

impl ChainVerifier {
    /// A verifier expecting the genesis next.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks the next line (without its newline) and answers the parsed event.
    pub fn push(&mut self, text: &str) -> Result<EventLine, ChainError> {
        let line = self.next_seq + 1;
        if text.len() > MAX_LINE_BYTES {
            return Err(ChainError::TooLong { line });
        }
        let event: EventLine = serde_json::from_str(text).map_err(|_| ChainError::Malformed { line })?;
        if event.v != SCHEMA_VERSION {
            return Err(ChainError::UnsupportedVersion { line, found: event.v });
        }
        // SECURITY: one text per event. A line that parses but is not the canonical
        // serialization (reordered keys, spaces, escapes) is refused, so every byte counts.
        if event.to_line() != text {
            return Err(ChainError::Malformed { line });
        }
        if event.seq != self.next_seq {
            return Err(ChainError::OutOfSequence { line, found: event.seq, expected: self.next_seq });
        }
        let is_genesis = matches!(event.event, EventBody::Genesis(_));
        if is_genesis != (self.next_seq == 0) {
            return Err(ChainError::MisplacedGenesis { line });
        }
        if event.prev != self.prev {
            return Err(ChainError::BrokenChain { line });
        }
        if event_hash(event.seq, &event.prev, &event.event) != event.hash {
            return Err(ChainError::HashMismatch { line });
        }
        self.prev = event.hash;
        self.frontier.push(leaf_hash(&event.hash.0));
        self.next_seq += 1;
        Ok(event)
    }

    /// Ends verification.
    pub fn finish(self) -> Result<ChainVerified, ChainError> {
        if self.next_seq == 0 {
            return Err(ChainError::Empty);
        }
        Ok(ChainVerified { events: self.next_seq, head: self.prev, root: self.frontier.root() })
    }
}

/// Verifies a whole log held as lines.
pub fn verify_lines<'a>(lines: impl IntoIterator<Item = &'a str>) -> Result<ChainVerified, ChainError> {
    let mut verifier = ChainVerifier::new();
    for line in lines {
        verifier.push(line)?;
    }
    verifier.finish()
}
