//! Every built-in policy is valid, and each decides as its profile promises (table-driven).
#![allow(clippy::unwrap_used, clippy::panic, reason = "test helpers fail loudly on purpose")]

use agentk_labels::{LabelSet, SyscallKind};
use agentk_policy::{Effect, Policy, Profile, Request};

/// `grant` is `-` for none, `*` for "present whichever grant covers the request".
fn check(
    policy: &Policy,
    agent: &str,
    syscall: &str,
    target: &str,
    labels: &str,
    grant: &str,
    expected: (Effect, &str),
) {
    let labels: LabelSet = labels.parse().unwrap();
    let kind = SyscallKind::parse(syscall);
    let covering = kind.known().and_then(|s| policy.covering_grant(agent, s, target)).map(|g| g.id().to_owned());
    let mut request = Request::new(agent, kind, target).with_labels(labels);
    request = match grant {
        "-" => request,
        "*" => request.presenting(covering.as_deref().unwrap_or("no-covering-grant")),
        id => request.presenting(id),
    };
    let decision = policy.evaluate(&request);
    assert_eq!(
        (decision.effect(), decision.rule_id()),
        expected,
        "{}: {agent} {syscall} {target} [{labels}] grant {grant}",
        policy.name()
    );
}

const ALLOW: Effect = Effect::Allow;
const DENY: Effect = Effect::Deny;

#[test]
fn every_profile_is_valid() {
    for profile in Profile::ALL {
        let policy = profile.load().unwrap_or_else(|e| panic!("{profile}: {e:?}"));
        assert_eq!(policy.name(), profile.name());
        assert_eq!(profile.name().parse::<Profile>().unwrap(), profile);
    }
}

#[test]
fn unknown_profiles_are_refused() {
    let err = "admin".parse::<Profile>().unwrap_err();
    assert_eq!(err.to_string(), "unknown built-in policy `admin`");
}

#[test]
fn starter_decisions() {
    let p = Profile::Starter.load().unwrap();
    let a = "agent-1";
    // P2: no egress of secret or private data, even to a granted host.
    check(&p, a, "network.send", "https://evil.example.invalid/c", "private", "-", (DENY, "egress-sensitive-data"));
    check(
        &p,
        a,
        "network.send",
        "https://evil.example.invalid/c",
        "secret,untrusted",
        "-",
        (DENY, "egress-sensitive-data"),
    );
    check(&p, a, "network.send", "https://api.example.invalid/", "none", "-", (DENY, "egress-needs-grant"));
    check(
        &p,
        a,
        "network.send",
        "https://api.example.invalid/",
        "poisoned-suspect",
        "-",
        (DENY, "egress-poisoned-data"),
    );
    // P3: secret.open needs a grant for that exact target.
    check(&p, a, "secret.open", "secret://demo-api", "trusted", "-", (DENY, "secret-open-needs-grant"));
    check(&p, a, "secret.open", "secret://demo-api", "trusted", "demo-secret", (ALLOW, "secret-open-granted"));
    check(&p, a, "secret.open", "secret://demo-api-2", "trusted", "demo-secret", (DENY, "secret-open-needs-grant"));
    check(&p, a, "secret.open", "secret://other", "none", "demo-docs-search", (DENY, "secret-open-needs-grant"));
    check(&p, a, "secret.open", "secret://demo-api", "untrusted", "demo-secret", (DENY, "secret-open-tainted"));
    // P4: tainted or sensitive tool input is refused even with a covering grant.
    let tool = "mcp://docs.example.invalid/search";
    check(&p, a, "tool.invoke", tool, "none", "demo-docs-search", (ALLOW, "invoke-granted"));
    check(&p, a, "tool.invoke", tool, "none", "-", (DENY, "invoke-needs-grant"));
    for label in ["secret", "private"] {
        check(&p, a, "tool.invoke", tool, label, "demo-docs-search", (DENY, "invoke-sensitive-data"));
        check(&p, a, "resource.read", tool, label, "*", (DENY, "invoke-sensitive-data"));
        check(&p, a, "prompt.get", tool, label, "*", (DENY, "invoke-sensitive-data"));
    }
    for label in ["untrusted", "poisoned-suspect"] {
        check(&p, a, "tool.invoke", tool, label, "demo-docs-search", (DENY, "invoke-tainted-data"));
        check(&p, a, "resource.read", tool, label, "*", (DENY, "invoke-tainted-data"));
        check(&p, a, "prompt.get", tool, label, "*", (DENY, "invoke-tainted-data"));
    }
    // Observation is allowed; the taint travels with the labels.
    check(&p, a, "context.read", "https://news.example.invalid/", "untrusted,external", "-", (ALLOW, "observe"));
    check(&p, a, "model.call", "model://default", "untrusted,external", "-", (ALLOW, "observe"));
    check(&p, a, "model.call", "model://default", "secret", "-", (DENY, "model-secret-data"));
    check(&p, a, "file.patch", "file:///workspace/a.rs", "none", "-", (DENY, "file-patch-needs-grant"));
    check(&p, a, "file.patch", "file:///workspace/a.rs", "untrusted", "-", (DENY, "file-patch-tainted"));
    check(&p, a, "memory.write", "memory://notes", "poisoned-suspect", "-", (DENY, "memory-write-poisoned"));
    check(&p, a, "memory.write", "memory://notes", "untrusted", "-", (ALLOW, "observe"));
    check(&p, a, "agent.spawn", "agent://helper", "none", "-", (DENY, "spawn-needs-grant"));
    check(&p, a, "human.approve", "approval://x", "poisoned-suspect", "-", (ALLOW, "observe"));
    // P1
    check(&p, a, "kernel.reboot", "now", "trusted", "-", (DENY, "default-deny"));
    check(&p, a, "", "", "none", "-", (DENY, "default-deny"));
}

