//! The stdio proxy's log syncing: with a window ([`Options::sync_within`]) every batch is
//! written before anything of it is forwarded and synced by the transport within the window;
//! without one the transport leaves syncing to the sink.
#![cfg(all(feature = "stdio", unix))]
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, reason = "tests fail loudly on purpose")]

mod common;

use std::ffi::OsString;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentk_capability::{SignerSource, SigningIdentity};
use agentk_flightlog::kernel::{Kernel, RecordSink, SinkError};
use agentk_mcp::session::{Config, Session, Step};
use agentk_mcp::stdio::{self, Options, Server};
use agentk_policy::Profile;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// What the sink was asked to do, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Append(usize),
    Sync,
}

struct Recording(Arc<Mutex<Vec<Op>>>);

impl RecordSink for Recording {
    fn append(&mut self, _lines: &[u8], events: usize) -> Result<(), SinkError> {
        self.0.lock().unwrap().push(Op::Append(events));
        Ok(())
    }

    fn sync(&mut self) -> Result<(), SinkError> {
        self.0.lock().unwrap().push(Op::Sync);
        Ok(())
    }
}

/// Runs a handshake and one call through the proxy, then waits `idle` before closing; answers
/// what the sink saw.
fn session(sync_within: Option<Duration>, idle: Duration) -> Vec<Op> {
    let ops = Arc::new(Mutex::new(Vec::new()));
    let kernel = Kernel::builder()
        .profile(Profile::Mcp)
        .signer(Arc::new(SigningIdentity::from_secret(&[8; 32], SignerSource::Embedded))) // test key
        .clock(common::FixedClock)
        .entropy(common::Counter(0))
        .open_sink(Recording(Arc::clone(&ops)))
        .unwrap();
    let mut session = Session::new(kernel, Config::new("fake"));
    let (env, _) = stdio::server_env(&|name| if name == "PATH" { std::env::var_os("PATH") } else { None }, &[]);
    let server = Server {
        program: "python3".into(),
        args: vec![OsString::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fake_server.py"))],
        env,
    };
    let options = Options { sync_within, grace: Duration::from_millis(100), ..Options::default() };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let (client_end, proxy_end) = tokio::io::duplex(1 << 16);
        let (proxy_in, proxy_out) = tokio::io::split(proxy_end);
        let (client_in, mut client_out) = tokio::io::split(client_end);
        let mut observe = |_: &Step| {};
        let client = async move {
            let mut lines = BufReader::new(client_in).lines();
            let hello = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
            let call = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"x"}}}"#;
            client_out.write_all(format!("{hello}\n").as_bytes()).await.unwrap();
            assert!(lines.next_line().await.unwrap().unwrap().contains("\"id\":0"));
            client_out.write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n").await.unwrap();
            client_out.write_all(format!("{call}\n").as_bytes()).await.unwrap();
            assert!(lines.next_line().await.unwrap().unwrap().contains("Echo: x"));
            tokio::time::sleep(idle).await;
            client_out.shutdown().await.unwrap();
            while lines.next_line().await.unwrap().is_some() {}
        };
        let (outcome, ()) =
            tokio::join!(stdio::run(&mut session, &server, proxy_in, proxy_out, &options, &mut observe), client);
        outcome.unwrap();
    });
    let seen = ops.lock().unwrap().clone();
    // Closing appends the checkpoint, after what the transport did.
    drop(session);
    seen
}

#[test]
fn with_a_window_the_transport_syncs_what_it_wrote_within_it() {
    let ops = session(Some(Duration::from_millis(20)), Duration::from_millis(400));
    let appends = ops.iter().filter(|op| matches!(op, Op::Append(_))).count();
    assert!(appends >= 3, "the handshake, the call and its answer were written: {ops:?}");
    // Everything written was synced while the client idled (nothing is written after it).
    assert_eq!(ops.last(), Some(&Op::Sync), "{ops:?}");
    assert!(
        ops.iter().filter(|op| **op == Op::Sync).count() < appends,
        "syncs are grouped, not one per batch: {ops:?}"
    );
}

#[test]
fn without_a_window_the_transport_leaves_syncing_to_the_sink() {
    let ops = session(None, Duration::from_millis(100));
    assert!(ops.iter().any(|op| matches!(op, Op::Append(_))));
    assert!(!ops.contains(&Op::Sync), "{ops:?}");
}
