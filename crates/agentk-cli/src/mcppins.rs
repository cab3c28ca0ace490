//! `agentk mcp-pins`: lists the MCP tool descriptors pinned per server and those withheld
//! waiting for an operator, and accepts withheld ones (`--accept SERVER/TOOL`). Accepting is
//! the operator's grant: the next session shows the tool again.

use std::io::Write;
use std::path::Path;

use agentk_labels::SafeText;
use agentk_mcp::pins::{MAX_PIN_FILE_BYTES, PinFile};
use serde::Serialize;

use crate::{CliError, exit};

/// Reads the pin file at `path`; a missing file is an empty one. An accepted pin overrides the
/// scanner, so a pin file others may write is refused.
pub(crate) fn load(path: &Path) -> Result<PinFile, CliError> {
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o022 != 0 {
            return Err(CliError::BadArgument {
                flag: "--pins",
                problem: format!(
                    "{} is writable by other users, and its pins would override the scanner; make it owner-only (chmod 600)",
                    shown(path)
                ),
            });
        }
    }
    match agentk_flightlog::host::read_text(path, MAX_PIN_FILE_BYTES as u64) {
        Ok(text) => Ok(PinFile::parse(&text)?),
        Err(agentk_flightlog::host::ReadProblem::NotFound) => Ok(PinFile::new()),
        Err(problem) => Err(CliError::Read { path: shown(path), problem }),
    }
}

/// Replaces the pin file at `path` whole (a new owner-only file renamed over the old one), so a
/// crash leaves the old file or the new one, never half of either. Pins that would make a file
/// larger than [`MAX_PIN_FILE_BYTES`] (which [`load`] refuses) are not written: the old file
/// stays.
pub(crate) fn save(path: &Path, pins: &PinFile) -> Result<(), CliError> {
    let text = pins.to_checked_text()?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        agentk_flightlog::host::create_private_dir(dir)
            .map_err(|e| CliError::Write { path: shown(path), kind: e.kind() })?;
    }
    replace(path, text.as_bytes(), 0o600, ".new")
}

/// Replaces the file at `path` whole with `bytes`: a new file (`path` with `suffix` appended;
/// a stale one left by a crash is removed first) with exactly the permission bits `mode`, not
/// narrowed by the umask, synced and renamed over the old one, so a crash leaves the old file
/// or the new one, never half of either.
pub(crate) fn replace(path: &Path, bytes: &[u8], mode: u32, suffix: &str) -> Result<(), CliError> {
    let write = |e: std::io::Error| CliError::Write { path: shown(path), kind: e.kind() };
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(suffix);
    let temporary = std::path::PathBuf::from(temporary);
    match std::fs::remove_file(&temporary) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(write(e)),
    }
    let mut file = agentk_flightlog::host::create_new(&temporary, mode).map_err(write)?;
    let written = (|| {
        #[cfg(unix)]
        file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    drop(file);
    if let Err(e) = written.and_then(|()| std::fs::rename(&temporary, path)) {
        let _ = std::fs::remove_file(&temporary);
        return Err(write(e));
    }
    // The rename lasts once the directory is synced; not every file system can sync one.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

fn shown(path: &Path) -> SafeText {
    SafeText::with_limit(&path.display().to_string(), 256)
}

#[derive(Serialize)]
struct Report<'a> {
    schema: &'static str,
    accepted: Vec<String>,
    servers: &'a std::collections::BTreeMap<String, std::collections::BTreeMap<String, agentk_mcp::pins::Pin>>,
}

pub(crate) fn run(path: &Path, accept: &[String], json: bool, out: &mut dyn Write) -> Result<u8, CliError> {
    let mut pins = load(path)?;
    let mut accepted = Vec::new();
    for name in accept {
        let Some((server, tool)) = name.split_once('/') else {
            return Err(CliError::BadArgument {
                flag: "--accept",
                problem: format!("{} is not SERVER/TOOL", SafeText::with_limit(name, 64)),
            });
        };
        let digest = pins.accept(server, tool)?;
        let (server, tool) = (SafeText::with_limit(server, 128), SafeText::with_limit(tool, 128));
        accepted.push(format!("{}/{} {digest}", server.as_str(), tool.as_str()));
    }
    if !accept.is_empty() {
        save(path, &pins)?;
    }
    if json {
        let report = Report { schema: agentk_replay::schema::MCP_PINS, accepted, servers: &pins.servers };
        serde_json::to_writer(&mut *out, &report)?;
        writeln!(out)?;
        return Ok(exit::OK);
    }
    for line in &accepted {
        writeln!(out, "accepted {line}")?;
    }
    if pins.servers.is_empty() {
        writeln!(out, "no pins in {}", shown(path))?;
    }
    // Names are escaped and bounded without quotes, so the accept line can be copied.
    let name = |text: &str| SafeText::with_limit(text, 128).as_str().to_owned();
    for (server, tools) in &pins.servers {
        writeln!(out, "{}", name(server))?;
        for (tool, pin) in tools {
            let accepted = pin.accepted.map_or_else(|| "none".to_owned(), |d| d.to_string());
            writeln!(out, "  {}  accepted {accepted}", name(tool))?;
            if let Some(offer) = &pin.offered {
                writeln!(
                    out,
                    "    withheld {} ({}); accept with: agentk mcp-pins --accept {}/{}",
                    offer.digest,
                    SafeText::with_limit(&offer.why, 200).as_str(),
                    name(server),
                    name(tool)
                )?;
            }
        }
    }
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use agentk_mcp::pins::{Digest, MAX_PINS_PER_SERVER, PinError, PinEvent};

    use super::*;

    /// Pins that would make a file `load` refuses are refused before anything is written (the
    /// path is never touched: its directory does not exist).
    #[test]
    fn a_pin_file_too_large_to_load_is_not_written() {
        let mut pins = PinFile::new();
        let events: Vec<PinEvent> = (0..MAX_PINS_PER_SERVER)
            .map(|i| PinEvent::Pinned { tool: format!("{i:0>120}"), digest: Digest([1; 32]) })
            .collect();
        for server in 0..16 {
            pins.record(&format!("s{server}"), &events);
        }
        let path = Path::new("/nonexistent-agentk-test-dir/pins.json");
        let result = save(path, &pins);
        assert!(matches!(result, Err(CliError::Pins(PinError::WouldBeTooLarge { .. }))), "{result:?}");
    }
}
