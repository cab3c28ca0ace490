//! `agentk mcp-wrap` end to end, on a hermetic host: client configurations (Claude Desktop,
//! VS Code's mcp.json and settings.json) have their stdio servers routed through
//! `agentk mcp-proxy`, in their own key order; wrapping twice changes nothing; `--write` keeps
//! a backup; hostile or malformed files are refused with nothing written; `env` values never
//! reach a diagnostic; every value from the file is joined to its flag; only this agentk is
//! trusted to be a proxy already.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly on purpose"
)]

mod common;

use std::path::{Path, PathBuf};

use common::{Run, TestHost, agentk, scratch};
use serde_json::{Value, json};

/// The agentk the tests name, so outputs do not depend on where the tests run.
const AGENTK: &str = "/opt/example/bin/agentk";

/// A dummy secret: it must appear in no diagnostic.
const CANARY: &str = "canary-7f3a-dummy-token";

const CLAUDE_DESKTOP: &str = r#"{
  "mcpServers": {
    "filesystem": {
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-filesystem", "/opt/example/docs"]
    },
    "github": {
      "command": "docker",
      "args": ["run", "-i", "--rm", "-e", "GITHUB_TOKEN", "ghcr.io/example/github-mcp"],
      "env": {
        "GITHUB_TOKEN": "canary-7f3a-dummy-token",
        "GITHUB_HOST": "https://github.example.invalid"
      }
    },
    "remote": {
      "url": "https://mcp.example.invalid/mcp"
    }
  }
}
"#;

const VSCODE_MCP_JSON: &str = r#"{
  "inputs": [
    {"type": "promptString", "id": "api-key", "description": "Example API key", "password": true}
  ],
  "servers": {
    "search": {
      "type": "stdio",
      "command": "node",
      "args": ["/opt/example/search/index.js"],
      "env": {"SEARCH_API_KEY": "${input:api-key}"}
    },
    "docs": {"type": "http", "url": "https://docs.example.invalid/mcp", "headers": {"X-Example": "1"}},
    "events": {"type": "sse", "url": "https://events.example.invalid/sse"}
  }
}
"#;

const VSCODE_SETTINGS: &str = r#"{
  "editor.tabSize": 2,
  "mcp": {
    "servers": {
      "time": {"command": "uvx", "args": ["mcp-server-time"]}
    }
  },
  "files.autoSave": "off"
}
"#;

/// Writes `text` to a fresh scratch directory as `name`.
fn config(test: &str, name: &str, text: &[u8]) -> PathBuf {
    let path = scratch(test).join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn wrap(path: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["mcp-wrap", path.to_str().unwrap(), "--agentk", AGENTK];
    args.extend_from_slice(extra);
    agentk(&TestHost::new(&[]), &args)
}

/// Runs `mcp-wrap` on `text` and checks that it succeeds; answers the run and its output.
fn check_wraps(test: &str, text: &str) -> (Run, Value) {
    let path = config(test, "config.json", text.as_bytes());
    let run = wrap(&path, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains(CANARY), "{}", run.stderr);
    assert!(run.stdout.ends_with("}\n"), "{}", run.stdout);
    let value = serde_json::from_str(&run.stdout).unwrap();
    (run, value)
}

/// The args a wrapped server gets.
fn proxied(id: &str, env: &[&str], command: &[&str]) -> Value {
    let mut args = vec!["mcp-proxy".to_owned(), format!("--server-id={id}")];
    args.extend(env.iter().map(|name| format!("--env={name}")));
    args.push("--".to_owned());
    args.extend(command.iter().map(|word| (*word).to_owned()));
    json!(args)
}

/// The files in `dir`, by name.
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    names
}

#[test]
fn claude_desktop_stdio_servers_are_wrapped_and_http_is_reported() {
    let (run, out) = check_wraps("mcp-wrap-claude", CLAUDE_DESKTOP);
    insta::assert_snapshot!("mcp_wrap_claude_desktop", run.stdout);
    insta::assert_snapshot!("mcp_wrap_claude_desktop_summary", run.stderr);
    let servers = &out["mcpServers"];
    assert_eq!(servers["filesystem"]["command"], AGENTK);
    assert_eq!(
        servers["filesystem"]["args"],
        proxied("filesystem", &[], &["npx", "-y", "@modelcontextprotocol/server-filesystem", "/opt/example/docs"])
    );
    assert_eq!(
        servers["github"]["args"],
        proxied(
            "github",
            &["GITHUB_TOKEN", "GITHUB_HOST"],
            &["docker", "run", "-i", "--rm", "-e", "GITHUB_TOKEN", "ghcr.io/example/github-mcp"]
        )
    );
    // The client still sets the variables, now on the proxy.
    assert_eq!(servers["github"]["env"]["GITHUB_TOKEN"], CANARY);
    assert_eq!(servers["remote"], json!({"url": "https://mcp.example.invalid/mcp"}));
}

