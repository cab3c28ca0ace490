//! `agentk approve`: the operator approves one exact MCP action the proxy denied (T5). The
//! approval is signed with the operator's key (chosen as every command chooses it, C4), lives
//! for a bounded time with a bounded number of uses, and is stored owner-only where the proxy
//! looks for it. The work is in `agentk_mcp::approval`; this parses, calls and prints.

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;

use agentk_labels::SafeText;
use agentk_mcp::approval::{ActionDigest, DEFAULT_DIR, DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS, MAX_USES, mint};

use crate::{CliError, Host, exit, keys};

/// The command line of `agentk approve`.
#[derive(Debug, clap::Args)]
pub(crate) struct ApproveArgs {
    /// The action: the 64 hex characters of `_meta["agentk/denial"].action` in the proxy's
    /// denial (take it from the proxy or its flight log, never from the agent).
    #[arg(long, value_name = "HEX")]
    action: String,
    /// How many times the call may go through.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_USES)))]
    uses: u32,
    /// How long the approval lasts, in seconds (at most 604800, seven days).
    #[arg(long, value_name = "S", default_value_t = DEFAULT_TTL_SECONDS,
          value_parser = clap::value_parser!(u64).range(1..=MAX_TTL_SECONDS))]
    ttl_seconds: u64,
    /// Where the approval is stored (created owner-only if missing).
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DIR)]
    approvals_dir: OsString,
}

pub(crate) fn run(host: &dyn Host, args: &ApproveArgs, out: &mut dyn Write) -> Result<u8, CliError> {
    // SECURITY: a bad value is described, never repeated (it could be anything pasted).
    let action = ActionDigest::from_hex(&args.action)
        .map_err(|e| CliError::BadArgument { flag: "--action", problem: e.to_string() })?;
    let signer = keys::active_signer(host)?;
    let mut nonce = [0u8; 16];
    host.random(&mut nonce).map_err(|_| CliError::Randomness)?;
    let now = host.now();
    let approval = mint(&signer, &action, args.uses, args.ttl_seconds, now, nonce)
        .map_err(|e| CliError::BadArgument { flag: "--uses", problem: e.to_string() })?;
    let dir = Path::new(&args.approvals_dir);
    let path = approval.store(dir).map_err(|problem| CliError::ApprovalStore { path: shown(dir), problem })?;

    let hex = action.to_hex();
    let uses = approval.uses();
    writeln!(
        out,
        "approved action {}…: {uses} use{} until {} (unix {})",
        hex.get(..16).unwrap_or_default(),
        if uses == 1 { "" } else { "s" },
        utc(approval.not_after()),
        approval.not_after()
    )?;
    writeln!(out, "  signer: {} ({})", signer.public_key().fingerprint(), signer.source())?;
    writeln!(out, "  file: {}", shown(&path))?;
    if signer.is_development() {
        writeln!(
            out,
            "  warning: signed by the public development key, which anyone can sign with; a proxy refuses it unless told to accept it"
        )?;
    }
    Ok(exit::OK)
}

fn shown(path: &Path) -> SafeText {
    SafeText::with_limit(&path.to_string_lossy(), 256)
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (the proleptic Gregorian calendar, UTC); beyond the
/// year 9999, the seconds themselves.
fn utc(seconds: u64) -> String {
    const LAST: u64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    if seconds > LAST {
        return seconds.to_string();
    }
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    // Days since 0000-03-01, in 400-year eras of 146097 days (a March-first year puts the
    // leap day last).
    let z = days + 719_468;
    let (era, day_of_era) = (z / 146_097, z % 146_097);
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rest / 3_600, rest % 3_600 / 60, rest % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        for (seconds, text) in [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_767_225_600, "2026-01-01T00:00:00Z"),
            (1_767_226_500, "2026-01-01T00:15:00Z"),
            (4_107_542_399, "2100-02-28T23:59:59Z"),
            (4_107_542_400, "2100-03-01T00:00:00Z"),
            (253_402_300_799, "9999-12-31T23:59:59Z"),
            (253_402_300_800, "253402300800"),
        ] {
            assert_eq!(super::utc(seconds), text);
        }
    }
}
