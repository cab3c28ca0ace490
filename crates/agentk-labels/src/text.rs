use std::fmt;

/// Text that came from outside AgentK, made safe to show in a message.
///
/// It keeps at most [`SafeText::MAX_CHARS`] characters and escapes control and other
/// non-printing characters, so a hostile value can neither flood a terminal or a log line nor
/// smuggle escape sequences into it. It displays in backticks, as house style asks for user
/// values.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SafeText(String);

impl SafeText {
    /// The most characters of the original that [`SafeText::new`] keeps.
    pub const MAX_CHARS: usize = 64;

    /// Makes `raw` safe to display, keeping at most [`SafeText::MAX_CHARS`] characters.
    pub fn new(raw: &str) -> Self {
        Self::with_limit(raw, Self::MAX_CHARS)
    }

    /// Makes `raw` safe to display, keeping at most `max_chars` characters.
    pub fn with_limit(raw: &str, max_chars: usize) -> Self {
        let mut out = String::new();
        for (kept, c) in raw.chars().enumerate() {
            if kept == max_chars {
                out.push_str(&format!("…(+{} bytes)", raw.len() - raw_prefix_len(raw, kept)));
                break;
            }
            if c == '`' || !Self::is_visible(c) && !c.is_control() && !c.is_whitespace() {
                out.extend(c.escape_unicode());
            } else if !Self::is_visible(c) {
                out.extend(c.escape_default());
            } else {
                out.push(c);
            }
        }
        Self(out)
    }

    /// Whether `c` is shown as itself: printable ASCII (space included) or a Unicode letter or
    /// digit. Everything else, including format characters that reorder or hide text (U+202E,
    /// U+200B, U+2066) and combining marks, is escaped.
    pub fn is_visible(c: char) -> bool {
        c == ' ' || c.is_ascii_graphic() || !c.is_ascii() && c.is_alphanumeric()
    }

    /// The escaped text, without backticks.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Byte length of the first `chars` characters of `raw`.
fn raw_prefix_len(raw: &str, chars: usize) -> usize {
    raw.char_indices().nth(chars).map_or(raw.len(), |(i, _)| i)
}

impl fmt::Display for SafeText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`", self.0)
    }
}

impl fmt::Debug for SafeText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Where each line of a source starts, built once so that every position costs a binary
/// search rather than a scan from the top (validation stays linear in the policy's size).
pub struct LineIndex<'s> {
    source: &'s str,
    starts: Vec<usize>,
}

impl<'s> LineIndex<'s> {
    /// Indexes `source`.
    pub fn new(source: &'s str) -> Self {
        let starts = std::iter::once(0).chain(source.match_indices('\n').map(|(i, _)| i + 1)).collect();
        LineIndex { source, starts }
    }

    /// 1-based line of byte `offset`.
    pub fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|&start| start <= offset).max(1)
    }

    /// Byte offset where the line holding `offset` starts.
    pub fn line_start(&self, offset: usize) -> usize {
        self.starts.get(self.line(offset) - 1).copied().unwrap_or(0)
    }

    /// 1-based line and character column of byte `offset`.
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.source.len());
        let start = self.line_start(offset);
        let column = self.source.get(start..offset).map_or(0, |s| s.chars().count()) + 1;
        (self.line(offset), column)
    }
}

#[cfg(test)]
mod tests {
    use super::SafeText;

    fn check(raw: &str, shown: &str) {
        assert_eq!(SafeText::new(raw).to_string(), shown);
    }

    #[test]
    fn plain_text_is_kept_in_backticks() {
        check("kernel.reboot", "`kernel.reboot`");
    }

    #[test]
    fn control_characters_are_escaped() {
        check("a\u{1b}[2Jb\n", "`a\\u{1b}[2Jb\\n`");
    }

    #[test]
    fn invisible_and_reordering_characters_are_escaped() {
        check("a\u{202e}b\u{200b}c\u{2066}d\u{301}", "`a\\u{202e}b\\u{200b}c\\u{2066}d\\u{301}`");
        check("café ünïcode", "`café ünïcode`");
        check("tab\there", "`tab\\there`");
    }

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let lines = super::LineIndex::new("ab\ncé\nx");
        assert_eq!(lines.line_column(0), (1, 1));
        assert_eq!(lines.line_column(3), (2, 1));
        assert_eq!(lines.line_column(6), (2, 3));
        assert_eq!(lines.line_column(7), (3, 1));
        assert_eq!(lines.line_column(99), (3, 2));
        assert_eq!(super::LineIndex::new("").line_column(0), (1, 1));
    }

    #[test]
    fn backticks_cannot_close_the_quote() {
        check("x` injected", "`x\\u{60} injected`");
    }

    #[test]
    fn long_text_is_cut_with_a_count() {
        let raw = "a".repeat(1000);
        let shown = SafeText::new(&raw).to_string();
        assert!(shown.len() < 100, "{shown}");
        assert!(shown.ends_with("…(+936 bytes)`"), "{shown}");
    }
}
