//! `agentk mcp-wrap CONFIG [--write]`: routes every stdio MCP server of a client's
//! configuration through `agentk mcp-proxy`, so the client starts the proxy and the proxy
//! starts the server.
//!
//! The configuration is the `mcpServers` object of Claude Desktop and Cursor, the `servers`
//! object of VS Code's `.vscode/mcp.json`, or `mcp.servers` in VS Code's `settings.json`. A
//! stdio entry `{"command": C, "args": [A, ...], "env": {K: V, ...}}` becomes
//! `{"command": AGENTK, "args": ["mcp-proxy", "--server-id=ID", "--env=K", ..., "--", C, A,
//! ...], "env": {K: V, ...}}`, every other field kept as it was, where it was. The client still
//! sets `env` on the process it starts (now the proxy), and the proxy, which starts its server
//! with a cleared environment, passes on exactly the names given with `--env`.
//!
//! Choices, each with a test in `tests/mcp_wrap.rs` (all but the check that the file did not
//! change while it was being wrapped: that race cannot be staged from outside):
//!
//! - AGENTK is this executable's absolute path, since GUI clients often start servers with no
//!   useful `PATH`; `--agentk PATH` names another, written as given.
//! - Every flag the proxy gets is one argument, `--flag=VALUE`, so no value (a server id or an
//!   `env` name from the file, a path) can be read as a flag of its own.
//! - The server id is the entry's name when that is a valid id (`mcplines::check_server_id`),
//!   otherwise the name with every other character replaced by `-` and a leading `-` or `.`
//!   by `_`, and the rename is reported.
//!   Two servers whose ids are equal ignoring ASCII case are an error, an already wrapped
//!   server's `--server-id` included: the id names the server's pins and its `mcp://ID/TOOL`
//!   targets, so it must be stable, and a numbered suffix would move with the order of the file.
//! - An `env` name is 1 to 256 printable ASCII characters, without `=` and not starting with
//!   `-` (it becomes a command-line argument). Anything else is an error naming the server and
//!   the entry's position, never the name or the value: a mistyped `KEY=secret` would be both.
//!   Values are never read, printed or changed, so `${input:...}` references stay as they are.
//! - An entry is already wrapped when its first argument is `mcp-proxy` and its command is
//!   AGENTK: the same text, or, both being absolute paths, the same file (their canonical paths
//!   when both exist, otherwise their absolute paths). It is left alone, so wrapping the output
//!   again gives the same bytes; the flags it was wrapped with are not updated, but a warning
//!   names a `--policy` or `--profile` other than this run's (no flag, the proxy's default,
//!   included), a relative `--policy`, `--log-dir` or `--pins` (the proxy resolves it wherever
//!   the client starts it), and a `--server-id` the proxy refuses.
//! - An entry that runs `mcp-proxy` with another command named `agentk` (or `agentk.exe`): a
//!   relative path, a bare name found on the client's `PATH`, a different file, or a path of
//!   another system, is not trusted to be mediated: a workspace configuration from an untrusted
//!   repository could start its own `agentk` with an allow-all policy. It gets a warning naming
//!   that command, and is wrapped like any other server, so the other `agentk` runs as the
//!   server behind this one. That never leaves an unmediated entry in the output, whoever reads
//!   the warning; nesting two real proxies is harmless (the inner one mediates again, and gets
//!   only the `env` names passed on, never an `AGENTK_*` variable). To keep an entry wrapped by
//!   another agentk as it is, run mcp-wrap with `--agentk` naming that agentk. Warnings do not
//!   change the exit code; the summary counts them.
//! - HTTP entries (a `url`, or a `type` of `http`, `sse` or `streamable-http`) are left alone
//!   and reported: the gateway handles them. So is every entry this command cannot route
//!   safely: not an object, an unknown `type`, a `command` that is not a string, `args` that are
//!   not all strings, an `env` that is not an object, both `command` and `url`, or an `envFile`
//!   (its variables would not reach the server: the proxy passes on only the names it is given).
//! - `--log-dir`, `--pins` and `--policy` or `--profile` are passed on to every proxy this run
//!   wraps, paths made absolute (a GUI client's working directory is unpredictable). The
//!   policy is loaded now, so a typo fails here and not later in every server.
//! - The file is plain JSON (no comments, no trailing commas) of at most 1 MiB, nested at most
//!   64 deep, with no duplicate keys: a hostile file could hide a second `command` that a client
//!   reads and a reviewer does not see. The output keeps the input's key order, is indented with
//!   two spaces and ends with a newline. Numbers keep their value (floats and integers beyond
//!   64 bits may be spelled differently); strings keep their text (escapes may be written
//!   differently).
//! - `--write` writes nothing when no entry changes. Otherwise it first copies the original
//!   bytes to `CONFIG.agentk-backup` (or the first free of `.agentk-backup.1` to `.99`, never
//!   over an existing file; owner-only, since `env` values are often secrets), checks that the
//!   file did not change meanwhile, then replaces it whole: a new file with the original
//!   permission bits, synced, renamed over it. A link is followed: its target is replaced and
//!   the link kept.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use agentk_labels::SafeText;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Serialize, Serializer};

