//! Target and agent patterns: exact strings, or globs where `*` matches any run of characters.

use std::fmt;

/// A validated pattern over targets or agent ids.
///
/// `*` matches any sequence of characters, including none and including `/`; every other
/// character matches itself. There is no escape: a pattern cannot match a literal `*` except
/// through a `*`. Patterns are 1 to [`Pattern::MAX_LEN`] bytes with no control characters and no
/// `**`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Pattern {
    text: Box<str>,
    has_star: bool,
    /// Length of the literal before the first `*` (the whole text when there is none).
    prefix_len: usize,
    /// Length of the literal after the last `*`.
    suffix_len: usize,
}

/// Why a pattern was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatternProblem {
    /// The pattern is empty.
    Empty,
    /// The pattern is longer than [`Pattern::MAX_LEN`] bytes.
    TooLong,
    /// The pattern holds a control, invisible or text-reordering character, or whitespace
    /// other than a space.
    ControlCharacter,
    /// The pattern holds `**`, which means the same as `*`.
    DoubleStar,
}

impl fmt::Display for PatternProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PatternProblem::Empty => "is empty",
            PatternProblem::TooLong => "is longer than 512 bytes",
            PatternProblem::ControlCharacter => "holds a control or invisible character",
            PatternProblem::DoubleStar => "holds `**`; write a single `*`",
        })
    }
}

impl Pattern {
    /// The longest pattern accepted, in bytes.
    pub const MAX_LEN: usize = 512;

    /// Checks and builds a pattern.
    pub fn new(text: &str) -> Result<Self, PatternProblem> {
        if text.is_empty() {
            return Err(PatternProblem::Empty);
        }
        if text.len() > Self::MAX_LEN {
            return Err(PatternProblem::TooLong);
        }
        if !text.chars().all(agentk_labels::SafeText::is_visible) {
            return Err(PatternProblem::ControlCharacter);
        }
        if text.contains("**") {
            return Err(PatternProblem::DoubleStar);
        }
        let prefix_len = text.find('*').unwrap_or(text.len());
        let suffix_len = text.rfind('*').map_or(0, |star| text.len() - star - 1);
        Ok(Pattern { text: text.into(), has_star: prefix_len < text.len(), prefix_len, suffix_len })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The literal text before the first `*` (all of it for an exact pattern).
    pub fn literal_prefix(&self) -> &str {
        self.text.get(..self.prefix_len).unwrap_or_default()
    }

    /// A few byte comparisons that rule out most non-inclusions: `other`'s literal prefix must
    /// extend ours, and its literal suffix must end with ours (a `*` of `other` can never stand
    /// where we need a literal). `false` means [`Pattern::subsumes`] is false; `true` means it
    /// has to look further.
    pub(crate) fn may_subsume(&self, other: &Pattern) -> bool {
        other.literal_prefix().starts_with(self.literal_prefix())
            && other.literal_suffix().ends_with(self.literal_suffix())
    }

    /// The literal text after the last `*` (all of it for an exact pattern).
    pub fn literal_suffix(&self) -> &str {
        let len = if self.has_star { self.suffix_len } else { self.text.len() };
        self.text.get(self.text.len() - len..).unwrap_or_default()
    }

    /// Whether the pattern is a plain string with no `*`.
    pub fn is_exact(&self) -> bool {
        !self.has_star
    }

    /// Whether the pattern is `*`, which matches everything.
    pub fn is_universal(&self) -> bool {
        &*self.text == "*"
    }

    /// Whether `text` matches the pattern.
    pub fn matches(&self, text: &str) -> bool {
        if !self.has_star {
            return *self.text == *text;
        }
        // A glob `P*M1*…*Mn*S` matches exactly the texts that start with P and end with S (the
        // two not overlapping) and whose middle holds M1 … Mn in order. Finding each Mi at its
        // leftmost place is optimal for `*`-only globs, so this is one linear pass.
        let pattern = &*self.text;
        let (prefix, rest) = pattern.split_at(self.prefix_len);
        let (middle, suffix) = rest.split_at(rest.len() - self.suffix_len);
        if text.len() < prefix.len() + suffix.len() || !text.starts_with(prefix) || !text.ends_with(suffix) {
            return false;
        }
        // INVARIANT: `prefix` and `suffix` are whole UTF-8 strings found at the ends of `text`,
        // so both cut points are character boundaries.
        let inner = text.get(prefix.len()..text.len() - suffix.len()).unwrap_or_default();
        let mut rest = inner.as_bytes();
        for segment in middle.split('*').filter(|s| !s.is_empty()) {
            match find(rest, segment.as_bytes()) {
                Some(at) => rest = rest.get(at + segment.len()..).unwrap_or_default(),
                None => return false,
            }
        }
        true
    }

    /// Whether every string `other` matches is also matched by `self`.
    ///
    /// Sound, not complete: `true` is always right; for a few exotic pairs of globs whose
    /// inclusion needs case analysis this answers `false`. Shadowed-rule detection relies on
    /// this, so it may miss such a shadow but never reports a false one.
    pub fn subsumes(&self, other: &Pattern) -> bool {
        let mut unlimited = u64::MAX;
        self.subsumes_within(other, &mut unlimited).unwrap_or(false)
    }

    /// [`Pattern::subsumes`], spending at most `steps` steps of matching work; `None` when the
    /// budget runs out first.
    pub(crate) fn subsumes_within(&self, other: &Pattern, steps: &mut u64) -> Option<bool> {
        *steps = steps.checked_sub(1)?;
        if !self.has_star {
            return Some(!other.has_star && self.text == other.text);
        }
        if !self.may_subsume(other) {
            return Some(false);
        }
        // Treat each `*` of `other` as a symbol that only a `*` of `self` can absorb: if `self`
        // matches `other` read that way, every instantiation of `other` matches `self`.
        let symbols: Vec<Option<u8>> = other.text.bytes().map(|b| (b != b'*').then_some(b)).collect();
        glob_match(self.text.as_bytes(), &symbols, |p, t| *t == Some(p), steps)
    }
}

/// The first position of `needle` in `hay`. Targets are short, so a first-byte scan with a
/// slice compare beats building a general substring searcher for each call.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, _) = needle.split_first()?;
    let last_start = hay.len().checked_sub(needle.len())?;
    (0..=last_start).find(|&i| hay.get(i) == Some(&first) && hay.get(i..i + needle.len()) == Some(needle))
}

