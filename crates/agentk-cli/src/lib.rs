//! The `agentk` command line: clap parses, a library function runs with injected output
//! streams and returns the exit code, so every command is tested in-process.
//!
//! # Invariants
//!
//! - Exit codes: 0 ok, allowed or valid; 1 error (including an invalid policy); 2 usage;
//!   3 denied; 4 verification failed. "Could not answer" is never reported as "answered no".
//! - stdout carries results, stderr diagnostics. With `--json` a command prints one JSON object
//!   with a versioned `schema` field, errors included (`agentk.error.v1`); `trace-inspect`
//!   prints JSON Lines (one object per event, then a summary).
//! - Files are read through one bounded reader: missing files, directories, devices, oversized,
//!   binary or non-UTF-8 files are refused with a one-line error, and nothing panics.
//! - The demo decides only: it performs no model, network, secret or `file.patch` side effect,
//!   writes only its own flight log and salt, and uses only `example.invalid` targets and dummy
//!   data (A2).
//!
//! # Non-goals
//!
//! No decision logic lives here; it is all in the library crates.
//!
//! # Example
//!
//! ```
//! let (mut out, mut err) = (Vec::new(), Vec::new());
//! let code = agentk_cli::run(["agentk", "policy-explain", "--syscall", "kernel.reboot", "--target", "now"], &mut out, &mut err);
//! assert_eq!(code, agentk_cli::exit::DENIED);
//! assert!(String::from_utf8(out)?.starts_with("deny by rule `default-deny`"));
//! # Ok::<(), std::string::FromUtf8Error>(())
//! ```
#![forbid(unsafe_code)]

mod approve;
mod commands;
mod demo;
mod input;
mod keys;
mod logcmd;
mod mcpgateway;
mod mcplines;
mod mcppins;
mod mcpproxy;
mod mcpserver;
mod mcpwrap;
mod readiness;
mod replaycmd;
mod secrets;

use std::ffi::OsString;
use std::io::Write;

use clap::{Args, Parser, Subcommand};

use agentk_capability::{LoadError, PublicKey, RotationError, TrustError};
use agentk_labels::{LabelSet, SafeText};
use agentk_policy::PolicyError;

pub use input::{MAX_INPUT_BYTES, ReadProblem};

/// Exit codes, as documented in `--help` and the README.
pub mod exit {
    /// Success: ok, allowed, valid.
    pub const OK: u8 = 0;
    /// An error stopped the command (including an invalid policy).
    pub const ERROR: u8 = 1;
    /// The command line was wrong.
    pub const USAGE: u8 = 2;
    /// The request was denied.
    pub const DENIED: u8 = 3;
    /// Verification failed.
    pub const VERIFY_FAILED: u8 = 4;
}

const AFTER_HELP: &str = "\
Exit codes:
  0  ok, allowed or valid
  1  error (including an invalid policy)
  2  usage error
  3  denied
  4  verification failed";

