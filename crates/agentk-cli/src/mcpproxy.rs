//! `agentk mcp-proxy`: the stdio shell over [`agentk_mcp::stdio`]. It checks the arguments,
//! opens the session's flight log, loads the operator's pins, runs the proxy on the process's
//! own standard input and output, and reports on standard error (standard output carries
//! protocol frames only).

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use agentk_flightlog::file::SyncPolicy;
use agentk_flightlog::host::OsEntropy;
use agentk_flightlog::kernel::{Kernel, RecordSink};
use agentk_labels::SafeText;
use agentk_mcp::session::{Config, Session, Step};
use agentk_mcp::stdio::{self, Ended, Options, Server};
use agentk_policy::Policy;

use crate::{CliError, Host, SyncWhen, exit, keys, mcplines, mcppins};

/// What `agentk mcp-proxy` was asked to do.
pub(crate) struct Run<'a> {
    pub(crate) server_id: Option<&'a str>,
    pub(crate) log_dir: &'a Path,
    pub(crate) pins: &'a Path,
    pub(crate) approvals: &'a Path,
    pub(crate) ask_approval: bool,
    pub(crate) env: &'a [String],
    pub(crate) timeout: Duration,
    pub(crate) sync: SyncWhen,
    pub(crate) command: &'a [OsString],
}