use crate::{CliError, PolicyArgs, commands, exit, input, mcplines, mcppins};

/// The deepest nesting of arrays and objects accepted (MCP configurations use four or five).
const MAX_DEPTH: usize = 64;

/// The longest `env` name accepted, in bytes.
const MAX_ENV_NAME: usize = 256;

/// The most numbered backups kept beside one file.
const MAX_BACKUPS: u32 = 99;

/// Appended to the file's name for its backups.
const BACKUP_SUFFIX: &str = ".agentk-backup";

/// Appended to the file's name for the new file, before it is renamed over the old one.
const TEMPORARY_SUFFIX: &str = ".agentk-new";

/// Where clients keep their servers, as a path of keys and as it is shown.
const LOCATIONS: [(&[&str], &str); 3] =
    [(&["mcpServers"], "mcpServers"), (&["servers"], "servers"), (&["mcp", "servers"], "mcp.servers")];

/// The command line of `agentk mcp-wrap`.
#[derive(Debug, clap::Args)]
pub(crate) struct WrapArgs {
    /// The client's configuration (JSON): Claude Desktop's or Cursor's `mcpServers`, VS Code's
    /// `.vscode/mcp.json` or `settings.json`.
    #[arg(value_name = "CONFIG")]
    config: OsString,
    /// Replace CONFIG, after copying it to CONFIG.agentk-backup, instead of printing the result.
    #[arg(long)]
    write: bool,
    /// The agentk executable the client should start (default: this one's absolute path).
    #[arg(long, value_name = "PATH")]
    agentk: Option<OsString>,
    /// Passed on to every proxy: where it writes its flight logs (made absolute).
    #[arg(long, value_name = "DIR")]
    log_dir: Option<OsString>,
    /// Passed on to every proxy: its pin file (made absolute).
    #[arg(long, value_name = "FILE")]
    pins: Option<OsString>,
    /// Passed on to every proxy, after it is loaded here (a file is made absolute).
    #[command(flatten)]
    policy: PolicyArgs,
}

/// Why a configuration cannot be wrapped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WrapError {
    #[error("{path}:{line}:{column}: not valid JSON: {problem}")]
    Syntax { path: String, line: usize, column: usize, problem: String, ours: bool },
    #[error("{path} is not an MCP configuration: its top level is not an object")]
    NotAnObject { path: SafeText },
    #[error("{path} has no MCP servers: it has no `mcpServers`, `servers` or `mcp.servers` object")]
    NoServers { path: SafeText },
    #[error("{path}: `{at}` is not an object")]
    ServersNotObject { path: SafeText, at: &'static str },
    #[error("server {server}: `env` entry {position} is not a variable name ({why}); its name and value are not shown")]
    EnvName { server: SafeText, position: usize, why: &'static str },
    #[error("servers {first} and {second} would share the server id {id} (ids are compared ignoring case)")]
    IdCollision { first: SafeText, second: SafeText, id: SafeText },
    #[error("cannot find the path of this executable: {0}")]
    NoExecutable(std::io::ErrorKind),
    #[error("{path} changed while it was being wrapped, and was not replaced")]
    Changed { path: SafeText },
    #[error("{path} already has {MAX_BACKUPS} numbered backups")]
    TooManyBackups { path: SafeText },
}

impl WrapError {
    pub(crate) fn help(&self) -> Option<String> {
        Some(
            match self {
                WrapError::Syntax { ours: true, .. } => {
                    "each key may appear once per object, and objects and arrays nest at most 64 deep"
                }
                WrapError::Syntax { ours: false, .. } => {
                    "MCP configurations are plain JSON: no comments, no trailing commas"
                }
                WrapError::NotAnObject { .. } | WrapError::NoServers { .. } | WrapError::ServersNotObject { .. } => {
                    "pass Claude Desktop's claude_desktop_config.json, Cursor's mcp.json, or VS Code's mcp.json or settings.json"
                }
                WrapError::EnvName { .. } => {
                    "an env name is 1 to 256 printable ASCII characters, without `=`, not starting with `-`"
                }
                WrapError::IdCollision { .. } => "rename one of the two servers",
                WrapError::NoExecutable(_) => "name the agentk executable with --agentk PATH",
                WrapError::Changed { .. } => "run the command again",
                WrapError::TooManyBackups { .. } => "remove the backups you no longer need",
            }
            .to_owned(),
        )
    }
}

/// A JSON value that keeps its objects' keys in the order they were read (the workspace's
/// `serde_json` sorts them, and its `preserve_order` feature would change other crates' output).
#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(pairs) => pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut Json> {
        match self {
            Json::Object(pairs) => pairs.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(text) => Some(text),
            _ => None,
        }
    }
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => serializer.serialize_unit(),
            Json::Bool(b) => serializer.serialize_bool(*b),
            Json::Number(n) => n.serialize(serializer),
            Json::String(text) => serializer.serialize_str(text),
            Json::Array(items) => serializer.collect_seq(items),
            Json::Object(pairs) => serializer.collect_map(pairs.iter().map(|(k, v)| (k, v))),
        }
    }
}

