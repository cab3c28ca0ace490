//! R3: behavior fork replay accepts only hashed output overrides, each bound to a recorded step,
//! syscall and target; raw outputs are refused. These tests drive the override file parser at the
//! crate boundary, with hostile input of every shape it is likely to meet.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests fail loudly")]

use std::io::Read;

use agentk_flightlog::event::Hash32;
use agentk_labels::{Label, LabelSet};
use agentk_replay::overrides::{
    MAX_OVERRIDES, MAX_OVERRIDES_BYTES, OVERRIDES_SCHEMA, Override, Overrides, OverridesError, ShapeProblem,
};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// A value no error message may ever repeat.
const CANARY: &str = "CANARY-RAW-OUTPUT-7f3a";
/// The keys that would carry raw output text.
const RAW_KEYS: [&str; 6] = ["output", "output_text", "raw_output", "text", "content", "raw"];

fn digest(seed: &str) -> String {
    blake3::hash(seed.as_bytes()).to_hex().to_string()
}

/// A valid override for `step`.
fn entry(step: u64) -> Map<String, Value> {
    let value = json!({
        "step": step,
        "syscall": "tool.invoke",
        "target": "mcp://docs.example.invalid/search",
        "output_digest": digest("changed output"),
    });
    let Value::Object(map) = value else { unreachable!("json! of an object") };
    map
}

/// `entry(step)` with `key` set to `value` (or removed, when `value` is `None`).
fn entry_with(step: u64, key: &str, value: Option<Value>) -> Value {
    let mut map = entry(step);
    match value {
        Some(value) => map.insert(key.to_owned(), value),
        None => map.remove(key),
    };
    Value::Object(map)
}

/// A whole file around `entries`.
fn file(entries: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({ "schema": OVERRIDES_SCHEMA, "overrides": entries })).unwrap()
}

/// Parses `bytes`, which must be refused, and checks that neither the message nor the debug
/// form repeats `secret`.
fn refuse(bytes: &[u8], secret: &str) -> OverridesError {
    let err = Overrides::parse(bytes).expect_err("the file must be refused");
    let (display, debug) = (err.to_string(), format!("{err:?}"));
    assert!(!display.contains(secret), "message repeats {secret:?}: {display}");
    assert!(!debug.contains(secret), "debug form repeats {secret:?}: {debug}");
    assert!(!display.contains('\n'), "message is not one line: {display:?}");
    err
}

/// A file with one entry, `entry`, is refused with `BadField { index: 0 }` whose problem
/// mentions `mentions`, and the message does not repeat `secret`.
fn check_bad_field(entry: Value, mentions: &str, secret: &str) {
    let err = refuse(&file(vec![entry]), secret);
    let OverridesError::BadField { index: 0, problem } = &err else { panic!("expected BadField at 0, got {err:?}") };
    assert!(problem.contains(mentions), "problem {problem:?} does not mention {mentions:?}");
    assert!(err.to_string().starts_with("override 0: "), "{err}");
}

/// The message has no raw control or format characters and stays short.
fn check_tame(message: &str, max_bytes: usize) {
    assert!(
        !message.chars().any(|c| c.is_control() || matches!(c, '\u{202e}' | '\u{200b}' | '\u{2066}')),
        "message carries raw control characters: {message:?}"
    );
    assert!(message.len() < max_bytes, "message is {} bytes: {message:?}", message.len());
}

