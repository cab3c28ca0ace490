//! The `agentk` binary. All the work happens in the `agentk_cli` library so that tests run
//! every command in-process; this file only wires up the real process streams.
#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    let code = agentk_cli::run(std::env::args_os(), &mut std::io::stdout(), &mut std::io::stderr());
    ExitCode::from(code)
}