/// Reads one value nested `.0` containers deep.
#[derive(Clone, Copy)]
struct Level(usize);

impl Level {
    /// The level of a container's members, or an error past [`MAX_DEPTH`].
    fn inner<E: de::Error>(self) -> Result<Level, E> {
        if self.0 >= MAX_DEPTH {
            return Err(E::custom(format_args!("nested more than {MAX_DEPTH} levels deep")));
        }
        Ok(Level(self.0 + 1))
    }
}

impl<'de> DeserializeSeed<'de> for Level {
    type Value = Json;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Level {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Json, E> {
        Ok(Json::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Json, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Json, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Json, E> {
        serde_json::Number::from_f64(n).map(Json::Number).ok_or_else(|| E::custom("number out of range"))
    }

    fn visit_str<E>(self, text: &str) -> Result<Json, E> {
        Ok(Json::String(text.to_owned()))
    }

    fn visit_string<E>(self, text: String) -> Result<Json, E> {
        Ok(Json::String(text))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let inner = self.inner()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(inner)? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let inner = self.inner()?;
        let mut pairs = Vec::new();
        let mut seen = BTreeSet::new();
        while let Some(key) = map.next_key::<String>()? {
            // SECURITY: clients keep the last of two equal keys; a reviewer reads the first.
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format_args!("duplicate key {}", SafeText::new(&key))));
            }
            let value = map.next_value_seed(inner)?;
            pairs.push((key, value));
        }
        Ok(Json::Object(pairs))
    }
}

/// Parses `text`, the content of `path`, keeping key order.
fn parse(text: &str, path: &Path) -> Result<Json, WrapError> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let parsed = Level(0).deserialize(&mut deserializer).and_then(|value| deserializer.end().map(|()| value));
    parsed.map_err(|e| {
        let full = e.to_string();
        let position = format!(" at line {} column {}", e.line(), e.column());
        WrapError::Syntax {
            path: shown(path).as_str().to_owned(),
            line: e.line(),
            column: e.column(),
            problem: full.strip_suffix(&position).unwrap_or(&full).to_owned(),
            // serde_json files the visitor's own errors (duplicates, depth) as data errors.
            ours: e.classify() == serde_json::error::Category::Data,
        }
    })
}

/// What the client should start instead of each server: the executable and the flags every
/// proxy gets.
struct Proxy {
    agentk: String,
    /// AGENTK resolved ([`resolve`]) when it is an absolute path.
    resolved: Option<PathBuf>,
    /// The policy every proxy gets.
    choice: Choice,
    flags: Vec<String>,
}

/// The policy a proxy runs under, as its flags choose it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Choice {
    /// Neither `--policy` nor `--profile`.
    Default,
    Policy(String),
    Profile(String),
}

impl Choice {
    /// Whether `self`, read from a wrapped entry, is `run`, this run's choice.
    fn is(&self, run: &Choice) -> bool {
        match (self, run) {
            (Choice::Policy(theirs), Choice::Policy(ours)) => {
                theirs == ours || (Path::new(theirs).is_absolute() && resolve(theirs) == resolve(ours))
            }
            _ => self == run,
        }
    }
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Choice::Default => f.write_str("the proxy's default policy"),
            Choice::Policy(path) => write!(f, "--policy {}", SafeText::with_limit(path, 256)),
            Choice::Profile(name) => write!(f, "--profile {}", SafeText::with_limit(name, 64)),
        }
    }
}

impl Proxy {
    fn new(args: &WrapArgs) -> Result<Proxy, CliError> {
        let agentk = match &args.agentk {
            Some(path) => utf8("--agentk", path.clone())?,
            None => {
                let exe = std::env::current_exe().map_err(|e| WrapError::NoExecutable(e.kind()))?;
                utf8("--agentk", exe.into_os_string())?
            }
        };
        if args.policy.policy.is_some() || args.policy.profile.is_some() {
            commands::load(&args.policy)?;
        }
        let choice = match (&args.policy.policy, &args.policy.profile) {
            (Some(path), _) => Choice::Policy(absolute("--policy", path)?),
            (None, Some(name)) => Choice::Profile(name.clone()),
            (None, None) => Choice::Default,
        };
        // SECURITY: every value is joined to its flag, so none can be read as a flag.
        let mut flags = Vec::new();
        match &choice {
            Choice::Default => {}
            Choice::Policy(path) => flags.push(format!("--policy={path}")),
            Choice::Profile(name) => flags.push(format!("--profile={name}")),
        }
        if let Some(dir) = &args.log_dir {
            flags.push(format!("--log-dir={}", absolute("--log-dir", dir)?));
        }
        if let Some(path) = &args.pins {
            flags.push(format!("--pins={}", absolute("--pins", path)?));
        }
        let resolved = Path::new(&agentk).is_absolute().then(|| resolve(&agentk));
        Ok(Proxy { agentk, resolved, choice, flags })
    }

