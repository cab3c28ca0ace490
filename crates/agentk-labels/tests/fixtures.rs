//! The label sets recorded in the fixture logs (`fixtures/logs/`, written by the kernel) read
//! back as label sets and keep their one text form.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail loudly")]

use std::path::Path;

use agentk_labels::LabelSet;

#[test]
fn recorded_label_sets_round_trip() {
    let log = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/logs/session.jsonl");
    let text = std::fs::read_to_string(log).unwrap();
    let mut seen = 0;
    for line in text.lines() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        let Some(event) = value["event"].get("syscall") else { continue };
        let inputs = event["inputs"].as_array().unwrap();
        let sets = inputs.iter().map(|i| &i["labels"]).chain(std::iter::once(&event["output_labels"]));
        for set in sets.filter(|s| !s.is_null()) {
            let labels: LabelSet = serde_json::from_value(set.clone()).unwrap();
            assert_eq!(serde_json::to_value(labels).unwrap(), *set);
            assert_eq!(labels.to_string().parse::<LabelSet>().unwrap(), labels);
            seen += 1;
        }
    }
    assert!(seen >= 10, "{seen}");
}
