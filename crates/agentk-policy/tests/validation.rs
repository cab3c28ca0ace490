//! P5: a broken policy is refused, with every problem located. Error text is API, so each
//! case is a snapshot of exactly what an operator would read.
#![allow(clippy::unwrap_used, clippy::panic, reason = "test helpers fail loudly on purpose")]

use agentk_policy::{DiagnosticKind, Policy, PolicyError, Profile};

const HEAD: &str = "version = 1\nname = \"t\"\n";
const CATCH_ALL: &str = "\n[[rules]]\nid = \"default-deny\"\neffect = \"deny\"\nreason = \"fall through\"\n";

/// Renders every diagnostic as `file:line:col: message` plus its help line.
fn render(err: &PolicyError) -> String {
    let PolicyError::Invalid { source_name, diagnostics } = err else {
        panic!("expected an invalid policy, got {err:?}");
    };
    let mut out = format!("{err}\n");
    for d in diagnostics {
        out.push_str(&format!("{}:{d}\n", source_name.as_str()));
        if let Some(help) = d.help() {
            out.push_str(&format!("  help: {help}\n"));
        }
    }
    out
}

/// Parses `body` between the standard head and (unless `with_catch_all` is false) a catch-all.
fn check_invalid(body: &str, with_catch_all: bool) -> String {
    let text = format!("{HEAD}{body}{}", if with_catch_all { CATCH_ALL } else { "" });
    match Policy::parse("policy.toml", &text) {
        Ok(_) => panic!("policy was accepted:\n{text}"),
        Err(err) => render(&err),
    }
}

macro_rules! invalid {
    ($name:ident, $body:expr) => {
        invalid!($name, $body, true);
    };
    ($name:ident, $body:expr, $catch_all:expr) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(check_invalid($body, $catch_all));
        }
    };
}

