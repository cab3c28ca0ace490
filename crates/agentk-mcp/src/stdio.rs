//! The stdio proxy (feature `stdio`): a [`Session`] between an MCP client on one pair of
//! streams and an MCP server started as a child process, newline-delimited JSON-RPC both ways.
//!
//! This is a thin shell over the sans-IO session: it reads, frames ([`Framer`]), hands every
//! frame that is readable from either side to [`Session::handle`] as one batch, writes what the
//! session says to write, and keeps the clock. It owns the child: its environment, its
//! timeouts, its shutdown.
//!
//! # The child
//!
//! - **Environment**: cleared, then [`BASE_ENV`] and the variables the caller names
//!   ([`server_env`]); the agent host's secrets do not reach every server.
//! - **Standard error** is the proxy's own (inherited: no copy, no buffer, never parsed, never
//!   recorded), so the server's logs reach the user and cannot grow the proxy's memory.
//! - **Process group**: the child leads a new group, and the group is what is signalled, so a
//!   server started through a launcher (`npx`, `uvx`, a shell) leaves no orphans. The group is
//!   killed while its leader is still unreaped, so its id cannot have been reused.
//!
//! # Timeouts
//!
//! Each request forwarded to the server waits at most [`Options::timeout`]: then the server is
//! sent `notifications/cancelled`, the client an error (`-32003`), and the session goes on. If
//! the server has sent nothing at all since that request was forwarded, it is wedged: every
//! waiting request is answered with an error (`-32004`) and the session ends.
//! [`Options::timeout`] also bounds every write to either side.
//!
//! # Shutdown
//!
//! When the client closes its input, answers to requests still waiting are passed on as they
//! come (or time out); once none waits, the server's input is closed and it has
//! [`Options::grace`] to exit, then its group gets `SIGTERM`, then after another grace period
//! `SIGKILL`. When the server goes away first, every waiting request is answered with an error
//! and the proxy ends with [`Ended::ServerExited`].
//!
//! # Failure
//!
//! Fail closed: when the flight log fails, nothing more is forwarded; the child is stopped and
//! the error returned.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agentk_flightlog::kernel::{KernelError, RecordSink};
use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};
use rustix::io::Errno;
use rustix::process::{Pid, Signal, WaitId, WaitIdOptions, kill_process_group, waitid};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::process::{Child, Command};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until, timeout};

use crate::frame::FrameError;
use crate::lines::{Framer, Line};
use crate::session::{Out, Session, Side, Step};

/// The variables a server is always started with, when the proxy has them: the search path,
/// the home directory, the locale, the time zone and the temporary directory.
pub const BASE_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "LC_COLLATE",
    "LC_MESSAGES",
    "LC_MONETARY",
    "LC_NUMERIC",
    "LC_TIME",
    "TZ",
    "TMPDIR",
];

/// How the proxy waits.
#[derive(Clone, Debug)]
pub struct Options {
    /// How long a request forwarded to the server may wait for its answer, and how long any
    /// write to either side may take.
    pub timeout: Duration,
    /// How long the server has to exit by itself once its input is closed and nothing waits,
    /// and again after `SIGTERM` before `SIGKILL`.
    pub grace: Duration,
    /// The most bytes read from either side at once.
    pub read_bytes: usize,
    /// The most frames decided as one batch.
    pub batch_frames: usize,
    /// When the log is synced by the transport rather than by its sink: the longest an event
    /// stays written but not yet synced ([`Session::sync`]). `None`: the sink's own policy
    /// (with `SyncPolicy::Always`, every batch before anything of it is forwarded).
    pub sync_within: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: Duration::from_secs(60),
            grace: Duration::from_millis(500),
            read_bytes: 64 << 10,
            batch_frames: 256,
            sync_within: None,
        }
    }
}

/// The server to start.
#[derive(Clone, Debug)]
pub struct Server {
    /// The program.
    pub program: OsString,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Its whole environment ([`server_env`]).
    pub env: Vec<(OsString, OsString)>,
}

/// The process's own standard input and output, as the proxy's client side. Pipes and sockets
/// (what MCP clients start servers with: Node's child processes get sockets, Python's pipes)
/// are read and written through the runtime's reactor, on duplicates of descriptors 0 and 1,
/// which makes their open file descriptions non-blocking: [`ProcessStdio`] puts their flags
/// back when dropped. A stream that shares its description with another standard stream (one
/// socket for all three, `2>&1`), or that is anything else (a file, a terminal), goes through
/// tokio's standard streams instead, whose reads and writes run on a blocking thread (a hop per
/// read and per write). Call it inside the runtime.
pub fn process_stdio() -> ProcessStdio {
    let (stdin, stdout, stderr) = (io::stdin(), io::stdout(), io::stderr());
    let (fd0, fd1, fd2) = (stdin.as_fd(), stdout.as_fd(), stderr.as_fd());
    let input_alone = !same_file(fd0, fd1) && !same_file(fd0, fd2);
    let output_alone = !same_file(fd1, fd0) && !same_file(fd1, fd2);
    let mut restore = Vec::new();
    type Input = Box<dyn AsyncRead + Unpin + Send>;
    type Output = Box<dyn AsyncWrite + Unpin + Send>;
    let pipe_in = |fd| pipe::Receiver::from_owned_fd(fd).ok().map(|r| Box::new(r) as Input);
    let input = match reactor_stream(fd0, input_alone, pipe_in, |s| Box::new(s) as Input) {
        Some((stream, flags)) => {
            restore.push((0, flags));
            stream
        }
        None => Box::new(tokio::io::stdin()),
    };
    let pipe_out = |fd| pipe::Sender::from_owned_fd(fd).ok().map(|w| Box::new(w) as Output);
    let output = match reactor_stream(fd1, output_alone, pipe_out, |s| Box::new(s) as Output) {
        Some((stream, flags)) => {
            restore.push((1, flags));
            stream
        }
        None => Box::new(tokio::io::stdout()),
    };
    ProcessStdio { input: Some(input), output: Some(output), restore }
}

/// The proxy's client side over the process's standard streams ([`process_stdio`]). Dropping
/// it puts back the file status flags the reactor changed, so whatever shares those
/// descriptions (the shell that started the proxy, the next command in a script) finds them
/// as they were.
pub struct ProcessStdio {
    /// Standard input (taken by the caller).
    pub input: Option<Box<dyn AsyncRead + Unpin + Send>>,
    /// Standard output (taken by the caller).
    pub output: Option<Box<dyn AsyncWrite + Unpin + Send>>,
    restore: Vec<(i32, OFlags)>,
}

