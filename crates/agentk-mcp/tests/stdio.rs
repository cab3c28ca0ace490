//! The stdio proxy (M5) in process: a client on an in-memory pipe, a real child process as
//! the server (`tests/fake_server.py`, misbehaving on demand), the transport between them.
//! Nothing here measures time: timeouts are short so the tests are quick, and every wait is
//! for an event.
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
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use agentk_mcp::session::{Config, SERVER_GONE, Step, TIMED_OUT};
use agentk_mcp::stdio::{self, Ended, Options, Outcome, Server, Stopped};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, Lines, ReadHalf, WriteHalf};

const FAKE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fake_server.py");

/// The fake server with `modes`, started with only PATH (and what `named` adds).
fn fake(modes: &[&str]) -> Server {
    let mut args = vec![OsString::from(FAKE)];
    args.extend(modes.iter().map(OsString::from));
    let (env, _) = stdio::server_env(&|name| if name == "PATH" { std::env::var_os("PATH") } else { None }, &[]);
    Server { program: python(), args, env }
}

/// The Python interpreter itself (`python3` may be a launcher script that sets variables of
/// its own).
fn python() -> OsString {
    static PYTHON: std::sync::OnceLock<OsString> = std::sync::OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let out = std::process::Command::new("python3")
                .args(["-c", "import sys; print(sys.executable)"])
                .output()
                .expect("the stdio proxy's tests need python3");
            OsString::from(String::from_utf8_lossy(&out.stdout).trim())
        })
        .clone()
}

fn quick() -> Options {
    Options { timeout: Duration::from_secs(30), grace: Duration::from_millis(200), ..Options::default() }
}

/// The client's end of the pipe.
struct Client {
    to_proxy: WriteHalf<DuplexStream>,
    from_proxy: Lines<BufReader<ReadHalf<DuplexStream>>>,
}

impl Client {
    async fn send(&mut self, message: &Value) {
        self.send_raw(message.to_string().as_bytes()).await;
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        self.to_proxy.write_all(bytes).await.unwrap();
        self.to_proxy.write_all(b"\n").await.unwrap();
        self.to_proxy.flush().await.unwrap();
    }

    /// The next line, as text.
    async fn line(&mut self) -> Option<String> {
        tokio::time::timeout(Duration::from_secs(60), self.from_proxy.next_line()).await.expect("a hung test").unwrap()
    }

    /// The answer to `id`, skipping notifications and requests.
    async fn answer(&mut self, id: &Value) -> Value {
        self.answer_text(id).await.1
    }

    async fn answer_text(&mut self, id: &Value) -> (String, Value) {
        loop {
            let line = self.line().await.unwrap_or_else(|| panic!("the proxy ended before answering {id}"));
            let value: Value = serde_json::from_str(&line).unwrap();
            if value.get("method").is_none() && value["id"] == *id {
                return (line, value);
            }
        }
    }

    async fn handshake(&mut self) {
        self.send(&json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"test","version":"1"}}})).await;
        let answer = self.answer(&json!(0)).await;
        assert_eq!(answer["result"]["protocolVersion"], "2025-06-18", "{answer}");
        self.send(&json!({"jsonrpc":"2.0","method":"notifications/initialized"})).await;
        self.send(&json!({"jsonrpc":"2.0","id":"list","method":"tools/list"})).await;
        let list = self.answer(&json!("list")).await;
        assert_eq!(list["result"]["tools"].as_array().map(Vec::len), Some(3), "{list}");
    }

    async fn call(&mut self, id: i64, tool: &str, message: &str) -> Value {
        self.send(&json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":tool,"arguments":{"message":message}}})).await;
        self.answer(&json!(id)).await
    }

    /// Closes the input and reads what is left.
    async fn close(mut self) -> Vec<String> {
        self.to_proxy.shutdown().await.unwrap();
        drop(self.to_proxy);
        let mut rest = Vec::new();
        while let Some(line) = self.from_proxy.next_line().await.unwrap() {
            rest.push(line);
        }
        rest
    }
}

