//! Boundary cases of rule look-up: whatever key the index files a rule under (its target's
//! literal prefix, literal suffix or an inner literal), the rule that fires is the first one, in
//! policy order, whose target patterns match. Each case names the rule it expects, and every
//! answer is also checked against an in-order scan through the public API.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic, reason = "test helpers fail loudly on purpose")]

use agentk_labels::{LabelSet, Syscall};
use agentk_policy::{Policy, Request, testing};

/// A policy with one `network.send` rule `r<i>` per entry of `rules` (an entry is a list of
/// target patterns separated by `|`), then the catch-all deny.
fn policy(rules: &[&str]) -> Policy {
    let mut text = String::from("version = 1\nname = \"boundary\"\n");
    for (i, patterns) in rules.iter().enumerate() {
        let patterns: Vec<String> = patterns.split('|').map(|p| format!("\"{p}\"")).collect();
        text += &format!(
            "\n[[rules]]\nid = \"r{i}\"\neffect = \"deny\"\nreason = \"r\"\nwhen.syscalls = [\"network.send\"]\nwhen.targets = [{}]\n",
            patterns.join(", ")
        );
    }
    text += "\n[[rules]]\nid = \"default-deny\"\neffect = \"deny\"\nreason = \"end\"\n";
    Policy::parse("boundary", &text).unwrap_or_else(|e| panic!("{e:?}\n{text}"))
}

/// The id of the first rule whose syscall and target conditions hold, by a plain scan. The
/// policies here put no other condition on a request that carries every label.
fn naive(policy: &Policy, target: &str) -> String {
    let first = policy.rules().iter().find(|rule| {
        rule.when().syscalls().is_none_or(|s| s.contains(&Syscall::NetworkSend))
            && rule.when().targets().is_none_or(|t| t.iter().any(|p| p.matches(target)))
    });
    first.map_or("default-deny", |rule| rule.id()).to_owned()
}

fn check_fires_in(policy: &Policy, target: &str, expected: &str) {
    let request = Request::new("agent-1", Syscall::NetworkSend, target).with_labels(LabelSet::ALL);
    let got = policy.evaluate(&request).rule_id().to_owned();
    let shown = if target.len() > 60 {
        format!("{}… ({} bytes)", target.chars().take(20).collect::<String>(), target.len())
    } else {
        target.into()
    };
    assert_eq!(got, naive(policy, target), "index and in-order scan differ on `{shown}`");
    assert_eq!(got, expected, "target `{shown}`");
}

fn check_fires(rules: &[&str], target: &str, expected: &str) {
    check_fires_in(&policy(rules), target, expected);
}

#[test]
fn empty_target() {
    check_fires(&["*abcd", "abcd*", "*abcd*", "*ab*"], "", "default-deny");
    check_fires(&["*abcd", "abcd*", "*abcd*", "*"], "", "r3");
    check_fires(&["*abcd", "*"], "", "r1");
}

#[test]
fn target_shorter_than_a_literal() {
    check_fires(&["*example.invalid"], "invalid", "default-deny");
    check_fires(&["*example.invalid"], "example.invalid", "r0");
    check_fires(&["*example.invalid"], "xexample.invalid", "r0");
    check_fires(&["https://*"], "https:/", "default-deny");
    check_fires(&["*abcdef*"], "abcde", "default-deny");
    check_fires(&["*abcdef*"], "abc", "default-deny");
    check_fires(&["*abcd*"], "abcd", "r0");
    check_fires(&["*abcd*", "*abc"], "ab", "default-deny");
}

#[test]
fn prefix_and_suffix_may_not_overlap() {
    check_fires(&["ab*ba"], "aba", "default-deny");
    check_fires(&["ab*ba"], "abba", "r0");
    check_fires(&["ab*ba"], "ab-ba", "r0");
    check_fires(&["abab*abab"], "ababab", "default-deny");
    check_fires(&["abab*abab"], "abababab", "r0");
    check_fires(&["*abab*abab", "abab*"], "ababab", "r1");
    check_fires(&["*abab*abab", "abab*"], "abababab", "r0");
    check_fires(&["*ab*ba"], "aba", "default-deny");
    check_fires(&["*ab*ba"], "abba", "r0");
    check_fires(&["*host*host"], "host", "default-deny");
    check_fires(&["*host*host"], "hosthost", "r0");
}

#[test]
fn first_in_policy_order_wins_across_keys() {
    let rules = ["*.invalid/api", "https://*", "*host-7*", "*.invalid/*"];
    check_fires(&rules, "https://host-7.invalid/api", "r0");
    check_fires(&rules, "https://host-7.invalid/", "r1");
    check_fires(&rules, "ftp://host-7.invalid/", "r2");
    check_fires(&rules, "ftp://host-8.invalid/", "r3");
    check_fires(&rules, "ftp://host-8.example/", "default-deny");
    // Later rules sharing a key with an earlier one are reached when the earlier one fails.
    let shared = ["*wxyz*1", "*wxyz*2", "*wxyz*3", "*wxyz"];
    check_fires(&shared, "wxyz3", "r2");
    check_fires(&shared, "awxyz", "r3");
    check_fires(&shared, "wxy3", "default-deny");
}