    /// Whether `command` is AGENTK: the same text, or, both being absolute paths, the same
    /// file. A relative command is resolved by the client, wherever it starts it: only its
    /// text can be compared.
    fn started_by_this(&self, command: &str) -> bool {
        // SECURITY: `command` comes from the file; resolving it reads links, never the file.
        command == self.agentk
            || self.resolved.as_ref().is_some_and(|ours| Path::new(command).is_absolute() && resolve(command) == *ours)
    }

    /// The arguments that start `command args` behind a proxy.
    fn args(&self, id: &str, env: &[String], command: String, args: Vec<String>) -> Json {
        // SECURITY: the id and the env names come from the file: each is joined to its flag,
        // so a name starting with `-` is never read as a flag.
        let mut all = vec!["mcp-proxy".to_owned(), format!("--server-id={id}")];
        all.extend(self.flags.iter().cloned());
        // SECURITY: `AGENTK_*` variables (the signing key among them) configure the proxy
        // itself; they are never passed on to the server.
        for name in env.iter().filter(|name| !agentk_mcp::stdio::is_proxy_own(name)) {
            all.push(format!("--env={name}"));
        }
        all.push("--".to_owned());
        all.push(command);
        all.extend(args);
        Json::Array(all.into_iter().map(Json::String).collect())
    }
}

fn utf8(flag: &'static str, value: OsString) -> Result<String, CliError> {
    value.into_string().map_err(|_| CliError::BadArgument { flag, problem: "the path is not valid UTF-8".to_owned() })
}

fn absolute(flag: &'static str, path: &OsStr) -> Result<String, CliError> {
    let path = std::path::absolute(path).map_err(|e| CliError::BadArgument { flag, problem: e.to_string() })?;
    utf8(flag, path.into_os_string())
}

/// The file an absolute `path` names: its canonical path when it exists, otherwise the
/// path made absolute (which normalizes its text, without reading the disk).
fn resolve(path: &str) -> PathBuf {
    let path = Path::new(path);
    std::fs::canonicalize(path).or_else(|_| std::path::absolute(path)).unwrap_or_else(|_| path.to_owned())
}

