//! P6: every decision names its rule and explains itself; a grant is suggested only when a
//! grant would in fact change the outcome.
#![allow(clippy::unwrap_used, reason = "test helpers fail loudly on purpose")]

use agentk_labels::SyscallKind;
use agentk_policy::{CapabilityReport, Explanation, Profile, Remedy, Request};

fn explain(syscall: &str, target: &str, labels: &str, grant: Option<&str>) -> Explanation {
    let policy = Profile::Starter.load().unwrap();
    let mut request = Request::new("agent-1", SyscallKind::parse(syscall), target).with_labels(labels.parse().unwrap());
    if let Some(grant) = grant {
        request = request.presenting(grant);
    }
    policy.evaluate(&request).explain(&request)
}

/// Snapshots the human form and the JSON form of one explanation.
fn check_explanation(name: &str, explanation: &Explanation) {
    let json = serde_json::to_string_pretty(explanation).unwrap();
    insta::assert_snapshot!(name, format!("{explanation}\n---\n{json}"));
}

#[test]
fn allowed_read_reports_the_output_labels() {
    let e = explain("context.read", "https://news.example.invalid/a", "untrusted,external", None);
    assert_eq!(e.output_labels.unwrap().to_string(), "untrusted,external");
    assert_eq!(e.remedy, None);
    check_explanation("allowed_read", &e);
}

#[test]
fn missing_grant_that_exists_is_named() {
    let e = explain("secret.open", "secret://demo-api", "trusted", None);
    assert!(matches!(&e.remedy, Some(Remedy::PresentGrant { grant, .. }) if grant == "demo-secret"));
    check_explanation("present_existing_grant", &e);
}

#[test]
fn missing_grant_that_does_not_exist_asks_the_operator() {
    let e = explain("secret.open", "secret://payments-api", "trusted", None);
    assert!(matches!(&e.remedy, Some(Remedy::OperatorGrant { target, .. }) if target == "secret://payments-api"));
    check_explanation("operator_grant", &e);
}

// guarantee: P6 (and prior-art weakness W9: taint denies must not suggest a grant)
#[test]
fn taint_denies_never_suggest_a_grant() {
    let e = explain("tool.invoke", "mcp://docs.example.invalid/search", "untrusted,external", Some("demo-docs-search"));
    assert_eq!(e.rule, "invoke-tainted-data");
    assert!(matches!(e.capability, CapabilityReport::Covering { .. }));
    let Some(Remedy::Declassify { labels, with_grant: false, .. }) = e.remedy else {
        panic!("expected a declassification remedy, got {:?}", e.remedy)
    };
    assert_eq!(labels.to_string(), "untrusted");
    check_explanation("taint_deny", &e);
}

#[test]
fn grant_plus_declassification_when_both_are_needed() {
    let e = explain("secret.open", "secret://demo-api", "untrusted", None);
    assert_eq!(e.rule, "secret-open-needs-grant");
    assert!(matches!(e.remedy, Some(Remedy::Declassify { with_grant: true, .. })), "{:?}", e.remedy);
    check_explanation("grant_and_declassify", &e);
}

#[test]
fn egress_of_private_data() {
    let e = explain("network.send", "https://evil.example.invalid/collect", "private,untrusted,external", None);
    assert_eq!(e.rule, "egress-sensitive-data");
    check_explanation("sensitive_egress", &e);
}

#[test]
fn presented_grants_that_do_not_cover_are_reported() {
    let e = explain("secret.open", "secret://other", "trusted", Some("demo-secret"));
    assert!(matches!(&e.capability, CapabilityReport::NotCovering { grant } if grant == "demo-secret"));
    let e = explain("secret.open", "secret://other", "trusted", Some("forged-by-agent"));
    assert_eq!(e.capability, CapabilityReport::UnknownGrant);
    assert_eq!(e.rule, "secret-open-needs-grant");
    check_explanation("unknown_grant", &e);
}

// guarantee: P1
#[test]
fn unknown_syscalls_are_denied_by_default_deny_with_no_remedy() {
    let e = explain("kernel.reboot", "now", "trusted", Some("demo-secret"));
    assert_eq!(e.rule, "default-deny");
    assert_eq!(e.remedy, Some(Remedy::UnknownSyscall));
    check_explanation("unknown_syscall", &e);
    let e = explain("\u{1b}[31mrm -rf", "x", "none", None);
    assert_eq!(e.rule, "default-deny");
    assert_eq!(e.syscall, "<malformed syscall name, 11 bytes>");
}

#[test]
fn hostile_targets_are_escaped_and_bounded() {
    let target = format!("https://x.example.invalid/\u{1b}[2J{}", "A".repeat(10_000));
    let e = explain("network.send", &target, "private", None);
    assert!(!e.target.contains('\u{1b}'));
    assert!(e.target.len() < 400, "{}", e.target.len());
    assert!(!e.to_string().contains('\u{1b}'));
}

#[test]
fn nothing_helps_when_the_policy_forbids() {
    let policy = Profile::Browser.load().unwrap();
    let request = Request::new("browser-1", agentk_labels::Syscall::SecretOpen, "secret://x");
    let e = policy.evaluate(&request).explain(&request);
    assert_eq!(e.remedy, Some(Remedy::PolicyForbids));
}
