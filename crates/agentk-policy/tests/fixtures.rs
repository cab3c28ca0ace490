//! P5 at the library boundary, on the policy vectors in `fixtures/policies/` (made by
//! `cargo xtask fixtures`): every valid vector parses, every invalid one is refused with the
//! diagnostic code its header names.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail loudly")]

use std::path::Path;

use agentk_policy::{Policy, PolicyError};

fn vectors(kind: &str) -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/policies").join(kind);
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
        .collect();
    files.sort();
    files
}

// guarantee: P5
#[test]
fn policy_vectors_parse_or_are_refused_as_their_headers_say() {
    let valid = vectors("valid");
    assert!(!valid.is_empty());
    for (name, text) in valid {
        Policy::parse(&name, &text).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let invalid = vectors("invalid");
    assert!(invalid.len() >= 20);
    for (name, text) in invalid {
        let code = text.lines().find_map(|l| l.strip_prefix("# code: ")).unwrap_or_else(|| panic!("{name}: no code"));
        match Policy::parse(&name, &text) {
            Err(PolicyError::Invalid { diagnostics, .. }) => {
                assert!(diagnostics.iter().any(|d| d.kind().code() == code), "{name}: no `{code}` in {diagnostics:?}");
            }
            other => panic!("{name}: expected refusal, got {other:?}"),
        }
    }
}
