//! `agentk readiness` (C4's readiness half, F3): named checks with pass, warn or fail and a fix,
//! never printing key material or the paths of key files.
#![allow(clippy::unwrap_used, clippy::panic, reason = "test helpers fail loudly on purpose")]

mod common;

use std::path::Path;
use std::process::Command;

use common::{TestHost, agentk, scratch};

/// A deterministic TEST KEY seed, hex; never sign anything real with it.
const READINESS_TEST_KEY_HEX: &str = "5151515151515151515151515151515151515151515151515151515151515151";

fn git(dir: &Path, args: &[&str]) {
    let mut command = Command::new("git");
    // The test's own writes stay in the scratch repository, even under a hook's GIT_DIR.
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_none_or(|n| n.starts_with("GIT_")) {
            command.env_remove(name);
        }
    }
    let status = command
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .arg("-C")
        .arg(dir)
        .args(args)
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

/// A scratch git work tree with `.gitignore` holding `ignore`.
fn repo(test: &str, ignore: &str) -> std::path::PathBuf {
    let dir = scratch(test);
    git(&dir, &["init", "-q"]);
    std::fs::write(dir.join(".gitignore"), ignore).unwrap();
    git(&dir, &["add", ".gitignore"]);
    dir
}

fn readiness(host: &TestHost, dir: &Path, extra: &[&str]) -> (u8, serde_json::Value, String) {
    let dir = dir.display().to_string();
    let human_args: Vec<&str> = ["readiness", "--dir", &dir].into_iter().chain(extra.iter().copied()).collect();
    let json_args: Vec<&str> = human_args.iter().copied().chain(["--json"]).collect();
    let run = agentk(host, &json_args);
    let human = agentk(host, &human_args);
    assert_eq!(run.code, human.code);
    (run.code, serde_json::from_str(&run.stdout).unwrap(), format!("{}{}{}", run.stdout, human.stdout, human.stderr))
}

fn status<'a>(report: &'a serde_json::Value, name: &str) -> &'a str {
    let checks = report["checks"].as_array().unwrap();
    checks.iter().find(|c| c["name"] == name).unwrap()["status"].as_str().unwrap()
}

// guarantee: C4 (the development key and an unset require flag are flagged; strict fails them;
// a real key passes)
#[test]
fn the_signer_and_the_require_flag_are_judged() {
    let dir = repo("readiness-signer", ".agentk/\n");
    let (code, report, _) = readiness(&TestHost::new(&[]), &dir, &[]);
    assert_eq!(code, agentk_cli::exit::OK, "{report}");
    assert_eq!((status(&report, "signer"), status(&report, "require-signing-key")), ("warn", "warn"));
    let (code, report, _) = readiness(&TestHost::new(&[]), &dir, &["--strict"]);
    assert_eq!((code, &report["ready"]), (agentk_cli::exit::VERIFY_FAILED, &serde_json::Value::Bool(false)));

    let real =
        TestHost::new(&[("AGENTK_SIGNING_KEY_HEX", READINESS_TEST_KEY_HEX), ("AGENTK_REQUIRE_SIGNING_KEY", "1")]);
    let (code, report, text) = readiness(&real, &dir, &["--strict"]);
    assert_eq!(code, agentk_cli::exit::OK, "{report}");
    assert!(report["checks"].as_array().unwrap().iter().all(|c| c["status"] == "pass"), "{report}");
    assert!(!text.contains(READINESS_TEST_KEY_HEX), "key material printed: {text}");

    let broken = TestHost::new(&[("AGENTK_SIGNING_KEY_HEX", "not-a-key-CANARY")]);
    let (code, report, text) = readiness(&broken, &dir, &[]);
    assert_eq!((code, status(&report, "signer")), (agentk_cli::exit::VERIFY_FAILED, "fail"));
    assert!(!text.contains("CANARY"), "{text}");
}

// guarantee: C4 (a key file with loose permissions fails, and its path is never printed)
#[cfg(unix)]
#[test]
fn a_loose_key_file_fails_without_naming_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = repo("readiness-loose-key", ".agentk/\n");
    let key = dir.join("secret-place-CANARY.key");
    std::fs::write(&key, format!("{READINESS_TEST_KEY_HEX}\n")).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let host = TestHost::new(&[("AGENTK_SIGNING_KEY_FILE", key.to_str().unwrap())]);
    let (code, report, text) = readiness(&host, &dir, &[]);
    assert_eq!((code, status(&report, "signer")), (agentk_cli::exit::VERIFY_FAILED, "fail"), "{report}");
    assert!(!text.contains("CANARY") && !text.contains(READINESS_TEST_KEY_HEX), "{text}");
}