/// AgentK: a security kernel for AI agents.
#[derive(Debug, Parser)]
#[command(name = "agentk", version, about, after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the poisoned-web-page demo: each step decided and explained, no side effects.
    /// `agentk demo mcp`: a poisoned inbox and a payment, played against a scripted MCP server
    /// directly and through AgentK (default policy: the profile `mcp`), side by side.
    Demo {
        /// Which demo: `mcp` for the MCP one; none for the poisoned web page.
        #[arg(value_enum, value_name = "DEMO")]
        which: Option<DemoKind>,
        /// Print one JSON object (schema `agentk.demo.v1`; `agentk.demo-mcp.v1` for `demo mcp`).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        policy: PolicyArgs,
        /// Where to write the run's flight log (`latest.jsonl`, replaced each run; `demo mcp`
        /// keeps its log in memory).
        #[arg(long, value_name = "DIR", default_value = ".agentk/runs")]
        log_dir: OsString,
    },
    /// Mediate a recorded MCP transcript read on standard input (one JSON-RPC message per line,
    /// both sides interleaved): one `agentk.mcp-decision.v1` JSON line per mediated message,
    /// one line with `error` per bad line; nothing is executed or forwarded. The decisions go
    /// to a new flight log, closed with a signed checkpoint.
    McpLines {
        #[command(flatten)]
        policy: PolicyArgs,
        /// The server's id: targets are `mcp://ID/TOOL` (letters, digits, '-', '_', '.').
        #[arg(long, value_name = "ID", default_value = "server")]
        server_id: String,
        /// Where to write the run's flight log.
        #[arg(long, value_name = "DIR", default_value = ".agentk/runs")]
        log_dir: OsString,
        /// Check descriptors against the operator's pins in this file (read, never written).
        #[arg(long, value_name = "FILE")]
        pins: Option<OsString>,
    },
    /// Stand in front of a stdio MCP server: start COMMAND as the server and mediate every
    /// message between it and the MCP client on standard input and output, under the policy
    /// (default: the built-in profile `mcp`). Each session gets its own flight log, closed
    /// with a signed checkpoint. The server starts with a cleared environment: PATH, HOME,
    /// the locale, TZ and TMPDIR, plus each variable named with `--env`.
    McpProxy {
        #[command(flatten)]
        policy: PolicyArgs,
        /// The server's id: targets are `mcp://ID/TOOL` (default: derived from the command, see
        /// docs/mcp.md).
        #[arg(long, value_name = "ID")]
        server_id: Option<String>,
        /// Where to write the session's flight log.
        #[arg(long, value_name = "DIR", default_value = ".agentk/runs")]
        log_dir: OsString,
        /// The operator's descriptor pins: read at start, new pins recorded (owner-only file).
        #[arg(long, value_name = "FILE", default_value = ".agentk/mcp-pins.json")]
        pins: OsString,
        /// Where a person's approvals (`agentk approve`) are looked up when the policy denies a
        /// call: one signed by the signing key, for that exact call, with a use left, lifts the
        /// denial once.
        #[arg(long, value_name = "DIR", default_value = ".agentk/approvals")]
        approvals_dir: OsString,
        /// Also ask the user, through the client's elicitation (2025-06-18 and later), whether
        /// to allow a call the policy denies, once per exact call. Only for clients that show
        /// elicitations to a person: a client that answers them itself would approve for them.
        #[arg(long)]
        ask_approval: bool,
        /// Pass this variable of the proxy's environment on to the server; repeat for more.
        #[arg(long = "env", value_name = "NAME")]
        env: Vec<String>,
        /// How long a request may wait for the server's answer, in seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
        timeout: u64,
        /// When the log reaches the disk: `always` (every batch is synced before anything of
        /// it is forwarded), or a number of milliseconds (every batch is written before it is
        /// forwarded, so a crash of the proxy loses nothing, and synced within that time, so a
        /// power failure may lose the last that many milliseconds).
        #[arg(long, value_name = "always|MS", default_value = "100", value_parser = parse_sync)]
        sync: SyncWhen,
        /// The server's command and its arguments, after `--`.
        #[arg(last = true, required = true, value_name = "COMMAND")]
        command: Vec<OsString>,
    },
    /// Stand in front of an MCP server for many clients over Streamable HTTP (one endpoint,
    /// `/mcp`): each client session is mediated as `mcp-proxy` mediates one, with its own
    /// flight log, over one policy, one signing key and one grant ledger. Listens on loopback
    /// unless given bearer tokens; checks `Origin`; bounds bodies, sessions and requests in
    /// flight. The upstream is a Streamable HTTP server (`--upstream URL`) or a stdio server
    /// started for each session (`-- COMMAND`). Speaks the 2025 protocol era and 2026-07-28.
    McpGateway {
        /// The address and port to listen on (only loopback without `--token-file`).
        #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8808")]
        listen: String,
        /// Bearer tokens, one per line (owner-only file); each token is one principal. Without
        /// it, the token in AGENTK_GATEWAY_TOKEN, if set.
        #[arg(long, value_name = "FILE")]
        token_file: Option<OsString>,
        /// A web origin (`scheme://host[:port]`) allowed besides loopback ones; repeat for
        /// more. Requests from any other `Origin` are refused (403).
        #[arg(long = "allowed-origin", value_name = "ORIGIN")]
        allowed_origins: Vec<String>,
        #[command(flatten)]
        policy: PolicyArgs,
        /// The server's id: targets are `mcp://ID/TOOL` (default: derived from the command or
        /// the URL's host).
        #[arg(long, value_name = "ID")]
        server_id: Option<String>,
        /// Where each session's flight log is written.
        #[arg(long, value_name = "DIR", default_value = ".agentk/runs")]
        log_dir: OsString,
        /// The operator's descriptor pins (as for `mcp-proxy`).
        #[arg(long, value_name = "FILE", default_value = ".agentk/mcp-pins.json")]
        pins: OsString,
        /// Where a person's approvals are looked up (as for `mcp-proxy`).
        #[arg(long, value_name = "DIR", default_value = ".agentk/approvals")]
        approvals_dir: OsString,
        /// Pass this variable on to a stdio server; repeat for more.
        #[arg(long = "env", value_name = "NAME")]
        env: Vec<String>,
        /// How long a request may wait for the server's answer, in seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
        timeout: u64,
        /// When each log reaches the disk (as for `mcp-proxy`).
        #[arg(long, value_name = "always|MS", default_value = "100", value_parser = parse_sync)]
        sync: SyncWhen,
        /// A journal of grant budgets every session spends from, kept across restarts: created
        /// owner-only when missing, else opened (refused when others may write it, or when it
        /// counts another policy). Without it, budgets are shared by the sessions of this run.
        #[arg(long, value_name = "FILE")]
        ledger: Option<OsString>,
        /// The most client sessions open at once (503 beyond).
        #[arg(long, value_name = "N", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=65_536))]
        max_sessions: u64,
        /// How long a session may stay idle before it is ended, in seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = 1800, value_parser = clap::value_parser!(u64).range(1..=604_800))]
        idle_timeout: u64,
        /// A Streamable HTTP server to stand in front of (`http://HOST:PORT/PATH`).
        #[arg(long, value_name = "URL", conflicts_with = "command")]
        upstream: Option<String>,
        /// Or a stdio server's command and its arguments, after `--` (started per session).
        #[arg(last = true, value_name = "COMMAND")]
        command: Vec<OsString>,
    },
    /// List the MCP tool descriptors pinned per server, and those withheld waiting for an
    /// operator; `--accept SERVER/TOOL` accepts a withheld one.
    McpPins {
        /// The pin file.
        #[arg(long, value_name = "FILE", default_value = ".agentk/mcp-pins.json")]
        pins: OsString,
        /// Accept the descriptor withheld for this tool (`SERVER/TOOL`); repeat for more.
        #[arg(long, value_name = "SERVER/TOOL")]
        accept: Vec<String>,
        /// Print one JSON object (schema `agentk.mcp-pins-report.v1`).
        #[arg(long)]
        json: bool,
    },
    /// Validate a policy file and report every problem with its line and column.
    PolicyCheck {
        /// The policy file.
        file: OsString,
        /// Print one JSON object (schema `agentk.policy-check.v1`).
        #[arg(long)]
        json: bool,
    },
    /// Decide one syscall and explain the decision (exit 0 allowed, 3 denied).
    PolicyExplain {
        #[command(flatten)]
        policy: PolicyArgs,
        /// The syscall kind, e.g. `network.send`. Unknown kinds are decided too: denied.
        #[arg(long)]
        syscall: String,
        /// The target, e.g. `https://api.example.invalid/v1`.
        #[arg(long)]
        target: String,
        /// A label the consumed data carries; repeat, or separate with commas.
        #[arg(long = "label", value_name = "LABEL")]
        labels: Vec<String>,
        /// The requesting agent's id.
        #[arg(long, default_value = "agent")]
        agent: String,
        /// Present the policy's grant that covers this request, if there is one.
        #[arg(long, conflicts_with = "grant")]
        capability: bool,
        /// Present the operator grant with this id.
        #[arg(long, value_name = "ID")]
        grant: Option<String>,
        /// Print one JSON object (schema `agentk.policy-explain.v1`).
        #[arg(long)]
        json: bool,
    },
    /// Write a new signing key (owner-only permissions, never over an existing file).
    Keygen {
        /// Where to write the key.
        #[arg(long, value_name = "PATH")]
        out: OsString,
        /// Print one JSON object (schema `agentk.keygen.v1`).
        #[arg(long)]
        json: bool,
    },
    /// Show the active signing key's public key, fingerprint and source; never private material.
    SigningKey {
        /// Print one JSON object (schema `agentk.signing-key.v1`).
        #[arg(long)]
        json: bool,
    },
    /// Replace a signing key: write the next key and a public manifest signed by both keys.
    KeyRotate {
        /// The current key file.
        #[arg(long, value_name = "PATH")]
        current: OsString,
        /// Where to write the next key (must not exist).
        #[arg(long, value_name = "PATH")]
        next_out: OsString,
        /// Where to write the public rotation manifest (must not exist).
        #[arg(long, value_name = "PATH")]
        manifest: OsString,
        /// Print one JSON object (schema `agentk.key-rotate.v1`).
        #[arg(long)]
        json: bool,
    },
    /// Verify a rotation manifest: payload hash and both signatures (exit 0 verified, 4 not).
    KeyRotateVerify {
        /// The rotation manifest.
        #[arg(long, value_name = "PATH")]
        manifest: OsString,
        #[command(flatten)]
        trust: TrustArgs,
        /// Print one JSON object (schema `agentk.key-rotate-verify.v1`).
        #[arg(long)]
        json: bool,
    },
    /// Verify a capability receipt (exit 0 verified, 4 not). Pin the signer with
    /// --trusted-public-key or --trusted-signers; without either only integrity is checked.
    ReceiptVerify {
        /// The receipt, as JSON (schema `agentk.receipt.v1`).
        #[arg(long, value_name = "PATH")]
        receipt: OsString,
        #[command(flatten)]
        trust: TrustArgs,
        /// Judge expiry at this Unix time instead of now.
        #[arg(long, value_name = "SECONDS")]
        now: Option<u64>,
        /// Print one JSON object (schema `agentk.receipt-verify.v1`).
        #[arg(long)]
        json: bool,
    },
    /// Validate a trusted-signer manifest; reports only its version and counts.
    TrustedSignersCheck {
        /// The manifest.
        #[arg(long, value_name = "PATH")]
        manifest: OsString,
        /// Print one JSON object (schema `agentk.trusted-signers-check.v1`).
        #[arg(long)]
        json: bool,
    },
    /// Validate a secret-reference manifest; reports only its version and counts.
    SecretRefsCheck {
        /// The manifest.
        #[arg(long, value_name = "PATH")]
        manifest: OsString,
        /// Print one JSON object (schema `agentk.secret-refs-check.v1`).
        #[arg(long)]
        json: bool,
    },
    /// Check every reference of a manifest against the env store; reports only counts
    /// (exit 0 when all are available, 4 otherwise).
    SecretRefsStoreCheck {
        /// The manifest.
        #[arg(long, value_name = "PATH")]
        manifest: OsString,
        /// Print one JSON object (schema `agentk.secret-refs-store-check.v1`).
        #[arg(long)]
        json: bool,
    },
    /// Verify a flight log: chain, signed checkpoints, and with --checkpoint consistency with a
    /// checkpoint saved earlier (exit 0 verified, 4 not).
    Verify {
        /// The log (JSONL).
        log: OsString,
        #[command(flatten)]
        source: LogSource,
        /// Print one JSON object (schema `agentk.verify.v1`).
        #[arg(long)]
        json: bool,
    },
    /// Verify a flight log as `verify` does with its signer pinned, and report which key signed
    /// what (exit 0 verified, 4 not). A log signed by the development key fails.
    VerifySignatures {
        /// The log (JSONL).
        log: OsString,
        #[command(flatten)]
        source: LogSource,
        /// Print one JSON object (schema `agentk.verify-signatures.v1`).
        #[arg(long)]
        json: bool,
    },
    /// Print a log's latest signed checkpoint, to keep elsewhere.
    Checkpoint {
        /// The log (JSONL).
        log: OsString,
        #[command(flatten)]
        source: LogSource,
        /// Print it on one line.
        #[arg(long)]
        json: bool,
    },
    /// Review a flight log, redacted: one row per event with inputs as hash evidence, then
    /// denies grouped by rule and events grouped by syscall (the log must verify).
    TraceInspect {
        /// The log (JSONL).
        log: OsString,
        #[command(flatten)]
        source: LogSource,
        /// Print JSON Lines: one `agentk.trace-inspect.v1` object per event, then a summary.
        #[arg(long)]
        json: bool,
    },
    /// Print a proof that event N is in the log's latest signed checkpoint.
    ProveInclusion {
        /// The log (JSONL).
        log: OsString,
        /// The event's index (its `seq`).
        #[arg(long)]
        event: u64,
        #[command(flatten)]
        source: LogSource,
    },
    /// Print a proof that the log's first SIZE events are a prefix of its latest checkpoint.
    ProveConsistency {
        /// The log (JSONL).
        log: OsString,
        /// The older tree size.
        #[arg(long)]
        from: u64,
        #[command(flatten)]
        source: LogSource,
    },
    /// Check a proof from prove-inclusion or prove-consistency (exit 0 verified, 4 not).
    VerifyProof {
        /// The proof file.
        #[arg(long, value_name = "FILE")]
        proof: OsString,
        /// A saved checkpoint the proof must be against.
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<OsString>,
        /// For a consistency proof, the saved older checkpoint the log must have grown from.
        #[arg(long, value_name = "FILE")]
        old_checkpoint: Option<OsString>,
        /// Require the checkpoints' signer to be one of these.
        #[command(flatten)]
        trust: TrustArgs,
        /// Print one JSON object (schema `agentk.verify-proof.v1`).
        #[arg(long)]
        json: bool,
    },
    /// Verify a log, then decide every event again with no side effects under the policy it
    /// was written with (its hash must match); exit 4 if it does not verify or a decision is
    /// not reproduced.
    Replay {
        /// The log (JSONL).
        log: OsString,
        #[command(flatten)]
        policy: PolicyArgs,
        #[command(flatten)]
        source: LogSource,
        /// Print one JSON object (schema `agentk.replay.v1`).
        #[arg(long)]
        json: bool,
    },
    /// Decide every event of a verified log again under another policy and report each
    /// decision that changes, why, and transition counts.
    ForkReplay {
        /// The log (JSONL).
        log: OsString,
        /// The other policy (--policy FILE or --profile NAME).
        #[command(flatten)]
        policy: PolicyArgs,
        #[command(flatten)]
        source: LogSource,
        /// Print one JSON object (schema `agentk.fork-replay.v1`).
        #[arg(long)]
        json: bool,
    },
    /// Replace recorded outputs with hashed overrides and decide every later event again with
    /// the changed labels, under the policy the log was written with.
    ForkReplayBehavior {
        /// The log (JSONL).
        log: OsString,
        /// The override file (schema `agentk.behavior-overrides.v1`: digests, never raw text).
        #[arg(long, value_name = "FILE")]
        behavior: OsString,
        #[command(flatten)]
        policy: PolicyArgs,
        #[command(flatten)]
        source: LogSource,
        /// Print one JSON object (schema `agentk.fork-replay-behavior.v1`).
        #[arg(long)]
        json: bool,
    },
    /// Check that this machine and checkout are fit to run AgentK for real: signer source and
    /// custody, the require flag, run logs ignored by git, no key-like files tracked, the
    /// starter policy (exit 4 if any check fails).
    Readiness {
        /// The checkout to inspect.
        #[arg(long, value_name = "DIR", default_value = ".")]
        dir: OsString,
        /// Fail on warnings too (the development key, the require flag unset).
        #[arg(long)]
        strict: bool,
        /// Print one JSON object (schema `agentk.readiness.v1`).
        #[arg(long)]
        json: bool,
    },
    /// Who did what, what was denied and why, and what grant or approval would have allowed
    /// it, under the policy the log was written with (its hash must match).
    Audit {
        /// The log (JSONL).
        log: OsString,
        #[command(flatten)]
        policy: PolicyArgs,
        #[command(flatten)]
        source: LogSource,
        /// Print one JSON object (schema `agentk.audit.v1`).
        #[arg(long)]
        json: bool,
    },
    /// Check whether a candidate content is an input recorded in the log, using the log's salt
    /// (exit 0 match, 4 no match).
    EvidenceCheck {
        /// The log (JSONL).
        log: OsString,
        /// The event's index (its `seq`).
        #[arg(long)]
        event: u64,
        /// Which of the event's inputs.
        #[arg(long, default_value_t = 0)]
        input: usize,
        /// The candidate content.
        #[arg(long, value_name = "FILE")]
        candidate: OsString,
        /// The log's salt file (default: beside the log, with the extension `salt`).
        #[arg(long, value_name = "FILE")]
        salt: Option<OsString>,
        #[command(flatten)]
        source: LogSource,
        /// Print one JSON object (schema `agentk.evidence-check.v1`).
        #[arg(long)]
        json: bool,
    },
    /// Report a torn last line left by a crash; drop it only with --apply.
    LogRecover {
        /// The log (JSONL).
        log: OsString,
        /// Truncate the torn line (after reporting what is lost).
        #[arg(long)]
        apply: bool,
        /// Print one JSON object (schema `agentk.log-recover.v1`).
        #[arg(long)]
        json: bool,
    },
    /// Print a built-in policy (starter, research, coding, browser, mcp) as TOML.
    PolicyShow {
        /// The built-in policy's name.
        name: String,
        /// Print one JSON object (schema `agentk.policy-show.v1`).
        #[arg(long)]
        json: bool,
    },
    /// Serve MCP on stdio with side-effect-free tools only (M4): `decide` and `explain` a
    /// syscall under the policy (default: the built-in profile `mcp`); nothing is executed,
    /// recorded or signed. Runs until standard input ends.
    McpServer {
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Print an MCP client configuration (Claude Desktop, Cursor, VS Code) with every stdio
    /// server routed through `agentk mcp-proxy`; `--write` replaces the file after a backup.
    /// Already wrapped and HTTP servers are reported and left alone.
    ///
    /// Each server's name becomes its `--server-id` and each of its `env` names an `--env` flag;
    /// --policy, --profile, --log-dir and --pins are passed on to every proxy.
    McpWrap(mcpwrap::WrapArgs),
    /// Approve one exact MCP action the proxy denied (T5): sign, with the signing key, an
    /// approval with a number of uses and an expiry (default one use, 15 minutes), stored
    /// owner-only where the proxy looks. The action is the hex digest in the denial's
    /// `_meta["agentk/denial"].action`; take it from the proxy, never from the agent.
    Approve(approve::ApproveArgs),
}

