//! [`KernelBuilder`]: a kernel in three lines, with the defaults a user expects and every part
//! replaceable.
//!
//! ```no_run
//! use agentk_flightlog::kernel::{Kernel, SyscallRequest};
//! use agentk_labels::Syscall;
//!
//! let mut kernel = Kernel::builder().open()?;
//! let decided = kernel.decide(&SyscallRequest::new("agent-1", Syscall::NetworkSend, "https://example.invalid/"))?;
//! assert!(!decided.is_allowed() || decided.receipt.is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Defaults: the built-in `starter` policy; the signer from the environment with the CLI's rules
//! (C4: `AGENTK_SIGNING_KEY_HEX`, else `AGENTK_SIGNING_KEY_FILE` with its permission checks, else
//! the development key, flagged as such; `AGENTK_REQUIRE_SIGNING_KEY=1` refuses it); a new log
//! under `.agentk/runs/` with its salt beside it; sync policy `always` (every batch is on disk
//! before its decisions are returned); a checkpoint every 1,000 events and one at close; the
//! system clock; OS randomness; a ledger of its own (share one with [`KernelBuilder::ledger`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use agentk_capability::{LoadError, SigningIdentity};
use agentk_policy::{Policy, PolicyError, Profile};
use agentk_secrets::SecretBroker;

use crate::file::{FileLog, FileLogError, SyncPolicy};
use crate::host::{self, ReadProblem, RunFileError};
use crate::kernel::{Clock, Entropy, EvidenceSalt, Kernel, KernelError, Parts, RecordSink};
use crate::ledger::SharedLedger;

/// The default interval between signed checkpoints, in events.
pub const DEFAULT_CHECKPOINT_EVERY: u32 = 1000;

