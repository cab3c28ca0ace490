//! The canonical text of an event line, written by hand.
//!
//! The canonical form is the compact JSON `serde_json` makes of an [`EventLine`] (fields in
//! declaration order, `null` for an absent option, `from` left out when absent, strings escaped
//! as `serde_json` escapes them). Writing it here directly costs a fraction of going through
//! `serde`: hex digests are written without the per-byte escape scan, and nothing is allocated.
//! Every kernel event is written through it and every verified line is compared against it, so
//! it must agree with `serde_json` byte for byte; a property test holds it to that over random
//! events, strings of any characters included (`tests::matches_serde_json_on_random_events`).

use agentk_capability::{EncodedReceipt, Hash32};
use agentk_labels::{LabelSet, Outcome};
use agentk_policy::Effect;
use agentk_secrets::EncodedHandle;

use crate::event::{CheckpointEvent, EventBody, EventLine, Genesis, GrantRef, InputRef, OutputEvent, SyscallEvent};

/// Appends the canonical line of `line` (no newline) to `out`.
pub(crate) fn write_line(line: &EventLine, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"v\":");
    number(out, u64::from(line.v));
    out.extend_from_slice(b",\"seq\":");
    number(out, line.seq);
    out.extend_from_slice(b",\"prev\":");
    hash(out, &line.prev);
    out.extend_from_slice(b",\"hash\":");
    hash(out, &line.hash);
    out.extend_from_slice(b",\"event\":{");
    match &line.event {
        EventBody::Genesis(genesis) => {
            out.extend_from_slice(b"\"genesis\":");
            write_genesis(out, genesis);
        }
        EventBody::Syscall(syscall) => {
            out.extend_from_slice(b"\"syscall\":");
            write_syscall(out, syscall);
        }
        EventBody::Checkpoint(checkpoint) => {
            out.extend_from_slice(b"\"checkpoint\":");
            write_checkpoint(out, checkpoint);
        }
        EventBody::Output(output) => {
            out.extend_from_slice(b"\"output\":");
            write_output(out, output);
        }
    }
    out.extend_from_slice(b"}}");
}

fn write_genesis(out: &mut Vec<u8>, genesis: &Genesis) {
    out.extend_from_slice(b"{\"log_id\":");
    hash(out, &genesis.log_id);
    out.extend_from_slice(b",\"origin\":");
    string(out, &genesis.origin);
    out.extend_from_slice(b",\"policy_hash\":");
    hash(out, &genesis.policy_hash);
    out.extend_from_slice(b",\"signer\":");
    string(out, &genesis.signer);
    out.extend_from_slice(b",\"development_signer\":");
    boolean(out, genesis.development_signer);
    out.push(b'}');
}

fn write_syscall(out: &mut Vec<u8>, event: &SyscallEvent) {
    out.extend_from_slice(b"{\"time\":");
    number(out, event.time);
    out.extend_from_slice(b",\"agent\":");
    string(out, &event.agent);
    out.extend_from_slice(b",\"syscall\":");
    string(out, &event.syscall);
    out.extend_from_slice(b",\"target\":");
    string(out, &event.target);
    out.extend_from_slice(b",\"inputs\":[");
    for (i, input) in event.inputs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_input(out, input);
    }
    out.extend_from_slice(b"],\"grant\":");
    match &event.grant {
        Some(grant) => write_grant(out, grant),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"decision\":");
    out.extend_from_slice(match event.decision {
        Effect::Allow => b"\"allow\"",
        Effect::Deny => b"\"deny\"",
    });
    out.extend_from_slice(b",\"rule\":");
    string(out, &event.rule);
    out.extend_from_slice(b",\"output_labels\":");
    match event.output_labels {
        Some(labels) => write_labels(out, labels),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"receipt\":");
    match &event.receipt {
        Some(receipt) => write_receipt(out, receipt),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"handle\":");
    match &event.handle {
        Some(handle) => write_handle(out, handle),
        None => out.extend_from_slice(b"null"),
    }
    out.push(b'}');
}

fn write_input(out: &mut Vec<u8>, input: &InputRef) {
    out.extend_from_slice(b"{\"labels\":");
    write_labels(out, input.labels);
    out.extend_from_slice(b",\"digest\":");
    hash(out, &input.digest);
    if let Some(from) = input.from {
        out.extend_from_slice(b",\"from\":");
        number(out, from);
    }
    out.push(b'}');
}

