//! The evaluator agrees with a deliberately naive reference evaluator on random policies and
//! requests, and is deterministic. The reference reads the policy's conditions through the
//! public API and applies them with plain set logic, sharing none of the evaluator's
//! precomputed tables or syscall index.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic, reason = "test helpers fail loudly on purpose")]

use agentk_labels::{Label, LabelSet, Syscall, SyscallKind};
use agentk_policy::{CapabilityCondition, DiagnosticKind, Policy, PolicyError, Request};
use proptest::prelude::*;

const AGENTS: &[&str] = &["agent-a", "agent-b", "ops-1"];
const AGENT_PATTERNS: &[&str] = &["*", "agent-*", "ops-1", "agent-b"];
const TARGETS: &[&str] =
    &["https://a.example.invalid/p", "https://b.example.invalid/q", "secret://x", "mcp://t/run", "file:///workspace/a"];
const TARGET_PATTERNS: &[&str] = &[
    "*",
    "https://*",
    "https://a.example.invalid/*",
    "https://*.example.invalid/q",
    "secret://x",
    "mcp://t/*",
    "file:///workspace/*",
];
const GRANT_IDS: &[&str] = &["g0", "g1", "g2"];
/// Literals that overlap one another (`abab` holds `ab`, `ba` and `bab`; `host`, `st-1` and
/// `-1.` share bytes), some multi-byte, from which generated patterns and targets are built, so
/// that prefixes, suffixes and inner literals of different rules collide, and windows of four
/// bytes straddle characters.
const FRAGMENTS: &[&str] = &["a", "ab", "ba", "abab", "bab", "host", "st-1", "-1.", "é", "éa", "日本", "/x"];

#[derive(Clone, Debug)]
struct RuleSpec {
    allow: bool,
    syscalls: Option<Vec<usize>>,
    targets: Option<Vec<String>>,
    agents: Option<Vec<usize>>,
    any: Option<u8>,
    all: Option<u8>,
    none: Option<u8>,
    capability: Option<bool>,
}

fn label_list(bits: u8) -> String {
    let set = LabelSet::from_bits(bits).unwrap();
    set.iter().map(|l| format!("\"{l}\"")).collect::<Vec<_>>().join(", ")
}

fn quoted(items: &[usize], names: &[&str]) -> String {
    items.iter().map(|&i| format!("\"{}\"", names[i % names.len()])).collect::<Vec<_>>().join(", ")
}

fn render(rules: &[(String, RuleSpec)], grants: &[(usize, usize, usize)]) -> String {
    let mut text = String::from("version = 1\nname = \"random\"\n");
    for (i, &(syscall, target, agent)) in grants.iter().enumerate() {
        let syscall = Syscall::ALL[syscall % Syscall::ALL.len()];
        let mut target = TARGET_PATTERNS[target % TARGET_PATTERNS.len()];
        if syscall == Syscall::SecretOpen {
            target = "secret://x";
        }
        text += &format!(
            "\n[[grants]]\nid = \"g{i}\"\nagents = [\"{}\"]\nsyscall = \"{syscall}\"\ntarget = \"{target}\"\nscope = \"s\"\nuses = 1\nttl_seconds = 60\n",
            AGENT_PATTERNS[agent % AGENT_PATTERNS.len()]
        );
    }
    for (id, r) in rules {
        text += &format!(
            "\n[[rules]]\nid = \"{id}\"\neffect = \"{}\"\nreason = \"r\"\n",
            if r.allow { "allow" } else { "deny" }
        );
        let names: Vec<&str> = Syscall::ALL.iter().map(|s| s.name()).collect();
        if let Some(s) = &r.syscalls {
            text += &format!("when.syscalls = [{}]\n", quoted(s, &names));
        }
        if let Some(t) = &r.targets {
            let t: Vec<String> = t.iter().map(|p| format!("\"{p}\"")).collect();
            text += &format!("when.targets = [{}]\n", t.join(", "));
        }
        if let Some(a) = &r.agents {
            text += &format!("when.agents = [{}]\n", quoted(a, AGENT_PATTERNS));
        }
        for (key, bits) in [("labels_any", r.any), ("labels_all", r.all), ("labels_none", r.none)] {
            if let Some(bits) = bits {
                text += &format!("when.{key} = [{}]\n", label_list(bits));
            }
        }
        if let Some(present) = r.capability {
            text += &format!("when.capability = \"{}\"\n", if present { "present" } else { "missing" });
        }
    }
    text + "\n[[rules]]\nid = \"default-deny\"\neffect = \"deny\"\nreason = \"end\"\n"
}