/// What an entry is, as read.
enum Kind {
    Stdio {
        command: String,
        args: Vec<String>,
        env: Vec<String>,
    },
    /// Wrapped by this agentk, with the server id its proxy runs as and what to warn about.
    Wrapped {
        server_id: String,
        warnings: Vec<String>,
    },
    Http,
    Skipped(&'static str),
}

/// What became of one entry.
enum Outcome {
    Wrapped { id: String, renamed: bool, env: usize },
    AlreadyWrapped,
    Http,
    Skipped(&'static str),
}

/// One entry's line of the summary, and its warnings (each to follow the entry's name).
struct Line {
    name: SafeText,
    outcome: Outcome,
    warnings: Vec<String>,
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = &self.name;
        match &self.outcome {
            Outcome::Wrapped { id, renamed, env } => {
                write!(f, "{name} wrapped, server id `{id}`")?;
                if *env > 0 {
                    write!(f, ", {env} env name(s) passed on")?;
                }
                if *renamed {
                    write!(f, " (the name is not a valid server id)")?;
                }
                Ok(())
            }
            Outcome::AlreadyWrapped => write!(f, "{name} already wrapped, left alone"),
            Outcome::Http => write!(f, "{name} is an HTTP server, not wrapped (the gateway will handle it)"),
            Outcome::Skipped(why) => write!(f, "{name} skipped, left alone: {why}"),
        }
    }
}

/// Reads one entry.
fn classify(name: &str, entry: &Json, proxy: &Proxy) -> Result<Kind, WrapError> {
    if !matches!(entry, Json::Object(_)) {
        return Ok(Kind::Skipped("it is not an object"));
    }
    let kind = match entry.get("type") {
        None => None,
        Some(Json::String(kind)) => Some(kind.as_str()),
        Some(_) => return Ok(Kind::Skipped("its `type` is not a string")),
    };
    match kind {
        Some("http" | "sse" | "streamable-http" | "streamableHttp") => return Ok(Kind::Http),
        None | Some("stdio") => {}
        Some(_) => return Ok(Kind::Skipped("its `type` is not stdio, http or sse")),
    }
    match (entry.get("command"), entry.get("url")) {
        (Some(_), Some(_)) => Ok(Kind::Skipped("it has both `command` and `url`")),
        (None, Some(_)) if kind.is_none() => Ok(Kind::Http),
        (None, Some(_)) => Ok(Kind::Skipped("its `type` is stdio but it has a `url` and no `command`")),
        (None, None) => Ok(Kind::Skipped("it has neither `command` nor `url`")),
        (Some(command), None) => stdio(name, entry, command, proxy),
    }
}

/// Reads a stdio entry.
fn stdio(name: &str, entry: &Json, command: &Json, proxy: &Proxy) -> Result<Kind, WrapError> {
    let Some(command) = command.as_str().filter(|c| !c.is_empty()) else {
        return Ok(Kind::Skipped("its `command` is not a non-empty string"));
    };
    let args = match entry.get("args") {
        None => Some(Vec::new()),
        Some(Json::Array(items)) => items.iter().map(Json::as_str).collect::<Option<Vec<&str>>>(),
        Some(_) => None,
    };
    let Some(args) = args else {
        return Ok(Kind::Skipped("its `args` is not a list of strings"));
    };
    if args.first() == Some(&"mcp-proxy") && proxy.started_by_this(command) {
        return Ok(wrapped(&args, proxy));
    }
    if entry.get("envFile").is_some() {
        return Ok(Kind::Skipped("its `envFile` variables would not reach the server; move them to `env`"));
    }
    let env = match entry.get("env") {
        None => Vec::new(),
        Some(Json::Object(pairs)) => pairs.iter().map(|(k, _)| k.clone()).collect(),
        Some(_) => return Ok(Kind::Skipped("its `env` is not an object")),
    };
    for (index, key) in env.iter().enumerate() {
        check_env_name(key).map_err(|why| WrapError::EnvName {
            server: SafeText::with_limit(name, 128),
            position: index + 1,
            why,
        })?;
    }
    let args = args.into_iter().map(str::to_owned).collect();
    Ok(Kind::Stdio { command: command.to_owned(), args, env })
}

/// Reads an entry this agentk already wraps (`args` start with `mcp-proxy`): the server id its
/// proxy runs as, and what in its flags to warn about.
fn wrapped(args: &[&str], proxy: &Proxy) -> Kind {
    let flags = proxy_flags(args);
    let value = |wanted: &str| flags.iter().find(|(flag, _)| *flag == wanted).map(|(_, value)| *value);
    let server_id = match value("--server-id") {
        Some(id) => id.to_owned(),
        None => {
            // The proxy derives its id from the server's command, after `--`.
            let mut command = args.iter().skip_while(|a| **a != "--").skip(1).map(OsString::from);
            let program = command.next().unwrap_or_default();
            agentk_mcp::stdio::default_server_id(&program, &command.collect::<Vec<_>>())
        }
    };
    let mut warnings = Vec::new();
    if mcplines::check_server_id(&server_id).is_err() {
        warnings.push(format!(
            "is wrapped with the server id {}, which the proxy refuses: it will not start",
            SafeText::with_limit(&server_id, 128)
        ));
    }
    let choice = match (value("--policy"), value("--profile")) {
        (Some(path), _) => Choice::Policy(path.to_owned()),
        (None, Some(name)) => Choice::Profile(name.to_owned()),
        (None, None) => Choice::Default,
    };
    if !choice.is(&proxy.choice) {
        warnings.push(format!("is wrapped under {choice}, not under {} as this run asks; left alone", proxy.choice));
    }
    for (flag, value) in &flags {
        if matches!(*flag, "--policy" | "--log-dir" | "--pins") && !Path::new(value).is_absolute() {
            warnings.push(format!(
                "is wrapped with a relative {flag} {}: the proxy resolves it in whatever directory the client starts it in",
                SafeText::with_limit(value, 256)
            ));
        }
    }
    Kind::Wrapped { server_id, warnings }
}

/// The flags of a wrapped entry's arguments (after `mcp-proxy`, before `--`) that take a
/// value, as `(flag, value)` pairs, read as the proxy's parser reads them: `--flag=VALUE`, or
/// `--flag` and the next argument.
fn proxy_flags<'a>(args: &[&'a str]) -> Vec<(&'a str, &'a str)> {
    const VALUED: [&str; 8] =
        ["--server-id", "--policy", "--profile", "--log-dir", "--pins", "--env", "--timeout", "--sync"];
    let mut flags = Vec::new();
    let mut rest = args.iter().copied().skip(1).take_while(|a| *a != "--");
    while let Some(arg) = rest.next() {
        if let Some((flag, value)) = arg.split_once('=').filter(|(flag, _)| VALUED.contains(flag)) {
            flags.push((flag, value));
        } else if VALUED.contains(&arg)
            && let Some(value) = rest.next()
        {
            flags.push((arg, value));
        }
    }
    flags
}