invalid!(unknown_root_key, "versoin = 1\n");
invalid!(
    unknown_rule_and_when_keys,
    "[[rules]]\nid = \"a\"\nefect = \"deny\"\neffect = \"deny\"\nreason = \"r\"\nwhen.label_any = [\"secret\"]\n"
);
invalid!(
    unknown_syscall_and_label,
    "[[rules]]\nid = \"a\"\neffect = \"deny\"\nreason = \"r\"\nwhen.syscalls = [\"tool.invoke\", \"kernel.reboot\"]\nwhen.labels_any = [\"classified\"]\n"
);
invalid!(
    duplicate_rule_ids,
    "[[rules]]\nid = \"a\"\neffect = \"deny\"\nreason = \"r\"\nwhen.syscalls = [\"tool.invoke\"]\n\n[[rules]]\nid = \"a\"\neffect = \"deny\"\nreason = \"r\"\nwhen.syscalls = [\"file.patch\"]\n"
);
invalid!(
    empty_lists,
    "[[rules]]\nid = \"a\"\neffect = \"deny\"\nreason = \"r\"\nwhen.syscalls = []\nwhen.labels_none = []\n"
);
invalid!(empty_when, "[[rules]]\nid = \"a\"\neffect = \"deny\"\nreason = \"r\"\nwhen = {}\n");
invalid!(
    contradictory_labels_all_and_none,
    "[[rules]]\nid = \"a\"\neffect = \"deny\"\nreason = \"r\"\nwhen.labels_all = [\"secret\", \"private\"]\nwhen.labels_none = [\"secret\"]\n"
);
invalid!(
    contradictory_labels_any_inside_none,
    "[[rules]]\nid = \"a\"\neffect = \"allow\"\nreason = \"r\"\nwhen.labels_any = [\"secret\"]\nwhen.labels_none = [\"secret\", \"private\"]\n"
);
invalid!(
    shadowed_by_broader_rule,
    "[[rules]]\nid = \"no-egress\"\neffect = \"deny\"\nreason = \"r\"\nwhen.syscalls = [\"network.send\"]\n\n[[rules]]\nid = \"no-secret-egress\"\neffect = \"deny\"\nreason = \"r\"\nwhen.syscalls = [\"network.send\"]\nwhen.labels_any = [\"secret\"]\n"
);
invalid!(
    shadowed_by_glob_target,
    "[[rules]]\nid = \"wide\"\neffect = \"allow\"\nreason = \"r\"\nwhen.syscalls = [\"context.read\"]\nwhen.targets = [\"https://*\"]\n\n[[rules]]\nid = \"narrow\"\neffect = \"deny\"\nreason = \"r\"\nwhen.syscalls = [\"context.read\"]\nwhen.targets = [\"https://evil.example.invalid/*\"]\n"
);
invalid!(
    shadowed_by_capability_split,
    "[[rules]]\nid = \"needs\"\neffect = \"deny\"\nreason = \"r\"\nwhen.syscalls = [\"file.patch\"]\nwhen.capability = \"missing\"\n\n[[rules]]\nid = \"again\"\neffect = \"allow\"\nreason = \"r\"\nwhen.syscalls = [\"file.patch\"]\nwhen.capability = \"missing\"\nwhen.labels_none = [\"secret\"]\n"
);
invalid!(
    shadowed_by_two_rules_together,
    "[[rules]]\nid = \"with-grant\"\neffect = \"deny\"\nreason = \"r\"\nwhen.syscalls = [\"file.patch\"]\nwhen.capability = \"present\"\n\n[[rules]]\nid = \"without-grant\"\neffect = \"allow\"\nreason = \"r\"\nwhen.syscalls = [\"file.patch\"]\nwhen.capability = \"missing\"\n\n[[rules]]\nid = \"dead\"\neffect = \"deny\"\nreason = \"r\"\nwhen.syscalls = [\"file.patch\"]\nwhen.labels_any = [\"secret\"]\n"
);
invalid!(
    allow_everything_split_on_capability,
    "[[rules]]\nid = \"a\"\neffect = \"allow\"\nreason = \"r\"\nwhen.capability = \"present\"\n\n[[rules]]\nid = \"b\"\neffect = \"allow\"\nreason = \"r\"\nwhen.capability = \"missing\"\n"
);
invalid!(
    allow_everything_split_on_labels,
    "[[rules]]\nid = \"a\"\neffect = \"allow\"\nreason = \"r\"\nwhen.labels_any = [\"secret\"]\n\n[[rules]]\nid = \"b\"\neffect = \"allow\"\nreason = \"r\"\nwhen.labels_none = [\"secret\"]\nwhen.agents = [\"*\"]\n"
);
invalid!(
    missing_catch_all,
    "[[rules]]\nid = \"a\"\neffect = \"deny\"\nreason = \"r\"\nwhen.syscalls = [\"file.patch\"]\n",
    false
);
invalid!(no_rules_at_all, "rules = []\n", false);
invalid!(rules_key_missing, "", false);
invalid!(catch_all_allows, "[[rules]]\nid = \"everything\"\neffect = \"allow\"\nreason = \"yolo\"\n", false);
invalid!(
    catch_all_allows_through_universal_conditions,
    "[[rules]]\nid = \"everything\"\neffect = \"allow\"\nreason = \"yolo\"\nwhen.agents = [\"*\"]\nwhen.targets = [\"*\"]\n",
    false
);
invalid!(
    catch_all_not_last,
    "[[rules]]\nid = \"early\"\neffect = \"deny\"\nreason = \"r\"\n\n[[rules]]\nid = \"late\"\neffect = \"allow\"\nreason = \"r\"\nwhen.syscalls = [\"context.read\"]\n"
);
invalid!(
    reserved_default_deny_id,
    "[[rules]]\nid = \"default-deny\"\neffect = \"deny\"\nreason = \"r\"\nwhen.syscalls = [\"file.patch\"]\n"
);
// A recorded rule must say whether the policy or the kernel decided; replay relies on it.
invalid!(
    reserved_kernel_rule_ids,
    "[[rules]]\nid = \"grant-exhausted\"\neffect = \"deny\"\nreason = \"r\"\nwhen.syscalls = [\"file.patch\"]\n\n[[rules]]\nid = \"malformed-request\"\neffect = \"allow\"\nreason = \"r\"\nwhen.syscalls = [\"context.read\"]\n"
);
invalid!(
    bad_values,
    "[[rules]]\nid = \"Bad Id\"\neffect = \"maybe\"\nreason = \"\"\nwhen.capability = \"sometimes\"\nwhen.targets = [\"a**\", \"\"]\nwhen.syscalls = \"tool.invoke\"\n"
);
invalid!(
    bad_grants,
    "[[grants]]\nid = \"g\"\nagents = []\nsyscall = \"secret.open\"\ntarget = \"secret://*\"\nscope = \"Read All\"\nuses = 0\nttl_seconds = 99999999\n\n[[grants]]\nid = \"g\"\nagents = [\"*\"]\nsyscall = \"teleport\"\ntarget = \"x\"\nscope = \"s\"\nuses = -1\nttl_seconds = \"60\"\nvalue = \"hunter2\"\n"
);
invalid!(grant_missing_fields, "[[grants]]\nid = \"g\"\n");
invalid!(wrong_shapes, "rules = \"all of them\"\ngrants = [1, 2]\n", false);