impl Drop for ProcessStdio {
    fn drop(&mut self) {
        for (fd, flags) in &self.restore {
            let fd = if *fd == 0 {
                io::stdin().as_fd().try_clone_to_owned()
            } else {
                io::stdout().as_fd().try_clone_to_owned()
            };
            if let Ok(fd) = fd {
                let _ = fcntl_setfl(&fd, *flags);
            }
        }
    }
}

/// Makes this process non-dumpable (Linux): its `/proc/PID/environ`, memory and descriptors
/// can no longer be read by other processes of the same user, the servers it starts among
/// them, which could otherwise read the signing key and every token in the proxy's own
/// environment there, whatever was cleared from theirs. (A child gets its own flag back at
/// `exec`.) Elsewhere this does nothing.
pub fn guard_own_memory() -> io::Result<()> {
    #[cfg(target_os = "linux")]
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)?;
    Ok(())
}

/// `fd` (duplicated) through the reactor when it stands `alone` and is a pipe or a socket, with
/// the file status flags to put back.
fn reactor_stream<T>(
    fd: BorrowedFd<'_>,
    alone: bool,
    pipe: impl FnOnce(OwnedFd) -> Option<T>,
    stream: impl FnOnce(tokio::net::UnixStream) -> T,
) -> Option<(T, OFlags)> {
    let (fd, kind, flags) = duplicate(fd).filter(|_| alone)?;
    let made = if kind.is_fifo() {
        pipe(fd)?
    } else if kind.is_socket() {
        stream(socket(fd)?)
    } else {
        return None;
    };
    Some((made, flags))
}

/// A duplicate of `fd`, what kind of file it is, and its file status flags.
fn duplicate(fd: BorrowedFd<'_>) -> Option<(OwnedFd, std::fs::FileType, OFlags)> {
    let flags = fcntl_getfl(fd).ok()?;
    let file = std::fs::File::from(fd.try_clone_to_owned().ok()?);
    let kind = file.metadata().ok()?.file_type();
    Some((OwnedFd::from(file), kind, flags))
}

fn socket(fd: OwnedFd) -> Option<tokio::net::UnixStream> {
    let stream = std::os::unix::net::UnixStream::from(fd);
    stream.set_nonblocking(true).ok()?;
    tokio::net::UnixStream::from_std(stream).ok()
}

/// Whether two descriptors name the same file (conservatively: the same device and inode).
fn same_file(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> bool {
    let id = |fd: BorrowedFd<'_>| {
        let file = std::fs::File::from(fd.try_clone_to_owned().ok()?);
        let meta = file.metadata().ok()?;
        Some((meta.dev(), meta.ino()))
    };
    match (id(a), id(b)) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    }
}

/// Why the session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// The client closed its input (or stopped reading): the server was shut down.
    ClientClosed,
    /// The server closed its output, or exited, while the client was still there.
    ServerExited,
    /// The server sent nothing for the timeout while a request waited.
    ServerWedged,
    /// The proxy was told to stop ([`run_until`]).
    Stopped,
}

/// How the child was stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// It exited by itself.
    Exited,
    /// It exited after `SIGTERM`.
    Terminated,
    /// It had to be killed.
    Killed,
}

/// What a session came to.
#[derive(Debug)]
pub struct Outcome {
    /// Why it ended.
    pub ended: Ended,
    /// The server's exit status.
    pub status: Option<ExitStatus>,
    /// How the server was stopped.
    pub stopped: Stopped,
    /// What passed.
    pub stats: Stats,
}

/// Counts over a session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames read from the client.
    pub client_frames: u64,
    /// Frames read from the server.
    pub server_frames: u64,
    /// Batches decided.
    pub batches: u64,
    /// Requests that timed out.
    pub timeouts: u64,
    /// Lines over the size cap (from the client: answered with an error; from the server:
    /// dropped).
    pub too_long: u64,
}

/// Why a session could not run, or had to stop.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The server could not be started.
    #[error("cannot start the server: {0}")]
    Spawn(#[source] io::Error),
    /// The flight log failed: nothing more was forwarded (fail closed).
    #[error("the flight log failed, so the session was stopped: {0}")]
    Kernel(#[from] KernelError),
}

/// The environment a server is started with: [`BASE_ENV`] and each variable in `named`, as
/// `var` gives them, except AgentK's own ([`is_proxy_own`]); a variable the proxy does not
/// have is left out. Returns the environment
/// and the names that were asked for but not set.
pub fn server_env(
    var: &dyn Fn(&str) -> Option<OsString>,
    named: &[String],
) -> (Vec<(OsString, OsString)>, Vec<String>) {
    let mut env = Vec::new();
    let mut missing = Vec::new();
    for name in BASE_ENV {
        if let Some(value) = var(name) {
            env.push((OsString::from(name), value));
        }
    }
    for name in named {
        let seen = BASE_ENV.contains(&name.as_str()) || env.iter().any(|(n, _)| n == OsStr::new(name));
        // SECURITY: the proxy's own variables never reach a server.
        if seen || is_proxy_own(name) {
            continue;
        }
        match var(name) {
            Some(value) => env.push((OsString::from(name), value)),
            None => missing.push(name.clone()),
        }
    }
    (env, missing)
}

/// Whether `name` can name an environment variable passed to a server.
pub fn is_env_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 256 && !name.bytes().any(|b| b == b'=' || b == 0 || b.is_ascii_whitespace())
}

/// Whether `name` is one of AgentK's own variables (`AGENTK_*`: the signing key, among
/// others), which configure the proxy and are never passed to a server, even when named.
pub fn is_proxy_own(name: &str) -> bool {
    name.get(..7).is_some_and(|prefix| prefix.eq_ignore_ascii_case("AGENTK_"))
}