/// Builds a valid policy from random rules by dropping the ones validation calls dead or
/// contradictory (and any rule that became a catch-all), until it validates.
fn valid_policy(rules: Vec<(String, RuleSpec)>, grants: &[(usize, usize, usize)]) -> Policy {
    valid_policy_text(rules, grants).0
}

/// [`valid_policy`], also answering the text it validated.
fn valid_policy_text(mut rules: Vec<(String, RuleSpec)>, grants: &[(usize, usize, usize)]) -> (Policy, String) {
    loop {
        let text = render(&rules, grants);
        let diagnostics = match Policy::parse("random", &text) {
            Ok(policy) => return (policy, text),
            Err(PolicyError::Invalid { diagnostics, .. }) => diagnostics,
            Err(other) => panic!("{other}"),
        };
        let mut dropped = false;
        for d in &diagnostics {
            let rule = match d.kind() {
                DiagnosticKind::Shadowed { rule, .. }
                | DiagnosticKind::ShadowedByUnion { rule, .. }
                | DiagnosticKind::Contradictory { rule, .. }
                | DiagnosticKind::CatchAllNotLast { rule, .. }
                | DiagnosticKind::CatchAllAllows { rule } => rule.as_str().to_owned(),
                // Allow rules together allow everything: drop the last allow rule.
                // (Another diagnostic of this round may already have dropped it.)
                DiagnosticKind::AllowsEverything => match rules.iter().rev().find(|(_, r)| r.allow) {
                    Some((id, _)) => id.clone(),
                    None => continue,
                },
                _ => panic!("generator wrote an invalid policy: {d}\n{text}"),
            };
            let before = rules.len();
            rules.retain(|(id, _)| *id != rule);
            dropped |= rules.len() != before;
        }
        assert!(dropped, "no progress on:\n{text}");
    }
}

/// The reference: walk the rules in order and test each condition literally.
fn naive(policy: &Policy, req: &Request<'_>) -> String {
    let Some(syscall) = req.syscall().known() else {
        return "default-deny".to_owned();
    };
    let capability = req.grant().is_some_and(|id| {
        policy.grants().iter().any(|g| {
            g.id() == id
                && g.syscall() == syscall
                && g.target().matches(req.target())
                && g.agents().iter().any(|a| a.matches(req.agent()))
        })
    });
    let labels: Vec<Label> = req.labels().iter().collect();
    for rule in policy.rules() {
        let w = rule.when();
        let ok = w.syscalls().is_none_or(|s| s.contains(&syscall))
            && w.targets().is_none_or(|t| t.iter().any(|p| p.matches(req.target())))
            && w.agents().is_none_or(|a| a.iter().any(|p| p.matches(req.agent())))
            && w.labels_any().is_none_or(|any| labels.iter().any(|l| any.contains(*l)))
            && w.labels_all().is_none_or(|all| all.iter().all(|l| labels.contains(&l)))
            && w.labels_none().is_none_or(|none| !labels.iter().any(|l| none.contains(*l)))
            && w.capability().is_none_or(|c| (c == CapabilityCondition::Present) == capability);
        if ok {
            return format!("{}:{}", rule.effect(), rule.id());
        }
    }
    "deny:default-deny".to_owned()
}