// guarantee: R3
#[test]
fn valid_file_binds_each_override_to_step_syscall_target_and_digest() {
    let text = format!(
        r#"{{"schema": "{OVERRIDES_SCHEMA}",
            "overrides": [
              {{"step": 3, "syscall": "tool.invoke", "target": "mcp://docs.example.invalid/search",
                "output_digest": "{}", "output_labels": ["untrusted", "poisoned-suspect"]}},
              {{"step": 7, "syscall": "network.fetch", "target": "https://news.example.invalid/",
                "output_digest": "{}"}}
            ]}}"#,
        digest("poisoned page"),
        digest("quiet page"),
    );
    let overrides = Overrides::parse(text.as_bytes()).unwrap();
    assert_eq!(overrides.len(), 2);
    assert!(!overrides.is_empty());

    let third = overrides.get(3).unwrap();
    assert_eq!(
        third,
        &Override {
            step: 3,
            syscall: "tool.invoke".to_owned(),
            target: "mcp://docs.example.invalid/search".to_owned(),
            output: Hash32(*blake3::hash(b"poisoned page").as_bytes()),
            labels: Some(LabelSet::from_labels(&[Label::Untrusted, Label::PoisonedSuspect])),
        }
    );
    let seventh = overrides.get(7).unwrap();
    assert_eq!(seventh.step, 7);
    assert_eq!(seventh.syscall, "network.fetch");
    assert_eq!(seventh.target, "https://news.example.invalid/");
    assert_eq!(seventh.output.to_hex(), digest("quiet page"));
    assert_eq!(seventh.labels, None, "no `output_labels` keeps the decision's labels");

    for absent in [0, 2, 4, 6, 8, u64::MAX] {
        assert_eq!(overrides.get(absent), None, "step {absent} was not overridden");
    }
    assert_eq!(overrides.iter().map(|o| o.step).collect::<Vec<_>>(), [3, 7]);
    assert_eq!(Overrides::read(text.as_bytes()).unwrap(), overrides, "read and parse agree");
}

#[test]
fn edge_values_that_are_valid_are_accepted() {
    let cases = [
        entry_with(0, "step", Some(json!(0))),
        entry_with(0, "step", Some(json!(u64::MAX))),
        entry_with(0, "target", Some(json!(format!("https://a.example.invalid/{}", "p".repeat(4096 - 26))))),
        entry_with(0, "output_labels", Some(json!([]))),
        entry_with(0, "output_labels", Some(json!(["trusted", "untrusted", "external", "private", "secret"]))),
    ];
    for case in cases {
        let overrides = Overrides::parse(&file(vec![case.clone()])).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(overrides.len(), 1);
    }
    let labels = Overrides::parse(&file(vec![entry_with(5, "output_labels", Some(json!([])))])).unwrap();
    assert_eq!(labels.get(5).unwrap().labels, Some(LabelSet::EMPTY), "an empty list clears the labels");
}

// guarantee: R3
#[test]
fn raw_output_is_refused_under_every_key_without_repeating_it() {
    for key in RAW_KEYS {
        let values = [json!(CANARY), json!({ "body": CANARY }), json!([CANARY]), json!(format!("{CANARY}\u{1b}[2J"))];
        for value in values {
            // Alongside a valid digest, as the only field, and in a later entry.
            let with_digest = entry_with(1, key, Some(value.clone()));
            let alone = json!({ key: value.clone() });
            for (entries, index) in
                [(vec![with_digest.clone()], 0), (vec![alone], 0), (vec![Value::Object(entry(0)), with_digest], 1)]
            {
                let err = refuse(&file(entries), CANARY);
                assert_eq!(err, OverridesError::RawOutput { index, key }, "key {key}");
                let message = err.to_string();
                assert!(message.starts_with(&format!("override {index}: raw output text (`{key}`) is refused")));
                assert!(message.contains("output_digest"), "the message says what to give instead: {message}");
            }
        }
    }
}

// guarantee: R3
#[test]
fn raw_output_is_refused_even_when_other_fields_are_also_wrong() {
    // The refusal comes before any other check of the entry, so the reason given is the real one.
    let muddled = json!({ "step": "x", "syscall": "", "content": CANARY, "bogus": 1 });
    assert_eq!(refuse(&file(vec![muddled]), CANARY), OverridesError::RawOutput { index: 0, key: "content" });
    // At the top level it is an unknown field, named but not repeated.
    let mut top = json!({ "schema": OVERRIDES_SCHEMA, "overrides": [Value::Object(entry(1))] });
    top.as_object_mut().unwrap().insert("output".to_owned(), json!(CANARY));
    let err = refuse(&serde_json::to_vec(&top).unwrap(), CANARY);
    assert!(matches!(err, OverridesError::Shape(_)), "{err:?}");
    assert_eq!(err.to_string(), "the override file has an unknown top-level field `output`");
}

