//! The policy parser and validator on arbitrary text; a policy it accepts is then asked to
//! decide and explain a request.
#![no_main]

use agentk_labels::{LabelSet, Syscall};
use agentk_policy::{Policy, Request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(policy) = Policy::parse("fuzz.toml", text) {
        let labels = "untrusted,private".parse::<LabelSet>().unwrap_or(LabelSet::EMPTY);
        let request = Request::new("agent-1", Syscall::NetworkSend, "https://evil.example.invalid/").with_labels(labels);
        let _ = policy.evaluate(&request).explain(&request);
    }
});