/// Which signers a verification trusts.
#[derive(Debug, Args)]
struct TrustArgs {
    /// Trust this public key; repeat to trust several.
    #[arg(long = "trusted-public-key", value_name = "HEX")]
    keys: Vec<String>,
    /// Trust the keys of this trusted-signer manifest (windows and revocations apply).
    #[arg(long = "trusted-signers", alias = "trusted-key-manifest", value_name = "PATH", conflicts_with = "keys")]
    signers: Option<OsString>,
}

/// What every command that reads a flight log requires of it before it answers: one rule for
/// all of them (`agentk_flightlog::accept`).
#[derive(Debug, Args)]
struct LogSource {
    /// Accept events after the last signed checkpoint (a log still being written). Without it,
    /// an unsigned tail fails: nothing would stop it being rewritten.
    #[arg(long)]
    allow_unsigned_tail: bool,
    /// A checkpoint saved earlier (`agentk checkpoint`): the log must be the one it signed, and
    /// neither truncated nor rewritten.
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<OsString>,
    /// Require the log's signer to be one of these.
    #[command(flatten)]
    trust: TrustArgs,
}

/// Which policy a command uses: a file, or a built-in profile (default `starter`).
#[derive(Debug, Args)]
struct PolicyArgs {
    /// A policy file.
    #[arg(long, value_name = "FILE", conflicts_with = "profile")]
    policy: Option<OsString>,
    /// A built-in policy: starter, research, coding, browser or mcp.
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,
}

