//! A hermetic host and runner shared by the CLI tests: no process environment, a fixed clock,
//! and "randomness" from a counter, so every key and output is deterministic.
#![allow(dead_code, clippy::unwrap_used, clippy::panic, reason = "shared test helpers; not every test file uses all")]

use std::cell::Cell;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use agentk_cli::{Host, RandomUnavailable};

/// A test machine. Its random source is a counter: deterministic test keys only.
pub(crate) struct TestHost {
    vars: BTreeMap<&'static str, String>,
    draws: Cell<u8>,
    /// What the commands read on standard input.
    pub(crate) stdin: Vec<u8>,
}

impl TestHost {
    pub(crate) fn new(vars: &[(&'static str, &str)]) -> Self {
        TestHost {
            vars: vars.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
            draws: Cell::new(0),
            stdin: Vec::new(),
        }
    }
}

impl Host for TestHost {
    fn var(&self, name: &str) -> Option<OsString> {
        self.vars.get(name).map(OsString::from)
    }
    fn now(&self) -> u64 {
        1_767_225_600
    }
    fn random(&self, buf: &mut [u8]) -> Result<(), RandomUnavailable> {
        self.draws.set(self.draws.get() + 1);
        buf.fill(0x40 + self.draws.get());
        Ok(())
    }
    fn stdin(&self) -> Box<dyn std::io::Read + '_> {
        Box::new(self.stdin.as_slice())
    }
}

pub(crate) struct Run {
    pub(crate) code: u8,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

pub(crate) fn agentk(host: &TestHost, args: &[&str]) -> Run {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = agentk_cli::run_with(std::iter::once("agentk").chain(args.iter().copied()), host, &mut out, &mut err);
    Run { code, stdout: String::from_utf8(out).unwrap(), stderr: String::from_utf8(err).unwrap() }
}

/// A fresh, owner-only scratch directory for one test.
pub(crate) fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("agentk-key-tests").join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    dir
}

/// Runs `command` with `stdin` written to it (then closed), waiting at most `limit` for it to
/// exit and for its output to end (a child it started may hold the output open); answers its
/// exit status, stdout and stderr. A hang fails with what it said so far.
pub(crate) fn run_bounded(
    mut command: std::process::Command,
    stdin: &[u8],
    limit: std::time::Duration,
) -> (std::process::ExitStatus, String, String) {
    use std::io::{Read, Write};
    use std::process::Stdio;
    use std::thread::JoinHandle;
    use std::time::{Duration, Instant};
    let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let drain = |mut stream: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stream.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + limit;
    let text = |t: JoinHandle<String>| {
        if t.is_finished() { t.join().unwrap() } else { "(still open)".to_owned() }
    };
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            std::thread::sleep(Duration::from_millis(500));
            panic!("{command:?} took longer than {limit:?}\nstdout: {}\nstderr: {}", text(stdout), text(stderr));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    while !stdout.is_finished() || !stderr.is_finished() {
        assert!(
            Instant::now() < deadline,
            "{command:?} exited ({status}) but its output was still open after {limit:?}\nstdout: {}\nstderr: {}",
            text(stdout),
            text(stderr)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = writer.join();
    (status, stdout.join().unwrap(), stderr.join().unwrap())
}
