//! P1 to P4, checked exhaustively: every label set, with and without every grant, against the
//! built-in policies. Each test names the guarantee it keeps.
#![allow(clippy::unwrap_used, reason = "test helpers fail loudly on purpose")]

use agentk_labels::{Label, LabelSet, Syscall, SyscallKind};
use agentk_policy::{Policy, Profile, Request};

fn all_label_sets() -> impl Iterator<Item = LabelSet> {
    (0..LabelSet::COUNT as u8).filter_map(LabelSet::from_bits)
}

/// The starter policy plus grants for the targets the tests use, so a deny can never be
/// explained away by a missing grant.
fn starter_with_grants() -> Policy {
    let mut text = Profile::Starter.source().to_owned();
    for (id, syscall, target) in [
        ("t-egress", "network.send", "https://*"),
        ("t-tool", "tool.invoke", "mcp://*"),
        ("t-resource", "resource.read", "mcp://*"),
        ("t-prompt", "prompt.get", "mcp://*"),
        ("t-secret", "secret.open", "secret://granted"),
    ] {
        text += &format!(
            "\n[[grants]]\nid = \"{id}\"\nagents = [\"*\"]\nsyscall = \"{syscall}\"\ntarget = \"{target}\"\nscope = \"test\"\nuses = 1\nttl_seconds = 60\n"
        );
    }
    Policy::parse("starter+grants", &text).unwrap()
}

/// Decides `syscall` on `target` for every label set and every way of presenting a grant
/// (none, each grant of the policy, an unknown id), and answers the allowed cases.
fn allowed_cases(policy: &Policy, syscall: Syscall, target: &str) -> Vec<(LabelSet, Option<String>)> {
    let mut grants: Vec<Option<String>> = vec![None, Some("not-a-grant".to_owned())];
    grants.extend(policy.grants().iter().map(|g| Some(g.id().to_owned())));
    let mut allowed = Vec::new();
    for labels in all_label_sets() {
        for grant in &grants {
            let mut request = Request::new("agent-1", syscall, target).with_labels(labels);
            if let Some(id) = grant {
                request = request.presenting(id);
            }
            if policy.evaluate(&request).is_allowed() {
                allowed.push((labels, grant.clone()));
            }
        }
    }
    allowed
}

// guarantee: P1
#[test]
fn unknown_syscalls_are_denied_by_default_deny_in_every_builtin() {
    for profile in Profile::ALL {
        let policy = profile.load().unwrap();
        for name in ["kernel.reboot", "", "tool.invoke2", "TOOL.INVOKE", "network.send\n"] {
            for labels in all_label_sets() {
                for grant in [None, policy.grants().first().map(|g| g.id())] {
                    let mut request = Request::new("agent-1", SyscallKind::parse(name), "x").with_labels(labels);
                    if let Some(id) = grant {
                        request = request.presenting(id);
                    }
                    let decision = policy.evaluate(&request);
                    assert!(!decision.is_allowed(), "{profile}: {name:?}");
                    assert_eq!(decision.rule_id(), "default-deny");
                }
            }
        }
    }
}

// guarantee: P2
#[test]
fn starter_never_sends_secret_or_private_data() {
    let policy = starter_with_grants();
    let sensitive = LabelSet::from_labels(&[Label::Secret, Label::Private]);
    for target in ["https://api.example.invalid/v1", "https://evil.example.invalid/c"] {
        let allowed = allowed_cases(&policy, Syscall::NetworkSend, target);
        assert!(!allowed.is_empty(), "the test must see some allowed sends to mean anything");
        for (labels, grant) in allowed {
            assert!(!labels.intersects(sensitive), "{target}: sent {labels} with {grant:?}");
        }
    }
}

// guarantee: P3
#[test]
fn starter_opens_secrets_only_with_a_grant_for_that_exact_target() {
    let policy = starter_with_grants();
    let allowed = allowed_cases(&policy, Syscall::SecretOpen, "secret://granted");
    assert!(!allowed.is_empty());
    for (labels, grant) in &allowed {
        assert_eq!(grant.as_deref(), Some("t-secret"), "opened with {labels} and {grant:?}");
    }
    for target in ["secret://granted2", "secret://grante", "secret://GRANTED", "secret://other"] {
        assert_eq!(allowed_cases(&policy, Syscall::SecretOpen, target), [], "{target}");
    }
}

// guarantee: P4
#[test]
fn starter_refuses_tainted_or_sensitive_input_to_tools_resources_and_prompts() {
    let policy = starter_with_grants();
    let refused = LabelSet::from_labels(&[Label::Secret, Label::Private, Label::Untrusted, Label::PoisonedSuspect]);
    for syscall in [Syscall::ToolInvoke, Syscall::ResourceRead, Syscall::PromptGet] {
        let allowed = allowed_cases(&policy, syscall, "mcp://server.example.invalid/op");
        assert!(!allowed.is_empty(), "{syscall}: a covering grant and clean data must be allowed");
        for (labels, grant) in allowed {
            assert!(!labels.intersects(refused), "{syscall}: allowed {labels} with {grant:?}");
            assert!(grant.is_some(), "{syscall}: allowed without a grant");
        }
    }
}

// P2 holds in every built-in profile, not only the starter.
#[test]
fn no_builtin_profile_sends_secret_or_private_data() {
    let sensitive = LabelSet::from_labels(&[Label::Secret, Label::Private]);
    for profile in Profile::ALL {
        let policy = profile.load().unwrap();
        for grant in policy.grants().iter().filter(|g| g.syscall() == Syscall::NetworkSend) {
            let target = grant.target().as_str().replace('*', "x");
            for agent in ["research-1", "coding-1", "browser-1", "agent-1"] {
                for labels in all_label_sets().filter(|l| l.intersects(sensitive)) {
                    let request =
                        Request::new(agent, Syscall::NetworkSend, &target).with_labels(labels).presenting(grant.id());
                    assert!(!policy.evaluate(&request).is_allowed(), "{profile}: {agent} sent {labels} to {target}");
                }
            }
        }
    }
}

/// Sessions share one policy across threads (ARCHITECTURE.md, "Sessions").
#[test]
fn policies_and_decisions_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Policy>();
    shareable::<agentk_policy::Decision<'static>>();
    shareable::<agentk_policy::Explanation>();
}
