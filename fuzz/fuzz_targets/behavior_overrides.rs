//! The behavior-override file parser on arbitrary bytes.
#![no_main]

use agentk_replay::overrides::Overrides;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Overrides::parse(data);
});
