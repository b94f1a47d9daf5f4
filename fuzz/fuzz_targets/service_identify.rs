//! Fuzz service identification: any bytes as the answer to any probe through every built-in
//! signature, the escaped raw form round-trip, and arbitrary text as a user signature file.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use picket_service::{Probe, Signatures, escape, unescape};

static BUILTIN: LazyLock<Signatures> =
    LazyLock::new(|| Signatures::builtin().expect("the built-in signatures load"));

fuzz_target!(|data: &[u8]| {
    let Some((&selector, response)) = data.split_first() else { return };
    let probe = Probe::ALL[usize::from(selector) % Probe::ALL.len()];
    if let Some(info) = BUILTIN.identify(probe, response) {
        assert!(info.confidence <= 10);
        assert!(info.raw.is_some());
    }
    assert_eq!(unescape(&escape(response)).expect("escaped text unescapes"), response);
    if let Ok(text) = std::str::from_utf8(response) {
        let _ = unescape(text);
        if let Ok(user) = Signatures::parse("fuzz.toml", text) {
            let _ = user.identify(probe, text.as_bytes());
        }
    }
});
