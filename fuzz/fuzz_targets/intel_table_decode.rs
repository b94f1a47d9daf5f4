//! An encoded intel table read back from storage that someone changed: decoding the body
//! (past the checksum, which random bytes would never match) must return a table or an error,
//! and a table that decoded must answer lookups without panicking.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use picket_intel::decode_unchecked_body;

fuzz_target!(|data: &[u8]| {
    if let Ok(table) = decode_unchecked_body(data) {
        for addr in [
            IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)),
            IpAddr::V4(Ipv4Addr::BROADCAST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ] {
            let _ = table.lookup(addr).count();
            let _ = table.feed_count(addr);
        }
        let _ = table.iter().count();
        let _ = table.stats();
    }
});