/// The other agentk that starts `entry`, if any: its arguments start with `mcp-proxy` and its
/// command is not AGENTK but its file name is `agentk` (`agentk.exe`), with either kind of path
/// separator, as a configuration may come from another system.
fn other_agentk<'a>(entry: &'a Json, proxy: &Proxy) -> Option<&'a str> {
    let command = entry.get("command")?.as_str()?;
    let Some(Json::Array(args)) = entry.get("args") else { return None };
    let file = command.rsplit(['/', '\\']).next().unwrap_or(command);
    let named = file == "agentk" || file.eq_ignore_ascii_case("agentk.exe");
    (args.first()?.as_str()? == "mcp-proxy" && named && !proxy.started_by_this(command)).then_some(command)
}

/// Checks an `env` name; the error says why, without the name.
fn check_env_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        Err("it is empty")
    } else if name.len() > MAX_ENV_NAME {
        Err("it is longer than 256 bytes")
    } else if name.contains('=') {
        Err("it contains `=`")
    } else if name.starts_with('-') {
        Err("it starts with `-`")
    } else if !name.bytes().all(|b| b.is_ascii_graphic()) {
        Err("it holds a character other than printable ASCII")
    } else {
        Ok(())
    }
}

/// The server id for an entry's name, and whether it differs from the name.
fn server_id(name: &str) -> (String, bool) {
    if mcplines::check_server_id(name).is_ok() {
        return (name.to_owned(), false);
    }
    let mut id: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '-' })
        .take(128)
        .collect();
    // INVARIANT: every character left is ASCII, so the first is one byte.
    if id.starts_with(['.', '-']) {
        id.replace_range(..1, "_");
    }
    if id.is_empty() {
        id.push_str("server");
    }
    (id, true)
}

/// Server ids taken so far, by their lowercase form, with the name of the server that took it.
#[derive(Default)]
struct Ids(BTreeMap<String, String>);

impl Ids {
    fn take(&mut self, id: &str, name: &str) -> Result<(), WrapError> {
        if let Some(first) = self.0.insert(id.to_ascii_lowercase(), name.to_owned()) {
            return Err(WrapError::IdCollision {
                first: SafeText::with_limit(&first, 128),
                second: SafeText::with_limit(name, 128),
                id: SafeText::with_limit(id, 128),
            });
        }
        Ok(())
    }
}

/// Wraps every stdio server of `config` in place; answers one line per entry.
fn wrap_all(config: &mut Json, proxy: &Proxy, path: &Path) -> Result<Vec<Line>, WrapError> {
    if !matches!(config, Json::Object(_)) {
        return Err(WrapError::NotAnObject { path: shown(path) });
    }
    let mut found = Vec::new();
    for (keys, at) in LOCATIONS {
        match keys.iter().try_fold(&*config, |value, key| value.get(key)) {
            None => {}
            Some(Json::Object(_)) => found.push(keys),
            Some(_) => return Err(WrapError::ServersNotObject { path: shown(path), at }),
        }
    }
    if found.is_empty() {
        return Err(WrapError::NoServers { path: shown(path) });
    }
    let (mut lines, mut ids) = (Vec::new(), Ids::default());
    for keys in found {
        let mut servers = Some(&mut *config);
        for key in keys {
            servers = servers.and_then(|value| value.get_mut(key));
        }
        let Some(Json::Object(servers)) = servers else { continue };
        for (name, entry) in servers.iter_mut() {
            let mut warnings = Vec::new();
            if let Some(other) = other_agentk(entry, proxy) {
                // SECURITY: an `agentk` we did not verify (another file, or one the client finds)
                // may run any policy, or none: it is wrapped like any server, never trusted.
                warnings.push(format!(
                    "is started by another agentk at {}, not verified",
                    SafeText::with_limit(other, 256)
                ));
            }
            let outcome = match classify(name, entry, proxy)? {
                Kind::Stdio { command, args, env } => {
                    let (id, renamed) = server_id(name);
                    ids.take(&id, name)?;
                    if let Json::Object(fields) = entry {
                        set(fields, "command", Json::String(proxy.agentk.clone()));
                        set(fields, "args", proxy.args(&id, &env, command, args));
                    }
                    let env = env.iter().filter(|name| !agentk_mcp::stdio::is_proxy_own(name)).count();
                    Outcome::Wrapped { id, renamed, env }
                }
                Kind::Wrapped { server_id, warnings: more } => {
                    ids.take(&server_id, name)?;
                    warnings.extend(more);
                    Outcome::AlreadyWrapped
                }
                Kind::Http => Outcome::Http,
                Kind::Skipped(why) => Outcome::Skipped(why),
            };
            lines.push(Line { name: SafeText::with_limit(name, 128), outcome, warnings });
        }
    }
    Ok(lines)
}