#[test]
fn a_rule_is_a_candidate_through_any_of_its_patterns() {
    let rules = ["*abcd|https://x/*", "*wxyz*", "*efgh|*ab*"];
    check_fires(&rules, "https://x/y", "r0");
    check_fires(&rules, "qqabcd", "r0");
    check_fires(&rules, "wxyzabcd", "r0");
    check_fires(&rules, "wxyz", "r1");
    check_fires(&rules, "zzab", "r2");
    check_fires(&rules, "zzefgh", "r2");
    check_fires(&rules, "zz", "default-deny");
}

#[test]
fn multi_byte_targets_and_literals() {
    let rules = ["*日本語", "*éé*", "*日本*語*", "日本*", "*𠀀x", "*x𠀀*"];
    check_fires(&rules, "https://例え.jp/日本語", "r0");
    check_fires(&rules, "本語", "default-deny");
    check_fires(&rules, "語", "default-deny");
    check_fires(&rules, "aééa", "r1");
    check_fires(&rules, "éaé", "default-deny");
    check_fires(&rules, "x日本y語z", "r2");
    check_fires(&rules, "日本", "r3");
    check_fires(&rules, "日", "default-deny");
    check_fires(&rules, "a𠀀x", "r4");
    check_fires(&rules, "x𠀀", "r5");
    // Byte windows that straddle characters, and bytes of a literal split across characters.
    check_fires(&rules, "𠀀𠀀", "default-deny");
    check_fires(&rules, "\u{e9}\u{301}\u{e9}", "default-deny");
    check_fires(&["*ab\u{e9}*"], "ab\u{e9}", "r0");
    check_fires(&["*ab\u{e9}*"], "ab\u{e8}", "default-deny");
}

#[test]
fn very_long_targets() {
    let a = "a".repeat(4096);
    check_fires(&["*aaaa*b", "*abab*", "*aaaa*"], &a, "r2");
    check_fires(&["*aaaa*b", "*abab*"], &a, "default-deny");
    let tail = "x".repeat(4090) + "日本";
    check_fires(&["*x日本*", "*日本"], &tail, "r0");
    check_fires(&["*y日本*", "*日本"], &tail, "r1");
    check_fires(&["*xxxxy*", "*xxy"], &tail, "default-deny");
    let accents = "é".repeat(2048);
    check_fires(&["*éé*a", "*éé"], &accents, "r1");
    // A literal of the longest pattern, at the very end of a long target.
    let literal = "q".repeat(511);
    let pattern = format!("*{literal}");
    check_fires(&[&pattern], &("p".repeat(4096) + &literal), "r0");
    check_fires(&[&pattern], &("p".repeat(4096) + &literal[1..]), "default-deny");
}

#[test]
fn many_inner_literals_in_one_target() {
    // Forty rules, each filed under its own inner literal `kNNa`, that also need a `zzzz`
    // suffix, then one that needs only `k39a`. A target holding every `kNNa` reaches every list.
    let mut rules: Vec<String> = (0..40).map(|n| format!("*k{n:02}a*zzzz")).collect();
    rules.push("*k39a*".to_owned());
    let rules: Vec<&str> = rules.iter().map(String::as_str).collect();
    let policy = policy(&rules);
    let forward: String = (0..40).map(|n| format!("k{n:02}a")).collect();
    let backward: String = (0..40).rev().map(|n| format!("k{n:02}a")).collect();
    check_fires_in(&policy, &forward, "r40");
    check_fires_in(&policy, &backward, "r40");
    // The earliest rule in policy order, not the first literal in the target.
    check_fires_in(&policy, &(backward.clone() + "zzzz"), "r0");
    check_fires_in(&policy, &(backward.replace("k00a", "") + "zzzz"), "r1");
    // One literal repeated over a long target.
    check_fires_in(&policy, &("k07a".repeat(1024) + "zzzz"), "r7");
    check_fires_in(&policy, &"k07a".repeat(1024), "default-deny");
}

#[test]
fn synthetic_leading_star_policy() {
    let policy = Policy::parse("synthetic", &testing::synthetic_leading_star_policy(1000)).unwrap();
    assert_eq!(policy.rules().len(), 1001);
    assert!(
        policy.rules()[..1000].iter().flat_map(|r| r.when().targets().unwrap()).all(|p| p.as_str().starts_with('*'))
    );
    check_fires_in(&policy, "https://api.host-999.example.invalid/x", "rule-999");
    check_fires_in(&policy, "someone@host-998.example.invalid", "rule-998");
    check_fires_in(&policy, "https://host-997.example.invalid/api", "rule-997");
    check_fires_in(&policy, "https://a.host-0.example.invalid/", "rule-0");
    check_fires_in(&policy, "https://host-997.example.invalid/apix", "default-deny");
    check_fires_in(&policy, "someone@host-998.example.invalid.", "default-deny");
    check_fires_in(&policy, "https://nowhere.example.invalid/x", "default-deny");
    check_fires_in(&policy, "", "default-deny");
    for rules in [0, 1, 2, 3, 10] {
        let policy = Policy::parse("synthetic", &testing::synthetic_leading_star_policy(rules)).unwrap();
        assert_eq!(policy.rules().len(), rules + 1);
        let Some(n) = rules.checked_sub(1) else { continue };
        let target = match n % 3 {
            0 => format!("https://api.host-{n}.example.invalid/x"),
            1 => format!("https://host-{n}.example.invalid/api"),
            _ => format!("ops@host-{n}.example.invalid"),
        };
        check_fires_in(&policy, &target, &format!("rule-{n}"));
    }
}