/// The server id a command is known by when none is given, so that policies, pins and logs
/// name the same server from one run to the next:
///
/// 1. the first word of the command that is not a launcher (`node`, `python3`, `npx`, `uvx`,
///    `docker run`, …) or an option (`-y`, `--from`, …);
/// 2. its file name, without a version (`@2026.8.31`), an npm scope or an extension (`.js`,
///    `.py`, …);
/// 3. a generic name (`index`, `main`, `server`, `cli`, `__main__`) is replaced by the nearest
///    directory above it that is not a build folder (`dist`, `build`, `lib`, `src`, `bin`, `out`);
/// 4. every character that is not a letter, a digit, `-`, `_` or `.` becomes `-`, and a leading
///    `-` or `.` is dropped; at most 64 characters; `server` when nothing is left.
///
/// `npx -y @modelcontextprotocol/server-everything stdio` is `server-everything`;
/// `node /opt/example/server-memory/dist/index.js` is `server-memory`.
pub fn default_server_id(program: &OsStr, args: &[OsString]) -> String {
    const LAUNCHERS: &[&str] = &[
        "node", "nodejs", "deno", "bun", "bunx", "npx", "pnpx", "pnpm", "yarn", "npm", "python", "python3", "py", "uv",
        "uvx", "pipx", "run", "exec", "dlx", "docker", "podman", "env", "sh", "bash", "java", "ruby",
    ];
    let words = std::iter::once(program).chain(args.iter().map(OsString::as_os_str));
    let chosen = words
        .map(|w| w.to_string_lossy().into_owned())
        .find(|w| {
            let base = file_name(w);
            let base = base.strip_suffix(".exe").unwrap_or(base);
            !w.starts_with('-') && !LAUNCHERS.contains(&base) && !base.starts_with("python3.")
        })
        .unwrap_or_default();
    let mut name = without_version(file_name(&chosen)).to_owned();
    for ext in [".js", ".mjs", ".cjs", ".ts", ".py", ".exe", ".sh", ".jar"] {
        if let Some(stem) = name.strip_suffix(ext) {
            name = stem.to_owned();
            break;
        }
    }
    if matches!(name.as_str(), "index" | "main" | "server" | "cli" | "__main__") {
        let parent = Path::new(&chosen)
            .ancestors()
            .skip(1)
            .filter_map(|p| p.file_name()?.to_str())
            .find(|d| !matches!(*d, "dist" | "build" | "lib" | "src" | "bin" | "out"));
        if let Some(parent) = parent {
            name = parent.to_owned();
        }
    }
    let mut id: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '-' })
        .take(64)
        .collect();
    while id.starts_with(['.', '-']) {
        id.remove(0);
    }
    if id.is_empty() { "server".to_owned() } else { id }
}

fn file_name(word: &str) -> &str {
    word.rsplit(['/', '\\']).next().unwrap_or(word)
}

/// `server-everything@2026.8.31` → `server-everything` (a leading `@` is a scope, not a
/// version).
fn without_version(name: &str) -> &str {
    match name.char_indices().skip(1).find(|(_, c)| *c == '@') {
        Some((at, _)) => name.get(..at).unwrap_or(name),
        None => name,
    }
}

/// Runs `session` between the client (`client_in`, `client_out`) and `server` until one side
/// goes away; `observe` sees every step (to keep pins, count, report). The child is stopped
/// before this returns, whatever happened. The session is left open: the caller closes it
/// (with a checkpoint).
pub async fn run<S, R, W>(
    session: &mut Session<S>,
    server: &Server,
    client_in: R,
    client_out: W,
    options: &Options,
    observe: &mut (dyn FnMut(&Step) + Send),
) -> Result<Outcome, ProxyError>
where
    S: RecordSink,
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    run_until(session, server, client_in, client_out, options, observe, std::future::pending()).await
}

/// [`run`], also ending when `stop` resolves (the process was told to stop: a signal): every
/// waiting request is answered with an error, and the server is stopped as on any other end
/// ([`Ended::Stopped`]).
pub async fn run_until<S, R, W, F>(
    session: &mut Session<S>,
    server: &Server,
    client_in: R,
    client_out: W,
    options: &Options,
    observe: &mut (dyn FnMut(&Step) + Send),
    until: F,
) -> Result<Outcome, ProxyError>
where
    S: RecordSink,
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
    F: Future<Output = ()>,
{
    let client = (Input::Stream(client_in), Output::Stream(client_out));
    run_input_until(session, server, client, options, observe, until).await
}