fn write_grant(out: &mut Vec<u8>, grant: &GrantRef) {
    out.extend_from_slice(b"{\"id\":");
    string(out, &grant.id);
    out.extend_from_slice(b",\"hash\":");
    hash(out, &grant.hash);
    out.extend_from_slice(b",\"covering\":");
    boolean(out, grant.covering);
    out.push(b'}');
}

fn write_receipt(out: &mut Vec<u8>, receipt: &EncodedReceipt) {
    out.extend_from_slice(b"{\"schema\":");
    string(out, &receipt.schema);
    out.extend_from_slice(b",\"receipt\":");
    string(out, &receipt.receipt);
    out.extend_from_slice(b",\"proof\":");
    string(out, &receipt.proof);
    out.extend_from_slice(b",\"signature\":");
    string(out, &receipt.signature);
    out.push(b'}');
}

fn write_handle(out: &mut Vec<u8>, handle: &EncodedHandle) {
    out.extend_from_slice(b"{\"schema\":");
    string(out, &handle.schema);
    out.extend_from_slice(b",\"handle\":");
    string(out, &handle.handle);
    out.extend_from_slice(b",\"signature\":");
    string(out, &handle.signature);
    out.push(b'}');
}

fn write_checkpoint(out: &mut Vec<u8>, checkpoint: &CheckpointEvent) {
    out.extend_from_slice(b"{\"size\":");
    number(out, checkpoint.size);
    out.extend_from_slice(b",\"root\":");
    hash(out, &checkpoint.root);
    out.extend_from_slice(b",\"signature\":");
    string(out, &checkpoint.signature);
    out.push(b'}');
}

fn write_output(out: &mut Vec<u8>, output: &OutputEvent) {
    out.extend_from_slice(b"{\"time\":");
    number(out, output.time);
    out.extend_from_slice(b",\"from\":");
    number(out, output.from);
    out.extend_from_slice(b",\"digest\":");
    hash(out, &output.digest);
    out.extend_from_slice(b",\"labels\":");
    write_labels(out, output.labels);
    out.extend_from_slice(b",\"outcome\":");
    out.extend_from_slice(match output.outcome {
        Outcome::Ok => b"\"ok\"",
        Outcome::Error => b"\"error\"",
    });
    out.push(b'}');
}

fn write_labels(out: &mut Vec<u8>, labels: LabelSet) {
    out.push(b'[');
    for (i, label) in labels.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // Label names are lowercase ASCII words: nothing to escape.
        out.push(b'"');
        out.extend_from_slice(label.name().as_bytes());
        out.push(b'"');
    }
    out.push(b']');
}

fn number(out: &mut Vec<u8>, value: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = value;
    loop {
        at -= 1;
        if let Some(slot) = digits.get_mut(at) {
            // INVARIANT: `rest % 10` is a single digit.
            *slot = b'0' + (rest % 10) as u8;
        }
        rest /= 10;
        if rest == 0 || at == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(at..).unwrap_or_default());
}

fn boolean(out: &mut Vec<u8>, value: bool) {
    out.extend_from_slice(if value { b"true" } else { b"false" });
}

/// A hash as a quoted string of 64 lowercase hex digits (nothing to escape).
fn hash(out: &mut Vec<u8>, value: &Hash32) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.reserve(66);
    out.push(b'"');
    for byte in value.0 {
        out.push(DIGITS.get(usize::from(byte >> 4)).copied().unwrap_or(b'0'));
        out.push(DIGITS.get(usize::from(byte & 0xf)).copied().unwrap_or(b'0'));
    }
    out.push(b'"');
}

