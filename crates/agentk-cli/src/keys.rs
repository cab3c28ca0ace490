//! Key commands: `keygen`, `signing-key`, `key-rotate`, `key-rotate-verify`,
//! `trusted-signers-check`. Key files are read and written through `agentk_flightlog::host`,
//! which every front end shares.

use std::ffi::OsStr;
use std::fs::File;
use std::io::Write;
use std::path::Path;

use agentk_capability::{
    EncodedReceipt, PublicKey, RotationManifest, SignerEnv, SignerSource, SigningIdentity, Trust, TrustedSigners,
    Verifier, load_signer,
};
use agentk_labels::SafeText;
use zeroize::Zeroizing;

use crate::{CliError, Host, TrustArgs, exit, input};

/// The signer the environment chooses (C4), by the library's rules, with the environment read
/// through the host (hermetic in tests).
pub(crate) fn active_signer(host: &dyn Host) -> Result<SigningIdentity, CliError> {
    Ok(agentk_flightlog::host::load_signer_with(&|name| host.var(name))?)
}

/// A new identity from the host's randomness.
fn generate(host: &dyn Host) -> Result<SigningIdentity, CliError> {
    let mut seed = Zeroizing::new([0u8; 32]);
    host.random(seed.as_mut_slice()).map_err(|_| CliError::Randomness)?;
    Ok(SigningIdentity::from_secret(&seed, SignerSource::File))
}

/// Writes a new key file: created with mode 0600 in the same call that creates it (no moment
/// where another user could open it), never over an existing file, synced to disk.
fn write_key_file(path: &OsStr, identity: &SigningIdentity) -> Result<(), CliError> {
    let mut contents = identity.expose_secret_for_key_file();
    contents.push('\n');
    write_new(path, contents.as_bytes(), 0o600)
}

fn write_new(path: &OsStr, bytes: &[u8], mode: u32) -> Result<(), CliError> {
    agentk_flightlog::host::write_new(Path::new(path), bytes, mode).map_err(|e| write_error(path, &e))
}

/// Creates a file that must not exist yet, with `mode` set by the same call.
fn create_new(path: &OsStr, mode: u32) -> Result<File, CliError> {
    agentk_flightlog::host::create_new(Path::new(path), mode).map_err(|e| write_error(path, &e))
}

/// Writes `bytes` and syncs them to disk.
fn fill(mut file: File, path: &OsStr, bytes: &[u8]) -> Result<(), CliError> {
    file.write_all(bytes).map_err(|e| write_error(path, &e))?;
    file.sync_all().map_err(|e| write_error(path, &e))
}

fn write_error(path: &OsStr, error: &std::io::Error) -> CliError {
    CliError::Write { path: SafeText::with_limit(&path.to_string_lossy(), 256), kind: error.kind() }
}

fn refuse_existing(path: &OsStr) -> Result<(), CliError> {
    if Path::new(path).symlink_metadata().is_ok() {
        return Err(CliError::Write {
            path: SafeText::with_limit(&path.to_string_lossy(), 256),
            kind: std::io::ErrorKind::AlreadyExists,
        });
    }
    Ok(())
}

fn key_json(schema: &str, key: &PublicKey) -> serde_json::Value {
    serde_json::json!({
        "schema": schema,
        "public_key": key.to_hex(),
        "fingerprint": key.fingerprint().to_string(),
    })
}

pub(crate) fn keygen(host: &dyn Host, out_path: &OsStr, json: bool, out: &mut dyn Write) -> Result<u8, CliError> {
    let identity = generate(host)?;
    write_key_file(out_path, &identity)?;
    let key = identity.public_key();
    if json {
        writeln!(out, "{}", key_json(agentk_replay::schema::KEYGEN, &key))?;
    } else {
        writeln!(
            out,
            "wrote a new signing key (owner-only) to {}",
            SafeText::with_limit(&out_path.to_string_lossy(), 256)
        )?;
        writeln!(out, "  public key: {}", key.to_hex())?;
        writeln!(out, "  fingerprint: {}", key.fingerprint())?;
    }
    Ok(exit::OK)
}

