//! Helpers the file-backed tests share: a fixed clock, counter ids and scratch paths.
#![allow(dead_code, clippy::unwrap_used, reason = "each test file uses part of this; helpers fail loudly")]

use std::path::{Path, PathBuf};

use agentk_flightlog::kernel::{Clock, Entropy};

/// A clock stuck at 2026-01-01.
pub(crate) struct FixedClock;
impl Clock for FixedClock {
    fn now(&self) -> u64 {
        1_767_225_600
    }
}

/// Test ids from a counter, started at `self.0` so two runs can draw different ids.
pub(crate) struct Counter(pub(crate) u64);
impl Entropy for Counter {
    fn fill(&mut self, buf: &mut [u8]) {
        self.0 += 1;
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (self.0 >> ((i % 8) * 8)) as u8;
        }
    }
}

/// A fresh path under the test target directory (`dir` keeps test files apart).
pub(crate) fn scratch(dir: &str, name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}