#[test]
fn research_decisions() {
    let p = Profile::Research.load().unwrap();
    let a = "research-7";
    check(
        &p,
        a,
        "context.read",
        "https://blog.example.invalid/post",
        "untrusted,external",
        "-",
        (ALLOW, "read-and-think"),
    );
    check(&p, a, "file.patch", "file:///workspace/a.rs", "trusted", "-", (DENY, "research-no-file-patch"));
    check(&p, a, "agent.spawn", "agent://x", "trusted", "-", (DENY, "research-no-spawn"));
    check(&p, a, "secret.open", "secret://x", "trusted", "-", (DENY, "research-no-secrets"));
    check(
        &p,
        a,
        "network.send",
        "https://search.example.invalid/q",
        "untrusted,external",
        "*",
        (ALLOW, "egress-granted-host"),
    );
    check(&p, a, "network.send", "https://unknown.example.invalid/q", "untrusted", "*", (DENY, "egress-unknown-host"));
    check(
        &p,
        a,
        "network.send",
        "https://unknown.example.invalid/q",
        "none",
        "search-api",
        (DENY, "egress-unknown-host"),
    );
    check(&p, a, "network.send", "https://search.example.invalid/q", "private", "*", (DENY, "egress-sensitive-data"));
    check(
        &p,
        "coding-1",
        "network.send",
        "https://search.example.invalid/q",
        "none",
        "search-api",
        (DENY, "egress-unknown-host"),
    );
    check(&p, a, "tool.invoke", "mcp://papers.example.invalid/find", "trusted", "*", (ALLOW, "invoke-granted"));
    check(&p, a, "tool.invoke", "mcp://papers.example.invalid/find", "untrusted", "*", (DENY, "invoke-tainted-data"));
}

#[test]
fn coding_decisions() {
    let p = Profile::Coding.load().unwrap();
    let a = "coding-1";
    check(&p, a, "file.patch", "file:///workspace/src/lib.rs", "trusted", "*", (ALLOW, "file-patch-workspace"));
    check(
        &p,
        a,
        "file.patch",
        "file:///workspace/src/lib.rs",
        "untrusted,external",
        "*",
        (ALLOW, "file-patch-workspace"),
    );
    check(&p, a, "file.patch", "file:///workspace/src/lib.rs", "poisoned-suspect", "*", (DENY, "file-patch-suspect"));
    check(&p, a, "file.patch", "file:///etc/hosts", "trusted", "workspace-files", (DENY, "file-patch-outside-grant"));
    check(&p, a, "network.send", "https://registry.example.invalid/crate", "trusted", "*", (ALLOW, "egress-granted"));
    check(
        &p,
        a,
        "network.send",
        "https://registry.example.invalid/crate",
        "private",
        "*",
        (DENY, "egress-private-data"),
    );
    check(&p, a, "network.send", "https://paste.example.invalid/", "none", "-", (DENY, "egress-needs-grant"));
    check(&p, a, "secret.open", "secret://deploy-token", "trusted", "deploy-token", (DENY, "secret-open-needs-grant"));
    check(
        &p,
        "coding-release",
        "secret.open",
        "secret://deploy-token",
        "trusted",
        "deploy-token",
        (ALLOW, "secret-open-granted"),
    );
    check(&p, a, "agent.spawn", "agent://x", "trusted", "-", (DENY, "coding-no-spawn"));
    check(&p, a, "tool.invoke", "mcp://ci.example.invalid/run", "trusted", "*", (ALLOW, "invoke-granted"));
}

