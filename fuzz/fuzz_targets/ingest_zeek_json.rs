//! Fuzz the Zeek conn.log JSON reader: any bytes, no panic, and every line counted once.
#![no_main]

use libfuzzer_sys::fuzz_target;
use picket_ingest::{EventReader, Input};
use picket_model::Timestamp;

fuzz_target!(|data: &[u8]| {
    let mut r =
        EventReader::new(data, "fuzz", Some(Input::ZeekJson)).with_clock(|| Timestamp::UNIX_EPOCH);
    for _ in r.by_ref() {}
    let s = r.stats();
    assert_eq!(s.lines, s.events + s.skipped + s.errors);
});