/// Runs the proxy in front of `server` with `client` driving it; answers the outcome, the
/// steps' pin counts and the log (verified).
fn proxy<F, Fut>(server: &Server, options: &Options, drive: F) -> (Outcome, Vec<String>)
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = ()>,
{
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let (client_end, proxy_end) = tokio::io::duplex(1 << 16);
        let (proxy_in, proxy_out) = tokio::io::split(proxy_end);
        let (client_in, client_out) = tokio::io::split(client_end);
        let client = Client { to_proxy: client_out, from_proxy: BufReader::new(client_in).lines() };
        let mut session = common::session_with(Config::new("fake"));
        let mut observe = |_: &Step| {};
        let (outcome, ()) =
            tokio::join!(stdio::run(&mut session, server, proxy_in, proxy_out, options, &mut observe), drive(client));
        (outcome.unwrap(), common::log(session))
    })
}

fn error_code(answer: &Value) -> Option<i64> {
    answer["error"]["code"].as_i64()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("agentk-stdio-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn an_allowed_answer_reaches_the_client_byte_for_byte_but_for_its_id() {
    let (outcome, log) = proxy(&fake(&[]), &quick(), |mut client| async move {
        client.handshake().await;
        client.send(&json!({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}})).await;
        let (text, _) = client.answer_text(&json!(7)).await;
        // Exactly what the server wrote (Python's key order and spacing), with the client's id.
        assert_eq!(text, r#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"Echo: hi"}]}}"#);
        assert!(client.close().await.is_empty());
    });
    assert_eq!(outcome.ended, Ended::ClientClosed);
    assert_eq!(outcome.stopped, Stopped::Exited, "the server exits when its input closes");
    assert!(outcome.status.is_some_and(|s| s.success()));
    assert!(log.iter().any(|l| l.contains("tool.invoke") && l.contains("mcp://fake/echo")));
}

#[test]
fn the_server_starts_with_only_the_base_environment_and_what_is_named() {
    let host = |name: &str| match name {
        "PATH" => std::env::var_os("PATH"),
        "HOME" => Some(OsString::from("/home/example")),
        "EXAMPLE_API_TOKEN" => Some(OsString::from("dummy-token")),
        "EXAMPLE_NOT_NAMED" => Some(OsString::from("dummy-secret")),
        _ => None,
    };
    let (env, missing) = stdio::server_env(&host, &["EXAMPLE_API_TOKEN".to_owned(), "EXAMPLE_UNSET".to_owned()]);
    assert_eq!(missing, ["EXAMPLE_UNSET"]);
    let mut server = fake(&[]);
    server.env = env;
    proxy(&server, &quick(), |mut client| async move {
        client.handshake().await;
        let answer = client.call(1, "env", "").await;
        let names = answer["result"]["content"][0]["text"].as_str().unwrap().to_owned();
        // Python adds nothing of its own to os.environ here but LC_CTYPE on some systems.
        let names: Vec<&str> = names.split(',').filter(|n| *n != "LC_CTYPE").collect();
        assert_eq!(names, ["EXAMPLE_API_TOKEN", "HOME", "PATH"]);
        client.close().await;
    });
}

#[test]
fn a_denied_call_never_reaches_the_server() {
    let dir = scratch("denied");
    let record = dir.join("received.jsonl");
    let record_arg = format!("record={}", record.display());
    proxy(&fake(&[&record_arg]), &quick(), |mut client| async move {
        client.handshake().await;
        let answer = client.call(1, "not-a-listed-tool", "payload-never-forwarded").await;
        // A denied tool call is answered as a tool error the model can read.
        assert_eq!(answer["result"]["isError"], true, "{answer}");
        assert!(answer["result"]["_meta"]["agentk/denial"]["action"].is_string(), "{answer}");
        let answer = client.call(2, "echo", "after").await;
        assert_eq!(answer["result"]["content"][0]["text"], "Echo: after");
        client.close().await;
    });
    let received = std::fs::read_to_string(&record).unwrap();
    assert!(!received.contains("payload-never-forwarded") && !received.contains("not-a-listed-tool"));
    assert!(received.contains("Echo") || received.contains("\"after\""));
}

#[test]
fn a_request_that_times_out_is_cancelled_and_the_session_goes_on() {
    let dir = scratch("timeout");
    let record = dir.join("received.jsonl");
    let record_arg = format!("record={}", record.display());
    let options = Options { timeout: Duration::from_millis(600), ..quick() };
    let (outcome, log) = proxy(&fake(&[&record_arg, "slow=30"]), &options, |mut client| async move {
        client.handshake().await;
        client
            .send(&json!({"jsonrpc":"2.0","id":"slow-1","method":"tools/call","params":{"name":"slow","arguments":{}}}))
            .await;
        // The server keeps answering other requests meanwhile, so it is slow, not wedged.
        let mut answered = 0;
        let timed_out = loop {
            client.send(&json!({"jsonrpc":"2.0","id":answered + 10,"method":"ping"})).await;
            let line = client.line().await.unwrap();
            let value: Value = serde_json::from_str(&line).unwrap();
            if value["id"] == json!("slow-1") {
                break value;
            }
            assert_eq!(value["id"], json!(answered + 10), "{value}");
            answered += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(error_code(&timed_out), Some(TIMED_OUT), "{timed_out}");
        let answer = client.call(99, "echo", "still here").await;
        assert_eq!(answer["result"]["content"][0]["text"], "Echo: still here");
        client.close().await;
    });
    assert_eq!(outcome.ended, Ended::ClientClosed);
    assert_eq!(outcome.stats.timeouts, 1);
    let received = std::fs::read_to_string(&record).unwrap();
    assert!(received.contains("notifications/cancelled"), "the server was told to stop");
    assert!(log.iter().any(|l| l.contains("\"error\"") || l.contains("output")));
}

#[test]
fn a_wedged_server_ends_the_session_and_waiting_calls_get_errors() {
    let options = Options { timeout: Duration::from_millis(500), ..quick() };
    let (outcome, _) = proxy(&fake(&["wedge", "ignore-eof"]), &options, |mut client| async move {
        client.send(&json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})).await;
        client.answer(&json!(0)).await;
        client.send(&json!({"jsonrpc":"2.0","method":"notifications/initialized"})).await;
        client.send(&json!({"jsonrpc":"2.0","id":1,"method":"ping"})).await;
        client.send(&json!({"jsonrpc":"2.0","id":2,"method":"ping"})).await;
        let first = client.answer(&json!(1)).await;
        let second = client.answer(&json!(2)).await;
        let codes = [error_code(&first), error_code(&second)];
        assert!(codes.contains(&Some(TIMED_OUT)), "{first} {second}");
        assert!(codes.iter().all(|c| matches!(*c, Some(TIMED_OUT | SERVER_GONE))), "{first} {second}");
        // The proxy ends by itself; the client's input is still open.
        assert_eq!(client.line().await, None);
    });
    assert_eq!(outcome.ended, Ended::ServerWedged);
    assert_eq!(outcome.stopped, Stopped::Killed, "it ignored its closed input and SIGTERM");
}