/// The demos besides the default one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum DemoKind {
    /// A poisoned inbox and a payment, directly and through the MCP mediator.
    Mcp,
}

/// When `agentk mcp-proxy` syncs its log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SyncWhen {
    /// Every batch, before anything of it is forwarded.
    Always,
    /// Within this many milliseconds of being written.
    Within(u64),
}

fn parse_sync(text: &str) -> Result<SyncWhen, String> {
    if text == "always" {
        return Ok(SyncWhen::Always);
    }
    match text.parse::<u64>() {
        Ok(ms @ 1..=60_000) => Ok(SyncWhen::Within(ms)),
        _ => Err("use `always` or a number of milliseconds from 1 to 60000".to_owned()),
    }
}

/// Parses `--label` values (each a label or a comma-separated list). A bad value is named
/// through `SafeText`, bounded, never echoed raw.
fn parse_labels(values: &[String]) -> Result<LabelSet, CliError> {
    values.iter().try_fold(LabelSet::EMPTY, |set, value| {
        value
            .parse::<LabelSet>()
            .map(|labels| set | labels)
            .map_err(|e| CliError::BadArgument { flag: "--label", problem: e.to_string() })
    })
}

/// Parses `--trusted-public-key` values. A bad value is never shown: it could be a private key
/// pasted by mistake.
fn parse_public_keys(values: &[String]) -> Result<Vec<PublicKey>, CliError> {
    values
        .iter()
        .map(|value| {
            PublicKey::from_hex(value)
                .map_err(|e| CliError::BadArgument { flag: "--trusted-public-key", problem: e.to_string() })
        })
        .collect()
}