/// Wildcard matching where `*` in `pattern` matches any run of items of `text`, and any other
/// pattern byte `p` matches an item `t` when `literal(p, t)`. Greedy with one backtrack point,
/// which is exact for `*`-only globs, in O(len(pattern) * len(text)) at worst.
fn glob_match<T>(pattern: &[u8], text: &[T], literal: impl Fn(u8, &T) -> bool, steps: &mut u64) -> Option<bool> {
    let (mut p, mut t) = (0, 0);
    let mut resume: Option<(usize, usize)> = None;
    loop {
        *steps = steps.checked_sub(1)?;
        match (pattern.get(p), text.get(t)) {
            (Some(b'*'), _) => {
                resume = Some((p, t));
                p += 1;
            }
            (Some(&pb), Some(item)) if literal(pb, item) => {
                p += 1;
                t += 1;
            }
            (None, None) => return Some(true),
            _ => match resume {
                // Let the last `*` absorb one more item and retry after it.
                Some((star, absorbed)) if absorbed < text.len() => {
                    resume = Some((star, absorbed + 1));
                    p = star + 1;
                    t = absorbed + 1;
                }
                _ => return Some(false),
            },
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`", self.text)
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pat(text: &str) -> Pattern {
        Pattern::new(text).unwrap()
    }

    fn check_match(pattern: &str, text: &str, expected: bool) {
        assert_eq!(pat(pattern).matches(text), expected, "{pattern} ~ {text}");
    }

    #[test]
    fn matching() {
        check_match("*", "", true);
        check_match("*", "anything/at/all", true);
        check_match("secret://a", "secret://a", true);
        check_match("secret://a", "secret://ab", false);
        check_match("https://*.example.invalid/*", "https://api.example.invalid/v1", true);
        check_match("https://*.example.invalid/*", "https://example.invalid/v1", false);
        check_match("https://*.example.invalid/*", "https://evil.invalid/.example.invalid/", true);
        check_match("a*b*c", "abc", true);
        check_match("a*b*c", "aXbYbZc", true);
        check_match("a*b*c", "acb", false);
        check_match("*ab", "aab", true);
        check_match("a*", "", false);
    }

    fn check_subsumes(wide: &str, narrow: &str, expected: bool) {
        assert_eq!(pat(wide).subsumes(&pat(narrow)), expected, "{wide} ⊇ {narrow}");
    }

    #[test]
    fn subsumption() {
        check_subsumes("*", "anything*", true);
        check_subsumes("a*", "ab*", true);
        check_subsumes("ab*", "a*", false);
        check_subsumes("a*", "a", true);
        check_subsumes("a", "a*", false);
        check_subsumes("*x", "a*x", true);
        check_subsumes("*x", "a*", false);
        check_subsumes("a*c", "ab*bc", true);
        check_subsumes("exact", "exact", true);
        check_subsumes("exact", "other", false);
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert_eq!(Pattern::new(""), Err(PatternProblem::Empty));
        assert_eq!(Pattern::new("a**"), Err(PatternProblem::DoubleStar));
        assert_eq!(Pattern::new("a\nb"), Err(PatternProblem::ControlCharacter));
        assert_eq!(Pattern::new(&"a".repeat(513)), Err(PatternProblem::TooLong));
    }

    /// A naive reference: recursive matching by definition.
    fn naive(pattern: &[u8], text: &[u8]) -> bool {
        match pattern.split_first() {
            None => text.is_empty(),
            Some((b'*', rest)) => (0..=text.len()).any(|i| naive(rest, &text[i..])),
            Some((c, rest)) => text.first() == Some(c) && naive(rest, &text[1..]),
        }
    }

    fn small_pattern() -> impl Strategy<Value = String> {
        "[ab*]{1,6}".prop_filter("no double star", |p| !p.contains("**"))
    }

    proptest! {
        #[test]
        fn matching_agrees_with_the_definition(p in small_pattern(), t in "[ab]{0,8}") {
            prop_assert_eq!(pat(&p).matches(&t), naive(p.as_bytes(), t.as_bytes()));
        }

        #[test]
        fn subsumption_is_sound(wide in small_pattern(), narrow in small_pattern(), t in "[ab]{0,8}") {
            if pat(&wide).subsumes(&pat(&narrow)) && pat(&narrow).matches(&t) {
                prop_assert!(pat(&wide).matches(&t), "{} ⊇ {} but not on {}", wide, narrow, t);
            }
        }
    }
}