// guarantee: F3 (run logs must be ignored by git; key-like files must not be tracked, and only
// their count is printed)
#[test]
fn run_logs_and_key_files_are_checked_against_git() {
    let dir = repo("readiness-git", "target/\n");
    let (code, report, _) = readiness(&TestHost::new(&[]), &dir, &[]);
    assert_eq!((code, status(&report, "run-logs-ignored")), (agentk_cli::exit::VERIFY_FAILED, "fail"));

    let dir = repo("readiness-tracked", ".agentk/\n");
    std::fs::write(dir.join("deploy-CANARY.key"), "dummy\n").unwrap();
    git(&dir, &["add", "deploy-CANARY.key"]);
    let (code, report, text) = readiness(&TestHost::new(&[]), &dir, &[]);
    assert_eq!((code, status(&report, "no-key-files-tracked")), (agentk_cli::exit::VERIFY_FAILED, "fail"));
    assert!(!text.contains("CANARY"), "a tracked key file's name was printed: {text}");
    assert!(text.contains("1 tracked file(s)"), "{text}");

    // A pattern that covers logs but not the directory (salts) is not enough.
    let dir = repo("readiness-partial-ignore", "*.jsonl\n");
    let (_, report, _) = readiness(&TestHost::new(&[]), &dir, &[]);
    assert_eq!(status(&report, "run-logs-ignored"), "fail");

    // Keys hidden under fixtures/, under an innocent name, or under a name that is not UTF-8.
    let hex = format!("{READINESS_TEST_KEY_HEX}\n");
    for (name, contents) in [
        ("fixtures/prod-CANARY.key", "dummy\n".to_owned()),
        ("deploy/settings-CANARY", hex.clone()),
        ("fixtures/.agentk/runs/latest-CANARY.jsonl", "{}\n".to_owned()),
    ] {
        let dir = repo("readiness-hidden-key", ".agentk/\n");
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, contents).unwrap();
        git(&dir, &["add", "-f", name]);
        let (code, report, text) = readiness(&TestHost::new(&[]), &dir, &[]);
        assert_eq!(
            (code, status(&report, "no-key-files-tracked")),
            (agentk_cli::exit::VERIFY_FAILED, "fail"),
            "{name}"
        );
        assert!(!text.contains("CANARY"), "{text}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let dir = repo("readiness-non-utf8-key", ".agentk/\n");
        std::fs::write(dir.join(std::ffi::OsStr::from_bytes(b"k\xff.key")), "dummy\n").unwrap();
        std::fs::write(dir.join(std::ffi::OsStr::from_bytes(b"b\xff\xfe")), &hex).unwrap();
        git(&dir, &["add", "-A"]);
        let (_, report, text) = readiness(&TestHost::new(&[]), &dir, &[]);
        assert_eq!(status(&report, "no-key-files-tracked"), "fail");
        assert!(text.contains("2 tracked file(s)"), "{text}");
    }
    // A key still in the index counts even when its working copy is gone.
    let dir = repo("readiness-deleted-key", ".agentk/\n");
    std::fs::write(dir.join("gone"), &hex).unwrap();
    git(&dir, &["add", "gone"]);
    std::fs::remove_file(dir.join("gone")).unwrap();
    let (_, report, _) = readiness(&TestHost::new(&[]), &dir, &[]);
    assert_eq!(status(&report, "no-key-files-tracked"), "fail");
    // An exclusion only in this clone's .git/info/exclude is not enough.
    let dir = repo("readiness-info-exclude", "target/\n");
    std::fs::write(dir.join(".git/info/exclude"), ".agentk/\n").unwrap();
    let (_, report, _) = readiness(&TestHost::new(&[]), &dir, &[]);
    assert_eq!(status(&report, "run-logs-ignored"), "fail");

    // Outside a work tree nothing can be told: a warning, not a pass.
    let bare = std::env::temp_dir().join(format!("agentk-readiness-no-repo-{}", std::process::id()));
    std::fs::create_dir_all(&bare).unwrap();
    let (_, report, _) = readiness(&TestHost::new(&[]), &bare, &[]);
    let _ = std::fs::remove_dir_all(&bare);
    assert_eq!(status(&report, "run-logs-ignored"), "warn");
}