// guarantee: R3
#[test]
fn output_digest_must_be_64_lowercase_hex_digits_and_is_not_repeated() {
    let hex = digest("x");
    let cases = [
        "the tool said hello".to_owned(),
        CANARY.to_owned(),
        hex.get(..63).unwrap().to_owned(),
        format!("{hex}0"),
        format!("{hex}{hex}"),
        "g".repeat(64),
        "the tool said hello, and it said it at some length: xx".repeat(2).get(..64).unwrap().to_owned(),
        format!(" {}", hex.get(..63).unwrap()),
        hex.to_uppercase(),
        String::new(),
    ];
    for value in cases {
        let err = refuse(&file(vec![entry_with(0, "output_digest", Some(json!(value)))]), &value_or_canary(&value));
        let OverridesError::BadField { index: 0, problem } = &err else { panic!("{value:?}: got {err:?}") };
        assert!(problem.contains("64 hex digits"), "{problem}");
        assert!(err.to_string().contains("raw output text is refused"), "{err}");
    }
    for value in [json!(null), json!(7), json!([hex]), json!({ "hex": hex })] {
        check_bad_field(entry_with(0, "output_digest", Some(value)), "output_digest", CANARY);
    }
    check_bad_field(entry_with(0, "output_digest", None), "needs `output_digest`", CANARY);
}

/// The value itself, unless it is too short to be meaningfully absent from a message.
fn value_or_canary(value: &str) -> String {
    if value.len() < 8 { CANARY.to_owned() } else { value.to_owned() }
}

// guarantee: R3
#[test]
fn unknown_entry_fields_are_refused_and_named_safely() {
    let err = refuse(&file(vec![entry_with(0, "note", Some(json!(CANARY)))]), CANARY);
    let OverridesError::UnknownField { index: 0, field } = &err else { panic!("got {err:?}") };
    assert_eq!(field.as_str(), "note");
    assert_eq!(err.to_string(), "override 0: unknown field `note`");

    // Near misses of the raw keys and of the real keys are refused too, never ignored.
    for key in ["Output", "OUTPUT", "output ", "outputs", "digest", "output_hash", "label", "Step"] {
        let err = refuse(&file(vec![entry_with(0, key, Some(json!(CANARY)))]), CANARY);
        assert!(matches!(err, OverridesError::UnknownField { index: 0, .. }), "{key:?}: {err:?}");
    }

    // Terminal escapes, bidi overrides, a backtick and bulk: escaped and cut.
    let hostile = format!("\u{1b}[31m\u{7}\u{202e}evil`{}\r\n{CANARY}", "A".repeat(100_000));
    let err = refuse(&file(vec![entry_with(2, &hostile, Some(json!(1)))]), CANARY);
    assert!(matches!(err, OverridesError::UnknownField { index: 0, .. }), "{err:?}");
    let message = err.to_string();
    check_tame(&message, 300);
    check_tame(&format!("{err:?}"), 300);
    assert!(message.contains(r"\u{1b}[31m"), "escape shown as text: {message}");
    assert!(message.contains(r"\u{202e}"), "bidi override shown as text: {message}");
    assert!(message.contains(r"\u{60}"), "backtick escaped, so the quoting holds: {message}");

    // Worst case: every kept character needs an escape. Still bounded.
    let err = refuse(&file(vec![entry_with(2, &"\u{1b}\u{202e}".repeat(50_000), Some(json!(1)))]), CANARY);
    assert!(matches!(err, OverridesError::UnknownField { index: 0, .. }), "{err:?}");
    check_tame(&err.to_string(), 1024);
}

