//! The release gate (A1): the audit is local only. Run in a scratch git repository with a
//! remote configured, it leaves the repository's config and refs byte for byte as they were;
//! its git helper refuses every subcommand that could write or reach a remote.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail loudly")]

use std::path::{Path, PathBuf};
use std::process::Command;

use xtask::audit::{Options, Status, git, run};

fn sh_git(dir: &Path, args: &[&str]) {
    // The test's own writes stay in the scratch repository, even under a hook's GIT_DIR.
    let status = xtask::audit::scrub(&mut Command::new("git"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=AgentK Test", "-c", "user.email=test@example.invalid", "-c", "init.defaultBranch=main"])
        .args(args)
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

/// Everything in `.git` that a remote operation or a tag would change: the config, HEAD, and
/// every ref (loose and packed), as bytes.
fn git_state(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let git = dir.join(".git");
    let mut state = Vec::new();
    let mut pending = vec![git.join("refs")];
    while let Some(path) = pending.pop() {
        for entry in std::fs::read_dir(&path).unwrap().map(Result::unwrap) {
            let p = entry.path();
            if p.is_dir() {
                pending.push(p);
            } else {
                state.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    for file in ["config", "HEAD", "packed-refs", "FETCH_HEAD"] {
        state.push((git.join(file), std::fs::read(git.join(file)).unwrap_or_default()));
    }
    state.sort();
    state
}

// guarantee: A1 (the audit never configures a remote, fetches, pushes, tags or publishes)
#[test]
fn the_audit_leaves_a_repository_with_a_remote_untouched() {
    // Outside any Cargo workspace, so the cargo checks fail fast instead of finding this one
    // (and running this very test suite again).
    let dir = std::env::temp_dir().join(format!("agentk-audit-remote-{}", std::process::id()));
    assert!(
        dir.ancestors().skip(1).all(|a| !a.join("Cargo.toml").exists()),
        "the temporary directory lies inside a Cargo workspace; set TMPDIR elsewhere"
    );
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    sh_git(&dir, &["init", "-q"]);
    sh_git(&dir, &["remote", "add", "origin", "https://git.example.invalid/agentk.git"]);
    std::fs::write(dir.join("README.md"), "dummy\n").unwrap();
    sh_git(&dir, &["add", "README.md"]);
    sh_git(&dir, &["commit", "-q", "-m", "dummy"]);
    sh_git(&dir, &["tag", "v0.0.0-dummy"]);
    let before = git_state(&dir);

    let outcomes = run(&dir, &Options { strict: true, only: Vec::new() });
    assert_eq!(outcomes.len(), xtask::audit::CHECKS.len());
    // Nothing builds here, so the audit fails; what matters is that it changed nothing.
    assert!(outcomes.iter().any(|o| o.status == Status::Fail));
    assert_eq!(git_state(&dir), before, "the audit changed the repository's config or refs");

    for forbidden in [
        vec!["push", "origin", "main"],
        vec!["fetch", "origin"],
        vec!["pull"],
        vec!["remote", "add", "other", "https://git.example.invalid/x.git"],
        vec!["tag", "v9"],
        vec!["config", "remote.origin.url", "https://git.example.invalid/y.git"],
        vec!["-c", "alias.status=push", "status"],
        vec!["commit", "-m", "x"],
    ] {
        assert!(git(&dir, &forbidden).is_err(), "git {forbidden:?} was not refused");
    }
    for allowed in [vec!["status", "--porcelain"], vec!["ls-files"], vec!["rev-parse", "HEAD"]] {
        assert!(git(&dir, &allowed).unwrap().status.success(), "git {allowed:?}");
    }
    assert_eq!(git_state(&dir), before);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn reports_list_failures_first_and_pass_only_when_nothing_failed() {
    let dir = std::env::temp_dir().join(format!("agentk-audit-order-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let outcomes = run(
        &dir,
        &Options { strict: false, only: vec!["deny".to_owned(), "clean-tree".to_owned(), "fixtures".to_owned()] },
    );
    let statuses: Vec<Status> = outcomes.iter().map(|o| o.status).collect();
    let mut sorted = statuses.clone();
    sorted.sort_by_key(|s| match s {
        Status::Fail => 0,
        Status::Skipped => 1,
        Status::Pass => 2,
    });
    assert_eq!(statuses, sorted);
    // `fixtures` fails in an empty directory (every fixture is missing).
    assert!(!xtask::audit::passed(&outcomes));
    let text = xtask::audit::to_text(&outcomes, false);
    assert!(text.starts_with("fail"), "{text}");
    let failed = statuses.iter().filter(|s| **s == Status::Fail).count();
    assert!(failed >= 1);
    assert!(text.contains(&format!("audit: FAILED ({failed} check(s))")), "{text}");
    // A subset is never presented as a release verdict.
    assert!(text.trim_end().ends_with("not a release verdict)"), "{text}");
    let json = xtask::audit::to_json(&outcomes, false);
    assert_eq!(json["schema"], "agentk.release-audit.v1");
    assert_eq!(json["passed"], false);
    assert_eq!(json["complete"], false);
    assert!(json["omitted"].as_array().unwrap().iter().any(|c| c == "test"));
    let _ = std::fs::remove_dir_all(&dir);
}

// guarantee: A1 (every process the audit starts drops git's repository-redirecting variables)
#[test]
fn child_processes_lose_git_redirects() {
    let inherited = ["GIT_DIR", "GIT_OBJECT_DIRECTORY", "GIT_QUARANTINE_PATH", "GIT_CONFIG_KEY_0", "HOME", "PATH"];
    let mut command = Command::new("true");
    xtask::audit::scrub_from(&mut command, inherited.map(std::ffi::OsString::from));
    let envs: Vec<(String, Option<String>)> = command
        .get_envs()
        .map(|(k, v)| (k.to_string_lossy().into_owned(), v.map(|v| v.to_string_lossy().into_owned())))
        .collect();
    for name in ["GIT_DIR", "GIT_OBJECT_DIRECTORY", "GIT_QUARANTINE_PATH", "GIT_CONFIG_KEY_0"] {
        assert!(envs.contains(&(name.to_owned(), None)), "{name} is not removed: {envs:?}");
    }
    assert!(!envs.iter().any(|(k, _)| k == "HOME" || k == "PATH"), "{envs:?}");
    assert!(envs.contains(&("GIT_CONFIG_GLOBAL".to_owned(), Some("/dev/null".to_owned()))));
    // And every process the audit and the fuzz runner start is made by `audit::command`.
    for file in ["xtask/src/audit.rs", "xtask/src/fuzz.rs"] {
        let text = std::fs::read_to_string(xtask::workspace_root().join(file)).unwrap();
        let direct = text.matches(["Command", "::new("].concat().as_str()).count();
        assert_eq!(direct, usize::from(file.ends_with("audit.rs")), "{file} starts a process without audit::command");
    }
}