#[test]
fn when_the_server_dies_waiting_requests_are_answered_and_the_session_ends() {
    let (outcome, log) = proxy(&fake(&["die-on-call"]), &quick(), |mut client| async move {
        client.handshake().await;
        let answer = client.call(5, "echo", "boom").await;
        assert_eq!(error_code(&answer), Some(SERVER_GONE), "{answer}");
        assert!(!answer.to_string().contains("boom"), "an error never repeats the request");
        assert_eq!(client.line().await, None);
    });
    assert_eq!(outcome.ended, Ended::ServerExited);
    assert_eq!(outcome.status.and_then(|s| s.code()), Some(3));
    assert!(log.len() > 3, "the decisions before the death are kept and the log verifies");
}

#[test]
fn garbage_huge_lines_and_floods_from_the_server_do_not_stop_the_session() {
    let (outcome, _) = proxy(&fake(&["garbage"]), &quick(), |mut client| async move {
        client.handshake().await;
        client.send(&json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"message":"x"}}})).await;
        let mut notifications = 0;
        loop {
            let line = client.line().await.unwrap();
            assert!(line.len() < 4096, "nothing huge reaches the client");
            let value: Value = serde_json::from_str(&line).expect("only valid JSON reaches the client");
            if value["method"] == "notifications/message" {
                notifications += 1;
            } else {
                assert_eq!(value["id"], 3, "an answer to a request never sent is dropped: {value}");
                assert_eq!(value["result"]["content"][0]["text"], "Echo: x");
                break;
            }
        }
        assert_eq!(notifications, 2000);
        client.close().await;
    });
    assert_eq!(outcome.ended, Ended::ClientClosed);
    assert_eq!(outcome.stats.too_long, 1);
}

