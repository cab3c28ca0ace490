//! `agentk mcp-gateway`: the Streamable HTTP shell over [`agentk_mcp::gateway`]. It checks the
//! arguments (refusing a listener beyond loopback without tokens), reads the tokens, builds
//! what every session shares (the policy, the signer, one grant ledger, the pins), opens each
//! session's own flight log when the gateway asks, and reports on standard error.

use std::ffi::OsString;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentk_capability::{KeyFileReader, SigningIdentity};
use agentk_flightlog::file::{FileLog, SyncPolicy};
use agentk_flightlog::host::{OsEntropy, OsKeyFiles};
use agentk_flightlog::kernel::Kernel;
use agentk_flightlog::ledger::SharedLedger;
use agentk_labels::SafeText;
use agentk_mcp::gateway::{self, Door, SessionEnd, SessionLabel, Sessions, Upstream};
use agentk_mcp::session::{Config, Session, Step};
use agentk_mcp::stdio::{self, Options, Server};
use agentk_mcp::upstream::UpstreamUrl;
use agentk_policy::Policy;
use zeroize::Zeroizing;

use crate::{CliError, Host, SyncWhen, exit, keys, mcplines, mcppins};

/// The variable a single bearer token may come from instead of `--token-file`.
pub(crate) const TOKEN_VAR: &str = "AGENTK_GATEWAY_TOKEN";

/// The shortest token accepted: a guessable token is no door.
const MIN_TOKEN_CHARS: usize = 16;

/// What `agentk mcp-gateway` was asked to do.
pub(crate) struct Run<'a> {
    pub(crate) listen: &'a str,
    pub(crate) token_file: Option<&'a Path>,
    pub(crate) allowed_origins: &'a [String],
    pub(crate) server_id: Option<&'a str>,
    pub(crate) upstream: Option<&'a str>,
    pub(crate) log_dir: &'a Path,
    pub(crate) pins: &'a Path,
    pub(crate) approvals: &'a Path,
    pub(crate) env: &'a [String],
    pub(crate) timeout: Duration,
    pub(crate) sync: SyncWhen,
    pub(crate) ledger: Option<&'a Path>,
    pub(crate) max_sessions: usize,
    pub(crate) idle_timeout: Duration,
    pub(crate) command: &'a [OsString],
}

/// What every session shares, and how each opens its log.
struct Opener {
    policy_text: Arc<str>,
    policy: Arc<Policy>,
    signer: Arc<SigningIdentity>,
    ledger: SharedLedger,
    log_dir: PathBuf,
    server_id: String,
    sync: SyncWhen,
    pins_path: PathBuf,
    pins: Mutex<agentk_mcp::pins::PinFile>,
    approvals: PathBuf,
}

impl Sessions for Opener {
    type Sink = FileLog;

    fn open(&self, label: &SessionLabel) -> Result<Session<FileLog>, String> {
        let seed = agentk_flightlog::host::random_bytes().map_err(|_| "no randomness".to_owned())?;
        let (kernel, _path) = Kernel::builder()
            .policy(Arc::clone(&self.policy_text), Arc::clone(&self.policy))
            .signer(Arc::clone(&self.signer))
            .entropy(OsEntropy::from_seed(&seed))
            .sync(if self.sync == SyncWhen::Always { SyncPolicy::Always } else { SyncPolicy::Never })
            .log_dir(&self.log_dir)
            .ledger(self.ledger.clone())
            .origin(&format!("agentk mcp-gateway mcp://{} session {}", self.server_id, label.tag))
            .open_run()
            .map_err(|e| e.to_string())?;
        let mut config = Config::new(&self.server_id);
        config.pins = self.pins.lock().map_err(|_| "the pins are unavailable".to_owned())?.accepted(&self.server_id);
        let mut session = Session::new(kernel, config);
        session.set_approvals(Box::new(agentk_mcp::approval::Dir::open(
            &self.approvals,
            agentk_capability::TrustedSigners::from_keys([self.signer.public_key()]),
        )));
        Ok(session)
    }