#[test]
fn vscode_mcp_json_keeps_types_inputs_and_input_references() {
    let (run, out) = check_wraps("mcp-wrap-vscode", VSCODE_MCP_JSON);
    let input: Value = serde_json::from_str(VSCODE_MCP_JSON).unwrap();
    let search = &out["servers"]["search"];
    assert_eq!(search["type"], "stdio");
    assert_eq!(search["command"], AGENTK);
    assert_eq!(search["args"], proxied("search", &["SEARCH_API_KEY"], &["node", "/opt/example/search/index.js"]));
    assert_eq!(search["env"]["SEARCH_API_KEY"], "${input:api-key}");
    assert_eq!(out["servers"]["docs"], input["servers"]["docs"]);
    assert_eq!(out["servers"]["events"], input["servers"]["events"]);
    assert_eq!(out["inputs"], input["inputs"]);
    assert!(
        run.stderr.contains("`docs` is an HTTP server, not wrapped (the gateway will handle it)"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("`events` is an HTTP server"), "{}", run.stderr);
    assert!(run.stderr.contains("1 wrapped, 0 already wrapped, 2 HTTP, 0 skipped"), "{}", run.stderr);
}

#[test]
fn vscode_settings_json_servers_are_found_under_mcp() {
    let (_, out) = check_wraps("mcp-wrap-settings", VSCODE_SETTINGS);
    assert_eq!(out["editor.tabSize"], 2);
    assert_eq!(out["files.autoSave"], "off");
    assert_eq!(out["mcp"]["servers"]["time"]["args"], proxied("time", &[], &["uvx", "mcp-server-time"]));
}

#[test]
fn wrapping_the_output_again_changes_nothing() {
    for (test, text) in [
        ("mcp-wrap-twice-claude", CLAUDE_DESKTOP),
        ("mcp-wrap-twice-vscode", VSCODE_MCP_JSON),
        ("mcp-wrap-twice-settings", VSCODE_SETTINGS),
    ] {
        let (first, _) = check_wraps(test, text);
        let path = config(test, "wrapped.json", first.stdout.as_bytes());
        let second = wrap(&path, &[]);
        assert_eq!(second.code, 0, "{}", second.stderr);
        assert_eq!(second.stdout, first.stdout, "{test}");
        assert!(second.stderr.contains("already wrapped, left alone"), "{}", second.stderr);
        assert!(second.stderr.contains(" 0 wrapped,"), "{}", second.stderr);
    }
}

#[test]
fn without_agentk_the_running_executable_is_named_and_recognized() {
    let path = config("mcp-wrap-current-exe", "config.json", CLAUDE_DESKTOP.as_bytes());
    let host = TestHost::new(&[]);
    let first = agentk(&host, &["mcp-wrap", path.to_str().unwrap()]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let out: Value = serde_json::from_str(&first.stdout).unwrap();
    let exe = std::env::current_exe().unwrap();
    assert_eq!(out["mcpServers"]["github"]["command"], exe.to_str().unwrap());
    assert!(Path::new(out["mcpServers"]["github"]["command"].as_str().unwrap()).is_absolute());
    // Here the executable is the test binary, not `agentk`: it is still recognized as wrapped.
    std::fs::write(&path, &first.stdout).unwrap();
    let second = agentk(&host, &["mcp-wrap", path.to_str().unwrap()]);
    assert_eq!(second.stdout, first.stdout);
}

/// An untrusted repository's workspace configuration: its own `agentk`, its own policy.
const REPOSITORY_AGENTK: &str = r#"{"servers": {
    "repo": {"command": "./scripts/agentk", "args": ["mcp-proxy", "--policy", "./allow-all.toml", "--", "npx", "x"]},
    "bare": {"command": "agentk", "args": ["mcp-proxy", "--", "uvx", "y"], "env": {"AGENTK_SIGNING_KEY_HEX": "canary-7f3a-dummy-token", "Y_ROOT": "/opt/example"}},
    "win": {"command": "C:\\Tools\\agentk.exe", "args": ["mcp-proxy", "--server-id", "win", "--", "npx", "z"]},
    "installed": {"command": "/usr/local/bin/agentk", "args": ["mcp-proxy", "--server-id=installed", "--", "w"]}
}}"#;