/// [`run_until`] with the client's side as an [`Input`] and an [`Output`].
pub(crate) async fn run_input_until<S, R, W, F>(
    session: &mut Session<S>,
    server: &Server,
    (client_in, client_out): (Input<R>, Output<W>),
    options: &Options,
    observe: &mut (dyn FnMut(&Step) + Send),
    until: F,
) -> Result<Outcome, ProxyError>
where
    S: RecordSink,
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
    F: Future<Output = ()>,
{
    let mut child = Command::new(&server.program)
        .args(&server.args)
        .env_clear()
        .envs(server.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .process_group(0)
        .spawn()
        .map_err(ProxyError::Spawn)?;
    let watch = ExitWatch::new(&child);
    let (Some(to_server), Some(from_server)) = (child.stdin.take(), child.stdout.take()) else {
        let _ = stop(&mut child, watch, options.grace, options.grace).await;
        return Err(ProxyError::Spawn(io::Error::other("the server's standard streams are missing")));
    };
    let mut watch = watch;
    let (result, stats) = serve_streams(
        session,
        (Output::Stream(to_server), Input::Stream(from_server)),
        &mut watch,
        (client_in, client_out),
        options,
        observe,
        until,
    )
    .await;
    // After the client closed, the server already had its grace period (the quiet one).
    let first = if matches!(result, Ok(Ended::ClientClosed)) { Duration::ZERO } else { options.grace };
    let (status, stopped) = stop(&mut child, watch, first, options.grace).await;
    result.map(|ended| Outcome { ended, status, stopped, stats })
}

/// A server the proxy reaches through a pair of streams rather than as a child: the gateway's
/// bridge to a Streamable HTTP server ([`crate::upstream`]). `gone` is the task behind the
/// streams: its end means the server is gone.
#[cfg(feature = "gateway")]
pub(crate) struct Link {
    pub(crate) to_server: Deliver,
    pub(crate) from_server: FrameReader,
    pub(crate) gone: JoinHandle<()>,
}

/// Whole frames from a bounded channel, read by the proxy loop itself: the gateway's side of a
/// session's loop (the client's requests, the bridge's answers), with no pipe and no reader
/// task in between. Each frame is one line, framed as a pipe's line would be ([`Framer`]). A
/// sender whose future is dropped has sent a whole frame or nothing. The input ends when every
/// sender is gone, or once `end` resolves, as a closed pipe would, whatever is still queued.
#[cfg(feature = "gateway")]
pub(crate) struct FrameReader {
    frames: mpsc::Receiver<Vec<u8>>,
    end: Option<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>>,
    /// Its end was reported.
    closed: bool,
}

#[cfg(feature = "gateway")]
impl FrameReader {
    /// Reads `frames`, ending early once `end` resolves.
    pub(crate) fn new(
        frames: mpsc::Receiver<Vec<u8>>,
        end: Option<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>>,
    ) -> Self {
        FrameReader { frames, end, closed: false }
    }

    /// The next frame's lines, its end, or nothing more.
    async fn recv(&mut self, side: Side, max: usize) -> Option<Event> {
        while !self.closed {
            let frame = match self.end.as_mut() {
                Some(end) => tokio::select! {
                    biased;
                    () = end.as_mut() => None,
                    frame = self.frames.recv() => frame,
                },
                None => self.frames.recv().await,
            };
            match frame {
                Some(frame) => {
                    let lines = frame_lines(frame, max);
                    if !lines.is_empty() {
                        return Some(Event::Lines(side, lines));
                    }
                }
                None => return Some(self.close(side)),
            }
        }
        None
    }

    /// [`FrameReader::recv`] for what is queued now.
    fn try_recv(&mut self, side: Side, max: usize) -> Option<Event> {
        while !self.closed {
            match self.frames.try_recv() {
                Ok(frame) => {
                    let lines = frame_lines(frame, max);
                    if !lines.is_empty() {
                        return Some(Event::Lines(side, lines));
                    }
                }
                Err(mpsc::error::TryRecvError::Disconnected) => return Some(self.close(side)),
                Err(mpsc::error::TryRecvError::Empty) => return None,
            }
        }
        None
    }

    fn close(&mut self, side: Side) -> Event {
        self.closed = true;
        self.end = None;
        // Its senders learn that the input is closed, as a pipe's writer would.
        self.frames.close();
        Event::Closed(side)
    }
}

/// One frame as the lines a pipe would have carried it in (one, unless it holds a newline).
#[cfg(feature = "gateway")]
fn frame_lines(frame: Vec<u8>, max: usize) -> Vec<(u64, Line)> {
    let mut framer = Framer::new(max);
    let mut lines = Vec::with_capacity(1);
    if frame.contains(&b'\n') || frame.last() == Some(&b'\r') {
        framer.feed(&frame, &mut lines);
        framer.finish(&mut lines);
    } else if frame.len() > max {
        lines.push((1, Line::TooLong { max }));
    } else if !frame.iter().all(u8::is_ascii_whitespace) {
        lines.push((1, Line::Frame(frame)));
    }
    lines
}

/// One side's input: a byte stream, read by a task of its own, or (the gateway's) frames from
/// a channel, read by the loop itself.
pub(crate) enum Input<R> {
    Stream(R),
    #[cfg(feature = "gateway")]
    Frames(FrameReader),
}

/// What the loop's messages for one side go to: a byte stream, written by a task of its own
/// (so that the loop never waits on a peer slow to read), or (the gateway's) a function that
/// takes them at once and never waits: the router, whose every queue is bounded and
/// non-blocking, or the bridge, which holds what it cannot send yet as counted ([`Taken`]).
pub(crate) enum Output<W> {
    Stream(W),
    #[cfg(feature = "gateway")]
    Deliver(Deliver),
}

/// Takes whole lines (each ending with a newline) and never waits; the [`Taken`] is kept for
/// as long as they wait to be sent on.
#[cfg(feature = "gateway")]
pub(crate) type Deliver = Box<dyn FnMut(Vec<u8>, Taken) + Send>;

/// Bytes handed to a [`Deliver`], counted against the writer's bound (the loop stops reading
/// the other side while it is reached) until dropped.
#[cfg(feature = "gateway")]
pub(crate) struct Taken {
    backlog: Arc<AtomicUsize>,
    written: Arc<Notify>,
    len: usize,
}

#[cfg(feature = "gateway")]
impl Drop for Taken {
    fn drop(&mut self) {
        self.backlog.fetch_sub(self.len, Ordering::AcqRel);
        self.written.notify_one();
    }
}

/// What the loop reads one side from.
enum Inbox {
    /// The events of the side's reader task.
    Events(mpsc::Receiver<Event>),
    #[cfg(feature = "gateway")]
    Frames(FrameReader, Side, usize),
}

impl Inbox {
    /// Reads `input`: a stream through a reader task (returned), frames directly.
    fn new<R: AsyncRead + Unpin + Send + 'static>(
        side: Side,
        input: Input<R>,
        max: usize,
        read_bytes: usize,
    ) -> (Inbox, Option<JoinHandle<()>>) {
        match input {
            Input::Stream(input) => {
                // Bounded: a peer faster than the log waits in its pipe, not in the proxy's memory.
                let (events, inbox) = mpsc::channel(16);
                let reader = tokio::spawn(read_side(side, input, max, read_bytes, events));
                (Inbox::Events(inbox), Some(reader))
            }
            #[cfg(feature = "gateway")]
            Input::Frames(frames) => (Inbox::Frames(frames, side, max), None),
        }
    }

    async fn recv(&mut self) -> Option<Event> {
        match self {
            Inbox::Events(events) => events.recv().await,
            #[cfg(feature = "gateway")]
            Inbox::Frames(frames, side, max) => frames.recv(*side, *max).await,
        }
    }

    fn try_recv(&mut self) -> Option<Event> {
        match self {
            Inbox::Events(events) => events.try_recv().ok(),
            #[cfg(feature = "gateway")]
            Inbox::Frames(frames, side, max) => frames.try_recv(*side, *max),
        }
    }
}

/// [`run_until`] for a server behind a [`Link`]: when the session ends, the link's input is
/// closed, it has [`Options::grace`] to finish (the bridge ends the server's session), and
/// then it is stopped.
#[cfg(feature = "gateway")]
pub(crate) async fn run_link_until<S, R, W, F>(
    session: &mut Session<S>,
    link: Link,
    client: (Input<R>, Output<W>),
    options: &Options,
    observe: &mut (dyn FnMut(&Step) + Send),
    until: F,
) -> Result<Outcome, ProxyError>
where
    S: RecordSink,
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
    F: Future<Output = ()>,
{
    let abort = link.gone.abort_handle();
    let mut watch = ExitWatch { waiter: Some(link.gone), pid: None };
    let (result, stats) = serve_streams(
        session,
        (Output::<tokio::io::Empty>::Deliver(link.to_server), Input::<tokio::io::Empty>::Frames(link.from_server)),
        &mut watch,
        client,
        options,
        observe,
        until,
    )
    .await;
    let stopped = match timeout(options.grace, watch.exited()).await {
        Ok(()) => Stopped::Exited,
        Err(_) => {
            abort.abort();
            Stopped::Killed
        }
    };
    result.map(|ended| Outcome { ended, status: None, stopped, stats })
}