pub(crate) fn signing_key(host: &dyn Host, json: bool, out: &mut dyn Write) -> Result<u8, CliError> {
    let identity = active_signer(host)?;
    let key = identity.public_key();
    if json {
        let value = serde_json::json!({
            "schema": agentk_replay::schema::SIGNING_KEY,
            "public_key": key.to_hex(),
            "fingerprint": key.fingerprint().to_string(),
            "source": identity.source(),
            "development": identity.is_development(),
        });
        writeln!(out, "{value}")?;
    } else {
        writeln!(out, "public key: {}", key.to_hex())?;
        writeln!(out, "fingerprint: {}", key.fingerprint())?;
        if identity.is_development() && identity.source() != SignerSource::Development {
            writeln!(out, "source: {} (the public development key: signatures prove nothing)", identity.source())?;
        } else {
            writeln!(out, "source: {}", identity.source())?;
        }
    }
    Ok(exit::OK)
}

pub(crate) fn key_rotate(
    host: &dyn Host,
    current: &OsStr,
    next_out: &OsStr,
    manifest_out: &OsStr,
    json: bool,
    out: &mut dyn Write,
) -> Result<u8, CliError> {
    // Refuse before writing anything, so a refusal leaves no half-done rotation behind.
    refuse_existing(next_out)?;
    refuse_existing(manifest_out)?;
    let env = SignerEnv { key_file: Some(current.to_string_lossy().into_owned()), ..SignerEnv::default() };
    let current = load_signer(&env, &agentk_flightlog::host::OsKeyFiles)?;
    let next = generate(host)?;
    let manifest = RotationManifest::create(&current, &next, host.now())?;
    // Create both files before writing either, so a refusal (an existing file, a missing
    // directory) leaves nothing behind.
    let next_file = create_new(next_out, 0o600)?;
    let manifest_file = match create_new(manifest_out, 0o644) {
        Ok(file) => file,
        Err(e) => {
            drop(next_file);
            let _ = std::fs::remove_file(next_out);
            return Err(e);
        }
    };
    let mut secret = next.expose_secret_for_key_file();
    secret.push('\n');
    fill(next_file, next_out, secret.as_bytes())?;
    fill(manifest_file, manifest_out, manifest.to_json().as_bytes())?;
    if json {
        let value = serde_json::json!({
            "schema": agentk_replay::schema::KEY_ROTATE,
            "previous_fingerprint": manifest.previous_fingerprint,
            "next_fingerprint": manifest.next_fingerprint,
            "next_public_key": manifest.next_public_key,
            "timestamp": manifest.timestamp,
        });
        writeln!(out, "{value}")?;
    } else {
        writeln!(out, "rotated {} -> {}", manifest.previous_fingerprint, manifest.next_fingerprint)?;
        writeln!(out, "  next key (owner-only): {}", SafeText::with_limit(&next_out.to_string_lossy(), 256))?;
        writeln!(out, "  public manifest: {}", SafeText::with_limit(&manifest_out.to_string_lossy(), 256))?;
    }
    Ok(exit::OK)
}

/// The trusted signers named on the command line, if any.
pub(crate) fn trusted_signers(args: &TrustArgs) -> Result<Option<TrustedSigners>, CliError> {
    if let Some(path) = &args.signers {
        return Ok(Some(TrustedSigners::parse_manifest(&input::read_text(path)?)?));
    }
    let keys = crate::parse_public_keys(&args.keys)?;
    Ok((!keys.is_empty()).then(|| TrustedSigners::from_keys(keys)))
}

pub(crate) fn key_rotate_verify(
    manifest: &OsStr,
    trust_args: &TrustArgs,
    json: bool,
    out: &mut dyn Write,
) -> Result<u8, CliError> {
    let trust = trusted_signers(trust_args)?;
    let text = input::read_text(manifest)?;
    let verdict = RotationManifest::from_json(&text).and_then(|m| m.verify(trust.as_ref()));
    let (code, value) = match &verdict {
        Ok(rotation) => (
            exit::OK,
            serde_json::json!({
                "schema": agentk_replay::schema::KEY_ROTATE_VERIFY,
                "verified": true,
                "previous_fingerprint": rotation.previous.fingerprint().to_string(),
                "next_fingerprint": rotation.next.fingerprint().to_string(),
                "timestamp": rotation.timestamp,
                "previous_trusted": trust.is_some(),
                "previous_is_development": rotation.previous_is_development,
            }),
        ),
        Err(e) => (
            exit::VERIFY_FAILED,
            serde_json::json!({"schema": agentk_replay::schema::KEY_ROTATE_VERIFY, "verified": false, "error": e.to_string()}),
        ),
    };
    if json {
        writeln!(out, "{value}")?;
        return Ok(code);
    }
    match verdict {
        Ok(rotation) => {
            writeln!(
                out,
                "verified: {} rotated to {} at {}",
                rotation.previous.fingerprint(),
                rotation.next.fingerprint(),
                rotation.timestamp
            )?;
            if trust.is_none() {
                writeln!(
                    out,
                    "  note: the outgoing key was not checked against a trusted key (--trusted-public-key or --trusted-signers)"
                )?;
            }
            if rotation.previous_is_development {
                writeln!(
                    out,
                    "  warning: the outgoing key is the public development key; its signature proves nothing"
                )?;
            }
        }
        Err(e) => writeln!(out, "verification failed: {e}")?,
    }
    Ok(code)
}