/// A target pattern: one of the fixed ones, or a glob over [`FRAGMENTS`] that usually starts
/// with `*` and may end with one and hold more inside (leading-star, trailing-star, both-ends
/// and multi-star shapes).
fn target_pattern() -> impl Strategy<Value = String> {
    let generated = (
        prop::bool::weighted(0.7),
        prop::collection::vec((0..FRAGMENTS.len(), prop::bool::weighted(0.3)), 1..4),
        prop::bool::weighted(0.4),
    )
        .prop_map(|(leading, parts, trailing)| {
            let mut pattern = String::from(if leading { "*" } else { "" });
            for (n, (fragment, star_before)) in parts.into_iter().enumerate() {
                if star_before && n > 0 {
                    pattern.push('*');
                }
                pattern += FRAGMENTS[fragment];
            }
            if trailing {
                pattern.push('*');
            }
            pattern
        });
    prop_oneof![1 => (0..TARGET_PATTERNS.len()).prop_map(|i| TARGET_PATTERNS[i].to_owned()), 3 => generated]
}

/// A request target: one of the fixed ones, or up to six [`FRAGMENTS`] (possibly none).
fn target_text() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => (0..TARGETS.len()).prop_map(|i| TARGETS[i].to_owned()),
        2 => prop::collection::vec(0..FRAGMENTS.len(), 0..7).prop_map(|parts| parts.into_iter().map(|i| FRAGMENTS[i]).collect()),
    ]
}

fn rule_spec() -> impl Strategy<Value = RuleSpec> {
    let list = |n: usize| prop::option::weighted(0.6, prop::collection::vec(0..n, 1..3));
    let labels = || prop::option::weighted(0.35, 1u8..64);
    (
        any::<bool>(),
        list(Syscall::ALL.len()),
        prop::option::weighted(0.6, prop::collection::vec(target_pattern(), 1..3)),
        prop::option::weighted(0.3, prop::collection::vec(0..AGENT_PATTERNS.len(), 1..3)),
        labels(),
        labels(),
        labels(),
        prop::option::weighted(0.4, any::<bool>()),
    )
        .prop_map(|(allow, syscalls, targets, agents, any, all, none, capability)| RuleSpec {
            allow,
            syscalls,
            targets,
            agents,
            any,
            all,
            none,
            capability,
        })
}

#[derive(Clone, Debug)]
struct Req {
    agent: usize,
    syscall: Option<usize>,
    target: String,
    labels: u8,
    grant: Option<usize>,
}