#[test]
fn another_agentk_is_not_trusted_and_runs_behind_this_one() {
    let (run, out) = check_wraps("mcp-wrap-other-agentk", REPOSITORY_AGENTK);
    insta::assert_snapshot!("mcp_wrap_other_agentk", run.stderr);
    let servers = &out["servers"];
    for name in ["repo", "bare", "win", "installed"] {
        assert_eq!(servers[name]["command"], AGENTK, "{name}");
    }
    let repo = ["./scripts/agentk", "mcp-proxy", "--policy", "./allow-all.toml", "--", "npx", "x"];
    assert_eq!(servers["repo"]["args"], proxied("repo", &[], &repo));
    // The other agentk never gets this one's variables.
    assert_eq!(servers["bare"]["args"], proxied("bare", &["Y_ROOT"], &["agentk", "mcp-proxy", "--", "uvx", "y"]));
    let win = ["C:\\Tools\\agentk.exe", "mcp-proxy", "--server-id", "win", "--", "npx", "z"];
    assert_eq!(servers["win"]["args"], proxied("win", &[], &win));
    assert_eq!(
        servers["installed"]["args"],
        proxied("installed", &[], &["/usr/local/bin/agentk", "mcp-proxy", "--server-id=installed", "--", "w"])
    );
    for (name, other) in [
        ("repo", "./scripts/agentk"),
        ("bare", "agentk"),
        ("win", "C:\\Tools\\agentk.exe"),
        ("installed", "/usr/local/bin/agentk"),
    ] {
        let warning =
            format!("agentk: mcp-wrap: warning: `{name}` is started by another agentk at `{other}`, not verified\n");
        assert!(run.stderr.contains(&warning), "{warning}{}", run.stderr);
    }
    assert!(run.stderr.contains("4 wrapped, 0 already wrapped, 0 HTTP, 0 skipped, 4 warning(s);"), "{}", run.stderr);

    // Written, never "nothing to change"; then this agentk is the proxy, and nothing is left.
    let path = config("mcp-wrap-other-agentk-write", "mcp.json", REPOSITORY_AGENTK.as_bytes());
    let written = wrap(&path, &["--write"]);
    assert!(written.stdout.starts_with("wrote `"), "{}", written.stdout);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), run.stdout);
    let again = wrap(&path, &["--write"]);
    assert!(again.stdout.starts_with("nothing to change"), "{}", again.stdout);
    assert!(again.stderr.contains("0 wrapped, 4 already wrapped, 0 HTTP, 0 skipped;"), "{}", again.stderr);
    assert!(!again.stderr.contains("warning:"), "{}", again.stderr);
}

#[test]
fn this_agentk_by_another_path_is_recognized_as_wrapped() {
    let dir = scratch("mcp-wrap-same-agentk");
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::fs::create_dir_all(dir.join("other")).unwrap();
    let ours = dir.join("bin/agentk");
    std::fs::write(&ours, "#!/bin/sh\n").unwrap();
    std::fs::write(dir.join("other/agentk"), "#!/bin/sh\n").unwrap();
    let mut commands = vec![ours.clone(), dir.join("bin/../bin/agentk"), dir.join("other/../bin/./agentk")];
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&ours, dir.join("other/link")).unwrap();
        commands.push(dir.join("other/link"));
    }
    let entry = |index: usize, command: &Path| json!({"command": command.to_str().unwrap(), "args": ["mcp-proxy", format!("--server-id=s{index}"), "--", "x"]});
    let mut servers = serde_json::Map::new();
    for (index, command) in commands.iter().enumerate() {
        servers.insert(format!("s{index}"), entry(index, command));
    }
    // The same file name, another file: not this agentk.
    servers.insert("other".to_owned(), entry(99, &dir.join("other/agentk")));
    let text = serde_json::to_string(&json!({"mcpServers": servers})).unwrap();
    let path = dir.join("config.json");
    std::fs::write(&path, &text).unwrap();
    let run = agentk(&TestHost::new(&[]), &["mcp-wrap", path.to_str().unwrap(), "--agentk", ours.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for index in 0..commands.len() {
        assert!(run.stderr.contains(&format!("`s{index}` already wrapped, left alone\n")), "{}", run.stderr);
        assert!(!run.stderr.contains(&format!("`s{index}` is started by another agentk")), "{}", run.stderr);
    }
    let warning = format!(
        "warning: `other` is started by another agentk at `{}`, not verified",
        dir.join("other/agentk").display()
    );
    assert!(run.stderr.contains(&warning), "{}", run.stderr);
    assert!(run.stderr.contains(&format!("1 wrapped, {} already wrapped", commands.len())), "{}", run.stderr);

    // AGENTK need not exist: then the absolute paths' text is compared.
    let text = r#"{"mcpServers": {"a": {"command": "/opt/example/bin/./agentk", "args": ["mcp-proxy", "--server-id=a", "--", "x"]}}}"#;
    let (run, out) = check_wraps("mcp-wrap-same-agentk-text", text);
    assert_eq!(out, serde_json::from_str::<Value>(text).unwrap());
    assert!(run.stderr.contains("`a` already wrapped, left alone\n"), "{}", run.stderr);
    assert!(!run.stderr.contains("warning:"), "{}", run.stderr);
}

const WRAPPED_WITH_FLAGS: &str = r#"{"mcpServers": {
    "same": {"command": "/opt/example/bin/agentk", "args": ["mcp-proxy", "--server-id=same", "--profile=mcp", "--log-dir=/opt/example/runs", "--", "x"]},
    "policy": {"command": "/opt/example/bin/agentk", "args": ["mcp-proxy", "--server-id", "policy", "--policy", "./allow-all.toml", "--", "x"]},
    "profile": {"command": "/opt/example/bin/agentk", "args": ["mcp-proxy", "--server-id=profile", "--profile", "research", "--", "x"]},
    "relative": {"command": "/opt/example/bin/agentk", "args": ["mcp-proxy", "--server-id=relative", "--profile", "mcp", "--log-dir", "runs", "--pins=pins.json", "--", "x"]},
    "dash": {"command": "/opt/example/bin/agentk", "args": ["mcp-proxy", "--server-id", "-hidden", "--profile=mcp", "--", "x"]},
    "derived": {"command": "/opt/example/bin/agentk", "args": ["mcp-proxy", "--profile=mcp", "--", "npx", "-y", "@example/docs-server"]}
}}"#;