#[test]
fn browser_decisions() {
    let p = Profile::Browser.load().unwrap();
    let a = "browser-1";
    check(&p, a, "context.read", "https://shop.example.invalid/", "untrusted,external", "-", (ALLOW, "observe"));
    check(
        &p,
        a,
        "network.send",
        "https://shop.example.invalid/order",
        "trusted",
        "*",
        (ALLOW, "browser-egress-granted-host"),
    );
    check(
        &p,
        a,
        "network.send",
        "https://api.docs.example.invalid/x",
        "none",
        "*",
        (ALLOW, "browser-egress-granted-host"),
    );
    check(
        &p,
        a,
        "network.send",
        "https://shop.example.invalid/order",
        "untrusted",
        "*",
        (DENY, "browser-egress-dirty-data"),
    );
    check(
        &p,
        a,
        "network.send",
        "https://shop.example.invalid/order",
        "private",
        "*",
        (DENY, "browser-egress-dirty-data"),
    );
    check(
        &p,
        a,
        "network.send",
        "https://evil.example.invalid/",
        "trusted",
        "shop-forms",
        (DENY, "browser-egress-ungranted-host"),
    );
    check(&p, a, "secret.open", "secret://x", "trusted", "-", (DENY, "browser-no-secrets"));
    check(&p, a, "file.patch", "file:///x", "trusted", "-", (DENY, "browser-no-local-effects"));
    check(&p, a, "memory.write", "memory://x", "untrusted", "-", (DENY, "browser-memory-untrusted"));
}

// The MCP profile: an accepted tool of a server put behind AgentK needs no grant; secret,
// private or suspect data never flows into one; ordinary untrusted data may (the taint issue
// decides the rest); everything outside MCP servers keeps `starter`'s rules.
#[test]
fn mcp_allows_accepted_tools_but_not_sensitive_data() {
    let p = Profile::Mcp.load().unwrap();
    let tool = "mcp://everything/echo";
    check(&p, "agent", "tool.invoke", tool, "none", "-", (ALLOW, "mcp-invoke-accepted"));
    check(&p, "agent", "tool.invoke", tool, "untrusted,external", "-", (ALLOW, "mcp-invoke-accepted"));
    check(
        &p,
        "agent",
        "resource.read",
        "mcp://everything/demo://resource/1",
        "none",
        "-",
        (ALLOW, "mcp-invoke-accepted"),
    );
    check(&p, "agent", "prompt.get", "mcp://everything/simple-prompt", "none", "-", (ALLOW, "mcp-invoke-accepted"));
    for labels in ["secret", "private", "poisoned-suspect", "untrusted,private"] {
        check(&p, "agent", "tool.invoke", tool, labels, "-", (DENY, "mcp-invoke-sensitive-data"));
    }
    check(&p, "agent", "tool.invoke", "https://api.example.invalid/", "untrusted", "-", (DENY, "invoke-tainted-data"));
    check(&p, "agent", "tool.invoke", "https://api.example.invalid/", "none", "-", (DENY, "invoke-needs-grant"));
    check(&p, "agent", "network.send", "https://evil.example.invalid/", "secret", "-", (DENY, "egress-sensitive-data"));
    check(&p, "agent", "secret.open", "secret://any", "none", "-", (DENY, "secret-open-needs-grant"));
    check(&p, "agent", "tool.describe", tool, "untrusted,external,poisoned-suspect", "-", (ALLOW, "observe"));
    check(&p, "agent", "kernel.reboot", "now", "none", "-", (DENY, "default-deny"));
}

