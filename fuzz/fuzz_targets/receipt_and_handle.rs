//! The receipt and handle decoders and verifiers. The input's first line is a receipt, the
//! rest a handle; the handle is also checked against the fixture session's real `secret.open`
//! receipt, so the handle path is reached without forging a signature.
#![no_main]

use std::sync::LazyLock;

use agentk_capability::{EncodedReceipt, Receipt, Trust, Verified, Verifier};
use agentk_flightlog::event::{EventBody, EventLine};
use agentk_secrets::{EncodedHandle, verify_handle};
use libfuzzer_sys::fuzz_target;

const NOW: u64 = 1_767_225_600;

/// The fixture session's verified `secret.open` receipt.
static RECEIPT: LazyLock<Option<Verified<Receipt>>> = LazyLock::new(|| {
    let log = include_str!("../../fixtures/logs/session.jsonl");
    log.lines().find_map(|line| {
        let event: EventLine = serde_json::from_str(line).ok()?;
        let EventBody::Syscall(syscall) = event.event else { return None };
        syscall.handle.as_ref()?;
        Verifier::new(Trust::ReceiptKey, NOW).verify(syscall.receipt.as_ref()?).ok()
    })
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (receipt_text, handle_text) = text.split_once('\n').unwrap_or((text, ""));
    let verified = EncodedReceipt::from_json(receipt_text)
        .ok()
        .and_then(|encoded| Verifier::new(Trust::ReceiptKey, NOW).verify(&encoded).ok());
    let Ok(handle) = EncodedHandle::from_json(handle_text) else { return };
    for receipt in [verified.as_ref(), RECEIPT.as_ref()].into_iter().flatten() {
        let _ = verify_handle(&handle, receipt, Trust::ReceiptKey, NOW);
    }
});
