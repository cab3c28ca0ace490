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
