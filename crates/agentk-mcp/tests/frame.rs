//! Frames: bounded before parsing, told apart, refused with the right JSON-RPC error and the id
//! when it can be known, and forwarded byte for byte with only the id replaced.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing, reason = "tests fail loudly on purpose")]

use agentk_mcp::frame::{Frame, FrameError, INVALID_REQUEST, Id, Kind, Limits, PARSE_ERROR};
use proptest::prelude::*;

fn parse(text: &str) -> Result<Frame, FrameError> {
    Frame::parse(text.as_bytes(), &Limits::default())
}

fn single(text: &str) -> agentk_mcp::frame::Message {
    match parse(text) {
        Ok(Frame::Single(message)) => message,
        other => panic!("{text}: {other:?}"),
    }
}

fn check_kind(text: &str, expected: &Kind) {
    assert_eq!(single(text).kind(), expected, "{text}");
}

fn check_refused(text: &str, code: i64, id: Option<&str>) {
    let error = parse(text).unwrap_err();
    assert_eq!(error.code(), code, "{text}: {error}");
    assert_eq!(error.id().map(Id::json), id, "{text}");
    let answer: serde_json::Value = serde_json::from_slice(&error.answer()).unwrap();
    assert_eq!(answer["error"]["code"], code);
    assert_eq!(answer["id"].to_string(), id.unwrap_or("null"));
}

#[test]
fn messages_are_told_apart() {
    let m = |s: &str| s.to_owned();
    check_kind(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, &Kind::Request { id: Id::number(1), method: m("ping") });
    check_kind(
        r#"{"method":"tools/list","id":"a","jsonrpc":"2.0","params":{}}"#,
        &Kind::Request {
            id: single(r#"{"jsonrpc":"2.0","id":"a","result":{}}"#).id().unwrap().clone(),
            method: m("tools/list"),
        },
    );
    check_kind(
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        &Kind::Notification { method: m("notifications/initialized") },
    );
    check_kind(r#"{"result":{"tools":[]},"jsonrpc":"2.0","id":7}"#, &Kind::Result { id: Id::number(7) });
    match single(r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}"#).kind() {
        Kind::Error { id: None, error } => assert_eq!(error.code, -32700),
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_frames_get_their_json_rpc_error() {
    check_refused("not json", PARSE_ERROR, None);
    check_refused(r#"{"jsonrpc":"2.0","id":1,"method":"ping""#, PARSE_ERROR, None);
    check_refused("", PARSE_ERROR, None);
    check_refused("42", INVALID_REQUEST, None);
    check_refused(r#"{"jsonrpc":"1.0","id":3,"method":"ping"}"#, INVALID_REQUEST, Some("3"));
    check_refused(r#"{"id":4,"method":"ping"}"#, INVALID_REQUEST, Some("4"));
    check_refused(r#"{"jsonrpc":"2.0","id":5,"method":7}"#, INVALID_REQUEST, Some("5"));
    check_refused(r#"{"jsonrpc":"2.0","id":"s","method":"a","result":1}"#, INVALID_REQUEST, Some("\"s\""));
    check_refused(r#"{"jsonrpc":"2.0","id":6,"id":7,"method":"ping"}"#, INVALID_REQUEST, Some("6"));
    check_refused(r#"{"jsonrpc":"2.0","id":[1],"method":"ping"}"#, INVALID_REQUEST, None);
    check_refused(r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#, INVALID_REQUEST, None);
    check_refused(r#"{"jsonrpc":"2.0","id":8,"method":"x","params":"s"}"#, INVALID_REQUEST, Some("8"));
    check_refused(r#"{"jsonrpc":"2.0","id":9,"result":1} trailing"#, PARSE_ERROR, None);
    check_refused("[]", INVALID_REQUEST, None);
    check_refused("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\u{1}\"}", PARSE_ERROR, None);
}

#[test]
fn size_and_depth_are_bounded_before_parsing() {
    let limits = Limits { max_frame_bytes: 64, ..Limits::default() };
    let big = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{}"}}"#, "a".repeat(100));
    assert_eq!(Frame::parse(big.as_bytes(), &limits).unwrap_err(), FrameError::TooLarge { max: 64 });
    let deep =
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"a","params":{}{}}}"#, "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(parse(&deep).unwrap_err(), FrameError::TooDeep { max: 64 });
    let ok = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"a","params":{}{}}}"#, "[".repeat(60), "]".repeat(60));
    assert!(parse(&ok).is_ok());
}

#[test]
fn batches_are_read_as_batches() {
    match parse(r#"[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"b"}]"#).unwrap() {
        Frame::Batch(messages) => assert_eq!(messages.len(), 2),
        other => panic!("{other:?}"),
    }
    let many = format!("[{}]", vec![r#"{"jsonrpc":"2.0","method":"b"}"#; 300].join(","));
    assert!(matches!(parse(&many).unwrap_err(), FrameError::BadBatch { .. }));
}

// An answer that is not denied goes back byte for byte, with only its id replaced.
#[test]
fn only_the_id_is_replaced() {
    let text = r#"{"result":{"content":[{"type":"text","text":"Echo: hi \u00e9"}]} ,"jsonrpc":"2.0", "id" : 3 }"#;
    let message = single(text);
    let rewritten = message.with_id(&Id::number(41));
    assert_eq!(
        String::from_utf8(rewritten).unwrap(),
        r#"{"result":{"content":[{"type":"text","text":"Echo: hi \u00e9"}]} ,"jsonrpc":"2.0", "id" : 41 }"#
    );
    assert_eq!(message.result().unwrap()["content"][0]["text"], "Echo: hi é");
}

proptest! {
    // No input panics; what parses re-parses from its own bytes; an error answer is valid JSON
    // and never repeats the input.
    #[test]
    fn frames_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        match Frame::parse(&bytes, &Limits::default()) {
            Ok(Frame::Single(message)) => prop_assert_eq!(message.bytes(), bytes.trim_ascii()),
            Ok(Frame::Batch(_)) => {}
            Err(error) => {
                let answer: serde_json::Value = serde_json::from_slice(&error.answer()).unwrap();
                prop_assert!(answer["error"]["code"].is_i64());
            }
        }
    }

    #[test]
    fn json_like_frames_never_panic(text in r#"[\[\]{}":,0-9a-z\\ .-]{0,120}"#) {
        let _ = parse(&text);
        let wrapped = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"m","params":{text}}}"#);
        let _ = parse(&wrapped);
    }
}

// SECURITY (T3, T5): a key repeated inside `params` or `result` is refused, so the arguments the
// mediator traces and an approval binds are the ones every peer reads; the same key in two
// different objects is fine, and so is an escaped spelling of another key.
#[test]
fn repeated_keys_inside_params_and_results_are_refused() {
    for text in [
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"send","arguments":{"to":"a@example.invalid","to":"b@example.invalid"}}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"send","name":"other"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"send","arguments":{"to":"a","\u0074o":"b"}}}"#,
        r#"{"jsonrpc":"2.0","id":1,"result":{"content":[],"content":[{"type":"text","text":"x"}]}}"#,
    ] {
        let error = parse(text).unwrap_err();
        assert_eq!(error.code(), INVALID_REQUEST, "{text}: {error}");
        assert!(error.to_string().contains("repeated"), "{error}");
    }
    let fine = single(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"send","arguments":{"to":"a","cc":{"to":"b"}}}}"#,
    );
    assert_eq!(fine.params().unwrap()["arguments"]["cc"]["to"], "b");
}
