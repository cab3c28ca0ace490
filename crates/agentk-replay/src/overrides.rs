//! Behavior overrides (R3): a versioned JSON list, each entry binding one recorded step, its
//! syscall and its target to a changed output, given only as a digest (and optionally
//! changed labels). Raw output text is refused: replay reasons about evidence, never about
//! content, and an override file must not smuggle content into reports.
//!
//! ```json
//! {"schema": "agentk.behavior-overrides.v1",
//!  "overrides": [{"step": 3, "syscall": "tool.invoke",
//!                 "target": "mcp://docs.example.invalid/search",
//!                 "output_digest": "<64 hex digits>",
//!                 "output_labels": ["untrusted", "poisoned-suspect"]}]}
//! ```

use std::collections::BTreeMap;
use std::io::Read;

use agentk_flightlog::event::Hash32;
use agentk_labels::{LabelSet, SafeText};
use serde_json::Value;

/// The schema this build reads.
pub const OVERRIDES_SCHEMA: &str = "agentk.behavior-overrides.v1";
/// The largest override file read, in bytes.
pub const MAX_OVERRIDES_BYTES: u64 = 1024 * 1024;
/// The most overrides one file may hold.
pub const MAX_OVERRIDES: usize = 10_000;

/// Keys that would carry raw output: refused with their own error, so nobody mistakes the
/// refusal for a typo.
const RAW_OUTPUT_KEYS: [&str; 6] = ["output", "output_text", "raw_output", "text", "content", "raw"];
const ENTRY_KEYS: [&str; 5] = ["step", "syscall", "target", "output_digest", "output_labels"];

/// One changed output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Override {
    /// The recorded step (`seq`) whose output changes.
    pub step: u64,
    /// The syscall recorded at that step.
    pub syscall: String,
    /// The target recorded at that step.
    pub target: String,
    /// The digest of the changed output.
    pub output: Hash32,
    /// The changed output's labels; `None` keeps the labels the step's decision gives.
    pub labels: Option<LabelSet>,
}

/// A parsed override file: overrides by step, each step at most once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    by_step: BTreeMap<u64, Override>,
}

/// Why an override file was refused. Values from the file are escaped and bounded; raw output
/// text is never repeated.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OverridesError {
    /// The file is larger than [`MAX_OVERRIDES_BYTES`].
    #[error("the override file is larger than {max} bytes")]
    TooLarge {
        /// The limit.
        max: u64,
    },
    /// The file could not be read.
    #[error("the override file could not be read ({0:?})")]
    Io(std::io::ErrorKind),
    /// The file is not JSON.
    #[error("the override file is not valid JSON (line {line}, column {column})")]
    NotJson {
        /// Where parsing stopped.
        line: usize,
        /// Where parsing stopped.
        column: usize,
    },
    /// A key appears twice in one object (JSON parsers disagree on which one wins, so neither
    /// does).
    #[error("the override file repeats a key (line {line}, column {column}); each key may appear once per object")]
    DuplicateKey {
        /// Where the repeat was found.
        line: usize,
        /// Where the repeat was found.
        column: usize,
    },
    /// The file's shape is wrong.
    #[error("the override file {0}")]
    Shape(#[source] ShapeProblem),
    /// The schema is not the one this build reads.
    #[error("the override file's schema is {found}; this build reads `agentk.behavior-overrides.v1`")]
    UnsupportedSchema {
        /// The schema found, escaped.
        found: SafeText,
    },
    /// An override carries raw output text.
    #[error(
        "override {index}: raw output text (`{key}`) is refused; give `output_digest`, the blake3 digest of the changed output, instead"
    )]
    RawOutput {
        /// The override's position in the list, from 0.
        index: usize,
        /// The key.
        key: &'static str,
    },
    /// An override has a key this schema does not define.
    #[error("override {index}: unknown field {field}")]
    UnknownField {
        /// The override's position in the list.
        index: usize,
        /// The field, escaped and bounded.
        field: SafeText,
    },
    /// A field is missing or has the wrong type or form.
    #[error("override {index}: {problem}")]
    BadField {
        /// The override's position in the list.
        index: usize,
        /// What is wrong.
        problem: &'static str,
    },
    /// Two overrides name the same step.
    #[error("step {step} is overridden twice")]
    DuplicateStep {
        /// The step.
        step: u64,
    },
    /// The list is empty.
    #[error("the override file lists no overrides")]
    Empty,
    /// More than [`MAX_OVERRIDES`].
    #[error("the override file lists more than {max} overrides")]
    TooMany {
        /// The limit.
        max: usize,
    },
}

/// What is wrong with an override file's top-level shape.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShapeProblem {
    /// The file is not a JSON object.
    #[error("must be a JSON object")]
    NotAnObject,
    /// A top-level field this schema does not have.
    #[error("has an unknown top-level field {field}")]
    UnknownField {
        /// The field, escaped and bounded.
        field: SafeText,
    },
    /// No `schema` string.
    #[error("needs `schema`: \"agentk.behavior-overrides.v1\"")]
    NoSchema,
    /// No `overrides` list.
    #[error("needs `overrides`: a list")]
    NoOverrides,
}