/// Why a kernel could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The policy is invalid (or the profile unknown).
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The policy file could not be read.
    #[error("cannot read the policy file: {0}")]
    PolicyFile(#[source] ReadProblem),
    /// The signer could not be loaded from the environment.
    #[error(transparent)]
    Signer(#[from] LoadError),
    /// The OS random source failed.
    #[error("the operating system's random source failed")]
    Randomness(#[source] std::io::Error),
    /// The run's files could not be created or opened.
    #[error(transparent)]
    Run(#[from] RunFileError),
    /// The log to resume could not be opened or did not verify.
    #[error(transparent)]
    Log(#[from] FileLogError),
    /// The kernel could not record its first event, or refused to resume the log.
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// The shared ledger's journal reaches the disk less often than the log would: a power
    /// failure could keep receipts in the log and lose their count.
    #[error("the ledger journal syncs less often than the log; give it the log's sync policy or a stronger one")]
    JournalWeakerThanLog,
    /// A log held by another sink can only be continued with the salt it was started with.
    #[error("resuming a log needs its salt; give it with `KernelBuilder::salt`")]
    SaltRequired,
}

enum PolicyChoice {
    Profile(Profile),
    Text { name: String, text: Arc<str> },
    File(PathBuf),
    Parsed { text: Arc<str>, policy: Arc<Policy> },
}

/// Builds a [`Kernel`]. Start from [`Kernel::builder`].
#[must_use]
pub struct KernelBuilder {
    policy: PolicyChoice,
    signer: Option<Arc<SigningIdentity>>,
    broker: Option<Arc<SecretBroker>>,
    clock: Option<Box<dyn Clock + Send>>,
    entropy: Option<Box<dyn Entropy + Send>>,
    log_dir: PathBuf,
    sync: SyncPolicy,
    checkpoint_every: u32,
    ledger: Option<SharedLedger>,
    origin: String,
    salt: Option<[u8; 32]>,
    log_id: Option<[u8; 32]>,
}

impl std::fmt::Debug for KernelBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KernelBuilder")
            .field("log_dir", &self.log_dir)
            .field("sync", &self.sync)
            .finish_non_exhaustive()
    }
}

impl Default for KernelBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl KernelBuilder {
    /// The defaults (see the module doc).
    pub fn new() -> Self {
        KernelBuilder {
            policy: PolicyChoice::Profile(Profile::Starter),
            signer: None,
            broker: None,
            clock: None,
            entropy: None,
            log_dir: PathBuf::from(host::DEFAULT_LOG_DIR),
            sync: SyncPolicy::Always,
            checkpoint_every: DEFAULT_CHECKPOINT_EVERY,
            ledger: None,
            origin: "agentk".to_owned(),
            salt: None,
            log_id: None,
        }
    }

    /// Decides with a built-in policy.
    pub fn profile(mut self, profile: Profile) -> Self {
        self.policy = PolicyChoice::Profile(profile);
        self
    }

    /// Decides with the policy in `text` (`name` names it in diagnostics). It is validated when
    /// the kernel is built.
    pub fn policy_text(mut self, name: &str, text: &str) -> Self {
        self.policy = PolicyChoice::Text { name: name.to_owned(), text: text.into() };
        self
    }

    /// Decides with the policy in the file at `path` (read when the kernel is built: a regular
    /// UTF-8 file of at most the policy size limit).
    pub fn policy_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.policy = PolicyChoice::File(path.into());
        self
    }

    /// Decides with a policy already parsed from `text` (shared between kernels).
    pub fn policy(mut self, text: Arc<str>, policy: Arc<Policy>) -> Self {
        self.policy = PolicyChoice::Parsed { text, policy };
        self
    }

    /// Signs receipts, handles and checkpoints with `signer` instead of the environment's.
    pub fn signer(mut self, signer: Arc<SigningIdentity>) -> Self {
        self.signer = Some(signer);
        self
    }

    /// Serves `secret.open` through `broker` (without one, every `secret.open` is denied as
    /// `secret-unavailable`).
    pub fn broker(mut self, broker: Arc<SecretBroker>) -> Self {
        self.broker = Some(broker);
        self
    }

    /// [`KernelBuilder::broker`] when `broker` is `Some`; no broker otherwise.
    pub fn broker_opt(mut self, broker: Option<Arc<SecretBroker>>) -> Self {
        self.broker = broker;
        self
    }

    /// Reads time from `clock`.
    pub fn clock(mut self, clock: impl Clock + Send + 'static) -> Self {
        self.clock = Some(Box::new(clock));
        self
    }

    /// Draws receipt and handle ids (and, unless given, the log id and salt) from `entropy`.
    pub fn entropy(mut self, entropy: impl Entropy + Send + 'static) -> Self {
        self.entropy = Some(Box::new(entropy));
        self
    }

    /// Writes new logs in `dir` (created owner-only if missing).
    pub fn log_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.log_dir = dir.into();
        self
    }

    /// When the log file reaches the disk. Whatever the policy, no decision is returned before
    /// its event has been handed to the operating system.
    pub fn sync(mut self, sync: SyncPolicy) -> Self {
        self.sync = sync;
        self
    }

    /// A signed checkpoint after every `events` events (0: only when the log is closed).
    pub fn checkpoint_every(mut self, events: u32) -> Self {
        self.checkpoint_every = events;
        self
    }

    /// Counts grant budgets in `ledger`, shared with other kernels (clone it to share it).
    pub fn ledger(mut self, ledger: SharedLedger) -> Self {
        self.ledger = Some(ledger);
        self
    }

    /// Names where the log was written (a service name, never a user path); recorded in the
    /// genesis event, escaped and bounded.
    pub fn origin(mut self, origin: &str) -> Self {
        origin.clone_into(&mut self.origin);
        self
    }

    /// Keys digests with `salt` instead of a random one (for sinks other than a run file, and
    /// for tests; a run file's salt is written beside it).
    pub fn salt(mut self, salt: [u8; 32]) -> Self {
        self.salt = Some(salt);
        self
    }

    /// Names the log `log_id` instead of a random id.
    pub fn log_id(mut self, log_id: [u8; 32]) -> Self {
        self.log_id = Some(log_id);
        self
    }

    /// Builds the kernel over a new log file (and its salt) in the log directory.
    pub fn open(self) -> Result<Kernel<FileLog>, BuildError> {
        Ok(self.open_run()?.0)
    }

    /// [`KernelBuilder::open`], also answering the new log's path.
    pub fn open_run(self) -> Result<(Kernel<FileLog>, PathBuf), BuildError> {
        let (log_dir, sync) = (self.log_dir.clone(), self.sync);
        self.check_journal(sync)?;
        let (mut parts, salt) = self.parts()?;
        let now = parts.clock.now();
        let run = host::create_run(&log_dir, now, &parts.log_id, salt, sync)?;
        parts.salt = run.salt;
        Ok((Kernel::open(parts, run.log)?, run.path))
    }

    /// Builds the kernel over `sink`, which receives the genesis event at once.
    ///
    /// The digests are keyed with the salt given by [`KernelBuilder::salt`], or a random one;
    /// keep it with [`crate::kernel::EvidenceSalt::expose_for_salt_file`] if the digests are to
    /// be checked later.
    pub fn open_sink<S: RecordSink>(self, sink: S) -> Result<Kernel<S>, BuildError> {
        Ok(Kernel::open(self.parts()?.0, sink)?)
    }

    /// Continues the log at `path` (its salt beside it): locks it, verifies it whole, and
    /// carries over the chain, budgets and spent receipts. The policy and the signer must be
    /// the ones it was started with.
    pub fn resume(self, path: &Path) -> Result<Kernel<FileLog>, BuildError> {
        let salt = host::read_salt(&host::salt_path(path))?;
        let sync = self.sync;
        self.check_journal(sync)?;
        let (mut parts, _) = self.parts()?;
        parts.salt = salt;
        let (log, verified) = FileLog::open_append(path, sync)?;
        Ok(Kernel::resume(parts, log, &verified)?)
    }

    /// Continues a log held by `sink`, which `verified` (with a receipt tally) describes. The
    /// log's salt must be given ([`KernelBuilder::salt`]): a log keyed with two salts could not
    /// be checked.
    pub fn resume_sink<S: RecordSink>(
        self,
        sink: S,
        verified: &crate::verify::ChainVerified,
    ) -> Result<Kernel<S>, BuildError> {
        if self.salt.is_none() {
            return Err(BuildError::SaltRequired);
        }
        Ok(Kernel::resume(self.parts()?.0, sink, verified)?)
    }

    /// Refuses a journalled ledger that syncs less often than a log with `sync` would.
    fn check_journal(&self, sync: SyncPolicy) -> Result<(), BuildError> {
        let window = |policy: SyncPolicy| match policy {
            SyncPolicy::Always => 1,
            SyncPolicy::Batch { events } => u64::from(events.max(1)),
            SyncPolicy::Never => u64::MAX,
        };
        match self.ledger.as_ref().and_then(SharedLedger::journal_sync) {
            Some(journal) if window(journal) > window(sync) => Err(BuildError::JournalWeakerThanLog),
            _ => Ok(()),
        }
    }

    /// The parts, and the salt's bytes (for a run file).
    fn parts(self) -> Result<(Parts, [u8; 32]), BuildError> {
        let (policy_text, policy) = match self.policy {
            PolicyChoice::Profile(profile) => (Arc::from(profile.source()), Arc::new(profile.load()?)),
            PolicyChoice::Text { name, text } => {
                let policy = Policy::parse(&name, &text)?;
                (text, Arc::new(policy))
            }
            PolicyChoice::File(path) => {
                let text =
                    host::read_text(&path, agentk_policy::MAX_POLICY_BYTES as u64).map_err(BuildError::PolicyFile)?;
                let policy = Policy::parse(&path.to_string_lossy(), &text)?;
                (Arc::from(text), Arc::new(policy))
            }
            PolicyChoice::Parsed { text, policy } => (text, policy),
        };
        let signer = match self.signer {
            Some(signer) => signer,
            None => Arc::new(host::signer_from_env()?),
        };
        let mut entropy: Box<dyn Entropy + Send> = match self.entropy {
            Some(entropy) => entropy,
            None => Box::new(host::OsEntropy::new().map_err(BuildError::Randomness)?),
        };
        let log_id = self.log_id.unwrap_or_else(|| draw(&mut *entropy));
        let salt = self.salt.unwrap_or_else(|| draw(&mut *entropy));
        Ok((
            Parts {
                policy_text,
                policy,
                signer,
                broker: self.broker,
                clock: self.clock.unwrap_or_else(|| Box::new(host::SystemClock)),
                entropy,
                ledger: self.ledger.unwrap_or_default(),
                salt: EvidenceSalt::from_bytes(salt),
                log_id,
                origin: self.origin,
                checkpoint_every: self.checkpoint_every,
            },
            salt,
        ))
    }
}

fn draw(entropy: &mut (dyn Entropy + Send)) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    entropy.fill(&mut bytes);
    bytes
}