/// Sets `key` where it is, or, if absent, right after `command`.
fn set(fields: &mut Vec<(String, Json)>, key: &str, value: Json) {
    if let Some((_, old)) = fields.iter_mut().find(|(k, _)| k == key) {
        *old = value;
        return;
    }
    let at = fields.iter().position(|(k, _)| k == "command").map_or(fields.len(), |i| i + 1);
    fields.insert(at, (key.to_owned(), value));
}

/// Runs `agentk mcp-wrap`.
pub(crate) fn run(args: &WrapArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<u8, CliError> {
    let proxy = Proxy::new(args)?;
    let path = Path::new(&args.config);
    let original = input::read_text(&args.config)?;
    let mut config = parse(&original, path)?;
    let lines = wrap_all(&mut config, &proxy, path)?;
    let mut printed = serde_json::to_string_pretty(&config)?;
    printed.push('\n');

    let count = |f: fn(&Outcome) -> bool| lines.iter().filter(|l| f(&l.outcome)).count();
    let wrapped = count(|o| matches!(o, Outcome::Wrapped { .. }));
    for line in &lines {
        writeln!(err, "agentk: mcp-wrap: {line}")?;
        for warning in &line.warnings {
            writeln!(err, "agentk: mcp-wrap: warning: {} {warning}", line.name)?;
        }
    }
    let warnings: usize = lines.iter().map(|l| l.warnings.len()).sum();
    writeln!(
        err,
        "agentk: mcp-wrap: {wrapped} wrapped, {} already wrapped, {} HTTP, {} skipped{}; the proxy is {}",
        count(|o| matches!(o, Outcome::AlreadyWrapped)),
        count(|o| matches!(o, Outcome::Http)),
        count(|o| matches!(o, Outcome::Skipped(_))),
        if warnings > 0 { format!(", {warnings} warning(s)") } else { String::new() },
        SafeText::with_limit(&proxy.agentk, 256),
    )?;
    for (given, flag, what) in [(&args.log_dir, "--log-dir DIR", "flight logs"), (&args.pins, "--pins FILE", "pins")] {
        if wrapped > 0 && given.is_none() {
            writeln!(
                err,
                "agentk: mcp-wrap: note: without {flag}, each proxy keeps its {what} under the directory the client starts it in"
            )?;
        }
    }
    if !args.write {
        out.write_all(printed.as_bytes())?;
    } else if wrapped == 0 {
        writeln!(out, "nothing to change in {}; nothing written", shown(path))?;
    } else {
        let (target, backup) = replace(path, &original, &printed, err)?;
        writeln!(out, "wrote {}; the original is in {}", shown(&target), shown(&backup))?;
    }
    Ok(exit::OK)
}

/// Replaces the file at `path` (a link's target) with `printed`, after a backup of
/// `original`; answers the file replaced and the backup.
fn replace(path: &Path, original: &str, printed: &str, err: &mut dyn Write) -> Result<(PathBuf, PathBuf), CliError> {
    let failed = |at: &Path, e: std::io::Error| CliError::Write { path: shown(at), kind: e.kind() };
    let target = std::fs::canonicalize(path).map_err(|e| failed(path, e))?;
    if std::fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_symlink()) {
        writeln!(err, "agentk: mcp-wrap: {} is a link; replacing its target {}", shown(path), shown(&target))?;
    }
    let meta = std::fs::metadata(&target).map_err(|e| failed(&target, e))?;
    #[cfg(unix)]
    let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777;
    #[cfg(not(unix))]
    let mode = if meta.permissions().readonly() { 0o444 } else { 0o644 };
    let backup = backup(&target, original.as_bytes())?;
    // SECURITY: the client may rewrite its configuration at any time; what was read is what
    // gets replaced, or nothing is.
    let now = agentk_flightlog::host::read_text(&target, input::MAX_INPUT_BYTES).ok();
    if now.as_deref() != Some(original) {
        let _ = std::fs::remove_file(&backup);
        return Err(WrapError::Changed { path: shown(&target) }.into());
    }
    mcppins::replace(&target, printed.as_bytes(), mode, TEMPORARY_SUFFIX)?;
    Ok((target, backup))
}

/// Copies `bytes` to the first free backup name beside `target`, owner-only.
fn backup(target: &Path, bytes: &[u8]) -> Result<PathBuf, CliError> {
    for number in 0..=MAX_BACKUPS {
        let mut name = target.as_os_str().to_owned();
        name.push(BACKUP_SUFFIX);
        if number > 0 {
            name.push(format!(".{number}"));
        }
        let candidate = PathBuf::from(name);
        match agentk_flightlog::host::write_new(&candidate, bytes, 0o600) {
            Ok(()) => return Ok(candidate),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(CliError::Write { path: shown(&candidate), kind: e.kind() }),
        }
    }
    Err(WrapError::TooManyBackups { path: shown(target) }.into())
}