/// What the CLI needs from the machine, injected so tests are hermetic: environment
/// variables, the clock, randomness and standard input.
pub trait Host {
    /// An environment variable.
    fn var(&self, name: &str) -> Option<OsString>;
    /// Seconds since the Unix epoch.
    fn now(&self) -> u64;
    /// Fills `buf` with cryptographically secure random bytes.
    fn random(&self, buf: &mut [u8]) -> Result<(), RandomUnavailable>;
    /// Standard input, for the commands that read a stream (`mcp-lines`, `mcp-server`).
    fn stdin(&self) -> Box<dyn std::io::Read + '_>;

    /// Whether an environment variable is set and non-empty. The value itself is never kept.
    fn var_is_set_nonempty(&self, name: &str) -> bool {
        self.var(name).is_some_and(|value| !value.is_empty())
    }
}

/// The random source could not deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RandomUnavailable;

/// The real machine: the process environment, the system clock, the OS random source.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessHost;

impl Host for ProcessHost {
    fn var(&self, name: &str) -> Option<OsString> {
        std::env::var_os(name)
    }

    fn now(&self) -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
    }

    fn random(&self, buf: &mut [u8]) -> Result<(), RandomUnavailable> {
        getrandom::fill(buf).map_err(|_| RandomUnavailable)
    }

    fn stdin(&self) -> Box<dyn std::io::Read + '_> {
        Box::new(std::io::stdin())
    }

    fn var_is_set_nonempty(&self, name: &str) -> bool {
        use zeroize::Zeroize;
        let Some(value) = std::env::var_os(name) else {
            return false;
        };
        let mut bytes = value.into_encoded_bytes();
        let present = !bytes.is_empty();
        bytes.zeroize();
        present
    }
}