#[test]
fn already_wrapped_entries_with_other_flags_are_reported() {
    let path = config("mcp-wrap-flags-reported", "config.json", WRAPPED_WITH_FLAGS.as_bytes());
    let run = wrap(&path, &["--profile", "mcp"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.parse::<Value>().unwrap(), WRAPPED_WITH_FLAGS.parse::<Value>().unwrap());
    insta::assert_snapshot!("mcp_wrap_wrapped_flags", run.stderr);
    assert!(!run.stderr.contains("warning: `same`"), "{}", run.stderr);

    // With no policy flag, this run asks for the proxy's default.
    let plain = wrap(&path, &[]);
    assert!(
        plain.stderr.contains(
            "warning: `same` is wrapped under --profile `mcp`, not under the proxy's default policy as this run asks; left alone"
        ),
        "{}",
        plain.stderr
    );
    let written = wrap(&path, &["--write", "--profile", "mcp"]);
    assert!(written.stdout.starts_with("nothing to change"), "{}", written.stdout);

    // The id a proxy derives from its command is taken too.
    let text = r#"{"mcpServers": {"derived": {"command": "/opt/example/bin/agentk", "args": ["mcp-proxy", "--", "npx", "-y", "@example/docs-server"]}, "docs-server": {"command": "y"}}}"#;
    check_refused(
        "mcp-wrap-derived-collision",
        text.as_bytes(),
        "servers `derived` and `docs-server` would share the server id `docs-server`",
    );
}

#[test]
fn key_order_is_kept() {
    let text = r#"{
  "zeta": 1,
  "mcpServers": {
    "zz": {"env": {"Z_VAR": "1", "A_VAR": "2"}, "args": ["serve"], "cwd": "/opt/example", "command": "zz-server"},
    "aa": {"disabled": true, "command": "aa-server", "type": "stdio"}
  },
  "alpha": {"y": [1.5, null, false], "b": "text"}
}
"#;
    let (run, _) = check_wraps("mcp-wrap-order", text);
    let order = |keys: &[&str]| {
        let at: Vec<usize> = keys.iter().map(|k| run.stdout.find(&format!("\"{k}\"")).unwrap()).collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{keys:?} in {}", run.stdout);
    };
    order(&[
        "zeta",
        "mcpServers",
        "zz",
        "Z_VAR",
        "A_VAR",
        "args",
        "cwd",
        "command",
        "aa",
        "disabled",
        "alpha",
        "y",
        "b",
    ]);
    // An entry without `args` gets them right after `command`.
    let aa = &run.stdout[run.stdout.find("\"aa\"").unwrap()..];
    let disabled = aa.find("\"disabled\": true,\n      \"command\": \"/opt/example/bin/agentk\",\n      \"args\": [");
    assert!(disabled.is_some_and(|at| at < aa.find("\"type\"").unwrap()), "{aa}");
    assert!(run.stdout.contains("\"y\": [\n      1.5,\n      null,\n      false\n    ]"), "{}", run.stdout);
}