    fn observe(&self, label: &SessionLabel, step: &Step) {
        if step.pins.is_empty() {
            return;
        }
        let Ok(mut pins) = self.pins.lock() else { return };
        if pins.record(&self.server_id, &step.pins)
            && let Err(e) = mcppins::save(&self.pins_path, &pins)
        {
            log_line(&format!("session {}: new pins were not saved: {e}", label.tag));
        }
    }

    fn ended(&self, label: &SessionLabel, end: SessionEnd) {
        if let Err(e) = &end.closed {
            log_line(&format!("session {}: error: the log could not be closed: {e}", label.tag));
        }
    }
}

/// One line for the operator, on standard error (standard output stays quiet).
fn log_line(line: &str) {
    let _ = writeln!(std::io::stderr(), "agentk: mcp-gateway: {line}");
}

/// The bearer tokens: from `file` (owner-only, in a directory only the owner can write, one
/// token per line), else from [`TOKEN_VAR`]; none when neither is given.
fn read_tokens(host: &dyn Host, file: Option<&Path>) -> Result<Vec<Zeroizing<String>>, CliError> {
    let text: Zeroizing<String> = match file {
        Some(path) => {
            let file = OsKeyFiles
                .read(&path.to_string_lossy())
                .map_err(|problem| bad("--token-file", format!("the token file cannot be read ({problem:?})")))?;
            agentk_capability::check_permissions(&file).map_err(|e| bad("--token-file", e.to_string()))?;
            Zeroizing::new(
                String::from_utf8(file.contents.to_vec())
                    .map_err(|_| bad("--token-file", "the token file is not UTF-8 text".to_owned()))?,
            )
        }
        None => match host.var(TOKEN_VAR) {
            Some(value) => Zeroizing::new(value.to_string_lossy().into_owned()),
            None => return Ok(Vec::new()),
        },
    };
    let mut tokens = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let token = line.trim();
        if token.is_empty() || token.starts_with('#') {
            continue;
        }
        // SECURITY: the token is never shown, only where it is and what is wrong with it.
        if token.chars().count() < MIN_TOKEN_CHARS || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad(
                "--token-file",
                format!("token {} must be at least {MIN_TOKEN_CHARS} printable characters without spaces", number + 1),
            ));
        }
        tokens.push(Zeroizing::new(token.to_owned()));
    }
    if tokens.is_empty() {
        return Err(bad("--token-file", "no token found".to_owned()));
    }
    Ok(tokens)
}