fn shown(path: &Path) -> SafeText {
    SafeText::with_limit(&path.display().to_string(), 256)
}

#[cfg(test)]
mod tests {
    use super::{Choice, Json, Proxy, check_env_name, other_agentk, proxy_flags, server_id};

    fn proxy(agentk: &str, choice: Choice) -> Proxy {
        let resolved = std::path::Path::new(agentk).is_absolute().then(|| super::resolve(agentk));
        Proxy { agentk: agentk.to_owned(), resolved, choice, flags: Vec::new() }
    }

    #[test]
    fn server_ids_are_names_or_sanitized_names() {
        assert_eq!(server_id("github"), ("github".to_owned(), false));
        assert_eq!(server_id("my server"), ("my-server".to_owned(), true));
        assert_eq!(server_id(".hidden"), ("_hidden".to_owned(), true));
        assert_eq!(server_id("--help"), ("_-help".to_owned(), true));
        assert_eq!(server_id("-"), ("_".to_owned(), true));
        assert_eq!(server_id(""), ("server".to_owned(), true));
        assert_eq!(server_id("é/x"), ("_-x".to_owned(), true));
        assert_eq!(server_id(&"a".repeat(200)).0.len(), 128);
    }

    #[test]
    fn env_names_are_checked() {
        assert_eq!(check_env_name("API_KEY"), Ok(()));
        assert_eq!(check_env_name("ProgramFiles(x86)"), Ok(()));
        assert!(check_env_name("").is_err());
        assert!(check_env_name("KEY=value").is_err());
        assert!(check_env_name("--policy").is_err());
        assert!(check_env_name("A B").is_err());
        assert!(check_env_name("A\0B").is_err());
        assert!(check_env_name("CLÉ").is_err());
        assert!(check_env_name(&"A".repeat(257)).is_err());
    }

    #[test]
    fn only_this_agentk_is_trusted() {
        let ours = proxy("/opt/example/bin/agentk", Choice::Default);
        assert!(ours.started_by_this("/opt/example/bin/agentk"));
        assert!(ours.started_by_this("/opt/example/bin/./agentk"));
        assert!(!ours.started_by_this("/opt/example/bin/agentk-2"));
        assert!(!ours.started_by_this("agentk"));
        assert!(!ours.started_by_this("./agentk"));
        assert!(!ours.started_by_this("/usr/local/bin/agentk"));
        // A relative AGENTK is compared as text: the client resolves both.
        let relative = proxy("bin/agentk", Choice::Default);
        assert!(relative.started_by_this("bin/agentk"));
        assert!(!relative.started_by_this("./bin/agentk"));

        let entry = |command: &str| {
            Json::Object(vec![
                ("command".to_owned(), Json::String(command.to_owned())),
                ("args".to_owned(), Json::Array(vec![Json::String("mcp-proxy".to_owned())])),
            ])
        };
        for other in ["agentk", "./scripts/agentk", "C:\\Tools\\AgentK.EXE", "/usr/local/bin/agentk"] {
            assert_eq!(other_agentk(&entry(other), &ours), Some(other));
        }
        for not_other in ["/opt/example/bin/agentk", "/opt/example/bin/agentk-2", "npx"] {
            assert_eq!(other_agentk(&entry(not_other), &ours), None);
        }
    }

    #[test]
    fn a_wrapped_entry_s_flags_are_read_as_the_proxy_reads_them() {
        assert_eq!(proxy_flags(&["mcp-proxy", "--server-id", "a", "--", "x"]), [("--server-id", "a")]);
        assert_eq!(proxy_flags(&["mcp-proxy", "--server-id=b", "--", "x"]), [("--server-id", "b")]);
        assert_eq!(proxy_flags(&["mcp-proxy", "--", "x", "--server-id", "c"]), []);
        assert_eq!(
            proxy_flags(&["mcp-proxy", "--sync", "always", "--policy=p.toml", "--env", "K", "--log-dir"]),
            [("--sync", "always"), ("--policy", "p.toml"), ("--env", "K")]
        );
        assert_eq!(proxy_flags(&["mcp-proxy", "--other=x", "--pins", "/p"]), [("--pins", "/p")]);
    }

    #[test]
    fn policies_are_compared_as_files() {
        let abs = |p: &str| Choice::Policy(p.to_owned());
        assert!(abs("/opt/example/p.toml").is(&abs("/opt/example/p.toml")));
        assert!(abs("/opt/example/./p.toml").is(&abs("/opt/example/p.toml")));
        assert!(!abs("p.toml").is(&abs("/opt/example/p.toml")));
        assert!(!Choice::Default.is(&Choice::Profile("mcp".to_owned())));
        assert!(Choice::Profile("mcp".to_owned()).is(&Choice::Profile("mcp".to_owned())));
    }
}