#[test]
fn write_keeps_a_backup_and_replaces_the_file() {
    let path = config("mcp-wrap-write", "claude_desktop_config.json", CLAUDE_DESKTOP.as_bytes());
    #[cfg(unix)]
    set_mode(&path, 0o640);
    let printed = wrap(&path, &[]).stdout;
    let run = wrap(&path, &["--write"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains(CANARY), "{}", run.stderr);
    assert!(run.stdout.starts_with("wrote `"), "{}", run.stdout);
    assert!(run.stdout.contains("claude_desktop_config.json.agentk-backup`"), "{}", run.stdout);
    let backup = path.with_file_name("claude_desktop_config.json.agentk-backup");
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), CLAUDE_DESKTOP);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), printed);
    assert_eq!(
        files(path.parent().unwrap()),
        ["claude_desktop_config.json", "claude_desktop_config.json.agentk-backup"]
    );
    #[cfg(unix)]
    {
        assert_eq!(mode(&path), 0o640, "the file keeps its permission bits");
        assert_eq!(mode(&backup), 0o600, "the backup holds env values: owner-only");
    }

    // A second run finds nothing to change: no write, no new backup.
    let again = wrap(&path, &["--write"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stdout.starts_with("nothing to change in `"), "{}", again.stdout);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), printed);
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), CLAUDE_DESKTOP);
    assert_eq!(files(path.parent().unwrap()).len(), 2);
}

#[test]
fn an_existing_backup_is_never_overwritten() {
    let path = config("mcp-wrap-numbered", "mcp.json", VSCODE_MCP_JSON.as_bytes());
    let first = path.with_file_name("mcp.json.agentk-backup");
    std::fs::write(&first, "an older backup").unwrap();
    let run = wrap(&path, &["--write"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&first).unwrap(), "an older backup");
    assert_eq!(std::fs::read_to_string(path.with_file_name("mcp.json.agentk-backup.1")).unwrap(), VSCODE_MCP_JSON);
    assert!(run.stdout.contains("mcp.json.agentk-backup.1`"), "{}", run.stdout);

    // With every backup name taken, nothing is written.
    let path = config("mcp-wrap-backups-full", "mcp.json", VSCODE_MCP_JSON.as_bytes());
    std::fs::write(path.with_file_name("mcp.json.agentk-backup"), "old").unwrap();
    for number in 1..=99 {
        std::fs::write(path.with_file_name(format!("mcp.json.agentk-backup.{number}")), "old").unwrap();
    }
    let run = wrap(&path, &["--write"]);
    assert_eq!((run.code, run.stdout.as_str()), (1, ""), "{}", run.stderr);
    assert!(run.stderr.contains("already has 99 numbered backups"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), VSCODE_MCP_JSON);
    assert_eq!(files(path.parent().unwrap()).len(), 101);
}

#[cfg(unix)]
#[test]
fn write_through_a_link_replaces_its_target_and_keeps_the_link() {
    let dir = scratch("mcp-wrap-link");
    let target = dir.join("real.json");
    std::fs::write(&target, VSCODE_SETTINGS).unwrap();
    let link = dir.join("settings.json");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let printed = wrap(&link, &[]).stdout;
    let run = wrap(&link, &["--write"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("is a link; replacing its target"), "{}", run.stderr);
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read_to_string(&target).unwrap(), printed);
    assert_eq!(std::fs::read_to_string(dir.join("real.json.agentk-backup")).unwrap(), VSCODE_SETTINGS);
}

/// Runs `mcp-wrap` on `text`, with and without `--write`, and checks that it is refused with
/// `expect` in the error and nothing is written.
fn check_refused(test: &str, text: &[u8], expect: &str) {
    let path = config(test, "config.json", text);
    for extra in [&[][..], &["--write"]] {
        let run = wrap(&path, extra);
        assert_eq!(run.code, 1, "{test}: {}", run.stderr);
        assert_eq!(run.stdout, "", "{test}");
        assert!(run.stderr.starts_with("agentk: error: "), "{test}: {}", run.stderr);
        assert!(run.stderr.contains(expect), "{test}: {}", run.stderr);
        assert!(!run.stderr.contains(CANARY), "{test}: {}", run.stderr);
        assert_eq!(std::fs::read(&path).unwrap(), text, "{test}");
        assert_eq!(files(path.parent().unwrap()), ["config.json"], "{test}");
    }
}