#[test]
fn garbage_and_huge_lines_from_the_client_get_errors_and_the_session_goes_on() {
    proxy(&fake(&[]), &quick(), |mut client| async move {
        client.handshake().await;
        client.send_raw(b"this is not json").await;
        let answer: Value = serde_json::from_str(&client.line().await.unwrap()).unwrap();
        assert_eq!(error_code(&answer), Some(-32700));
        client.send_raw(&vec![b'x'; 8 << 20]).await;
        let line = client.line().await.unwrap();
        assert!(line.len() < 512 && line.contains("-32600"), "{line}");
        client.send(&json!({"jsonrpc":"2.0","id":4,"method":"no/such/method"})).await;
        let answer = client.answer(&json!(4)).await;
        assert!(error_code(&answer).is_some(), "{answer}");
        for i in 0..5000 {
            client.send(&json!({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":i,"progress":1}})).await;
        }
        let answer = client.call(6, "echo", "after the flood").await;
        assert_eq!(answer["result"]["content"][0]["text"], "Echo: after the flood");
        client.close().await;
    });
}

#[test]
fn a_client_that_closes_first_still_gets_the_answers_it_waits_for() {
    let (outcome, _) = proxy(&fake(&["slow=0.3"]), &quick(), |mut client| async move {
        client.handshake().await;
        client
            .send(&json!({"jsonrpc":"2.0","id":"late","method":"tools/call","params":{"name":"slow","arguments":{}}}))
            .await;
        let rest = client.close().await;
        assert_eq!(rest.len(), 1, "{rest:?}");
        let value: Value = serde_json::from_str(&rest[0]).unwrap();
        assert_eq!(value["result"]["content"][0]["text"], "slow done");
    });
    assert_eq!(outcome.ended, Ended::ClientClosed);
}

#[test]
fn a_server_that_ignores_its_closed_input_and_sigterm_is_killed_with_its_group() {
    let dir = scratch("group");
    let pid_file = dir.join("grandchild.pid");
    let arg = format!("grandchild={}", pid_file.display());
    let (outcome, _) = proxy(&fake(&["ignore-eof", &arg]), &quick(), |mut client| async move {
        client.handshake().await;
        client.close().await;
    });
    assert_eq!(outcome.ended, Ended::ClientClosed);
    assert_eq!(outcome.stopped, Stopped::Killed);
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    assert!(gone(pid.trim()), "the server's own child was killed with it");
}

/// Whether the process `pid` is gone (or a zombie waiting for its new parent to reap it).
fn gone(pid: &str) -> bool {
    for _ in 0..200 {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(stat) if stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')) => return true,
            Ok(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    false
}

/// The requests the client pipelines after the handshake in [`check_death`]: ids 1 to this,
/// every third a `ping`, the others `tools/call echo` with the message `m<id>`.
const PIPELINED: i64 = 24;

/// A server killed at every few lines it receives (and, with `mid_answer`, in the middle of
/// writing an answer), while the client pipelines calls and pings: the proxy ends with
/// [`Ended::ServerExited`] (or the client closes first when the server outlives the session),
/// every request the proxy read is answered exactly once (its result, or `-32004`), none it
/// did not read is, and the log verifies.
#[test]
fn a_server_killed_at_any_point_leaves_every_request_read_answered_once() {
    let mut cases: Vec<(i64, bool)> = (0..40).step_by(3).map(|n| (n, false)).collect();
    cases.extend([1, 2, 3, 8, 14, 20, 26].map(|n| (n, true)));
    let runs: Vec<_> =
        cases.into_iter().map(|(n, mid)| (n, mid, std::thread::spawn(move || check_death(n, mid)))).collect();
    for (n, mid, run) in runs {
        assert!(run.join().is_ok(), "die-after={n} mid-answer={mid}");
    }
}

fn check_death(die_after: i64, mid_answer: bool) {
    let mut modes = vec![format!("die-after={die_after}")];
    if mid_answer {
        modes.push("die-mid-answer".to_owned());
    }
    let modes: Vec<&str> = modes.iter().map(String::as_str).collect();
    let mut answers: Vec<Value> = Vec::new();
    let seen = &mut answers;
    let (outcome, _log) = proxy(&fake(&modes), &quick(), |mut client| async move {
        // The handshake, then everything at once, without waiting: the first call makes the
        // mediator list the tools itself, so the server receives the initialize, the
        // notification, the listing and then the pipelined requests (3 + PIPELINED lines).
        let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"test","version":"1"}}});
        let mut open = offer(&mut client, &init).await;
        let Some(line) = client.line().await else { panic!("the initialize was never answered") };
        let first: Value = serde_json::from_str(&line).unwrap();
        let initialized = first["result"]["protocolVersion"] == "2025-06-18";
        seen.push(first);
        if initialized {
            open &= offer(&mut client, &json!({"jsonrpc":"2.0","method":"notifications/initialized"})).await;
            for id in 1..=PIPELINED {
                let request = if id % 3 == 0 {
                    json!({"jsonrpc":"2.0","id":id,"method":"ping"})
                } else {
                    json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"echo","arguments":{"message":format!("m{id}")}}})
                };
                open &= offer(&mut client, &request).await;
            }
        }
        // Every answer, until the proxy ends or the last request is answered.
        let wanted = if initialized { PIPELINED as usize + 1 } else { 1 };
        while seen.len() < wanted {
            let Some(line) = client.line().await else { break };
            let value: Value = serde_json::from_str(&line).unwrap();
            assert!(value.get("method").is_none(), "only answers are expected: {value}");
            seen.push(value);
        }
        if open && seen.len() == wanted {
            // Nothing more may come, however the session ends.
            for line in client.close().await {
                seen.push(serde_json::from_str(&line).unwrap());
            }
        }
    });
    // What the proxy read from the client: the initialize, the notification, then requests in
    // the order sent (the proxy reads one stream in order).
    let read = outcome.stats.client_frames.saturating_sub(1) as i64;
    let expected: Vec<i64> = std::iter::once(0).chain(1..read).collect();
    let mut ids: Vec<i64> = answers.iter().map(|a| a["id"].as_i64().unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, expected, "every request read answered exactly once, nothing else: {answers:?}");
    let survived = die_after > 3 + PIPELINED;
    for answer in &answers {
        let id = answer["id"].as_i64().unwrap();
        let expected = match id {
            0 => {
                json!({"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"fake-server","version":"0.0.1"}})
            }
            id if id % 3 == 0 => json!({}),
            id => json!({"content":[{"type":"text","text":format!("Echo: m{id}")}]}),
        };
        let gone = error_code(answer) == Some(SERVER_GONE);
        assert!(answer["result"] == expected || (gone && !survived), "{answer}");
    }
    match (survived, outcome.ended) {
        (true, Ended::ClientClosed) => assert!(outcome.status.is_some_and(|s| s.success())),
        // Killed on its last line, the server may go before or after the client.
        (false, Ended::ServerExited | Ended::ClientClosed) if die_after == 3 + PIPELINED => {}
        (false, Ended::ServerExited) => assert_eq!(outcome.status.and_then(|s| s.code()), Some(4)),
        (_, ended) => panic!("ended {ended:?} with die-after={die_after}"),
    }
}

/// Sends `message` if the proxy still reads; answers whether it does.
async fn offer(client: &mut Client, message: &Value) -> bool {
    let mut line = message.to_string().into_bytes();
    line.push(b'\n');
    client.to_proxy.write_all(&line).await.is_ok() && client.to_proxy.flush().await.is_ok()
}

/// A client may call without listing and close at once: the call waits for the mediator's own
/// listing, which is answered after the client closed. The server's input stays open until
/// nothing waits, so the call still reaches the server and its answer the client (found by
/// the `mcp_proxy` fuzz target).
#[test]
fn a_call_released_after_the_client_closed_is_still_answered() {
    let (outcome, log) = proxy(&fake(&["ignore-eof"]), &quick(), |mut client| async move {
        client.send(&json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})).await;
        client.answer(&json!(0)).await;
        client.send(&json!({"jsonrpc":"2.0","method":"notifications/initialized"})).await;
        client.send(&json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"late"}}})).await;
        let rest = client.close().await;
        assert_eq!(rest.len(), 1, "{rest:?}");
        let answer: Value = serde_json::from_str(&rest[0]).unwrap();
        assert_eq!(answer["result"]["content"][0]["text"], "Echo: late", "{answer}");
    });
    assert_eq!(outcome.ended, Ended::ClientClosed);
    assert!(log.iter().any(|l| l.contains("mcp://fake/echo")));
}

