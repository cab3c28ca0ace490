//! Signed, scoped, expiring, use-counted human approvals of one exact action (guarantee **T5**).
//!
//! When the mediator denies a `tools/call` that a person may allow, the denial names the action
//! by its [`ActionDigest`]: a hash of the server id, the tool name and the arguments. The
//! operator (a human at a terminal, never the agent) runs `agentk approve --action HEX`, which
//! [`mint`]s an [`Approval`] signed with the operator's key and stores it in the approvals
//! directory. When the agent makes the same call again, the session asks an
//! [`ApprovalSource`] (in production a [`Dir`]) to [`take`](ApprovalSource::take) one use; it
//! records a `human.approve` event and lets the call through only on a [`Granted`].
//!
//! # Threat model
//!
//! - **The agent cannot mint.** An approval is an Ed25519 signature, under its own
//!   domain-separation context (`agentk human approval v1`), over the one fixed-layout encoding of
//!   version, action, uses, issue time, expiry, nonce and signer. The agent holds no key; the
//!   proxy accepts only signatures by the keys it is given ([`TrustedSigners`], in practice the
//!   operator's public key), and refuses the public development key unless told otherwise
//!   ([`Dir::accept_development_key`]), because anyone can sign with that one.
//! - **The digest binds the exact action.** Server id, tool name and the canonical JSON of the
//!   arguments (object keys sorted, so key order does not matter) are length-prefixed and
//!   hashed; any other server, tool or argument value is another action, and an approval for it
//!   is not used.
//! - **Replay of a used approval fails.** Use *n* is spent by creating the marker file
//!   `NAME.use-n` with `O_EXCL` and syncing the directory before the grant is returned, so two
//!   proxies over one directory, or one proxy restarted, never spend more than the signed number
//!   of uses; a use that cannot be recorded is refused (fail closed). An approval is valid only
//!   from its issue time until its expiry (at most [`MAX_TTL_SECONDS`]).
//! - **The store is hostile input.** Files are size-capped before they are read, parsed strictly
//!   (unknown fields, non-canonical text and out-of-range values are refused), and only names of
//!   the form `ACTION.ID.approval` are read, where `ID` is the digest of the signed content (so a
//!   copy under another name is refused and cannot earn new uses). Symbolic links and other
//!   non-regular files are refused, the directory itself must not be a symbolic link nor writable
//!   by other users, and the entries examined per look-up are capped. A [`Refused`] says why in a
//!   fixed sentence, never with file contents.
//! - An approval that is refused for any reason is never spent.
//!
//! # What it does not do
//!
//! - It does not show the operator what the action is: the digest is opaque. The operator must
//!   take it from the proxy's denial or flight log, never from the agent, which could ask for
//!   approval of a digest of some other call.
//! - It does not defend against a process that can write to the approvals directory as the
//!   operator's user: such a process cannot mint or widen an approval, but it can delete use
//!   markers (giving an unexpired approval its spent uses back) or delete approvals.
//! - It binds no session or agent: an approval serves whichever trusting proxy sees the action
//!   first, until it is used up or expires.
//! - It reads the proxy's clock as given and allows no skew; it does not decide which calls
//!   need approval nor record the `human.approve` event (the session does both).
//!
//! # Example
//!
//! ```
//! use agentk_capability::{SignerSource, SigningIdentity, TrustedSigners};
//! use agentk_mcp::approval::{ActionDigest, ApprovalSource, Dir, mint};
//!
//! let operator = SigningIdentity::from_secret(&[0x11; 32], SignerSource::Embedded); // a test key
//! let args = serde_json::json!({"to": "shop.example.invalid", "amount": 12});
//! let action = ActionDigest::of("payments", "send_payment", Some(&args));
//! let now = 1_767_225_600;
//! let approval = mint(&operator, &action, 1, 900, now, [7; 16])?;
//!
//! let dir = std::env::temp_dir().join(format!("agentk-approval-doc-{}", std::process::id()));
//! approval.store(&dir)?;
//! let mut source = Dir::open(&dir, TrustedSigners::from_keys([operator.public_key()]));
//! let granted = source.take(&action, now + 1).expect("an approval names it")?;
//! assert_eq!(granted.uses_left, 0);
//! assert!(source.take(&action, now + 2).expect("it is still there").is_err()); // used up
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use agentk_capability::{PublicKey, SignContext, Signature, SigningIdentity, TrustedSigners, decode_hex, encode_hex};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The blake3 derive-key context of [`ActionDigest`].
pub const ACTION_CONTEXT: &str = "agentk mcp action v1";
/// The `schema` of an approval file.
pub const APPROVAL_SCHEMA: &str = "agentk.approval.v1";
/// The version byte of the signed encoding.
pub const APPROVAL_VERSION: u8 = 1;
/// The largest approval file read, in bytes (a canonical one is about 560).
pub const MAX_APPROVAL_BYTES: usize = 4096;
/// The most uses one approval may carry.
pub const MAX_USES: u32 = 1000;
/// The longest an approval may live: seven days.
pub const MAX_TTL_SECONDS: u64 = 7 * 24 * 60 * 60;
/// How long an approval lives unless the operator says otherwise: fifteen minutes.
pub const DEFAULT_TTL_SECONDS: u64 = 15 * 60;
/// The most directory entries one look-up examines; a directory holding more is refused
/// (use markers count: a thousand-use approval makes a thousand of them).
pub const MAX_DIR_ENTRIES: usize = 65_536;
/// The most approvals of one action one look-up reads (in name order); more are not read.
pub const MAX_APPROVALS_PER_ACTION: usize = 64;
/// Where `agentk approve` stores approvals and the proxy looks for them, unless told otherwise.
pub const DEFAULT_DIR: &str = ".agentk/approvals";