#[test]
fn unknown_top_level_fields_are_a_shape_error_named_safely() {
    let mut top = json!({ "schema": OVERRIDES_SCHEMA, "overrides": [Value::Object(entry(1))] });
    top.as_object_mut().unwrap().insert("extra".to_owned(), json!(true));
    let err = refuse(&serde_json::to_vec(&top).unwrap(), CANARY);
    assert_eq!(
        err,
        OverridesError::Shape(ShapeProblem::UnknownField { field: agentk_labels::SafeText::with_limit("extra", 64) })
    );
    assert_eq!(err.to_string(), "the override file has an unknown top-level field `extra`");

    let hostile = format!("\u{1b}]0;pwned\u{7}{}", "B".repeat(100_000));
    let mut top = json!({ "schema": OVERRIDES_SCHEMA, "overrides": [Value::Object(entry(1))] });
    top.as_object_mut().unwrap().insert(hostile, json!(true));
    let err = refuse(&serde_json::to_vec(&top).unwrap(), CANARY);
    assert!(matches!(err, OverridesError::Shape(_)), "{err:?}");
    check_tame(&err.to_string(), 300);
}

// guarantee: R3
#[test]
fn a_step_is_overridden_at_most_once() {
    for steps in [vec![3, 3], vec![3, 4, 3], vec![0, 1, 2, 0], vec![u64::MAX, u64::MAX]] {
        let dup = *steps.last().unwrap();
        let err = refuse(&file(steps.into_iter().map(|s| Value::Object(entry(s))).collect()), CANARY);
        assert_eq!(err, OverridesError::DuplicateStep { step: dup });
        assert_eq!(err.to_string(), format!("step {dup} is overridden twice"));
    }
    // Different digests for the same step are still two claims about one step.
    let other = entry_with(3, "output_digest", Some(json!(digest("other"))));
    assert_eq!(refuse(&file(vec![Value::Object(entry(3)), other]), CANARY), OverridesError::DuplicateStep { step: 3 });
}

#[test]
fn the_list_holds_between_one_and_max_overrides() {
    let err = refuse(&file(vec![]), CANARY);
    assert_eq!(err, OverridesError::Empty);
    assert_eq!(err.to_string(), "the override file lists no overrides");

    // Entries small enough to fit the byte limit; the count is checked before any entry is.
    let small = |n: usize| vec![json!({}); n];
    let err = refuse(&file(small(MAX_OVERRIDES + 1)), CANARY);
    assert_eq!(err, OverridesError::TooMany { max: MAX_OVERRIDES });
    assert_eq!(err.to_string(), format!("the override file lists more than {MAX_OVERRIDES} overrides"));
    assert!(matches!(refuse(&file(small(MAX_OVERRIDES * 3)), CANARY), OverridesError::TooMany { .. }));
    // Exactly the limit passes the count and fails on the first (empty) entry instead.
    assert!(matches!(refuse(&file(small(MAX_OVERRIDES)), CANARY), OverridesError::BadField { index: 0, .. }));
}