/// A quoted JSON string, escaped exactly as `serde_json` escapes it: `"` and `\` with a
/// backslash, the control characters below U+0020 as `\b`, `\t`, `\n`, `\f`, `\r` or `\u00XX`
/// (lowercase hex), everything else as it is.
fn string(out: &mut Vec<u8>, value: &str) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.reserve(value.len() + 2);
    out.push(b'"');
    let bytes = value.as_bytes();
    // Nearly every string (hex digests, receipts, names) needs no escape: one pass without an
    // early exit, which the compiler vectorizes, then a single copy.
    let plain = !bytes.iter().fold(false, |seen, &b| seen | (b < 0x20) | (b == b'"') | (b == b'\\'));
    if plain {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(bytes.get(start..i).unwrap_or_default());
        if escape.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(DIGITS.get(usize::from(byte >> 4)).copied().unwrap_or(b'0'));
            out.push(DIGITS.get(usize::from(byte & 0xf)).copied().unwrap_or(b'0'));
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or_default());
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9:/._-]{0,40}",
            any::<String>(),
            proptest::collection::vec(any::<char>(), 0..30).prop_map(|c| c.into_iter().collect()),
            proptest::collection::vec(0u8..0x80, 0..30).prop_map(|b| b.into_iter().map(char::from).collect()),
        ]
    }

    fn hash32() -> impl Strategy<Value = Hash32> {
        any::<[u8; 32]>().prop_map(Hash32)
    }

    fn labels() -> impl Strategy<Value = LabelSet> {
        (0u8..64).prop_map(|bits| {
            agentk_labels::Label::ALL
                .iter()
                .enumerate()
                .filter(|(i, _)| bits & (1 << i) != 0)
                .fold(LabelSet::EMPTY, |set, (_, label)| set | LabelSet::of(*label))
        })
    }

    fn input() -> impl Strategy<Value = InputRef> {
        (labels(), hash32(), proptest::option::of(any::<u64>())).prop_map(|(labels, digest, from)| InputRef {
            labels,
            digest,
            from,
        })
    }

    fn body() -> impl Strategy<Value = EventBody> {
        let genesis = (hash32(), text(), hash32(), text(), any::<bool>()).prop_map(
            |(log_id, origin, policy_hash, signer, development_signer)| {
                EventBody::Genesis(Genesis { log_id, origin, policy_hash, signer, development_signer })
            },
        );
        let checkpoint = (any::<u64>(), hash32(), text())
            .prop_map(|(size, root, signature)| EventBody::Checkpoint(CheckpointEvent { size, root, signature }));
        let output = (any::<u64>(), any::<u64>(), hash32(), labels(), any::<bool>()).prop_map(
            |(time, from, digest, labels, ok)| {
                let outcome = if ok { Outcome::Ok } else { Outcome::Error };
                EventBody::Output(OutputEvent { time, from, digest, labels, outcome })
            },
        );
        let grant = proptest::option::of((text(), hash32(), any::<bool>()).prop_map(|(id, hash, covering)| GrantRef {
            id,
            hash,
            covering,
        }));
        let receipt = proptest::option::of(
            (text(), text(), text(), text()).prop_map(|(schema, receipt, proof, signature)| EncodedReceipt {
                schema,
                receipt,
                proof,
                signature,
            }),
        );
        let handle =
            proptest::option::of((text(), text(), text()).prop_map(|(schema, handle, signature)| EncodedHandle {
                schema,
                handle,
                signature,
            }));
        let syscall = (
            (any::<u64>(), text(), text(), text(), proptest::collection::vec(input(), 0..4)),
            (grant, any::<bool>(), text(), proptest::option::of(labels()), receipt, handle),
        )
            .prop_map(
                |((time, agent, syscall, target, inputs), (grant, allow, rule, output_labels, receipt, handle))| {
                    EventBody::Syscall(Box::new(SyscallEvent {
                        time,
                        agent,
                        syscall,
                        target,
                        inputs,
                        grant,
                        decision: if allow { Effect::Allow } else { Effect::Deny },
                        rule,
                        output_labels,
                        receipt,
                        handle,
                    }))
                },
            );
        prop_oneof![genesis, checkpoint, output, syscall]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        // The hand-written canonical form is serde_json's, byte for byte.
        #[test]
        fn matches_serde_json_on_random_events(v in 0u32..5, seq in any::<u64>(), prev in hash32(), hash in hash32(), event in body()) {
            let line = EventLine { v, seq, prev, hash, event };
            let mut mine = Vec::new();
            write_line(&line, &mut mine);
            let theirs = serde_json::to_string(&line).unwrap_or_default();
            prop_assert_eq!(String::from_utf8(mine).unwrap_or_default(), theirs);
        }
    }

    #[test]
    fn numbers_and_escapes_at_their_edges() {
        for value in [0u64, 9, 10, 99, 100, u64::MAX] {
            let mut out = Vec::new();
            number(&mut out, value);
            assert_eq!(out, value.to_string().as_bytes());
        }
        let all: String = (0u8..0x80).map(char::from).chain(['é', '\u{2028}', '\u{202e}', '😀']).collect();
        let mut out = Vec::new();
        string(&mut out, &all);
        assert_eq!(String::from_utf8(out).unwrap_or_default(), serde_json::to_string(&all).unwrap_or_default());
    }
}
