//! P5 through the CLI, on the policy vectors in `fixtures/` (made by `cargo xtask fixtures`):
//! every negative vector is refused with exactly the diagnostics its header lists, and every
//! positive one validates.
#![allow(clippy::unwrap_used, clippy::panic, reason = "test helpers fail loudly on purpose")]

use std::path::{Path, PathBuf};

fn fixture_dir(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/policies").join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

fn policy_check_json(path: &Path) -> (u8, serde_json::Value) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let path = path.display().to_string();
    let code = agentk_cli::run(["agentk", "policy-check", "--json", &path], &mut out, &mut err);
    (code, serde_json::from_slice(&out).unwrap())
}

// guarantee: P5
#[test]
fn negative_vectors_are_refused_as_their_headers_say() {
    let files = fixture_dir("invalid");
    assert!(files.len() >= 20, "expected the negative vectors, found {}", files.len());
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let header = |key: &str| -> Vec<String> {
            text.lines().filter_map(|l| l.strip_prefix(&format!("# {key}: "))).map(str::to_owned).collect()
        };
        assert_eq!(header("expect"), ["refused"], "{}", path.display());
        let (code, report) = policy_check_json(&path);
        assert_eq!(code, agentk_cli::exit::ERROR, "{}", path.display());
        assert_eq!(report["valid"], false);
        let diagnostics = report["diagnostics"].as_array().unwrap();
        let found: Vec<String> = diagnostics
            .iter()
            .map(|d| format!("{}:{}: {}", d["line"], d["column"], d["message"].as_str().unwrap()))
            .collect();
        assert_eq!(found, header("diagnostic"), "{}", path.display());
        let codes: Vec<&str> = diagnostics.iter().map(|d| d["code"].as_str().unwrap()).collect();
        assert!(codes.contains(&header("code")[0].as_str()), "{}: {codes:?}", path.display());
    }
}

#[test]
fn positive_vectors_validate() {
    let files = fixture_dir("valid");
    assert!(!files.is_empty());
    for path in files {
        let (code, report) = policy_check_json(&path);
        assert_eq!((code, &report["valid"]), (0, &serde_json::Value::Bool(true)), "{}", path.display());
    }
}
