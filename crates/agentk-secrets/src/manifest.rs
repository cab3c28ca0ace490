//! Secret-reference manifests (S7): versioned TOML that names where secrets live, never what
//! they are.
//!
//! ```toml
//! version = 1
//!
//! [[secrets]]
//! target = "secret://billing-api"
//! provider = "aws-secrets-manager"
//! reference = "arn:aws:secretsmanager:us-east-1:123456789012:secret:billing"
//! ```
//!
//! Unknown keys are errors, so `value = "..."` is refused rather than ignored. Every problem is
//! reported with its line; none is reported with a provider reference.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use toml::Spanned;

use crate::provider::{Provider, ShapeError};
use crate::reference::{ExternalRef, RedactionKey, SecretTarget};
use crate::store::{Availability, StoreRegistry};

/// The largest manifest accepted, in bytes.
pub const MAX_MANIFEST_BYTES: usize = 1 << 20;

/// The most problems listed; the rest are counted.
const MAX_PROBLEMS: usize = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestV1 {
    version: Spanned<i64>,
    #[serde(default)]
    secrets: Vec<Spanned<EntryV1>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryV1 {
    target: Spanned<String>,
    provider: Spanned<String>,
    reference: Spanned<String>,
}

/// One problem in a manifest. It carries the line and what is wrong, never a reference.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestProblem {
    /// Larger than accepted.
    #[error("manifest is larger than {max} bytes")]
    TooLarge {
        /// The limit.
        max: usize,
    },
    /// A key the format does not have (a `value` key above all).
    #[error("line {line}: unknown key {key}; manifests hold references, never values")]
    UnknownKey {
        /// Line.
        line: usize,
        /// The key, escaped.
        key: agentk_labels::SafeText,
    },
    /// Not valid TOML, or a value of the wrong type. The parser's own message is withheld, as
    /// it can quote the offending value.
    #[error("line {line}: not a valid secret-reference manifest (TOML syntax or value type)")]
    Syntax {
        /// Line.
        line: usize,
    },
    /// `version` is not 1.
    #[error("line {line}: unsupported manifest version")]
    UnsupportedVersion {
        /// Line.
        line: usize,
    },
    /// No `[[secrets]]`.
    #[error("manifest lists no secrets")]
    Empty,
    /// A target that is not `secret://…`.
    #[error("line {line}: target is not `secret://NAME` (1 to 128 of `a-z`, `0-9`, `.`, `_`, `/`, `-`)")]
    InvalidTarget {
        /// Line.
        line: usize,
    },
    /// The same target twice.
    #[error("line {line}: target listed twice (first on line {first})")]
    DuplicateTarget {
        /// Line.
        line: usize,
        /// Line of the first entry.
        first: usize,
    },
    /// More problems than are listed.
    #[error("{hidden} more problem(s) not shown")]
    MoreProblems {
        /// How many.
        hidden: usize,
    },
    /// A bad provider id or reference shape.
    #[error("line {line}: {problem}")]
    Reference {
        /// Line.
        line: usize,
        /// What is wrong.
        problem: ShapeError,
    },
}

/// A validated manifest.
#[derive(Debug)]
pub struct SecretManifest {
    entries: Vec<(SecretTarget, ExternalRef)>,
}

/// What `secret-refs-check` reports: the version and counts, nothing else.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ManifestCounts {
    /// Always 1.
    pub version: u32,
    /// Entries.
    pub secrets: usize,
    /// Distinct providers.
    pub providers: usize,
    /// References whose provider has a shape check.
    pub shape_checked: usize,
}

/// What `secret-refs-store-check` reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct AvailabilityCounts {
    /// Reported available.
    pub available: usize,
    /// Supported but missing.
    pub missing: usize,
    /// No store supports the provider.
    pub unsupported: usize,
}