/// What stops a command before it can give its answer.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("cannot read {path}: {problem}")]
    Read { path: SafeText, problem: ReadProblem },
    #[error("{0}")]
    Policy(#[from] PolicyError),
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
    #[error("cannot encode JSON output: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    Signer(#[from] LoadError),
    #[error("trusted-signer manifest is invalid: {0}")]
    Trust(#[from] TrustError),
    #[error("{0}")]
    Rotation(#[from] RotationError),
    #[error("cannot write {path}: {}", describe_write(*kind))]
    Write { path: SafeText, kind: std::io::ErrorKind },
    #[error("the operating system's random source failed")]
    Randomness,
    #[error("{0}")]
    Secrets(#[from] agentk_secrets::SecretsError),
    #[error("the demo's flight log did not verify")]
    DemoLogUnverified,
    #[error("{0}")]
    Kernel(#[from] agentk_flightlog::kernel::KernelError),
    #[error("{0}")]
    Build(#[source] agentk_flightlog::builder::BuildError),
    #[error("{0}")]
    Proof(agentk_flightlog::merkle::ProofError),
    #[error("the log was written under another policy than the one given")]
    AuditPolicyMismatch,
    #[error("behavior overrides are invalid: {0}")]
    Overrides(#[from] agentk_replay::overrides::OverridesError),
    #[error("{0}")]
    Replay(agentk_replay::ReplayError),
    #[error("the log has no signed checkpoint yet")]
    NoCheckpoint,
    #[error("the log is locked by a running writer")]
    LogLocked,
    #[error("cannot read standard input: {0}")]
    Input(std::io::Error),
    #[error("mcp-proxy: {0}")]
    Proxy(#[from] agentk_mcp::stdio::ProxyError),
    #[error("{0}")]
    Pins(#[from] agentk_mcp::pins::PinError),
    #[error("{0}")]
    McpWrap(#[from] mcpwrap::WrapError),
    #[error("invalid value for `{flag}`: {problem}")]
    BadArgument { flag: &'static str, problem: String },
    #[error("secret-reference manifest is invalid: {} problem(s)", .0.len())]
    SecretManifest(Vec<agentk_secrets::ManifestProblem>),
    #[error("cannot store the approval in {path}: {problem}")]
    ApprovalStore { path: SafeText, problem: agentk_mcp::approval::ApprovalError },
}

fn describe_write(kind: std::io::ErrorKind) -> String {
    match kind {
        std::io::ErrorKind::AlreadyExists => "it already exists, and keys are never overwritten".to_owned(),
        std::io::ErrorKind::NotFound => "its directory does not exist".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        other => other.to_string(),
    }
}

impl CliError {
    fn help(&self) -> Option<String> {
        match self {
            CliError::Read { problem, .. } => problem.help(),
            CliError::Policy(PolicyError::UnknownProfile { .. }) => {
                Some(format!("built-in policies are: {}", agentk_policy::Profile::ALL.map(|p| p.name()).join(", ")))
            }
            CliError::Policy(PolicyError::Invalid { .. }) => {
                Some("run `agentk policy-check FILE` to see every problem".to_owned())
            }
            CliError::Signer(e) => Some(e.help().to_owned()),
            CliError::AuditPolicyMismatch => {
                Some("pass the policy the log was written with (--policy FILE or --profile NAME)".to_owned())
            }
            CliError::Write { kind: std::io::ErrorKind::AlreadyExists, .. } => {
                Some("choose a new path; move the old file away yourself if you mean to replace it".to_owned())
            }
            CliError::McpWrap(e) => e.help(),
            _ => None,
        }
    }
}

/// Runs `agentk` with `args` (the first is the program name) on the real machine, writing
/// results to `out` and diagnostics to `err`. Returns the exit code; never panics on any input.
pub fn run<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    run_with(args, &ProcessHost, out, err)
}

/// A stream whose reader may go away (`agentk ... | head`): once a write finds the pipe closed,
/// this and every later write succeed without output, so the command finishes quietly with
/// the exit code of its answer (no panic, no error message about the pipe).
struct ClosablePipe<'a> {
    inner: &'a mut dyn Write,
    closed: bool,
}

impl Write for ClosablePipe<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        match self.inner.write(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(buf.len())
            }
            other => other,
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.closed {
            return Ok(());
        }
        match self.inner.flush() {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            other => other,
        }
    }
}

/// [`run`] with the machine injected.
pub fn run_with<I, T>(args: I, host: &dyn Host, out: &mut dyn Write, err: &mut dyn Write) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let (mut out, mut err) = (ClosablePipe { inner: out, closed: false }, ClosablePipe { inner: err, closed: false });
    run_streams(args, host, &mut out, &mut err)
}

fn run_streams<I, T>(args: I, host: &dyn Host, out: &mut dyn Write, err: &mut dyn Write) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            let informational = matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion);
            let text = e.render().to_string();
            return if informational {
                let _ = write!(out, "{text}");
                exit::OK
            } else {
                // House style: every human error line starts `agentk: error:`.
                let text = text.strip_prefix("error: ").map_or(text.clone(), |rest| format!("agentk: error: {rest}"));
                let _ = write!(err, "{text}");
                exit::USAGE
            };
        }
    };
    let json = cli.command.json();
    match commands::dispatch(cli.command, host, out, err) {
        Ok(code) => code,
        Err(e) => {
            report(&e, json, out, err);
            match e {
                CliError::BadArgument { .. } => exit::USAGE,
                _ => exit::ERROR,
            }
        }
    }
}

impl Command {
    fn json(&self) -> bool {
        match self {
            Command::Demo { json, .. }
            | Command::PolicyCheck { json, .. }
            | Command::PolicyExplain { json, .. }
            | Command::PolicyShow { json, .. }
            | Command::Keygen { json, .. }
            | Command::SigningKey { json }
            | Command::KeyRotate { json, .. }
            | Command::KeyRotateVerify { json, .. }
            | Command::ReceiptVerify { json, .. }
            | Command::TrustedSignersCheck { json, .. }
            | Command::SecretRefsCheck { json, .. }
            | Command::SecretRefsStoreCheck { json, .. }
            | Command::Verify { json, .. }
            | Command::VerifySignatures { json, .. }
            | Command::Checkpoint { json, .. }
            | Command::LogRecover { json, .. }
            | Command::TraceInspect { json, .. }
            | Command::VerifyProof { json, .. }
            | Command::Audit { json, .. }
            | Command::Replay { json, .. }
            | Command::Readiness { json, .. }
            | Command::ForkReplay { json, .. }
            | Command::ForkReplayBehavior { json, .. }
            | Command::McpPins { json, .. }
            | Command::EvidenceCheck { json, .. } => *json,
            Command::McpLines { .. } => true,
            Command::McpWrap(_) | Command::Approve(_) => false,
            Command::ProveInclusion { .. }
            | Command::ProveConsistency { .. }
            | Command::McpServer { .. }
            | Command::McpProxy { .. }
            | Command::McpGateway { .. } => false,
        }
    }
}

/// Writes an error: `agentk: error: ...` and an optional help line on stderr, or one
/// `agentk.error.v1` object on stdout with `--json`.
fn report(error: &CliError, json: bool, out: &mut dyn Write, err: &mut dyn Write) {
    let help = error.help();
    if json {
        let mut report = agentk_replay::schema::ErrorReport::new(error.to_string());
        report.help = help;
        if let CliError::SecretManifest(problems) = error {
            report.problems = problems.iter().map(ToString::to_string).collect();
        }
        let _ = writeln!(out, "{}", serde_json::to_string(&report).unwrap_or_default());
        return;
    }
    if let CliError::Policy(PolicyError::Invalid { source_name, diagnostics }) = error {
        let _ = commands::write_diagnostics(source_name.as_str(), diagnostics, err);
    }
    let _ = writeln!(err, "agentk: error: {error}");
    if let CliError::SecretManifest(problems) = error {
        let _ = secrets::write_problems(problems, err);
    }
    if let Some(help) = help {
        let _ = writeln!(err, "  help: {help}");
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// clap's own consistency checks over every command and argument.
    #[test]
    fn command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