/// The length of the signed encoding: version, action, uses, issue time, expiry, nonce, signer.
const SIGNED_LEN: usize = 1 + 32 + 4 + 8 + 8 + 16 + 32;

/// The digest of one exact action: blake3 (derive-key context [`ACTION_CONTEXT`]) over the
/// length-prefixed (u64, little-endian) server id, tool name and canonical JSON of the arguments
/// (compact, object keys sorted by their bytes; absent arguments are `{}`).
///
/// It is independent of any log's salt, so an approval written after a denial in one session
/// still names the action after a proxy restart.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ActionDigest(pub [u8; 32]);

impl ActionDigest {
    /// The digest of calling `tool` on `server_id` with `arguments`.
    pub fn of(server_id: &str, tool: &str, arguments: Option<&Value>) -> Self {
        let mut canonical = String::new();
        match arguments {
            Some(value) => write_canonical(value, &mut canonical),
            None => canonical.push_str("{}"),
        }
        let mut hasher = blake3::Hasher::new_derive_key(ACTION_CONTEXT);
        for part in [server_id.as_bytes(), tool.as_bytes(), canonical.as_bytes()] {
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        ActionDigest(*hasher.finalize().as_bytes())
    }

    /// 64 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        encode_hex(&self.0)
    }

    /// Parses 64 lowercase hex characters (uppercase is refused: one text, one value).
    pub fn from_hex(text: &str) -> Result<Self, ApprovalError> {
        decode_hex::<32>(text).map(ActionDigest).map_err(|_| ApprovalError::BadActionHex)
    }
}

impl fmt::Display for ActionDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Compact JSON with every object's keys sorted, whatever order the map keeps. Scalars are
/// written as serde_json writes them. The depth is that of a parsed value: serde_json's
/// parser refuses nesting deeper than 128.
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Where the session looks for approvals; implemented by [`Dir`] and by test doubles.
pub trait ApprovalSource {
    /// `None`: no approval names this action. `Some(Ok(granted))`: a valid approval with a use
    /// left; one use was spent durably before returning. `Some(Err(refused))`: approvals name
    /// it, but none is usable, and why (tampered, expired, not yet valid, foreign-signed, used
    /// up, malformed); the reason is a fixed sentence, never file contents.
    fn take(&mut self, action: &ActionDigest, now: u64) -> Option<Result<Granted, Refused>>;
}

/// One use of a valid approval, spent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Granted {
    /// The digest of the signed approval (its id, the `ID` of its file name).
    pub approval: [u8; 32],
    /// The signer's short fingerprint (`ak1:` and 16 hex characters).
    pub signer: String,
    /// How many uses are left after this one.
    pub uses_left: u32,
    /// The approval's expiry (Unix seconds, exclusive).
    pub not_after: u64,
    /// Which use this was (1 for the first).
    pub use_number: u32,
}

/// Why no approval could be used. Its `Display` is a fixed sentence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused {
    /// The reason.
    pub kind: RefusalKind,
}

impl Refused {
    fn new(kind: RefusalKind) -> Self {
        Refused { kind }
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.sentence())
    }
}

impl std::error::Error for Refused {}

/// Why an approval was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefusalKind {
    /// Every use is spent.
    UsedUp,
    /// At or after its expiry.
    Expired,
    /// Before its issue time.
    NotYetValid,
    /// Signed by the public development key, which the source does not accept.
    DevelopmentKey,
    /// Signed by a key that is not trusted (or revoked, or outside its window).
    ForeignSigner,
    /// It names another action.
    WrongAction,
    /// The signature does not verify, or the file's name does not match its content.
    Tampered,
    /// Not a valid approval file (syntax, fields, values, canonical form).
    Malformed,
    /// Larger than [`MAX_APPROVAL_BYTES`].
    Oversized,
    /// A symbolic link or another kind of non-regular file.
    NotRegularFile,
    /// The file could not be read.
    Unreadable,
    /// The use could not be recorded durably, so it was not granted.
    UseNotRecorded,
    /// The approvals directory is a symbolic link, not a directory, or writable by others.
    UnsafeDirectory,
    /// The approvals directory could not be read.
    DirectoryUnreadable,
    /// The approvals directory holds more than [`MAX_DIR_ENTRIES`] entries.
    DirectoryTooLarge,
}

