//! Fuzz format detection and the reader it picks: any bytes, no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use picket_ingest::EventReader;
use picket_model::Timestamp;

fuzz_target!(|data: &[u8]| {
    let mut r = EventReader::new(data, "fuzz", None).with_clock(|| Timestamp::UNIX_EPOCH);
    for _ in r.by_ref() {}
    if r.input().is_some() {
        let s = r.stats();
        assert_eq!(s.lines, s.events + s.skipped + s.errors);
    }
});
