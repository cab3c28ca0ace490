//! Lattice laws, the propagation rule (P7) and text round trips, checked over every value.
#![allow(clippy::unwrap_used, reason = "test helpers fail loudly on purpose")]

use agentk_labels::{Label, LabelSet, Outcome, Syscall, SyscallKind, propagate};
use proptest::prelude::*;

fn any_set() -> impl Strategy<Value = LabelSet> {
    (0..LabelSet::COUNT as u8).prop_map(|bits| LabelSet::from_bits(bits).unwrap())
}

fn any_kind() -> impl Strategy<Value = SyscallKind> {
    prop_oneof![
        prop::sample::select(Syscall::ALL).prop_map(SyscallKind::Known),
        "[a-z.]{1,20}".prop_map(|name| SyscallKind::parse(&name)),
    ]
}

fn any_outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![Just(Outcome::Ok), Just(Outcome::Error)]
}

proptest! {
    #[test]
    fn join_and_meet_are_commutative(a in any_set(), b in any_set()) {
        prop_assert_eq!(a.join(b), b.join(a));
        prop_assert_eq!(a.meet(b), b.meet(a));
    }

    #[test]
    fn join_and_meet_are_associative(a in any_set(), b in any_set(), c in any_set()) {
        prop_assert_eq!(a.join(b).join(c), a.join(b.join(c)));
        prop_assert_eq!(a.meet(b).meet(c), a.meet(b.meet(c)));
    }

    #[test]
    fn join_and_meet_are_idempotent(a in any_set()) {
        prop_assert_eq!(a.join(a), a);
        prop_assert_eq!(a.meet(a), a);
    }

    #[test]
    fn absorption_holds(a in any_set(), b in any_set()) {
        prop_assert_eq!(a.join(a.meet(b)), a);
        prop_assert_eq!(a.meet(a.join(b)), a);
    }

    #[test]
    fn bounds_are_identities(a in any_set()) {
        prop_assert_eq!(a.join(LabelSet::EMPTY), a);
        prop_assert_eq!(a.meet(LabelSet::ALL), a);
        prop_assert!(a.is_subset(LabelSet::ALL) && a.is_superset(LabelSet::EMPTY));
    }

    #[test]
    fn join_is_the_least_upper_bound(a in any_set(), b in any_set(), c in any_set()) {
        let j = a.join(b);
        prop_assert!(j.is_superset(a) && j.is_superset(b));
        if c.is_superset(a) && c.is_superset(b) {
            prop_assert!(c.is_superset(j));
        }
    }

    #[test]
    fn containment_agrees_with_membership(a in any_set(), b in any_set()) {
        let by_members = Label::ALL.iter().all(|&l| !b.contains(l) || a.contains(l));
        prop_assert_eq!(a.is_superset(b), by_members);
        prop_assert_eq!(a.intersects(b), !a.meet(b).is_empty());
    }

    #[test]
    fn text_form_round_trips(a in any_set()) {
        let text = a.to_string();
        prop_assert_eq!(text.parse::<LabelSet>().unwrap(), a);
        let spaced = text.replace(',', " , ");
        prop_assert_eq!(spaced.parse::<LabelSet>().unwrap(), a);
    }

    #[test]
    fn json_form_round_trips(a in any_set()) {
        let json = serde_json::to_string(&a).unwrap();
        prop_assert_eq!(serde_json::from_str::<LabelSet>(&json).unwrap(), a);
    }

    #[test]
    fn iteration_is_canonical_and_complete(a in any_set()) {
        let labels: Vec<Label> = a.iter().collect();
        prop_assert_eq!(labels.len(), a.len());
        prop_assert!(labels.windows(2).all(|w| w[0] < w[1]));
        prop_assert_eq!(labels.into_iter().collect::<LabelSet>(), a);
    }

    // guarantee: P7
    #[test]
    fn propagation_keeps_at_least_the_join(kind in any_kind(), a in any_set(), b in any_set(), outcome in any_outcome()) {
        let out = propagate(&kind, a.join(b), outcome);
        prop_assert!(out.is_superset(a.join(b)));
    }

    // guarantee: P7
    #[test]
    fn propagation_is_monotone(kind in any_kind(), a in any_set(), b in any_set(), outcome in any_outcome()) {
        prop_assert!(propagate(&kind, a.join(b), outcome).is_superset(propagate(&kind, a, outcome)));
        prop_assert!(propagate(&kind, a, Outcome::Error).is_superset(propagate(&kind, a, Outcome::Ok)));
    }

    #[test]
    fn unknown_names_never_parse_as_known(name in "\\PC{0,80}") {
        let known = Syscall::ALL.iter().any(|s| s.name() == name);
        prop_assert_eq!(SyscallKind::parse(&name).is_unknown(), !known);
    }
}

fn check_propagation(syscall: Syscall, inputs: &str, outcome: Outcome, expected: &str) {
    let inputs: LabelSet = inputs.parse().unwrap();
    let out = propagate(&SyscallKind::Known(syscall), inputs, outcome);
    assert_eq!(out.to_string(), expected, "{syscall} {inputs} {outcome:?}");
}

// guarantee: P7
#[test]
fn responses_are_external_and_errors_suspect() {
    use Outcome::{Error, Ok};
    check_propagation(Syscall::ToolResponse, "none", Ok, "untrusted,external");
    check_propagation(Syscall::ToolResponse, "none", Error, "untrusted,external,poisoned-suspect");
    check_propagation(Syscall::ResourceResponse, "private", Ok, "untrusted,external,private");
    check_propagation(Syscall::PromptResponse, "trusted", Error, "trusted,untrusted,external,poisoned-suspect");
    check_propagation(Syscall::ToolDescribe, "none", Ok, "untrusted,external");
    check_propagation(Syscall::NetworkSend, "private", Ok, "untrusted,external,private");
    check_propagation(Syscall::SecretOpen, "trusted", Ok, "trusted,secret");
    check_propagation(Syscall::ModelCall, "untrusted,private", Ok, "untrusted,private");
    check_propagation(Syscall::ContextRead, "none", Ok, "none");
    check_propagation(Syscall::FilePatch, "none", Error, "poisoned-suspect");
}

#[test]
fn unknown_kinds_propagate_as_suspect() {
    let out = propagate(&SyscallKind::parse("kernel.reboot"), LabelSet::EMPTY, Outcome::Ok);
    assert_eq!(out.to_string(), "untrusted,poisoned-suspect");
}

fn check_parse_error(text: &str, message: &str) {
    let err = text.parse::<LabelSet>().unwrap_err();
    assert_eq!(err.to_string(), message);
}

#[test]
fn unknown_label_names_are_refused_by_name() {
    check_parse_error("secret,classified", "unknown label `classified`");
    check_parse_error("Secret", "unknown label `Secret`");
    check_parse_error("secret,,private", "unknown label ``");
    check_parse_error("poisoned_suspect", "unknown label `poisoned_suspect`");
    check_parse_error("x\u{7}", "unknown label `x\\u{7}`");
}

#[test]
fn bits_outside_the_six_labels_are_refused() {
    assert_eq!(LabelSet::from_bits(0b0100_0000), None);
    assert_eq!(LabelSet::from_bits(0b0011_1111), Some(LabelSet::ALL));
}

#[test]
fn json_refuses_unknown_labels_and_long_lists() {
    assert!(serde_json::from_str::<LabelSet>(r#"["secret","nope"]"#).is_err());
    let long = format!("[{}]", ["\"secret\""; 7].join(","));
    assert!(serde_json::from_str::<LabelSet>(&long).is_err());
}