/// The loop between the client's streams and the server's, until one side goes away: the
/// server is whatever `to_server` and `from_server` reach (a child's pipes, or the gateway's
/// bridge to an HTTP server), and `watch` resolves when it is gone.
async fn serve_streams<S, R, W, SW, SR, F>(
    session: &mut Session<S>,
    (to_server, from_server): (Output<SW>, Input<SR>),
    watch: &mut ExitWatch,
    (client_in, client_out): (Input<R>, Output<W>),
    options: &Options,
    observe: &mut (dyn FnMut(&Step) + Send),
    until: F,
) -> (Result<Ended, ProxyError>, Stats)
where
    S: RecordSink,
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
    SW: AsyncWrite + Unpin + Send + 'static,
    SR: AsyncRead + Unpin + Send + 'static,
    F: Future<Output = ()>,
{
    let max = session.config().limits.max_frame_bytes;
    // One inbox per side, so that one side's reads never hold up the other's.
    let (client_inbox, client_reader) = Inbox::new(Side::Client, client_in, max, options.read_bytes);
    let (server_inbox, server_reader) = Inbox::new(Side::Server, from_server, max, options.read_bytes);
    let readers = [client_reader, server_reader];
    let (failed, failures) = mpsc::unbounded_channel();
    // A side's writes may queue up to two frames' worth before the other side's reads pause.
    let backlog = max.saturating_mul(2).saturating_add(2);
    let server_writer = Writer::open(Side::Server, to_server, backlog, options.timeout, failed.clone());
    let client_writer = Writer::open(Side::Client, client_out, backlog, options.timeout, failed);
    let mut proxy = Proxy {
        options,
        to_server: Some(server_writer),
        to_client: Some(client_writer),
        client_inbox,
        server_inbox,
        failures,
        waiting: Waiting::default(),
        heard: Instant::now(),
        client_open: true,
        quiet_until: None,
        exited_at: None,
        sync_at: None,
        synced_events: session.kernel().events(),
        stats: Stats::default(),
    };
    let result = proxy.serve(session, watch, observe, std::pin::pin!(until)).await;
    let stats = proxy.stats;
    // What the client is owed (the errors for what waited, among them) is written before the
    // client's output is closed; the server's writes are abandoned (it is being stopped).
    if let Some(writer) = proxy.to_client.take() {
        writer.finish().await;
    }
    if let Some(writer) = proxy.to_server.take() {
        writer.abandon().await;
    }
    drop(proxy);
    for reader in readers.into_iter().flatten() {
        // Awaited, so that its end of the pipe is closed before this returns.
        reader.abort();
        let _ = reader.await;
    }
    (result, stats)
}

/// What a reader saw.
enum Event {
    Lines(Side, Vec<(u64, Line)>),
    /// The side closed its output (or reading it failed).
    Closed(Side),
}

/// Reads one side into lines, one event per read that completed any, until it ends.
async fn read_side<R: AsyncRead + Unpin>(
    side: Side,
    mut input: R,
    max: usize,
    read_bytes: usize,
    events: mpsc::Sender<Event>,
) {
    let mut framer = Framer::new(max);
    let mut buffer = vec![0u8; read_bytes.max(1)];
    loop {
        let (lines, end) = next_lines(&mut input, &mut framer, &mut buffer).await;
        if !lines.is_empty() && events.send(Event::Lines(side, lines)).await.is_err() {
            return;
        }
        if end {
            let _ = events.send(Event::Closed(side)).await;
            return;
        }
    }
}

