//! Project automation for AgentK, run as `cargo xtask <command>`.
//!
//! # Invariants
//!
//! - Every check here is local: nothing configures a remote, fetches, pushes, tags or publishes.
//! - The tidy checks also run as plain `#[test]`s (`xtask/tests/tidy.rs`), so `cargo test`
//!   enforces them.
//!
//! # Non-goals
//!
//! Release packaging and publishing.
//!
//! # Example
//!
//! ```no_run
//! let problems = xtask::tidy::all(&xtask::workspace_root());
//! assert!(problems.is_empty(), "{problems:?}");
//! ```
#![forbid(unsafe_code)]
#![allow(clippy::print_stdout, clippy::print_stderr, reason = "a command-line tool reports on its streams")]

pub mod audit;
pub mod bench;
pub mod bench_gateway;
pub mod bench_logs;
pub mod bench_proxy;
pub mod bench_read;
pub mod bench_taint;
pub mod efficacy;
pub mod fixtures;
pub mod fuzz;
pub mod logfixtures;
pub mod replayfixtures;
pub mod tidy;

use std::path::{Path, PathBuf};

/// The workspace root (the directory above `xtask/`).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map_or_else(|| manifest.to_path_buf(), Path::to_path_buf)
}
