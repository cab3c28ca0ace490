//! Generators shared by tests and benchmarks. Not part of the stable API.

use std::fmt::Write as _;

use agentk_labels::{Label, Syscall};

/// A valid policy with `rules` rules plus a catch-all: deny rules spread over every syscall,
/// each on its own exact target, so no rule shadows another and a request for an unlisted
/// target scans every candidate rule for its syscall before reaching the catch-all.
pub fn synthetic_policy(rules: usize) -> String {
    synthetic_policy_for(rules, Syscall::ALL, false)
}

/// Like [`synthetic_policy`], with the rules spread over `syscalls` only. With a single syscall
/// the syscall index cannot help. With `open`, target patterns start and end with `*`
/// (`*://host-N.example.invalid/*`), so no literal prefix or suffix can file them and the index
/// has to find them by an inner literal.
pub fn synthetic_policy_for(rules: usize, syscalls: &[Syscall], open: bool) -> String {
    let scheme = if open { "*" } else { "https" };
    let mut text = String::from("version = 1\nname = \"synthetic\"\n");
    for i in 0..rules {
        let syscall = syscalls.get(i % syscalls.len()).map_or("tool.invoke", |s| s.name());
        let label = Label::ALL.get(i % Label::ALL.len()).map_or("secret", |l| l.name());
        let effect = if i % 3 == 0 { "allow" } else { "deny" };
        let _ = write!(
            text,
            "\n[[rules]]\nid = \"rule-{i}\"\neffect = \"{effect}\"\nreason = \"synthetic rule {i}\"\n\
             when.syscalls = [\"{syscall}\"]\nwhen.targets = [\"{scheme}://host-{i}.example.invalid/*\"]\n\
             when.labels_any = [\"{label}\"]\n"
        );
    }
    text.push_str("\n[[rules]]\nid = \"default-deny\"\neffect = \"deny\"\nreason = \"fall through\"\n");
    text
}

/// A valid policy with `rules` rules on `network.send` plus a catch-all, whose target patterns
/// all start with `*`, so no literal prefix can file any of them. The rules cycle
/// through three shapes, each naming its own host so no rule shadows another:
/// `*.host-N.example.invalid/*` (a `*` at both ends), `*://host-N.example.invalid/api` and
/// `*@host-N.example.invalid` (a literal suffix). A `network.send` request that carries every
/// label hits rule `rule-N` when its target is `https://api.host-N.example.invalid/x`
/// (N ≡ 0 mod 3), `https://host-N.example.invalid/api` (N ≡ 1) or `ops@host-N.example.invalid`
/// (N ≡ 2), and no rule when it names no such host.
pub fn synthetic_leading_star_policy(rules: usize) -> String {
    let mut text = String::from("version = 1\nname = \"synthetic-leading-star\"\n");
    for i in 0..rules {
        let target = match i % 3 {
            0 => format!("*.host-{i}.example.invalid/*"),
            1 => format!("*://host-{i}.example.invalid/api"),
            _ => format!("*@host-{i}.example.invalid"),
        };
        let label = Label::ALL.get(i % Label::ALL.len()).map_or("secret", |l| l.name());
        let effect = if i % 3 == 0 { "allow" } else { "deny" };
        let _ = write!(
            text,
            "\n[[rules]]\nid = \"rule-{i}\"\neffect = \"{effect}\"\nreason = \"synthetic rule {i}\"\n\
             when.syscalls = [\"network.send\"]\nwhen.targets = [\"{target}\"]\n\
             when.labels_any = [\"{label}\"]\n"
        );
    }
    text.push_str("\n[[rules]]\nid = \"default-deny\"\neffect = \"deny\"\nreason = \"fall through\"\n");
    text
}