impl RefusalKind {
    /// The fixed sentence shown for it.
    pub fn sentence(self) -> &'static str {
        match self {
            RefusalKind::UsedUp => "the approval's uses are all spent",
            RefusalKind::Expired => "the approval has expired",
            RefusalKind::NotYetValid => "the approval is not valid yet",
            RefusalKind::DevelopmentKey => {
                "the approval is signed by the public development key, which anyone can sign with"
            }
            RefusalKind::ForeignSigner => "the approval is signed by a key that is not trusted",
            RefusalKind::WrongAction => "the approval names another action",
            RefusalKind::Tampered => "the approval's signature verification failed",
            RefusalKind::Malformed => "the approval file is malformed",
            RefusalKind::Oversized => "the approval file is larger than an approval can be",
            RefusalKind::NotRegularFile => "the approval file is not a regular file (symbolic links are not followed)",
            RefusalKind::Unreadable => "the approval file could not be read",
            RefusalKind::UseNotRecorded => "the use could not be recorded, so it was not granted",
            RefusalKind::UnsafeDirectory => {
                "the approvals directory is a symbolic link, not a directory, or writable by other users"
            }
            RefusalKind::DirectoryUnreadable => "the approvals directory could not be read",
            RefusalKind::DirectoryTooLarge => "the approvals directory holds more entries than are examined",
        }
    }

    /// A short stable code for logs and JSON (`used-up`, `expired`, …).
    pub fn code(self) -> &'static str {
        match self {
            RefusalKind::UsedUp => "used-up",
            RefusalKind::Expired => "expired",
            RefusalKind::NotYetValid => "not-yet-valid",
            RefusalKind::DevelopmentKey => "development-key",
            RefusalKind::ForeignSigner => "foreign-signer",
            RefusalKind::WrongAction => "wrong-action",
            RefusalKind::Tampered => "tampered",
            RefusalKind::Malformed => "malformed",
            RefusalKind::Oversized => "oversized",
            RefusalKind::NotRegularFile => "not-regular-file",
            RefusalKind::Unreadable => "unreadable",
            RefusalKind::UseNotRecorded => "use-not-recorded",
            RefusalKind::UnsafeDirectory => "unsafe-directory",
            RefusalKind::DirectoryUnreadable => "directory-unreadable",
            RefusalKind::DirectoryTooLarge => "directory-too-large",
        }
    }

    /// When several approvals of one action are refused, the reason reported is the one closest
    /// to a valid approval (lowest rank): "used up" says more than "malformed".
    fn rank(self) -> u8 {
        match self {
            RefusalKind::UsedUp => 0,
            RefusalKind::Expired => 1,
            RefusalKind::NotYetValid => 2,
            RefusalKind::DevelopmentKey => 3,
            RefusalKind::ForeignSigner => 4,
            RefusalKind::WrongAction => 5,
            RefusalKind::Tampered => 6,
            RefusalKind::Malformed => 7,
            RefusalKind::Oversized => 8,
            RefusalKind::NotRegularFile => 9,
            RefusalKind::Unreadable => 10,
            RefusalKind::UseNotRecorded => 11,
            RefusalKind::UnsafeDirectory => 12,
            RefusalKind::DirectoryUnreadable => 13,
            RefusalKind::DirectoryTooLarge => 14,
        }
    }
}

impl fmt::Display for RefusalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.sentence())
    }
}

/// An approval could not be made, parsed or stored. Messages never repeat file contents.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApprovalError {
    /// The action digest is not 64 lowercase hex characters.
    #[error("the action digest is not 64 lowercase hex characters")]
    BadActionHex,
    /// The file is larger than [`MAX_APPROVAL_BYTES`].
    #[error("the approval file is larger than {max} bytes")]
    TooLarge {
        /// The limit.
        max: usize,
    },
    /// The file does not hold an approval.
    #[error("the approval file is malformed: {problem}")]
    Malformed {
        /// What is wrong, in a fixed phrase.
        problem: &'static str,
    },
    /// The `schema` is not [`APPROVAL_SCHEMA`].
    #[error("the approval file has an unsupported schema")]
    UnsupportedSchema,
    /// The text is not exactly the one encoding of its values.
    #[error("the approval file is not in its canonical form")]
    NotCanonical,
    /// Zero uses.
    #[error("an approval needs at least one use")]
    ZeroUses,
    /// More than [`MAX_USES`] uses.
    #[error("an approval allows at most {max} uses")]
    TooManyUses {
        /// The limit.
        max: u32,
    },
    /// A lifetime of zero, over [`MAX_TTL_SECONDS`], or past the end of time.
    #[error("an approval lives from 1 to {max} seconds")]
    TtlOutOfRange {
        /// The limit.
        max: u64,
    },
    /// The directory is a symbolic link, not a directory, or writable by other users.
    #[error("the approvals directory is a symbolic link, not a directory, or writable by other users")]
    UnsafeDirectory,
    /// The same approval is stored already.
    #[error("this approval is stored already")]
    AlreadyStored,
    /// Writing failed.
    #[error("writing failed: {kind}")]
    Write {
        /// The I/O error's kind.
        kind: io::ErrorKind,
    },
}