/// Reads once from `input` into `framer`: the lines that read completed, and whether the
/// input ended (its end, or an error reading it; a last line without a newline is a line).
pub(crate) async fn next_lines<R: AsyncRead + Unpin>(
    input: &mut R,
    framer: &mut Framer,
    buffer: &mut [u8],
) -> (Vec<(u64, Line)>, bool) {
    let mut lines = Vec::new();
    loop {
        match input.read(buffer).await {
            Ok(0) => {
                framer.finish(&mut lines);
                return (lines, true);
            }
            Ok(n) => {
                framer.feed(buffer.get(..n).unwrap_or_default(), &mut lines);
                return (lines, false);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => {
                framer.finish(&mut lines);
                return (lines, true);
            }
        }
    }
}

/// The requests waiting for the server, by deadline.
#[derive(Default)]
struct Waiting {
    by_deadline: BTreeMap<(Instant, u64), (String, Instant)>,
    by_key: HashMap<String, (Instant, u64)>,
    next: u64,
}

impl Waiting {
    fn add(&mut self, key: String, now: Instant, timeout: Duration) {
        self.remove(&key);
        let slot = (now + timeout, self.next);
        self.next += 1;
        self.by_key.insert(key.clone(), slot);
        self.by_deadline.insert(slot, (key, now));
    }

    fn remove(&mut self, key: &str) {
        if let Some(slot) = self.by_key.remove(key) {
            self.by_deadline.remove(&slot);
        }
    }

    fn first_deadline(&self) -> Option<Instant> {
        self.by_deadline.keys().next().map(|(at, _)| *at)
    }

    /// The first request whose deadline is past: its key and when it was sent.
    fn pop_expired(&mut self, now: Instant) -> Option<(String, Instant)> {
        let (&slot, _) = self.by_deadline.iter().next().filter(|((at, _), _)| *at <= now)?;
        let (key, sent) = self.by_deadline.remove(&slot)?;
        self.by_key.remove(&key);
        Some((key, sent))
    }

    fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

struct Proxy<'a> {
    options: &'a Options,
    /// Closed (`None`) once the client has closed its input and nothing waits, or the server
    /// went away or stopped reading.
    to_server: Option<Writer>,
    /// `None` once the client stopped reading.
    to_client: Option<Writer>,
    client_inbox: Inbox,
    server_inbox: Inbox,
    /// The sides whose writer failed (a write error, or no progress for the timeout).
    failures: mpsc::UnboundedReceiver<Side>,
    waiting: Waiting,
    /// When the server last sent anything.
    heard: Instant,
    client_open: bool,
    /// After the client closed and nothing waits: when the server's time to exit runs out.
    quiet_until: Option<Instant>,
    /// When the server was seen to exit (its output may still be draining).
    exited_at: Option<Instant>,
    /// When the events written but not yet synced must be synced ([`Options::sync_within`]).
    sync_at: Option<Instant>,
    /// The events recorded when the log was last synced.
    synced_events: u64,
    stats: Stats,
}

/// What ended the loop, or that it goes on.
type Flow = Option<Ended>;

impl Proxy<'_> {
    /// Whether the server's reads wait: the client's writer is full (the client is not keeping
    /// up with what it is sent).
    fn client_backed_up(&self) -> bool {
        self.to_client.as_ref().is_some_and(Writer::full)
    }

    /// Whether the client's reads wait: the server's writer is full.
    fn server_backed_up(&self) -> bool {
        self.to_server.as_ref().is_some_and(Writer::full)
    }

    async fn serve<S: RecordSink>(
        &mut self,
        session: &mut Session<S>,
        watch: &mut ExitWatch,
        observe: &mut (dyn FnMut(&Step) + Send),
        mut until: std::pin::Pin<&mut impl Future<Output = ()>>,
    ) -> Result<Ended, ProxyError> {
        loop {
            if !self.client_open && self.waiting.is_empty() && self.quiet_until.is_none() {
                // Closing the server's input is how a stdio server is told the session is
                // over; it waits until nothing does, so that a call the session released late
                // (after the mediator's own listing) still reaches the server and is answered.
                self.to_server = None;
                self.quiet_until = Some(Instant::now() + self.options.grace);
            }
            let wake = [
                self.waiting.first_deadline(),
                self.quiet_until,
                self.exited_at.map(|at| at + self.options.grace),
                self.sync_at,
            ]
            .into_iter()
            .flatten()
            .min();
            let flow = tokio::select! {
                biased;
                () = until.as_mut() => {
                    Some(self.server_gone(session, observe, Ended::Stopped).await?)
                }
                Some(side) = self.failures.recv() => self.on_write_failure(side),
                event = self.server_inbox.recv(), if !self.client_backed_up() => match event {
                    Some(event) => self.on_events(event, session, observe).await?,
                    // The reader is gone; cannot happen before it reported closing.
                    None => Some(self.server_gone(session, observe, Ended::ServerExited).await?),
                },
                event = self.client_inbox.recv(), if self.client_open && !self.server_backed_up() => match event {
                    Some(event) => self.on_events(event, session, observe).await?,
                    None => {
                        self.client_open = false;
                        None
                    }
                },
                () = Writer::drained(self.to_client.as_ref()), if self.client_backed_up() => None,
                () = Writer::drained(self.to_server.as_ref()), if self.server_backed_up() => None,
                () = watch.exited(), if self.exited_at.is_none() => {
                    // The output may still hold answers: read it to its end, for a grace period.
                    self.exited_at = Some(Instant::now());
                    None
                }
                () = sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => {
                    self.on_timers(session, observe).await?
                }
            };
            if let Some(ended) = flow {
                return Ok(ended);
            }
            if let Some(within) = self.options.sync_within
                && self.sync_at.is_none()
                && session.kernel().events() > self.synced_events
            {
                self.sync_at = Some(Instant::now() + within);
            }
        }
    }

    /// Decides everything readable as one batch.
    async fn on_events<S: RecordSink>(
        &mut self,
        first: Event,
        session: &mut Session<S>,
        observe: &mut (dyn FnMut(&Step) + Send),
    ) -> Result<Flow, ProxyError> {
        let mut frames = count_frames(&first);
        let mut events = vec![first];
        let mut sides_open = [true, true];
        while frames < self.options.batch_frames && sides_open != [false, false] {
            // Both sides, in turn, as far as their writers allow.
            for (open, side) in sides_open.iter_mut().zip([Side::Server, Side::Client]) {
                let inbox = match side {
                    Side::Server if !self.client_backed_up() => &mut self.server_inbox,
                    Side::Client if self.client_open && !self.server_backed_up() => &mut self.client_inbox,
                    _ => {
                        *open = false;
                        continue;
                    }
                };
                match inbox.try_recv() {
                    Some(event) => {
                        frames += count_frames(&event);
                        events.push(event);
                    }
                    None => *open = false,
                }
            }
        }
        let mut batch: Vec<(Side, &[u8])> = Vec::with_capacity(frames);
        let mut answers = Vec::new();
        let (mut client_closed, mut server_closed) = (false, false);
        for event in &events {
            match event {
                Event::Lines(side, lines) => {
                    for (_, line) in lines {
                        match (line, side) {
                            (Line::Frame(bytes), _) => batch.push((*side, bytes.as_slice())),
                            (Line::TooLong { max }, Side::Client) => {
                                self.stats.too_long += 1;
                                answers.push(Out::ToClient(FrameError::TooLarge { max: *max }.answer()));
                            }
                            (Line::TooLong { .. }, Side::Server) => self.stats.too_long += 1,
                        }
                    }
                    if *side == Side::Server {
                        self.heard = Instant::now();
                    }
                }
                Event::Closed(Side::Client) => client_closed = true,
                Event::Closed(Side::Server) => server_closed = true,
            }
        }
        for (side, _) in &batch {
            match side {
                Side::Client => self.stats.client_frames += 1,
                Side::Server => self.stats.server_frames += 1,
            }
        }
        if !batch.is_empty() {
            self.stats.batches += 1;
            let step = session.handle(&batch)?;
            if let Some(ended) = self.apply(step, observe).await {
                return Ok(Some(ended));
            }
        }
        if let Some(ended) = self.send(answers).await {
            return Ok(Some(ended));
        }
        if client_closed {
            self.client_open = false;
        }
        if server_closed {
            return self.server_gone(session, observe, Ended::ServerExited).await.map(Some);
        }
        Ok(None)
    }

    /// Timeouts, the quiet period after the client left, a server that exited.
    async fn on_timers<S: RecordSink>(
        &mut self,
        session: &mut Session<S>,
        observe: &mut (dyn FnMut(&Step) + Send),
    ) -> Result<Flow, ProxyError> {
        let now = Instant::now();
        if self.sync_at.is_some_and(|at| at <= now) {
            self.sync_at = None;
            self.synced_events = session.kernel().events();
            session.sync()?;
        }
        while let Some((key, sent)) = self.waiting.pop_expired(now) {
            self.stats.timeouts += 1;
            let step = session.time_out(&key)?;
            if let Some(ended) = self.apply(step, observe).await {
                return Ok(Some(ended));
            }
            if self.heard <= sent {
                // Nothing at all from the server since this request went out.
                return self.server_gone(session, observe, Ended::ServerWedged).await.map(Some);
            }
        }
        if self.quiet_until.is_some_and(|at| at <= now) {
            return Ok(Some(Ended::ClientClosed));
        }
        if self.exited_at.is_some_and(|at| at + self.options.grace <= now) {
            return self.server_gone(session, observe, Ended::ServerExited).await.map(Some);
        }
        Ok(None)
    }

    /// The server is gone (or given up on): everything waiting is answered with an error.
    async fn server_gone<S: RecordSink>(
        &mut self,
        session: &mut Session<S>,
        observe: &mut (dyn FnMut(&Step) + Send),
        ended: Ended,
    ) -> Result<Ended, ProxyError> {
        self.to_server = None;
        let step = session.server_gone()?;
        self.apply(step, observe).await;
        Ok(if self.client_open || ended == Ended::Stopped { ended } else { Ended::ClientClosed })
    }

    /// Keeps the step's timeouts and writes its outputs.
    async fn apply(&mut self, step: Step, observe: &mut (dyn FnMut(&Step) + Send)) -> Flow {
        observe(&step);
        let now = Instant::now();
        // Forwarded first: a request answered in the very batch it was decided in is done.
        // A request the server cannot be sent (it stopped reading) is timed all the same, so
        // it is answered.
        for key in &step.forwarded {
            self.waiting.add(key.clone(), now, self.options.timeout);
        }
        for key in &step.answered {
            self.waiting.remove(key);
        }
        self.send(step.outputs).await
    }

    /// A side's writer failed: a server that stopped reading is sent nothing more (its
    /// requests time out); a client that stopped reading is gone.
    fn on_write_failure(&mut self, side: Side) -> Flow {
        match side {
            Side::Server => {
                self.to_server = None;
                None
            }
            Side::Client => {
                self.to_client = None;
                self.client_open = false;
                Some(Ended::ClientClosed)
            }
        }
    }

    /// Queues messages, one per line, for each side's writer.
    async fn send(&mut self, outputs: Vec<Out>) -> Flow {
        if outputs.is_empty() {
            return None;
        }
        let (mut for_server, mut for_client) = (Vec::new(), Vec::new());
        for out in outputs {
            let (buffer, bytes) = match out {
                Out::ToServer(bytes) => (&mut for_server, bytes),
                Out::ToClient(bytes) => (&mut for_client, bytes),
            };
            buffer.extend_from_slice(&bytes);
            buffer.push(b'\n');
        }
        if let Some(writer) = self.to_server.as_ref().filter(|_| !for_server.is_empty())
            && !writer.send(for_server)
        {
            // The server stopped reading: what it already sent is still read; its output
            // ending, or a timeout, ends the session.
            self.to_server = None;
        }
        if let Some(writer) = self.to_client.as_ref().filter(|_| !for_client.is_empty())
            && !writer.send(for_client)
        {
            return self.on_write_failure(Side::Client);
        }
        None
    }
}

