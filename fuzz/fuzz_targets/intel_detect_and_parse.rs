//! Every feed parser, reached through format detection and directly: no input may panic, and
//! what loads must build a table that finds each loaded network, and that encodes to bytes
//! decoding to the same answers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use picket_intel::{FeedFormat, IntelTable, LoadOptions, Origin, load_bytes, parse};

/// File names that steer detection, picked by the first input byte.
const NAMES: [&str; 7] = [
    "feed",
    "level1.netset",
    "drop_v4.json",
    "exit-addresses",
    "intel.dat",
    "misp.csv",
    "ipsum.txt",
];

fuzz_target!(|data: &[u8]| {
    let (name, body) = match data.split_first() {
        Some((b, rest)) => (NAMES[usize::from(*b) % NAMES.len()], rest),
        None => ("feed", data),
    };
    for keep_bogons in [false, true] {
        let options = LoadOptions {
            keep_bogons,
            ..LoadOptions::default()
        };
        if let Ok(feed) = load_bytes("fuzz", name, body, &options) {
            assert_eq!(feed.report.accepted, feed.indicators.len());
            let networks: Vec<_> = feed.indicators.iter().map(|i| i.network).collect();
            let table =
                IntelTable::from_feeds([feed]).expect("a fuzz input is far below u32::MAX entries");
            // Kept in a store and read back, the table answers as the one built.
            let decoded = IntelTable::decode(&table.encode()).expect("an encoded table decodes");
            assert_eq!(decoded.len(), table.len());
            for (id, network) in networks.iter().enumerate() {
                let ids = table.lookup_ids(network.network());
                assert!(
                    ids.contains(&(id as u32)),
                    "{network} not found at its first address"
                );
                assert_eq!(decoded.lookup_ids(network.network()), ids);
                assert_eq!(decoded.indicator(id as u32), table.indicator(id as u32));
            }
        }
    }
    let origin = Origin {
        feed: "fuzz",
        file: name,
    };
    for format in FeedFormat::ALL {
        let _ = parse(format, origin, body);
    }
});
