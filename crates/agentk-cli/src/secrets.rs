//! Secret-reference commands: `secret-refs-check` and `secret-refs-store-check`. Both print
//! versions and counts only: never a provider reference, never a value.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::io::Write;

use agentk_secrets::{EnvPresence, EnvStore, ManifestProblem, Provider, RedactionKey, SecretManifest, StoreRegistry};

use crate::{CliError, Host, exit, input};

/// Which of the manifest's environment variables the host has set and non-empty, asked once
/// up front (only names that passed the `env` shape check are asked about).
struct PresentNames(BTreeSet<String>);

impl EnvPresence for PresentNames {
    fn is_set_nonempty(&self, name: &str) -> bool {
        self.0.contains(name)
    }
}

fn load(host: &dyn Host, path: &OsStr) -> Result<SecretManifest, CliError> {
    let text = input::read_text(path)?;
    let mut key = [0u8; 32];
    host.random(&mut key).map_err(|_| CliError::Randomness)?;
    SecretManifest::parse(&text, &RedactionKey::from_bytes(key)).map_err(CliError::SecretManifest)
}

/// Writes manifest problems, one per line.
pub(crate) fn write_problems(problems: &[ManifestProblem], err: &mut dyn Write) -> std::io::Result<()> {
    for problem in problems {
        writeln!(err, "  {problem}")?;
    }
    Ok(())
}

pub(crate) fn refs_check(host: &dyn Host, path: &OsStr, json: bool, out: &mut dyn Write) -> Result<u8, CliError> {
    let counts = load(host, path)?.counts();
    if json {
        let value = serde_json::json!({
            "schema": agentk_replay::schema::SECRET_REFS_CHECK,
            "valid": true,
            "version": counts.version,
            "secrets": counts.secrets,
            "providers": counts.providers,
            "shape_checked": counts.shape_checked,
        });
        writeln!(out, "{value}")?;
    } else {
        writeln!(
            out,
            "secret-reference manifest version {} is valid: {} secret(s), {} provider(s), {} shape-checked reference(s)",
            counts.version, counts.secrets, counts.providers, counts.shape_checked
        )?;
    }
    Ok(exit::OK)
}

pub(crate) fn refs_store_check(host: &dyn Host, path: &OsStr, json: bool, out: &mut dyn Write) -> Result<u8, CliError> {
    let manifest = load(host, path)?;
    let present = manifest
        .entries()
        .iter()
        .filter(|(_, reference)| *reference.provider() == Provider::Env)
        .map(|(_, reference)| reference.expose_reference())
        .filter(|name| host.var_is_set_nonempty(name))
        .map(str::to_owned)
        .collect();
    let mut stores = StoreRegistry::new();
    stores.add(Box::new(EnvStore::new(PresentNames(present))))?;
    let counts = manifest.availability(&stores);
    let all = counts.missing == 0 && counts.unsupported == 0;
    if json {
        let value = serde_json::json!({
            "schema": agentk_replay::schema::SECRET_REFS_STORE_CHECK,
            "version": 1,
            "secrets": manifest.entries().len(),
            "stores": stores.len(),
            "available": counts.available,
            "missing": counts.missing,
            "unsupported": counts.unsupported,
            "all_available": all,
        });
        writeln!(out, "{value}")?;
    } else {
        writeln!(
            out,
            "{} secret(s) checked against {} store(s) (env): {} available, {} missing, {} unsupported",
            manifest.entries().len(),
            stores.len(),
            counts.available,
            counts.missing,
            counts.unsupported
        )?;
    }
    Ok(if all { exit::OK } else { exit::VERIFY_FAILED })
}