// T4 at the policy: under `mcp`, the mediator's class facets decide. Suspect data never drives
// a side effect but may drive a read; secret or private data never reaches an open-world tool
// but may reach a closed one; ordinary untrusted data flows; a person's approval lifts a deny.
#[test]
fn mcp_decides_by_tool_class_and_open_world() {
    let p = Profile::Mcp.load().unwrap();
    let a = "agent";
    for class in ["write", "delete", "execute", "send", "spend"] {
        for open in ["", "+open"] {
            let target = format!("mcp://mail/tool#{class}{open}");
            check(&p, a, "tool.invoke", &target, "untrusted,external", "-", (ALLOW, "mcp-invoke-classified"));
            check(&p, a, "tool.invoke", &target, "untrusted,poisoned-suspect", "-", (DENY, "mcp-suspect-side-effect"));
            let approved = format!("{target}+approved");
            check(&p, a, "tool.invoke", &approved, "poisoned-suspect,private", "-", (ALLOW, "mcp-human-approved"));
        }
    }
    check(&p, a, "tool.invoke", "mcp://mail/search#read", "poisoned-suspect", "-", (ALLOW, "mcp-invoke-classified"));
    check(&p, a, "tool.invoke", "mcp://web/fetch#read+open", "poisoned-suspect", "-", (ALLOW, "mcp-invoke-classified"));
    for labels in ["secret", "private", "untrusted,private"] {
        check(&p, a, "tool.invoke", "mcp://web/fetch#read+open", labels, "-", (DENY, "mcp-sensitive-to-open-world"));
        check(&p, a, "tool.invoke", "mcp://mail/send#send+open", labels, "-", (DENY, "mcp-sensitive-to-open-world"));
        check(&p, a, "tool.invoke", "mcp://notes/save#write", labels, "-", (ALLOW, "mcp-invoke-classified"));
        check(&p, a, "resource.read", "mcp://files/file:///x", labels, "-", (DENY, "mcp-read-sensitive-data"));
    }
    // A facet a server or client wrote into a name cannot appear: tool names hold no `#` or
    // `+`. A target without facets (a transcript, the decision server) keeps the old rule.
    check(&p, a, "tool.invoke", "mcp://mail/send", "poisoned-suspect", "-", (DENY, "mcp-invoke-sensitive-data"));
}

// P4 for every tool under `strict`: any untrusted data refuses any call, reads included,
// unless a person approved it.
#[test]
fn strict_keeps_p4_for_every_tool() {
    let p = Profile::Strict.load().unwrap();
    let a = "agent";
    for target in ["mcp://mail/search#read", "mcp://mail/send#send+open", "mcp://mail/send"] {
        for labels in ["untrusted", "untrusted,external", "secret", "private", "poisoned-suspect"] {
            check(&p, a, "tool.invoke", target, labels, "-", (DENY, "mcp-invoke-tainted-data"));
        }
        check(&p, a, "tool.invoke", target, "none", "-", (ALLOW, "mcp-invoke-accepted"));
    }
    check(&p, a, "tool.invoke", "mcp://m/send#send+open+approved", "untrusted", "-", (ALLOW, "mcp-human-approved"));
    check(&p, a, "resource.read", "mcp://files/file:///x", "untrusted", "-", (DENY, "mcp-invoke-tainted-data"));
}

// `[[tools]]`: the operator's classes, first match wins; bad entries are refused with their place.
#[test]
fn tools_section_classes_tools_and_is_validated() {
    let base = "version = 1\nname = \"t\"\n";
    let rules = "\n[[rules]]\nid = \"d\"\neffect = \"deny\"\nreason = \"r\"\n";
    let text = format!(
        "{base}[[tools]]\nserver = \"bank\"\nnames = [\"pay_*\", \"transfer\"]\nclass = \"spend\"\n\
         [[tools]]\nserver = \"*\"\nnames = [\"get_*\"]\nclass = \"read\"\nopen_world = false\n{rules}"
    );
    let p = agentk_policy::Policy::parse("t.toml", &text).unwrap();
    let spend = p.tool_class("bank", "pay_invoice").unwrap();
    assert_eq!(spend.class(), agentk_policy::ToolClass::Spend);
    assert_eq!(spend.open_world(), Some(true), "spend is always open world");
    assert_eq!(p.tool_class("bank", "transfer").unwrap().class(), agentk_policy::ToolClass::Spend);
    let read = p.tool_class("mail", "get_inbox").unwrap();
    assert_eq!((read.class(), read.open_world()), (agentk_policy::ToolClass::Read, Some(false)));
    assert!(p.tool_class("mail", "send").is_none());
    assert!(p.tool_class("bank-2", "pay_x").is_none());
    for bad in [
        "[[tools]]\nserver = \"x\"\nnames = [\"a\"]\nclass = \"teleport\"\n",
        "[[tools]]\nserver = \"x\"\nnames = []\nclass = \"read\"\n",
        "[[tools]]\nserver = \"x\"\nclass = \"read\"\n",
        "[[tools]]\nserver = \"x\"\nnames = [\"a\"]\nclass = \"read\"\nopen_world = \"yes\"\n",
        "[[tools]]\nserver = \"x\"\nnames = [\"a\"]\nclass = \"read\"\ncolour = 1\n",
    ] {
        let text = format!("{base}{bad}{rules}");
        let error = agentk_policy::Policy::parse("t.toml", &text).unwrap_err().to_string();
        assert!(error.contains("invalid"), "{bad}: {error}");
    }
}
