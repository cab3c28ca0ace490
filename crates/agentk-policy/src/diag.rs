//! Located diagnostics for policy files (guarantee P5).

use std::fmt;
use std::ops::Range;

use agentk_labels::{LabelSet, SafeText};

use crate::pattern::PatternProblem;

/// One problem found in a policy, with where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    line: usize,
    column: usize,
    span: Range<usize>,
    kind: DiagnosticKind,
}

impl Diagnostic {
    pub(crate) fn new(lines: &agentk_labels::LineIndex<'_>, span: Range<usize>, kind: DiagnosticKind) -> Self {
        let (line, column) = lines.line_column(span.start);
        Diagnostic { line, column, span, kind }
    }

    /// The 1-based line of the problem.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The 1-based column of the problem, in characters.
    pub fn column(&self) -> usize {
        self.column
    }

    /// The byte range of the problem in the source.
    pub fn span(&self) -> Range<usize> {
        self.span.clone()
    }

    /// What the problem is.
    pub fn kind(&self) -> &DiagnosticKind {
        &self.kind
    }

    /// A hint on how to fix it, when there is one worth giving.
    pub fn help(&self) -> Option<String> {
        self.kind.help()
    }
}

/// `line:column: message`.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.kind)
    }
}

/// Where a value sits in the policy, for messages (`rules[2].when.labels_any`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPath(pub(crate) String);

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`", self.0)
    }
}

/// What is wrong. Each variant carries the facts; [`fmt::Display`] words them.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DiagnosticKind {
    /// The text is not valid TOML.
    Syntax {
        /// The TOML parser's description of the problem.
        detail: String,
    },
    /// The policy text is larger than the parser accepts.
    TooLarge {
        /// Size of the text, in bytes.
        len: usize,
        /// The limit, in bytes.
        max: usize,
    },
    /// A key the format does not have (guards against typos that would silently widen a rule).
    UnknownKey {
        /// The table it appeared in.
        table: KeyPath,
        /// The key.
        key: SafeText,
        /// The keys that table accepts.
        expected: &'static [&'static str],
    },
    /// A required key is absent.
    MissingKey {
        /// The table it is missing from.
        table: KeyPath,
        /// The key.
        key: &'static str,
    },
    /// A value has the wrong TOML type.
    WrongType {
        /// The value's place.
        key: KeyPath,
        /// The type the format wants.
        expected: &'static str,
        /// The type found.
        found: &'static str,
    },
    /// `version` names a format this version does not read.
    UnsupportedVersion {
        /// The version found.
        found: SafeText,
    },
    /// A syscall name that is not known.
    UnknownSyscall {
        /// The name.
        name: SafeText,
    },
    /// A label name that is not known.
    UnknownLabel {
        /// The name.
        name: SafeText,
    },
    /// An id that is not a lowercase slug.
    InvalidId {
        /// `rule` or `grant`.
        what: &'static str,
        /// The id.
        id: SafeText,
    },
    /// `default-deny` names the built-in deny for unknown syscalls; only a catch-all deny may use it.
    ReservedId {
        /// The id.
        id: SafeText,
    },
    /// The id names one of the kernel's own rules ([`crate::KERNEL_RULE_IDS`]), which the flight
    /// log and replay must tell apart from policy rules.
    KernelRuleId {
        /// The id.
        id: SafeText,
    },
    /// Two rules, or two grants, share an id.
    DuplicateId {
        /// `rule` or `grant`.
        what: &'static str,
        /// The id.
        id: SafeText,
        /// Line of the first use.
        first_line: usize,
    },
    /// A list that must name something is empty.
    EmptyList {
        /// The list's place.
        key: KeyPath,
    },
    /// A text value that must say something is blank or too long.
    BadText {
        /// The value's place.
        key: KeyPath,
        /// The longest accepted, in characters.
        max: usize,
    },
    /// A `when` table with no condition.
    EmptyWhen {
        /// The rule.
        rule: SafeText,
    },
    /// `effect` is neither `allow` nor `deny`.
    InvalidEffect {
        /// The value found.
        found: SafeText,
    },
    /// `capability` is neither `present` nor `missing`.
    InvalidCapability {
        /// The value found.
        found: SafeText,
    },
    /// A target or agent pattern is malformed.
    InvalidPattern {
        /// The pattern's place.
        key: KeyPath,
        /// What is wrong with it.
        problem: PatternProblem,
    },
    /// A `[[tools]]` class is not one of the tool classes.
    InvalidToolClass {
        /// The value found.
        found: SafeText,
    },
    /// A grant scope is not a short slug.
    InvalidScope {
        /// The scope.
        scope: SafeText,
    },
    /// A number is out of its range.
    OutOfRange {
        /// The value's place.
        key: KeyPath,
        /// Smallest accepted.
        min: u64,
        /// Largest accepted.
        max: u64,
    },
    /// A rule's conditions can never all hold.
    Contradictory {
        /// The rule.
        rule: SafeText,
        /// Why.
        conflict: Contradiction,
    },
    /// A rule can never fire: an earlier rule matches every request it matches.
    Shadowed {
        /// The dead rule.
        rule: SafeText,
        /// The earlier rule.
        by: SafeText,
        /// Line of the earlier rule.
        by_line: usize,
    },
    /// A catch-all rule (one that matches everything) that is not the last rule.
    CatchAllNotLast {
        /// The catch-all.
        rule: SafeText,
        /// How many rules after it can never fire.
        unreachable: usize,
    },
    /// The catch-all allows: the policy would default to allow.
    CatchAllAllows {
        /// The catch-all.
        rule: SafeText,
    },
    /// The last rule is not a catch-all, so some requests match no rule.
    MissingCatchAll,
    /// A `secret.open` grant whose target is a glob (P3 wants capabilities for exact targets).
    SecretGrantNotExact {
        /// The grant.
        grant: SafeText,
    },
    /// A rule can never fire: earlier rules together match every request it matches.
    ShadowedByUnion {
        /// The dead rule.
        rule: SafeText,
        /// How many earlier rules cover it together.
        by: usize,
    },
    /// Rules before the catch-all together allow every request to an unnamed target: a
    /// default-allow in disguise.
    AllowsEverything,
    /// More rules or grants than a policy may hold.
    TooMany {
        /// `rules` or `grants`.
        what: &'static str,
        /// The limit.
        max: usize,
    },
    /// Proving the rules live would take more work than validation allows; refused rather
    /// than accepted unchecked.
    TooComplex,
    /// More problems than are reported; the count of those not shown.
    MoreProblems {
        /// Problems not shown.
        hidden: usize,
    },
}

/// Why a rule's conditions cannot all hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contradiction {
    /// A label is both required (`labels_all`) and forbidden (`labels_none`).
    AllAndNone(LabelSet),
    /// Every label of `labels_any` is forbidden by `labels_none`.
    AnyInsideNone(LabelSet),
}

impl fmt::Display for DiagnosticKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiagnosticKind::Syntax { detail } => write!(f, "invalid TOML: {detail}"),
            DiagnosticKind::TooLarge { len, max } => {
                write!(f, "policy is {len} bytes, more than the {max} bytes accepted")
            }
            DiagnosticKind::UnknownKey { table, key, .. } => {
                write!(f, "unknown key {key} in {table}")
            }
            DiagnosticKind::MissingKey { table, key } => {
                write!(f, "missing key `{key}` in {table}")
            }
            DiagnosticKind::WrongType { key, expected, found } => write!(f, "{key} must be {expected}, found {found}"),
            DiagnosticKind::UnsupportedVersion { found } => {
                write!(f, "unsupported policy version {found}")
            }
            DiagnosticKind::UnknownSyscall { name } => write!(f, "unknown syscall {name}"),
            DiagnosticKind::UnknownLabel { name } => write!(f, "unknown label {name}"),
            DiagnosticKind::InvalidId { what, id } => write!(f, "invalid {what} id {id}"),
            DiagnosticKind::ReservedId { id } => {
                write!(f, "rule id {id} is reserved for the final catch-all deny")
            }
            DiagnosticKind::KernelRuleId { id } => write!(f, "rule id {id} is reserved for the kernel's own rules"),
            DiagnosticKind::DuplicateId { what, id, first_line } => {
                write!(f, "duplicate {what} id {id}, first used on line {first_line}")
            }
            DiagnosticKind::EmptyList { key } => write!(f, "{key} is empty"),
            DiagnosticKind::BadText { key, max } => {
                write!(f, "{key} must be 1 to {max} characters of text")
            }
            DiagnosticKind::EmptyWhen { rule } => {
                write!(f, "rule {rule} has an empty `when` table")
            }
            DiagnosticKind::InvalidEffect { found } => {
                write!(f, "effect {found} is neither `allow` nor `deny`")
            }
            DiagnosticKind::InvalidCapability { found } => {
                write!(f, "capability {found} is neither `present` nor `missing`")
            }
            DiagnosticKind::InvalidPattern { key, problem } => {
                write!(f, "pattern in {key} {problem}")
            }
            DiagnosticKind::InvalidScope { scope } => write!(f, "invalid grant scope {scope}"),
            DiagnosticKind::InvalidToolClass { found } => write!(f, "unknown tool class {found}"),
            DiagnosticKind::OutOfRange { key, min, max } => {
                write!(f, "{key} must be between {min} and {max}")
            }
            DiagnosticKind::Contradictory { rule, conflict } => match conflict {
                Contradiction::AllAndNone(labels) => {
                    write!(f, "rule {rule} can never match: `{labels}` is in both labels_all and labels_none")
                }
                Contradiction::AnyInsideNone(labels) => {
                    write!(f, "rule {rule} can never match: every label of labels_any (`{labels}`) is in labels_none")
                }
            },
            DiagnosticKind::Shadowed { rule, by, by_line } => {
                write!(f, "rule {rule} can never fire: rule {by} on line {by_line} matches every request it matches")
            }
            DiagnosticKind::CatchAllNotLast { rule, unreachable } => {
                write!(f, "catch-all rule {rule} is not last: the {unreachable} rule(s) after it can never fire")
            }
            DiagnosticKind::CatchAllAllows { rule } => {
                write!(f, "catch-all rule {rule} allows: a policy must fall through to deny")
            }
            DiagnosticKind::MissingCatchAll => {
                write!(f, "policy does not end with a catch-all deny rule")
            }
            DiagnosticKind::SecretGrantNotExact { grant } => {
                write!(f, "grant {grant} for `secret.open` has a glob target; secret grants name one exact target")
            }
            DiagnosticKind::ShadowedByUnion { rule, by } => {
                write!(f, "rule {rule} can never fire: {by} earlier rules together match every request it matches")
            }
            DiagnosticKind::AllowsEverything => write!(
                f,
                "policy allows every request to a target no rule names, whatever its syscall, labels or grant: the final deny never applies"
            ),
            DiagnosticKind::TooMany { what, max } => {
                write!(f, "policy has more than {max} {what}")
            }
            DiagnosticKind::TooComplex => {
                write!(f, "policy is too complex to check for dead rules within the validation budget")
            }
            DiagnosticKind::MoreProblems { hidden } => {
                write!(f, "{hidden} more problem(s) not shown")
            }
        }
    }
}

impl DiagnosticKind {
    /// A stable short code for the kind of problem, for tools and fixtures (`shadowed-rule`).
    pub fn code(&self) -> &'static str {
        match self {
            DiagnosticKind::Syntax { .. } => "syntax",
            DiagnosticKind::TooLarge { .. } => "too-large",
            DiagnosticKind::UnknownKey { .. } => "unknown-key",
            DiagnosticKind::MissingKey { .. } => "missing-key",
            DiagnosticKind::WrongType { .. } => "wrong-type",
            DiagnosticKind::UnsupportedVersion { .. } => "unsupported-version",
            DiagnosticKind::UnknownSyscall { .. } => "unknown-syscall",
            DiagnosticKind::UnknownLabel { .. } => "unknown-label",
            DiagnosticKind::InvalidId { .. } => "invalid-id",
            DiagnosticKind::ReservedId { .. } | DiagnosticKind::KernelRuleId { .. } => "reserved-id",
            DiagnosticKind::DuplicateId { .. } => "duplicate-id",
            DiagnosticKind::EmptyList { .. } => "empty-list",
            DiagnosticKind::BadText { .. } => "bad-text",
            DiagnosticKind::EmptyWhen { .. } => "empty-when",
            DiagnosticKind::InvalidEffect { .. } => "invalid-effect",
            DiagnosticKind::InvalidCapability { .. } => "invalid-capability",
            DiagnosticKind::InvalidPattern { .. } => "invalid-pattern",
            DiagnosticKind::InvalidScope { .. } => "invalid-scope",
            DiagnosticKind::InvalidToolClass { .. } => "invalid-tool-class",
            DiagnosticKind::OutOfRange { .. } => "out-of-range",
            DiagnosticKind::Contradictory { .. } => "contradictory-rule",
            DiagnosticKind::Shadowed { .. } => "shadowed-rule",
            DiagnosticKind::CatchAllNotLast { .. } => "catch-all-not-last",
            DiagnosticKind::CatchAllAllows { .. } => "catch-all-allows",
            DiagnosticKind::MissingCatchAll => "missing-catch-all",
            DiagnosticKind::SecretGrantNotExact { .. } => "secret-grant-not-exact",
            DiagnosticKind::ShadowedByUnion { .. } => "shadowed-rule",
            DiagnosticKind::AllowsEverything => "catch-all-allows",
            DiagnosticKind::TooMany { .. } => "too-many",
            DiagnosticKind::TooComplex => "too-complex",
            DiagnosticKind::MoreProblems { .. } => "more-problems",
        }
    }

    fn help(&self) -> Option<String> {
        let text = match self {
            DiagnosticKind::UnknownKey { expected, .. } => {
                format!("expected one of: {}", expected.join(", "))
            }
            DiagnosticKind::UnsupportedVersion { .. } => "this AgentK reads policy `version = 1`".to_owned(),
            DiagnosticKind::UnknownSyscall { .. } => "docs/syscalls.md lists every syscall name".to_owned(),
            DiagnosticKind::UnknownLabel { .. } => {
                let names: Vec<&str> = agentk_labels::Label::ALL.map(|l| l.name()).to_vec();
                format!("labels are: {}", names.join(", "))
            }
            DiagnosticKind::InvalidId { .. } => {
                "ids are 1 to 64 of `a-z`, `0-9` and `-`, starting with a letter or digit".to_owned()
            }
            DiagnosticKind::ReservedId { .. } | DiagnosticKind::KernelRuleId { .. } => "choose another id".to_owned(),
            DiagnosticKind::EmptyList { .. } => {
                "remove the key to match anything, or name at least one value".to_owned()
            }
            DiagnosticKind::EmptyWhen { .. } => "remove `when` to write a catch-all, or add a condition".to_owned(),
            DiagnosticKind::InvalidToolClass { .. } => {
                "tool classes are: read, write, delete, execute, send, spend".to_owned()
            }
            DiagnosticKind::InvalidScope { .. } => {
                "scopes are 1 to 64 of `a-z`, `0-9`, `.`, `_`, `:` and `-`".to_owned()
            }
            DiagnosticKind::Shadowed { .. } | DiagnosticKind::ShadowedByUnion { .. } => {
                "delete the rule, or move it above the rules that shadow it".to_owned()
            }
            DiagnosticKind::TooComplex => "use fewer rules, or shorter target and agent patterns".to_owned(),
            DiagnosticKind::CatchAllNotLast { .. } => {
                "move the catch-all to the end, or give it a condition".to_owned()
            }
            DiagnosticKind::AllowsEverything => {
                "add deny rules for what must not happen; `agentk policy-explain` shows what a request gets".to_owned()
            }
            DiagnosticKind::CatchAllAllows { .. } | DiagnosticKind::MissingCatchAll => {
                "end the rules with one that has no `when` and `effect = \"deny\"`".to_owned()
            }
            DiagnosticKind::SecretGrantNotExact { .. } => {
                "write one grant per secret target, e.g. `secret://billing-api`".to_owned()
            }
            _ => return None,
        };
        Some(text)
    }
}
