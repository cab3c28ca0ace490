//! The flight-log line decoder and chain verifier on arbitrary lines, as `verify` streams them.
#![no_main]

use agentk_flightlog::verify::ChainVerifier;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for batched in [false, true] {
        let mut verifier = ChainVerifier::new();
        if batched {
            verifier = verifier.with_batched_signatures();
        }
        let mut ok = true;
        for line in text.split('\n') {
            if verifier.push(line).is_err() {
                ok = false;
                break;
            }
        }
        if ok {
            let _ = verifier.finish();
        }
    }
});