pub(crate) fn run(
    host: &dyn Host,
    policy_text: Arc<str>,
    policy: Policy,
    run: &Run<'_>,
    err: &mut dyn Write,
) -> Result<u8, CliError> {
    // SECURITY: before the key is read and the server started: a server of the same user could
    // otherwise read this process's environment (the signing key among it) in /proc.
    if let Err(e) = stdio::guard_own_memory() {
        writeln!(err, "agentk: mcp-proxy: warning: cannot make this process non-dumpable: {}", e.kind())?;
    }
    let Some((program, args)) = run.command.split_first() else {
        return Err(bad("COMMAND", "name the server's command after `--`".to_owned()));
    };
    let server_id = match run.server_id {
        Some(id) => id.to_owned(),
        None => stdio::default_server_id(program, args),
    };
    mcplines::check_server_id(&server_id)?;
    if let Some(name) = run.env.iter().find(|name| !stdio::is_env_name(name)) {
        return Err(bad("--env", format!("{} is not a variable name", SafeText::with_limit(name, 64))));
    }
    if let Some(name) = run.env.iter().find(|name| stdio::is_proxy_own(name)) {
        return Err(bad(
            "--env",
            format!("{} configures AgentK itself and is never passed to a server", SafeText::with_limit(name, 64)),
        ));
    }
    let (env, missing) = stdio::server_env(&|name| host.var(name), run.env);
    for name in &missing {
        writeln!(
            err,
            "agentk: mcp-proxy: note: --env {} is not set here; the server starts without it",
            SafeText::new(name)
        )?;
    }
    let mut pin_file = mcppins::load(run.pins)?;

    let signer = Arc::new(keys::active_signer(host)?);
    // T5: approvals count only when signed by this same operator key (never the public
    // development key, which anyone, the agent included, can sign with).
    let approvals = agentk_mcp::approval::Dir::open(
        run.approvals,
        agentk_capability::TrustedSigners::from_keys([signer.public_key()]),
    );
    let mut seed = [0u8; 32];
    host.random(&mut seed).map_err(|_| CliError::Randomness)?;
    let policy_name = policy.name().to_owned();
    let (kernel, log_path) = Kernel::builder()
        .policy(policy_text, Arc::new(policy))
        .signer(signer)
        .entropy(OsEntropy::from_seed(&seed))
        // With a window, the proxy syncs on its own timer (and at the end).
        .sync(if run.sync == SyncWhen::Always { SyncPolicy::Always } else { SyncPolicy::Never })
        .log_dir(run.log_dir)
        .origin(&format!("agentk mcp-proxy mcp://{server_id}"))
        .open_run()
        .map_err(CliError::Build)?;
    let log_shown = SafeText::with_limit(&log_path.display().to_string(), 256);
    writeln!(
        err,
        "agentk: mcp-proxy: mediating mcp://{server_id} ({}) under policy {}; log {log_shown}",
        SafeText::with_limit(&program.to_string_lossy(), 128),
        SafeText::new(&policy_name),
    )?;

    let mut config = Config::new(&server_id);
    config.pins = pin_file.accepted(&server_id);
    config.ask_approvals = run.ask_approval;
    let mut session = Session::new(kernel, config);
    session.set_approvals(Box::new(approvals));
    let server = Server { program: program.clone(), args: args.to_vec(), env };
    let sync_within = match run.sync {
        SyncWhen::Always => None,
        SyncWhen::Within(ms) => Some(Duration::from_millis(ms)),
    };
    let options = Options { timeout: run.timeout, sync_within, ..Options::default() };
    let mut pin_problem = None;
    let mut observe = |step: &Step| {
        if !step.pins.is_empty()
            && pin_file.record(&server_id, &step.pins)
            && let Err(e) = mcppins::save(run.pins, &pin_file)
        {
            pin_problem = Some(e.to_string());
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(CliError::Input)?;
    let mut stdio_streams = None;
    let outcome = runtime.block_on(async {
        // Watched before the server starts, so that no stop request is missed.
        let stop = told_to_stop();
        let streams = stdio_streams.insert(stdio::process_stdio());
        let (Some(input), Some(output)) = (streams.input.take(), streams.output.take()) else {
            return Err(stdio::ProxyError::Spawn(std::io::Error::other("standard input or output is missing")));
        };
        stdio::run_until(&mut session, &server, input, output, &options, &mut observe, stop).await
    });
    // Puts back the flags of the descriptions shared with whoever started the proxy.
    drop(stdio_streams);
    // The read of standard input may still be blocked in its thread: leave it.
    runtime.shutdown_background();
    let events = session.kernel().events();
    // Close the log with its checkpoint whatever happened, and make it durable, then report.
    let closed = session.close().and_then(|mut log| Ok(RecordSink::sync(&mut log)?));
    if let Some(problem) = pin_problem {
        writeln!(err, "agentk: mcp-proxy: warning: new pins were not saved: {problem}")?;
    }
    let outcome = outcome?;
    closed?;
    let stats = outcome.stats;
    let status = outcome.status.map_or_else(|| "unknown".to_owned(), |s| s.to_string());
    writeln!(
        err,
        "agentk: mcp-proxy: {} frames from the client, {} from the server, {} timed out; server {status}; log {log_shown} ({} events, closed with a signed checkpoint)",
        stats.client_frames,
        stats.server_frames,
        stats.timeouts,
        events + 1,
    )?;
    match outcome.ended {
        Ended::ClientClosed => Ok(exit::OK),
        // How MCP clients stop a server that does not exit when its input closes.
        Ended::Stopped => {
            writeln!(err, "agentk: mcp-proxy: stopped by a signal; the server was stopped and the log closed")?;
            Ok(exit::OK)
        }
        Ended::ServerExited => {
            writeln!(err, "agentk: error: mcp-proxy: the server ended ({status}) while the client was connected")?;
            Ok(exit::ERROR)
        }
        Ended::ServerWedged => {
            writeln!(
                err,
                "agentk: error: mcp-proxy: the server answered nothing for {} s, so the session was ended",
                run.timeout.as_secs()
            )?;
            Ok(exit::ERROR)
        }
    }
}

/// Resolves when the process gets SIGTERM, SIGINT or SIGHUP (never, when they cannot be
/// watched). The server is in a process group of its own, so these reach only the proxy,
/// which then stops the server and closes the log itself. The signals are watched from the
/// call (inside the runtime), not from the first poll.
pub(crate) fn told_to_stop() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let watched = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()), signal(SignalKind::hangup()));
    async move {
        let (Ok(mut term), Ok(mut int), Ok(mut hup)) = watched else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
            _ = hup.recv() => {}
        }
    }
}

fn bad(flag: &'static str, problem: String) -> CliError {
    CliError::BadArgument { flag, problem }
}
