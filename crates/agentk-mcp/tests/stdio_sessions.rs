//! The stdio proxy across 1,000 sessions in one process: no file descriptor leaks and no
//! process outlives its session, whether the server exits when its input closes, needs
//! SIGTERM, or ignores it and needs SIGKILL, with a child of its own each time. Alone in its
//! test binary, so that no other test's descriptors or processes are counted.
#![cfg(all(feature = "stdio", unix))]
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::expect_used,
    reason = "tests fail loudly on purpose"
)]

mod common;

use std::ffi::OsString;
use std::time::Duration;

use agentk_mcp::session::{Config, Step};
use agentk_mcp::stdio::{self, Options, Server, Stopped};
use tokio::io::AsyncWriteExt;

const SESSIONS: usize = 1000;

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Processes whose command line holds `marker` and are not zombies.
fn living(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let zombie = std::fs::read_to_string(entry.path().join("stat"))
            .is_ok_and(|stat| stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')));
        if !zombie && String::from_utf8_lossy(&cmdline).contains(marker) {
            found.push(pid);
        }
    }
    found
}

#[test]
fn a_thousand_sessions_leak_no_descriptor_and_leave_no_process() {
    let marker = format!("agentk-orphan-probe-{}", std::process::id());
    // Each server starts a child of its own (`sh -c 'sleep 300; :' MARKER`), then: exits when
    // its input closes; or ignores that (SIGTERM stops it); or ignores SIGTERM too.
    let scripts = [
        "sh -c 'sleep 300; :' \"$0\" & exec cat >/dev/null",
        "sh -c 'sleep 300; :' \"$0\" & cat >/dev/null; exec sleep 300",
        "trap '' TERM; sh -c 'sleep 300; :' \"$0\" & cat >/dev/null; sleep 300; :",
    ];
    let (env, _) = stdio::server_env(&|name| if name == "PATH" { std::env::var_os("PATH") } else { None }, &[]);
    let options = Options { timeout: Duration::from_secs(30), grace: Duration::from_millis(5), ..Options::default() };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut stopped = [0usize; 3];
    let mut before = 0;
    for i in 0..SESSIONS {
        let server = Server {
            program: "sh".into(),
            args: vec!["-c".into(), scripts[i % 3].into(), OsString::from(&marker)],
            env: env.clone(),
        };
        let outcome = runtime.block_on(async {
            let (client_end, proxy_end) = tokio::io::duplex(1 << 12);
            let (proxy_in, proxy_out) = tokio::io::split(proxy_end);
            let mut session = common::session_with(Config::new("probe"));
            let mut observe = |_: &Step| {};
            let client = async move {
                let mut client_end = client_end;
                // A line the proxy answers itself (a request for the server would be waited
                // for, up to its timeout, by servers that never answer).
                client_end.write_all(b"not json\n").await.unwrap();
                client_end.shutdown().await.unwrap();
                // Keep reading until the proxy is done, as a client does.
                let mut sink = Vec::new();
                let _ = tokio::io::AsyncReadExt::read_to_end(&mut client_end, &mut sink).await;
            };
            let (outcome, ()) =
                tokio::join!(stdio::run(&mut session, &server, proxy_in, proxy_out, &options, &mut observe), client);
            common::log(session);
            outcome.unwrap()
        });
        stopped[match outcome.stopped {
            Stopped::Exited => 0,
            Stopped::Terminated => 1,
            Stopped::Killed => 2,
        }] += 1;
        if i == 2 {
            // After the runtime's own descriptors are in place.
            before = open_descriptors();
        }
    }
    assert!(stopped.iter().all(|n| *n > 300), "every way of stopping was exercised: {stopped:?}");
    assert_eq!(open_descriptors(), before, "descriptors leaked");
    let mut left = living(&marker);
    for _ in 0..500 {
        if left.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
        left = living(&marker);
    }
    assert!(left.is_empty(), "processes outlived their session: {left:?}");
}