/// A signed approval of one action. Fields are private: only [`mint`] and [`Approval::parse`]
/// make one, so its values are always in range (its signature is checked by
/// [`Approval::verify`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Approval {
    action: ActionDigest,
    uses: u32,
    issued_at: u64,
    not_after: u64,
    nonce: [u8; 16],
    signer: PublicKey,
    signature: Signature,
}

/// The file format: one line of JSON with exactly these fields in this order.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApprovalFile {
    schema: String,
    action: String,
    uses: u32,
    issued_at: u64,
    not_after: u64,
    nonce: String,
    signer: String,
    signature: String,
}

/// Signs an approval of `action` for `uses` uses, valid from `now` for `ttl_seconds`, with a
/// fresh `nonce` (16 random bytes: two approvals of the same action and terms stay distinct).
pub fn mint(
    signer: &SigningIdentity,
    action: &ActionDigest,
    uses: u32,
    ttl_seconds: u64,
    now: u64,
    nonce: [u8; 16],
) -> Result<Approval, ApprovalError> {
    check_uses(uses)?;
    let not_after = check_ttl(now, ttl_seconds)?;
    let signer_key = signer.public_key();
    let bytes = signed_bytes(action, uses, now, not_after, &nonce, &signer_key);
    let (_, signature) = signer.sign_in_context(SignContext::HumanApproval, &bytes);
    Ok(Approval { action: *action, uses, issued_at: now, not_after, nonce, signer: signer_key, signature })
}

fn check_uses(uses: u32) -> Result<(), ApprovalError> {
    match uses {
        0 => Err(ApprovalError::ZeroUses),
        1..=MAX_USES => Ok(()),
        _ => Err(ApprovalError::TooManyUses { max: MAX_USES }),
    }
}

/// The expiry, if `ttl` is a valid lifetime from `issued_at`.
fn check_ttl(issued_at: u64, ttl: u64) -> Result<u64, ApprovalError> {
    if !(1..=MAX_TTL_SECONDS).contains(&ttl) {
        return Err(ApprovalError::TtlOutOfRange { max: MAX_TTL_SECONDS });
    }
    issued_at.checked_add(ttl).ok_or(ApprovalError::TtlOutOfRange { max: MAX_TTL_SECONDS })
}

/// The one encoding that is signed: every field has a fixed width, so it is unambiguous.
fn signed_bytes(
    action: &ActionDigest,
    uses: u32,
    issued_at: u64,
    not_after: u64,
    nonce: &[u8; 16],
    signer: &PublicKey,
) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(SIGNED_LEN);
    bytes.push(APPROVAL_VERSION);
    bytes.extend_from_slice(&action.0);
    bytes.extend_from_slice(&uses.to_le_bytes());
    bytes.extend_from_slice(&issued_at.to_le_bytes());
    bytes.extend_from_slice(&not_after.to_le_bytes());
    bytes.extend_from_slice(nonce);
    bytes.extend_from_slice(&signer.to_bytes());
    bytes
}

impl Approval {
    /// The action it approves.
    pub fn action(&self) -> &ActionDigest {
        &self.action
    }

    /// How many uses it carries in all.
    pub fn uses(&self) -> u32 {
        self.uses
    }

    /// When it was issued (Unix seconds; valid from then, inclusive).
    pub fn issued_at(&self) -> u64 {
        self.issued_at
    }

    /// When it expires (Unix seconds, exclusive).
    pub fn not_after(&self) -> u64 {
        self.not_after
    }

    /// The key that signed it.
    pub fn signer(&self) -> PublicKey {
        self.signer
    }

    fn signed(&self) -> Vec<u8> {
        signed_bytes(&self.action, self.uses, self.issued_at, self.not_after, &self.nonce, &self.signer)
    }

    /// Its id: the digest that is signed (blake3 under the approval context over the signed
    /// encoding). Use markers and the file name hang off it.
    pub fn id(&self) -> [u8; 32] {
        blake3::derive_key(SignContext::HumanApproval.name(), &self.signed())
    }

    /// The name it is stored under: `ACTION.ID.approval` (both 64 lowercase hex).
    pub fn file_name(&self) -> String {
        format!("{}.{}.approval", self.action.to_hex(), encode_hex(&self.id()))
    }

