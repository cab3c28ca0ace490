//! The project's tidy rules, run by `cargo test`. Each check also has a negative case, so a
//! check that stopped detecting anything would fail here too.
#![allow(clippy::unwrap_used, reason = "test helpers fail loudly on purpose")]

use std::path::Path;

use xtask::tidy;

fn root() -> std::path::PathBuf {
    xtask::workspace_root()
}

#[test]
fn crates_depend_only_downward() {
    let metadata = tidy::cargo_metadata(&root()).unwrap();
    assert_eq!(tidy::layering(&metadata), Vec::<String>::new());
}

#[test]
fn layering_check_catches_upward_and_forbidden_edges() {
    let metadata = serde_json::json!({"packages": [
        {"name": "agentk-labels", "dependencies": [{"name": "agentk-policy"}, {"name": "serde"}]},
        {"name": "agentk-policy", "dependencies": [{"name": "agentk-policy"}, {"name": "xtask"}]},
        {"name": "agentk-mcp", "dependencies": [{"name": "agentk-cli"}, {"name": "agentk-labels"}]},
        {"name": "agentk-extras", "dependencies": []},
    ]});
    let problems = tidy::layering(&metadata);
    assert_eq!(problems.len(), 6, "{problems:#?}");
    assert!(problems[0].contains("`agentk-labels` (layer 0) depends on `agentk-policy` (layer 1)"));
    assert!(problems.iter().any(|p| p.contains("`agentk-extras` is not in the layer list")));
}

#[test]
fn every_crate_forbids_unsafe() {
    assert_eq!(tidy::forbid_unsafe(&root()), Vec::<String>::new());
}

#[test]
fn every_crate_doc_has_invariants_non_goals_and_example() {
    assert_eq!(tidy::crate_docs(&root()), Vec::<String>::new());
}

#[test]
fn no_leftover_placeholders_or_ignored_tests() {
    assert_eq!(tidy::leftovers(&root()), Vec::<String>::new());
}

#[test]
fn leftover_check_catches_a_placeholder() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tidy-leftovers/crates/demo/src");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("lib.rs"), ["fn f() { ", "todo", "!() }\n"].concat()).unwrap();
    let problems = tidy::leftovers(dir.parent().unwrap().parent().unwrap().parent().unwrap());
    assert_eq!(problems.len(), 1, "{problems:?}");
    let unsafe_problems = tidy::forbid_unsafe(dir.parent().unwrap().parent().unwrap().parent().unwrap());
    assert_eq!(unsafe_problems.len(), 1, "{unsafe_problems:?}");
}

// guarantee: A3 (every syscall documented with threat model, labels consumed and emitted, failure modes)
#[test]
fn every_syscall_is_documented_and_the_doc_matches_the_code() {
    assert_eq!(tidy::syscalls_documented(&root()), Vec::<String>::new());
}

#[test]
fn syscall_doc_check_catches_drift() {
    let doc = std::fs::read_to_string(root().join("docs/syscalls.md")).unwrap();
    let drifted = doc.replacen("- **Labels emitted:** `secret`.", "- **Labels emitted:** `private`.", 1);
    assert_ne!(doc, drifted, "the doc changed shape; update this test");
    let problems = tidy::check_syscall_doc(&drifted);
    assert_eq!(problems, ["docs/syscalls.md says `secret.open` adds `private`, the code adds `secret`"]);
    let missing = doc.replacen("## `agent.spawn`", "## agent.spawn", 1);
    assert_eq!(tidy::check_syscall_doc(&missing).len(), 1);
}

#[test]
fn fixtures_are_fresh() {
    let stale = xtask::fixtures::stale(&root()).unwrap();
    assert!(stale.is_empty(), "run `cargo xtask fixtures`: {stale:?}");
}

// guarantee: A3 (every guarantee has a status; every test SECURITY.md names exists)
#[test]
fn security_record_is_complete_and_true() {
    assert_eq!(tidy::security_record(&root()), Vec::<String>::new());
}

#[test]
fn security_record_check_catches_gaps_and_phantom_tests() {
    let text = "| id | status | held by |\n| P1 x | implemented | `laws::no_such_test_anywhere` |\n| C1–C7 y | planned | issue |\n";
    let problems = tidy::check_security_record(text, &[root().join("crates/agentk-labels/tests/laws.rs")]);
    assert!(
        problems.contains(&"SECURITY.md names test `laws::no_such_test_anywhere`, which does not exist".to_owned()),
        "{problems:?}"
    );
    assert!(problems.contains(&"SECURITY.md gives no status for guarantee P2".to_owned()));
    assert!(!problems.iter().any(|p| p.contains("guarantee C5")), "ranges count: {problems:?}");
}

// guarantee: F3
#[test]
fn run_logs_and_keys_are_git_ignored() {
    assert_eq!(tidy::run_logs_ignored(&root()), Vec::<String>::new());
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tidy-gitignore");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(".gitignore"), "/target/\n").unwrap();
    assert_eq!(tidy::run_logs_ignored(&dir).len(), 2);
}

// guarantee: A3 (error text follows the house style: one line, no final period, lowercase)
#[test]
fn error_messages_follow_the_house_style() {
    let problems = xtask::tidy::error_messages(&root());
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn error_message_check_catches_style_breaks() {
    use xtask::tidy::check_error_message as check;
    assert_eq!(check("the log does not verify"), None);
    assert_eq!(check("AGENTK_SIGNING_KEY_FILE is readable by group or others"), None);
    assert_eq!(check("line {line}: not a canonical event line"), None);
    assert_eq!(check("The log does not verify"), Some("starts with a capital"));
    assert_eq!(check("the log does not verify."), Some("ends with a period"));
    assert_eq!(check("first line\nsecond line"), Some("spans lines"));

    let dir = std::env::temp_dir().join(format!("agentk-tidy-errors-{}", std::process::id()));
    let src = dir.join("crates/demo/src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("lib.rs"),
        concat!(
            "#[derive(Debug, thiserror::Error)]\npub enum E {\n    #[error(\"Something broke.\")]\n    A,\n",
            "    #[error(transparent)]\n    B(std::io::Error),\n    #[error(\n        \"fine {0}\"\n    )]\n    C(u8),\n",
            "    #[error(\"the \\\"name\\\" field is wrong.\")]\n    D,\n",
            "    #[error(r\"Raw strings are read too\")]\n    F,\n",
            "    #[error(\"two\\nlines\")]\n    G,\n",
            "    #[error(\"a long message \\\n        continued on the next line\")]\n    H,\n",
            "    #[error(\"\\x54ab and \\u{41}\")]\n    I,\n}\n",
        ),
    )
    .unwrap();
    let problems = xtask::tidy::error_messages(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    // Something, the escaped quote, the raw string, the line break, and the escaped capital.
    assert_eq!(problems.len(), 5, "{problems:?}");
    assert!(!problems.iter().any(|p| p.contains("continued")), "{problems:?}");
    assert!(problems[0].contains("lib.rs:3"), "{problems:?}");
}

// Report schemas are named in one place; a front end spelling one out is found.
#[test]
fn report_schemas_have_one_owner() {
    assert_eq!(tidy::report_schemas(&root()), Vec::<String>::new());
}
