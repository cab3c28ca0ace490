//! The secret-reference manifest parser on arbitrary text.
#![no_main]

use agentk_secrets::{RedactionKey, SecretManifest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let key = RedactionKey::from_bytes([7; 32]);
    let _ = SecretManifest::parse(text, &key);
});