pub(crate) fn run(
    host: &dyn Host,
    policy_text: Arc<str>,
    policy: Policy,
    run: &Run<'_>,
    err: &mut dyn Write,
) -> Result<u8, CliError> {
    // SECURITY: before the key is read and any server started (see mcp-proxy).
    if let Err(e) = stdio::guard_own_memory() {
        writeln!(err, "agentk: mcp-gateway: warning: cannot make this process non-dumpable: {}", e.kind())?;
    }
    let listen: SocketAddr = run
        .listen
        .parse()
        .map_err(|_| bad("--listen", "give an address and a port, e.g. 127.0.0.1:8808".to_owned()))?;
    let tokens = read_tokens(host, run.token_file)?;
    // M6: beyond loopback, only with tokens.
    if !listen.ip().is_loopback() && tokens.is_empty() {
        return Err(bad(
            "--listen",
            format!("{listen} is not a loopback address: give --token-file (or {TOKEN_VAR}) to listen on it"),
        ));
    }
    for origin in run.allowed_origins {
        let valid = origin.split_once("://").is_some_and(|(scheme, authority)| {
            matches!(scheme, "http" | "https") && !authority.is_empty() && !authority.contains('/')
        });
        if !valid {
            return Err(bad(
                "--allowed-origin",
                format!("{} is not scheme://host[:port]", SafeText::with_limit(origin, 64)),
            ));
        }
    }
    let (upstream, shown, default_id) = match (run.upstream, run.command.split_first()) {
        (Some(url), None) => {
            let parsed = UpstreamUrl::parse(url).map_err(|e| bad("--upstream", e.to_string()))?;
            let host_name = parsed.uri().host().unwrap_or("upstream").replace(['.', ':'], "-");
            (Upstream::Http(parsed), SafeText::with_limit(url, 128).to_string(), host_name)
        }
        (None, Some((program, args))) => {
            if let Some(name) = run.env.iter().find(|name| !stdio::is_env_name(name) || stdio::is_proxy_own(name)) {
                return Err(bad("--env", format!("{} cannot be passed to a server", SafeText::with_limit(name, 64))));
            }
            let (env, _) = stdio::server_env(&|name| host.var(name), run.env);
            let server = Server { program: program.clone(), args: args.to_vec(), env };
            let id = stdio::default_server_id(program, args);
            (Upstream::Command(server), SafeText::with_limit(&program.to_string_lossy(), 128).to_string(), id)
        }
        _ => return Err(bad("--upstream", "give either --upstream URL or a server command after `--`".to_owned())),
    };
    let server_id = run.server_id.map_or(default_id, str::to_owned);
    mcplines::check_server_id(&server_id)?;
    let pins = mcppins::load(run.pins)?;
    let signer = Arc::new(keys::active_signer(host)?);
    let policy_name = policy.name().to_owned();
    // The journal syncs at least as often as the logs (the kernel refuses a weaker one).
    let journal_sync = if run.sync == SyncWhen::Always { SyncPolicy::Always } else { SyncPolicy::Never };
    let ledger = match run.ledger {
        None => Ok(SharedLedger::in_memory()),
        Some(path) if path.exists() => SharedLedger::open(path, &policy_text, journal_sync),
        Some(path) => SharedLedger::create(path, &policy_text, journal_sync),
    }
    .map_err(|e| bad("--ledger", e.to_string()))?;
    let opener = Arc::new(Opener {
        policy_text,
        policy: Arc::new(policy),
        signer,
        ledger,
        log_dir: run.log_dir.to_path_buf(),
        server_id: server_id.clone(),
        sync: run.sync,
        pins_path: run.pins.to_path_buf(),
        pins: Mutex::new(pins),
        approvals: run.approvals.to_path_buf(),
    });
    let sync_within = match run.sync {
        SyncWhen::Always => None,
        SyncWhen::Within(ms) => Some(Duration::from_millis(ms)),
    };
    let options = gateway::Options {
        max_sessions: run.max_sessions,
        idle_timeout: run.idle_timeout,
        proxy: Options { timeout: run.timeout, sync_within, ..Options::default() },
        ..gateway::Options::default()
    };
    let door = Door {
        tokens: tokens.iter().map(|t| gateway::token_digest(t.as_bytes())).collect(),
        allowed_origins: run.allowed_origins.to_vec(),
        loopback: listen.ip().is_loopback(),
    };
    let principals = tokens.len();
    drop(tokens);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(CliError::Input)?;
    let counters = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let bound = listener.local_addr()?;
        writeln!(
            err,
            "agentk: mcp-gateway: listening on http://{bound}/mcp for mcp://{server_id} ({shown}) under policy {}; {}; logs in {}",
            SafeText::new(&policy_name),
            if principals == 0 { "loopback only, no token".to_owned() } else { format!("{principals} bearer token(s)") },
            SafeText::with_limit(&run.log_dir.display().to_string(), 256),
        )?;
        let stop = crate::mcpproxy::told_to_stop();
        let log: gateway::LogFn = Arc::new(log_line);
        Ok::<_, std::io::Error>(gateway::serve(listener, door, upstream, options, opener, log, stop).await)
    });
    let counters = counters.map_err(CliError::Input)?;
    runtime.shutdown_timeout(Duration::from_secs(1));
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    writeln!(
        err,
        "agentk: mcp-gateway: stopped: {} sessions, {} messages, {} refused at the door; every session's log closed with a signed checkpoint",
        load(&counters.sessions),
        load(&counters.messages),
        load(&counters.refused),
    )?;
    Ok(exit::OK)
}

fn bad(flag: &'static str, problem: String) -> CliError {
    CliError::BadArgument { flag, problem }
}
