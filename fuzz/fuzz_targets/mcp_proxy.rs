//! `mcp_proxy`: the body is `xtask::fuzz::entry`, shared with the stable test suite.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    xtask::fuzz::entry("mcp_proxy", data);
});