/// One side's writes, in a task of their own, so that the loop never waits on a peer that is
/// slow to read (and so never stops reading the other side, which could be waiting for that
/// very read: a server that writes before it reads more). The queue is bounded in bytes: when
/// it is full the loop stops reading the side whose messages fill it.
struct Writer {
    queue: mpsc::UnboundedSender<Vec<u8>>,
    /// Bytes queued and not yet written.
    backlog: Arc<AtomicUsize>,
    /// Signalled after each write.
    written: Arc<Notify>,
    limit: usize,
    /// The task that writes (none when the writes are delivered at once).
    task: Option<JoinHandle<()>>,
    /// Takes each write at once, in place of the task ([`Output::Deliver`]).
    #[cfg(feature = "gateway")]
    deliver: Option<std::sync::Mutex<Deliver>>,
}

impl Writer {
    fn open<W: AsyncWrite + Unpin + Send + 'static>(
        side: Side,
        out: Output<W>,
        limit: usize,
        timeout_each: Duration,
        failed: mpsc::UnboundedSender<Side>,
    ) -> Self {
        match out {
            Output::Stream(out) => Writer::spawn(side, out, limit, timeout_each, failed),
            #[cfg(feature = "gateway")]
            Output::Deliver(deliver) => Writer::deliver(deliver, limit),
        }
    }

    fn spawn<W: AsyncWrite + Unpin + Send + 'static>(
        side: Side,
        mut out: W,
        limit: usize,
        timeout_each: Duration,
        failed: mpsc::UnboundedSender<Side>,
    ) -> Self {
        let (queue, mut pending) = mpsc::unbounded_channel::<Vec<u8>>();
        let backlog = Arc::new(AtomicUsize::new(0));
        let written = Arc::new(Notify::new());
        let (task_backlog, task_written) = (Arc::clone(&backlog), Arc::clone(&written));
        let task = tokio::spawn(async move {
            while let Some(bytes) = pending.recv().await {
                let done = write_all(&mut out, &bytes, timeout_each).await;
                task_backlog.fetch_sub(bytes.len(), Ordering::AcqRel);
                task_written.notify_one();
                if !done {
                    let _ = failed.send(side);
                    return;
                }
            }
            let _ = out.shutdown().await;
        });
        Writer {
            queue,
            backlog,
            written,
            limit,
            task: Some(task),
            #[cfg(feature = "gateway")]
            deliver: None,
        }
    }

    /// A writer whose writes `deliver` takes at once: it never fails, and backs up while what
    /// it holds reaches `limit`.
    #[cfg(feature = "gateway")]
    fn deliver(deliver: Deliver, limit: usize) -> Self {
        Writer {
            queue: mpsc::unbounded_channel().0,
            backlog: Arc::new(AtomicUsize::new(0)),
            written: Arc::new(Notify::new()),
            limit,
            task: None,
            deliver: Some(std::sync::Mutex::new(deliver)),
        }
    }

    /// Queues `bytes`; false when the writer has failed.
    fn send(&self, bytes: Vec<u8>) -> bool {
        let len = bytes.len();
        #[cfg(feature = "gateway")]
        if let Some(deliver) = &self.deliver {
            self.backlog.fetch_add(len, Ordering::AcqRel);
            let taken = Taken { backlog: Arc::clone(&self.backlog), written: Arc::clone(&self.written), len };
            (deliver.lock().unwrap_or_else(std::sync::PoisonError::into_inner))(bytes, taken);
            return true;
        }
        self.backlog.fetch_add(len, Ordering::AcqRel);
        if self.queue.send(bytes).is_err() {
            self.backlog.fetch_sub(len, Ordering::AcqRel);
            return false;
        }
        true
    }

    fn full(&self) -> bool {
        self.backlog.load(Ordering::Acquire) >= self.limit
    }

    /// Resolves after the next write (at once, if one finished since the last call).
    async fn drained(writer: Option<&Writer>) {
        match writer {
            Some(writer) => writer.written.notified().await,
            None => std::future::pending().await,
        }
    }

    /// Writes what is queued (each write bounded by the timeout), then closes the output.
    async fn finish(self) {
        drop(self.queue);
        if let Some(task) = self.task {
            let _ = task.await;
        }
    }

    /// Drops what is queued and closes the output.
    async fn abandon(self) {
        if let Some(task) = self.task {
            task.abort();
            let _ = task.await;
        }
    }
}