#[test]
fn the_schema_must_be_present_and_be_v1() {
    let overrides = json!([Value::Object(entry(1))]);
    let err = refuse(&serde_json::to_vec(&json!({ "overrides": overrides })).unwrap(), CANARY);
    assert!(matches!(err, OverridesError::Shape(_)), "{err:?}");
    assert_eq!(err.to_string(), r#"the override file needs `schema`: "agentk.behavior-overrides.v1""#);
    for schema in [json!(null), json!(1), json!([OVERRIDES_SCHEMA]), json!({ "v": 1 })] {
        let err = refuse(&serde_json::to_vec(&json!({ "schema": schema, "overrides": overrides })).unwrap(), CANARY);
        assert!(matches!(err, OverridesError::Shape(_)), "{schema}: {err:?}");
    }

    for schema in ["agentk.behavior-overrides.v2", "agentk.behavior-overrides.V1", "agentk.behavior-overrides.v1 ", ""]
    {
        let err = refuse(&serde_json::to_vec(&json!({ "schema": schema, "overrides": overrides })).unwrap(), CANARY);
        let OverridesError::UnsupportedSchema { found } = &err else { panic!("{schema:?}: got {err:?}") };
        assert_eq!(found.as_str(), schema);
        assert_eq!(
            err.to_string(),
            format!("the override file's schema is `{schema}`; this build reads `agentk.behavior-overrides.v1`")
        );
    }
    let hostile = format!("\u{1b}[1m{}", "v".repeat(100_000));
    let err = refuse(&serde_json::to_vec(&json!({ "schema": hostile, "overrides": overrides })).unwrap(), CANARY);
    assert!(matches!(err, OverridesError::UnsupportedSchema { .. }), "{err:?}");
    check_tame(&err.to_string(), 300);
}

#[test]
fn the_root_must_be_an_object_with_an_overrides_list() {
    for root in [json!([]), json!(null), json!(1), json!("agentk.behavior-overrides.v1"), json!([{ "schema": 1 }])] {
        let err = refuse(&serde_json::to_vec(&root).unwrap(), CANARY);
        assert_eq!(err, OverridesError::Shape(ShapeProblem::NotAnObject), "{root}");
    }
    for overrides in [None, Some(json!(null)), Some(json!({ "0": entry(1) })), Some(json!(Value::Object(entry(1))))] {
        let mut root = json!({ "schema": OVERRIDES_SCHEMA });
        if let Some(overrides) = overrides {
            root.as_object_mut().unwrap().insert("overrides".to_owned(), overrides);
        }
        let err = refuse(&serde_json::to_vec(&root).unwrap(), CANARY);
        assert_eq!(err, OverridesError::Shape(ShapeProblem::NoOverrides), "{root}");
    }
}

#[test]
fn input_that_is_not_json_is_refused_without_panicking() {
    let valid = file(vec![Value::Object(entry(1)), Value::Object(entry(2))]);
    let mut cases: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"   ".to_vec(),
        b"not json".to_vec(),
        b"schema: agentk.behavior-overrides.v1".to_vec(),
        valid.get(..valid.len() / 2).unwrap().to_vec(),
        valid.get(..valid.len() - 1).unwrap().to_vec(),
        [valid.as_slice(), b"{}"].concat(),
        [b"\xef\xbb\xbf".as_slice(), valid.as_slice()].concat(),
        [valid.as_slice(), b"\xff"].concat(),
        b"{\"schema\": \"\xff\xfe\"}".to_vec(),
        vec![b'['; 100_000],
        [vec![b'['; 100_000], vec![b']'; 100_000]].concat(),
        [b"{\"a\":".repeat(50_000), b"1".to_vec(), vec![b'}'; 50_000]].concat(),
    ];
    // Deep nesting inside an otherwise valid file, where a recursive walk would overflow.
    let deep = format!("{}{}", "[".repeat(60_000), "]".repeat(60_000));
    let text = String::from_utf8(valid.clone()).unwrap();
    cases.push(text.replacen("\"step\":1", &format!("\"step\":{deep}"), 1).into_bytes());
    cases.push(text.replacen('}', &format!(",\"x\":{deep}}}"), 1).into_bytes());

    for case in cases {
        let err = refuse(&case, CANARY);
        let OverridesError::NotJson { line, column } = err else {
            panic!("{:?}: got {err:?}", String::from_utf8_lossy(case.get(..case.len().min(60)).unwrap()))
        };
        assert_eq!(err.to_string(), format!("the override file is not valid JSON (line {line}, column {column})"));
        check_tame(&err.to_string(), 120);
    }
}

/// Counts what is read from the inner reader.
struct Counting<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