#[test]
fn hostile_and_malformed_files_are_refused() {
    let deep =
        format!(r#"{{"mcpServers": {{"x": {{"command": "x", "args": {}{}}}}}}}"#, "[".repeat(80), "]".repeat(80));
    let oversized = format!(r#"{{"mcpServers": {{}}, "pad": "{}"}}"#, "x".repeat(1 << 20));
    let cases: &[(&str, &[u8], &str)] = &[
        (
            "dup-top",
            br#"{"mcpServers": {}, "mcpServers": {}}"#,
            "config.json:1:31: not valid JSON: duplicate key `mcpServers`",
        ),
        ("dup-entry", br#"{"mcpServers": {"a": {"command": "x", "command": "y"}}}"#, "duplicate key `command`"),
        ("dup-server", br#"{"mcpServers": {"a": {"command": "x"}, "a": {"command": "y"}}}"#, "duplicate key `a`"),
        (
            "dup-env",
            br#"{"mcpServers": {"a": {"command": "x", "env": {"K": "canary-7f3a-dummy-token", "K": "2"}}}}"#,
            "duplicate key `K`",
        ),
        ("array", b"[]", "its top level is not an object"),
        ("string", br#""mcpServers""#, "its top level is not an object"),
        (
            "no-servers",
            br#"{"editor.tabSize": 2}"#,
            "has no MCP servers: it has no `mcpServers`, `servers` or `mcp.servers` object",
        ),
        ("servers-array", br#"{"mcpServers": []}"#, "`mcpServers` is not an object"),
        ("vscode-servers-string", br#"{"servers": "x"}"#, "`servers` is not an object"),
        ("settings-servers-null", br#"{"mcp": {"servers": null}}"#, "`mcp.servers` is not an object"),
        ("truncated", br#"{"mcpServers": {"#, "config.json:1:16: not valid JSON: EOF while parsing an object"),
        ("trailing-comma", b"{\"mcpServers\": {},\n}", "config.json:2:1: not valid JSON: trailing comma"),
        ("comment", b"// servers\n{\"mcpServers\": {}}", "config.json:1:1: not valid JSON: expected value"),
        ("trailing-text", br#"{"mcpServers": {}} {}"#, "not valid JSON: trailing characters"),
        ("empty", b"", "not valid JSON: EOF while parsing a value"),
        ("deep", deep.as_bytes(), "not valid JSON: nested more than 64 levels deep"),
        ("oversized", oversized.as_bytes(), "bytes, more than the 1048576 bytes accepted"),
        ("binary", b"{\"mcpServers\": {}}\0", "it is a binary file"),
        ("not-utf8", b"{\"mcpServers\": {\"\xff\": {}}}", "it is not valid UTF-8"),
    ];
    for (name, text, expect) in cases {
        check_refused(&format!("mcp-wrap-refused-{name}"), text, expect);
    }
    let help = |text: &[u8]| wrap(&config("mcp-wrap-refused-help", "config.json", text), &[]).stderr;
    assert!(help(b"{\"a\": 1, \"a\": 2}").contains("help: each key may appear once per object"));
    assert!(help(b"{\"a\": 1,}").contains("help: MCP configurations are plain JSON: no comments, no trailing commas"));
    let missing = wrap(Path::new("/opt/example/missing/claude_desktop_config.json"), &[]);
    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains("no such file"), "{}", missing.stderr);
}

#[test]
fn bad_env_names_are_refused_without_showing_them() {
    let cases = [
        (r#""GITHUB_TOKEN=canary-7f3a-dummy-token": "x""#, "(it contains `=`)"),
        (r#""": "canary-7f3a-dummy-token""#, "(it is empty)"),
        (r#""--policy": "canary-7f3a-dummy-token""#, "(it starts with `-`)"),
        (r#""A B": "canary-7f3a-dummy-token""#, "(it holds a character other than printable ASCII)"),
        (r#""A\u0000B": "canary-7f3a-dummy-token""#, "(it holds a character other than printable ASCII)"),
    ];
    for (index, (env, why)) in cases.iter().enumerate() {
        let text = format!(r#"{{"mcpServers": {{"gh": {{"command": "x", "env": {{"OK": "1", {env}}}}}}}}}"#);
        check_refused(
            &format!("mcp-wrap-env-{index}"),
            text.as_bytes(),
            &format!("server `gh`: `env` entry 2 is not a variable name {why}"),
        );
    }
    let path = config(
        "mcp-wrap-env-snapshot",
        "config.json",
        br#"{"mcpServers": {"gh": {"command": "x", "env": {"TOKEN=canary-7f3a-dummy-token": ""}}}}"#,
    );
    insta::assert_snapshot!("mcp_wrap_bad_env_name", wrap(&path, &[]).stderr);
}

#[test]
fn names_that_are_not_server_ids_are_sanitized_and_collisions_refused() {
    let (run, out) = check_wraps(
        "mcp-wrap-sanitized",
        r#"{"mcpServers": {"my server": {"command": "x"}, ".hidden": {"command": "y"}, "Ünïcode/π": {"command": "z"}}}"#,
    );
    assert_eq!(out["mcpServers"]["my server"]["args"][1], "--server-id=my-server");
    assert_eq!(out["mcpServers"][".hidden"]["args"][1], "--server-id=_hidden");
    assert_eq!(out["mcpServers"]["Ünïcode/π"]["args"][1], "--server-id=_n-code--");
    assert!(
        run.stderr.contains("`my server` wrapped, server id `my-server` (the name is not a valid server id)"),
        "{}",
        run.stderr
    );

    let cases: &[(&str, &str, &str)] = &[
        (
            "sanitized",
            r#"{"mcpServers": {"a b": {"command": "x"}, "a-b": {"command": "y"}}}"#,
            "servers `a b` and `a-b` would share the server id `a-b` (ids are compared ignoring case)",
        ),
        (
            "case",
            r#"{"mcpServers": {"GitHub": {"command": "x"}, "github": {"command": "y"}}}"#,
            "servers `GitHub` and `github`",
        ),
        (
            "wrapped",
            r#"{"mcpServers": {"old": {"command": "/opt/example/bin/agentk", "args": ["mcp-proxy", "--server-id", "docs", "--", "x"]}, "docs": {"command": "y"}}}"#,
            "servers `old` and `docs` would share the server id `docs`",
        ),
    ];
    for (name, text, expect) in cases {
        check_refused(&format!("mcp-wrap-collision-{name}"), text.as_bytes(), expect);
    }
}

#[test]
fn entries_it_cannot_route_are_left_alone_and_reported() {
    let text = r#"{"mcpServers": {
        "string": "npx server",
        "numbers": {"command": "x", "args": ["a", 1]},
        "socket": {"type": "websocket", "command": "x"},
        "envfile": {"command": "x", "envFile": "/opt/example/.env"},
        "both": {"command": "x", "url": "https://both.example.invalid"},
        "neither": {"args": ["x"]},
        "env-list": {"command": "x", "env": ["A"]},
        "empty-command": {"command": ""},
        "stdio-url": {"type": "stdio", "url": "https://stdio.example.invalid"},
        "type-number": {"type": 3, "command": "x"}
    }}"#;
    let (run, out) = check_wraps("mcp-wrap-skipped", text);
    assert_eq!(out, serde_json::from_str::<Value>(text).unwrap());
    for expect in [
        "`string` skipped, left alone: it is not an object",
        "`numbers` skipped, left alone: its `args` is not a list of strings",
        "`socket` skipped, left alone: its `type` is not stdio, http or sse",
        "`envfile` skipped, left alone: its `envFile` variables would not reach the server; move them to `env`",
        "`both` skipped, left alone: it has both `command` and `url`",
        "`neither` skipped, left alone: it has neither `command` nor `url`",
        "`env-list` skipped, left alone: its `env` is not an object",
        "`empty-command` skipped, left alone: its `command` is not a non-empty string",
        "`stdio-url` skipped, left alone: its `type` is stdio but it has a `url` and no `command`",
        "`type-number` skipped, left alone: its `type` is not a string",
        "0 wrapped, 0 already wrapped, 0 HTTP, 10 skipped",
    ] {
        assert!(run.stderr.contains(expect), "{expect}\n{}", run.stderr);
    }
    // Nothing to wrap: --write writes nothing.
    let path = config("mcp-wrap-skipped-write", "config.json", text.as_bytes());
    let run = wrap(&path, &["--write"]);
    assert!(run.stdout.starts_with("nothing to change"), "{}", run.stdout);
    assert_eq!(files(path.parent().unwrap()), ["config.json"]);
}

#[test]
fn proxy_flags_are_passed_on_with_absolute_paths() {
    let path = config("mcp-wrap-flags", "config.json", CLAUDE_DESKTOP.as_bytes());
    let run = wrap(&path, &["--profile", "mcp", "--log-dir", "runs", "--pins", "/opt/example/pins.json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains("note:"), "{}", run.stderr);
    let out: Value = serde_json::from_str(&run.stdout).unwrap();
    let runs = std::env::current_dir().unwrap().join("runs");
    let log_dir = format!("--log-dir={}", runs.to_str().unwrap());
    let flags = ["--profile=mcp", &log_dir, "--pins=/opt/example/pins.json"];
    let mut expected = vec!["mcp-proxy", "--server-id=filesystem"];
    expected.extend(flags);
    expected.extend(["--", "npx", "-y", "@modelcontextprotocol/server-filesystem", "/opt/example/docs"]);
    assert_eq!(out["mcpServers"]["filesystem"]["args"], json!(expected));

    // Without them, the user is told where the proxies would keep their logs and pins.
    let plain = wrap(&path, &[]);
    assert!(plain.stderr.contains("note: without --log-dir DIR, each proxy keeps its flight logs"), "{}", plain.stderr);
    assert!(plain.stderr.contains("note: without --pins FILE"), "{}", plain.stderr);

    // A policy that would fail in every proxy fails here.
    let bad = wrap(&path, &["--profile", "nosuch"]);
    assert_eq!((bad.code, bad.stdout.as_str()), (1, ""), "{}", bad.stderr);
    let missing = wrap(&path, &["--policy", "/opt/example/missing.toml"]);
    assert_eq!((missing.code, missing.stdout.as_str()), (1, ""), "{}", missing.stderr);
    assert!(missing.stderr.contains("no such file"), "{}", missing.stderr);
}

#[test]
fn a_file_with_no_servers_is_printed_unchanged() {
    let (run, out) = check_wraps("mcp-wrap-empty", "{\"mcpServers\": {}}");
    assert_eq!(out, json!({"mcpServers": {}}));
    assert_eq!(run.stdout, "{\n  \"mcpServers\": {}\n}\n");
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn agentk_variables_configure_the_proxy_and_are_never_passed_to_the_server() {
    let text = r#"{"mcpServers": {"files": {"command": "files-server", "env": {"AGENTK_SIGNING_KEY_HEX": "CANARY-key (dummy)", "agentk_signing_key_file": "/opt/example/key", "FILES_ROOT": "/opt/example/docs"}}}}"#;
    let (run, out) = check_wraps("mcp-wrap-agentk-env", text);
    assert_eq!(out["mcpServers"]["files"]["args"], proxied("files", &["FILES_ROOT"], &["files-server"]));
    // The proxy still gets them from the client.
    assert_eq!(out["mcpServers"]["files"]["env"]["AGENTK_SIGNING_KEY_HEX"], "CANARY-key (dummy)");
    assert!(!run.stderr.contains("CANARY-key"), "{}", run.stderr);
}

#[test]
fn names_starting_with_a_dash_get_ids_the_proxy_accepts() {
    let text = r#"{"mcpServers": {
        "--": {"command": "a"},
        "--help": {"command": "b"},
        "--env": {"command": "c", "env": {"C_TOKEN": "canary-7f3a-dummy-token"}},
        "-V": {"command": "d"},
        "--server-id=x": {"command": "e"}
    }}"#;
    let (run, out) = check_wraps("mcp-wrap-dash-names", text);
    let cases =
        [("--", "_-"), ("--help", "_-help"), ("--env", "_-env"), ("-V", "_V"), ("--server-id=x", "_-server-id-x")];
    for (name, id) in cases {
        let args = &out["mcpServers"][name]["args"];
        assert_eq!(args[1], format!("--server-id={id}"), "{name}");
        let line = format!("`{name}` wrapped, server id `{id}`");
        assert!(run.stderr.contains(&line), "{line}\n{}", run.stderr);
        check_proxy_accepts(name, args);
        check_lines_accepts(name, args[1].as_str().unwrap());
    }
    assert_eq!(out["mcpServers"]["--env"]["args"], proxied("_-env", &["C_TOKEN"], &["c"]));
    assert!(run.stderr.contains("(the name is not a valid server id)"), "{}", run.stderr);

    // The id itself may not start with `-`, however it is written.
    let logs = scratch("mcp-wrap-dash-id-refused").join("runs");
    let refused = agentk(&TestHost::new(&[]), &["mcp-lines", "--server-id=-V", "--log-dir", logs.to_str().unwrap()]);
    // mcp-lines answers JSON, errors included, on standard output.
    assert_eq!(refused.code, 2, "{}", refused.stdout);
    assert!(refused.stdout.contains("`-V` is not a server id"), "{}", refused.stdout);
    assert!(!logs.exists());
}

/// Checks that `agentk mcp-proxy` parses `args` (a wrapped entry's) and accepts its server id.
/// It must not start a server here: an `--env` naming the proxy's own key, refused right
/// after the server id is checked, stops it.
fn check_proxy_accepts(name: &str, args: &Value) {
    let mut args: Vec<&str> = args.as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    let end = args.iter().position(|a| *a == "--").unwrap();
    args.insert(end, "--env=AGENTK_SIGNING_KEY_HEX");
    let run = agentk(&TestHost::new(&[]), &args);
    assert_eq!(run.code, 2, "{name}: {}", run.stderr);
    assert!(run.stderr.contains("configures AgentK itself"), "{name}: {}", run.stderr);
    assert!(!run.stderr.contains("server id"), "{name}: {}", run.stderr);
}

/// Checks that `agentk mcp-lines` takes `flag` (`--server-id=ID`) and mediates under it.
fn check_lines_accepts(name: &str, flag: &str) {
    let logs = scratch("mcp-wrap-dash-names-lines").join("runs");
    let run = agentk(&TestHost::new(&[]), &["mcp-lines", flag, "--log-dir", logs.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{name}: {}", run.stderr);
    assert!(!files(&logs).is_empty(), "{name}: no log");
}