fn count_frames(event: &Event) -> usize {
    match event {
        Event::Lines(_, lines) => lines.len(),
        Event::Closed(_) => 0,
    }
}

async fn write_all<W: AsyncWrite + Unpin>(out: &mut W, bytes: &[u8], limit: Duration) -> bool {
    let write = async {
        out.write_all(bytes).await?;
        out.flush().await
    };
    matches!(timeout(limit, write).await, Ok(Ok(())))
}

/// Learns that the child exited without reaping it, so that its process group id stays
/// reserved until the group has been killed.
struct ExitWatch {
    waiter: Option<JoinHandle<()>>,
    pid: Option<Pid>,
}

impl ExitWatch {
    fn new(child: &Child) -> Self {
        let pid = child.id().and_then(|id| i32::try_from(id).ok()).and_then(Pid::from_raw);
        let waiter = pid.map(|pid| {
            tokio::task::spawn_blocking(move || {
                loop {
                    match waitid(WaitId::Pid(pid), WaitIdOptions::EXITED | WaitIdOptions::NOWAIT) {
                        Err(e) if e == Errno::INTR => continue,
                        _ => return,
                    }
                }
            })
        });
        ExitWatch { waiter, pid }
    }

    /// Resolves once the child has exited (it stays unreaped until [`stop`]).
    async fn exited(&mut self) {
        if let Some(waiter) = self.waiter.as_mut() {
            let _ = waiter.await;
            self.waiter = None;
        }
    }

    /// Signals the child's whole process group.
    fn signal(&self, child: &mut Child, signal: Signal) {
        match self.pid {
            // An error means the group is already empty.
            Some(pid) => drop(kill_process_group(pid, signal)),
            None => drop(child.start_kill()),
        }
    }
}

/// Stops the child: `first` to exit by itself (its input is closed by now), then
/// `SIGTERM` to its group, another grace period, then `SIGKILL` to its group; the group is
/// always killed before the child is reaped, so nothing it started outlives it.
async fn stop(
    child: &mut Child,
    mut watch: ExitWatch,
    first: Duration,
    grace: Duration,
) -> (Option<ExitStatus>, Stopped) {
    let mut stopped = Stopped::Exited;
    if timeout(first, watch.exited()).await.is_err() {
        stopped = Stopped::Terminated;
        watch.signal(child, Signal::TERM);
        if timeout(grace, watch.exited()).await.is_err() {
            stopped = Stopped::Killed;
        }
    }
    // Whatever the group still holds (a launcher's children, a process that ignored SIGTERM).
    watch.signal(child, Signal::KILL);
    let status = child.wait().await.ok();
    (status, stopped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(words: &[&str]) -> String {
        let (program, args) = words.split_first().map_or(("", &[][..]), |(p, a)| (*p, a));
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        default_server_id(OsStr::new(program), &args)
    }

    #[test]
    fn default_server_ids_are_readable_and_stable() {
        assert_eq!(id(&["npx", "-y", "@modelcontextprotocol/server-everything", "stdio"]), "server-everything");
        assert_eq!(id(&["npx", "-y", "@modelcontextprotocol/server-everything@2026.8.31"]), "server-everything");
        assert_eq!(id(&["node", "/opt/example/server-memory/dist/index.js"]), "server-memory");
        assert_eq!(id(&["/usr/bin/python3", "-m", "weather_server"]), "weather_server");
        assert_eq!(id(&["uvx", "--from", "mcp-server-fetch", "mcp-server-fetch"]), "mcp-server-fetch");
        assert_eq!(id(&["/opt/example/bin/files-server"]), "files-server");
        assert_eq!(id(&["docker", "run", "-i", "--rm", "example/server:1"]), "server-1");
        assert_eq!(id(&["node", "main.js"]), "main");
        assert_eq!(id(&["node"]), "server");
        assert_eq!(id(&["./.hidden"]), "hidden");
        assert_eq!(id(&["/opt/example/-srv"]), "srv", "an id never starts with '-' (it would read as a flag)");
        assert_eq!(id(&["sh", "-c", "ex ample; rm"]), "ex-ample--rm");
    }

    /// A server of the same user cannot read the proxy's environment (its signing key) in
    /// /proc once the proxy has guarded its memory (root can, whatever the flag).
    #[cfg(target_os = "linux")]
    #[test]
    fn the_proxys_memory_is_guarded_from_its_servers() {
        use rustix::process::{DumpableBehavior, dumpable_behavior};
        guard_own_memory().unwrap();
        assert_eq!(dumpable_behavior().unwrap(), DumpableBehavior::NotDumpable);
    }

    #[test]
    fn the_server_environment_is_the_base_and_what_is_named() {
        let host = |name: &str| match name {
            "PATH" => Some(OsString::from("/usr/bin")),
            "HOME" => Some(OsString::from("/home/example")),
            "API_TOKEN" => Some(OsString::from("dummy-token")),
            "SECRET_NOT_NAMED" => Some(OsString::from("never")),
            "AGENTK_SIGNING_KEY_HEX" | "agentk_signing_key_file" => Some(OsString::from("never")),
            _ => None,
        };
        let named =
            ["API_TOKEN", "UNSET", "PATH", "AGENTK_SIGNING_KEY_HEX", "agentk_signing_key_file"].map(String::from);
        let (env, missing) = server_env(&host, &named);
        let names: Vec<_> = env.iter().map(|(n, _)| n.to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["PATH", "HOME", "API_TOKEN"]);
        assert_eq!(missing, ["UNSET"]);
        assert!(is_env_name("API_TOKEN"));
        assert!(!is_env_name("A=B") && !is_env_name("") && !is_env_name("A B"));
    }
}