    /// The file text: one line of JSON and a newline, the only text [`Approval::parse`] accepts.
    pub fn to_file_text(&self) -> String {
        let file = ApprovalFile {
            schema: APPROVAL_SCHEMA.to_owned(),
            action: self.action.to_hex(),
            uses: self.uses,
            issued_at: self.issued_at,
            not_after: self.not_after,
            nonce: encode_hex(&self.nonce),
            signer: self.signer.to_hex(),
            signature: self.signature.to_hex(),
        };
        // INVARIANT: a struct of strings and integers always serializes.
        let mut text = serde_json::to_string(&file).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Parses approval file text: at most [`MAX_APPROVAL_BYTES`], the fields of
    /// [`APPROVAL_SCHEMA`] and no others, values in range, and exactly the text
    /// [`Approval::to_file_text`] gives. The signature is not checked here.
    pub fn parse(text: &str) -> Result<Approval, ApprovalError> {
        // SECURITY: the size is checked before anything is parsed, and parser messages (which
        // can quote the input) are replaced by fixed phrases.
        if text.len() > MAX_APPROVAL_BYTES {
            return Err(ApprovalError::TooLarge { max: MAX_APPROVAL_BYTES });
        }
        let file: ApprovalFile = serde_json::from_str(text)
            .map_err(|_| ApprovalError::Malformed { problem: "not a JSON object with the approval's fields" })?;
        if file.schema != APPROVAL_SCHEMA {
            return Err(ApprovalError::UnsupportedSchema);
        }
        let malformed = |problem| ApprovalError::Malformed { problem };
        let action =
            ActionDigest::from_hex(&file.action).map_err(|_| malformed("`action` is not 64 hex characters"))?;
        let nonce = decode_hex::<16>(&file.nonce).map_err(|_| malformed("`nonce` is not 32 hex characters"))?;
        let signer = PublicKey::from_hex(&file.signer).map_err(|_| malformed("`signer` is not a public key"))?;
        let signature =
            Signature::from_hex(&file.signature).map_err(|_| malformed("`signature` is not 128 hex characters"))?;
        check_uses(file.uses)?;
        let ttl = file.not_after.saturating_sub(file.issued_at);
        check_ttl(file.issued_at, ttl)?;
        let approval = Approval {
            action,
            uses: file.uses,
            issued_at: file.issued_at,
            not_after: file.not_after,
            nonce,
            signer,
            signature,
        };
        if approval.to_file_text() != text {
            return Err(ApprovalError::NotCanonical);
        }
        Ok(approval)
    }

    /// Whether this approval lets `action` through at `now` for a holder of `trusted`: signed by
    /// a trusted key (over its whole validity), the signature verifies, it names `action`, and
    /// `now` is in `[issued_at, not_after)`. Uses are not counted here (see [`Dir`]).
    pub fn verify(&self, trusted: &TrustedSigners, action: &ActionDigest, now: u64) -> Result<(), Refused> {
        if trusted.check_span(&self.signer, self.issued_at, self.not_after).is_err() {
            return Err(Refused::new(RefusalKind::ForeignSigner));
        }
        if !self.signer.verify_in_context(SignContext::HumanApproval, &self.signed(), &self.signature) {
            return Err(Refused::new(RefusalKind::Tampered));
        }
        if self.action != *action {
            return Err(Refused::new(RefusalKind::WrongAction));
        }
        if now < self.issued_at {
            return Err(Refused::new(RefusalKind::NotYetValid));
        }
        if now >= self.not_after {
            return Err(Refused::new(RefusalKind::Expired));
        }
        Ok(())
    }

    /// Stores the approval in `dir` (created owner-only, with its missing parents, if need be)
    /// as an owner-only file named [`Approval::file_name`]: written to a temporary file, synced,
    /// then linked into place, which fails rather than replace an existing file. Answers the
    /// file's path.
    pub fn store(&self, dir: &Path) -> Result<PathBuf, ApprovalError> {
        let write = |e: io::Error| ApprovalError::Write { kind: e.kind() };
        match std::fs::symlink_metadata(dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                agentk_flightlog::host::create_private_dir(dir).map_err(write)?;
            }
            Err(e) => return Err(write(e)),
            Ok(meta) => {
                if !meta.file_type().is_dir() || loose(&meta) {
                    return Err(ApprovalError::UnsafeDirectory);
                }
            }
        }
        let name = self.file_name();
        let path = dir.join(&name);
        let temporary = dir.join(format!(".{name}.tmp"));
        // A temporary file a crash left behind holds (at most) this very approval.
        match std::fs::remove_file(&temporary) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(write(e)),
        }
        let written = (|| {
            let mut file = agentk_flightlog::host::create_new(&temporary, 0o600)?;
            file.write_all(self.to_file_text().as_bytes())?;
            file.sync_all()
        })();
        let linked = written.and_then(|()| std::fs::hard_link(&temporary, &path));
        let _ = std::fs::remove_file(&temporary);
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(ApprovalError::AlreadyStored),
            Err(e) => return Err(write(e)),
        }
        sync_dir(dir).map_err(write)?;
        Ok(path)
    }
}

