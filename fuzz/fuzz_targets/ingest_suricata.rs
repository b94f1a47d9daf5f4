//! Fuzz the Suricata eve.json reader: any bytes, no panic, every line counted once, and the
//! skipped record types bounded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use picket_ingest::{EventReader, Input, MAX_RECORD_TYPES};
use picket_model::Timestamp;

fuzz_target!(|data: &[u8]| {
    let mut r =
        EventReader::new(data, "fuzz", Some(Input::Suricata)).with_clock(|| Timestamp::UNIX_EPOCH);
    for _ in r.by_ref() {}
    let s = r.stats();
    assert_eq!(s.lines, s.events + s.skipped + s.errors);
    // Types come from the input: their count is capped, and each is a skipped line.
    assert!(s.skipped_types.len() <= MAX_RECORD_TYPES + 1);
    assert!(s.skipped_types.values().sum::<u64>() <= s.skipped);
});