#[test]
fn oversized_input_is_refused_without_reading_it_all() {
    let mut huge = Counting { inner: std::io::repeat(b' ').take(100 * 1024 * 1024), read: 0 };
    assert_eq!(Overrides::read(&mut huge), Err(OverridesError::TooLarge { max: MAX_OVERRIDES_BYTES }));
    assert!(huge.read <= MAX_OVERRIDES_BYTES + 1, "read {} bytes of a 100 MB input", huge.read);

    // An endless reader ends the same way.
    let mut endless = Counting { inner: std::io::repeat(b'['), read: 0 };
    assert_eq!(Overrides::read(&mut endless), Err(OverridesError::TooLarge { max: MAX_OVERRIDES_BYTES }));
    assert!(endless.read <= MAX_OVERRIDES_BYTES + 1, "read {} bytes of an endless input", endless.read);

    // The boundary: a valid file padded to exactly the limit is read; one byte more is not.
    let limit = usize::try_from(MAX_OVERRIDES_BYTES).unwrap();
    let mut at_limit = file(vec![Value::Object(entry(1))]);
    at_limit.resize(limit, b' ');
    assert_eq!(Overrides::parse(&at_limit).unwrap().len(), 1);
    assert_eq!(Overrides::read(at_limit.as_slice()).unwrap().len(), 1);
    let mut over = at_limit;
    over.push(b' ');
    let err = Overrides::parse(&over).unwrap_err();
    assert_eq!(err, OverridesError::TooLarge { max: MAX_OVERRIDES_BYTES });
    assert_eq!(err.to_string(), format!("the override file is larger than {MAX_OVERRIDES_BYTES} bytes"));
    assert_eq!(Overrides::read(over.as_slice()), Err(OverridesError::TooLarge { max: MAX_OVERRIDES_BYTES }));
    assert_eq!(Overrides::parse(&vec![b' '; 2 * limit]), Err(OverridesError::TooLarge { max: MAX_OVERRIDES_BYTES }));
}

#[test]
fn a_failing_reader_is_an_io_error() {
    struct Broken;
    impl Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::new(std::io::ErrorKind::PermissionDenied, CANARY))
        }
    }
    let err = Overrides::read(Broken).unwrap_err();
    assert_eq!(err, OverridesError::Io(std::io::ErrorKind::PermissionDenied));
    assert!(!err.to_string().contains(CANARY), "{err}");
}

// guarantee: R3
#[test]
fn each_override_names_a_step_syscall_and_target_of_the_right_type() {
    let long = "t".repeat(4097);
    let step_cases = [None, Some(json!("3")), Some(json!(-1)), Some(json!(1.5)), Some(json!(3.0)), Some(json!(null))];
    for value in step_cases {
        check_bad_field(entry_with(0, "step", value), "needs `step`", CANARY);
    }
    // Larger than any u64: serde_json reads it as a float, which is not a step.
    let text = String::from_utf8(file(vec![Value::Object(entry(7))])).unwrap();
    let err = refuse(text.replacen("\"step\":7", "\"step\":18446744073709551616", 1).as_bytes(), CANARY);
    assert!(matches!(err, OverridesError::BadField { index: 0, .. }), "{err:?}");

    for value in [None, Some(json!("")), Some(json!(7)), Some(json!(["tool.invoke"])), Some(json!(long))] {
        check_bad_field(entry_with(0, "syscall", value), "needs `syscall`", CANARY);
    }
    for value in [None, Some(json!("")), Some(json!(7)), Some(json!({ "url": "x" })), Some(json!(long))] {
        check_bad_field(entry_with(0, "target", value), "needs `target`", CANARY);
    }
    let label_cases = [
        json!(["untrusted", "bogus"]),
        json!(["Untrusted"]),
        json!("untrusted"),
        json!([1]),
        json!(null),
        json!([CANARY]),
        json!(["untrusted", "untrusted", "untrusted", "untrusted", "untrusted", "untrusted", "untrusted"]),
    ];
    for value in label_cases {
        check_bad_field(entry_with(0, "output_labels", Some(value)), "`output_labels`", CANARY);
    }
    for not_an_object in [json!(3), json!("step 3"), json!([]), json!(null)] {
        check_bad_field(not_an_object, "must be a JSON object", CANARY);
    }
    // The first bad entry is the one named.
    let err = refuse(&file(vec![Value::Object(entry(0)), entry_with(1, "target", None)]), CANARY);
    assert!(matches!(err, OverridesError::BadField { index: 1, .. }), "{err:?}");
    assert!(err.to_string().starts_with("override 1: needs `target`"), "{err}");
}