#[test]
fn version_problems() {
    for (text, expect) in [
        ("name = \"t\"\n", "missing key `version`"),
        ("version = 2\nname = \"t\"\n", "unsupported policy version `2`"),
        ("version = \"1\"\nname = \"t\"\n", "`version` must be an integer, found string"),
        ("version = 1\n", "missing key `name`"),
    ] {
        let err = Policy::parse("p.toml", &format!("{text}{CATCH_ALL}")).unwrap_err();
        let rendered = render(&err);
        assert!(rendered.contains(expect), "{text:?}:\n{rendered}");
    }
}

#[test]
fn syntax_errors_are_located() {
    insta::assert_snapshot!(check_invalid("[[rules]\nid = \"a\n", false));
}

#[test]
fn every_problem_is_reported_not_only_the_first() {
    let err = Policy::parse(
        "p.toml",
        &format!(
            "{HEAD}typo = 1\n[[rules]]\nid = \"a\"\neffect = \"nope\"\nreason = \"r\"\nwhen.labels_any = [\"x\", \"y\"]\nwhen.bogus = 1\n{CATCH_ALL}"
        ),
    )
    .unwrap_err();
    let PolicyError::Invalid { diagnostics, .. } = err else { panic!() };
    let kinds: Vec<&str> = diagnostics
        .iter()
        .map(|d| match d.kind() {
            DiagnosticKind::UnknownKey { .. } => "unknown-key",
            DiagnosticKind::InvalidEffect { .. } => "effect",
            DiagnosticKind::UnknownLabel { .. } => "label",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["unknown-key", "effect", "label", "label", "unknown-key"]);
}

#[test]
fn deeply_nested_toml_is_refused_without_overflow() {
    for depth in [100, 10_000, 200_000] {
        let text = format!("{HEAD}x = {}{}\n", "[".repeat(depth), "]".repeat(depth));
        let err = Policy::parse("deep.toml", &text).unwrap_err();
        assert!(render(&err).contains("deep.toml:3:"), "depth {depth}");
        let text = format!("{HEAD}x = {}1{}\n", "{a=".repeat(depth), "}".repeat(depth));
        assert!(Policy::parse("deep.toml", &text).is_err(), "depth {depth}");
    }
}

#[test]
fn oversized_policies_are_refused_before_parsing() {
    let text = format!("{HEAD}# {}\n", "x".repeat(agentk_policy::MAX_POLICY_BYTES));
    let err = Policy::parse("big.toml", &text).unwrap_err();
    assert!(render(&err).contains("more than the 1048576 bytes accepted"));
}

#[test]
fn secret_values_in_unknown_keys_are_never_echoed() {
    let err = Policy::parse("p.toml", &format!("{HEAD}password = \"hunter2-do-not-print\"\n{CATCH_ALL}")).unwrap_err();
    let rendered = render(&err);
    assert!(rendered.contains("unknown key `password`"));
    assert!(!rendered.contains("hunter2"), "{rendered}");
}

#[test]
fn hostile_names_are_escaped_and_bounded() {
    let hostile = format!("\\u001b[2J{}", "A".repeat(5000));
    let err = Policy::parse(
        "p.toml",
        &format!("{HEAD}[[rules]]\nid = \"a\"\neffect = \"deny\"\nreason = \"r\"\nwhen.syscalls = [\"{hostile}\"]\n{CATCH_ALL}"),
    )
    .unwrap_err();
    let rendered = render(&err);
    assert!(!rendered.contains('\u{1b}'), "{rendered}");
    assert!(rendered.len() < 600, "{rendered}");
}

#[test]
fn too_many_rules_are_refused() {
    let text = agentk_policy::testing::synthetic_policy(5000);
    let err = Policy::parse("many", &text).unwrap_err();
    assert!(render(&err).contains("policy has more than 4096 rules"), "{}", render(&err));
}

/// Hostile shapes that once made validation quadratic: they must be answered (accepted or
/// refused) with a bounded list of problems. No timing is asserted; the suite's run time is
/// the measure.
#[test]
fn hostile_policies_are_answered_with_bounded_output() {
    // Hundreds of thousands of duplicate keys on one line each.
    let duplicates = format!("{HEAD}{}", "x = 1\n".repeat(150_000));
    let err = Policy::parse("dup", &duplicates).unwrap_err();
    let PolicyError::Invalid { diagnostics, .. } = &err else { panic!() };
    assert_eq!(diagnostics.len(), 101, "100 problems and a count of the rest");
    assert!(render(&err).contains("more problem(s) not shown"));
    // Long, similar leading-star patterns: the dead-rule analysis has a work budget.
    let mut long = String::from(HEAD);
    for i in 0..1500 {
        long += &format!(
            "\n[[rules]]\nid = \"r{i}\"\neffect = \"deny\"\nreason = \"r\"\nwhen.syscalls = [\"network.send\"]\nwhen.targets = [\"*{}b{i}\"]\n",
            "a".repeat(400)
        );
    }
    long += CATCH_ALL;
    match Policy::parse("long", &long) {
        Ok(policy) => assert_eq!(policy.rules().len(), 1501),
        Err(err) => assert!(render(&err).contains("too complex"), "{}", render(&err)),
    }
}

#[test]
fn builtin_profiles_pass_their_own_validation() {
    for profile in Profile::ALL {
        Policy::parse(profile.name(), profile.source()).unwrap();
    }
}

#[test]
fn a_large_valid_policy_is_accepted() {
    let text = agentk_policy::testing::synthetic_policy(1000);
    let policy = Policy::parse("synthetic", &text).unwrap();
    assert_eq!(policy.rules().len(), 1001);
}

mod never_panics {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn on_arbitrary_text(text in "\\PC{0,400}") {
            let _ = Policy::parse("fuzz", &text);
        }

        #[test]
        fn on_a_mangled_starter(cut in 0usize..6000, at in 0usize..6000, byte in 0u8..128) {
            let mut text = Profile::Starter.source().as_bytes().to_vec();
            text.truncate(cut.min(text.len()));
            if let Some(slot) = text.get_mut(at) {
                *slot = byte;
            }
            if let Ok(text) = String::from_utf8(text) {
                let _ = Policy::parse("fuzz", &text);
            }
        }
    }
}