/// A server that answers each line before it reads the next (most simple servers), sent
/// thousands of large calls at once: the proxy keeps reading the server while its writes to it
/// wait, so neither side stalls (a proxy that wrote inline would stop reading the server, whose
/// output would fill, which would stop it reading its input, which the proxy waits on).
#[test]
fn pipelined_large_calls_to_a_line_by_line_server_do_not_deadlock() {
    // 500 calls of 8 kB each way: far more than any pipe buffer holds, so a proxy that waited
    // on one peer while the other filled its pipe would deadlock here.
    const CALLS: usize = 500;
    let options = Options { timeout: Duration::from_secs(30), ..quick() };
    let (outcome, _) = proxy(&fake(&[]), &options, |mut client| async move {
        client.handshake().await;
        let Client { mut to_proxy, mut from_proxy } = client;
        let big = "x".repeat(8000);
        let write = async move {
            for id in 1..=CALLS {
                let call = json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"echo","arguments":{"message":big}}});
                to_proxy.write_all(format!("{call}\n").as_bytes()).await.unwrap();
            }
            to_proxy.flush().await.unwrap();
            to_proxy
        };
        let read = async move {
            let mut answered = 0;
            while answered < CALLS {
                let line = from_proxy.next_line().await.unwrap().expect("the proxy ended early");
                let value: Value = serde_json::from_str(&line).unwrap();
                assert!(
                    value["result"]["content"][0]["text"].as_str().is_some_and(|t| t.starts_with("Echo: x")),
                    "{}",
                    &line[..line.len().min(300)]
                );
                answered += 1;
            }
            from_proxy
        };
        let (mut to_proxy, mut from_proxy) = tokio::join!(write, read);
        to_proxy.shutdown().await.unwrap();
        assert_eq!(from_proxy.next_line().await.unwrap(), None);
    });
    assert_eq!(outcome.ended, Ended::ClientClosed);
    assert_eq!(outcome.stats.timeouts, 0);
}