/// An override's syscall, target, digest and label bits.
fn any_entry() -> impl Strategy<Value = (String, String, [u8; 32], Option<u8>)> {
    let target = "https://[a-z]{1,12}\\.example\\.invalid/[ -~]{0,40}";
    ("[a-z]{1,8}\\.[a-z]{1,8}", target, any::<[u8; 32]>(), proptest::option::of(0u8..64))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let parsed = Overrides::parse(&bytes);
        prop_assert_eq!(parsed.clone(), Overrides::read(bytes.as_slice()));
        if let Ok(overrides) = parsed {
            prop_assert!(!overrides.is_empty());
        }
    }

    #[test]
    fn single_byte_changes_to_a_valid_file_never_panic(at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = file(vec![
            entry_with(1, "output_labels", Some(json!(["untrusted", "poisoned-suspect"]))),
            Value::Object(entry(2)),
        ]);
        let i = at.index(bytes.len());
        if let Some(b) = bytes.get_mut(i) { *b = byte; }
        if let Ok(overrides) = Overrides::parse(&bytes) {
            prop_assert!((1..=2).contains(&overrides.len()));
            for o in overrides.iter() {
                prop_assert!(!o.syscall.is_empty() && !o.target.is_empty());
            }
        }
    }

    // guarantee: R3
    #[test]
    fn valid_overrides_round_trip(entries in proptest::collection::btree_map(any::<u64>(), any_entry(), 1..16)) {
        let values: Vec<Value> = entries.iter().map(|(step, (syscall, target, digest, labels))| {
            let mut value = json!({
                "step": step, "syscall": syscall, "target": target,
                "output_digest": Hash32(*digest).to_hex(),
            });
            if let Some(bits) = labels {
                value["output_labels"] = serde_json::to_value(LabelSet::from_bits(*bits).unwrap()).unwrap();
            }
            value
        }).collect();
        let overrides = Overrides::parse(&file(values)).unwrap();
        prop_assert_eq!(overrides.len(), entries.len());
        for (step, (syscall, target, digest, labels)) in &entries {
            let expected = Override {
                step: *step,
                syscall: syscall.clone(),
                target: target.clone(),
                output: Hash32(*digest),
                labels: labels.map(|bits| LabelSet::from_bits(bits).unwrap()),
            };
            prop_assert_eq!(overrides.get(*step), Some(&expected));
        }
    }

    // guarantee: R3
    #[test]
    fn raw_output_is_never_repeated(
        key in proptest::sample::select(RAW_KEYS.to_vec()),
        secret in "SECRET-[A-Za-z0-9]{16}",
        index in 0usize..4,
    ) {
        let mut entries: Vec<Value> = (0..index as u64).map(|s| Value::Object(entry(s))).collect();
        entries.push(entry_with(100, key, Some(json!(secret))));
        let err = refuse(&file(entries), &secret);
        prop_assert_eq!(err, OverridesError::RawOutput { index, key });
    }
}

// guarantee: R3 (a repeated key is refused, so a file cannot show one list, or raw output, and
// apply another)
#[test]
fn repeated_keys_are_refused_at_every_level() {
    let valid = format!(
        r#"{{"step":9,"syscall":"tool.invoke","target":"mcp://b.example.invalid/","output_digest":"{}"}}"#,
        digest("b")
    );
    let cases = [
        format!(r#"{{"schema":"x","schema":"agentk.behavior-overrides.v1","overrides":[{valid}]}}"#),
        format!(
            r#"{{"schema":"agentk.behavior-overrides.v1","overrides":[{{"step":1,"syscall":"tool.invoke","target":"mcp://a.example.invalid/","output":"{CANARY}"}}],"overrides":[{valid}]}}"#
        ),
        format!(
            r#"{{"schema":"agentk.behavior-overrides.v1","overrides":[{}]}}"#,
            valid.replacen("\"step\":9", "\"step\":1,\"step\":9", 1)
        ),
    ];
    for case in cases {
        let err = refuse(case.as_bytes(), CANARY);
        assert!(matches!(err, OverridesError::DuplicateKey { .. }), "{case}: {err:?}");
    }
}
