//! Fuzz picket_vuln::read_kev (the CISA KEV JSON feed): arbitrary bytes give Ok or Err, never a
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = picket_vuln::read_kev(data, "fuzz");
});