/// Whether group or others may write to what `meta` describes.
fn loose(meta: &std::fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.permissions().mode() & 0o022 != 0
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        false
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The approvals in a directory, checked against trusted keys, with uses counted in marker
/// files beside them (`NAME.use-N`, created exclusively), so any number of `Dir`s over one
/// directory, in one process or several, spend at most the signed number of uses in total.
#[derive(Debug)]
pub struct Dir {
    path: PathBuf,
    trusted: TrustedSigners,
    accept_development_key: bool,
}

impl Dir {
    /// Approvals in `path`, accepted when signed by one of `trusted`. The directory need not
    /// exist yet (then no approval names anything); it is checked on every look-up.
    pub fn open(path: impl Into<PathBuf>, trusted: TrustedSigners) -> Dir {
        Dir { path: path.into(), trusted, accept_development_key: false }
    }

    /// Whether approvals signed by the public development key are accepted when that key is
    /// trusted (demos only: anyone can sign with it). Refused by default.
    #[must_use]
    pub fn accept_development_key(mut self, accept: bool) -> Dir {
        self.accept_development_key = accept;
        self
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Lists the approvals of `wanted` (by id, in name order) and the highest use marker seen
    /// for each id.
    fn list(&self, wanted: &str) -> Result<(BTreeSet<String>, BTreeMap<String, u32>), RefusalKind> {
        let entries = std::fs::read_dir(&self.path).map_err(|_| RefusalKind::DirectoryUnreadable)?;
        let mut approvals = BTreeSet::new();
        let mut highest: BTreeMap<String, u32> = BTreeMap::new();
        for (count, entry) in entries.enumerate() {
            if count >= MAX_DIR_ENTRIES {
                return Err(RefusalKind::DirectoryTooLarge);
            }
            let entry = entry.map_err(|_| RefusalKind::DirectoryUnreadable)?;
            let name = entry.file_name();
            // SECURITY: names that do not fit the scheme are skipped unread.
            let Some(parsed) = name.to_str().and_then(parse_name) else { continue };
            if parsed.action != wanted {
                continue;
            }
            match parsed.marker {
                None => {
                    approvals.insert(parsed.id.to_owned());
                }
                Some(n) => match highest.get_mut(parsed.id) {
                    Some(seen) => *seen = (*seen).max(n),
                    None => {
                        highest.insert(parsed.id.to_owned(), n);
                    }
                },
            }
        }
        Ok((approvals, highest))
    }
}

impl ApprovalSource for Dir {
    fn take(&mut self, action: &ActionDigest, now: u64) -> Option<Result<Granted, Refused>> {
        let refuse = |kind| Some(Err(Refused::new(kind)));
        match std::fs::symlink_metadata(&self.path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
            Err(_) => return refuse(RefusalKind::DirectoryUnreadable),
            Ok(meta) if !meta.file_type().is_dir() || loose(&meta) => return refuse(RefusalKind::UnsafeDirectory),
            Ok(_) => {}
        }
        let wanted = action.to_hex();
        let (approvals, highest) = match self.list(&wanted) {
            Ok(found) => found,
            Err(kind) => return refuse(kind),
        };
        if approvals.is_empty() {
            return None;
        }
        let mut best: Option<RefusalKind> = None;
        let mut note = |kind: RefusalKind| {
            if best.is_none_or(|b| kind.rank() < b.rank()) {
                best = Some(kind);
            }
        };
        let mut valid = Vec::new();
        for id in approvals.iter().take(MAX_APPROVALS_PER_ACTION) {
            let path = self.path.join(format!("{wanted}.{id}.approval"));
            let approval = match read_approval(&path) {
                Ok(approval) => approval,
                Err(kind) => {
                    note(kind);
                    continue;
                }
            };
            // SECURITY: the name must be the content's own id, so a copy under a fresh name
            // (which would start a fresh use count) is refused.
            if encode_hex(&approval.id()) != *id {
                note(RefusalKind::Tampered);
                continue;
            }
            if !self.accept_development_key && approval.signer == SigningIdentity::development_public_key() {
                note(RefusalKind::DevelopmentKey);
                continue;
            }
            match approval.verify(&self.trusted, action, now) {
                Ok(()) => valid.push((approval, path, highest.get(id).copied().unwrap_or(0))),
                Err(refused) => note(refused.kind),
            }
        }
        // Spend first the approval that would expire first.
        valid.sort_by_key(|(approval, ..)| (approval.not_after, approval.id()));
        for (approval, path, seen) in valid {
            let mut create = create_marker;
            let mut sync = || sync_dir(&self.path);
            match spend(&path, approval.uses, seen, &mut create, &mut sync) {
                Ok(n) => {
                    return Some(Ok(Granted {
                        approval: approval.id(),
                        signer: approval.signer.fingerprint().to_string(),
                        uses_left: approval.uses.saturating_sub(n),
                        not_after: approval.not_after,
                        use_number: n,
                    }));
                }
                Err(RefusalKind::UsedUp) => note(RefusalKind::UsedUp),
                Err(kind) => return refuse(kind),
            }
        }
        refuse(best.unwrap_or(RefusalKind::Malformed))
    }
}

/// Spends the first free use after `seen` (the highest marker listed) by creating its marker;
/// answers the use's number. Each number is granted to whoever creates its marker first, so
/// no use is granted twice; a marker that cannot be created or synced is a refusal.
fn spend(
    approval: &Path,
    uses: u32,
    seen: u32,
    create: &mut dyn FnMut(&Path) -> io::Result<()>,
    sync: &mut dyn FnMut() -> io::Result<()>,
) -> Result<u32, RefusalKind> {
    for n in seen.saturating_add(1)..=uses {
        let mut marker = approval.as_os_str().to_owned();
        marker.push(format!(".use-{n}"));
        match create(Path::new(&marker)) {
            Ok(()) => return sync().map(|()| n).map_err(|_| RefusalKind::UseNotRecorded),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(_) => return Err(RefusalKind::UseNotRecorded),
        }
    }
    Err(RefusalKind::UsedUp)
}

/// Creates a use marker: owner-only, and only if nothing (not even a dangling symbolic link)
/// has that name yet (`O_CREAT | O_EXCL`), which is what makes each use number granted once.
fn create_marker(marker: &Path) -> io::Result<()> {
    agentk_flightlog::host::create_new(marker, 0o600).map(drop)
}

/// Reads one approval file: a regular file (not a symbolic link: judged without following it,
/// and the opened file must be the one judged), at most [`MAX_APPROVAL_BYTES`].
fn read_approval(path: &Path) -> Result<Approval, RefusalKind> {
    let before = std::fs::symlink_metadata(path).map_err(|_| RefusalKind::Unreadable)?;
    if !before.file_type().is_file() {
        return Err(RefusalKind::NotRegularFile);
    }
    if before.len() > MAX_APPROVAL_BYTES as u64 {
        return Err(RefusalKind::Oversized);
    }
    let file = File::open(path).map_err(|_| RefusalKind::Unreadable)?;
    let after = file.metadata().map_err(|_| RefusalKind::Unreadable)?;
    if !after.is_file() || !same_file(&before, &after) {
        return Err(RefusalKind::NotRegularFile);
    }
    let mut bytes = Vec::new();
    file.take(MAX_APPROVAL_BYTES as u64 + 1).read_to_end(&mut bytes).map_err(|_| RefusalKind::Unreadable)?;
    if bytes.len() > MAX_APPROVAL_BYTES {
        return Err(RefusalKind::Oversized);
    }
    let text = String::from_utf8(bytes).map_err(|_| RefusalKind::Malformed)?;
    Approval::parse(&text).map_err(|e| match e {
        ApprovalError::TooLarge { .. } => RefusalKind::Oversized,
        _ => RefusalKind::Malformed,
    })
}

fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        a.dev() == b.dev() && a.ino() == b.ino()
    }
    #[cfg(not(unix))]
    {
        let _ = (a, b);
        true
    }
}

