//! Schema versions: version 2 lines hash input links; version 1 lines (written before links
//! existed) keep verifying under version 1 hashing, and cannot carry a link.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, reason = "tests fail loudly")]

use agentk_flightlog::event::{EventBody, EventLine, InputRef, SCHEMA_VERSION, event_hash, event_hash_for};
use agentk_flightlog::verify::{ChainError, verify_lines};

fn compat_log() -> Vec<String> {
    compat("session-v1.jsonl")
}

fn compat(name: &str) -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/compat").join(name);
    std::fs::read_to_string(path).unwrap().lines().map(str::to_owned).collect()
}

// guarantee: F1 (old logs keep verifying; a version 1 line cannot smuggle in a link its hash
// would not cover)
#[test]
fn version_1_lines_verify_with_version_1_hashing_and_cannot_carry_links() {
    let lines = compat_log();
    assert!(lines.iter().all(|l| l.starts_with("{\"v\":1,")));
    verify_lines(lines.iter().map(String::as_str)).unwrap();

    let mut event: EventLine = serde_json::from_str(&lines[2]).unwrap();
    assert!(matches!(event.event, EventBody::Syscall(_)), "line 3 is a syscall");
    // Under version 2 hashing the same event hashes differently: the link slot is covered.
    assert_ne!(event_hash(event.seq, &event.prev, &event.event), event.hash);
    assert_eq!(event_hash_for(1, event.seq, &event.prev, &event.event), Some(event.hash));
    assert_eq!(event_hash_for(SCHEMA_VERSION + 1, event.seq, &event.prev, &event.event), None);

    // A link on a version 1 line: refused as malformed, whatever hash it carries.
    let EventBody::Syscall(syscall) = &mut event.event else { panic!("line 3 is a syscall") };
    let input = syscall.inputs[0].clone();
    syscall.inputs[0] = InputRef { from: Some(1), ..input };
    assert_eq!(event_hash_for(1, event.seq, &event.prev, &event.event), None);
    let mut tampered = lines.clone();
    tampered[2] = event.to_line();
    assert_eq!(verify_lines(tampered.iter().map(String::as_str)).unwrap_err(), ChainError::Malformed { line: 3 });
}

// guarantee: F1 (version 2 logs keep verifying under version 2 hashing; a version 2 line cannot
// hold an output event, which only version 3 hashes)
#[test]
fn version_2_lines_verify_and_cannot_carry_output_events() {
    use agentk_flightlog::event::{Hash32, OutputEvent};
    use agentk_labels::{LabelSet, Outcome};

    let lines = compat("session-v2.jsonl");
    assert!(lines.iter().all(|l| l.starts_with("{\"v\":2,")));
    verify_lines(lines.iter().map(String::as_str)).unwrap();
    let event: EventLine = serde_json::from_str(&lines[2]).unwrap();
    assert_eq!(event_hash_for(2, event.seq, &event.prev, &event.event), Some(event.hash));
    // The version is hashed: the same event under version 3 hashing is another hash.
    assert_ne!(event_hash(event.seq, &event.prev, &event.event), event.hash);

    let output = EventBody::Output(OutputEvent {
        time: 1,
        from: 1,
        digest: Hash32([3; 32]),
        labels: LabelSet::EMPTY,
        outcome: Outcome::Ok,
    });
    assert_eq!(event_hash_for(2, 2, &event.prev, &output), None);
    assert_eq!(event_hash_for(1, 2, &event.prev, &output), None);
    assert!(event_hash_for(SCHEMA_VERSION, 2, &event.prev, &output).is_some());
}