impl Overrides {
    /// Reads and parses at most [`MAX_OVERRIDES_BYTES`] from `reader`.
    pub fn read(reader: impl Read) -> Result<Self, OverridesError> {
        let mut bytes = Vec::new();
        reader.take(MAX_OVERRIDES_BYTES + 1).read_to_end(&mut bytes).map_err(|e| OverridesError::Io(e.kind()))?;
        if bytes.len() as u64 > MAX_OVERRIDES_BYTES {
            return Err(OverridesError::TooLarge { max: MAX_OVERRIDES_BYTES });
        }
        Self::parse(&bytes)
    }

    /// Parses an override file.
    pub fn parse(bytes: &[u8]) -> Result<Self, OverridesError> {
        if bytes.len() as u64 > MAX_OVERRIDES_BYTES {
            return Err(OverridesError::TooLarge { max: MAX_OVERRIDES_BYTES });
        }
        // SECURITY: a repeated key is refused, not resolved: with "last one wins" a file could
        // show a reviewer one list (or raw output) and apply another.
        let agentk_labels::json::UniqueKeys(value) = serde_json::from_slice(bytes).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => OverridesError::DuplicateKey { line: e.line(), column: e.column() },
            _ => OverridesError::NotJson { line: e.line(), column: e.column() },
        })?;
        let Value::Object(root) = value else { return Err(OverridesError::Shape(ShapeProblem::NotAnObject)) };
        if let Some(key) = root.keys().find(|k| !matches!(k.as_str(), "schema" | "overrides")) {
            return Err(OverridesError::Shape(ShapeProblem::UnknownField { field: SafeText::with_limit(key, 64) }));
        }
        match root.get("schema") {
            Some(Value::String(s)) if s == OVERRIDES_SCHEMA => {}
            Some(Value::String(s)) => {
                return Err(OverridesError::UnsupportedSchema { found: SafeText::with_limit(s, 64) });
            }
            _ => return Err(OverridesError::Shape(ShapeProblem::NoSchema)),
        }
        let Some(Value::Array(entries)) = root.get("overrides") else {
            return Err(OverridesError::Shape(ShapeProblem::NoOverrides));
        };
        if entries.is_empty() {
            return Err(OverridesError::Empty);
        }
        if entries.len() > MAX_OVERRIDES {
            return Err(OverridesError::TooMany { max: MAX_OVERRIDES });
        }
        let mut by_step = BTreeMap::new();
        for (index, entry) in entries.iter().enumerate() {
            let entry = parse_entry(index, entry)?;
            if by_step.contains_key(&entry.step) {
                return Err(OverridesError::DuplicateStep { step: entry.step });
            }
            by_step.insert(entry.step, entry);
        }
        Ok(Overrides { by_step })
    }

    /// The override for `step`, if any.
    pub fn get(&self, step: u64) -> Option<&Override> {
        self.by_step.get(&step)
    }

    /// Every override, by step.
    pub fn iter(&self) -> impl Iterator<Item = &Override> {
        self.by_step.values()
    }

    /// How many overrides.
    pub fn len(&self) -> usize {
        self.by_step.len()
    }

    /// Whether there are none (a parsed file always has at least one).
    pub fn is_empty(&self) -> bool {
        self.by_step.is_empty()
    }
}

fn parse_entry(index: usize, entry: &Value) -> Result<Override, OverridesError> {
    let bad = |problem| OverridesError::BadField { index, problem };
    let Value::Object(fields) = entry else { return Err(bad("must be a JSON object")) };
    // SECURITY: raw output is refused before anything else is looked at, and never repeated.
    if let Some(key) = RAW_OUTPUT_KEYS.into_iter().find(|key| fields.contains_key(*key)) {
        return Err(OverridesError::RawOutput { index, key });
    }
    if let Some(field) = fields.keys().find(|k| !ENTRY_KEYS.contains(&k.as_str())) {
        return Err(OverridesError::UnknownField { index, field: SafeText::with_limit(field, 64) });
    }
    let step = fields.get("step").and_then(Value::as_u64).ok_or(bad("needs `step`: a non-negative integer"))?;
    let text = |key: &'static str, problem| match fields.get(key) {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 4096 => Ok(s.clone()),
        _ => Err(bad(problem)),
    };
    let syscall = text("syscall", "needs `syscall`: the syscall recorded at the step")?;
    let target = text("target", "needs `target`: the target recorded at the step")?;
    let output = match fields.get("output_digest") {
        Some(Value::String(hex)) => Hash32::from_hex(hex)
            .ok_or(bad("`output_digest` must be 64 hex digits (a blake3 digest); raw output text is refused"))?,
        _ => return Err(bad("needs `output_digest`: the blake3 digest of the changed output, 64 hex digits")),
    };
    let labels = match fields.get("output_labels") {
        None => None,
        Some(value) => Some(
            serde_json::from_value::<LabelSet>(value.clone())
                .map_err(|_| bad("`output_labels` must be a list of known labels"))?,
        ),
    };
    Ok(Override { step, syscall, target, output, labels })
}