fn request_spec() -> impl Strategy<Value = Req> {
    (
        0..AGENTS.len(),
        prop::option::weighted(0.9, 0..Syscall::ALL.len()),
        target_text(),
        0u8..64,
        prop::option::of(0..GRANT_IDS.len() + 1),
    )
        .prop_map(|(agent, syscall, target, labels, grant)| Req { agent, syscall, target, labels, grant })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn evaluator_agrees_with_the_reference(
        rules in prop::collection::vec(rule_spec(), 0..12),
        grants in prop::collection::vec((0..Syscall::ALL.len(), 0..TARGET_PATTERNS.len(), 0..AGENT_PATTERNS.len()), 0..3),
        requests in prop::collection::vec(request_spec(), 1..40),
    ) {
        let named = rules.into_iter().enumerate().map(|(i, r)| (format!("r{i}"), r)).collect();
        let policy = valid_policy(named, &grants);
        for r in requests {
            let kind = r.syscall.map_or_else(|| SyscallKind::parse("kernel.reboot"), |i| SyscallKind::Known(Syscall::ALL[i]));
            let grant_id = r.grant.map(|g| GRANT_IDS.get(g).copied().unwrap_or("forged"));
            let mut request = Request::new(AGENTS[r.agent], kind, &r.target).with_labels(LabelSet::from_bits(r.labels).unwrap());
            if let Some(id) = grant_id {
                request = request.presenting(id);
            }
            let decision = policy.evaluate(&request);
            let got = format!("{}:{}", decision.effect(), decision.rule_id());
            let expected = naive(&policy, &request);
            let expected = if expected == "default-deny" { "deny:default-deny".to_owned() } else { expected };
            prop_assert_eq!(&got, &expected, "request {:?}", r);
            // Deterministic: the same request gives the same decision and explanation.
            let again = policy.evaluate(&request);
            prop_assert_eq!(again.rule_id(), decision.rule_id());
            prop_assert_eq!(again.explain(&request), decision.explain(&request));
        }
    }

    /// A remedy is a promise: applying it must in fact allow the request, and "nothing helps"
    /// must be true. A twin of the policy with one extra grant ("probe", covering exactly this
    /// request) stands in for the operator grant a remedy asks for.
    #[test]
    fn remedies_are_true(
        rules in prop::collection::vec(rule_spec(), 0..12),
        grants in prop::collection::vec((0..Syscall::ALL.len(), 0..TARGET_PATTERNS.len(), 0..AGENT_PATTERNS.len()), 0..3),
        r in request_spec(),
    ) {
        use agentk_policy::Remedy;
        let named = rules.into_iter().enumerate().map(|(i, r)| (format!("r{i}"), r)).collect();
        let (policy, text) = valid_policy_text(named, &grants);
        let Some(syscall) = r.syscall.map(|i| Syscall::ALL[i]) else { return Ok(()) };
        let (agent, target) = (AGENTS[r.agent], r.target.as_str());
        // The probe grant names the target as a pattern, which cannot be empty.
        if target.is_empty() {
            return Ok(());
        }
        let probe = Policy::parse("probe", &format!(
            "{text}\n[[grants]]\nid = \"probe\"\nagents = [\"{agent}\"]\nsyscall = \"{syscall}\"\ntarget = \"{target}\"\nscope = \"s\"\nuses = 1\nttl_seconds = 60\n"
        )).unwrap();
        let labels = LabelSet::from_bits(r.labels).unwrap();
        let mut request = Request::new(agent, syscall, target).with_labels(labels);
        let presented = r.grant.map(|g| GRANT_IDS.get(g).copied().unwrap_or("forged"));
        if let Some(id) = presented {
            request = request.presenting(id);
        }
        let decision = policy.evaluate(&request);
        let Some(remedy) = decision.explain(&request).remedy else {
            prop_assert!(decision.is_allowed());
            return Ok(());
        };
        let with_probe = |labels: LabelSet| probe.evaluate(&Request::new(agent, syscall, target).with_labels(labels).presenting("probe"));
        match remedy {
            Remedy::PresentGrant { grant, allowing_rule } => {
                let d = policy.evaluate(&Request::new(agent, syscall, target).with_labels(labels).presenting(&grant));
                prop_assert!(d.is_allowed() && d.rule_id() == allowing_rule);
            }
            Remedy::OperatorGrant { allowing_rule, .. } => {
                prop_assert!(policy.covering_grant(agent, syscall, target).is_none());
                let d = with_probe(labels);
                prop_assert!(d.is_allowed() && d.rule_id() == allowing_rule, "{:?}", d.rule_id());
            }
            Remedy::Declassify { labels: removed, with_grant, allowing_rule } => {
                prop_assert!(removed.is_subset(labels) && !removed.is_empty());
                let rest = labels.without(removed);
                let d = if with_grant {
                    with_probe(rest)
                } else {
                    let mut fixed = Request::new(agent, syscall, target).with_labels(rest);
                    if let Some(id) = presented {
                        fixed = fixed.presenting(id);
                    }
                    policy.evaluate(&fixed)
                };
                prop_assert!(d.is_allowed() && d.rule_id() == allowing_rule);
            }
            Remedy::PolicyForbids => {
                for subset in labels.subsets() {
                    let mut bare = Request::new(agent, syscall, target).with_labels(subset);
                    if let Some(id) = presented {
                        bare = bare.presenting(id);
                    }
                    prop_assert!(!policy.evaluate(&bare).is_allowed(), "allowed with labels {}", subset);
                    prop_assert!(!with_probe(subset).is_allowed(), "allowed with labels {} and a grant", subset);
                }
            }
            other => prop_assert!(false, "unexpected remedy {:?}", other),
        }
    }
}