pub(crate) fn receipt_verify(
    path: &OsStr,
    trust_args: &TrustArgs,
    now: u64,
    json: bool,
    out: &mut dyn Write,
) -> Result<u8, CliError> {
    let trusted = trusted_signers(trust_args)?;
    let text = input::read_text(path)?;
    let trust = trusted.as_ref().map_or(Trust::ReceiptKey, Trust::Pinned);
    let verdict = EncodedReceipt::from_json(&text).and_then(|encoded| Verifier::new(trust, now).verify(&encoded));
    let receipt = match verdict {
        Ok(receipt) => receipt,
        Err(e) => {
            if json {
                let value = serde_json::json!({"schema": agentk_replay::schema::RECEIPT_VERIFY, "verified": false, "error": e.to_string()});
                writeln!(out, "{value}")?;
            } else {
                writeln!(out, "verification failed: {e}")?;
            }
            return Ok(exit::VERIFY_FAILED);
        }
    };
    let target = SafeText::with_limit(receipt.target(), 256);
    let agent = SafeText::with_limit(receipt.agent(), 64);
    if json {
        let value = serde_json::json!({
            "schema": agentk_replay::schema::RECEIPT_VERIFY,
            "verified": true,
            "signer_pinned": trusted.is_some(),
            "id": receipt.id().to_string(),
            "grant": receipt.grant(),
            "agent": agent.as_str(),
            "syscall": receipt.syscall().name(),
            "target": target.as_str(),
            "scope": receipt.scope(),
            "issued_at": receipt.issued_at(),
            "expires_at": receipt.expires_at(),
            "signer": receipt.signer().fingerprint().to_string(),
            "development_signer": receipt.is_development_signed(),
        });
        writeln!(out, "{value}")?;
        return Ok(exit::OK);
    }
    writeln!(out, "verified receipt {} signed by {}", receipt.id(), receipt.signer().fingerprint())?;
    writeln!(out, "  grants {} to {} on {}", receipt.syscall(), agent, target)?;
    writeln!(
        out,
        "  grant {}, scope {}, valid {}..{}",
        SafeText::new(receipt.grant()),
        SafeText::new(receipt.scope()),
        receipt.issued_at(),
        receipt.expires_at()
    )?;
    if trusted.is_none() {
        writeln!(out, "  note: integrity only; the signer was not pinned (--trusted-public-key or --trusted-signers)")?;
    }
    if receipt.is_development_signed() {
        writeln!(out, "  warning: signed by the public development key; the signature proves nothing")?;
    }
    Ok(exit::OK)
}

pub(crate) fn trusted_signers_check(manifest: &OsStr, json: bool, out: &mut dyn Write) -> Result<u8, CliError> {
    let text = input::read_text(manifest)?;
    let trusted = TrustedSigners::parse_manifest(&text)?;
    if json {
        let value = serde_json::json!({
            "schema": agentk_replay::schema::TRUSTED_SIGNERS_CHECK,
            "valid": true,
            "version": 1,
            "signers": trusted.signer_count(),
            "revoked": trusted.revoked_count(),
        });
        writeln!(out, "{value}")?;
    } else {
        writeln!(
            out,
            "trusted-signer manifest version 1 is valid: {} signer(s), {} revoked",
            trusted.signer_count(),
            trusted.revoked_count()
        )?;
    }
    Ok(exit::OK)
}
