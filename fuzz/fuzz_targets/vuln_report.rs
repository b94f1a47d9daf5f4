//! Fuzz picket_vuln::read_report: arbitrary bytes must give Ok or Err, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = picket_vuln::read_report(data, "fuzz");
});