impl SecretManifest {
    /// Parses and validates a manifest, reporting every entry-level problem with its line.
    /// Nothing is registered anywhere: the caller registers the entries once this succeeds.
    pub fn parse(text: &str, key: &RedactionKey) -> Result<Self, Vec<ManifestProblem>> {
        if text.len() > MAX_MANIFEST_BYTES {
            return Err(vec![ManifestProblem::TooLarge { max: MAX_MANIFEST_BYTES }]);
        }
        let lines = agentk_labels::LineIndex::new(text);
        let line = |offset: usize| lines.line(offset);
        let manifest: ManifestV1 = toml::from_str(text).map_err(|e| {
            let at = line(e.span().map_or(0, |s| s.start));
            let message = e.message();
            let unknown =
                message.strip_prefix("unknown field `").and_then(|rest| rest.split_once('`')).map(|(key, _)| key);
            vec![match unknown {
                Some(key) => ManifestProblem::UnknownKey { line: at, key: agentk_labels::SafeText::new(key) },
                None => ManifestProblem::Syntax { line: at },
            }]
        })?;
        if *manifest.version.get_ref() != 1 {
            return Err(vec![ManifestProblem::UnsupportedVersion { line: line(manifest.version.span().start) }]);
        }
        if manifest.secrets.is_empty() {
            return Err(vec![ManifestProblem::Empty]);
        }
        let mut problems = Vec::new();
        let mut entries = Vec::new();
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for entry in manifest.secrets {
            let entry = entry.into_inner();
            let target_line = line(entry.target.span().start);
            let target = SecretTarget::parse(entry.target.get_ref());
            if let Ok(target) = &target {
                if let Some(&first) = seen.get(target.as_str()) {
                    problems.push(ManifestProblem::DuplicateTarget { line: target_line, first });
                } else {
                    seen.insert(target.as_str().to_owned(), target_line);
                }
            } else {
                problems.push(ManifestProblem::InvalidTarget { line: target_line });
            }
            let reference =
                ExternalRef::new(entry.provider.get_ref(), entry.reference.get_ref(), key).map_err(|problem| {
                    let at = match problem {
                        ShapeError::InvalidProviderId => entry.provider.span().start,
                        _ => entry.reference.span().start,
                    };
                    ManifestProblem::Reference { line: line(at), problem }
                });
            match (target, reference) {
                (Ok(target), Ok(reference)) => entries.push((target, reference)),
                (_, Err(problem)) => problems.push(problem),
                (Err(_), Ok(_)) => {}
            }
        }
        if problems.is_empty() {
            return Ok(SecretManifest { entries });
        }
        if problems.len() > MAX_PROBLEMS {
            let hidden = problems.len() - MAX_PROBLEMS;
            problems.truncate(MAX_PROBLEMS);
            problems.push(ManifestProblem::MoreProblems { hidden });
        }
        Err(problems)
    }

    /// The entries.
    pub fn entries(&self) -> &[(SecretTarget, ExternalRef)] {
        &self.entries
    }

    /// Gives up the entries, to register them with a broker.
    pub fn into_entries(self) -> Vec<(SecretTarget, ExternalRef)> {
        self.entries
    }

    /// The version and counts.
    pub fn counts(&self) -> ManifestCounts {
        let providers: BTreeSet<&Provider> = self.entries.iter().map(|(_, r)| r.provider()).collect();
        ManifestCounts {
            version: 1,
            secrets: self.entries.len(),
            providers: providers.len(),
            shape_checked: self.entries.iter().filter(|(_, r)| r.provider().is_shape_checked()).count(),
        }
    }

    /// Asks `stores` about every entry and counts the answers.
    pub fn availability(&self, stores: &StoreRegistry) -> AvailabilityCounts {
        self.entries.iter().fold(AvailabilityCounts::default(), |mut counts, (_, reference)| {
            match stores.availability(reference) {
                Availability::Available => counts.available += 1,
                Availability::Missing => counts.missing += 1,
                Availability::Unsupported => counts.unsupported += 1,
            }
            counts
        })
    }
}