/// A name of the store's scheme: `ACTION.ID.approval`, or its use marker
/// `ACTION.ID.approval.use-N` (N from 1 to [`MAX_USES`], no leading zero).
struct StoreName<'a> {
    action: &'a str,
    id: &'a str,
    marker: Option<u32>,
}

fn parse_name(name: &str) -> Option<StoreName<'_>> {
    let is_hex = |s: &str| s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let (action, rest) = name.split_at_checked(64)?;
    let (id, rest) = rest.strip_prefix('.')?.split_at_checked(64)?;
    if !is_hex(action) || !is_hex(id) {
        return None;
    }
    let rest = rest.strip_prefix(".approval")?;
    if rest.is_empty() {
        return Some(StoreName { action, id, marker: None });
    }
    let digits = rest.strip_prefix(".use-")?;
    let canonical = !digits.is_empty() && digits.len() <= 4 && digits.bytes().all(|b| b.is_ascii_digit());
    let n: u32 = digits.parse().ok().filter(|n| canonical && (1..=MAX_USES).contains(n) && digits == n.to_string())?;
    Some(StoreName { action, id, marker: Some(n) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approval_path() -> PathBuf {
        PathBuf::from(format!("{}.{}.approval", "a".repeat(64), "b".repeat(64)))
    }

    // guarantee: T5. A use whose marker cannot be created, or whose directory cannot be synced,
    // is refused (fail closed), and the next use is never tried past a failure.
    #[test]
    fn a_use_that_cannot_be_recorded_is_refused() {
        let path = approval_path();
        let mut tried = Vec::new();
        let mut failing = |marker: &Path| {
            tried.push(marker.to_path_buf());
            Err(io::Error::from(io::ErrorKind::PermissionDenied))
        };
        let result = spend(&path, 3, 0, &mut failing, &mut || Ok(()));
        assert_eq!(result, Err(RefusalKind::UseNotRecorded));
        assert_eq!(tried.len(), 1);

        let mut created = |_: &Path| Ok(());
        let result = spend(&path, 3, 0, &mut created, &mut || Err(io::Error::other("sync failed")));
        assert_eq!(result, Err(RefusalKind::UseNotRecorded));
    }

    // Taken slots are skipped, the first free one is spent, and the last slot is the limit.
    #[test]
    fn spending_takes_the_first_free_slot_after_the_highest_seen() {
        let path = approval_path();
        let mut attempts = Vec::new();
        let mut create = |marker: &Path| {
            attempts.push(marker.to_string_lossy().rsplit('-').next().unwrap().to_owned());
            if attempts.len() < 2 { Err(io::Error::from(io::ErrorKind::AlreadyExists)) } else { Ok(()) }
        };
        assert_eq!(spend(&path, 5, 2, &mut create, &mut || Ok(())), Ok(4));
        assert_eq!(attempts, ["3", "4"]);
        let mut taken = |_: &Path| Err(io::Error::from(io::ErrorKind::AlreadyExists));
        assert_eq!(spend(&path, 5, 0, &mut taken, &mut || Ok(())), Err(RefusalKind::UsedUp));
        let mut never = |_: &Path| -> io::Result<()> { panic!("no slot is left to try") };
        assert_eq!(spend(&path, 5, 5, &mut never, &mut || Ok(())), Err(RefusalKind::UsedUp));
    }

    // guarantee: T5. A marker is created only where nothing exists, so of two proxies that
    // both saw the same markers, only one gets the next use.
    #[test]
    fn a_marker_is_created_only_where_nothing_exists() {
        let dir = std::env::temp_dir().join(format!("agentk-approval-marker-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        let marker = dir.join("m.use-1");
        create_marker(&marker).unwrap();
        assert_eq!(create_marker(&marker).unwrap_err().kind(), io::ErrorKind::AlreadyExists);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&marker).unwrap().permissions().mode() & 0o777, 0o600);
            let dangling = dir.join("m.use-2");
            std::os::unix::fs::symlink(dir.join("nowhere"), &dangling).unwrap();
            assert_eq!(create_marker(&dangling).unwrap_err().kind(), io::ErrorKind::AlreadyExists);
            assert!(!dir.join("nowhere").exists(), "the link was followed");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_names_of_the_scheme_are_read() {
        let a = "0".repeat(64);
        let i = "f".repeat(64);
        let approval = format!("{a}.{i}.approval");
        assert!(parse_name(&approval).is_some_and(|n| n.marker.is_none() && n.action == a && n.id == i));
        assert_eq!(parse_name(&format!("{approval}.use-7")).and_then(|n| n.marker), Some(7));
        assert_eq!(parse_name(&format!("{approval}.use-1000")).and_then(|n| n.marker), Some(1000));
        for bad in [
            format!("{approval}.use-0"),
            format!("{approval}.use-07"),
            format!("{approval}.use-1001"),
            format!("{approval}.use-+1"),
            format!("{approval}.use-"),
            format!("{approval}.tmp"),
            format!(".{approval}.tmp"),
            format!("{}.{i}.approval", "A".repeat(64)),
            format!("{a}.{}.approval", "f".repeat(63)),
            format!("{a}-{i}.approval"),
            "notes.txt".to_owned(),
            String::new(),
        ] {
            assert!(parse_name(&bad).is_none(), "{bad}");
        }
    }

    // Every refusal reads as one fixed line in the house style.
    #[test]
    fn refusal_sentences_are_one_lowercase_line() {
        use RefusalKind::*;
        let all = [
            UsedUp,
            Expired,
            NotYetValid,
            DevelopmentKey,
            ForeignSigner,
            WrongAction,
            Tampered,
            Malformed,
            Oversized,
            NotRegularFile,
            Unreadable,
            UseNotRecorded,
            UnsafeDirectory,
            DirectoryUnreadable,
            DirectoryTooLarge,
        ];
        let mut codes = BTreeSet::new();
        let mut ranks = BTreeSet::new();
        for kind in all {
            let s = kind.sentence();
            assert!(s.starts_with(char::is_lowercase) && !s.ends_with('.') && !s.contains('\n'), "{s}");
            assert!(codes.insert(kind.code()), "{kind:?}");
            assert!(ranks.insert(kind.rank()), "{kind:?}");
        }
    }
}
